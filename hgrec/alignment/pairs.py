"""Slate-level preference pairs (y+, y-) from logged feedback (HiGR §3.4.2), NumPy, vectorised.

    y+  = the user's engaged items of the target window, re-ranked by feedback strength (descending)
    y-  = one of three kinds, mixed by configurable ratios (a ratio of 0 switches a kind off):
          ranking     a random permutation of y+ (never the identity)          -> "ranking fidelity"
          interest    y+ with some items replaced by exposures that got
                      negative feedback                                        -> "genuine interest"
          repetition  y+'s first item followed by its nearest items in SID
                      space                                                    -> "slate diversity"

Everything is computed for all samples at once (array ops over (N, M) blocks, never a Python loop
over interactions or samples); `tests/alignment/test_pairs.py` checks each kind's property and that
no pair has y- == y+.

Our choices where the paper is silent (docs/alignment.md):
- **Target window**: the sample's effective list (the next <= M engaged items after the history
  cut, `SlateSet.effective`, never crossing into a later split). Duplicates are dropped, so y+ is a
  set of distinct items, like a generated slate; samples with fewer than `min_positives` (2)
  distinct items are skipped (one item has no order to learn and no room for a repetition negative).
- **Feedback strength** (`feedback_signals`): KuaiRand: min(watch_ratio, 2) + 2*is_like +
  2*is_follow (an explicit like/follow outranks any watch ratio; the cap keeps looped short clips
  from dominating); ML-100K: the rating; other sources: 1 (ties keep the logged order: the sort is stable).
- **Negative feedback**: KuaiRand: is_hate, or an exposure that was not a long view (a short view or
  no play: this covers "no click") without a like or follow; ML-100K: rating <= 2; other sources
  with logged non-positive exposures: not `effective`.
- **Interest negatives**: a share `replace_fraction` of y+'s slots (at least one), chosen at random,
  are replaced by distinct items drawn from the user's `pool_size` most recent negatively-fed-back
  exposures up to the last engaged exposure of the window (the window's own first, then earlier
  ones; never later, so nothing comes from a validation/test period), skipping items in y+. When the
  pool runs short (a user with no logged negatives, e.g. many ML-100K windows), the rest are
  **popular unexposed items**: drawn in proportion to their training popularity among items the
  user had not been exposed to up to the window's end.
- **Nearest in SID space** (`sid_neighbours`): the items sharing the longest semantic-ID prefix with
  the anchor; ties go to the items nearest in lexicographic code order. The repetition negative has
  the length of y+ (anchor + |y+| - 1 neighbours): a y- longer than y+ would lose on summed log-odds
  for its length alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hgrec.data.feedback import Feedback, feedback_signals  # noqa: F401 (the rules live in the data layer)

KINDS = ("ranking", "interest", "repetition")
# ---------------------------------------------------------------------------------------------
# Windows: the sample's engaged items, their strength, and where the window ends in the log


@dataclasses.dataclass
class Windows:
    strength: np.ndarray  # (N, M) strength of each item of `items` (0 where padding / not found)
    end: np.ndarray  # (N,) flat interaction index of the window's last engaged exposure
    user_start: np.ndarray  # (N,) flat index of the user's first interaction


def target_windows(ds, fb: Feedback, users: np.ndarray, cut: np.ndarray, items: np.ndarray) -> Windows:
    """Locate each sample's engaged items (N, M) in the log: they are among the user's effective
    interactions cut, cut+1, ... (S^u positions), so match them against the next 2M of those."""
    df = ds.interactions
    u_all = df["user_id"].to_numpy()
    eff = df["effective"].to_numpy() if "effective" in df.columns else np.ones(len(u_all), dtype=bool)
    eff_rows = np.flatnonzero(eff)  # flat indices of effective interactions, (user, time) order
    eff_off = np.zeros(ds.num_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(u_all[eff], minlength=ds.num_users), out=eff_off[1:])
    user_off = np.zeros(ds.num_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(u_all, minlength=ds.num_users), out=user_off[1:])
    users = np.asarray(users, dtype=np.int64)
    W = 2 * items.shape[1]
    idx = eff_off[users][:, None] + np.asarray(cut, dtype=np.int64)[:, None] + np.arange(W)[None]  # (N, W)
    ok = idx < eff_off[users + 1][:, None]
    flat = np.where(ok, eff_rows[np.minimum(idx, len(eff_rows) - 1)], -1)  # (N, W) flat rows
    item_all = df["item_id"].to_numpy()
    win_items = np.where(ok, item_all[np.maximum(flat, 0)], -1)
    match = (items[:, :, None] == win_items[:, None, :]) & (items > 0)[:, :, None]  # (N, M, W)
    found = match.any(-1)
    first = match.argmax(-1)  # first matching window position
    rows = np.take_along_axis(flat, first, 1)  # (N, M)
    strength = np.where(found, fb.strength[np.maximum(rows, 0)], 0.0).astype(np.float32)
    start = user_off[users]
    end = np.where(found, rows, -1).max(1)
    end = np.where(end >= 0, end, start - 1)  # nothing located: no exposure counts as "before the end"
    return Windows(strength, end, start)


def rank_positives(items: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """y+: distinct engaged items sorted by strength, descending (stable: ties keep the logged
    order), 0-padded on the right. (N, M), (N, M) -> (N, M)."""
    M = items.shape[1]
    earlier = np.tril(np.ones((M, M), dtype=bool), -1)  # [j, k]: k < j
    dup = ((items[:, :, None] == items[:, None, :]) & earlier[None]).any(-1)
    valid = (items > 0) & ~dup
    key = np.where(valid, -strength.astype(np.float64), np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    return np.take_along_axis(np.where(valid, items, 0), order, 1)


# ---------------------------------------------------------------------------------------------
# The three kinds of negatives


def _counts(pos: np.ndarray) -> np.ndarray:
    return (pos > 0).sum(1)


def _in_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(N, A) ids, (N, B) ids -> (N, A) bool: x[i, a] occurs (non-zero) in rows[i]."""
    return ((x[:, :, None] == rows[:, None, :]) & (rows > 0)[:, None, :]).any(-1)


