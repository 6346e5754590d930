"""The `TrainingTask` capability: what the Trainer needs from a task, and nothing more. The tasks
themselves (next-item, slates, CTR, masked-item pre-training, preference pairs) are built in
`hgrec.pipelines`, which knows the data; the Trainer only calls these methods."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class TrainingTask(Protocol):
    name: str  # written into the checkpoint (next_item | slate | ctr | mim | slate_preference)
    # (optional attribute) writes_predictions = False: `evaluate` takes no predictions path (the Trainer then
    # writes no test_predictions.parquet into the run folder)

    @property
    def meta(self) -> dict[str, Any]:
        """Dataset facts the model is built with (num_items, max_len, ...); saved with the checkpoint."""

    def init_model(self, model: torch.nn.Module) -> None:
        """Copy data the model keeps with its weights (semantic IDs, pre-trained weights) into it."""

    def num_train(self) -> int:
        """Number of training samples in one epoch."""

    def train_lengths(self) -> np.ndarray:
        """Non-padding length of every training sample (length-bucketed batches)."""

    def train_batch(self, idx: np.ndarray, device: str) -> dict[str, torch.Tensor]:
        """The samples `idx` as tensors on `device`: the model's forward input."""

    def evaluate(self, model: torch.nn.Module, split: str, *, ks, batch_size: int, device: str,
                 predictions: str | None = None) -> dict[str, float]:
        """Metrics of `model` on the valid or test split (DESIGN §8); `predictions`: also write them there."""
