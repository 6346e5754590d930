"""CTR samples with sessions (HPGR and the CTR baselines): NumPy arrays, no torch, no per-row loops.

One sample = one logged exposure (DESIGN §3 "CTR rows"): the candidate is the exposed item, the label
is its logged feedback (`label`: `clicked` = KuaiRand is_click; `effective` = long view / rating >= 4),
the history is the user's exposures strictly before it in the canonical (user, time, file) order,
*with their own feedback* (the "action"), at most `max_len` of them, most recent last.
Split: global temporal (`views.temporal_cuts`: train before t_valid, valid until t_test, test after,
10 % / 10 % of the exposures). A valid/test candidate's history may contain earlier valid/test
exposures of the same user and their feedback: at serving time a ranker knows what happened before
the request (the streaming protocol of HSTU's and MTGR's ranking setups); it never sees the candidate's
own label or anything after it.

Sessions: a new session starts after a gap > `session_gap_ms` (`views.add_sessions`). Every history
token carries its position in its session and its session's index *relative to the candidate*
(0 = the candidate's own session, "the current session"; 1 = the one before; ...), so a sample's
features do not depend on how long the user's log is. Pre-training windows (`mim_windows`) count
sessions back from the window's last token instead.

Per-token columns (the CSR arrays in `CTRData`, one entry per exposure):
  item      dense item id (1..N)
  action    1 + clicked + 2 * effective (1..4) for sources with clicks (KuaiRand);
            the rating (1..5) for rating sources (ML-100K); 0 is padding (ACTION_PAD)
  label     the training label of that exposure (0/1), used by the baselines' cross features
  session   0-based session index within the user
  pos       0-based position within the session
  gap       bucket of the time since the user's previous exposure: 1 = first exposure,
            2 + floor(log2(1 + seconds)) capped at GAP_BUCKETS - 1; 0 = padding
  ts        seconds
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from hgrec.data.ctr_features import CTRFeatures
from hgrec.data.dataset import Dataset
from hgrec.data.errors import DataError
from hgrec.data.views import DEFAULT_SESSION_GAP_MS, add_sessions, temporal_cuts, temporal_split_codes

LABELS = ("clicked", "effective")
ACTION_PAD, ACTION_MASK, ACTION_CANDIDATE = 0, 6, 7  # 1..5 are logged actions (see the module docstring)
ACTION_VOCAB = 8
GAP_BUCKETS = 32


@dataclasses.dataclass
class CTRSplit:
    rows: np.ndarray  # (n,) flat index of each candidate exposure in the CSR arrays
    labels: np.ndarray  # (n,) float32 0/1

    def __len__(self) -> int:
        return len(self.rows)


@dataclasses.dataclass
class CTRData:
    num_items: int
    max_len: int
    label: str
    session_gap_ms: int
    cuts: tuple[int, int]  # (t_valid, t_test) in ms
    offsets: np.ndarray  # (U+1,) CSR: user u's exposures are offsets[u]:offsets[u+1]
    columns: dict[str, np.ndarray]  # item, action, label, session, pos, gap, ts, user: (nnz,) each
    train: CTRSplit
    valid: CTRSplit
    test: CTRSplit
    features: CTRFeatures | None = None  # side features and causal counters (`data.features`)

    def split(self, name: str) -> CTRSplit:
        if name not in ("train", "valid", "test"):
            raise ValueError(f"split must be train, valid or test, got {name!r}")
        return getattr(self, name)

    def history_lengths(self, rows: np.ndarray) -> np.ndarray:
        """Number of history tokens of each candidate row (<= max_len)."""
        user = self.columns["user"][rows]
        return np.minimum(rows - self.offsets[user], self.max_len)

    def batch(self, rows: np.ndarray, width: int | None = None) -> dict[str, np.ndarray]:
        """Left-padded (B, W) histories and the candidates of flat rows `rows`, in one gather.

        W = `width` or the longest history in the batch (at least 1); positions are right-aligned and
        sessions are counted back from the candidate, so trimming the padding changes no feature.
        """
        rows = np.asarray(rows, dtype=np.int64)
        lens = self.history_lengths(rows)
        W = width or max(int(lens.max(initial=0)), 1)
        c = self.columns
        idx = rows[:, None] - W + np.arange(W)[None, :]  # (B, W) flat indices, most recent last
        valid = np.arange(W)[None, :] >= (W - lens)[:, None]
        safe = np.where(valid, idx, 0)
        rel = c["session"][rows][:, None] - c["session"][safe]  # 0 = the candidate's own session
        out = {
            "items": np.where(valid, c["item"][safe], 0),
            "actions": np.where(valid, c["action"][safe], ACTION_PAD),
            "hist_labels": np.where(valid, c["label"][safe], 0).astype(np.float32),
            "session": np.where(valid, rel, 0),
            "pos": np.where(valid, c["pos"][safe], 0),
            "gap": np.where(valid, c["gap"][safe], 0),
            "ts": np.where(valid, c["ts"][safe], 0),
            "cand_item": c["item"][rows],
            "cand_pos": c["pos"][rows],
            "cand_gap": c["gap"][rows],
            "cand_ts": c["ts"][rows],
            "label": c["label"][rows].astype(np.float32),
        }
        if self.features is not None and len(self.features):
            out["features"] = self.features.codes(rows)
        return out


def action_codes(df: pl.DataFrame) -> np.ndarray:
    """The logged feedback of each exposure as one small integer (module docstring)."""
    if "clicked" in df.columns:
        eff = df["effective"].to_numpy() if "effective" in df.columns else np.zeros(df.height, bool)
        return (1 + df["clicked"].to_numpy().astype(np.int64) + 2 * eff.astype(np.int64))
    if "rating" in df.columns:
        return df["rating"].to_numpy().astype(np.int64).clip(1, 5)
    if "effective" in df.columns:
        return 1 + df["effective"].to_numpy().astype(np.int64)
    raise DataError("CTR samples need feedback columns (clicked, effective or rating)")


def gap_buckets(ts_ms: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Bucket of the time since the previous exposure of the same user (module docstring)."""
    gap_s = np.zeros(len(ts_ms), dtype=np.float64)
    gap_s[1:] = np.maximum(ts_ms[1:] - ts_ms[:-1], 0) / 1000.0
    b = 2 + np.floor(np.log2(1.0 + gap_s)).astype(np.int64)
    return np.where(first, 1, np.minimum(b, GAP_BUCKETS - 1))


