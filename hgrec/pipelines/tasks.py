"""A task tells the trainer how to batch training samples and how to evaluate a split
(`hgrec.training.task.TrainingTask`); `make_task(cfg)` builds the one a run config asks for.

`NextItemTask` serves SASRec, HSTU and every other next-item model: windows of the training
sequences for training, full-ranking leave-last-out evaluation for validation/test.
`RetrievalTask` puts a semantic-ID decoder (TIGER, HiGR, OneRec-style) on the same split: one
sample per training position with the next `data.slate_size` items as its target, evaluation by
one trie-constrained beam search of width `data.beam` (docs/generative_retrieval.md).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from hgrec.data import load_dataset
from hgrec.data.batch import context_batch
from hgrec.data.dataset import Dataset
from hgrec.data.samples import next_item_data
from hgrec.evaluation.evaluator import evaluate_next_item, write_predictions
from hgrec.models.registry import native_task, needs_semantic_ids
from hgrec.models.capabilities import SemanticIDModel
from hgrec.tokenizers.codes import read_codes
from hgrec.training.config import RunConfig


def make_task(cfg: RunConfig):
    """The task of a run: CTR (exposures with sessions), slates, or next-item, from the model's
    own `task` and `data.protocol`."""
    ds = load_dataset(cfg.data.dataset, cfg.data.root, cache_dir=cfg.data.cache)
    native = native_task(cfg.model_name)
    if native == "ctr":  # HPGR and the CTR baselines: exposures with sessions (hgrec/pipelines/ctr_tasks.py)
        from hgrec.pipelines.ctr_tasks import make_ctr_task

        return make_ctr_task(ds, cfg)
    protocol = native if cfg.data.protocol == "auto" else cfg.data.protocol
    if protocol == "next_item" and native == "slate" and not needs_semantic_ids(cfg.model_name):
        raise ValueError(f"{cfg.model_name} generates whole slates: use data.protocol=slate (or auto)")
    if protocol == "slate" or native == "slate":
        if needs_semantic_ids(cfg.model_name) and not cfg.data.semantic_ids:
            raise ValueError(f"{cfg.model_name} needs semantic IDs: set data.semantic_ids to the codes.parquet "
                             "written by `hgrec tokenize --config ...`")
        codes, vocab = read_codes(cfg.data.semantic_ids, ds) if cfg.data.semantic_ids else (None, None)
        if protocol == "next_item":  # a semantic-ID decoder as a next-item retriever (generative retrieval)
            return RetrievalTask(ds, cfg.data, codes, vocab)
        return SlateTask(ds, cfg.data, codes, vocab, next_item=native == "next_item")
    return NextItemTask(ds, cfg.data.max_len, cfg.data.mask_history)


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

    def init_model(self, model) -> None:
        """Nothing to copy into a next-item model."""

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


class SlateTask:
    """Slate generation (HiGR and the models compared with it): train on (context, slate) samples
    with the model's own loss, evaluate generated slates against impressions and effective views."""

    name = "slate"

    def __init__(self, ds: Dataset, data_cfg, codes: np.ndarray | None = None, vocab: list[int] | None = None,
                 next_item: bool = False):
        from hgrec.data.slate_samples import slate_data
        from hgrec.tokenizers.trie import PrefixTrie

        self.ds, self.cfg = ds, data_cfg
        self.data = slate_data(ds, data_cfg.slate_size, data_cfg.max_len, data_cfg.slate_target, data_cfg.split,
                               train_samples=data_cfg.train_samples)
        self.codes, self.vocab = codes, vocab
        # Next-item models (SASRec, HSTU) learn from the same samples: history + training slate as one
        # sequence with their own next-item loss; their slate is the top-M of the next-item scores.
        self.next_item = next_item
        self.trie = PrefixTrie(codes, vocab_sizes=vocab) if codes is not None else None

    @property
    def meta(self) -> dict:
        meta = {"num_items": self.data.num_items, "max_len": self.data.max_len, "has_timestamps": self.data.has_timestamps}
        if self.next_item:
            return meta
        meta |= {"slate_size": self.data.slate_size, "feature_vocab": self.data.feature_vocab}
        if self.vocab is not None:
            meta["sid_vocab"] = self.vocab
        return meta

    def init_model(self, model) -> None:
        """Copy the semantic IDs into the model (they are saved with its weights)."""
        if isinstance(model, SemanticIDModel):
            if self.codes is None:
                raise ValueError(f"{model.registry_name} needs semantic IDs: set data.semantic_ids to the "
                                 "codes.parquet written by `hgrec tokenize`")
            model.sid.set_codes(self.codes)

    def num_train(self) -> int:
        return len(self.data.train)

    def train_lengths(self) -> np.ndarray:
        if not hasattr(self, "_lengths"):
            self._lengths = (self.data.train.history > 0).sum(1) + (self.data.train.target > 0).sum(1) * self.next_item
        return self._lengths

    def _batch(self, ss, idx, device, width=None) -> dict[str, torch.Tensor]:
        width = width or max(int((ss.history[idx] > 0).sum(1).max()), 1)
        return context_batch(ss.history[idx], ss.history_ts[idx], self.data.user_features[ss.users[idx]], device,
                             width, target=ss.target[idx], effective=ss.effective[idx])

    def train_batch(self, idx: np.ndarray, device: str) -> dict[str, torch.Tensor]:
        if self.next_item:
            return self._sequence_batch(self.data.train, idx, device)
        return self._batch(self.data.train, idx, device)

    def _sequence_batch(self, ss, idx, device) -> dict[str, torch.Tensor]:
        """[history, slate] as one left-padded window of max_len + 1 (input = [:-1], target = [1:])."""
        seq = np.concatenate([ss.history[idx], ss.target[idx]], 1)  # (b, L + M), zeros inside
        ts = np.concatenate([ss.history_ts[idx], np.repeat(ss.history_ts[idx, -1:], ss.target.shape[1], 1)], 1)
        order = np.argsort(seq > 0, axis=1, kind="stable")  # padding first, items in their order
        seq, ts = np.take_along_axis(seq, order, 1), np.take_along_axis(ts, order, 1)
        width = min(int((seq > 0).sum(1).max()), self.data.max_len + 1)
        return {"items": torch.from_numpy(seq[:, -width:]).to(device),
                "timestamps": torch.from_numpy(ts[:, -width:]).to(device)}

    def evaluate(self, model, split: str, *, ks, batch_size: int, device: str, predictions: str | None = None,
                 slate_size: int | None = None, beam: int | None = None, exclude_history: bool | None = None):
        from hgrec.decoding.slates import slate_generator
        from hgrec.evaluation.slates import evaluate_slates

        ss = self.data.valid if split == "valid" else self.data.test
        L = slate_size or self.data.slate_size
        gen = slate_generator(model, self.trie, L, beam or self.cfg.beam,
                              self.cfg.mask_history if exclude_history is None else exclude_history)
        first = None if self.codes is None else np.concatenate([[-1], self.codes[:, 0]])
        metrics, slates = evaluate_slates(gen, ss, k=L, batch_size=batch_size, device=device, first_codes=first,
                                          num_items=self.data.num_items, user_features=self.data.user_features)
        if predictions:
            imap, umap = self.ds.item_map, self.ds.user_map
            truth = [list(imap.to_raw(t[t > 0])) for t in ss.effective]
            ranked = [list(imap.to_raw(s[s > 0])) for s in slates]
            write_predictions(predictions, umap.to_raw(ss.users).tolist(), truth, ranked, request=ss.request)
        return metrics


