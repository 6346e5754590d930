"""`hgrec train`: config -> task -> model -> Trainer, single process or one rank under `torchrun`.

    from hgrec.pipelines import load_config, train
    result = train(load_config("configs/amazon-beauty/sasrec.yaml", ["trainer.lr=3e-4"]))
"""

from __future__ import annotations

from hgrec.models import build_model
from hgrec.pipelines.launch import launched, main_rank_first, run_dir_for
from hgrec.pipelines.tasks import make_task
from hgrec.training.config import ConfigError, RunConfig
from hgrec.training.trainer import Trainer


def train(cfg: RunConfig, resume: bool = False, callbacks=None) -> dict:
    if cfg.alignment is not None:
        raise ConfigError("this config has an alignment: section: post-train with `hgrec align --config ...`")
    with launched(cfg) as (info, device):
        task = main_rank_first(info, lambda: make_task(cfg))
        model = build_model(cfg.model_name, cfg.model, **task.meta)
        task.init_model(model)
        return Trainer(cfg, task, model, run_dir_for(cfg), info, device, callbacks).fit(resume=resume)