def ctr_data(ds: Dataset, max_len: int = 50, label: str = "clicked",
             session_gap_ms: int = DEFAULT_SESSION_GAP_MS, valid_frac: float = 0.1,
             test_frac: float = 0.1, features: tuple[str, ...] = ()) -> CTRData:
    """Every exposure of `ds` as a CTR sample, split by global time (module docstring); `features`:
    the groups of side features and causal counters each sample carries (hgrec/data/ctr_features.py)."""
    where = f"dataset {ds.name}"
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    if label not in LABELS:
        raise ValueError(f"label must be one of {LABELS}, got {label!r}")
    if label not in ds.interactions.columns:
        hint = "; use data.label=effective" if label == "clicked" and "effective" in ds.interactions.columns else ""
        raise DataError(f"{ds.name} has no '{label}' column to use as the CTR label{hint}", where)
    if not ds.info.has_negatives:
        raise DataError(f"{ds.name} logs no negative feedback: CTR samples need exposures without a positive label",
                        where)
    cuts = temporal_cuts(ds, valid_frac, test_frac)  # DataError for order-only sources
    df = add_sessions(ds, session_gap_ms)
    u = df["user_id"].to_numpy()
    ts = df["ts"].to_numpy()
    y = df[label].to_numpy().astype(np.int8)
    first = np.ones(len(u), dtype=bool)
    first[1:] = u[1:] != u[:-1]
    counts = np.bincount(u, minlength=ds.num_users)
    offsets = np.zeros(ds.num_users + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    columns = {
        "item": df["item_id"].to_numpy(),
        "action": action_codes(df),
        "label": y,
        "session": df["session_index"].to_numpy().astype(np.int64),
        "pos": df["pos_in_session"].to_numpy().astype(np.int64),
        "gap": gap_buckets(ts, first),
        "ts": ts // 1000,
        "ts_ms": ts,  # exact times, for serving-time features (`request_batch`)
        "user": u,
    }
    code = temporal_split_codes(ts, cuts)
    splits = []
    for which, name in enumerate(("train", "valid", "test")):
        rows = np.flatnonzero(code == which)
        if len(rows) == 0:
            raise DataError(f"the {name} split of {ds.name} is empty", where)
        splits.append(CTRSplit(rows, y[rows].astype(np.float32)))
    tr = splits[0].labels
    if tr.min() == tr.max():
        raise DataError(f"every training exposure of {ds.name} has {label}={int(tr[0])}: nothing to learn", where)
    feats = CTRFeatures(ds, features, log=df) if features else None
    return CTRData(ds.num_items, max_len, label, session_gap_ms, cuts, offsets, columns, *splits, features=feats)


# ---------------------------------------------------------------------------------------------
# Pre-training windows (session-based MIM)


@dataclasses.dataclass
class MIMWindows:
    """Windows of exposure sequences for Masked Item Modeling: flat index one past each window's last
    token (`ends`), its first allowed token (`starts`), and, for evaluation, the flat index from which
    every token is a target (`target_from`; training masks at random instead)."""

    ends: np.ndarray
    starts: np.ndarray
    target_from: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ends)


