"""`hgrec compare`: per-user metrics rebuilt from prediction files, paired by user, with intervals."""

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from hgrec.cli import app
from hgrec.evaluation.compare import compare_predictions, per_user_metrics
from hgrec.evaluation.metrics import ranking_metrics
from hgrec.pipelines import train
from hgrec.training.config import load_config


def _write(path, users, truth, ranked):
    pl.DataFrame({"user_id": users, "truth": truth, "ranked": ranked}).write_parquet(path)
    return path


def test_per_user_metrics_by_hand():
    df = pl.DataFrame({
        "user_id": [1, 2, 3, 4],
        "truth": [[7], [9, 8], [5], [6, 6]],  # user 4 repeats an item: the truth is a set
        "ranked": [[3, 7, 1, 2, 4], [8, 1, 2, 3, 9], [1, 2, 3, 4, 6], [6, 1, 2, 3, 4]],
    })
    m = per_user_metrics(df, ks=(1, 5))
    assert m["hit@1"].tolist() == [0, 1, 0, 1]
    assert m["recall@5"].tolist() == [1, 1, 0, 1]
    assert m["ndcg@5"][0] == pytest.approx(1 / np.log2(3))
    # two truths at ranks 1 and 5, ideal DCG over two
    assert m["ndcg@5"][1] == pytest.approx((1 + 1 / np.log2(6)) / (1 + 1 / np.log2(3)))
    assert m["ndcg@5"][3] == 1.0
    # the same ranks through the evaluator's own function
    ref = ranking_metrics(np.array([[2, 0], [5, 1], [6, 0], [1, 0]]), (1, 5))
    for k in m:
        if k != "mrr":
            np.testing.assert_allclose(m[k], ref[k])


def test_compare_synthetic(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    truth = [[int(t)] for t in rng.integers(1, 100, n)]
    miss = [[1000 + j for j in range(10)]] * n
    # A finds the truth at rank 1 for 10 % of users, B for 20 % (a superset): B is better, surely
    a_hit, b_hit = np.arange(n) < n // 10, np.arange(n) < n // 5
    ra = [[t[0]] + m[1:] if h else m for t, m, h in zip(truth, miss, a_hit)]
    rb = [[t[0]] + m[1:] if h else m for t, m, h in zip(truth, miss, b_hit)]
    a = _write(tmp_path / "a.parquet", list(range(n)), truth, ra)
    # B lists the users in another order: pairing is by user id
    order = rng.permutation(n)
    b = _write(tmp_path / "b.parquet", [int(i) for i in order], [truth[i] for i in order], [rb[i] for i in order])
    diffs, users = compare_predictions(a, b, ks=(10,), resamples=500)
    d = {x.metric: x for x in diffs}["hit@10"]
    assert users == n and d.a == pytest.approx(0.1) and d.b == pytest.approx(0.2) and d.diff == pytest.approx(0.1)
    assert 0 < d.ci_low < 0.1 < d.ci_high and d.significant and d.p_value < 1e-6
    # a file against itself: no difference, nothing significant
    same = {x.metric: x for x in compare_predictions(a, a, ks=(10,), resamples=500)[0]}["ndcg@10"]
    assert same.diff == 0 and (same.ci_low, same.ci_high) == (0, 0) and not same.significant


def test_compare_refuses_mismatched_files(tmp_path):
    a = _write(tmp_path / "a.parquet", [1, 2], [[5], [6]], [[5, 1], [1, 2]])
    other_users = _write(tmp_path / "b.parquet", [1, 3], [[5], [6]], [[5, 1], [1, 2]])
    other_truth = _write(tmp_path / "c.parquet", [1, 2], [[5], [7]], [[5, 1], [1, 2]])
    with pytest.raises(ValueError, match="different users: 1 only in"):
        compare_predictions(a, other_users, ks=(2,))
    with pytest.raises(ValueError, match="truth differs for 1 users"):
        compare_predictions(a, other_truth, ks=(2,))
    with pytest.raises(ValueError, match="K=5 but the longest ranked list has 2"):
        compare_predictions(a, a, ks=(5,))
    empty = tmp_path / "e.parquet"
    pl.DataFrame({"user_id": [1, 2], "truth": [[], []], "ranked": [[5, 1], [1, 2]]},
                 schema={"user_id": pl.Int64, "truth": pl.List(pl.Int64), "ranked": pl.List(pl.Int64)}
                 ).write_parquet(empty)
    with pytest.raises(ValueError, match="no user has a non-empty truth set"):
        compare_predictions(empty, empty, ks=(2,))
    pl.DataFrame({"user_id": [1], "ranked": [[1]]}).write_parquet(tmp_path / "d.parquet")
    r = CliRunner().invoke(app, ["compare", str(a), str(tmp_path / "d.parquet")])
    assert r.exit_code == 2 and "missing column(s) ['truth']" in r.output
    r = CliRunner().invoke(app, ["compare", str(a), str(tmp_path / "nope.parquet")])
    assert r.exit_code == 2 and "no such predictions file" in r.output


def test_compare_two_real_runs(tmp_path, data_root):
    """Two SASRec runs on ML-100K (different seeds): the file-rebuilt means are the evaluator's metrics."""
    preds, metrics = [], []
    for seed in (0, 1):
        cfg = load_config(raw={
            "model": {"name": "sasrec", "d_model": 16, "n_layers": 1, "n_heads": 1, "dropout": 0.0},
            "data": {"dataset": "ml-100k", "root": str(data_root / "ml-100k"), "max_len": 50, "mask_history": True},
            "trainer": {"epochs": 1, "batch_size": 64, "lr": 3e-3, "out_dir": str(tmp_path), "run_name": f"s{seed}",
                        "seed": seed, "tensorboard": False, "progress": False},
        })
        metrics.append(train(cfg)["test"])
        pred = tmp_path / f"s{seed}.parquet"
        r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(tmp_path / f"s{seed}" / "best"),
                                     "--predictions", str(pred)])
        assert r.exit_code == 0, r.output
        preds.append(pred)
    out = tmp_path / "cmp.json"
    r = CliRunner().invoke(app, ["compare", str(preds[0]), str(preds[1]), "--json", str(out), "--resamples", "500"])
    assert r.exit_code == 0, r.output
    assert "B - A" in r.output
    res = json.loads(out.read_text())
    assert res["users"] == int(metrics[0]["users"])
    for row in res["metrics"]:
        assert row["a"] == pytest.approx(metrics[0][row["metric"]], rel=1e-9)
        assert row["b"] == pytest.approx(metrics[1][row["metric"]], rel=1e-9)
        assert row["ci_low"] <= row["diff"] <= row["ci_high"]


