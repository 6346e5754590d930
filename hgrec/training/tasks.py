"""A task tells the trainer how to batch training samples and how to evaluate a split.

`NextItemTask` serves SASRec, HSTU and every other next-item model: windows of the training
sequences for training, full-ranking leave-last-out evaluation for validation/test.
"""

from __future__ import annotations

import numpy as np
import torch

from hgrec.data.dataset import Dataset
from hgrec.data.samples import next_item_data
from hgrec.evaluation.evaluator import evaluate_next_item, write_predictions


class NextItemTask:
    name = "next_item"

    def __init__(self, ds: Dataset, max_len: int, mask_history: bool = False):
        self.ds = ds
        self.data = next_item_data(ds, max_len)
        self.mask_history = mask_history

    @property
    def meta(self) -> dict:
        return {"num_items": self.data.num_items, "max_len": self.data.max_len,
                "has_timestamps": self.data.has_timestamps}

    def num_train(self) -> int:
        return len(self.data.train_items)

    def train_lengths(self) -> np.ndarray:
        """Non-padding length of every training sample (for length-bucketed batches)."""
        if not hasattr(self, "_lengths"):
            self._lengths = (self.data.train_items > 0).sum(1)
        return self._lengths

    def train_batch(self, idx: np.ndarray, device: str) -> dict[str, torch.Tensor]:
        # Windows are left-padded and positions right-aligned, so dropping the columns that are
        # padding in every row changes nothing but the cost.
        width = int(self.train_lengths()[idx].max())
        items = self.data.train_items[idx, -width:]
        ts = self.data.train_ts[idx, -width:]
        return {"items": torch.from_numpy(items).to(device), "timestamps": torch.from_numpy(ts).to(device)}

    def evaluate(self, model, split: str, *, ks, batch_size: int, device: str, predictions: str | None = None):
        es = self.data.valid if split == "valid" else self.data.test
        metrics, top = evaluate_next_item(model, es, ks=ks, batch_size=batch_size, device=device,
                                          mask_history=self.mask_history)
        if predictions:
            imap, umap = self.ds.item_map, self.ds.user_map
            ranked = imap.to_raw(top.clip(min=1))  # top never contains padding (scored -inf)
            truth = [list(imap.to_raw(t[t > 0])) for t in es.truth]
            write_predictions(predictions, umap.to_raw(es.users).tolist(), truth, ranked.tolist())
        return metrics
