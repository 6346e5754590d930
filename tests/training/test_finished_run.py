"""finished_run: a benchmark picks up a run only when it finished with the same settings."""

import json
from pathlib import Path

from hgrec.training.checkpoint import finished_run
from hgrec.training.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def _write_run(run_dir: Path, cfg, metrics: dict) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"model_name": "sasrec", "run_config": cfg.to_dict()}))
    (run_dir / "metrics.json").write_text(json.dumps(metrics))


def test_finished_run_matches_settings_not_places(tmp_path):
    cfg = load_config(ROOT / "configs" / "ml-100k" / "sasrec.yaml", ["trainer.epochs=3"])
    _write_run(tmp_path / "a", cfg, {"test": {"ndcg@10": 0.1}})
    assert finished_run(cfg, tmp_path / "a") == {"test": {"ndcg@10": 0.1}}
    # where and how it ran does not matter ...
    moved = load_config(ROOT / "configs" / "ml-100k" / "sasrec.yaml",
                        ["trainer.epochs=3", "trainer.out_dir=/elsewhere", "trainer.progress=false"])
    assert finished_run(moved, tmp_path / "a") is not None
    # ... what was trained does
    other = load_config(ROOT / "configs" / "ml-100k" / "sasrec.yaml", ["trainer.epochs=4"])
    assert finished_run(other, tmp_path / "a") is None
    assert finished_run(other, tmp_path / "a", {"trainer": {"epochs"}}) is not None


def test_unfinished_or_missing_runs_are_not_picked_up(tmp_path):
    cfg = load_config(ROOT / "configs" / "ml-100k" / "sasrec.yaml")
    _write_run(tmp_path / "killed", cfg, {"valid": {"ndcg@10": 0.1}})  # no test metrics: it did not finish
    assert finished_run(cfg, tmp_path / "killed") is None
    assert finished_run(cfg, tmp_path / "absent") is None


def test_a_field_added_after_the_run_matches_only_its_default(tmp_path):
    cfg = load_config(ROOT / "configs" / "ml-100k" / "hstu.yaml")
    old = cfg.to_dict()
    del old["model"]["attn_dropout"]  # the run predates the field
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps({"model_name": "hstu", "run_config": old}))
    (tmp_path / "old" / "metrics.json").write_text(json.dumps({"test": {"ndcg@10": 0.1}}))
    assert finished_run(cfg, tmp_path / "old") is not None  # default 0.0: what the old run did
    changed = load_config(ROOT / "configs" / "ml-100k" / "hstu.yaml", ["model.attn_dropout=0.5"])
    assert finished_run(changed, tmp_path / "old") is None
