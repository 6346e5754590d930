"""Derived views of a Dataset (DESIGN §3), all vectorised: no Python loop over interactions.

- `Sequences`: a CSR layout (per-user offsets into flat column arrays) of the canonical order.
  `history_batch` gathers padded histories for many (user, cut) pairs in one fancy-index.
- `positive_history`: chronological `effective` items per user (HiGR's S^u).
- `add_sessions`: session id / index / position, a new session after a gap > `session_gap`.
- `slates`: slate samples with both truth sets (impressions, effective views), split per user.
- `ctr_rows`: one row per exposure (user, its position, candidate item, labels, session, split).

How slates are formed (docs/data.md, "Slates"): a user's exposures are grouped into requests by
`request_id` where the source logs one (MIND impressions, FINN.no steps, a TableAdapter feed log:
a request = all rows of one request_id, whatever its size, in `position` order), else into
pseudo-requests of M consecutive exposures, aligned to the *end* of the sequence so the latest
request is complete. A slate sample is one
request: history = everything before its first exposure; impressions truth = the request's items;
effective truth = the next M effective items from the request's start that do not cross into a
later split (test: to the end of the log; valid: up to the test request; train: up to the valid
request). Split per user (leave-last-out at request level): last request -> test, the one before
-> valid, the rest -> train; or by time with `temporal_cuts`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pyarrow as pa

from hgrec.data.dataset import Dataset
from hgrec.data.errors import DataError

SPLITS = ("train", "valid", "test")
_SPLIT_CODE = {s: i for i, s in enumerate(SPLITS)}
DEFAULT_SESSION_GAP_MS = 30 * 60 * 1000


@dataclasses.dataclass
class Sequences:
    """Per-user sequences in CSR form: user u's rows are `offsets[u]:offsets[u+1]` of each column."""

    offsets: np.ndarray  # (U+1,) int64
    columns: dict[str, np.ndarray]  # name -> (nnz,) array in canonical (user, time) order

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def user(self, u: int, column: str = "item_id") -> np.ndarray:
        return self.columns[column][self.offsets[u] : self.offsets[u + 1]]

    def history_batch(self, users: np.ndarray, cuts: np.ndarray, max_len: int, column: str = "item_id",
                      pad: int = 0) -> np.ndarray:
        """Left-padded (B, max_len) matrix of each user's last `max_len` rows before position `cut`.

        Row b holds `column` of rows [max(0, cut_b - max_len), cut_b) of user b, right-aligned,
        `pad` elsewhere. One gather for the whole batch.
        """
        users = np.asarray(users, dtype=np.int64)
        cuts = np.asarray(cuts, dtype=np.int64)
        if (cuts < 0).any() or (cuts > self.lengths[users]).any():
            raise ValueError("history cut outside the user's sequence")
        start = self.offsets[users] + cuts  # one past the last row, in flat coordinates
        idx = start[:, None] - max_len + np.arange(max_len)[None, :]  # (B, max_len)
        valid = idx >= (self.offsets[users])[:, None]
        values = self.columns[column]
        out = np.full(idx.shape, pad, dtype=values.dtype)
        out[valid] = values[idx[valid]]
        return out


def _user_blocks(u: np.ndarray):
    """For rows sorted by user: (first row of its user?, flat start of each user block, block index of
    each row, position of each row within its user)."""
    first = np.ones(len(u), dtype=bool)
    first[1:] = u[1:] != u[:-1]
    user_start = np.flatnonzero(first)
    run = np.cumsum(first) - 1
    return first, user_start, run, np.arange(len(u)) - user_start[run]


