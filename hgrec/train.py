"""Entry point for training, single process or under torchrun (DDP):

    python -m hgrec.train --config configs/amazon-beauty/sasrec.yaml [--resume] [key.path=value ...]
    torchrun --nproc-per-node 8 -m hgrec.train --config ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from hgrec.data import load_dataset
from hgrec.models import MODELS, build_model
from hgrec.tokenizers.pipeline import read_codes
from hgrec.training.config import ConfigError, RunConfig, load_config
from hgrec.training.distributed import barrier, init_distributed, shutdown
from hgrec.training.tasks import NextItemTask, SlateTask
from hgrec.training.trainer import Trainer


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("trainer.device=cuda but no CUDA device is visible")
    return name


def make_task(cfg: RunConfig):
    ds = load_dataset(cfg.data.dataset, cfg.data.root, cache_dir=cfg.data.cache)
    native = getattr(MODELS[cfg.model_name][0], "task", "next_item")
    if native == "ctr":  # HPGR and the CTR baselines: exposures with sessions (hgrec/training/ctr_tasks.py)
        from hgrec.training.ctr_tasks import make_ctr_task

        return make_ctr_task(ds, cfg)
    protocol = native if cfg.data.protocol == "auto" else cfg.data.protocol
    if protocol == "next_item" and native == "slate":
        raise ValueError(f"{cfg.model_name} generates slates: use data.protocol=slate (or auto)")
    if protocol == "slate":
        needs_sids = getattr(MODELS[cfg.model_name][0], "needs_semantic_ids", True)
        if native == "slate" and needs_sids and not cfg.data.semantic_ids:
            raise ValueError(f"{cfg.model_name} needs semantic IDs: set data.semantic_ids to the codes.parquet "
                             "written by `hgrec tokenize --config ...`")
        codes, vocab = read_codes(cfg.data.semantic_ids, ds) if cfg.data.semantic_ids else (None, None)
        return SlateTask(ds, cfg.data, codes, vocab, next_item=native == "next_item")
    return NextItemTask(ds, cfg.data.max_len, cfg.data.mask_history)


def run_dir_for(cfg: RunConfig) -> Path:
    method = f"-{cfg.alignment.method}" if cfg.alignment is not None else ""
    name = cfg.trainer.run_name or f"{cfg.data.dataset}-{cfg.model_name}{method}-s{cfg.trainer.seed}"
    return Path(cfg.trainer.out_dir) / name


def train(cfg: RunConfig, resume: bool = False, callbacks=None) -> dict:
    if cfg.alignment is not None:
        raise ConfigError("this config has an alignment: section: post-train with `hgrec align --config ...`")
    device = resolve_device(cfg.trainer.device)
    info = init_distributed(device)
    try:
        if cfg.trainer.num_threads:
            torch.set_num_threads(cfg.trainer.num_threads)
        torch.manual_seed(cfg.trainer.seed)
        # Rank 0 builds the dataset cache first; the others then read it (no two writers).
        if info.is_main:
            task = make_task(cfg)
        barrier(info)
        if not info.is_main:
            task = make_task(cfg)
        model = build_model(cfg.model_name, cfg.model, **task.meta)
        if hasattr(task, "init_model"):
            task.init_model(model)
        trainer = Trainer(cfg, task, model, run_dir_for(cfg), info, device, callbacks)
        return trainer.fit(resume=resume)
    finally:
        shutdown(info)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Train any registered hgrec model.")
    ap.add_argument("--config", required=True)
    ap.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    ap.add_argument("overrides", nargs="*", help="key.path=value")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    result = train(cfg, args.resume)
    if result:
        print({k: round(v, 4) for k, v in result["test"].items() if "@" in k or k in ("mrr", "auc", "gauc", "logloss")})


if __name__ == "__main__":
    sys.exit(main())