def _ctr(path, probs, labels, users):
    n = len(labels)
    pl.DataFrame({"user_id": users, "item_id": np.arange(n), "ts": np.arange(n) * 1000,
                  "label": np.asarray(labels, dtype=np.int8), "prob": np.asarray(probs, dtype=np.float32)}
                 ).write_parquet(path)
    return path


def test_compare_ctr_synthetic(tmp_path):
    from hgrec.evaluation.compare import compare_ctr_predictions
    from hgrec.evaluation.metrics import auc, gauc, logloss

    rng = np.random.default_rng(0)
    n = 4000
    users = rng.integers(0, 300, n)
    y = rng.integers(0, 2, n)
    noise = rng.random(n)
    pa = np.clip(0.5 + 0.1 * (y - 0.5) + 0.4 * (noise - 0.5), 0.01, 0.99)  # weak
    pb = np.clip(0.5 + 0.4 * (y - 0.5) + 0.4 * (noise - 0.5), 0.01, 0.99)  # strong, same users
    a, b = _ctr(tmp_path / "a.parquet", pa, y, users), _ctr(tmp_path / "b.parquet", pb, y, users)
    diffs, n_users = compare_ctr_predictions(a, b, resamples=200)
    d = {x.metric: x for x in diffs}
    assert n_users == len(np.unique(users))
    pa32, pb32 = pa.astype(np.float32), pb.astype(np.float32)  # what the files hold
    assert d["auc"].a == pytest.approx(auc(y, pa32)) and d["auc"].b == pytest.approx(auc(y, pb32))
    assert d["gauc"].b == pytest.approx(gauc(users, y, pb32))
    assert d["logloss"].a == pytest.approx(logloss(y, pa32), rel=1e-6)
    assert d["auc"].ci_low > 0 and d["auc"].significant and d["auc"].p_value < 0.01
    assert d["logloss"].ci_high < 0  # B's log loss is lower
    same = {x.metric: x for x in compare_ctr_predictions(a, a, resamples=50)[0]}["auc"]
    assert same.diff == 0 and (same.ci_low, same.ci_high) == (0, 0) and same.p_value == 1


