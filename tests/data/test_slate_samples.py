"""Slate samples on the embedded KuaiRand slice: contexts end where the slate starts, nothing leaks."""

import numpy as np
import polars as pl
import pytest

from hgrec.data.slate_samples import slate_data, user_feature_codes
from hgrec.data.views import positive_history, slates


@pytest.mark.parametrize("split", ["leave_last_out", "temporal"])
def test_contexts_end_where_the_slate_starts(load, split):
    ds = load("sample")
    sd = slate_data(ds, split=split)
    seq = positive_history(ds)
    sl = slates(ds, 5, temporal_cuts=None if split == "leave_last_out" else __import__(
        "hgrec.data.views", fromlist=["temporal_cuts"]).temporal_cuts(ds))
    by_req = {(u, r): h for u, r, h in zip(sl["user_id"], sl["request"], sl["hist_len"])}
    for ss in (sd.train, sd.valid, sd.test):
        assert len(ss) > 100
        for i in np.random.default_rng(0).choice(len(ss), 50, replace=False):
            u, r = int(ss.users[i]), int(ss.request[i])
            cut = by_req[(u, r)]
            expect = seq.user(u)[max(0, cut - 50):cut]
            h = ss.history[i]
            assert list(h[h > 0]) == list(expect)  # the last max_len effective items before the request
    assert (sd.train.target[:, 0] > 0).all()
    assert ((sd.valid.effective[:, 0] > 0) | (sd.valid.impressions[:, 0] > 0)).all()


def test_every_item_samples_stay_inside_the_training_region(load):
    ds = load("sample")
    req = slate_data(ds)
    every = slate_data(ds, train_samples="every_item")
    assert len(every.train) > 1.5 * len(req.train)
    seq = positive_history(ds)
    sl = slates(ds, 5, min_history=0)
    held = sl.filter(pl.col("split") != "train").group_by("user_id").agg(pl.col("hist_len").min())
    end = seq.lengths.copy()
    end[held["user_id"].to_numpy()] = held["hist_len"].to_numpy()
    for i in np.random.default_rng(1).choice(len(every.train), 300, replace=False):
        u = every.train.users[i]
        h, t = every.train.history[i], every.train.target[i]
        n_hist = (h > 0).sum()  # histories shorter than max_len here: position = history length
        assert n_hist < 50
        items = seq.user(u)
        assert list(h[h > 0]) == list(items[:n_hist])
        assert list(t[t > 0]) == list(items[n_hist:min(n_hist + 5, end[u])])
    # every request-based training target is also covered by the every-item samples' region
    for i in range(0, len(req.train), 97):
        u = req.train.users[i]
        n_hist = (req.train.history[i] > 0).sum()
        assert n_hist + (req.train.target[i] > 0).sum() <= end[u] or n_hist >= 50


def test_user_features_are_categorical_codes(load):
    ds = load("sample")
    codes, vocab = user_feature_codes(ds)
    assert codes.shape == (ds.num_users, len(vocab)) and len(vocab) == ds.users.width - 2
    assert (codes >= 0).all() and (codes.max(0) < np.array(vocab)).all()


def test_bad_options_are_named(load):
    ds = load("sample")
    with pytest.raises(ValueError, match="target"):
        slate_data(ds, target="clicks")
    with pytest.raises(ValueError, match="train_samples"):
        slate_data(ds, train_samples="all")
