"""`Recommender`: a checkpoint + its dataset -> slates for users given by their source ids.

    rec = Recommender.from_checkpoint("runs/kuairand-pure-higr-s0/best", root="../shared/data/kuairand-pure")
    rec.recommend(["4012", "77"], slate_size=5)          # -> one list of source item ids per user

The context of a user is everything the dataset knows about them now: their last `max_len`
effective items (S^u) and their features. Slates come from the model's own decoder (GSBI for
HiGR, trie-constrained beams for TIGER, flat beams for OneRec-style, top-L scores for next-item
models; a semantic-ID model trained as a next-item retriever: its top beams), batched over the requested users.
"""

from __future__ import annotations

import numpy as np
import torch

from hgrec.data.batch import batch_seconds, context_batch
from hgrec.data.errors import DataError
from hgrec.data.views import positive_history
from hgrec.decoding.slates import slate_generator
from hgrec.pipelines.load import load_for_eval


class Recommender:
    def __init__(self, cfg, task, model, device: str = "cpu"):
        self.cfg, self.task, self.model, self.device = cfg, task, model.to(device).eval(), device
        self.ds = task.ds
        seq = positive_history(self.ds, ["item_id", "ts"])
        seq.columns["ts_s"] = batch_seconds(seq["ts"], self.ds.info.has_timestamps)
        self.seq = seq
        data = getattr(task, "data", None)
        self.user_features = getattr(data, "user_features", getattr(task, "user_features", None))
        self.trie = getattr(task, "trie", None)

    @classmethod
    def from_checkpoint(cls, path, root=None, cache=None, device: str = "cpu") -> "Recommender":
        cfg, task, model = load_for_eval(path, root=root, cache=cache)
        return cls(cfg, task, model, device)

    def context(self, users_raw) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        """Dense ids and the model's batch for users given by source id (unknown ids: DataError naming them)."""
        users = self.ds.user_map.to_dense(np.asarray(users_raw), where="recommend: user ids")
        L = self.cfg.data.max_len
        cuts = self.seq.lengths[users]
        return users, context_batch(self.seq.history_batch(users, cuts, L),
                                    self.seq.history_batch(users, cuts, L, column="ts_s"),
                                    None if self.user_features is None else self.user_features[users], self.device)

    @torch.no_grad()
    def recommend(self, users_raw, slate_size: int = 5, beam: int | None = None,
                  exclude_history: bool | None = None) -> list[list]:
        if slate_size < 1:
            raise ValueError(f"slate_size must be >= 1, got {slate_size}")
        if slate_size > self.ds.num_items:
            raise ValueError(f"slate_size {slate_size} exceeds the catalogue ({self.ds.num_items} items)")
        if len(users_raw) == 0:
            return []
        _, batch = self.context(users_raw)
        exclude = self.cfg.data.mask_history if exclude_history is None else exclude_history
        if getattr(self.task, "name", None) == "retrieval":  # a next-item retriever: the top beams, best first
            from hgrec.decoding.retrieval import next_item_beams

            items, _ = next_item_beams(self.model, batch, self.trie, max(slate_size, beam or self.cfg.data.beam),
                                       exclude)
            return [list(self.ds.item_map.to_raw(s[s > 0][:slate_size])) for s in items.cpu().numpy()]
        gen = slate_generator(self.model, self.trie, slate_size, beam or self.cfg.data.beam,
                              self.cfg.data.mask_history if exclude_history is None else exclude_history)
        slates = gen(batch).cpu().numpy()
        return [list(self.ds.item_map.to_raw(s[s > 0])) for s in slates]

    def describe(self, items_raw) -> list[str]:
        """Item text (or '') for source item ids, for display."""
        items = self.ds.item_map.to_dense(np.asarray(items_raw), where="describe: item ids")
        if self.ds.items is None or "text" not in self.ds.items.columns:
            return [""] * len(items)
        text = self.ds.items["text"].to_list()
        return [text[i - 1] or "" for i in items]


__all__ = ["DataError", "Recommender"]
