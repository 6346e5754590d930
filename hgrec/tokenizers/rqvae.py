"""RQ-VAE (TIGER, Rajput et al. 2023) and CRQ-VAE (HiGR §3.2, arXiv 2512.24787, eqs. 2-6).

An MLP encoder maps an item vector x to a latent z; D residual codebooks quantise it (eq. 2):
    c^d = argmin_k ||r^{d-1} - e^d_k||,  r^d = r^{d-1} - e^d_{c^d},  z_hat = sum_d e^d_{c^d}
and an MLP decoder reconstructs x from z_hat (straight-through: the decoder sees
z + sg(z_hat - z)). Losses:
    L_recon       = ||x_hat - x||^2
    L_layer_quan  = sum_d ||r^{d-1} - sg(e^d)||^2 + eta ||e^d - sg(r^{d-1})||^2              (eq. 3)
    L_global_quan = ||z_hat - sg(z)||^2 + eta ||z - sg(z_hat)||^2                           (eq. 4)
    L_cont        = -1/(D-1) sum_{d<D} w_d log softmax(cos(q^d_a, q^d_p) / tau)            (eq. 5)
RQ-VAE = L_recon + L_layer_quan. CRQ-VAE = L_recon + lambda1 L_global_quan + lambda2 L_cont (eq. 6).

Where we had to choose (the paper is silent):
- eq. (6) has no layer term; we keep L_layer_quan in CRQ-VAE too (`layer_loss: true`), because
  without it nothing trains the codebooks of levels < D towards their residuals. Set it false
  for the literal eq. (6).
- q^d in eq. (5) is "the matched codeword e^d_{c^d}"; we pass it straight-through
  (r^{d-1} + sg(e - r^{d-1})) so the contrastive gradient reaches the encoder, not only the codebook.
  Negatives are the other positives of the batch (in-batch negatives).
- Codebooks are initialised by k-means on the initial latents (faiss), inputs are standardised,
  and codes unused for `restart_every` steps are restarted on random residuals of the batch: plain
  RQ-VAE is known to collapse to a handful of first-level codes otherwise (ANCHORS.md).
"""

from __future__ import annotations

import dataclasses
import time

import faiss
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass
class RQVAEConfig:
    levels: int = 3  # D
    codebook_size: int = 256  # K
    latent_dim: int = 32
    hidden: tuple[int, ...] = (512, 256, 128)
    eta: float = 0.1  # eq. (3)-(4) trade-off between the two stop-gradient terms
    layer_loss: bool = True
    # CRQ-VAE (eq. 4-6); both off = RQ-VAE
    global_loss: bool = False
    contrastive: bool = False
    lambda1: float = 0.1
    lambda2: float = 0.01
    level_weights: tuple[float, ...] = (1.0, 0.1, 0.01)  # w_d, the first D-1 are used
    tau: float = 0.1
    positive_threshold: float = 0.8  # cosine between item vectors for semantic-neighbour pairs
    mask_false_negatives: bool = True  # drop in-batch "negatives" that are themselves neighbours of the anchor
    # optimisation
    epochs: int = 100
    batch_size: int = 1024
    pairs_per_batch: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-4
    restart_every: int = 50  # steps; 0 = no dead-code restarts
    standardize: bool = True
    seed: int = 0

    def __post_init__(self):
        if self.levels < 1 or self.codebook_size < 2:
            raise ValueError("levels must be >= 1 and codebook_size >= 2")
        if self.contrastive and self.levels < 2:
            raise ValueError("the prefix contrastive loss needs levels >= 2")


