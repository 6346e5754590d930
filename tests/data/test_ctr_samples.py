"""CTR samples with sessions, checked against plain-Python references on real data."""

import numpy as np
import polars as pl
import pytest

from hgrec.data import DataError
from hgrec.data.ctr_samples import (ACTION_PAD, ctr_data, mim_windows, session_stats, window_batch)
from hgrec.data.views import num_sessions


@pytest.fixture(scope="module")
def kuai(load):
    ds = load("kuairand-pure")
    return ds, ctr_data(ds, max_len=20)


def test_every_exposure_is_a_sample_split_by_time(kuai):
    ds, d = kuai
    n = ds.interactions.height
    assert len(d.train) + len(d.valid) + len(d.test) == n
    ts = d.columns["ts"]
    assert ts[d.train.rows].max() <= ts[d.valid.rows].min() and ts[d.valid.rows].max() <= ts[d.test.rows].min()
    assert d.train.labels.sum() + d.valid.labels.sum() + d.test.labels.sum() == 100_900  # is_click count
    assert abs(len(d.test) / n - 0.1) < 0.01


def test_batch_matches_a_plain_python_reference(kuai):
    ds, d = kuai
    df = ds.interactions
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.choice(d.test.rows, 40), rng.choice(d.train.rows, 40), d.offsets[[0, 1]]])
    b = d.batch(rows)
    W = b["items"].shape[1]
    user, item, ts = (df[c].to_list() for c in ("user_id", "item_id", "ts"))
    clicked, eff = df["clicked"].to_list(), df["effective"].to_list()
    for r_i, r in enumerate(rows):
        u = user[r]
        start = r
        while start > 0 and user[start - 1] == u and r - (start - 1) <= d.max_len:
            start -= 1
        hist = list(range(start, r))
        # sessions by hand: a new one after a gap > 30 min
        sess, s = {}, 0
        first = r
        while first > 0 and user[first - 1] == u:
            first -= 1
        for j in range(first, r + 1):
            if j > first and ts[j] - ts[j - 1] > 30 * 60 * 1000:
                s += 1
            sess[j] = s
        assert b["items"][r_i].tolist() == [0] * (W - len(hist)) + [item[j] for j in hist]
        assert b["actions"][r_i].tolist() == [ACTION_PAD] * (W - len(hist)) + [
            1 + clicked[j] + 2 * eff[j] for j in hist]
        assert b["session"][r_i].tolist() == [0] * (W - len(hist)) + [sess[r] - sess[j] for j in hist]
        assert b["cand_item"][r_i] == item[r] and b["label"][r_i] == clicked[r]
        pos_r = sum(1 for j in range(first, r) if sess[j] == sess[r])
        assert b["cand_pos"][r_i] == pos_r


def test_session_statistics(kuai):
    ds, d = kuai
    s = session_stats(d)
    assert s["sessions"] == num_sessions(ds) == 189_039  # shared/data/README.md
    assert abs(s["items_per_session_mean"] - 228_329 / 189_039) < 1e-9
    assert 0 < s["test_share_with_current_session"] < 1


def test_mim_windows_never_see_the_future(kuai):
    ds, d = kuai
    t_valid, t_test = d.cuts
    tr = mim_windows(d, "train")
    flat = np.concatenate([np.arange(s, e) for s, e in zip(tr.starts[:500], tr.ends[:500])])
    assert (d.columns["ts"][flat] * 1000 < t_valid).all()
    # every training-period token of a user with >= 2 of them is in exactly one window
    n_tokens = (tr.ends - tr.starts).sum()
    per_user = np.bincount(d.columns["user"][d.columns["ts"] * 1000 < t_valid])
    assert n_tokens == per_user[per_user >= 2].sum()
    va = mim_windows(d, "valid")
    b = window_batch(d, va, np.arange(len(va)))
    tgt_ts = b["ts"][b["targets_at"]] * 1000
    assert ((tgt_ts >= t_valid) & (tgt_ts < t_test)).all()
    ctx = (b["items"] > 0) & ~b["targets_at"]
    assert ctx.any(1).all() and (b["ts"][ctx] * 1000 < t_valid).all()


def test_bad_input_is_a_clean_error(load):
    with pytest.raises(DataError, match="no 'clicked' column.*data.label=effective"):
        ctr_data(load("ml-100k"), label="clicked")
    with pytest.raises(DataError, match="no negative feedback"):
        ctr_data(load("amazon-beauty"), label="effective")
    with pytest.raises(ValueError, match="label must be one of"):
        ctr_data(load("ml-100k"), label="rating")
    ds = load("ml-100k")
    d = ctr_data(ds, max_len=200, label="effective")
    assert d.batch(d.test.rows[:4])["actions"].max() <= 5  # ratings are the actions
    assert abs(d.train.labels.mean() - 0.55) < 0.02  # rating >= 4


def test_one_class_labels_are_refused(load):
    import dataclasses

    ds = load("sample")
    inter = ds.interactions.with_columns(clicked=pl.lit(False))
    with pytest.raises(DataError, match="nothing to learn"):
        ctr_data(dataclasses.replace(ds, interactions=inter))


def test_request_batch_rebuilds_the_training_features_from_a_logged_history(load):
    """Serving builds a history's features by the training rule: the exposures before a logged row,
    given as plain arrays with their actions and times, give exactly `CTRData.batch` for that row."""
    from hgrec.data.ctr_samples import ctr_data, labels_from_actions, request_batch

    data = ctr_data(load("sample"), max_len=20)
    c = data.columns
    rng = np.random.default_rng(0)
    for r in rng.choice(data.test.rows, 25, replace=False):
        u = c["user"][r]
        h = slice(data.offsets[u], r)
        labels = labels_from_actions(c["action"][h], data.label, rating_scale=False)
        assert np.array_equal(labels, c["label"][h])  # the action code carries the click
        got = request_batch(c["item"][h], c["action"][h], labels, c["ts_ms"][h], c["item"][[r]], int(c["ts_ms"][r]),
                            data.session_gap_ms, data.max_len)
        want = data.batch(np.array([r]))
        for key in want:
            if key != "label":
                assert np.array_equal(got[key], want[key]), (r, key)
