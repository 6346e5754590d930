"""Feedback rules (hgrec.data.feedback) read from a source's columns, on real data."""

import numpy as np
import pytest

from hgrec.data.feedback import feedback_scheme, feedback_signals, graded_gains


@pytest.mark.parametrize("name, kind, top", [("sample", "watch", 4), ("ml-100k", "rating", 5),
                                             ("amazon-beauty", "implicit", 4)])
def test_each_source_gets_its_scheme(load, name, kind, top):
    ds = load(name)
    scheme = feedback_scheme(ds)
    assert scheme.kind == kind and scheme.strongest_action == top
    fb = feedback_signals(ds)
    assert len(fb.strength) == len(fb.negative) == ds.interactions.height
    assert len(graded_gains(ds)) == ds.interactions.height


def test_action_codes_give_the_logged_labels(load):
    """On KuaiRand, the action code of every exposure gives back its logged click and long-view labels."""
    from hgrec.data.ctr_samples import action_codes

    ds = load("sample")
    df = ds.interactions
    codes = action_codes(df)
    scheme = feedback_scheme(ds)
    assert np.array_equal(scheme.labels(codes, "clicked"), df["clicked"].to_numpy().astype(np.int8))
    assert np.array_equal(scheme.labels(codes, "effective"), df["effective"].to_numpy().astype(np.int8))


def test_ratings_are_effective_from_four(load):
    ds = load("ml-100k")
    codes = ds.interactions["rating"].to_numpy()
    assert np.array_equal(feedback_scheme(ds).labels(codes, "effective"), (codes >= 4).astype(np.int8))
    fb = feedback_signals(ds)
    assert np.array_equal(fb.negative, codes <= 2)
