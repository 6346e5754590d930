"""Side features and causal counters of CTR samples: causal, default for unknowns, one code path."""

import numpy as np
import polars as pl
import pytest

from hgrec.data import DataError
from hgrec.data.ctr_features import COUNT_BUCKETS, GROUPS, CTRFeatures
from hgrec.data.ctr_samples import ctr_data, request_batch
from hgrec.data.views import add_sessions

ALL = tuple(GROUPS)


@pytest.fixture(scope="module")
def kuai(load):
    ds = load("kuairand-pure")
    return ds, ctr_data(ds, max_len=20, features=ALL)


def _future_rewritten(log: pl.DataFrame, t: int, seed: int = 0) -> pl.DataFrame:
    """The same log with every row at or after time `t` rewritten: labels, items, tabs shuffled."""
    rng = np.random.default_rng(seed)
    fut = (log["ts"] >= t).to_numpy()
    cols = {}
    for name in ("clicked", "effective", "item_id", "tab"):
        v = log[name].to_numpy().copy()
        v[fut] = rng.permutation(v[fut])
        cols[name] = pl.Series(name, v, dtype=log[name].dtype)
    return log.with_columns(**cols)


def test_no_feature_sees_its_own_label_or_the_future(kuai):
    """Rewriting every row at or after a time leaves the features of every earlier row unchanged."""
    ds, d = kuai
    log = add_sessions(ds, d.session_gap_ms)
    ts = log["ts"].to_numpy()
    t = int(np.quantile(ts, 0.7))
    before = np.flatnonzero(ts < t)
    base = CTRFeatures(ds, ALL, log=log)
    moved = CTRFeatures(ds, ALL, log=_future_rewritten(log, t))
    np.testing.assert_array_equal(base.codes(before), moved.codes(before))
    np.testing.assert_array_equal(base.frame(before), moved.frame(before))
    # the rows at exactly t (ties) and after may differ only through their own (rewritten) row
    assert not np.array_equal(base.codes(np.flatnonzero(ts >= t)), moved.codes(np.flatnonzero(ts >= t)))


def test_flipping_a_label_moves_only_later_counters(kuai):
    ds, d = kuai
    log = add_sessions(ds, d.session_gap_ms)
    u, t = log["user_id"].to_numpy(), log["ts"].to_numpy()
    r = int(np.flatnonzero((u[:-1] == u[1:]) & (t[:-1] < t[1:]))[5000])  # a user with a later exposure
    flipped = log.with_columns(clicked=pl.Series(np.where(np.arange(log.height) == r, ~log["clicked"].to_numpy(),
                                                          log["clicked"].to_numpy())))
    a, b = CTRFeatures(ds, ALL, log=log), CTRFeatures(ds, ALL, log=flipped)
    same_time = np.flatnonzero(t <= t[r])
    np.testing.assert_array_equal(a.frame(same_time), b.frame(same_time))  # itself and ties unchanged
    later = np.flatnonzero((t > t[r]) & (u == u[r]))
    assert len(later) and not np.array_equal(a.frame(later), b.frame(later))


def test_counters_equal_a_plain_count(kuai):
    ds, d = kuai
    f = d.features
    names = [x.name for x in f.fields]
    c = d.columns
    rng = np.random.default_rng(1)
    for r in rng.choice(len(c["item"]), 40, replace=False):
        earlier = c["ts_ms"] < c["ts_ms"][r]
        mine = earlier & (c["user"] == c["user"][r])
        its = earlier & (c["item"] == c["item"][r])
        row = f.frame(np.array([r]))[0]
        assert row[names.index("counters.user_n")] == mine.sum()
        assert row[names.index("counters.item_n")] == its.sum()
        clicked = ds.interactions["clicked"].to_numpy()
        assert row[names.index("counters.user_clicked")] == clicked[mine].sum()
        assert row[names.index("counters.item_clicked")] == clicked[its].sum()


def test_codes_are_in_range_and_unknowns_get_default_buckets(kuai):
    ds, d = kuai
    f = d.features
    codes = f.codes(d.test.rows[:5000])
    assert codes.shape == (5000, len(f)) and (codes >= 0).all() and (codes < np.array(f.sizes)).all()
    names = [x.name for x in f.fields]
    unknown = f.request_codes(None, np.array([0, ds.num_items + 7]), ts_ms=int(d.columns["ts_ms"][-1]))
    for j, name in enumerate(names):
        if name.startswith(("user.", "item.")):
            assert (unknown[:, j] == 0).all(), name
        elif name.endswith("_rate"):
            assert (unknown[:, j] == 1).all(), name  # "no exposure yet"
        elif name.startswith(("counters.", "cross.")):
            assert (unknown[:, j] == 1).all(), name  # bucket of a zero count
    assert COUNT_BUCKETS > 2


def test_serving_features_equal_the_training_batch(kuai):
    """`request_batch` with a user's logged exposures gives exactly `CTRData.batch`'s features."""
    ds, d = kuai
    c = d.columns
    for r in d.test.rows[[0, 99, 2000]]:
        u = int(c["user"][r])
        h = slice(d.offsets[u], r)
        want = d.batch(np.array([r]))
        got = request_batch(c["item"][h], c["action"][h], c["label"][h], c["ts_ms"][h], c["item"][[r]],
                            int(c["ts_ms"][r]), d.session_gap_ms, d.max_len, d.features, u,
                            int(ds.interactions["tab"][int(r)]))
        np.testing.assert_array_equal(got["features"], want["features"])


def test_ml100k_profile_and_item_features(load):
    ds = load("ml-100k")
    d = ctr_data(ds, 50, "effective", features=ALL)
    names = [x.name for x in d.features.fields]
    for want in ("user.age", "user.gender", "user.occupation", "item.genres_primary", "item.year",
                 "cross.user_genres_primary_effective"):
        assert want in names
    assert "context.tab" not in names and d.batch(d.test.rows[:3])["features"].shape == (3, len(names))


def test_unknown_group_is_a_clear_error(load):
    with pytest.raises(DataError, match="unknown group"):
        CTRFeatures(load("sample"), ("user", "weather"))