def test_compare_ctr_refuses_bad_files(tmp_path):
    from hgrec.evaluation.compare import compare_ctr_predictions

    a = _ctr(tmp_path / "a.parquet", [0.2, 0.8, 0.5], [0, 1, 1], [1, 1, 2])
    other = _ctr(tmp_path / "b.parquet", [0.2, 0.8, 0.5], [0, 1, 0], [1, 1, 2])
    nan = _ctr(tmp_path / "c.parquet", [0.2, float("nan"), 0.5], [0, 1, 1], [1, 1, 2])
    with pytest.raises(ValueError, match="different exposures or labels"):
        compare_ctr_predictions(a, other)
    with pytest.raises(ValueError, match="1 probabilities are NaN or outside \\[0, 1\\] \\(first at row 1\\)"):
        compare_ctr_predictions(a, nan)
    r = CliRunner().invoke(app, ["compare", str(a), str(a), "--k", "5"])
    assert r.exit_code == 2 and "--k applies to ranking predictions" in r.output


@pytest.mark.slow
def test_compare_two_real_ctr_runs(tmp_path):
    """DIN and HSTU-CTR on the embedded KuaiRand slice: the file-rebuilt AUC/GAUC/logloss are the evaluator's."""
    small = ["model.d_model=16", "trainer.tensorboard=false", "data.dataset=sample", "trainer.eval_batch_size=2048",
             "trainer.warmup_steps=1", "trainer.lr=3e-3", f"trainer.out_dir={tmp_path}", "trainer.epochs=1",
             "trainer.progress=false"]
    preds, metrics = [], []
    for name in ("din", "hstu_ctr"):
        cfg = load_config(f"configs/kuairand/{name}.yaml", small + ([] if name == "din" else ["model.n_heads=2"]))
        metrics.append(train(cfg)["test"])
        pred = tmp_path / f"{name}.parquet"
        r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(tmp_path / cfg.trainer.run_name / "best"),
                                     "--predictions", str(pred)])
        assert r.exit_code == 0, r.output
        preds.append(pred)
    out = tmp_path / "cmp.json"
    r = CliRunner().invoke(app, ["compare", str(preds[0]), str(preds[1]), "--resamples", "100", "--json", str(out)])
    assert r.exit_code == 0, r.output
    res = {m["metric"]: m for m in json.loads(out.read_text())["metrics"]}
    for k in ("auc", "gauc", "logloss"):
        assert res[k]["a"] == pytest.approx(metrics[0][k], abs=1e-6)
        assert res[k]["b"] == pytest.approx(metrics[1][k], abs=1e-6)
        assert res[k]["ci_low"] <= res[k]["diff"] <= res[k]["ci_high"]


def test_compare_slates_pairs_by_user_and_request_with_a_user_cluster_interval(tmp_path):
    """Slate files hold one row per (user, request): rows pair on both keys, the interval resamples users."""
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(800), 3)  # 3 test requests per user
    request = np.tile(np.arange(3), 800)
    truth = [[int(t)] for t in rng.integers(1, 50, len(users))]
    miss = [900, 901, 902, 903, 904]
    b_hit = rng.random(len(users)) < 0.3
    a_hit = b_hit & (rng.random(len(users)) < 0.5)  # A hits a subset of B's requests
    ra = [[t[0]] + miss[1:] if h else miss for t, h in zip(truth, a_hit)]
    rb = [[t[0]] + miss[1:] if h else miss for t, h in zip(truth, b_hit)]

    def write(path, order, ranked):
        pl.DataFrame({"user_id": users[order], "truth": [truth[i] for i in order], "ranked": [ranked[i] for i in order],
                      "request": request[order]}).write_parquet(path)
        return path

    a = write(tmp_path / "a.parquet", np.arange(len(users)), ra)
    b = write(tmp_path / "b.parquet", rng.permutation(len(users)), rb)  # another row order
    diffs, n_users = compare_predictions(a, b, ks=(5,), resamples=400)
    d = {x.metric: x for x in diffs}["hit@5"]
    assert n_users == 800
    assert d.diff == pytest.approx(b_hit.mean() - a_hit.mean()) and d.ci_low > 0 and d.significant
    assert d.ci_low < d.diff < d.ci_high and d.p_value < 0.01
    # the same request twice is refused; next-item and slate files do not pair
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"user_id": [1, 1], "truth": [[1], [2]], "ranked": [[1], [2]], "request": [0, 0]}).write_parquet(bad)
    with pytest.raises(ValueError, match="more than one row for one request"):
        compare_predictions(bad, bad, ks=(1,))
    plain = _write(tmp_path / "plain.parquet", [0, 1], [[1], [2]], [[1], [2]])
    with pytest.raises(ValueError, match="request column"):
        compare_predictions(a, plain, ks=(1,))
