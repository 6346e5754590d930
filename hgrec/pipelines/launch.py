"""One launcher shared by `hgrec train` and `hgrec align`: the device, the DDP process group (under
`torchrun`), CPU threads and the seed, the run folder, and a task built by rank 0 first (it writes the
dataset cache that the other ranks then read: never two writers)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import torch

from hgrec.training.config import RunConfig
from hgrec.training.distributed import DistInfo, barrier, init_distributed, shutdown

T = TypeVar("T")


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("trainer.device=cuda but no CUDA device is visible")
    return name


def run_dir_for(cfg: RunConfig) -> Path:
    method = f"-{cfg.alignment.method}" if cfg.alignment is not None else ""
    name = cfg.trainer.run_name or f"{cfg.data.dataset}-{cfg.model_name}{method}-s{cfg.trainer.seed}"
    return Path(cfg.trainer.out_dir) / name


@contextlib.contextmanager
def launched(cfg: RunConfig) -> Iterator[tuple[DistInfo, str]]:
    """`with launched(cfg) as (info, device):` one process of a run, single or one rank of many."""
    device = resolve_device(cfg.trainer.device)
    info = init_distributed(device)
    try:
        if cfg.trainer.num_threads:
            torch.set_num_threads(cfg.trainer.num_threads)
        torch.manual_seed(cfg.trainer.seed)
        yield info, device
    finally:
        shutdown(info)


def main_rank_first(info: DistInfo, build: Callable[[], T]) -> T:
    """`build()` on rank 0, then (after a barrier) on the other ranks."""
    if info.is_main:
        out = build()
    barrier(info)
    if not info.is_main:
        out = build()
    return out
