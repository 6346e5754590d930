"""Strict typed configs: every shipped YAML loads; unknown keys and bad values name their path."""

from pathlib import Path

import pytest

from hgrec.training.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def _is_tokenize(p: Path) -> bool:
    # tokenizer runs (hgrec tokenize, and the demo's own) have a top-level `tokenizer:` section
    return any(line.startswith("tokenizer:") for line in p.read_text().splitlines())


SHIPPED = sorted([*(ROOT / "configs").rglob("*.yaml"), *(ROOT / "hgrec" / "configs").rglob("*.yaml")])
TRAIN_CONFIGS = [p for p in SHIPPED if not _is_tokenize(p)]
TOKENIZE_CONFIGS = [p for p in SHIPPED if _is_tokenize(p)]


@pytest.mark.parametrize("path", TOKENIZE_CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_tokenize_config_loads(path):
    from hgrec.pipelines.tokenize import load_tokenize_config

    first = path.read_text().splitlines()[0]
    assert first.startswith("# hgrec "), f"{path}: first line must be the command"
    run = load_tokenize_config(path)
    assert run.tokenizer.levels == 3  # the paper's D
    # the paper's K, or 64 for ML-100K's 1,682 movies (docs/semantic_ids.md)
    assert run.tokenizer.codebook_size == (64 if run.data.dataset == "ml-100k" else 256)


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_config_loads_and_documents_its_command(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# hgrec ") or first.startswith("# python "), f"{path}: first line must be the command"
    cfg = load_config(path)
    assert cfg.data.dataset and cfg.model_name


def test_overrides_and_types(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: {name: sasrec}\ntrainer: {lr: 1.0e-3}\n")
    cfg = load_config(p, ["trainer.lr=3e-4", "model.head.loss=sampled", "data.max_len=20", "trainer.ks=[1,5]",
                                   "trainer.metric=ndcg@5"])
    assert cfg.trainer.lr == 3e-4 and cfg.model.head.loss == "sampled" and cfg.data.max_len == 20
    assert cfg.trainer.ks == (1, 5)
    assert load_config(p, ["data.features=[counters,user]"]).data.features == ("user", "counters")  # canonical order


@pytest.mark.parametrize("override,msg", [
    ("trainer.lrr=1", r"trainer\.lrr: unknown key; known: .*lr"),
    ("model.head.los=ce", r"model\.head\.los: unknown key"),
    ("trainer.epochs=many", r"trainer\.epochs: expected an integer"),
    ("trainer.epochs=0", r"trainer\.epochs must be >= 1"),
    ("model.head.loss=mse", r"loss must be ce, sampled or bce"),
    ("model.name=nope", r"model\.name: unknown model 'nope'"),
    ("data.max_len=0", r"data\.max_len must be >= 1"),
    ("trainer.metric=accuracy", r"not a known metric"),
    ("data.features=[user,weather]", r"data\.features: unknown group\(s\) \['weather'\]"),
])
def test_bad_config_names_the_path(tmp_path, override, msg):
    p = tmp_path / "c.yaml"
    p.write_text("model: {name: sasrec}\n")
    with pytest.raises(ConfigError, match=msg):
        load_config(p, [override])


def test_round_trip_through_the_checkpoint_dict(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: {name: hstu, n_heads: 4}\ndata: {dataset: ml-100k, max_len: 200}\n")
    cfg = load_config(p)
    again = load_config(raw=cfg.to_dict())
    assert again == cfg
