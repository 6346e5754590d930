"""`hgrec evaluate --checkpoint ... --predictions`: the written predictions (source ids) reproduce the metrics."""


import numpy as np
import polars as pl
from typer.testing import CliRunner

from hgrec.cli import app
from hgrec.pipelines import train
from hgrec.training.config import load_config


def test_predictions_recompute_the_metrics(tmp_path, data_root):
    cfg = load_config(raw={
        "model": {"name": "hstu", "d_model": 16, "n_layers": 1, "n_heads": 2, "dropout": 0.0},
        "data": {"dataset": "ml-100k", "root": str(data_root / "ml-100k"), "max_len": 50, "mask_history": True},
        "trainer": {"epochs": 2, "batch_size": 64, "lr": 3e-3, "out_dir": str(tmp_path), "run_name": "r",
                    "tensorboard": False, "progress": False},
    })
    result = train(cfg)
    pred = tmp_path / "pred.parquet"
    r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(tmp_path / "r" / "best"), "--predictions", str(pred)])
    assert r.exit_code == 0, r.output
    df = pl.read_parquet(pred)
    assert df.schema["user_id"] == pl.Int64 and df.schema["ranked"] == pl.List(pl.Int64)
    assert df.height == int(result["test"]["users"])
    # recompute hit@10 and NDCG@10 from raw ids only
    hits, ndcg = [], []
    for truth, ranked in zip(df["truth"].to_list(), df["ranked"].to_list()):
        ranked = ranked[:10]
        hits.append(float(truth[0] in ranked))
        ndcg.append(1 / np.log2(ranked.index(truth[0]) + 2) if truth[0] in ranked else 0.0)
    assert np.mean(hits) == result["test"]["hit@10"]
    assert np.mean(ndcg) == __import__("pytest").approx(result["test"]["ndcg@10"], rel=1e-9)
    # the truth is the user's last positive in the raw file
    raw = pl.read_csv(data_root / "ml-100k/u.data", separator="\t", has_header=False, new_columns=["u", "i", "r", "t"])
    u0 = df["user_id"][0]
    pos = raw.filter((pl.col("u") == u0) & (pl.col("r") >= 4)).sort("t", maintain_order=True)
    assert df["truth"][0].to_list() == [pos["i"][-1]]
    # no ranked item is one the user had already rated positively (history masked)
    assert not set(df["ranked"][0].to_list()) & set(pos["i"][:-1].to_list())


def test_evaluate_bad_checkpoint(tmp_path):
    r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(tmp_path)])
    assert r.exit_code == 2 and "not a checkpoint" in r.output
