"""ListCVAE: a conditional VAE over whole slates (Jiang et al., "Beyond Greedy Ranking: Slate
Optimization via List-CVAE", ICLR 2019, arXiv 1803.01682).

A slate s = (i_1..i_M) is generated as a whole from a latent z, conditioned on the user state u and
on the response r (one value per slot: did the user engage with the item?):

    c        = [u ; r]                                                   condition
    q(z|s,c) = N(mu_q, sigma_q)   mu_q, log sigma_q^2 = Enc([E[i_1]..E[i_M] ; c])          encoder
    p(z|c)   = N(mu_p, sigma_p)   mu_p, log sigma_p^2 = Prior(c)                          conditional prior
    x_1..x_M = Dec([z ; c])                                              M item embeddings
    L        = sum_m CE(x_m E^T, i_m) + beta * KL(q(z|s,c) || p(z|c))    negative ELBO

At inference the condition holds the *ideal* response (every slot engaged), z is the prior's mean
(`sample: false`, the deterministic decode) or a draw from it, and each decoded embedding x_m picks
the highest dot-product catalogue item not already in the slate (nor, when asked, in the history):
slates never repeat an item and only hold catalogue items.

Training data: logged slates with their responses — the request's impressions as the slate and, per
slot, whether that impression became an effective view (`data.slate_target: impressions`, one sample
per request). KuaiRand-Pure logs both; sources without impressions have r = 1 everywhere, which
reduces the model to a (still valid) VAE of engaged slates.

Choices the paper leaves open (ours): the user state u is the shared slate context encoder
(`hgrec.models.generative.ContextEncoder`, the same one HiGR, TIGER and OneRec-style use) mean-pooled
over its tokens; encoder, prior and decoder are 2-layer MLPs of width `d_hidden`; item embeddings are
tied between the encoder input and the decoder's output scores (the paper's nearest-neighbour lookup
becomes a dot-product argmax over the same table); `beta` (KL weight) is 1 with a linear warm-up over
`kl_warmup_steps` steps against posterior collapse; slots past a slate's end are ignored in the loss.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from hgrec.models.generative import ContextEncoder
from hgrec.models.registry import register


@dataclasses.dataclass
class ListCVAEConfig:
    d_model: int = 64
    d_latent: int = 16
    d_hidden: int = 256
    n_heads: int = 4
    d_ff: int = 256
    context_layers: int = 2
    dropout: float = 0.1
    beta: float = 1.0  # KL weight
    kl_warmup_steps: int = 1000  # beta rises linearly from 0 over this many training steps (0: off)
    sample: bool = False  # inference: z = prior mean (false) or a draw from the prior (true)
    user_features: bool = True
    time_embedding: bool = True

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"model.d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.beta < 0 or self.kl_warmup_steps < 0:
            raise ValueError("model.beta and model.kl_warmup_steps must be >= 0")


class ItemTable(nn.Module):
    """Item-id embeddings (0 = padding) with the `.item(ids)` interface the context encoder reads."""

    def __init__(self, num_items: int, d: int):
        super().__init__()
        self.emb = nn.Embedding(num_items + 1, d, padding_idx=0)
        nn.init.normal_(self.emb.weight, std=0.02)
        with torch.no_grad():
            self.emb.weight[0].zero_()

    def item(self, ids: torch.Tensor) -> torch.Tensor:
        return self.emb(ids)


def mlp(d_in: int, d_hidden: int, d_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_hidden, d_hidden),
                         nn.GELU(), nn.Linear(d_hidden, d_out))


def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p)) summed over the last dim."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1).sum(-1)


@register("listcvae", ListCVAEConfig)
class ListCVAE(nn.Module):
    task = "slate"
    needs_semantic_ids = False

    def __init__(self, config: ListCVAEConfig, num_items: int, max_len: int, slate_size: int,
                 feature_vocab: list[int] | None = None, has_timestamps: bool = True, sid_vocab=None):
        super().__init__()
        c = self.config = config
        self.num_items, self.max_len, self.slate_size = num_items, max_len, slate_size
        self.items = ItemTable(num_items, c.d_model)
        self.context = ContextEncoder(c.d_model, c.n_heads, c.d_ff, c.context_layers, c.dropout, max_len,
                                      feature_vocab if c.user_features else None, c.time_embedding and has_timestamps)
        M, d = slate_size, c.d_model
        d_cond = d + M  # c = [u ; r]
        self.encoder = mlp(M * d + d_cond, c.d_hidden, 2 * c.d_latent, c.dropout)
        self.prior = mlp(d_cond, c.d_hidden, 2 * c.d_latent, c.dropout)
        self.decoder = mlp(c.d_latent + d_cond, c.d_hidden, M * d, c.dropout)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))  # for the KL warm-up; saved with the weights

    def user_state(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, d): the context encoding mean-pooled over its non-padding tokens."""
        C, pad = self.context(self.items, batch["history"], batch.get("history_ts"), batch.get("user_features"))
        keep = (~pad).float()[..., None]
        return (C * keep).sum(1) / keep.sum(1).clamp(min=1.0)

    @staticmethod
    def response(target: torch.Tensor, effective: torch.Tensor | None) -> torch.Tensor:
        """(B, M) 1 where the slot's item is among the request's effective views (all 1 without them)."""
        if effective is None:
            return (target > 0).float()
        hit = (target[:, :, None] == effective[:, None, :]) & (effective[:, None, :] > 0)
        return (hit.any(-1) & (target > 0)).float()

    def terms(self, batch: dict[str, torch.Tensor], eps: torch.Tensor | None = None):
        """Teacher-forced ELBO terms: (per-slot CE (B, M), KL (B,), slot mask (B, M)). `eps` (B, d_latent)
        fixes the reparameterisation noise (tests); by default it is drawn."""
        target = batch["target"]  # (B, M) 0-padded on the right
        B, M = target.shape
        if M != self.slate_size:
            raise ValueError(f"slates of {M} items, the model was built for {self.slate_size}")
        cond = torch.cat([self.user_state(batch), self.response(target, batch.get("effective"))], -1)
        x = self.items.item(target).reshape(B, -1)  # (B, M*d); padding slots embed to 0
        mu_q, logvar_q = self.encoder(torch.cat([x, cond], -1)).chunk(2, -1)
        mu_p, logvar_p = self.prior(cond).chunk(2, -1)
        if eps is None:
            eps = torch.randn_like(mu_q)
        z = mu_q + eps * (0.5 * logvar_q).exp()  # reparameterisation
        out = self.decoder(torch.cat([z, cond], -1)).view(B, M, -1)  # (B, M, d)
        logits = out @ self.items.emb.weight.T  # (B, M, N+1)
        logits[..., 0] = -math.inf
        valid = target > 0
        # padded slots are ignored (their target, 0, has logit -inf: 0 * inf would be nan)
        ce = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none", ignore_index=0).view(B, M)
        return ce, gaussian_kl(mu_q, logvar_q, mu_p, logvar_p), valid

    def kl_weight(self) -> float:
        w = self.config.kl_warmup_steps
        return self.config.beta * (min(1.0, (int(self.step) + 1) / w) if w else 1.0)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(negative ELBO summed over the batch, number of slots): the trainer divides by the count."""
        ce, kl, valid = self.terms(batch)
        loss = ce.sum() + self.kl_weight() * kl.sum()
        if self.training:
            self.step += 1
        return loss, valid.sum()

    @torch.no_grad()
    def generate_slates(self, batch: dict[str, torch.Tensor], slate_size: int | None = None,
                        exclude_history: bool = False) -> torch.Tensor:
        """(B, L) distinct catalogue items, conditioned on the ideal response (every slot engaged)."""
        self.eval()
        M = self.slate_size
        L = slate_size or M
        if not 1 <= L <= M:
            raise ValueError(f"ListCVAE decodes slates of at most its trained size {M}, got slate_size={L}")
        u = self.user_state(batch)
        B = u.shape[0]
        cond = torch.cat([u, u.new_ones(B, M)], -1)  # c = [u ; r = 1]
        mu_p, logvar_p = self.prior(cond).chunk(2, -1)
        z = mu_p + torch.randn_like(mu_p) * (0.5 * logvar_p).exp() if self.config.sample else mu_p
        scores = self.decoder(torch.cat([z, cond], -1)).view(B, M, -1) @ self.items.emb.weight.T  # (B, M, N+1)
        banned = torch.zeros(B, self.num_items + 1, dtype=torch.bool, device=u.device)
        banned[:, 0] = True
        if exclude_history:
            banned.scatter_(1, batch["history"], True)
        out = torch.zeros(B, L, dtype=torch.long, device=u.device)
        for m in range(L):  # slots in order; each takes its best item not yet used (L <= M steps, batched)
            pick = scores[:, m].masked_fill(banned, -math.inf).argmax(-1)
            ok = torch.isfinite(scores[:, m].masked_fill(banned, -math.inf).max(-1).values)
            out[:, m] = torch.where(ok, pick, torch.zeros_like(pick))
            banned[torch.arange(B, device=u.device), pick] = True
        return out
