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
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

import hgrec
from hgrec.data.errors import DataError
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


def read_json_file(path: Path) -> Any:
    """A JSON file of a checkpoint or run; cut-off, non-UTF-8 or unreadable -> DataError naming the file and line."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}): damaged file?", path) from e
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON: {e.msg} (column {e.colno}): damaged or cut-off file?", path, e.lineno) from e
    except OSError as e:
        raise DataError(f"cannot read ({e.strerror or e})", path) from e


def read_meta(path: Path) -> dict[str, Any]:
    cfg = Path(path) / "config.json"
    if not cfg.exists():
        raise FileNotFoundError(f"{path}: not a checkpoint (no config.json)")
    meta = read_json_file(cfg)
    if not isinstance(meta, dict):
        raise DataError(f"expected a JSON object, got {type(meta).__name__}", cfg)
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise DataError(f"checkpoint schema {meta.get('schema_version')} != {SCHEMA_VERSION}", cfg)
    for key, kind in (("model_name", str), ("run_config", dict), ("dataset_meta", dict)):
        if not isinstance(meta.get(key), kind):
            raise DataError(f"key {key!r}: missing or not a {'string' if kind is str else 'JSON object'}", cfg)
    return meta


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Weights into `model`; a damaged file, a shape that does not fit, or a NaN/inf value -> DataError naming
    the file (and the tensor)."""
    file = Path(path) / "model.safetensors"
    if not file.is_file():
        raise DataError("file not found", file)
    try:
        missing, unexpected = load_model(model, str(file), strict=True)
    except SafetensorError as e:
        raise DataError(f"not a readable safetensors file ({e}): damaged or cut-off?", file) from e
    except RuntimeError as e:  # load_state_dict: shapes that do not fit; keep the first named mismatch
        why = next((ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()), str(e))
        raise DataError(f"weights do not fit the model: {why}", file) from e
    if missing or unexpected:
        raise DataError(f"weights do not match the model (missing {missing}, unexpected {unexpected})", file)
    check_finite(model, file)


def check_finite(model: torch.nn.Module, where) -> None:
    """Refuse weights holding NaN or inf (they would answer empty slates and zero metrics, silently)."""
    for name, t in model.state_dict().items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise DataError(f"tensor {name!r} holds {bad} NaN/inf value(s) of {t.numel()}: damaged weights", where)


def load_trainer_state(path: Path) -> dict[str, Any]:
    file = Path(path) / "trainer.pt"
    try:
        return torch.load(file, weights_only=True)
    except FileNotFoundError as e:
        raise DataError("file not found", file) from e
    except Exception as e:  # noqa: BLE001 — torch raises RuntimeError, UnpicklingError, EOFError... on a bad file
        raise DataError(f"cannot load ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}): "
                        "damaged or cut-off?", file) from e


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
