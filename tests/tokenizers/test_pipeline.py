"""`hgrec tokenize` end to end on real data (ML-100K titles + genres), small K so it runs in seconds."""

import json

import polars as pl
from typer.testing import CliRunner

from hgrec.cli import app


def test_tokenize_cli_writes_unique_codes_and_quality(tmp_path, data_root):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(
        "# hgrec tokenize --config t.yaml\n"
        f"data: {{dataset: ml-100k, root: {data_root / 'ml-100k'}}}\n"
        "items: {sources: [text]}\n"
        "tokenizer: {method: crq_vae, levels: 3, codebook_size: 16, rqvae: {epochs: 5, hidden: [64], latent_dim: 16}}\n"
        f"out_dir: {tmp_path / 'out'}\n")
    r = CliRunner().invoke(app, ["tokenize", "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "collision" in r.output and "per level" in r.output
    out = tmp_path / "out" / "ml-100k-crq_vae-s0"
    codes = pl.read_parquet(out / "codes.parquet")
    assert codes.height == 1682 and codes["item_id"].to_list()[:3] == [1, 2, 3]
    assert codes["sid"].list.len().unique().to_list() == [4]  # D = 3 plus the disambiguation level
    assert codes["sid"].n_unique() == 1682  # every item has a unique code
    m = json.loads((out / "metrics.json").read_text())
    assert 0 <= m["collision"] < 1 and 0 <= m["consistency"] <= 1 and m["cooccurrence_pairs"] > 1000
    assert [lv["utilisation"] > 0.5 for lv in m["levels"]] == [True] * 3


def test_tokenize_bad_method(tmp_path):
    cfg = tmp_path / "t.yaml"
    cfg.write_text("data: {dataset: sample}\ntokenizer: {method: kmeans++}\n")
    r = CliRunner().invoke(app, ["tokenize", "--config", str(cfg)])
    assert r.exit_code == 2 and "tokenizer.method must be one of" in r.output