def sequences(ds: Dataset, columns: list[str] | None = None, where: pl.Expr | None = None) -> Sequences:
    """CSR view of the interactions (optionally filtered, e.g. to effective rows)."""
    df = ds.interactions if where is None else ds.interactions.filter(where)
    cols = columns or ["item_id", "ts"]
    counts = np.bincount(df["user_id"].to_numpy(), minlength=ds.num_users)
    offsets = np.zeros(ds.num_users + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Sequences(offsets, {c: df[c].to_numpy() for c in cols})


def positive_history(ds: Dataset, columns: list[str] | None = None) -> Sequences:
    """S^u: each user's effective items in time order (all items for order-only sources)."""
    if "effective" not in ds.interactions.columns:
        return sequences(ds, columns)
    return sequences(ds, columns, where=pl.col("effective"))


def add_sessions(ds: Dataset, session_gap_ms: int = DEFAULT_SESSION_GAP_MS, df: pl.DataFrame | None = None) -> pl.DataFrame:
    """Interactions plus session columns: `session_id` (global, 0-based), `session_index` (0-based
    within the user), `pos_in_session`, `pos` (position within the user's sequence), `gap_ms`
    (time since the user's previous interaction, null for the first).

    A new session starts at a user's first interaction and after a gap strictly greater than
    `session_gap_ms`. Order-only sources (no timestamps) have one session per user.
    """
    if session_gap_ms <= 0:
        raise ValueError(f"session_gap_ms must be positive, got {session_gap_ms}")
    df = ds.interactions if df is None else df
    u = df["user_id"].to_numpy()
    t = df["ts"].to_numpy()
    first, user_start, run, pos = _user_blocks(u)
    gap = np.zeros(len(u), dtype=np.int64)
    gap[1:] = t[1:] - t[:-1]
    new = first | ((gap > session_gap_ms) if ds.info.has_timestamps else False)
    session_id = np.cumsum(new) - 1
    user_first_session = session_id[user_start]
    session_start = np.flatnonzero(new)
    return df.with_columns(
        session_id=pl.Series(session_id, dtype=pl.Int64),
        session_index=pl.Series(session_id - user_first_session[run], dtype=pl.Int32),
        pos_in_session=pl.Series(np.arange(len(u)) - session_start[session_id], dtype=pl.Int32),
        pos=pl.Series(pos, dtype=pl.Int32),
        gap_ms=pl.Series(np.where(first, -1, gap), dtype=pl.Int64).replace(-1, None),
    )


def num_sessions(ds: Dataset, session_gap_ms: int = DEFAULT_SESSION_GAP_MS) -> int:
    u = ds.interactions["user_id"].to_numpy()
    t = ds.interactions["ts"].to_numpy()
    new = np.ones(len(u), dtype=bool)
    new[1:] = (u[1:] != u[:-1]) | (((t[1:] - t[:-1]) > session_gap_ms) if ds.info.has_timestamps else False)
    return int(new.sum())


# ---------------------------------------------------------------------------------------------
# Requests and slates


def request_index(ds: Dataset, slate_size: int) -> np.ndarray:
    """Per interaction: index of its (pseudo-)request within the user, 0 = the user's first.

    With a `request_id` column (a logged request: build_dataset makes it dense per user-request and
    its rows contiguous, in `position` order), the rows sharing it form one request, whatever its
    size; `slate_size` then only bounds the effective truth. Otherwise requests are chunks of
    `slate_size` consecutive exposures aligned to the end of the user's sequence.
    """
    if slate_size < 1:
        raise ValueError(f"slate_size must be >= 1, got {slate_size}")
    df = ds.interactions
    u = df["user_id"].to_numpy()
    first, user_start, run, pos = _user_blocks(u)
    if "request_id" in df.columns:
        r = df["request_id"].to_numpy()
        new = first.copy()
        new[1:] |= r[1:] != r[:-1]
        c = np.cumsum(new)
        return c - c[user_start][run]
    lengths = np.diff(np.append(user_start, len(u)))
    from_end = lengths[run] - 1 - pos
    n_req = (lengths + slate_size - 1) // slate_size
    return n_req[run] - 1 - from_end // slate_size


def slates(ds: Dataset, slate_size: int = 5, min_history: int = 1,
           temporal_cuts: tuple[int, int] | None = None) -> pl.DataFrame:
    """One row per (user, request): the slate samples of HiGR and its slate baselines.

    Columns: user_id, request (index within the user), start/end (positions in the user's exposure
    sequence), hist_len (effective items before `start`: the length of S^u at the cut), split,
    ts / ts_end (times of the request's first / last exposure), impressions (list of item ids, exposure
    order: for a logged request exactly what it showed, in position order),
    effective (list of the next <= M effective item ids, see the module docstring); both lists are
    duplicate-free (a video exposed twice in one request appears once).
    Samples with fewer than `min_history` effective items before the cut are dropped.
    `temporal_cuts=(t_valid, t_test)` assigns splits by the request's start time instead of
    leave-last-out.
    """
    df = ds.interactions
    req = request_index(ds, slate_size)
    u = df["user_id"].to_numpy()
    item = df["item_id"].to_numpy()
    eff = df["effective"].to_numpy() if "effective" in df.columns else np.ones(len(u), dtype=bool)
    ts = df["ts"].to_numpy()
    n = len(u)
    first, user_start, run, pos = _user_blocks(u)

    # One row per request: rows where (user, request) changes.
    rnew = first.copy()
    rnew[1:] |= req[1:] != req[:-1]
    rstart = np.flatnonzero(rnew)  # flat index of each request's first exposure
    rend = np.append(rstart[1:], n)  # flat index one past its last exposure
    r_user = u[rstart]
    r_req = req[rstart]
    n_req_user = np.bincount(r_user, minlength=ds.num_users)
    r_from_end = n_req_user[r_user] - 1 - r_req  # 0 = the user's last request

    if temporal_cuts is None:
        split = np.select([r_from_end == 0, r_from_end == 1], [2, 1], 0)  # test=2, valid=1, train=0
    else:
        # By the request's *last* exposure: a request that straddles a cut belongs to the later
        # split, so no train request holds exposures from the validation period.
        split = temporal_split_codes(ts[rend - 1], temporal_cuts, ds)

    # Boundary of each request's split region (flat index): effective truth may not cross it.
    user_end = np.append(user_start[1:], n)
    region_end = np.empty(len(rstart), dtype=np.int64)
    if temporal_cuts is None:
        # start of the user's valid request for train, of the test request for valid, end for test.
        last_start = rstart[np.flatnonzero(r_from_end == 0)]
        last_of_user = np.full(ds.num_users, -1)
        last_of_user[r_user[r_from_end == 0]] = last_start
        second_of_user = np.full(ds.num_users, -1)
        second_of_user[r_user[r_from_end == 1]] = rstart[r_from_end == 1]
        region_end[:] = user_end[run[rstart]]
        region_end[split == 1] = last_of_user[r_user[split == 1]]
        region_end[split == 0] = np.where(second_of_user[r_user[split == 0]] >= 0,
                                          second_of_user[r_user[split == 0]], last_of_user[r_user[split == 0]])
    else:
        # Rows are sorted by time within a user, so "first row at or after the cut" is the user's
        # start plus the number of their rows before the cut.
        t_valid, t_test = temporal_cuts
        before_valid = np.bincount(u[ts < t_valid], minlength=ds.num_users)
        before_test = np.bincount(u[ts < t_test], minlength=ds.num_users)
        ustart = user_start[run[rstart]]
        region_end[:] = user_end[run[rstart]]
        region_end[split == 0] = (ustart + before_valid[r_user])[split == 0]
        region_end[split == 1] = (ustart + before_test[r_user])[split == 1]

    # Effective truth: ranks in the user's effective sequence.
    ceff = np.concatenate([[0], np.cumsum(eff)])  # ceff[i] = effective rows in flat [0, i)
    lo = ceff[rstart]
    hi = np.minimum(lo + slate_size, ceff[region_end])
    eff_items = item[eff]
    eff_len = np.maximum(hi - lo, 0)
    eff_offsets = np.concatenate([[0], np.cumsum(eff_len)])
    eff_idx = np.repeat(lo - eff_offsets[:-1], eff_len) + np.arange(eff_offsets[-1])
    effective_lists = pa.ListArray.from_arrays(pa.array(eff_offsets, pa.int32()), pa.array(eff_items[eff_idx]))
    imp_offsets = np.concatenate([[0], np.cumsum(rend - rstart)])
    impressions = pa.ListArray.from_arrays(pa.array(imp_offsets, pa.int32()), pa.array(item))

    hist_len = ceff[rstart] - ceff[user_start[run[rstart]]]
    out = pl.DataFrame(
        {
            "user_id": r_user,
            "request": r_req.astype(np.int32),
            "start": pos[rstart].astype(np.int32),
            "end": (pos[rstart] + (rend - rstart)).astype(np.int32),
            "hist_len": hist_len.astype(np.int32),
            "split": pl.Series(np.array(SPLITS)[split]).cast(pl.Enum(SPLITS)),
            "ts": ts[rstart],
            "ts_end": ts[rend - 1],
            "impressions": pl.from_arrow(impressions),
            "effective": pl.from_arrow(effective_lists),
        }
    )
    # Truth sets are sets (DESIGN §8): a video exposed twice in one request counts once.
    out = out.with_columns(pl.col("impressions").list.unique(maintain_order=True),
                           pl.col("effective").list.unique(maintain_order=True))
    return out.filter(pl.col("hist_len") >= min_history)


# ---------------------------------------------------------------------------------------------
# Splits


def temporal_cuts(ds: Dataset, valid_frac: float = 0.1, test_frac: float = 0.1) -> tuple[int, int]:
    """Global times (t_valid, t_test) leaving the last `test_frac` of interactions for test and the
    `valid_frac` before them for validation."""
    if not ds.info.has_timestamps:
        raise DataError(f"{ds.name} has no timestamps (order-only): use the leave-last-out split")
    if not (0 < valid_frac < 1 and 0 < test_frac < 1 and valid_frac + test_frac < 1):
        raise ValueError("valid_frac and test_frac must be in (0, 1) and sum to < 1")
    t = np.sort(ds.interactions["ts"].to_numpy())
    t_test = int(t[int(len(t) * (1 - test_frac))])
    t_valid = int(t[int(len(t) * (1 - test_frac - valid_frac))])
    return t_valid, t_test


def temporal_split_codes(ts: np.ndarray, cuts: tuple[int, int], ds: Dataset | None = None) -> np.ndarray:
    t_valid, t_test = cuts
    if t_valid > t_test:
        raise ValueError(f"temporal cuts out of order: valid {t_valid} > test {t_test}")
    return np.where(ts >= t_test, 2, np.where(ts >= t_valid, 1, 0))


def leave_last_out(ds: Dataset, positives_only: bool = True) -> pl.Series:
    """Per-interaction split for next-item training/evaluation (TIGER/SASRec/HSTU protocol).

    Over each user's positive sequence: the last item -> test, the one before -> valid, the rest ->
    train. A user needs >= 2 positives for a test target (one to predict from) and >= 3 for a valid
    one; shorter users are train only. Non-positive rows get the split of the next positive (they
    happened before it), or test if they come after the last one — so nothing after a valid/test
    cut is ever train. Returns an Enum series aligned with `ds.interactions`.
    """
    df = ds.interactions
    u = df["user_id"].to_numpy()
    eff = df["effective"].to_numpy() if (positives_only and "effective" in df.columns) else np.ones(len(u), bool)
    pos_count = np.bincount(u[eff], minlength=ds.num_users)
    # rank of each positive from the end of the user's positives: 0 = last
    csum = np.cumsum(eff)
    total_before_user = np.concatenate([[0], np.cumsum(pos_count)])[u]
    rank_from_start = csum - eff - total_before_user  # positives strictly before this row
    from_end = pos_count[u] - 1 - rank_from_start  # for positive rows: 0 = last positive
    # For non-positive rows, from_end refers to the next positive (could be -1: after the last).
    n = pos_count[u]
    code = np.zeros(len(u), dtype=np.int8)
    code[(from_end <= 0) & (n >= 2)] = 2
    code[(from_end == 1) & (n >= 3)] = 1
    return pl.Series("split", np.array(SPLITS)[code]).cast(pl.Enum(SPLITS))


# ---------------------------------------------------------------------------------------------
# CTR rows


def ctr_rows(ds: Dataset, session_gap_ms: int = DEFAULT_SESSION_GAP_MS, temporal: tuple[int, int] | None = None,
             valid_frac: float = 0.1, test_frac: float = 0.1) -> pl.DataFrame:
    """One row per exposure for CTR models (HPGR): the candidate is the exposed item, the history is
    the user's exposures before it (positions [0, pos) of `sequences(ds)`), labels as logged.

    Columns: user_id, pos, item_id, ts, clicked/effective (those the source has), session_id,
    session_index, pos_in_session, split (global temporal split; `temporal` gives explicit cuts).
    """
    if not ds.info.has_negatives:
        raise DataError(f"{ds.name} logs no negative feedback: CTR rows need exposures that were not clicked")
    cuts = temporal if temporal is not None else temporal_cuts(ds, valid_frac, test_frac)
    df = add_sessions(ds, session_gap_ms)
    labels = [c for c in ("clicked", "effective", "rating", "watch_ratio") if c in df.columns]
    split = temporal_split_codes(df["ts"].to_numpy(), cuts)
    return df.select(
        "user_id", "pos", "item_id", "ts", *labels, "session_id", "session_index", "pos_in_session",
        split=pl.Series(np.array(SPLITS)[split]).cast(pl.Enum(SPLITS)),
    )
