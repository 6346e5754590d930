"""Preference pairs: y+ ordered by feedback, each kind of y- has its property, never y- == y+."""

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hgrec.alignment.pairs import (
    KINDS, ExposureIndex, feedback_signals, interest_negatives, mix_ratios, popular_unexposed, preference_pairs,
    rank_positives, ranking_negatives, repetition_negatives, sid_neighbours,
)
from hgrec.data.dataset import DatasetInfo, build_dataset

M = 5


def _slates(draw_rows, n_items=40):
    """(N, M) rows of distinct items with 2..M real entries, right-padded with 0."""
    rows = []
    for items in draw_rows:
        items = list(dict.fromkeys(i % n_items + 1 for i in items))[:M]
        rows.append(items + [0] * (M - len(items)))
    return np.array(rows, dtype=np.int64)


slate_rows = st.lists(st.lists(st.integers(0, 10_000), min_size=2, max_size=M, unique_by=lambda i: i % 40),
                      min_size=1, max_size=40)


def _codes(n, seed=0, vocab=(3, 4, 5)):
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(v) for v in vocab], indexing="ij"), -1).reshape(-1, len(vocab))
    return grid[np.sort(rng.choice(len(grid), n, replace=False))]


def _prefix(a, b):
    return int(np.cumprod(a == b).sum())


def test_positives_are_distinct_and_sorted_by_strength_ties_in_logged_order():
    items = np.array([[4, 9, 4, 2, 7], [3, 1, 0, 0, 0]])
    strength = np.array([[0.5, 2.0, 9.0, 0.5, 1.0], [1.0, 1.0, 0, 0, 0]], dtype=np.float32)
    pos = rank_positives(items, strength)
    # the duplicate 4 (strength 9, a second engagement) is dropped: its first occurrence counts
    assert pos.tolist() == [[9, 7, 4, 2, 0], [3, 1, 0, 0, 0]]


@settings(max_examples=40, deadline=None)
@given(slate_rows, st.integers(0, 2**31))
def test_ranking_negative_is_a_permutation_and_never_the_identity(rows, seed):
    pos = _slates(rows)
    neg = ranking_negatives(pos, np.random.default_rng(seed))
    assert (np.sort(neg, 1) == np.sort(pos, 1)).all()  # the same items
    assert ((neg > 0) == (pos > 0)).all()  # padding stays at the end
    assert not (neg == pos).all(1).any()


def test_ranking_negative_of_two_items_is_the_swap():
    pos = np.tile(np.array([[5, 8, 0, 0, 0]]), (50, 1))  # half the random permutations are the identity
    neg = ranking_negatives(pos, np.random.default_rng(0))
    assert (neg[:, :2] == [8, 5]).all()


@settings(max_examples=40, deadline=None)
@given(slate_rows, st.integers(0, 2**31), st.floats(0.05, 1.0))
def test_interest_negative_replaces_items_by_negative_feedback_only(rows, seed, fraction):
    rng = np.random.default_rng(seed)
    pos = _slates(rows)
    N = len(pos)
    pool = rng.integers(0, 60, size=(N, 6))  # ids up to 59: some in y+, some repeated, some padding
    fallback = np.where(np.arange(M)[None] < rng.integers(0, M + 1, size=(N, 1)), 100 + np.arange(M)[None], 0)
    neg, from_fb = interest_negatives(pos, pool, fallback, rng, fraction)
    n = (pos > 0).sum(1)
    changed = neg != pos
    for i in range(N):
        good = set(pool[i][pool[i] > 0].tolist()) - set(pos[i].tolist())
        avail = len(good) + int((fallback[i] > 0).sum())
        assert changed[i].sum() == min(max(1, round(fraction * n[i])), n[i], avail)
        new = neg[i][changed[i]]
        assert set(new[~from_fb[i][changed[i]]].tolist()) <= good  # exposures with negative feedback
        assert set(new[from_fb[i][changed[i]]].tolist()) <= set(fallback[i].tolist()) - {0}
        # pool first: the fallback is used only when the pool is exhausted
        assert from_fb[i].sum() == max(0, changed[i].sum() - len(good))
        real = neg[i][neg[i] > 0]
        assert len(set(real.tolist())) == len(real) == n[i]  # distinct, same length
        if avail:
            assert changed[i].any()


def test_sid_neighbours_are_the_longest_common_prefixes():
    codes = _codes(50)
    k = 5
    nb = sid_neighbours(codes, k)
    assert (nb[0] == 0).all()
    for i in range(50):
        pre = np.array([_prefix(codes[i], codes[j]) for j in range(50)])
        pre[i] = -1
        best = np.sort(pre)[::-1][:k]  # brute force: the k longest common prefixes
        chosen = nb[i + 1] - 1
        assert len(set(chosen.tolist())) == k and i not in chosen
        assert sorted(pre[chosen].tolist(), reverse=True) == best.tolist()


def test_repetition_negative_is_the_anchor_and_its_nearest_items():
    codes = _codes(50, seed=1)
    nb = sid_neighbours(codes, M)
    rng = np.random.default_rng(0)
    pos = np.stack([np.concatenate([rng.choice(50, n, replace=False) + 1, np.zeros(M - n, int)])
                    for n in rng.integers(2, M + 1, size=100)])
    # a y+ that *is* its anchor + nearest items: the negative must still differ
    pos[0] = np.concatenate([[7], nb[7, :M - 1]])
    neg = repetition_negatives(pos, nb)
    assert (neg[:, 0] == pos[:, 0]).all() and ((neg > 0) == (pos > 0)).all()
    assert not (neg == pos).all(1).any()
    first = np.concatenate([[-1], codes[:, 0]])
    for i in range(1, 100):
        a = pos[i, 0]
        pre_all = np.array([_prefix(codes[a - 1], codes[j]) for j in range(50)])
        pre_all[a - 1] = -1
        body = neg[i][1:][neg[i][1:] > 0]
        # each chosen item is at least as close to the anchor as any item left out
        left_out = np.setdiff1d(np.arange(1, 51), np.concatenate([body, [a]]))
        assert pre_all[body - 1].min() >= pre_all[left_out - 1].max()
        # every first-level block here holds > M items, so the whole y- shares the anchor's first code:
        # the least diverse slate there is (diversity@M = 1 / M)
        assert len(set(first[neg[i][neg[i] > 0]].tolist())) == 1


