"""`hgrec tokenize --config X.yaml`: item vectors -> semantic IDs -> quality table -> codes parquet.

    # hgrec tokenize --config configs/amazon-scientific/crq_vae.yaml
    data: {dataset: amazon-scientific, root: ../shared/data/amazon-scientific}
    items: {sources: [text]}
    tokenizer: {method: crq_vae, levels: 3, codebook_size: 256}
    out_dir: runs/tokenize

Writes `<out_dir>/<dataset>-<method>-s<seed>/codes.parquet` (item_id = the source's id, item = dense id,
code = the D-level tuple, sid = the unique code with the disambiguation level) and `metrics.json`.
`method: random` draws every level uniformly from the codebook (seeded), ignoring the item vectors: the
same shape of ID with no semantics, the control that shows what the semantic structure is worth.
"""

from __future__ import annotations

import contextlib

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from hgrec.config import ConfigError, apply_overrides, from_dict, parse_numbers, read_yaml
from hgrec.data import load_dataset
from hgrec.data.config import DataConfig
from hgrec.data.views import add_sessions
from hgrec.items import DEFAULT_TEXT_MODEL, item_vectors
from hgrec.items.collaborative import training_mask
from hgrec.tokenizers.collisions import disambiguate
from hgrec.tokenizers.metrics import codebook_stats, collision_rate, concentration, neighbour_pairs
from hgrec.tokenizers.rq_kmeans import RQKMeans, RQKMeansConfig
from hgrec.tokenizers.rqvae import RQVAEConfig, fit_rqvae
from hgrec.utils.atomic import atomic_path, atomic_write_text

METHODS = ("rq_kmeans", "rq_vae", "crq_vae", "random")  # random: the "random ID" ablation (TIGER §4.3)


@dataclasses.dataclass
class ItemsConfig:
    sources: tuple[str, ...] = ("text",)
    text_model: str = DEFAULT_TEXT_MODEL
    # > 0: embed only the first `text_words` words of each item's text (the short-text control: Beauty / Toys
    # carry ~5-6 derived words per item; the same cut of Scientific's real text measures what that costs)
    text_words: int = 0
    collab_dim: int = 64
    collab_weight: float = 1.0
    # which interactions the collaborative vectors (and CRQ-VAE's co-occurrence positives) may use:
    # next_item (leave-last-out over positives) | slates (the training part of data.split /
    # data.slate_size, the slate split the codes serve) — hgrec.items.collaborative.training_mask
    train_region: str = "next_item"
    model_checkpoint: str | None = None  # source `model`: a trained run's best/ folder (its item table)

    def __post_init__(self):
        from hgrec.items.collaborative import REGIONS
        from hgrec.items.vectors import SOURCES

        if set(self.sources) - set(SOURCES):
            raise ValueError(f"items.sources: unknown {sorted(set(self.sources) - set(SOURCES))}; known: {list(SOURCES)}")
        if self.train_region not in REGIONS:
            raise ValueError(f"items.train_region must be one of {REGIONS}, got {self.train_region!r}")
        if "model" in self.sources and not self.model_checkpoint:
            raise ValueError("items.sources has 'model': set items.model_checkpoint to a trained run's best/ folder")
        if self.text_words < 0:
            raise ValueError(f"items.text_words must be >= 0 (0 = the whole text), got {self.text_words}")


@dataclasses.dataclass
class TokenizerConfig:
    method: str = "crq_vae"
    levels: int = 3
    codebook_size: int = 256
    seed: int = 0
    niter: int = 25  # rq_kmeans
    neighbour_threshold: float = 0.8  # semantic-neighbour pairs (concentration, CRQ positives)
    rqvae: RQVAEConfig = dataclasses.field(default_factory=RQVAEConfig)  # rq_vae / crq_vae settings

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"tokenizer.method must be one of {METHODS}, got {self.method!r}")


@dataclasses.dataclass
class TokenizeRun:
    data: DataConfig
    items: ItemsConfig
    tokenizer: TokenizerConfig
    out_dir: str = "runs/tokenize"


def load_tokenize_config(path=None, overrides=None, raw=None) -> TokenizeRun:
    if raw is None:
        raw = read_yaml(path) if path else {}
    raw = parse_numbers(apply_overrides(dict(raw or {}), overrides or []))
    unknown = [k for k in raw if k not in ("data", "items", "tokenizer", "out_dir")]
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key; known: data, items, out_dir, tokenizer")
    return TokenizeRun(from_dict(DataConfig, raw.get("data") or {}, "data"),
                       from_dict(ItemsConfig, raw.get("items") or {}, "items"),
                       from_dict(TokenizerConfig, raw.get("tokenizer") or {}, "tokenizer"),
                       raw.get("out_dir", "runs/tokenize"))