def mim_windows(data: CTRData, split: str) -> MIMWindows:
    """train: each user's exposures before t_valid, cut into windows of `max_len` from the end (stride
    max_len: every token is in exactly one window), users with >= 2 such exposures.
    valid/test: one window per user with >= 1 exposure in the split and >= 1 before it, ending at the
    split's end; the split's exposures (at most max_len - 1 of them, the earliest) are the targets.
    """
    c, off, L = data.columns, data.offsets, data.max_len
    U = len(off) - 1
    users = np.arange(U)
    ts_ms = c["ts"] * 1000
    code = temporal_split_codes(ts_ms, data.cuts)
    user = c["user"]
    n_before = {s: np.bincount(user[code < s], minlength=U) for s in (1, 2, 3)}  # rows before split s ends
    if split == "train":
        n = n_before[1]
        n_win = np.where(n >= 2, -(-n // L), 0)  # ceil(n / L)
        win_user = np.repeat(users, n_win)
        k = np.arange(n_win.sum()) - np.repeat(np.cumsum(n_win) - n_win, n_win)  # 0 = the latest window
        ends = off[win_user] + n[win_user] - k * L
        starts = np.maximum(ends - L, off[win_user])
        return MIMWindows(ends, starts)
    s = {"valid": 1, "test": 2}[split]
    lo, hi = n_before[s], n_before[s + 1]  # rows of the split: [lo, hi) within the user
    keep = (hi > lo) & (lo >= 1)
    u = users[keep]
    # window ends after at most L-1 split rows, so at least one context token stays visible
    end_local = np.minimum(hi[u], lo[u] + L - 1)
    ends = off[u] + end_local
    starts = np.maximum(ends - L, off[u])
    return MIMWindows(ends, starts, off[u] + lo[u])


def window_batch(data: CTRData, win: MIMWindows, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Left-padded (B, W) token arrays of windows `idx`; sessions counted back from the last token.

    `targets_at` (evaluation windows only) marks the tokens to predict.
    """
    ends, starts = win.ends[idx], win.starts[idx]
    lens = ends - starts
    W = max(int(lens.max(initial=0)), 1)
    c = data.columns
    flat = ends[:, None] - W + np.arange(W)[None, :]
    valid = np.arange(W)[None, :] >= (W - lens)[:, None]
    safe = np.where(valid, flat, 0)
    rel = c["session"][ends - 1][:, None] - c["session"][safe]
    out = {
        "items": np.where(valid, c["item"][safe], 0),
        "actions": np.where(valid, c["action"][safe], ACTION_PAD),
        "session": np.where(valid, rel, 0),
        "pos": np.where(valid, c["pos"][safe], 0),
        "gap": np.where(valid, c["gap"][safe], 0),
        "ts": np.where(valid, c["ts"][safe], 0),
    }
    if win.target_from is not None:
        out["targets_at"] = valid & (flat >= win.target_from[idx][:, None])
    return out


# ---------------------------------------------------------------------------------------------
# Session statistics (reported next to every CTR result)


def session_stats(data: CTRData) -> dict[str, float]:
    """How much session structure there is for HPGR to use, over all exposures and the test samples."""
    c = data.columns
    user, sess = c["user"], c["session"]
    new = np.ones(len(user), dtype=bool)
    new[1:] = (user[1:] != user[:-1]) | (sess[1:] != sess[:-1])
    sizes = np.diff(np.append(np.flatnonzero(new), len(user)))
    per_user = np.bincount(user[new], minlength=len(data.offsets) - 1)
    per_user = per_user[per_user > 0]
    test = data.test.rows
    b_lens = data.history_lengths(test)
    cur = np.minimum(c["pos"][test], b_lens)  # history tokens in the candidate's own session
    # history rows are contiguous and session indices consecutive: last session - first session + 1
    last, first = test - np.minimum(b_lens, 1), test - b_lens
    hist_sessions = np.where(b_lens > 0, sess[last] - sess[first] + 1, 0)
    return {
        "sessions": int(new.sum()),
        "items_per_session_mean": float(sizes.mean()),
        "items_per_session_median": float(np.median(sizes)),
        "items_per_session_p90": float(np.quantile(sizes, 0.9)),
        "items_per_session_max": int(sizes.max()),
        "share_in_multi_item_sessions": float(sizes[sizes >= 2].sum() / sizes.sum()),
        "sessions_per_user_mean": float(per_user.mean()),
        "test_history_len_mean": float(b_lens.mean()),
        "test_history_sessions_mean": float(hist_sessions.mean()),
        "test_current_session_len_mean": float(cur.mean()),
        "test_share_with_current_session": float((cur > 0).mean()),
        "label_rate_train": float(data.train.labels.mean()),
        "label_rate_test": float(data.test.labels.mean()),
    }


# ---------------------------------------------------------------------------------------------
# Serving: the same features for a history given in a request


def labels_from_actions(actions: np.ndarray, label: str, rating_scale: bool) -> np.ndarray:
    """The label of exposures whose feedback is only known as action codes (module docstring):
    click sources code 1 + clicked + 2 * effective, rating sources the rating (effective = >= 4)."""
    from hgrec.data.feedback import FeedbackScheme

    return FeedbackScheme("rating" if rating_scale else "watch").labels(actions, label)


def request_batch(items: np.ndarray, actions: np.ndarray, labels: np.ndarray, ts_ms: np.ndarray,
                  cand_items: np.ndarray, cand_ts_ms: int | None, session_gap_ms: int,
                  max_len: int, features: CTRFeatures | None = None, user: int | None = None,
                  tab: int | None = None) -> dict[str, np.ndarray]:
    """`CTRData.batch` for one history given as arrays (oldest first, times in ms) and C candidates shown
    together at `cand_ts_ms` (default: the last history time): (C, W) rows that share the history. Sessions,
    positions and gap buckets are computed over the whole given history with the training rule, then
    the last `max_len` tokens are kept, so a user's logged exposures give exactly the training features.
    With `features`, each candidate also gets its side features and causal counters for dense `user`
    (None = unknown: default buckets) at the candidates' time, in request context `tab`."""
    n = len(items)
    ts_ms = np.asarray(ts_ms, dtype=np.int64)
    cand_ms = int(cand_ts_ms if cand_ts_ms is not None else (ts_ms[-1] if n else 0))
    all_ms = np.append(ts_ms, cand_ms)  # the candidate is the exposure after the history
    if (np.diff(all_ms) < 0).any():
        raise DataError("timestamps must not decrease (oldest first, the candidates last)")
    first = np.zeros(n + 1, dtype=bool)
    first[0] = True
    new = np.ones(n + 1, dtype=bool)
    new[1:] = np.diff(all_ms) > session_gap_ms
    session = np.cumsum(new) - 1
    start = np.maximum.accumulate(np.where(new, np.arange(n + 1), 0))
    pos = np.arange(n + 1) - start
    gap = gap_buckets(all_ms, first)
    keep = slice(max(n - max_len, 0), n)
    W = max(min(n, max_len), 1)
    k = n - keep.start  # history tokens kept

    def hist(values, dtype):
        out = np.zeros(W, dtype=dtype)
        if k:
            out[W - k:] = values[keep]
        return out

    C = len(cand_items)
    row = {
        "items": hist(np.asarray(items, np.int64), np.int64),
        "actions": hist(np.asarray(actions, np.int64), np.int64),
        "hist_labels": hist(np.asarray(labels, np.float32), np.float32),
        "session": hist(session[n] - session[:n], np.int64),
        "pos": hist(pos[:n], np.int64),
        "gap": hist(gap[:n], np.int64),
        "ts": hist(ts_ms[:n] // 1000, np.int64),
    }
    out = {key: np.repeat(v[None], C, 0) for key, v in row.items()}
    out |= {"cand_item": np.asarray(cand_items, np.int64), "cand_pos": np.full(C, pos[n], np.int64),
            "cand_gap": np.full(C, gap[n], np.int64), "cand_ts": np.full(C, cand_ms // 1000, np.int64),
            "label": np.zeros(C, np.float32)}
    if features is not None and len(features):  # the same counter query as training (`CTRFeatures._query`)
        out["features"] = features.request_codes(user, out["cand_item"], cand_ms, tab)
    return out
