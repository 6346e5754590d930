"""Sample builders for slate models (HiGR, OneRec-style, TIGER/SASRec as top-M): NumPy arrays, no torch.

One sample = one (user, request) row of `views.slates`: the context is the user's effective history
S^u before the request (last `max_len` items, most recent last), the training target is the slate
the model should generate, and evaluation compares a generated slate with two truth sets
(DESIGN §8): the request's **impressions** and its **effective views** (the next <= M effective
items, never crossing into a later split).

Training target (`target`): `effective` (default: the items the user engaged with, the paper's
"high-quality" slates) or `impressions` (everything that was shown). Train samples with an empty
target are dropped; evaluation keeps every sample with a non-empty truth set of that kind.

User features: every column of `ds.users` except the ids becomes one categorical token
(`user_features`: values factorised per column, 0 = missing), so the context encoder can read
u in C = E(u, S^u) for any source that has a user table.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from hgrec.data.batch import batch_seconds
from hgrec.data.dataset import Dataset
from hgrec.data.errors import DataError
from hgrec.data.views import positive_history, slates, temporal_cuts

TARGETS = ("effective", "impressions")


@dataclasses.dataclass
class SlateSet:
    users: np.ndarray  # (N,) dense user ids
    history: np.ndarray  # (N, L) item ids, left-padded with 0, most recent last
    history_ts: np.ndarray  # (N, L) seconds (order-only sources: position)
    target: np.ndarray  # (N, M) training slate, 0-padded on the right
    impressions: np.ndarray  # (N, M_imp) truth set 1, 0-padded
    effective: np.ndarray  # (N, M) truth set 2, 0-padded
    request: np.ndarray  # (N,) request index within the user (for predictions files)
    cut: np.ndarray  # (N,) effective items of the user before the sample = where `effective` starts in S^u

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, idx: np.ndarray) -> "SlateSet":
        return SlateSet(*(getattr(self, f.name)[idx] for f in dataclasses.fields(self)))


@dataclasses.dataclass
class SlateData:
    num_items: int
    slate_size: int
    max_len: int
    has_timestamps: bool
    user_features: np.ndarray  # (U, F) int64 categorical codes, 0 = missing
    feature_vocab: list[int]  # per feature: number of codes including 0
    train: SlateSet
    valid: SlateSet
    test: SlateSet


def _padded(lists: pl.Series, width: int) -> np.ndarray:
    """A list column -> (N, width) int64, truncated and right-padded with 0 (vectorised)."""
    arr = lists.to_arrow()
    if hasattr(arr, "combine_chunks"):
        arr = arr.combine_chunks()
    offs = np.asarray(arr.offsets, dtype=np.int64)
    flat = np.asarray(arr.values.fill_null(0), dtype=np.int64)
    lens = np.diff(offs)
    out = np.zeros((len(lens), width), dtype=np.int64)
    col = np.arange(width)[None, :]
    ok = col < np.minimum(lens, width)[:, None]
    rows = np.nonzero(ok)
    out[rows] = flat[offs[:-1][rows[0]] + rows[1]]
    return out


def user_feature_codes(ds: Dataset) -> tuple[np.ndarray, list[int]]:
    """(U, F) categorical codes of the user table (1.. per distinct value, 0 = missing) and vocab sizes."""
    if ds.users is None or ds.users.height == 0:
        return np.zeros((ds.num_users, 0), dtype=np.int64), []
    users = ds.users.sort("user_id")
    if users.height != ds.num_users or (users["user_id"].to_numpy() != np.arange(ds.num_users)).any():
        raise DataError(f"{ds.name}: the user table must hold exactly one row per user 0..{ds.num_users - 1}")
    cols = [c for c in users.columns if c not in ("user_id", "raw_id")]
    codes, vocab = [], []
    for c in cols:
        s = users[c]
        dense = s.cast(pl.String).rank("dense").fill_null(0).to_numpy().astype(np.int64)  # 0 = missing
        codes.append(dense)
        vocab.append(int(dense.max()) + 1)
    if not codes:
        return np.zeros((ds.num_users, 0), dtype=np.int64), []
    return np.stack(codes, 1), vocab


def _every_item_samples(seq, region_end: np.ndarray, slate_size: int, max_len: int, min_history: int):
    """One training sample per effective item of each user's training region: history = the effective
    items before it, target = it and the next ones (<= M, never past the region end)."""
    users = np.arange(len(region_end))
    n = np.maximum(region_end - min_history, 0)  # samples per user
    u = np.repeat(users, n)
    p = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + min_history  # start position within the user
    off = seq.offsets[u] + p
    idx = off[:, None] + np.arange(slate_size)[None]
    ok = (p[:, None] + np.arange(slate_size)[None]) < region_end[u][:, None]
    target = np.where(ok, seq["item_id"][np.minimum(idx, len(seq["item_id"]) - 1)], 0)
    return u, p, target


def slate_data(ds: Dataset, slate_size: int = 5, max_len: int = 50, target: str = "effective",
               split: str = "leave_last_out", min_history: int = 1, train_samples: str = "requests") -> SlateData:
    """`train_samples`: `requests` (one sample per logged request, the paper's) or `every_item` (one per
    effective item of the training region, with the next <= M effective items as the slate: more
    samples from the same data, as SASRec-style training uses every position)."""
    if train_samples not in ("requests", "every_item"):
        raise ValueError(f"train_samples must be requests or every_item, got {train_samples!r}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if split not in ("leave_last_out", "temporal"):
        raise ValueError(f"split must be leave_last_out or temporal, got {split!r}")
    cuts = temporal_cuts(ds) if split == "temporal" else None
    sl_all = slates(ds, slate_size, min_history=0, temporal_cuts=cuts)
    sl = sl_all.filter(pl.col("hist_len") >= min_history)
    if sl.height == 0:
        raise DataError(f"{ds.name}: no slate has >= {min_history} effective items of history")
    seq = positive_history(ds, ["item_id", "ts"])
    ts = batch_seconds(seq["ts"], ds.info.has_timestamps)
    seq.columns["ts_s"] = ts
    users = sl["user_id"].to_numpy()
    cut = sl["hist_len"].to_numpy()
    history = seq.history_batch(users, cut, max_len)
    history_ts = seq.history_batch(users, cut, max_len, column="ts_s")
    imp_width = int(sl["impressions"].list.len().max())
    effective = _padded(sl["effective"], slate_size)
    impressions = _padded(sl["impressions"], max(imp_width, 1))
    tgt = effective if target == "effective" else _padded(sl["impressions"], slate_size)
    full = SlateSet(users, history, history_ts, tgt, impressions, effective, sl["request"].to_numpy(), cut)
    code = sl["split"].to_physical().to_numpy()  # 0 train, 1 valid, 2 test
    feats, vocab = user_feature_codes(ds)

    def part(which: int) -> SlateSet:
        if which == 0 and train_samples == "every_item":
            if target != "effective":
                raise ValueError("train_samples=every_item builds effective-view slates: use target=effective")
            # a user's training region ends where their first validation/test request starts
            held = sl_all.filter(pl.col("split") != "train").group_by("user_id").agg(pl.col("hist_len").min())
            end = seq.lengths.copy()
            end[held["user_id"].to_numpy()] = held["hist_len"].to_numpy()
            u, p, tg = _every_item_samples(seq, end, slate_size, max_len, min_history)
            z = np.zeros((len(u), 1), dtype=np.int64)
            return SlateSet(u, seq.history_batch(u, p, max_len), seq.history_batch(u, p, max_len, column="ts_s"),
                            tg, z, tg, np.full(len(u), -1, dtype=np.int32), p)
        if which == 0:
            keep = (code == 0) & (tgt[:, 0] > 0)
        else:  # evaluation: a sample counts when either truth set is non-empty
            keep = (code == which) & ((effective[:, 0] > 0) | (impressions[:, 0] > 0))
        return full.subset(np.flatnonzero(keep))

    return SlateData(ds.num_items, slate_size, max_len, ds.info.has_timestamps, feats, vocab,
                     part(0), part(1), part(2))