class RetrievalTask:
    """Generative retrieval on the next-item split: the same leave-last-out cut, histories and masking as
    `NextItemTask` (so rows sit beside SASRec's and pair with them in `hgrec compare`), a semantic-ID model's
    own loss on (history, next <= M items) samples, Recall/NDCG@K from the ranked beams."""

    name = "retrieval"

    def __init__(self, ds: Dataset, data_cfg, codes: np.ndarray, vocab: list[int]):
        from hgrec.data.samples import next_k_samples
        from hgrec.data.slate_samples import user_feature_codes
        from hgrec.tokenizers.trie import PrefixTrie

        if codes is None:
            raise ValueError("generative retrieval needs semantic IDs: set data.semantic_ids")
        self.ds, self.cfg = ds, data_cfg
        self.data = next_item_data(ds, data_cfg.max_len)
        if data_cfg.valid_users and data_cfg.valid_users < len(self.data.valid):  # the same sample every epoch
            pick = np.random.default_rng(0).choice(len(self.data.valid), data_cfg.valid_users, replace=False)
            self.data.valid = self.data.valid.subset(np.sort(pick))
        self.train = next_k_samples(ds, data_cfg.max_len, data_cfg.slate_size)
        self.user_features, self.feature_vocab = user_feature_codes(ds)
        self.codes, self.vocab = codes, vocab
        self.trie = PrefixTrie(codes, vocab_sizes=vocab)

    @property
    def meta(self) -> dict:
        return {"num_items": self.data.num_items, "max_len": self.data.max_len,
                "has_timestamps": self.data.has_timestamps, "slate_size": self.cfg.slate_size,
                "feature_vocab": self.feature_vocab, "sid_vocab": self.vocab}

    def init_model(self, model) -> None:
        model.sid.set_codes(self.codes)

    def num_train(self) -> int:
        return len(self.train)

    def train_lengths(self) -> np.ndarray:
        if not hasattr(self, "_lengths"):
            self._lengths = (self.train.history > 0).sum(1)
        return self._lengths

    def _batch(self, history, ts, users, device, **extra):
        width = max(int((history > 0).sum(1).max()), 1)
        return context_batch(history, ts, self.user_features[users], device, width, **extra)

    def train_batch(self, idx: np.ndarray, device: str) -> dict[str, torch.Tensor]:
        t = self.train
        return self._batch(t.history[idx], t.history_ts[idx], t.users[idx], device, target=t.target[idx],
                           effective=t.target[idx])

    def rank(self, model, es, *, batch_size: int = 256, device: str = "cpu") -> tuple[np.ndarray, float]:
        """(U, beam) ranked item ids of every user of `es` (0 = nothing reachable) and the seconds it took."""
        from hgrec.decoding.retrieval import next_item_beams

        trie = self.trie.to(device)
        out, t0 = [], time.perf_counter()
        for lo in range(0, len(es), batch_size):
            sl = slice(lo, lo + batch_size)
            batch = self._batch(es.history[sl], es.history_ts[sl], es.users[sl], device)
            items, _ = next_item_beams(model, batch, trie, self.cfg.beam, self.cfg.mask_history)
            out.append(items.cpu().numpy())
        return (np.concatenate(out) if out else np.zeros((0, self.cfg.beam), np.int64)), time.perf_counter() - t0

    def evaluate(self, model, split: str, *, ks, batch_size: int, device: str, predictions: str | None = None):
        from hgrec.evaluation.metrics import coverage, ranking_metrics

        if max(ks) > self.cfg.beam:
            raise ValueError(f"metrics @{max(ks)} need a beam of at least {max(ks)}; data.beam is {self.cfg.beam}")
        es = self.data.valid if split == "valid" else self.data.test
        was_training = model.training
        ranked, seconds = self.rank(model, es, batch_size=min(batch_size, 256), device=device)
        model.train(was_training)
        truth = es.truth[:, :1]
        hit = ranked == truth  # items outside the beam rank below it: never within a cut-off <= beam
        ranks = np.where(hit.any(1), hit.argmax(1) + 1, self.data.num_items + 1)[:, None]
        metrics = {k: float(np.nanmean(v)) for k, v in ranking_metrics(ranks, ks).items()}
        metrics[f"coverage@{max(ks)}"] = coverage(ranked[:, : max(ks)], self.data.num_items)
        metrics["users"] = float(len(es))
        metrics["users_per_s"] = len(es) / seconds if seconds > 0 else float("nan")
        if predictions:
            imap, umap = self.ds.item_map, self.ds.user_map
            write_predictions(predictions, umap.to_raw(es.users).tolist(),
                              [list(imap.to_raw(t[t > 0])) for t in es.truth],
                              [list(imap.to_raw(r[r > 0])) for r in ranked])
        return metrics
