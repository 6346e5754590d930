"""The training loop, as a story: restore the latest complete checkpoint, then
`while not done: step -> (save) -> at epoch end validate, keep the best, maybe stop early`,
then test the best model.

Everything a resumed run needs to continue exactly is in the checkpoint: model, optimizer,
scheduler, the RNG state, epoch and position inside the epoch (the epoch's sample order is a
pure function of seed and epoch, so "position" is just the step index). Under torchrun the same
code runs DDP: each rank takes a disjoint share of every global batch, the loss is normalised by
the *global* number of targets so gradients equal the single-process ones, and only rank 0
evaluates, logs and saves.

Batches (`epoch_batches`): a permutation seeded by (seed, epoch); with `length_bucketing`, chunks
of 50 batches are sorted by sequence length and cut into batches whose order is shuffled again, so
a batch holds sequences of similar length and is trimmed to little padding (Amazon sequences have
a median of 6 items in a 50-slot window). Ranks then split each *global* batch — torch's
DistributedSampler shards the epoch instead, which would make bucketing (and so the loss curve)
depend on the number of ranks.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from hgrec.training import checkpoint as ckpt
from hgrec.training.config import RunConfig
from hgrec.training.task import TrainingTask
from hgrec.training.distributed import DistInfo, all_gather_object, all_reduce_sum, barrier, broadcast_object
from hgrec.utils.atomic import atomic_write_text, recover_dir

LOWER_IS_BETTER = {"logloss"}
PREDICTIONS = "test_predictions.parquet"  # in the run folder: the tested model's test predictions (DESIGN §8)


@dataclasses.dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    step_in_epoch: int = 0  # batches of the current epoch already done
    global_step: int = 0
    best: float | None = None
    best_epoch: int = -1
    bad_evals: int = 0
    stopped: bool = False
    train_seconds: float = 0.0  # summed over every segment of a resumed run
    train_samples: int = 0


def lr_lambda(warmup: int, total: int, min_ratio: float) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


class Trainer:
    def __init__(self, cfg: RunConfig, task: TrainingTask, model: torch.nn.Module, run_dir: Path,
                 dist: DistInfo | None = None, device: str = "cpu",
                 callbacks: list[Callable[["Trainer"], None]] | None = None):
        if not isinstance(task, TrainingTask):
            missing = [m for m in ("meta", "init_model", "num_train", "train_lengths", "train_batch", "evaluate")
                       if not hasattr(task, m)]
            raise TypeError(f"{type(task).__name__} is not a TrainingTask: it lacks {', '.join(missing)}")
        self.cfg, self.task, self.run_dir, self.device = cfg, task, Path(run_dir), device
        self.dist = dist or DistInfo()
        self.model = model.to(device)
        self.callbacks = callbacks or []
        t = cfg.trainer
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=t.lr, betas=t.betas)
        world = self.dist.world_size
        if t.batch_size % world:
            raise ValueError(f"trainer.batch_size {t.batch_size} is not divisible by the {world} DDP ranks")
        self.num_train = task.num_train()
        self.lengths = task.train_lengths() if t.length_bucketing else None
        self.steps_per_epoch = math.ceil(self.num_train / t.batch_size)
        total = self.steps_per_epoch * t.epochs if t.max_steps is None else min(t.max_steps, self.steps_per_epoch * t.epochs)
        self.total_steps = total
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(t.warmup_steps, total, t.min_lr_ratio))
        if self.dist.enabled:
            self.ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=None if device == "cpu" else [self.dist.local_rank])
        else:
            self.ddp = model
        self.state = TrainState()
        self.writer = None
        self.log_path = self.run_dir / "train_log.jsonl"

    # ---- checkpoints ----
    def _meta(self) -> dict:
        return {"model_name": self.cfg.model_name, "run_config": self.cfg.to_dict(), "dataset_meta": self.task.meta,
                "task": self.task.name}

    def save(self) -> None:
        """Called on every rank at the same points: each rank's RNG goes into the checkpoint."""
        rng = all_gather_object(
            {"torch": torch.get_rng_state(),
             "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}, self.dist)
        if not self.dist.is_main:
            return
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng_torch": [r["torch"] for r in rng],  # one per rank
            "rng_cuda": [r["cuda"] for r in rng],
            "train_state": dataclasses.asdict(self.state),
        }
        path = self.run_dir / "checkpoints" / f"step_{self.state.global_step:06d}"
        ckpt.save_checkpoint(path, self.model, self._meta(), state)
        ckpt.prune(self.run_dir, self.cfg.trainer.keep_last)

    def restore(self) -> bool:
        """Load the latest readable checkpoint (falling back to older ones); False if there is none."""
        recover_dir(self.run_dir / "best")
        for path in reversed(ckpt.step_dirs(self.run_dir)):
            try:
                meta = ckpt.read_meta(path)
            except Exception as e:  # a damaged checkpoint: try the one before
                print(f"warning: skipping unreadable checkpoint {path} ({e})", file=sys.stderr)
                continue
            mine, theirs = self.cfg.to_dict(), meta["run_config"]
            for section in ("model", "data"):
                if not ckpt.same_part(self.cfg, theirs, section):
                    raise ValueError(f"--resume: {section} config differs from the checkpoint in {path} "
                                     f"({theirs[section]} vs {mine[section]}); use another trainer.run_name")
            try:
                state = ckpt.load_trainer_state(path)
                ckpt.load_weights(self.model, path)
            except Exception as e:
                print(f"warning: skipping unreadable checkpoint {path} ({e})", file=sys.stderr)
                continue
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            rng_torch, rng_cuda = state["rng_torch"], state["rng_cuda"]
            if isinstance(rng_torch, torch.Tensor):  # checkpoints of hgrec before per-rank RNG: one state
                rng_torch, rng_cuda = [rng_torch], [rng_cuda]
            rank = self.dist.rank if len(rng_torch) == self.dist.world_size else 0
            torch.set_rng_state(rng_torch[rank])
            if rng_cuda[rank] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng_cuda[rank])
            self.state = TrainState(**state["train_state"])
            # judge early stopping under *this* run's settings: resuming a run that stopped early with a
            # larger patience (or 0 = never) continues it exactly as if it had been started with that patience
            t = self.cfg.trainer
            self.state.stopped = t.patience > 0 and self.state.bad_evals >= t.patience
            if self.log_path.exists() and self.dist.is_main:  # drop log lines of steps that will be redone
                kept = []
                for ln in self.log_path.read_text().splitlines():
                    try:
                        if json.loads(ln).get("step", 0) <= self.state.global_step:
                            kept.append(ln)
                    except json.JSONDecodeError:  # a line cut short by the kill
                        continue
                atomic_write_text(self.log_path, "".join(ln + "\n" for ln in kept))
            return True
        return False

    def _prepare_run_dir(self, resume: bool) -> None:
        """A fresh run never mixes with an old one: refuse a used folder unless told to overwrite."""
        used = [n for n in ("checkpoints", "best", "metrics.json", "train_log.jsonl") if (self.run_dir / n).exists()]
        if resume or not used:
            return
        if not self.cfg.trainer.overwrite:
            raise FileExistsError(f"run folder {self.run_dir} already holds a run ({', '.join(used)}): pass --resume "
                                  "to continue it, trainer.overwrite=true to replace it, or another trainer.run_name")
        if self.dist.is_main:
            for n in ("checkpoints", "best", "tb"):
                shutil.rmtree(self.run_dir / n, ignore_errors=True)
            for n in ("metrics.json", "train_log.jsonl"):
                (self.run_dir / n).unlink(missing_ok=True)

    # ---- the loop ----
    def _log(self, record: dict) -> None:
        if not self.dist.is_main:
            return
        with open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for k, v in record.items():
                if k not in ("step", "epoch") and isinstance(v, (int, float)):
                    self.writer.add_scalar(k, v, record["step"])

    def _autocast(self):
        use = self.device == "cuda" and self.cfg.trainer.bf16
        return torch.autocast(device_type="cuda" if self.device == "cuda" else "cpu", dtype=torch.bfloat16, enabled=use)

    def train_step(self, idx: np.ndarray) -> float:
        batch = self.task.train_batch(idx, self.device)
        with self._autocast():
            loss_sum, count = self.ddp(batch)
        n_global = all_reduce_sum(count.detach().float(), self.dist).clamp(min=1)
        # DDP averages gradients over ranks, so scale by world size: grads = d(global mean loss).
        loss = loss_sum * (self.dist.world_size / n_global)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.trainer.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.trainer.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return float(all_reduce_sum(loss_sum.detach().float(), self.dist) / n_global)

    def validate(self) -> dict:
        t = self.cfg.trainer
        return self.task.evaluate(self.model, "valid", ks=t.ks, batch_size=t.eval_batch_size, device=self.device)

    def fit(self, resume: bool = False) -> dict:
        t = self.cfg.trainer
        self._prepare_run_dir(resume)
        barrier(self.dist)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.dist.is_main:
            atomic_write_text(self.run_dir / "config.json", json.dumps(self._meta(), indent=1))
            if t.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.run_dir / "tb"))
        restored = self.restore() if resume else False
        if resume and not restored and self.dist.is_main:  # a scheduler may always pass --resume: say it loudly
            print(f"warning: --resume found no checkpoint in {self.run_dir / 'checkpoints'}: training from the "
                  "start", file=sys.stderr)
        if not restored and self.dist.is_main and self.log_path.exists():
            self.log_path.unlink()
        barrier(self.dist)
        show = t.progress and self.dist.is_main and sys.stderr.isatty()
        s = self.state
        while not s.stopped and s.epoch < t.epochs and not self._max_steps_done():
            batches = self.epoch_batches(s.epoch)  # this rank's share, fixed by (seed, epoch)
            bar = None
            if show:
                from tqdm import tqdm

                bar = tqdm(total=self.steps_per_epoch, initial=s.step_in_epoch, desc=f"epoch {s.epoch + 1}", leave=False)
            self.model.train()
            while s.step_in_epoch < self.steps_per_epoch and not self._max_steps_done():
                idx = batches[s.step_in_epoch]
                t0 = time.perf_counter()
                loss = self.train_step(idx)
                s.train_seconds += time.perf_counter() - t0
                s.train_samples += len(idx) * self.dist.world_size
                s.step_in_epoch += 1
                s.global_step += 1
                self._log({"step": s.global_step, "epoch": s.epoch, "train/loss": loss,
                           "train/lr": self.scheduler.get_last_lr()[0]})
                if bar:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}")
                if t.save_every_steps and s.global_step % t.save_every_steps == 0:
                    self.save()
                for cb in self.callbacks:
                    cb(self)
            if bar:
                bar.close()
            if s.step_in_epoch < self.steps_per_epoch:  # stopped by max_steps inside an epoch
                break
            s.epoch += 1
            s.step_in_epoch = 0
            if s.epoch % t.eval_every == 0 or s.epoch == t.epochs:
                self._validate_and_maybe_stop()
            self.save()
        barrier(self.dist)
        return self.finish()

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """This rank's sample indices for each step of `epoch` (a pure function of seed and epoch)."""
        t, world, rank = self.cfg.trainer, self.dist.world_size, self.dist.rank
        g = torch.Generator().manual_seed(t.seed * 1_000_003 + epoch)
        perm = torch.randperm(self.num_train, generator=g).numpy()
        B = t.batch_size
        if self.lengths is not None:
            chunk = B * 50
            parts = [p[np.argsort(self.lengths[p], kind="stable")] for p in np.split(perm, range(chunk, len(perm), chunk))]
            batches = [b for p in parts for b in np.split(p, range(B, len(p), B))]
            order = torch.randperm(len(batches), generator=g).numpy()
            batches = [batches[i] for i in order]
        else:
            batches = np.split(perm, range(B, len(perm), B))
        out = []
        for b in batches:
            if len(b) < world:  # every rank must take part in every step: wrap around
                b = np.resize(b, world)
            out.append(b[rank::world])
        return out

    def _max_steps_done(self) -> bool:
        return self.cfg.trainer.max_steps is not None and self.state.global_step >= self.cfg.trainer.max_steps

    def _validate_and_maybe_stop(self) -> None:
        t, s = self.cfg.trainer, self.state
        stop = False
        if self.dist.is_main:
            metrics = self.validate()
            value = metrics[t.metric]
            better = s.best is None or (value < s.best if t.metric in LOWER_IS_BETTER else value > s.best)
            if better:
                s.best, s.best_epoch, s.bad_evals = value, s.epoch, 0
                ckpt.save_checkpoint(self.run_dir / "best", self.model, self._meta(),
                                     extra_json={"metrics.json": {"epoch": s.epoch, "valid": metrics}})
            else:
                s.bad_evals += 1
            stop = t.patience > 0 and s.bad_evals >= t.patience
            self._log({"step": s.global_step, "epoch": s.epoch, **{f"valid/{k}": v for k, v in metrics.items()}})
        s.stopped = bool(broadcast_object(stop, self.dist))
        s.best = broadcast_object(s.best, self.dist)

    def finish(self) -> dict:
        """Test the best validation model (the last one if no validation ran) and write metrics.json."""
        t = self.cfg.trainer
        result: dict = {}
        if self.dist.is_main:
            best = self.run_dir / "best"
            recover_dir(best)
            if best.exists():
                ckpt.load_weights(self.model, best)
            valid = self.task.evaluate(self.model, "valid", ks=t.ks, batch_size=t.eval_batch_size, device=self.device)
            # the test predictions of the tested model (DESIGN §8), written by the same pass that measures it
            preds = str(self.run_dir / PREDICTIONS) if getattr(self.task, "writes_predictions", True) else None
            test = self.task.evaluate(self.model, "test", ks=t.ks, batch_size=t.eval_batch_size, device=self.device,
                                      predictions=preds)
            result = {"valid": valid, "test": test, "best_epoch": self.state.best_epoch, "epochs": self.state.epoch,
                      "steps": self.state.global_step,
                      "train_seconds": self.state.train_seconds,
                      "train_samples_per_s": (self.state.train_samples / self.state.train_seconds
                                              if self.state.train_seconds else None),
                      "params": sum(p.numel() for p in self.model.parameters())}
            atomic_write_text(self.run_dir / "metrics.json", json.dumps(result, indent=1))
            if self.writer is not None:
                self.writer.close()
        barrier(self.dist)
        return result
