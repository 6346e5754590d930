"""benchmarks/slate_quality.py --variants: every variant is a valid config of its model on both datasets."""

import importlib.util
from pathlib import Path

import pytest

from hgrec.benchmarking import override_list
from hgrec.training.config import load_config

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("slate_quality", ROOT / "benchmarks" / "slate_quality.py")
sq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sq)


@pytest.mark.parametrize("dataset", ["kuairand-pure", "ml-100k"])
@pytest.mark.parametrize("name", list(sq.VARIANTS))
def test_variant_overrides_make_a_valid_higr_config(dataset, name):
    v = sq.VARIANTS[name]
    model = v.get("model", "higr")
    cfg = load_config(ROOT / "configs" / "slates" / dataset / f"{model}.yaml", override_list(v.get("over", {})))
    assert cfg.model_name == model
    m = cfg.to_dict()["model"]
    for key, value in v.get("over", {}).items():
        assert m[key.removeprefix("model.")] == value
    assert set(v) <= {"over", "sources", "method", "checkpoint", "model"}
    assert cfg.trainer.eval_every == 1 and cfg.trainer.epochs >= 40  # early stopping decides, not the cap
