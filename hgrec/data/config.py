"""`data:` of every run config: which dataset, how histories, slates and CTR samples are cut."""

from __future__ import annotations

import dataclasses

from hgrec.config import ConfigError


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
    # generative retrieval (data.protocol=next_item of a semantic-ID model): early stopping on a seeded random
    # sample of this many validation users (a beam search per user is costly on CPU); test always uses all
    valid_users: int | None = None
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
        if self.valid_users is not None and self.valid_users < 1:
            raise ConfigError(f"data.valid_users must be >= 1 or null, got {self.valid_users}")
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