def test_mix_ratios_switch_kinds_off_and_reject_bad_values():
    assert mix_ratios({"ranking": 1, "interest": 0, "repetition": 3}).tolist() == [0.25, 0.0, 0.75]
    with pytest.raises(ValueError, match="unknown negative kind"):
        mix_ratios({"rank": 1})
    with pytest.raises(ValueError, match="positive sum"):
        mix_ratios({"ranking": 0, "interest": 0, "repetition": 0})


# --- on a hand-made KuaiRand-like log ------------------------------------------------------------

def _log():
    # user 0: exposures in time order; E = effective (long view), N = negative feedback
    rows = [  # item, effective, watch_ratio, liked, followed, hated
        (1, True, 0.5, False, False, False),  # E  strength 0.5
        (2, False, 0.1, False, False, False),  # N  short view
        (3, True, 1.5, True, False, False),  # E  strength 1.5 + 2
        (4, False, 0.9, False, False, True),  # N  hated
        (5, True, 0.8, False, False, False),  # E  0.8
        (6, False, 0.0, False, False, False),  # N  no play
        (7, True, 0.2, False, True, False),  # E  0.2 + 2 (follow)
        (8, False, 0.0, False, False, False),  # N  after the window: must never be used
        (9, True, 1.0, False, False, False),
    ]
    u0 = [dict(user=0, item=i, ts=1000 * t, effective=e, watch_ratio=w, liked=l, followed=f, hated=h, clicked=e)
          for t, (i, e, w, l, f, h) in enumerate(rows)]
    # user 1 makes items 10..14 popular; user 0 never saw them
    u1 = [dict(user=1, item=10 + j % 5, ts=1000 * j, effective=True, watch_ratio=1.0, liked=False, followed=False,
               hated=False, clicked=True) for j in range(20)]
    df = pl.DataFrame(u0 + u1).with_columns(pl.col("watch_ratio").cast(pl.Float32))
    info = DatasetInfo(name="toy", source="test", has_timestamps=True, has_negatives=True,
                       effective_definition="long view")
    return build_dataset(df, info, item_col="item", user_col="user")


def test_pairs_on_a_hand_made_log():
    ds = _log()
    fb = feedback_signals(ds)
    assert fb.negative[:9].tolist() == [False, True, False, True, False, True, False, True, False]
    ss = SimpleNamespace(users=np.array([0]), cut=np.array([0]), effective=np.array([[1, 3, 5, 7, 0]]))
    codes = _codes(14, seed=2)
    popularity = np.bincount([10, 11, 12, 13, 14] * 4, minlength=15)
    pairs = {k: preference_pairs(ds, ss, codes, {k: 1.0}, pairs_per_sample=30, seed=3, popularity=popularity)
             for k in KINDS}
    for kind, p in pairs.items():
        assert (p.kind == KINDS.index(kind)).all()
        assert (p.chosen == [3, 7, 5, 1, 0]).all()  # by strength: like 3.5, follow 2.2, 0.8, 0.5
        assert not (p.rejected == p.chosen).all(1).any()
    interest = pairs["interest"].rejected
    new = set(interest[interest != pairs["interest"].chosen].tolist())
    assert new <= {2, 4, 6}  # the user's negatives up to the window's end; never 8 (later) nor 9
    assert (interest != pairs["interest"].chosen).sum(1).tolist() == [2] * 30  # round(0.4 * 4)
    # a larger replace fraction exhausts the pool (3 items): the rest are popular items the user never saw
    p = preference_pairs(ds, ss, codes, {"interest": 1.0}, replace_fraction=1.0, seed=0, popularity=popularity)
    changed = p.rejected[0][p.rejected[0] != p.chosen[0]]
    assert len(changed) == 4 and set(changed.tolist()) & {2, 4, 6} == {2, 4, 6} and p.from_fallback[0] == 1
    assert set(changed.tolist()) - {2, 4, 6} <= {10, 11, 12, 13, 14}
    rep = pairs["repetition"]
    assert (rep.rejected[:, 0] == 3).all() and (rep.rejected[:, 1:4] == sid_neighbours(codes, M)[3, :3]).all()


def test_popular_unexposed_respects_the_window_end():
    ds = _log()
    ex = ExposureIndex(ds)
    # user 0 at the end of item 7's exposure (flat row 6): items 8, 9 are not yet exposed
    assert ex.exposed(np.array([0, 0]), np.array([[7, 8], [9, 1]]), np.array([6, 6])).tolist() == [[True, False],
                                                                                                     [False, True]]
    pop = np.zeros(15)
    pop[[1, 8, 10]] = [100, 1, 1]  # the most popular item was already seen: never drawn
    got = popular_unexposed(np.array([0] * 20), np.full(20, 6), np.array([[9]] * 20), pop, ex,
                            np.random.default_rng(0), count=2)
    assert set(got.ravel().tolist()) <= {8} | set(range(10, 15))  # unexposed up to row 6, and not excluded (9)
    assert (got[:, 0] != got[:, 1]).all()
