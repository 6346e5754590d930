"""The LightGBM baseline: same split, rows and features as the neural CTR models; early stopping decides."""

import numpy as np
import pytest

from hgrec.data.ctr_samples import ctr_data
from hgrec.evaluation.ctr import ctr_metrics
from hgrec.models.lightgbm_ctr import LightGBMConfig, LightGBMCTR


def test_lightgbm_learns_clicks_on_a_real_slice(load):
    ds = load("kuairand-pure")
    data = ctr_data(ds, 20, "clicked", features=("item", "context", "counters"))
    m = LightGBMCTR(LightGBMConfig(max_rounds=400, early_stopping_rounds=20, num_leaves=15), seed=0).fit(data)
    p = m.predict(data, data.test.rows)
    assert p.shape == (len(data.test),) and np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    metrics = ctr_metrics(data.columns["user"][data.test.rows], data.test.labels, p)
    assert metrics["auc"] > 0.7  # counters and the tab carry most of KuaiRand's click signal
    assert 1 <= m.best_iteration < m.rounds <= 400  # stopped early, not at its cap
    top = list(m.importance())
    assert len(top) == len(data.features) and all("." in t for t in top)


def test_lightgbm_needs_features(load):
    data = ctr_data(load("sample"), 20, "clicked")
    with pytest.raises(ValueError, match="features"):
        LightGBMCTR().fit(data)
