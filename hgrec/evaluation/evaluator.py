"""Full-ranking evaluation of next-item models over the whole catalogue, batched.

For each user: scores of every item for the next position, padding (id 0) excluded, the user's
earlier positives excluded only when the protocol says so (`mask_history`), truth ranks ->
hit/recall/NDCG@K and MRR (hgrec/evaluation/metrics.py), top-K kept for coverage and predictions.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from hgrec.data.samples import EvalSet
from hgrec.evaluation.metrics import coverage, ranking_metrics, ranks_of_truth, top_k
from hgrec.utils.atomic import atomic_path


@torch.no_grad()
def evaluate_next_item(model, es: EvalSet, *, ks=(5, 10), batch_size: int = 512, device: str = "cpu",
                       mask_history: bool = False, keep_topk: int | None = None) -> tuple[dict[str, float], np.ndarray]:
    """Mean metrics over the users of `es` and the (U, K) top-K matrix (K = max(ks) or keep_topk)."""
    was_training = model.training
    model.eval()
    K = max(max(ks), keep_topk or 0)
    per_row: dict[str, list[np.ndarray]] = {}
    tops = []
    lens = np.diff(es.seen_offsets)
    t0 = time.perf_counter()
    for lo in range(0, len(es), batch_size):
        hi = min(lo + batch_size, len(es))
        hist = torch.from_numpy(es.history[lo:hi]).to(device)
        ts = torch.from_numpy(es.history_ts[lo:hi]).to(device)
        scores = model.score_all(hist, ts).float()  # (b, N+1)
        if mask_history:
            rows = torch.from_numpy(np.repeat(np.arange(hi - lo), lens[lo:hi])).to(device)
            seen = torch.from_numpy(es.seen_items[es.seen_offsets[lo]:es.seen_offsets[hi]]).to(device)
            scores[rows, seen] = -math.inf
        truth = torch.from_numpy(es.truth[lo:hi]).to(device)
        for k, v in ranking_metrics(ranks_of_truth(scores, truth).cpu(), ks).items():
            per_row.setdefault(k, []).append(v)
        tops.append(top_k(scores, K).cpu().numpy())
    elapsed = time.perf_counter() - t0
    model.train(was_training)
    top = np.concatenate(tops) if tops else np.zeros((0, K), dtype=np.int64)
    out = {k: float(np.nanmean(np.concatenate(v))) for k, v in per_row.items()}
    out[f"coverage@{max(ks)}"] = coverage(top[:, : max(ks)], model.num_items)
    out["users"] = float(len(es))
    out["users_per_s"] = len(es) / elapsed if elapsed > 0 else float("nan")
    return out, top


def write_predictions(path: str | Path, user_raw, truth_raw: list, ranked_raw: list, request=None) -> Path:
    """One row per evaluated user in the source's own ids (DESIGN §8): user_id, truth, ranked; slates add
    `request` (the request's index within the user), one row per (user, request)."""
    cols = {"user_id": pa.array(user_raw), "truth": pa.array(truth_raw), "ranked": pa.array(ranked_raw)}
    if request is not None:
        cols["request"] = pa.array(np.asarray(request, dtype=np.int64))
    table = pa.table(cols)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)