def _mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class ResidualQuantizer(nn.Module):
    """D codebooks of K codewords; eq. (2) with straight-through quantised latents."""

    def __init__(self, levels: int, codebook_size: int, dim: int):
        super().__init__()
        self.codebooks = nn.Parameter(torch.randn(levels, codebook_size, dim) * 0.01)  # (D, K, dim)

    def forward(self, z: torch.Tensor):
        """-> codes (B, D), z_hat (B, dim), residual inputs r^{d-1} (D, B, dim), codewords e^d (D, B, dim)."""
        r = z
        codes, residuals, words = [], [], []
        for d in range(self.codebooks.shape[0]):
            cb = self.codebooks[d]  # (K, dim)
            dist = (r.detach().pow(2).sum(1, keepdim=True) - 2 * r.detach() @ cb.detach().T
                    + cb.detach().pow(2).sum(1)[None])  # (B, K)
            c = dist.argmin(1)
            e = cb[c]  # (B, dim), differentiable wrt the codebook
            codes.append(c)
            residuals.append(r)
            words.append(e)
            r = r - e
        words_t = torch.stack(words)
        return torch.stack(codes, 1), words_t.sum(0), torch.stack(residuals), words_t


class RQVAE(nn.Module):
    def __init__(self, config: RQVAEConfig, input_dim: int):
        super().__init__()
        self.config = config
        dims = [input_dim, *config.hidden, config.latent_dim]
        self.encoder = _mlp(dims)
        self.decoder = _mlp(dims[::-1])
        self.quantizer = ResidualQuantizer(config.levels, config.codebook_size, config.latent_dim)
        self.register_buffer("mean", torch.zeros(input_dim))
        self.register_buffer("std", torch.ones(input_dim))

    def losses(self, x: torch.Tensor, pairs: torch.Tensor | None = None,
               false_negatives: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """`pairs` (P, 2) rows of x; `false_negatives` (P, P) bool, True where positive j is also a
        neighbour of anchor i (those logits are removed from the in-batch softmax)."""
        c = self.config
        z = self.encoder(x)
        codes, z_hat, residuals, words = self.quantizer(z)
        x_hat = self.decoder(z + (z_hat - z).detach())  # straight-through
        out = {"recon": F.mse_loss(x_hat, x, reduction="none").sum(1).mean()}
        if c.layer_loss:  # eq. (3)
            out["layer_quan"] = ((residuals - words.detach()).pow(2).sum(-1)
                                 + c.eta * (words - residuals.detach()).pow(2).sum(-1)).sum(0).mean()
        if c.global_loss:  # eq. (4)
            out["global_quan"] = ((z_hat - z.detach()).pow(2).sum(1) + c.eta * (z - z_hat.detach()).pow(2).sum(1)).mean()
        if c.contrastive and pairs is not None and len(pairs) > 1:  # eq. (5)
            total = 0.0
            D = c.levels
            for d in range(D - 1):
                q = residuals[d] + (words[d] - residuals[d]).detach()  # value e^d, gradient to encoder too
                q = q + (words[d] - words[d].detach())  # ... and to the codebook
                qa, qp = F.normalize(q[pairs[:, 0]], dim=1), F.normalize(q[pairs[:, 1]], dim=1)
                logits = qa @ qp.T / c.tau  # (P, P): positives on the diagonal, in-batch negatives elsewhere
                if false_negatives is not None:
                    logits = logits.masked_fill(false_negatives, float("-inf"))
                total = total + c.level_weights[d] * F.cross_entropy(logits, torch.arange(len(pairs)))
            out["cont"] = total / (D - 1)
        loss = out["recon"] + out.get("layer_quan", 0.0)
        loss = loss + c.lambda1 * out.get("global_quan", 0.0) + c.lambda2 * out.get("cont", 0.0)  # eq. (6)
        out["loss"] = loss
        out["codes"] = codes
        return out

    @torch.no_grad()
    def encode(self, x: np.ndarray, batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """(N, D) codes and (N, D) norms of the residual *entering* each level (r^{d-1})."""
        self.eval()
        codes, norms = [], []
        for lo in range(0, len(x), batch_size):
            xb = (torch.from_numpy(x[lo:lo + batch_size]).float() - self.mean) / self.std
            c, _, residuals, _ = self.quantizer(self.encoder(xb))
            codes.append(c.numpy())
            norms.append(residuals.norm(dim=-1).T.numpy())
        return np.concatenate(codes), np.concatenate(norms)


def _kmeans_init(model: RQVAE, x: torch.Tensor, seed: int) -> None:
    with torch.no_grad():
        r = model.encoder(x).numpy().astype(np.float32)
        for d in range(model.config.levels):
            km = faiss.Kmeans(r.shape[1], model.config.codebook_size, niter=20, seed=seed + d, verbose=False,
                              min_points_per_centroid=1)
            km.train(np.ascontiguousarray(r))
            model.quantizer.codebooks.data[d] = torch.from_numpy(km.centroids)
            _, idx = km.index.search(np.ascontiguousarray(r), 1)
            r = r - km.centroids[idx[:, 0]]


def fit_rqvae(x: np.ndarray, config: RQVAEConfig, pairs: np.ndarray | None = None, log=None) -> tuple[RQVAE, dict]:
    """Train on item vectors `x` (N, d); `pairs` (P, 2) anchor-positive item rows for the contrastive loss."""
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    X = torch.from_numpy(np.asarray(x, dtype=np.float32))
    model = RQVAE(config, X.shape[1])
    if config.standardize:
        model.mean.copy_(X.mean(0))
        model.std.copy_(X.std(0) + 1e-6)
    Xs = (X - model.mean) / model.std
    _kmeans_init(model, Xs, config.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    P = torch.from_numpy(pairs).long() if pairs is not None and len(pairs) else None
    Xn = F.normalize(X, dim=1)  # raw-vector cosine decides which in-batch negatives are false
    usage = torch.zeros(config.levels, config.codebook_size)
    step, t0 = 0, time.perf_counter()
    history = []
    n = len(Xs)
    for epoch in range(config.epochs):
        perm = torch.randperm(n, generator=g)
        for lo in range(0, n, config.batch_size):
            idx = perm[lo:lo + config.batch_size]
            batch_pairs = fneg = None
            xb = Xs[idx]
            if config.contrastive and P is not None:
                pick = P[torch.randint(len(P), (config.pairs_per_batch,), generator=g)]
                xb = torch.cat([xb, Xs[pick[:, 0]], Xs[pick[:, 1]]])
                b = len(idx)
                batch_pairs = torch.stack([torch.arange(b, b + len(pick)), torch.arange(b + len(pick), b + 2 * len(pick))], 1)
                if config.mask_false_negatives:
                    fneg = (Xn[pick[:, 0]] @ Xn[pick[:, 1]].T >= config.positive_threshold)
                    fneg |= pick[:, 0][:, None] == pick[:, 1][None]  # the same item drawn as someone's positive
                    fneg.fill_diagonal_(False)
            out = model.losses(xb, batch_pairs, fneg)
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
            step += 1
            usage.scatter_add_(1, out["codes"].T, torch.ones_like(out["codes"].T, dtype=torch.float))
            if config.restart_every and step % config.restart_every == 0:
                _restart_dead_codes(model, xb, usage, g)
                usage.zero_()
        history.append({k: float(v.detach()) for k, v in out.items() if k != "codes"})
        if log:
            log(epoch, history[-1])
    return model, {"history": history, "seconds": time.perf_counter() - t0, "steps": step}


@torch.no_grad()
def _restart_dead_codes(model: RQVAE, xb: torch.Tensor, usage: torch.Tensor, g: torch.Generator) -> None:
    """Codes unused since the last restart take the value of a random residual of this batch."""
    _, _, residuals, _ = model.quantizer(model.encoder(xb))
    for d in range(model.config.levels):
        dead = torch.nonzero(usage[d] == 0).flatten()
        if len(dead):
            pick = torch.randint(len(xb), (len(dead),), generator=g)
            model.quantizer.codebooks.data[d, dead] = residuals[d, pick]
