"""benchmarks/slate_quality.py --variants: every variant is a valid config of its model on both datasets."""

import importlib.util
from pathlib import Path

import pytest

from hgrec.benchmarking import override_list
from hgrec.pipelines import load_tokenize_config
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
    assert set(v) <= {"over", "sources", "method", "checkpoint", "model", "sid_set"}
    if "sid_set" in v:  # tokenizer overrides: a valid tokenize config that differs from the default in them
        base = load_tokenize_config(ROOT / "configs" / dataset / "crq_vae.yaml", [])
        tok = load_tokenize_config(ROOT / "configs" / dataset / "crq_vae.yaml", override_list(v["sid_set"]))
        for key, value in v["sid_set"].items():
            section, field = key.split(".", 1)
            assert getattr(getattr(tok, section), field) == value != getattr(getattr(base, section), field)
    assert cfg.trainer.eval_every == 1 and cfg.trainer.epochs >= 40  # early stopping decides, not the cap


class _FakeTask:
    """Validation NDCG@5 peaks at beam 10; records every decode."""

    def __init__(self):
        self.calls = []

    def evaluate(self, model, split, *, ks, batch_size, device, beam=None, predictions=None):
        self.calls.append((split, beam))
        if predictions:
            Path(predictions).write_text(f"beam {beam}")
        return {"ndcg@5": {5: 0.02, 10: 0.03, 20: 0.03}[beam] + (0.001 if split == "test" else 0.0)}


def test_beam_selection_picks_the_best_validation_beam_and_caches_it(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    pred = tmp_path / "pred.parquet"
    task = _FakeTask()
    trained = {"beam": 5, "valid": 0.02, "test": {"ndcg@5": 0.021}}
    out = sq.beam_selection(tmp_path, task, None, [5, 10, 20], pred, trained)
    assert out["beam"] == 10  # 10 and 20 tie: the narrower beam
    assert out["test"]["ndcg@5"] == pytest.approx(0.031) and pred.read_text() == "beam 10"
    assert ("valid", 5) not in task.calls  # the training run's own beam is known from its metrics
    task.calls.clear()
    assert sq.beam_selection(tmp_path, task, None, [5, 10, 20], pred, trained)["beam"] == 10
    assert task.calls == []  # cached in beam_selection.json
