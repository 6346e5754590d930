"""Every registered model offers exactly the capabilities its kind promises (hgrec.models.capabilities),
and slate decoding picks its search from the capability, not from the model's name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hgrec.decoding.slates import makes_slates, slate_generator
from hgrec.models import MODELS, build_model
from hgrec.models.capabilities import (ClickModel, FlatSlateGenerator, HierarchicalSlateGenerator, ItemCodeGenerator,
                                       NextItemScorer, SemanticIDModel, SlateScorer, WholeSlateGenerator,
                                       slate_capability)
from hgrec.tokenizers.trie import PrefixTrie

VOCAB = [4, 4, 3]
N = 20
SLATE = {"d_model": 16, "n_heads": 2, "d_ff": 32, "dropout": 0.0}
EXPECTED = {  # model -> its slate capability (None: a click model)
    "higr": HierarchicalSlateGenerator, "tiger": ItemCodeGenerator, "onerec": FlatSlateGenerator,
    "listcvae": WholeSlateGenerator, "sasrec": NextItemScorer, "hstu": NextItemScorer, "bert4rec": NextItemScorer,
    "hpgr": None, "hstu_ctr": None, "mtgr": None, "din": None,
}


def _codes():
    grid = np.stack(np.meshgrid(*[np.arange(v) for v in VOCAB], indexing="ij"), -1).reshape(-1, len(VOCAB))
    return grid[np.random.default_rng(0).choice(len(grid), N, replace=False)]


def _build(name):
    torch.manual_seed(0)
    kind = getattr(MODELS[name][0], "task", "next_item")
    if kind == "slate":
        meta = {"num_items": N, "max_len": 6, "slate_size": 3, "feature_vocab": [3, 4]}
        if name != "listcvae":
            meta["sid_vocab"] = VOCAB
        m = build_model(name, {k: v for k, v in SLATE.items() if name != "listcvae" or k != "d_ff"}, **meta)
        if isinstance(m, SemanticIDModel):
            m.sid.set_codes(_codes())
        return m.eval()
    if kind == "ctr":
        return build_model(name, {"d_model": 16, "d_ff": 32, "dropout": 0.0}, num_items=N, max_len=12).eval()
    return build_model(name, {"d_model": 16, "n_heads": 2, "dropout": 0.0}, num_items=N, max_len=6,
                       has_timestamps=True).eval()


def test_every_registered_model_is_listed():
    assert set(MODELS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_model_offers_its_capability(name):
    m = _build(name)
    assert slate_capability(m) is EXPECTED[name]
    assert makes_slates(m) == (EXPECTED[name] is not None)
    assert isinstance(m, ClickModel) == (EXPECTED[name] is None)
    assert isinstance(m, SlateScorer) == (name == "higr")  # preference alignment post-trains HiGR


@pytest.mark.parametrize("name", [n for n, cap in sorted(EXPECTED.items()) if cap is not None])
def test_slate_generator_decodes_every_slate_model(name):
    m = _build(name)
    trie = PrefixTrie(_codes(), vocab_sizes=VOCAB) if isinstance(m, SemanticIDModel) else None
    g = torch.Generator().manual_seed(0)
    batch = {"history": torch.randint(1, N + 1, (4, 6), generator=g), "history_ts": torch.arange(6).repeat(4, 1),
             "user_features": torch.randint(0, 3, (4, 2), generator=g), "target": torch.ones(4, 3, dtype=torch.long),
             "effective": torch.ones(4, 3, dtype=torch.bool)}
    items, scores = slate_generator(m, trie, 3, beam=2, exclude_history=True, with_scores=True)(batch)
    assert items.shape == scores.shape == (4, 3)
    assert ((items >= 1) & (items <= N)).all()
    for row, hist in zip(items.tolist(), batch["history"].tolist()):
        assert len(set(row)) == 3 and not set(row) & set(hist)


def test_a_model_without_a_capability_gets_a_clear_error():
    with pytest.raises(TypeError, match="cannot generate slates"):
        slate_generator(torch.nn.Linear(2, 2), None, 3)
    with pytest.raises(ValueError, match="prefix trie"):
        slate_generator(_build("tiger"), None, 3)
