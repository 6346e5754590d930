"""The collaborative vectors behind semantic IDs see only the training part of the split they serve
(issue 23: KuaiRand's codes were fitted on the next-item training part while the slate split is
temporal, so test-period co-occurrences reached the SIDs)."""

import numpy as np
import pytest

from hgrec.data.errors import DataError
from hgrec.data.views import slates, temporal_cuts
from hgrec.items import item_vectors
from hgrec.items.collaborative import cooccurrence_counts, training_mask
from hgrec.items.vectors import model_item_table


def test_slate_leave_last_out_mask_is_the_training_requests(load):
    ds = load("ml-100k")
    mask = training_mask(ds, "slates", "leave_last_out", slate_size=5)
    sl = slates(ds, 5, min_history=0)
    # rows of the train requests, by (user, position) span
    df = ds.interactions
    u = df["user_id"].to_numpy()
    user_start = np.searchsorted(u, np.arange(u.max() + 1))
    expect = np.zeros(len(u), dtype=bool)
    tr = sl.filter(sl["split"] == "train")
    for user, start, end in zip(*(tr[c].to_numpy() for c in ("user_id", "start", "end"))):
        expect[user_start[user] + start:user_start[user] + end] = True
    assert np.array_equal(mask, expect)
    held = sl.filter(sl["split"] != "train")
    assert held.height > 0 and not mask[user_start[held["user_id"].to_numpy()] + held["start"].to_numpy()].any()


def test_temporal_mask_stops_at_the_validation_cut_and_no_test_pair_is_counted(load):
    ds = load("kuairand-pure")
    t_valid, _ = temporal_cuts(ds)
    ts = ds.interactions["ts"].to_numpy()
    mask = training_mask(ds, "slates", "temporal")
    assert np.array_equal(mask, ts < t_valid)
    # items whose effective interactions all lie at or after the cut get no co-occurrence at all
    eff = ds.interactions["effective"].to_numpy()
    items = ds.interactions["item_id"].to_numpy()
    seen_before = np.zeros(ds.num_items + 1, dtype=bool)
    seen_before[items[eff & mask]] = True
    only_later = np.setdiff1d(np.unique(items[eff & ~mask]), np.flatnonzero(seen_before))
    assert len(only_later) > 0
    counts = cooccurrence_counts(ds, train=mask)
    assert counts[only_later].sum() == 0
    # ... while the next-item training part (the old default) does count some of them: the leak
    old = cooccurrence_counts(ds)
    assert old[only_later].sum() > 0


def test_region_and_mask_errors(load):
    ds = load("sample")
    with pytest.raises(ValueError, match="region must be one of"):
        training_mask(ds, "everything")
    with pytest.raises(ValueError, match="train mask has"):
        cooccurrence_counts(ds, train=np.ones(3, dtype=bool))


def test_model_item_table_source(load, tmp_path):
    from safetensors.numpy import save_file

    ds = load("sample")
    rng = np.random.default_rng(0)
    w = rng.normal(size=(ds.num_items + 1, 8)).astype(np.float32)
    save_file({"item_emb.weight": w, "pos_emb.weight": w[:4]}, str(tmp_path / "model.safetensors"))
    v = item_vectors(ds, ("model",), model_checkpoint=tmp_path)
    assert v.shape == (ds.num_items + 1, 8) and not v[0].any()
    assert np.allclose(np.linalg.norm(v[1:], axis=1), 1, atol=1e-5)
    assert np.allclose(v[5], w[5] / np.linalg.norm(w[5]), atol=1e-6)
    save_file({"item_emb.weight": w[:-1]}, str(tmp_path / "model.safetensors"))
    with pytest.raises(DataError, match="expected"):
        model_item_table(ds, tmp_path)
    save_file({"other": w}, str(tmp_path / "model.safetensors"))
    with pytest.raises(DataError, match="no tensor 'item_emb.weight'"):
        model_item_table(ds, tmp_path)
    with pytest.raises(ValueError, match="model_checkpoint"):
        item_vectors(ds, ("model",))
