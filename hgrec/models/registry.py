"""One registry: model name -> (model class, config dataclass). `build_model` is the only way in."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from hgrec.config import from_dict

MODELS: dict[str, tuple[type, type]] = {}


def register(name: str, config_cls: type) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        if name in MODELS:
            raise ValueError(f"model {name!r} registered twice")
        MODELS[name] = (cls, config_cls)
        cls.registry_name = name
        return cls

    return deco


def model_config(name: str, values: dict[str, Any] | None = None, path: str = "model"):
    """The model's typed config from a dict; unknown keys raise naming their path."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(sorted(MODELS))}")
    return from_dict(MODELS[name][1], values or {}, path)


def native_task(name: str) -> str:
    """The task a registered model trains on by itself: next_item | slate | ctr."""
    return getattr(MODELS[name][0], "task", "next_item")


def needs_semantic_ids(name: str) -> bool:
    """Whether a slate model decodes semantic IDs (ListCVAE scores item embeddings instead)."""
    return getattr(MODELS[name][0], "needs_semantic_ids", native_task(name) == "slate")


def build_model(name: str, config, **dataset_meta):
    cls, config_cls = MODELS[name]
    if isinstance(config, dict):
        config = model_config(name, config)
    if not isinstance(config, config_cls):
        raise TypeError(f"{name} needs a {config_cls.__name__}, got {type(config).__name__}")
    return cls(config, **dataset_meta)


def config_dict(config) -> dict[str, Any]:
    return dataclasses.asdict(config)
