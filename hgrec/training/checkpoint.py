"""Checkpoints in the layout people know from Hugging Face, written atomically, loadable without pickle.

    <run>/checkpoints/step_000123/
        model.safetensors   weights (safetensors' save_model: handles tied embeddings)
        config.json         model name + resolved run config + dataset meta + hgrec/schema version
        trainer.pt          optimizer, scheduler, RNG, epoch/step/data position, early-stopping state:
                            plain types and tensors only -> torch.load(weights_only=True)
    <run>/best/             model.safetensors + config.json + metrics.json of the best validation epoch

Each directory is built under a temporary name and renamed into place; the latest `keep_last`
step directories are kept.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

import hgrec
from hgrec.utils.atomic import atomic_dir

SCHEMA_VERSION = 1
_STEP = re.compile(r"^step_(\d+)$")


def save_checkpoint(path: Path, model: torch.nn.Module, meta: dict[str, Any], trainer_state: dict | None = None,
                    extra_json: dict[str, dict] | None = None) -> Path:
    with atomic_dir(path) as tmp:
        save_model(model, str(tmp / "model.safetensors"))
        meta = {"hgrec_version": hgrec.__version__, "schema_version": SCHEMA_VERSION, **meta}
        (tmp / "config.json").write_text(json.dumps(meta, indent=1))
        if trainer_state is not None:
            torch.save(trainer_state, tmp / "trainer.pt")
        for name, obj in (extra_json or {}).items():
            (tmp / name).write_text(json.dumps(obj, indent=1))
    return path


def step_dirs(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    dirs = [p for p in root.iterdir() if _STEP.match(p.name) and (p / "trainer.pt").exists()]
    return sorted(dirs, key=lambda p: int(_STEP.match(p.name).group(1)))


def prune(run_dir: Path, keep_last: int) -> None:
    for old in step_dirs(run_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)


def read_meta(path: Path) -> dict[str, Any]:
    cfg = Path(path) / "config.json"
    if not cfg.exists():
        raise FileNotFoundError(f"{path}: not a checkpoint (no config.json)")
    meta = json.loads(cfg.read_text())
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: checkpoint schema {meta.get('schema_version')} != {SCHEMA_VERSION}")
    return meta


def load_weights(model: torch.nn.Module, path: Path) -> None:
    missing, unexpected = load_model(model, str(Path(path) / "model.safetensors"), strict=True)
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not match the model (missing {missing}, unexpected {unexpected})")


def load_trainer_state(path: Path) -> dict[str, Any]:
    return torch.load(Path(path) / "trainer.pt", weights_only=True)


# Trainer fields that say where and how a run was made, not what was trained.
RUN_ONLY = frozenset({"overwrite", "progress", "tensorboard", "num_threads", "device", "out_dir", "run_name"})


def finished_run(cfg, run_dir: str | Path, ignore: dict[str, set[str]] | None = None) -> dict | None:
    """metrics.json of a run in `run_dir` that finished (has test metrics) with `cfg`'s settings, else None.

    Settings are compared part by part (model, data, trainer, ...) from the run's config.json, skipping the
    trainer's RUN_ONLY fields and any `ignore[part]` fields. A field the run's config lacks was added to
    hgrec after the run: the run used that field's default, so it matches only if `cfg` holds the default.
    Benchmarks use it to pick up finished runs (`--reuse`) instead of training them again."""
    run_dir = Path(run_dir)
    path, conf = run_dir / "metrics.json", run_dir / "config.json"
    if not path.exists() or not conf.exists():
        return None
    done = json.loads(path.read_text())
    theirs = json.loads(conf.read_text()).get("run_config", {})
    mine = json.loads(json.dumps(cfg.to_dict()))  # tuples -> lists, as in the file
    skip = {"trainer": set(RUN_ONLY) | set((ignore or {}).get("trainer", ())),
            **{k: set(v) for k, v in (ignore or {}).items() if k != "trainer"}}
    for part, fields in skip.items():
        theirs[part] = {k: v for k, v in theirs.get(part, {}).items() if k not in fields}
        mine[part] = {k: v for k, v in mine.get(part, {}).items() if k not in fields}
    return done if "test" in done and _same_settings(mine, theirs, _defaults(cfg)) else None


def same_part(cfg, theirs: dict, part: str) -> bool:
    """Whether `cfg`'s `part` (model, data, ...) equals that part of a saved run config `theirs`; a field the
    saved config lacks was added to hgrec later and counts as its default (as in `finished_run`)."""
    mine = json.loads(json.dumps(cfg.to_dict()))
    return _same_settings({part: mine.get(part, {})}, {part: theirs.get(part, {})}, _defaults(cfg))


def _defaults(cfg) -> dict:
    """The class defaults of each part of a run config, as JSON values (what an older run used for a field
    it did not have yet)."""
    out = {}
    for part in ("model", "data", "trainer", "alignment"):
        obj = getattr(cfg, part, None)
        try:
            out[part] = json.loads(json.dumps(dataclasses.asdict(type(obj)())))
        except TypeError:  # not a dataclass, or a field without a default
            out[part] = {}
    return out


def _same_settings(mine: dict, theirs: dict, defaults: dict) -> bool:
    for k in mine.keys() | theirs.keys():
        if k not in mine:
            return False  # a field hgrec no longer has: the run cannot be reproduced by this config
        d = defaults.get(k) if isinstance(defaults, dict) else None
        if k not in theirs:
            if d is None and not (isinstance(defaults, dict) and k in defaults):
                return False
            if mine[k] != d:
                return False
        elif isinstance(mine[k], dict) and isinstance(theirs[k], dict):
            if not _same_settings(mine[k], theirs[k], d if isinstance(d, dict) else {}):
                return False
        elif mine[k] != theirs[k]:
            return False
    return True
