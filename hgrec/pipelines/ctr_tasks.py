"""Tasks of the CTR models for the shared Trainer (same interface as `NextItemTask` / `SlateTask`).

- `CTRTask`: click prediction over every exposure (HPGR fine-tuning and the CTR baselines): batches
  of (history with sessions, candidate, label), evaluation = AUC, GAUC, log loss of a whole split.
  `init_model` starts HPGR from its pre-training checkpoint (`model.pretrained`).
- `MIMTask`: HPGR's stage 1, session-based Masked Item Modeling on the training period's exposure
  windows; validation/test mask the split's exposures (the future) and rank the catalogue for each.
Both are built by `make_ctr_task` (called from `make_task` in hgrec/pipelines/tasks.py for models whose `task` is "ctr").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hgrec.data.ctr_samples import ACTION_MASK, ctr_data, mim_windows, window_batch
from hgrec.data.dataset import Dataset
from hgrec.evaluation.ctr import evaluate_ctr, evaluate_masked_items, to_device, write_ctr_predictions
from hgrec.config import ConfigError


def make_ctr_task(ds: Dataset, cfg):
    codes = vocab = None
    if cfg.data.semantic_ids:
        from hgrec.tokenizers.codes import read_codes

        codes, vocab = read_codes(cfg.data.semantic_ids, ds)
    if getattr(cfg.model, "stage", "finetune") == "pretrain":
        return MIMTask(ds, cfg.data, cfg.model, codes, vocab)
    return CTRTask(ds, cfg.data, codes, vocab)


class _Base:
    def __init__(self, ds: Dataset, data_cfg, codes=None, vocab=None):
        self.ds, self.cfg = ds, data_cfg
        self.data = ctr_data(ds, data_cfg.max_len, data_cfg.label, int(round(data_cfg.session_gap_min * 60_000)),
                             features=tuple(data_cfg.features))
        self.codes, self.vocab = codes, vocab

    @property
    def meta(self) -> dict:
        meta = {"num_items": self.data.num_items, "max_len": self.data.max_len}
        if self.vocab is not None:
            meta["sid_vocab"] = self.vocab
        if self.data.features is not None and len(self.data.features):
            meta["feature_sizes"] = self.data.features.sizes
        return meta

    def init_model(self, model) -> None:
        sid = getattr(getattr(model, "tokens", None), "sid", None)
        if sid is not None:
            sid.set_codes(self.codes)


class CTRTask(_Base):
    name = "ctr"

    def init_model(self, model) -> None:
        super().init_model(model)
        path = getattr(getattr(model, "config", None), "pretrained", None)
        if path:
            load_pretrained(model, path, self.meta)

    def num_train(self) -> int:
        return len(self.data.train)

    def train_lengths(self) -> np.ndarray:
        if not hasattr(self, "_lengths"):
            self._lengths = self.data.history_lengths(self.data.train.rows)
        return self._lengths

    def train_batch(self, idx: np.ndarray, device: str) -> dict[str, torch.Tensor]:
        return to_device(self.data.batch(self.data.train.rows[idx]), device)

    def evaluate(self, model, split: str, *, ks=(), batch_size: int = 1024, device: str = "cpu",
                 predictions: str | None = None) -> dict[str, float]:
        metrics, probs = evaluate_ctr(model, self.data, split, batch_size=batch_size, device=device)
        if predictions:
            s, c = self.data.split(split), self.data.columns
            write_ctr_predictions(predictions, self.ds.user_map.to_raw(c["user"][s.rows]),
                                  self.ds.item_map.to_raw(c["item"][s.rows]), c["ts"][s.rows] * 1000, s.labels, probs)
        return metrics


class MIMTask(_Base):
    name = "mim"
    writes_predictions = False  # pre-training: masked-item metrics, no ranking of anyone's next items

    def __init__(self, ds: Dataset, data_cfg, model_cfg, codes=None, vocab=None):
        super().__init__(ds, data_cfg, codes, vocab)
        self.model_cfg = model_cfg
        self.windows = {s: mim_windows(self.data, s) for s in ("train", "valid", "test")}
        if len(self.windows["train"]) == 0:
            raise ConfigError(f"no pre-training windows: no user of {ds.name} has 2 exposures before the "
                              "validation period")

    def num_train(self) -> int:
        return len(self.windows["train"])

    def train_lengths(self) -> np.ndarray:
        w = self.windows["train"]
        return w.ends - w.starts

    def _masked(self, b: dict[str, np.ndarray], mask: torch.Tensor, device: str) -> dict[str, torch.Tensor]:
        """Replace the masked tokens' item and action by [MASK]; their true items become `targets`."""
        t = to_device(b, device)
        mask = mask.to(device)
        t["targets"] = torch.where(mask, t["items"], torch.zeros_like(t["items"]))
        t["items"] = t["items"].masked_fill(mask, self.data.num_items + 1)
        t["actions"] = t["actions"].masked_fill(mask, ACTION_MASK)
        t.pop("targets_at", None)
        return t

    def train_batch(self, idx: np.ndarray, device: str) -> dict[str, torch.Tensor]:
        from hgrec.models.hpgr import mim_mask

        b = window_batch(self.data, self.windows["train"], idx)
        c = self.model_cfg
        valid, session = torch.from_numpy(b["items"] > 0), torch.from_numpy(b["session"])
        # the global torch RNG: saved in every checkpoint, so a resumed run draws the same masks
        mask = mim_mask(valid, session, c.mask_ratio, c.session_mask_share, c.span_len)
        return self._masked(b, mask, device)

    def eval_batches(self, split: str, batch_size: int, device: str):
        w = self.windows[split]
        for lo in range(0, len(w), batch_size):
            b = window_batch(self.data, w, np.arange(lo, min(lo + batch_size, len(w))))
            yield self._masked(b, torch.from_numpy(b["targets_at"]), device)

    def evaluate(self, model, split: str, *, ks=(5, 10), batch_size: int = 512, device: str = "cpu",
                 predictions: str | None = None) -> dict[str, float]:
        if predictions:
            raise ValueError("predictions files are written for CTR (fine-tuning) runs, not for pre-training")
        return evaluate_masked_items(model, self.eval_batches(split, batch_size, device), ks)


def load_pretrained(model, path: str | Path, meta: dict) -> list[str]:
    """Start a fine-tuning model from a pre-training checkpoint folder (its best/ or checkpoints/step_N/)."""
    from safetensors.torch import load_file

    from hgrec.training import checkpoint as ckpt

    path = Path(path)
    try:
        their = ckpt.read_meta(path)
    except FileNotFoundError as e:
        raise ConfigError(f"model.pretrained: {path} is not a checkpoint folder (run the pre-training config "
                          "first, e.g. configs/kuairand/hpgr_pretrain.yaml)") from e
    if their["model_name"] != model.registry_name:
        raise ConfigError(f"model.pretrained: {path} holds a {their['model_name']} model, not {model.registry_name}")
    if their["dataset_meta"]["num_items"] != meta["num_items"]:
        raise ConfigError(f"model.pretrained: {path} was trained on {their['dataset_meta']['num_items']} items, "
                          f"this dataset has {meta['num_items']}")
    state = load_file(str(path / "model.safetensors"))
    try:
        return model.load_pretrained_state(state)
    except ValueError as e:
        raise ConfigError(f"model.pretrained: {e}") from e
