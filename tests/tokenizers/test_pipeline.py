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


def test_random_ids_are_unique_seeded_and_carry_no_semantics(tmp_path, data_root):
    """The random-ID control on ML-100K: unique per item, reproducible per seed, and its first-level
    codes group the items' text neighbours no better than chance (1/K)."""
    from hgrec.pipelines.tokenize import load_tokenize_config, tokenize

    def run(seed, out):
        return tokenize(load_tokenize_config(raw={
            "data": {"dataset": "ml-100k", "root": str(data_root / "ml-100k")}, "items": {"sources": ["text"]},
            "tokenizer": {"method": "random", "levels": 3, "codebook_size": 16, "seed": seed},
            "out_dir": str(tmp_path / out)}), log=lambda *a: None)

    a, b, c = run(0, "a"), run(0, "b"), run(1, "c")
    read = lambda m: pl.read_parquet(m["out"] + "/codes.parquet")  # noqa: E731
    assert read(a)["sid"].n_unique() == 1682
    assert read(a)["code"].to_list() == read(b)["code"].to_list() != read(c)["code"].to_list()
    # chance that two items share a first-level code is ~1/16; random codes stay near it
    assert a["concentration"] < 0.15 and a["recon"] is None


def test_tokenize_cli_random_method_prints_its_table(tmp_path):
    """The random-ID control reconstructs nothing: the CLI says n/a instead of failing on recon=None."""
    cfg = tmp_path / "t.yaml"
    cfg.write_text("data: {dataset: sample}\nitems: {sources: [collab], collab_dim: 8}\n"
                   f"tokenizer: {{method: random, levels: 2, codebook_size: 16}}\nout_dir: {tmp_path / 'out'}\n")
    r = CliRunner().invoke(app, ["tokenize", "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "n/a" in r.output and len(list((tmp_path / "out").glob("*-random-s0/codes.parquet"))) == 1


def test_crq_vae_codes_are_the_same_on_every_run_and_thread_count(tmp_path):
    """The embedded sample (text + co-occurrence vectors, CRQ-VAE): the same config gives the same codes run
    after run, whatever torch's thread count, and the caller's thread count is restored. Before
    `single_threaded`, two 2-thread runs disagreed on almost every item."""
    import torch

    from hgrec.pipelines.tokenize import load_tokenize_config, tokenize

    def run(threads, out):
        torch.set_num_threads(threads)
        return tokenize(load_tokenize_config(raw={
            "data": {"dataset": "sample"}, "items": {"sources": ["text", "collab"]},
            "tokenizer": {"method": "crq_vae", "levels": 3, "codebook_size": 32,
                          "rqvae": {"epochs": 3, "batch_size": 512, "latent_dim": 16}},
            "out_dir": str(tmp_path / out)}), log=lambda *a: None)

    before = torch.get_num_threads()
    try:
        a, b, c = run(2, "a"), run(2, "b"), run(1, "c")
        assert torch.get_num_threads() == 1  # restored to the caller's
    finally:
        torch.set_num_threads(before)
    read = lambda m: pl.read_parquet(m["out"] + "/codes.parquet")["code"].to_list()  # noqa: E731
    assert read(a) == read(b) == read(c)