def cooccurrence_pairs(ds, train: np.ndarray | None = None) -> np.ndarray:
    """(P, 2) dense-id pairs of consecutive effective items within one session (DESIGN §4 consistency);
    `train` restricts them to the training part (a boolean per interaction)."""
    df = add_sessions(ds)
    if train is not None:
        df = df.filter(pl.Series(np.asarray(train, dtype=bool)))
    if "effective" in df.columns:
        df = df.filter(pl.col("effective"))
    items, sess = df["item_id"].to_numpy(), df["session_id"].to_numpy()
    same = (sess[1:] == sess[:-1]) & (items[1:] != items[:-1])
    return np.stack([items[:-1][same], items[1:][same]], 1)


@contextlib.contextmanager
def single_threaded():
    """Torch, faiss (OpenMP) and BLAS on one thread for the duration. Their multi-threaded reductions sum
    in an order that varies with the thread count (BLAS: the SVD of the co-occurrence vectors) or from run
    to run (torch / faiss), and after 100 epochs of RQ-VAE training two runs with the same seed gave
    different codes for almost every item (2 threads, the embedded sample: adjusted Rand index .77 between
    the first levels; 1 against 2 threads: .48). With one thread the codes are the same every time."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def tokenize(run: TokenizeRun, log=print) -> dict:
    """Item vectors -> codes -> `<out_dir>/<dataset>-<method>-s<seed>/codes.parquet`, reproducibly: the same
    config gives the same codes on every run and thread count (`single_threaded`)."""
    with single_threaded():
        return _tokenize(run, log)


def _tokenize(run: TokenizeRun, log) -> dict:
    t = run.tokenizer
    ds = load_dataset(run.data.dataset, run.data.root, cache_dir=run.data.cache)
    t0 = time.perf_counter()
    train = training_mask(ds, run.items.train_region, run.data.split, run.data.slate_size)
    vectors = item_vectors(ds, run.items.sources, run.items.text_model, run.items.collab_dim,
                           run.items.collab_weight, cache_dir=run.data.cache, seed=t.seed, train=train,
                           model_checkpoint=run.items.model_checkpoint,
                           text_words=run.items.text_words)[1:]  # drop padding
    t_vectors = time.perf_counter() - t0
    K = min(t.codebook_size, len(vectors) // 4)  # k-means needs several points per centroid
    if K != t.codebook_size:
        log(f"codebook_size {t.codebook_size} -> {K}: the catalogue has only {len(vectors)} items")
    sem_pairs = neighbour_pairs(vectors, t.neighbour_threshold)
    t0 = time.perf_counter()
    if t.method == "random":  # no semantics: D independent uniform digits per item
        codes = np.random.default_rng(t.seed).integers(0, K, size=(len(vectors), t.levels))
        norms = np.zeros((len(vectors), t.levels), dtype=np.float32)
        recon = None  # nothing is reconstructed
    elif t.method == "rq_kmeans":
        rq = RQKMeans(RQKMeansConfig(t.levels, K, t.niter, t.seed)).fit(vectors)
        codes, norms = rq.encode(vectors)
        recon = float(np.mean(np.sum((rq.reconstruct(codes) - vectors) ** 2, 1)))
    else:
        cfg = dataclasses.replace(t.rqvae, levels=t.levels, codebook_size=K, seed=t.seed,
                                  global_loss=t.method == "crq_vae" or t.rqvae.global_loss,
                                  contrastive=t.method == "crq_vae" or t.rqvae.contrastive,
                                  positive_threshold=t.neighbour_threshold)
        # CRQ-VAE positives: semantic neighbours, else (no text neighbours) co-occurring items
        pos = sem_pairs if len(sem_pairs) else cooccurrence_pairs(ds, train) - 1
        model, info = fit_rqvae(vectors, cfg, pos)
        codes, norms = model.encode(vectors)
        recon = info["history"][-1]["recon"]
    t_fit = time.perf_counter() - t0
    first = codes[:, 0]
    cooc = cooccurrence_pairs(ds) - 1  # dense item ids -> rows of `vectors`
    metrics = {
        "collision": collision_rate(codes),
        "concentration": concentration(first, sem_pairs),
        "consistency": concentration(first, cooc),
        "recon": recon,
        "semantic_pairs": int(len(sem_pairs)),
        "cooccurrence_pairs": int(len(cooc)),
        "train_region": run.items.train_region,
        "text_words": run.items.text_words,
        "codebook_size": K,
        "levels": [dict(s, residual_norm=float(norms[:, d].mean())) for d, s in enumerate(codebook_stats(codes, K))],
        "vectors_s": t_vectors,
        "tokenize_s": t_fit,
    }
    sid = disambiguate(codes)
    out = Path(run.out_dir) / f"{ds.name}-{t.method}-s{t.seed}"
    table = pl.DataFrame({
        "item_id": ds.item_map.raw, "item": np.arange(1, ds.num_items + 1),
        "code": codes.tolist(), "sid": sid.tolist(),
    })
    with atomic_path(out / "codes.parquet") as tmp:
        table.write_parquet(tmp)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1))
    metrics["out"] = str(out)
    return metrics
