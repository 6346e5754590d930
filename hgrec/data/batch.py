"""The one context batch that every slate and next-item model reads, and the one time unit in batches.

Storage (the canonical tables, DESIGN §3) keeps times in unix milliseconds; every batch a model sees
holds unix **seconds** (`batch_seconds`). `context_batch` is the only place that turns the numpy
arrays of a split, a serving request or a benchmark into the tensors a model's `encode_context`
reads, so training, evaluation, serving, the CLI and the benchmarks hand every model the same thing.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import torch


class ContextBatch(TypedDict, total=False):
    history: torch.Tensor  # (R, L) dense item ids, left-padded with 0
    history_ts: torch.Tensor  # (R, L) unix seconds of each history item (0 at padding; positions if untimed)
    user_features: torch.Tensor  # (R, F) categorical codes of the user (models with user features)
    target: torch.Tensor  # (R, M) the slate to learn (training)
    effective: torch.Tensor  # (R, M) its per-item engagement (ListCVAE's response vector)


def batch_seconds(ts_ms: np.ndarray, has_timestamps: bool = True) -> np.ndarray:
    """Stored unix milliseconds -> the seconds of a batch (untimed data keeps its positions)."""
    return ts_ms // 1000 if has_timestamps else ts_ms


def context_batch(history: np.ndarray, history_ts: np.ndarray, user_features: np.ndarray | None = None,
                  device: str | torch.device = "cpu", width: int | None = None, **extra: np.ndarray) -> ContextBatch:
    """numpy (R, L) left-padded histories, their times in seconds and (R, F) user features -> a ContextBatch
    on `device`. `width` keeps the last `width` columns (callers drop columns that are padding in every
    row where the model's positions are right-aligned); `extra` arrays (target, effective) ride along."""
    if width is not None:
        history, history_ts = history[:, -width:], history_ts[:, -width:]
    if history.shape != history_ts.shape:
        raise ValueError(f"history {history.shape} and history_ts {history_ts.shape} differ in shape")
    batch: ContextBatch = {"history": torch.from_numpy(np.ascontiguousarray(history)).to(device),
                           "history_ts": torch.from_numpy(np.ascontiguousarray(history_ts)).to(device)}
    if user_features is not None and user_features.ndim == 2 and user_features.shape[1]:
        if len(user_features) != len(history):
            raise ValueError(f"user_features has {len(user_features)} rows for {len(history)} histories")
        batch["user_features"] = torch.from_numpy(np.ascontiguousarray(user_features)).to(device)
    for key, value in extra.items():
        batch[key] = torch.from_numpy(np.ascontiguousarray(value)).to(device)
    return batch
