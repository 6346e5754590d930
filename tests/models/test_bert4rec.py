"""BERT4Rec: the cloze mask never lets a position see its own target; the loss is the hand-computed
CE at the masked positions; the final-position mask predicts the next item; it learns real data."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hgrec.models import build_model, model_config


@pytest.fixture
def model():
    torch.manual_seed(0)
    cfg = model_config("bert4rec", {"d_model": 16, "n_layers": 2, "n_heads": 2, "dropout": 0.0, "mask_prob": 0.3})
    return build_model("bert4rec", cfg, num_items=30, max_len=8).eval()


def test_a_masked_position_never_sees_its_own_item(model):
    items = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [11, 12, 13, 14, 15, 16, 17, 18]])
    masked = torch.zeros_like(items, dtype=torch.bool)
    masked[0, 4], masked[1, [0, 5, 7]] = True, True
    h = model.encode_masked(items, masked)
    for b, t in masked.nonzero().tolist():
        for other in (1, 29):  # any other item at a masked slot leaves every state unchanged
            changed = items.clone()
            changed[b, t] = other
            assert torch.equal(model.encode_masked(changed, masked), h)
    # ... while an unmasked item is seen by everyone (bidirectional, not causal)
    changed = items.clone()
    changed[1, 6] = 2
    assert not torch.allclose(model.encode_masked(changed, masked)[1, 0], h[1, 0])


def test_cloze_mask_covers_only_real_items_and_every_row(model):
    torch.manual_seed(1)
    items = torch.tensor([[0, 0, 0, 0, 0, 0, 0, 9]] * 200 + [[1, 2, 3, 4, 5, 6, 7, 8]] * 200)
    masked = model.cloze_mask(items)
    assert not (masked & (items == 0)).any() and masked.any(1).all()
    rate = masked[200:].float().mean().item()
    assert 0.25 < rate < 0.40  # Bernoulli(0.3), plus the last item of rows that drew none


def test_loss_is_ce_at_the_masked_positions(model):
    items = torch.tensor([[0, 0, 0, 1, 2, 3, 4, 5, 6], [4, 5, 6, 7, 8, 9, 10, 11, 12]])
    torch.manual_seed(3)
    loss, n = model({"items": items})
    torch.manual_seed(3)
    window = items[:, -8:]
    masked = model.cloze_mask(window)
    h = model.encode_masked(window, masked)[masked]
    logits = h @ model.item_emb.weight.T
    logits[:, 0] = -math.inf
    assert n.item() == masked.sum().item() > 0
    assert loss.item() == pytest.approx(F.cross_entropy(logits, window[masked], reduction="sum").item(), rel=1e-5)


def test_inference_appends_a_final_mask(model):
    items = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])
    scores = model.score_all(items)
    assert scores.shape == (2, 31) and (scores[:, 0] == -math.inf).all()
    x = torch.cat([items, torch.zeros(2, 1, dtype=torch.long)], 1)
    masked = torch.zeros_like(x, dtype=torch.bool)
    masked[:, -1] = True
    h = model.encode_masked(x, masked)[:, -1]
    assert torch.allclose(scores[:, 1:], (h @ model.item_emb.weight.T)[:, 1:], atol=1e-5)
    full = torch.arange(1, 9)[None]  # a full history: the oldest item makes room for [MASK]
    assert model.score_all(full).shape == (1, 31)
    assert torch.allclose(model.score_all(full), model.score_all(full[:, 1:]), atol=1e-5)


def test_bert4rec_learns_real_data_beyond_popularity(tmp_path):
    from hgrec.pipelines import make_task, train
    from hgrec.training.config import load_config

    cfg = load_config(raw={
        "model": {"name": "bert4rec", "d_model": 32, "n_layers": 1, "d_ff": 64, "dropout": 0.1, "mask_prob": 0.3},
        "data": {"dataset": "sample", "max_len": 30},
        "trainer": {"epochs": 8, "batch_size": 128, "lr": 3e-3, "warmup_steps": 10, "eval_every": 2, "patience": 0,
                    "out_dir": str(tmp_path), "tensorboard": False, "progress": False, "num_threads": 2},
    })
    result = train(cfg)
    task = make_task(cfg)
    counts = np.bincount(task.data.train_items[:, 1:].ravel(), minlength=task.data.num_items + 1)
    counts[0] = -1
    top10 = np.argsort(-counts, kind="stable")[:10]
    assert result["valid"]["hit@10"] > np.isin(task.data.valid.truth[:, 0], top10).mean()
