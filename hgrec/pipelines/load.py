"""Rebuild the model and task of a checkpoint (for `hgrec evaluate` and batch inference)."""

from __future__ import annotations

from pathlib import Path

from hgrec.models import build_model
from hgrec.pipelines.tasks import make_task
from hgrec.training import checkpoint as ckpt
from hgrec.training.config import load_config


def load_for_eval(path: str | Path, root: str | Path | None = None, cache: str | Path | None = None):
    meta = ckpt.read_meta(Path(path))
    raw = meta["run_config"]
    cfg = load_config(raw=raw)
    if root is not None:
        cfg.data.root = str(root)
    if cache is not None:
        cfg.data.cache = str(cache)
    task = make_task(cfg)
    if task.meta != meta["dataset_meta"]:
        raise ValueError(f"{path}: the dataset now gives {task.meta}, the checkpoint was trained on {meta['dataset_meta']}")
    model = build_model(meta["model_name"], cfg.model, **task.meta)
    ckpt.load_weights(model, Path(path))
    model.eval()
    return cfg, task, model
