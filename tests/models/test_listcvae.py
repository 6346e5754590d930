"""ListCVAE: the ELBO's terms equal a hand computation; slates hold distinct catalogue items only;
it trains and decodes on the embedded KuaiRand slice."""


import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from hgrec.models import build_model, model_config


@pytest.fixture
def model():
    torch.manual_seed(0)
    cfg = model_config("listcvae", {"d_model": 8, "n_heads": 2, "d_ff": 16, "context_layers": 1, "d_latent": 3,
                                    "d_hidden": 12, "dropout": 0.0, "kl_warmup_steps": 0, "beta": 0.5})
    return build_model("listcvae", cfg, num_items=9, max_len=6, slate_size=3, feature_vocab=[4], has_timestamps=False)


def _batch():
    return {"history": torch.tensor([[0, 0, 1, 2, 3, 4], [5, 6, 7, 8, 9, 1]]),
            "target": torch.tensor([[5, 6, 0], [2, 3, 4]]),  # the first slate ends after 2 items
            "effective": torch.tensor([[6, 0, 0, 0], [4, 2, 0, 0]]),
            "user_features": torch.tensor([[1], [3]])}


def test_response_vector_marks_the_engaged_slots(model):
    b = _batch()
    assert model.response(b["target"], b["effective"]).tolist() == [[0, 1, 0], [1, 0, 1]]


def test_elbo_terms_equal_a_hand_computation(model):
    model.eval()
    b = _batch()
    eps = torch.randn(2, 3)
    ce, kl, valid = model.terms(b, eps)
    # by hand, from the model's parts
    u = model.user_state(b)
    cond = torch.cat([u, torch.tensor([[0.0, 1, 0], [1, 0, 1]])], -1)
    x = torch.cat([model.items.item(b["target"]).reshape(2, -1), cond], -1)
    mu_q, lv_q = model.encoder(x).chunk(2, -1)
    mu_p, lv_p = model.prior(cond).chunk(2, -1)
    want_kl = kl_divergence(Normal(mu_q, (0.5 * lv_q).exp()), Normal(mu_p, (0.5 * lv_p).exp())).sum(-1)
    assert torch.allclose(kl, want_kl, atol=1e-5)
    z = mu_q + eps * (0.5 * lv_q).exp()
    out = model.decoder(torch.cat([z, cond], -1)).view(2, 3, -1)
    for r in range(2):
        for m in range(3):
            item = b["target"][r, m].item()
            if item == 0:
                assert ce[r, m] == 0 and not valid[r, m]
                continue
            logits = out[r, m] @ model.items.emb.weight[1:].T  # catalogue items only
            assert ce[r, m].item() == pytest.approx(-F.log_softmax(logits, -1)[item - 1].item(), rel=1e-5)
    torch.manual_seed(1)
    loss, n = model(b)
    torch.manual_seed(1)
    ce2, kl2, _ = model.terms(b)
    assert n.item() == 5 and loss.item() == pytest.approx((ce2.sum() + 0.5 * kl2.sum()).item(), rel=1e-5)


def test_kl_warm_up_rises_linearly_to_beta():
    m = build_model("listcvae", model_config("listcvae", {"d_model": 8, "n_heads": 2, "kl_warmup_steps": 4}),
                    num_items=9, max_len=6, slate_size=3)
    weights = []
    for _ in range(6):
        weights.append(m.kl_weight())
        m.step += 1
    assert weights == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("exclude", [False, True])
def test_slates_hold_distinct_catalogue_items(model, exclude):
    torch.manual_seed(2)
    b = {"history": torch.randint(0, 10, (64, 6)), "user_features": torch.randint(0, 4, (64, 1))}
    with torch.no_grad():  # make every slot prefer the same item: the no-repeat rule must do the work
        model.items.emb.weight[7] *= 50
    s = model.generate_slates(b, 3, exclude_history=exclude)
    assert s.shape == (64, 3) and ((s >= 1) & (s <= 9)).all()
    assert all(len(set(r.tolist())) == 3 for r in s)
    if exclude:
        assert not any(set(r.tolist()) & set(h[h > 0].tolist()) for r, h in zip(s, b["history"]))
    with pytest.raises(ValueError, match="at most its trained size 3"):
        model.generate_slates(b, 4)


@pytest.mark.slow
def test_listcvae_trains_and_decodes_on_real_data(tmp_path):
    import numpy as np

    from hgrec.decoding.slates import slate_generator
    from hgrec.pipelines import make_task, train
    from hgrec.training.config import load_config

    cfg = load_config(raw={
        "model": {"name": "listcvae", "d_model": 32, "n_heads": 2, "d_ff": 64, "context_layers": 1,
                  "kl_warmup_steps": 20},
        "data": {"dataset": "sample", "slate_target": "impressions", "train_samples": "requests", "max_len": 30},
        "trainer": {"epochs": 2, "batch_size": 128, "lr": 3e-3, "warmup_steps": 5, "eval_every": 2, "patience": 0,
                    "out_dir": str(tmp_path), "tensorboard": False, "progress": False, "ks": [5],
                    "metric": "ndcg@5", "eval_batch_size": 1024}})
    result = train(cfg)
    test = result["test"]
    assert test["samples"] > 1000 and 0 <= test["hit@5"] <= 1 and 0 <= test["coverage@5"] <= 1
    log = [eval(r.replace("NaN", "float('nan')")) for r in (tmp_path / "sample-listcvae-s0" / "train_log.jsonl")
           .read_text().splitlines()]
    losses = [r["train/loss"] for r in log if "train/loss" in r]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])  # it learns
    task = make_task(cfg)
    from hgrec.pipelines.load import load_for_eval

    _, _, m = load_for_eval(tmp_path / "sample-listcvae-s0" / "best")
    ss = task.data.test.subset(np.arange(100))
    batch = {"history": torch.from_numpy(ss.history), "history_ts": torch.from_numpy(ss.history_ts),
             "user_features": torch.from_numpy(task.data.user_features[ss.users])}
    slates = slate_generator(m, None, 5, exclude_history=True)(batch).numpy()
    assert ((slates >= 1) & (slates <= task.data.num_items)).all()
    assert all(len(set(s)) == 5 and not set(s) & set(h[h > 0]) for s, h in zip(slates, ss.history))
