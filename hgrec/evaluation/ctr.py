"""CTR evaluation: every exposure of a split scored by a click model -> AUC, GAUC (per user), log loss.

Also the metric of HPGR's pre-training: masked-item ranking over the whole catalogue (hit/recall/NDCG@K,
MRR of each masked token's true item), from the same rank code as next-item evaluation.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from hgrec.data.ctr_samples import CTRData
from hgrec.evaluation.metrics import auc, gauc, logloss, ranking_metrics, ranks_of_truth
from hgrec.utils.atomic import atomic_path


def to_device(batch: dict[str, np.ndarray], device: str) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in batch.items()}


@torch.no_grad()
def predict_ctr(model, data: CTRData, rows: np.ndarray, *, batch_size: int = 1024, device: str = "cpu",
                cost: dict | None = None) -> np.ndarray:
    """Click probabilities of the candidate exposures `rows` (flat indices), in their order; `cost`, if
    given, receives `attended_tokens`: the mean history tokens attended per row (NaN: dense models)."""
    was_training = model.training
    model.eval()
    out, attended = [], 0.0
    for lo in range(0, len(rows), batch_size):
        batch = to_device(data.batch(rows[lo:lo + batch_size]), device)
        out.append(torch.sigmoid(model.predict(batch).float()).cpu().numpy())
        attended += model.attended_tokens() * len(out[-1])
    model.train(was_training)
    if cost is not None:
        cost["attended_tokens"] = attended / max(len(rows), 1)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def ctr_metrics(users: np.ndarray, labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    return {"auc": auc(labels, probs), "gauc": gauc(users, labels, probs), "logloss": logloss(labels, probs),
            "samples": float(len(labels)), "positive_rate": float(np.mean(labels))}


def evaluate_ctr(model, data: CTRData, split: str, *, batch_size: int = 1024,
                 device: str = "cpu") -> tuple[dict[str, float], np.ndarray]:
    s = data.split(split)
    t0 = time.perf_counter()
    cost: dict = {}
    probs = predict_ctr(model, data, s.rows, batch_size=batch_size, device=device, cost=cost)
    elapsed = time.perf_counter() - t0
    m = ctr_metrics(data.columns["user"][s.rows], s.labels, probs)
    m["samples_per_s"] = len(s.rows) / elapsed if elapsed > 0 else float("nan")
    m["attended_tokens"] = cost["attended_tokens"]
    return m, probs


@torch.no_grad()
def evaluate_masked_items(model, batches, ks=(5, 10)) -> dict[str, float]:
    """Mean ranking metrics of the true item at every masked position over `batches` (dicts of tensors)."""
    was_training = model.training
    model.eval()
    per_row: dict[str, list[np.ndarray]] = {}
    n = 0
    for batch in batches:
        scores = model.score_masked(batch)  # (n, N+1)
        truth = batch["targets"][batch["targets"] > 0][:, None]
        for k, v in ranking_metrics(ranks_of_truth(scores, truth).cpu(), ks).items():
            per_row.setdefault(k, []).append(v)
        n += len(truth)
    model.train(was_training)
    out = {k: float(np.nanmean(np.concatenate(v))) for k, v in per_row.items()}
    out["targets"] = float(n)
    return out


def write_ctr_predictions(path: str | Path, user_raw, item_raw, ts_ms, labels, probs) -> Path:
    """One row per evaluated exposure in the source's own ids: user_id, item_id, ts (ms), label, prob."""
    table = pa.table({"user_id": pa.array(user_raw), "item_id": pa.array(item_raw), "ts": pa.array(ts_ms),
                      "label": pa.array(np.asarray(labels, dtype=np.int8)),
                      "prob": pa.array(np.asarray(probs, dtype=np.float32))})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)
