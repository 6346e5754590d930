"""The benchmark harness (hgrec.benchmarking): overrides as dicts, runs trained / reused / collected,
per-seed tables generated from the JSON rows, partial results."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from hgrec.benchmarking import Bench, RunSpec, mean_std, override_list, parse_overrides, seed_table

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "configs" / "sample" / "sasrec.yaml"


def test_overrides_round_trip_through_the_command_line_form():
    over = {"model.item_ids": True, "trainer.lr": 2e-3, "data.root": "/data/my logs: v2", "items.sources": ["text", "collab"],
            "trainer.epochs": 40, "items.model_checkpoint": None}
    assert parse_overrides(override_list(over)) == over
    with pytest.raises(SystemExit, match="key.path=value"):
        parse_overrides(["trainer.lr"])


def test_a_spec_becomes_the_run_config(tmp_path):
    bench = Bench("t", out_dir=tmp_path)
    spec = RunSpec(ROOT / "configs" / "slates" / "ml-100k" / "higr.yaml", "ml-100k", "higr", "hybrid", 2,
                   {"model.item_ids": True, "trainer.lr": 1e-3})
    cfg = bench.config(spec)
    assert cfg.model.item_ids is True and cfg.trainer.lr == 1e-3 and cfg.trainer.seed == 2
    assert cfg.trainer.run_name == "ml-100k-higr-hybrid-s2" and Path(cfg.trainer.out_dir) == tmp_path


def _rows():
    rows = []
    for seed, (a, b) in enumerate([(0.1, 0.5), (0.2, 0.7), (0.3, 0.6)]):
        rows.append({"dataset": "d", "model": "m", "variant": "default", "seed": seed, "truth": "effective",
                     "metrics": {"ndcg@5": a}})
        rows.append({"dataset": "d", "model": "m", "variant": "default", "seed": seed, "truth": "impressions",
                     "metrics": {"ndcg@5": b}})
    rows.append({"dataset": "d", "model": "pop", "variant": "default", "seed": 0, "truth": "effective",
                 "metrics": {"ndcg@5": 0.05}})
    return rows


def test_seed_table_is_the_mean_and_std_of_the_rows():
    table = seed_table(_rows(), [("NDCG", "ndcg@5", {"truth": "effective"}), ("imp. NDCG", "ndcg@5",
                                                                              {"truth": "impressions"})])
    lines = table.splitlines()
    assert lines[0] == "| dataset | model | variant | NDCG | imp. NDCG | seeds |"
    m = lines[2].split(" | ")
    assert m[3] == f"{statistics.mean([.1, .2, .3]):.4f} ± {statistics.stdev([.1, .2, .3]):.4f}"
    assert m[4] == f"{statistics.mean([.5, .7, .6]):.4f} ± {statistics.stdev([.5, .7, .6]):.4f}"
    assert lines[3] == "| d | pop | default | 0.0500 |  | 1 |"
    assert mean_std([1234567.0, 1234567.0]) == "1,234,567"


def test_a_run_is_trained_once_then_reused_and_collect_trains_nothing(tmp_path):
    spec = RunSpec(SAMPLE, "sample", "sasrec", "default", 0, {"trainer.max_steps": 2, "trainer.epochs": 1})
    first = Bench("t", out_dir=tmp_path, results_dir=tmp_path / "results").run(spec)
    assert not first.reused and first.result["test"] and (first.dir / "metrics.json").exists()

    def never(cfg):
        raise AssertionError("a finished run was trained again")

    again = Bench("t", out_dir=tmp_path, reuse=True).run(spec, never)
    assert again.reused and again.result["test"] == first.result["test"]
    other = RunSpec(SAMPLE, "sample", "sasrec", "default", 1, spec.overrides)  # never trained
    bench = Bench("t", out_dir=tmp_path, results_dir=tmp_path / "results", collect=True)
    assert bench.run(other, never).result is None and bench.missing == ["sample sasrec default seed 1"]
    bench.rows.append({"dataset": "sample", "model": "sasrec", "variant": "default", "seed": 0,
                       "metrics": {k: v for k, v in first.result["test"].items() if k.startswith("ndcg@")}})
    bench.save(done=False, notes="the table")
    doc = json.loads((tmp_path / "results" / "t.json").read_text())
    assert doc["notes"].startswith("**Partial") and "missing runs: sample sasrec default seed 1" in doc["notes"]
    assert "the table" in (tmp_path / "results" / "t.md").read_text()


def test_a_named_run_is_reused_from_another_folder_and_says_where(tmp_path):
    over = {"trainer.max_steps": 2, "trainer.epochs": 1}
    first = Bench("t", out_dir=tmp_path).run(RunSpec(SAMPLE, "sample", "sasrec", "a", 0, over, name="study-one-s0"))
    assert first.dir == tmp_path / "study-one-s0" and (first.dir / "metrics.json").exists()

    def never(cfg):
        raise AssertionError("a finished run was trained again")

    # the same settings under another study's name: found in the folder it was trained in
    again = Bench("t", out_dir=tmp_path, reuse=True).run(RunSpec(SAMPLE, "sample", "sasrec", "b", 0, over),
                                                          never, elsewhere=[tmp_path / "nowhere", first.dir])
    assert again.reused and again.dir == first.dir and again.result["test"] == first.result["test"]
    # other settings are never taken from there
    changed = Bench("t", out_dir=tmp_path, reuse=True, collect=True).run(
        RunSpec(SAMPLE, "sample", "sasrec", "b", 0, {**over, "trainer.lr": 1e-4}), never, elsewhere=[first.dir])
    assert changed.result is None


def test_timing_columns_read_the_rows_timing_with_their_own_format():
    rows = [{"dataset": "d", "model": "m", "variant": "v", "seed": s, "metrics": {"ndcg@5": 0.1 * (s + 1)},
             "timing": {"train_s": t}} for s, t in enumerate([10.0, 14.0])]
    table = seed_table(rows, [("NDCG", "ndcg@5", {}), ("train s", "timing:train_s", {}, ".1f")])
    assert table.splitlines()[2] == "| d | m | v | 0.1500 ± 0.0707 | 12.0 ± 2.8 | 2 |"


def test_tokenized_codes_of_another_tokenizer_seed_get_their_own_folder(tmp_path):
    from hgrec.benchmarking import tokenized

    cfg = tmp_path / "t.yaml"
    cfg.write_text("data: {dataset: sample}\nitems: {sources: [text]}\n"
                   "tokenizer: {method: random, levels: 3, codebook_size: 16}\nout_dir: unused\n")
    a = tokenized(cfg, "sample", None, tmp_path / "tok", method="random")
    b = tokenized(cfg, "sample", None, tmp_path / "tok", method="random", overrides={"tokenizer.seed": 1})
    assert Path(a).exists() and Path(b).exists() and "seed_1" in b and b.endswith("-s1/codes.parquet")
    import polars as pl

    assert pl.read_parquet(a)["code"].to_list() != pl.read_parquet(b)["code"].to_list()
