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
import types
import typing
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    pass


@dataclasses.dataclass
class DataConfig:
    dataset: str = "sample"  # registry name (hgrec data stats lists them)
    root: str | None = None  # folder with the raw files; None = fetched copy / embedded sample
    cache: str | None = None  # cache folder; None = $HGREC_CACHE or ~/.cache/hgrec
    max_len: int = 50  # history length (TIGER/SASRec Amazon: 50; ML: 200)
    mask_history: bool = False  # exclude the user's earlier positives from the ranking
    # slate models (HiGR, TIGER, OneRec-style; docs/slates.md)
    protocol: str = "auto"  # auto (the model's own) | next_item | slate (next-item models trained/evaluated on slates)
    semantic_ids: str | None = None  # codes.parquet written by `hgrec tokenize`
    slate_size: int = 5  # M
    slate_target: str = "effective"  # what a training slate is: effective | impressions
    train_samples: str = "requests"  # requests (one per logged request) | every_item (one per effective item)
    split: str = "leave_last_out"  # leave_last_out | temporal (slate samples)
    beam: int = 5  # B, the beam width of slate decoding during evaluation
    # CTR models (HPGR, HSTU-CTR, MTGR-style, DIN; docs/hpgr.md): every exposure, global temporal split
    label: str = "clicked"  # CTR target: clicked (KuaiRand is_click) | effective (long view / rating >= 4)
    session_gap_min: float = 30.0  # a new session starts after a gap > this many minutes
    # side features and causal counters of every CTR sample (hgrec/data/ctr_features.py): any of
    # user, item, context, counters, cross; empty = the history alone
    features: tuple[str, ...] = ()

    def __post_init__(self):
        if self.label not in ("clicked", "effective"):
            raise ConfigError(f"data.label must be clicked or effective, got {self.label!r}")
        from hgrec.data.ctr_features import GROUPS

        if set(self.features) - set(GROUPS):
            raise ConfigError(f"data.features: unknown group(s) {sorted(set(self.features) - set(GROUPS))}; "
                              f"known: {list(GROUPS)}")
        self.features = tuple(g for g in GROUPS if g in self.features)
        if self.session_gap_min <= 0:
            raise ConfigError(f"data.session_gap_min must be > 0, got {self.session_gap_min}")
        if self.max_len < 1:
            raise ConfigError(f"data.max_len must be >= 1, got {self.max_len}")
        if self.slate_size < 1 or self.beam < 1:
            raise ConfigError(f"data.slate_size and data.beam must be >= 1, got {self.slate_size}, {self.beam}")
        if self.slate_target not in ("effective", "impressions"):
            raise ConfigError(f"data.slate_target must be effective or impressions, got {self.slate_target!r}")
        if self.train_samples not in ("requests", "every_item"):
            raise ConfigError(f"data.train_samples must be requests or every_item, got {self.train_samples!r}")
        if self.protocol not in ("auto", "next_item", "slate"):
            raise ConfigError(f"data.protocol must be auto, next_item or slate, got {self.protocol!r}")
        if self.split not in ("leave_last_out", "temporal"):
            raise ConfigError(f"data.split must be leave_last_out or temporal, got {self.split!r}")


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


def _convert(tp, value, path: str):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{path}: cannot be {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return from_dict(tp, value, path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{path}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls, values: dict[str, Any], path: str = ""):
    """Build dataclass `cls` from a plain dict, strictly: unknown keys and bad types name their path."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = [k for k in values if k not in fields]
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise ConfigError(f"{where}: unknown key; known: {', '.join(sorted(fields))}")
    kwargs = {k: _convert(hints[k], v, f"{path}.{k}" if path else k) for k, v in values.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{path or cls.__name__}: {e}") from e


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`trainer.lr=3e-4` -> raw['trainer']['lr'] = 3e-4 (values parsed as YAML)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key.path=value")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node = raw
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key}: {p} is not a mapping")
        value = yaml.safe_load(text)
        if isinstance(value, str) and _looks_numeric(value):
            value = float(value)  # YAML 1.1 reads '3e-4' as a string
        node[parts[-1]] = value
    return raw


def _looks_numeric(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _numbers(node):
    if isinstance(node, dict):
        return {k: _numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_numbers(v) for v in node]
    if isinstance(node, str) and _looks_numeric(node) and any(c in node for c in "eE."):
        return float(node)
    return node


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config file -> its mapping; unreadable, not UTF-8, not YAML or not a mapping -> ConfigError naming
    the file (and line)."""
    try:
        raw = yaml.safe_load(Path(path).read_bytes().decode("utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        line = e.object.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {e.object[e.start]:#04x})") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from e
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (model:, data:, ...), got a {type(raw).__name__}")
    return raw


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                raw: dict[str, Any] | None = None) -> RunConfig:
    from hgrec.models.registry import model_config

    if raw is None:
        raw = {}
        if path is not None:
            raw = read_yaml(path)
    raw = _numbers(apply_overrides(dict(raw), overrides or []))
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
