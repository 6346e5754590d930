"""Slate logs end to end: adapter -> semantic IDs (`random`, Python entry point) -> `hgrec train` (tiny HiGR)
-> `hgrec recommend` (CLI runner), on MIND and FINN.no fixtures and on a feed log in a `table` folder."""

import json

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from hgrec.cli import app
from hgrec.pipelines.tokenize import load_tokenize_config, tokenize

from .slate_logs import write_finn, write_mind
from .test_request_slates import _write_feed

runner = CliRunner()


def _table(folder):
    folder.mkdir(parents=True)
    df = pl.read_csv(_write_feed(folder.parent / "feed.csv"))
    df.rename({"user": "user_id", "item": "item_id", "time": "ts", "request": "request_id", "slot": "position",
               "click": "clicked", "watched": "effective"}).write_parquet(folder / "interactions.parquet")


@pytest.mark.parametrize("dataset,write,user", [
    ("mind", lambda p: write_mind(p), "U0"),
    ("finn-slates", lambda p: write_finn(p), "100"),
    ("table", _table, "alice"),
])
def test_slate_log_trains_and_recommends(tmp_path, dataset, write, user):
    root, cache = tmp_path / "data", tmp_path / "cache"
    write(root)
    data = {"dataset": dataset, "root": str(root), "cache": str(cache)}
    # semantic IDs through the Python entry point (`hgrec tokenize` prints recon, which `random` has not)
    run = load_tokenize_config(raw={"data": data, "items": {"sources": ["collab"], "collab_dim": 8},
                                    "tokenizer": {"method": "random", "levels": 3, "codebook_size": 8},
                                    "out_dir": str(tmp_path / "tok")})
    codes = tmp_path / "tok" / f"{dataset}-random-s0" / "codes.parquet"
    assert tokenize(run, log=lambda *a: None)["out"] == str(codes.parent) and codes.exists()

    run = tmp_path / "higr.yaml"
    run.write_text(yaml.safe_dump({
        "model": {"name": "higr", "d_model": 16, "n_heads": 2, "d_ff": 32, "context_layers": 1, "slate_layers": 1,
                  "item_layers": 1, "dropout": 0.0},
        "data": data | {"semantic_ids": str(codes), "slate_size": 3, "beam": 2, "max_len": 10},
        "trainer": {"epochs": 2, "batch_size": 32, "lr": 1e-3, "warmup_steps": 1, "eval_every": 1, "patience": 0,
                    "ks": [3], "metric": "ndcg@3", "out_dir": str(tmp_path / "runs"), "run_name": "r",
                    "tensorboard": False, "progress": False, "device": "cpu", "max_steps": 4}}))
    r = runner.invoke(app, ["train", "--config", str(run)])
    assert r.exit_code == 0, r.output
    assert f"test metrics (higr on {dataset})" in r.output
    test = json.loads((tmp_path / "runs" / "r" / "metrics.json").read_text())["test"]
    assert test["impressions/samples"] > 0 and 0 <= test["impressions/hit@3"] <= 1  # the logged slates as truth

    r = runner.invoke(app, ["recommend", "--checkpoint", str(tmp_path / "runs" / "r" / "best"), "--user", user,
                            "--slate-size", "3", "--cache", str(cache)])
    assert r.exit_code == 0, r.output
    assert f"slate for user {user}" in r.output and "│ 3 " in r.output and "│ 4 " not in r.output
