"""Sample builders for next-item models (SASRec, HSTU, BERT4Rec, TIGER): NumPy arrays, no torch.

Protocol (docs/data.md, "Splits"): leave-last-out over each user's positive sequence. Training uses
the train part of every sequence as windows of `max_len + 1` items (input = window[:-1], target =
window[1:]) cut from the end with stride `max_len`, so every training transition is seen exactly
once per epoch (long ML-100K users give several windows; SASRec's original keeps only the last).
Validation predicts the second-to-last positive from the ones before it; test predicts the last
from everything before it (the validation item included), as TIGER/SASRec/HSTU do.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hgrec.data.batch import batch_seconds
from hgrec.data.dataset import Dataset
from hgrec.data.views import leave_last_out, positive_history


@dataclasses.dataclass
class EvalSet:
    """Users to evaluate with their history (left-padded to max_len) and truth items (0-padded)."""

    users: np.ndarray  # (U,) dense user ids
    history: np.ndarray  # (U, L) item ids, 0 = padding, most recent last
    history_ts: np.ndarray  # (U, L) seconds (order-only sources: position)
    truth: np.ndarray  # (U, M) item ids, 0 = padding
    seen_offsets: np.ndarray  # (U+1,) CSR of every positive before the cut (for history masking)
    seen_items: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, idx: np.ndarray) -> "EvalSet":
        idx = np.asarray(idx)
        lens = np.diff(self.seen_offsets)[idx]
        offs = np.concatenate([[0], np.cumsum(lens)])
        flat = np.repeat(self.seen_offsets[idx] - offs[:-1], lens) + np.arange(offs[-1])
        return EvalSet(self.users[idx], self.history[idx], self.history_ts[idx], self.truth[idx], offs,
                       self.seen_items[flat])


@dataclasses.dataclass
class NextItemData:
    num_items: int
    max_len: int
    has_timestamps: bool
    train_items: np.ndarray  # (W, max_len + 1) windows, left-padded with 0
    train_ts: np.ndarray  # (W, max_len + 1) seconds
    valid: EvalSet
    test: EvalSet


def _gather_left_padded(values: np.ndarray, ends: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """Row r = values[max(starts[r], ends[r] - width) : ends[r]], right-aligned, 0-padded."""
    idx = ends[:, None] - width + np.arange(width)[None, :]
    ok = idx >= starts[:, None]
    out = np.zeros((len(ends), width), dtype=values.dtype)
    out[ok] = values[idx[ok]]
    return out


def next_item_data(ds: Dataset, max_len: int = 50) -> NextItemData:
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    split = leave_last_out(ds).to_numpy()
    eff = ds.interactions["effective"].to_numpy() if "effective" in ds.interactions.columns else None
    if eff is not None:
        split = split[eff]
    seq = positive_history(ds, ["item_id", "ts"])
    items = seq["item_id"]
    ts = batch_seconds(seq["ts"], ds.info.has_timestamps)
    code = np.select([split == "valid", split == "test"], [1, 2], 0)
    off = seq.offsets
    users = np.arange(ds.num_users)
    n_train = np.bincount(np.repeat(users, seq.lengths)[code == 0], minlength=ds.num_users)

    # Training windows: users with >= 2 train items, cut from the end with stride max_len.
    n_win = np.where(n_train >= 2, np.ceil((n_train - 1) / max_len).astype(np.int64), 0)
    win_user = np.repeat(users, n_win)
    k = np.arange(n_win.sum()) - np.repeat(np.cumsum(n_win) - n_win, n_win)  # 0 = the latest window
    win_end = off[win_user] + n_train[win_user] - k * max_len
    train_items = _gather_left_padded(items, win_end, off[win_user], max_len + 1)
    train_ts = _gather_left_padded(ts, win_end, off[win_user], max_len + 1)

    def eval_set(which: int) -> EvalSet:
        rows = np.flatnonzero(code == which)  # flat index of each user's target (one per user)
        u = np.repeat(users, seq.lengths)[rows]
        start = off[u]
        hist = _gather_left_padded(items, rows, start, max_len)
        hist_ts = _gather_left_padded(ts, rows, start, max_len)
        seen_len = rows - start
        seen_off = np.concatenate([[0], np.cumsum(seen_len)])
        seen = items[np.repeat(start - seen_off[:-1], seen_len) + np.arange(seen_off[-1])]
        keep = seen_len >= 1
        es = EvalSet(u, hist, hist_ts, items[rows][:, None], seen_off, seen)
        return es.subset(np.flatnonzero(keep))

    return NextItemData(ds.num_items, max_len, ds.info.has_timestamps, train_items, train_ts, eval_set(1),
                        eval_set(2))


@dataclasses.dataclass
class NextKSamples:
    """Training samples of a generative next-item model: one per position of the training part of every
    sequence that has at least one item before it (the causal models' every-position training, made explicit
    for an encoder-decoder): `history` = the items before it (last max_len), `target` = it and the next
    ones, at most `k`, never past the training part."""

    users: np.ndarray  # (N,) dense user ids
    history: np.ndarray  # (N, L) left-padded, most recent last
    history_ts: np.ndarray  # (N, L) seconds
    target: np.ndarray  # (N, k) item ids, 0-padded on the right

    def __len__(self) -> int:
        return len(self.users)


def next_k_samples(ds: Dataset, max_len: int = 50, k: int = 1) -> NextKSamples:
    """Samples on exactly the training part of `next_item_data`'s split (the same leave-last-out cut)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    split = leave_last_out(ds).to_numpy()
    if "effective" in ds.interactions.columns:
        split = split[ds.interactions["effective"].to_numpy()]
    seq = positive_history(ds, ["item_id", "ts"])
    items, ts = seq["item_id"], batch_seconds(seq["ts"], ds.info.has_timestamps)
    users = np.arange(ds.num_users)
    held = (split == "valid") | (split == "test")
    n_train = np.bincount(np.repeat(users, seq.lengths)[~held], minlength=ds.num_users)
    n = np.maximum(n_train - 1, 0)  # positions 1..n_train-1 of each user
    u = np.repeat(users, n)
    p = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + 1
    start = seq.offsets[u]
    hist = _gather_left_padded(items, start + p, start, max_len)
    hist_ts = _gather_left_padded(ts, start + p, start, max_len)
    j = p[:, None] + np.arange(k)[None]
    ok = j < n_train[u][:, None]
    target = np.where(ok, items[np.minimum(start[:, None] + j, len(items) - 1)], 0)
    return NextKSamples(u, hist, hist_ts, target)
