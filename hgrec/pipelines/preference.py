"""`PreferenceTask`: the slate task of post-training. Its training samples are preference pairs
(`hgrec.alignment.pairs`) built once from the training slates — one batch row = one context plus
y+ (`chosen`) and y- (`rejected`) — and it evaluates exactly like `SlateTask` (generated slates vs
impressions and effective views), so early stopping watches the same validation NDCG@5 as
pre-training. Pairs are a pure function of the data and the seed: a resumed run sees the same ones.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from hgrec.alignment.pairs import preference_pairs
from hgrec.data.errors import DataError
from hgrec.pipelines.tasks import SlateTask


class PreferenceTask(SlateTask):
    name = "slate_preference"

    def __init__(self, ds, data_cfg, codes: np.ndarray, vocab: list[int], align_cfg, seed: int = 0):
        super().__init__(ds, data_cfg, codes, vocab)
        a = align_cfg
        self.pairs = preference_pairs(ds, self.data.train, codes, dataclasses.asdict(a.negatives), seed=seed,
                                      replace_fraction=a.replace_fraction, pool_size=a.pool_size,
                                      min_positives=a.min_positives, pairs_per_sample=a.pairs_per_sample)
        if len(self.pairs) == 0:
            raise DataError(f"{ds.name}: no training slate has >= {a.min_positives} distinct engaged items: no pairs")

    def num_train(self) -> int:
        return len(self.pairs)

    def train_lengths(self) -> np.ndarray:
        if not hasattr(self, "_pair_lengths"):
            self._pair_lengths = (self.data.train.history[self.pairs.sample] > 0).sum(1)
        return self._pair_lengths

    def train_batch(self, idx: np.ndarray, device: str) -> dict[str, torch.Tensor]:
        batch = self._batch(self.data.train, self.pairs.sample[idx], device)
        del batch["target"]  # the pair replaces the logged slate
        batch["chosen"] = torch.from_numpy(self.pairs.chosen[idx]).to(device)
        batch["rejected"] = torch.from_numpy(self.pairs.rejected[idx]).to(device)
        return batch

    def evaluate(self, model, split: str, **kw):
        return super().evaluate(getattr(model, "policy", model), split, **kw)

    def summary(self) -> dict:
        p = self.pairs
        return {"pairs": len(p), "samples": int(len(np.unique(p.sample))), "train_slates": len(self.data.train),
                "kinds": p.counts(), "interest_fallback_items": int(p.from_fallback.sum()),
                "mean_chosen_len": float((p.chosen > 0).sum(1).mean())}
