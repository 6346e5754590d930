"""One strict, typed config per run: stdlib dataclasses, one YAML file, `key.path=value` overrides.

    # hgrec train --config configs/amazon-beauty/sasrec.yaml trainer.lr=3e-4 model.dropout=0.3
    model: {name: sasrec, d_model: 64, head: {loss: ce}}
    data: {dataset: amazon-beauty, root: ../shared/data/amazon-beauty, max_len: 50}
    trainer: {epochs: 200, batch_size: 256, lr: 1e-3}
    alignment: {method: orpo, init: runs/<run>/best}     # `hgrec align` runs only

An unknown key is an error naming its path (`trainer.lrr: unknown key; known: ...`); a value of
the wrong type is an error naming its path; `__post_init__` rejects bad values with the reason.
The resolved config is written into the run directory (`config.json`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hgrec.config import ConfigError, apply_overrides, from_dict, parse_numbers, read_yaml
from hgrec.data.config import DataConfig
from hgrec.models.registry import model_config

__all__ = ["AlignmentConfig", "ConfigError", "DataConfig", "NegativesConfig", "RunConfig", "TrainerConfig", "load_config"]


@dataclasses.dataclass
class TrainerConfig:
    epochs: int = 100
    batch_size: int = 256  # global: split over DDP ranks
    length_bucketing: bool = True  # batches of similar-length sequences (less padding, same samples)
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    grad_clip: float = 1.0  # max grad norm; 0 = off
    eval_every: int = 1  # epochs
    eval_batch_size: int = 512
    metric: str = "ndcg@10"  # early-stopping metric on the validation split
    patience: int = 10  # evaluations without improvement before stopping; 0 = never stop early
    ks: tuple[int, ...] = (5, 10)
    seed: int = 0
    bf16: bool = True  # autocast on CUDA only
    save_every_steps: int = 0  # 0 = at the end of every epoch only
    keep_last: int = 2
    out_dir: str = "runs"
    run_name: str | None = None  # default: <dataset>-<model>-s<seed>
    overwrite: bool = False  # a fresh (not --resume) run may replace an existing run folder
    num_threads: int | None = None  # torch CPU threads
    device: str = "auto"  # auto | cpu | cuda
    max_steps: int | None = None  # stop after this many optimizer steps (smoke runs, tests)
    progress: bool = True  # tqdm bar (only on a TTY, rank 0)
    tensorboard: bool = True

    def __post_init__(self):
        for name in ("epochs", "batch_size", "eval_every", "eval_batch_size", "keep_last"):
            if getattr(self, name) < 1:
                raise ConfigError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"trainer.lr must be > 0, got {self.lr}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"trainer.device must be auto, cpu or cuda, got {self.device!r}")
        self.ks = tuple(sorted(set(self.ks)))
        name, _, k = self.metric.partition("@")
        if name not in ("hit", "recall", "ndcg", "mrr", "auc", "gauc", "logloss"):
            raise ConfigError(f"trainer.metric {self.metric!r} is not a known metric")
        if k and int(k) not in self.ks:
            raise ConfigError(f"trainer.metric {self.metric!r} needs {k} in trainer.ks {list(self.ks)}")


ALIGN_METHODS = ("orpo", "dpo", "simpo")
BETA_DEFAULTS = {"dpo": 0.1, "simpo": 2.0}  # the DPO and SimPO papers' settings


@dataclasses.dataclass
class NegativesConfig:
    """Mixing ratios of the three kinds of rejected slates (HiGR §3.4.2); 0 switches a kind off."""

    ranking: float = 1.0  # a random permutation of y+
    interest: float = 1.0  # y+ with items replaced by exposures that got negative feedback
    repetition: float = 1.0  # y+'s first item followed by its nearest items in SID space

    def __post_init__(self):
        vals = dataclasses.asdict(self)
        if any(v < 0 for v in vals.values()) or sum(vals.values()) <= 0:
            raise ConfigError(f"alignment.negatives: ratios must be >= 0 with a positive sum, got {vals}")


@dataclasses.dataclass
class AlignmentConfig:
    """`hgrec align`: preference post-training of a pre-trained HiGR checkpoint (docs/alignment.md)."""

    method: str = "orpo"  # orpo (HiGR eq. 13-14) | dpo (frozen reference) | simpo
    init: str | None = None  # checkpoint folder of the pre-trained HiGR (runs/<run>/best)
    alpha: float = 0.1  # ORPO: weight of the odds-ratio term, eq. (14) (paper: 0.1)
    beta: float | None = None  # DPO / SimPO temperature; None = the method's paper default (0.1 / 2.0)
    gamma: float = 1.0  # SimPO target reward margin (SimPO paper: gamma / beta = 0.5)
    negatives: NegativesConfig = dataclasses.field(default_factory=NegativesConfig)
    replace_fraction: float = 0.4  # interest negatives: share of y+'s items replaced (at least one)
    pool_size: int = 16  # interest negatives: the user's most recent negative exposures drawn from
    min_positives: int = 2  # samples with fewer distinct engaged items give no pair
    pairs_per_sample: int = 1  # pairs per sample, with independently drawn negatives

    def __post_init__(self):
        if self.method not in ALIGN_METHODS:
            raise ConfigError(f"alignment.method must be one of {', '.join(ALIGN_METHODS)}, got {self.method!r}")
        if self.beta is None:
            self.beta = BETA_DEFAULTS.get(self.method)
        if self.alpha < 0 or (self.beta is not None and self.beta <= 0):
            raise ConfigError(f"alignment.alpha must be >= 0 and alignment.beta > 0, got {self.alpha}, {self.beta}")
        if not 0 < self.replace_fraction <= 1:
            raise ConfigError(f"alignment.replace_fraction must be in (0, 1], got {self.replace_fraction}")
        if self.min_positives < 2 or self.pairs_per_sample < 1 or self.pool_size < 0:
            raise ConfigError("alignment.min_positives must be >= 2, pairs_per_sample >= 1 and pool_size >= 0, got "
                              f"{self.min_positives}, {self.pairs_per_sample}, {self.pool_size}")


@dataclasses.dataclass
class RunConfig:
    model: Any  # the registered model's config dataclass (its name in `model_name`)
    model_name: str
    data: DataConfig
    trainer: TrainerConfig
    alignment: AlignmentConfig | None = None  # only `hgrec align` runs have one

    def to_dict(self) -> dict[str, Any]:
        out = {"model": {"name": self.model_name, **dataclasses.asdict(self.model)},
               "data": dataclasses.asdict(self.data), "trainer": dataclasses.asdict(self.trainer)}
        if self.alignment is not None:
            out["alignment"] = dataclasses.asdict(self.alignment)
        return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                raw: dict[str, Any] | None = None) -> RunConfig:
    if raw is None:
        raw = {}
        if path is not None:
            raw = read_yaml(path)
    raw = parse_numbers(apply_overrides(dict(raw), overrides or []))
    unknown = [k for k in raw if k not in ("model", "data", "trainer", "alignment")]
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key; known: alignment, data, model, trainer")
    model = dict(raw.get("model") or {})
    name = model.pop("name", None)
    if not name:
        raise ConfigError("model.name: missing (e.g. sasrec, hstu)")
    try:
        mcfg = model_config(name, model, "model")
    except KeyError as e:
        raise ConfigError(f"model.name: {e.args[0]}") from e
    align = raw.get("alignment")
    return RunConfig(mcfg, name, from_dict(DataConfig, raw.get("data") or {}, "data"),
                     from_dict(TrainerConfig, raw.get("trainer") or {}, "trainer"),
                     None if align is None else from_dict(AlignmentConfig, align, "alignment"))