def _first_occurrence(x: np.ndarray) -> np.ndarray:
    """(N, A) -> (N, A) bool: x[i, a] does not occur in x[i, :a] (a stable sort keeps equal values
    in their original order, so the first of each run is the earliest occurrence)."""
    order = np.argsort(x, axis=1, kind="stable")
    sx = np.take_along_axis(x, order, 1)
    first_sorted = np.ones(x.shape, dtype=bool)
    first_sorted[:, 1:] = sx[:, 1:] != sx[:, :-1]
    out = np.empty(x.shape, dtype=bool)
    np.put_along_axis(out, order, first_sorted, 1)
    return out


def ranking_negatives(pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of each y+ (>= 2 distinct items) that is never the identity."""
    n = _counts(pos)
    if (n < 2).any():
        raise ValueError("ranking negatives need >= 2 items in every y+")
    M = pos.shape[1]
    keys = np.where(pos > 0, rng.random(pos.shape), np.inf)
    neg = np.take_along_axis(pos, np.argsort(keys, axis=1), 1)
    # a permutation that came out as the identity: rotate the items by one instead
    j = np.arange(M)[None]
    rotated = np.take_along_axis(pos, np.where(j < n[:, None], (j + 1) % n[:, None], j), 1)
    same = (neg == pos).all(1)
    return np.where(same[:, None], rotated, neg)


def negative_pool(fb: Feedback, ds, users: np.ndarray, win: Windows, size: int) -> np.ndarray:
    """(N, size) item ids of the user's `size` most recent negatively-fed-back exposures at or before
    the window's end (0-padded; most recent last)."""
    neg_rows = np.flatnonzero(fb.negative)
    if len(neg_rows) == 0 or size == 0:
        return np.zeros((len(users), max(size, 1)), dtype=np.int64)
    hi = np.searchsorted(neg_rows, win.end, side="right")  # one past the last negative <= end
    lo = np.searchsorted(neg_rows, win.user_start, side="left")  # the user's first negative
    idx = hi[:, None] - size + np.arange(size)[None]
    ok = idx >= lo[:, None]
    item_all = ds.interactions["item_id"].to_numpy()
    return np.where(ok, item_all[neg_rows[np.clip(idx, 0, len(neg_rows) - 1)]], 0)


class ExposureIndex:
    """"Was item i shown to user u at or before flat row e?" for many (u, i, e) at once."""

    def __init__(self, ds):
        df = ds.interactions
        self.n_items = ds.num_items + 1
        keys = df["user_id"].to_numpy() * self.n_items + df["item_id"].to_numpy()
        # interactions are sorted by (user, time): the first occurrence of a key is its first exposure
        self.keys, self.first = np.unique(keys, return_index=True)

    def exposed(self, users: np.ndarray, items: np.ndarray, end: np.ndarray) -> np.ndarray:
        """users (N,), items (N, A), end (N,) -> (N, A) bool."""
        k = users[:, None] * self.n_items + items
        pos = np.clip(np.searchsorted(self.keys, k), 0, len(self.keys) - 1)
        return (self.keys[pos] == k) & (self.first[pos] <= end[:, None])


def popular_unexposed(users: np.ndarray, end: np.ndarray, exclude: np.ndarray, popularity: np.ndarray,
                      exposure: ExposureIndex, rng: np.random.Generator, count: int,
                      draws: int = 4, rounds: int = 8) -> np.ndarray:
    """(N, count) distinct items per row, drawn in proportion to `popularity` (index = item id),
    that the user had not been exposed to up to `end` and that are not in `exclude` (N, *);
    0 where none could be found (a tiny catalogue). Each round draws `draws * count` popular and as
    many uniform candidates (the last resort of a user who saw every popular item) for the rows
    still short, keeping what earlier rounds found."""
    N = len(users)
    w = popularity.astype(np.float64).copy()
    w[0] = 0.0
    n_items = len(w) - 1
    if w.sum() <= 0:
        w[1:] = 1.0
    cdf = np.cumsum(w) / w.sum()
    out = np.zeros((N, count), dtype=np.int64)
    rows = np.arange(N)
    for _ in range(rounds):
        T = draws * count
        popular = np.minimum(np.searchsorted(cdf, rng.random((len(rows), T)), side="right"), n_items)
        uniform = rng.integers(1, n_items + 1, size=(len(rows), T))
        cand = np.concatenate([out[rows], popular, uniform], 1)  # earlier finds first
        ok = ((cand > 0) & ~exposure.exposed(users[rows], cand, end[rows]) & ~_in_rows(cand, exclude[rows])
              & _first_occurrence(cand))
        order = np.argsort(~ok, axis=1, kind="stable")[:, :count]  # the first `count` good ones, in draw order
        out[rows] = np.where(np.take_along_axis(ok, order, 1), np.take_along_axis(cand, order, 1), 0)
        rows = rows[(out[rows] > 0).sum(1) < count]
        if len(rows) == 0:
            break
    return out


def interest_negatives(pos: np.ndarray, pool: np.ndarray, fallback: np.ndarray, rng: np.random.Generator,
                       fraction: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """y+ with max(1, round(fraction * |y+|)) random slots replaced by distinct negative-feedback
    items from `pool` (N, P) not in y+, then by `fallback` (N, F) items (popular unexposed ones,
    disjoint from the pool and y+). Returns (y-, (N, M) bool: slot replaced from the fallback).
    A row for which no replacement exists keeps y+ (the caller must drop or re-kind it)."""
    N, M = pos.shape
    n = _counts(pos)
    r = np.clip(np.rint(fraction * n).astype(np.int64), 1, n)
    keys = np.where(pos > 0, rng.random(pos.shape), np.inf)
    slot_rank = np.argsort(np.argsort(keys, axis=1), axis=1)  # random order of the valid slots
    good = (pool > 0) & ~_in_rows(pool, pos) & _first_occurrence(pool)
    pkeys = np.where(good, rng.random(pool.shape), np.inf)
    shuffled = np.take_along_axis(pool, np.argsort(pkeys, axis=1), 1)  # good pool items first, random order
    n_pool = good.sum(1)
    n_fb = (fallback > 0).sum(1)  # fallback rows are 0-padded at the end
    r = np.minimum(r, n_pool + n_fb)
    replace = (slot_rank < r[:, None]) & (pos > 0)
    c = np.cumsum(replace, 1) - 1  # ordinal of each replaced slot
    from_pool = c < n_pool[:, None]
    pool_pick = np.take_along_axis(shuffled, np.clip(c, 0, pool.shape[1] - 1), 1)
    fb_idx = np.clip(c - n_pool[:, None], 0, max(fallback.shape[1] - 1, 0))
    fb_pick = np.take_along_axis(fallback, fb_idx, 1) if fallback.shape[1] else np.zeros_like(pos)
    neg = np.where(replace, np.where(from_pool, pool_pick, fb_pick), pos)
    return neg, replace & ~from_pool


def sid_neighbours(codes: np.ndarray, k: int) -> np.ndarray:
    """(N, D) semantic IDs of items 1..N -> (N + 1, k): for each item the k other items with the
    longest common SID prefix (ties: nearest in lexicographic code order, the earlier one first);
    row 0 and missing neighbours (catalogue < k + 1) are 0.

    Items with a common prefix of length >= l form one contiguous block in lexicographic order, so
    the k best are always within k positions of the item there: we score only those 2k."""
    N, D = codes.shape
    order = np.lexsort(codes.T[::-1])  # level 1 is the primary key
    rank = np.empty(N, dtype=np.int64)
    rank[order] = np.arange(N)
    offsets = np.concatenate([np.arange(-k, 0), np.arange(1, k + 1)])  # (2k,)
    cand = rank[:, None] + offsets[None]  # (N, 2k) positions in sorted order
    ok = (cand >= 0) & (cand < N)
    cand_item = order[np.clip(cand, 0, N - 1)]  # 0-based item index
    same = codes[cand_item] == codes[:, None, :]  # (N, 2k, D)
    prefix = np.cumprod(same, axis=-1).sum(-1)  # common prefix length
    # sort key: longest prefix, then smallest |offset|, then the earlier one
    key = np.where(ok, -prefix * (4 * k + 2) + 2 * np.abs(offsets)[None] + (offsets > 0)[None], np.iinfo(np.int64).max)
    best = np.argsort(key, axis=1, kind="stable")[:, :k]
    nb = np.where(np.take_along_axis(ok, best, 1), np.take_along_axis(cand_item, best, 1) + 1, 0)
    out = np.zeros((N + 1, k), dtype=np.int64)
    out[1:] = nb
    return out


def repetition_negatives(pos: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """y+'s first item followed by its |y+| - 1 nearest items in SID space (`sid_neighbours`, with
    at least M columns). If that happens to be y+ itself, the next neighbours are used instead."""
    N, M = pos.shape
    if neighbours.shape[1] < M:
        raise ValueError(f"repetition negatives need >= {M} neighbours per item, got {neighbours.shape[1]}")
    n = _counts(pos)
    nb = neighbours[pos[:, 0]]  # (N, k)
    j = np.arange(M)[None]

    def build(shift: int) -> np.ndarray:
        body = np.take_along_axis(nb, np.clip(j - 1 + shift, 0, nb.shape[1] - 1), 1)
        neg = np.where(j == 0, pos[:, :1], body)
        return np.where(j < n[:, None], neg, 0)

    neg = build(0)
    same = (neg == pos).all(1)
    return np.where(same[:, None], build(1), neg)


# ---------------------------------------------------------------------------------------------
# Putting it together


@dataclasses.dataclass
class PairSet:
    sample: np.ndarray  # (P,) index of the sample (row of the SlateSet) the pair belongs to
    chosen: np.ndarray  # (P, M) y+, 0-padded
    rejected: np.ndarray  # (P, M) y-, 0-padded
    kind: np.ndarray  # (P,) int8 index into KINDS
    from_fallback: np.ndarray  # (P,) int: interest replacements that were popular unexposed items

    def __len__(self) -> int:
        return len(self.sample)

    def counts(self) -> dict[str, int]:
        return {k: int((self.kind == i).sum()) for i, k in enumerate(KINDS)}


def mix_ratios(ratios: dict[str, float]) -> np.ndarray:
    """{'ranking': a, 'interest': b, 'repetition': c} -> probabilities in KINDS order."""
    unknown = set(ratios) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown negative kind(s) {sorted(unknown)}; known: {', '.join(KINDS)}")
    p = np.array([float(ratios.get(k, 0.0)) for k in KINDS])
    if (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"negative ratios must be >= 0 with a positive sum, got {ratios}")
    return p / p.sum()


def preference_pairs(ds, ss, codes: np.ndarray, ratios: dict[str, float], *, seed: int = 0,
                     replace_fraction: float = 0.4, pool_size: int = 16, min_positives: int = 2,
                     pairs_per_sample: int = 1, popularity: np.ndarray | None = None) -> PairSet:
    """Pairs for the samples of a SlateSet `ss` (users, cut, effective) with semantic IDs `codes`
    (N, D) of items 1..N. `popularity` (N + 1,) weights the fallback draws (default: how often each
    item is in `ss.effective`). Samples with fewer than `min_positives` distinct engaged items are
    skipped; each kept sample gives `pairs_per_sample` pairs with independently drawn negatives."""
    if min_positives < 2:
        raise ValueError("min_positives must be >= 2 (one item has no order and no repetition negative)")
    p = mix_ratios(ratios)
    rng = np.random.default_rng(seed)
    fb = feedback_signals(ds)
    win = target_windows(ds, fb, ss.users, ss.cut, ss.effective)
    pos = rank_positives(ss.effective, win.strength)
    keep = np.flatnonzero(_counts(pos) >= min_positives)
    sample = np.repeat(keep, pairs_per_sample)
    pos = pos[sample]
    users = ss.users[sample].astype(np.int64)
    win = Windows(win.strength[sample], win.end[sample], win.user_start[sample])
    N, M = pos.shape
    kind = rng.choice(len(KINDS), size=N, p=p).astype(np.int8)

    # every row starts with a ranking negative: the stand-in where an interest negative is impossible
    neg = ranking_negatives(pos, rng)
    fallback_used = np.zeros(N, dtype=np.int64)
    if p[1] > 0:
        if popularity is None:
            eff = ss.effective[ss.effective > 0]
            popularity = np.bincount(eff, minlength=ds.num_items + 1)
        pool = negative_pool(fb, ds, users, win, pool_size)
        fallback = popular_unexposed(users, win.end, np.concatenate([pos, pool], 1), popularity,
                                     ExposureIndex(ds), rng, count=M)
        interest, from_fb = interest_negatives(pos, pool, fallback, rng, replace_fraction)
        use = kind == 1
        possible = ~(interest == pos).all(1)
        kind[use & ~possible] = 0  # nothing to replace with (tiny catalogues only): a ranking negative instead
        use &= possible
        neg = np.where(use[:, None], interest, neg)
        fallback_used = np.where(use, from_fb.sum(1), 0)
    if p[2] > 0:
        rep = repetition_negatives(pos, sid_neighbours(codes, M))
        use = kind == 2
        neg = np.where(use[:, None], rep, neg)
    if (neg == pos).all(1).any():  # cannot happen by construction; the tests rely on it never passing silently
        raise RuntimeError("a rejected slate equals its preferred slate")
    return PairSet(sample, pos, neg, kind, fallback_used)
