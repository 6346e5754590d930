"""Preference post-training (HiGR §3.4), single process or one rank under torchrun (DDP):

    python -m hgrec.align --config configs/align/kuairand-pure/orpo.yaml [--resume] [key.path=value ...]
    hgrec align --config configs/align/kuairand-pure/orpo.yaml data.root=../shared/data/kuairand-pure

The run's `alignment.init` is a pre-trained HiGR checkpoint (`runs/<run>/best`). Its weights start
the policy (and, for DPO, the frozen reference); the run's `model` and `data` sections must
describe the same model and data. The ordinary Trainer then runs the `PreferenceTask` through a
`PreferenceModel`: same checkpoints, `--resume`, early stopping on validation NDCG@5, DDP. The
checkpoints it writes are plain HiGR checkpoints. Besides `metrics.json` the run folder gets
`alignment.json` (pair counts per negative kind, reference forward passes, preference accuracy).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hgrec.alignment.model import PreferenceModel
from hgrec.data import load_dataset
from hgrec.models import build_model
from hgrec.pipelines.launch import launched, main_rank_first, run_dir_for
from hgrec.pipelines.preference import PreferenceTask
from hgrec.tokenizers.codes import read_codes
from hgrec.training import checkpoint as ckpt
from hgrec.training.config import ConfigError, RunConfig
from hgrec.training.trainer import Trainer
from hgrec.utils.atomic import atomic_write_text

MAY_DIFFER = {"dropout"}  # model keys that do not change the weights


def check_init(cfg: RunConfig) -> dict:
    """The init checkpoint exists, holds a HiGR, and matches the run's model section -> its meta."""
    a = cfg.alignment
    if a is None:
        raise ConfigError("alignment: missing section; an alignment run needs at least alignment.init "
                          "(see configs/align/kuairand-pure/orpo.yaml)")
    if not a.init:
        raise ConfigError("alignment.init: missing; set it to the checkpoint folder of a pre-trained HiGR "
                          "(e.g. runs/kuairand-pure-higr-s0/best, written by hgrec train)")
    init = Path(a.init)
    if not (init / "config.json").is_file() or not (init / "model.safetensors").is_file():
        raise ConfigError(f"alignment.init: no checkpoint at {init} (expected a folder with config.json and "
                          "model.safetensors, e.g. runs/<run>/best; pre-train one with hgrec train --config "
                          "configs/slates/<dataset>/higr.yaml)")
    try:
        meta = ckpt.read_meta(init)
    except ValueError as e:
        raise ConfigError(f"alignment.init: {e}") from e
    if meta.get("model_name") != "higr":
        raise ConfigError(f"alignment.init: {init} holds a {meta.get('model_name')!r} checkpoint; alignment "
                          "post-trains HiGR (a checkpoint of model.name: higr)")
    if cfg.model_name != "higr":
        raise ConfigError(f"model.name: alignment post-trains HiGR, got {cfg.model_name!r}")
    theirs, mine = meta["run_config"]["model"], cfg.to_dict()["model"]
    for key in sorted(set(theirs) | set(mine)):
        if key not in MAY_DIFFER and theirs.get(key) != mine.get(key):
            raise ConfigError(f"model.{key}: {mine.get(key)!r} here but {theirs.get(key)!r} in the checkpoint "
                              f"{init}; the model section must describe the pre-trained model")
    return meta


def _check_resume(cfg: RunConfig, run_dir: Path) -> None:
    """The Trainer checks model/data on --resume; the alignment section must match too."""
    steps = ckpt.step_dirs(run_dir)
    if steps:
        theirs = ckpt.read_meta(steps[-1])["run_config"].get("alignment")
        if theirs != cfg.to_dict()["alignment"]:
            raise ConfigError(f"--resume: alignment config differs from the checkpoint in {steps[-1]} "
                              f"({theirs} vs {cfg.to_dict()['alignment']}); use another trainer.run_name")


def make_preference_task(cfg: RunConfig) -> PreferenceTask:
    if not cfg.data.semantic_ids:
        raise ConfigError("data.semantic_ids: missing; HiGR needs the codes.parquet it was trained with")
    ds = load_dataset(cfg.data.dataset, cfg.data.root, cache_dir=cfg.data.cache)
    codes, vocab = read_codes(cfg.data.semantic_ids, ds)
    return PreferenceTask(ds, cfg.data, codes, vocab, cfg.alignment, seed=cfg.trainer.seed)


def build_policy(cfg: RunConfig, task: PreferenceTask, meta: dict) -> torch.nn.Module:
    """The pre-trained HiGR of `alignment.init`, checked against the task's data and semantic IDs."""
    if task.meta != meta["dataset_meta"]:
        raise ConfigError(f"data: the dataset and semantic IDs give {task.meta}, but the checkpoint "
                          f"{cfg.alignment.init} was trained on {meta['dataset_meta']}")
    policy = build_model("higr", cfg.model, **task.meta)
    ckpt.load_weights(policy, Path(cfg.alignment.init))
    if not torch.equal(policy.sid.codes[1:], torch.from_numpy(task.codes)):
        raise ConfigError(f"data.semantic_ids: {cfg.data.semantic_ids} holds other codes than the ones "
                          f"{cfg.alignment.init} was trained with")
    return policy


def _log_stats(trainer: Trainer) -> None:
    """Callback: preference accuracy, margin and -log pi(y+) of the step into train_log.jsonl."""
    stats = trainer.model.pop_stats()
    s = trainer.state
    trainer._log({"step": s.global_step, "epoch": s.epoch, **{f"align/{k}": v for k, v in stats.items()}})


def align(cfg: RunConfig, resume: bool = False, callbacks=None) -> dict:
    meta = check_init(cfg)
    run_dir = run_dir_for(cfg)
    if resume:
        _check_resume(cfg, run_dir)
    with launched(cfg) as (info, device):
        task = main_rank_first(info, lambda: make_preference_task(cfg))
        a = cfg.alignment
        model = PreferenceModel(build_policy(cfg, task, meta), a.method, a.alpha, a.beta, a.gamma)
        trainer = Trainer(cfg, task, model, run_dir, info, device, [_log_stats, *(callbacks or [])])
        result = trainer.fit(resume=resume)
        if info.is_main:
            result["alignment"] = {"method": a.method, **task.summary(),
                                   "reference_forwards": model.reference_forwards,
                                   "policy_forwards": model.policy_forwards}
            atomic_write_text(run_dir / "alignment.json", json.dumps(result["alignment"], indent=1))
        return result
