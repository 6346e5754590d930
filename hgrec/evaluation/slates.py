"""Slate evaluation (DESIGN §8): a generated slate against the request's truth sets.

For each sample: hit@K, recall@K and NDCG@K (binary gains, ideal DCG over min(K, |truth|)) of the
first K slate items against the **effective views** (keys `hit@5`, ...) and the **impressions**
(keys `impressions/hit@5`, ...), each averaged over the samples whose truth set is non-empty;
intra-slate diversity (distinct first-level semantic codes / K) and catalogue coverage.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from hgrec.data.batch import context_batch
from hgrec.evaluation.metrics import coverage, ranking_metrics

MISS = 1 << 30  # rank of a truth item the slate does not contain


def slate_ranks(slate: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(R, L) slate item ids, (R, T) distinct truth ids (0 = padding) -> (R, T) 1-based positions in the
    slate (MISS where absent, 0 where padding)."""
    eq = (truth[:, :, None] == slate[:, None, :]) & (slate[:, None, :] > 0)  # (R, T, L)
    pos = eq.float().argmax(-1) + 1
    ranks = torch.where(eq.any(-1), pos, torch.full_like(pos, MISS))
    return ranks.masked_fill(truth == 0, 0)


def slate_metrics(slates: np.ndarray, effective: np.ndarray, impressions: np.ndarray, k: int,
                  first_codes: np.ndarray | None = None, num_items: int | None = None) -> dict[str, float]:
    s = torch.from_numpy(slates[:, :k])
    out: dict[str, float] = {}
    for prefix, truth in (("", effective), ("impressions/", impressions)):
        per = ranking_metrics(slate_ranks(s, torch.from_numpy(truth)), (k,))
        for name, v in per.items():
            if name.endswith(f"@{k}"):
                out[prefix + name] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
        out[prefix + "samples"] = float((truth[:, 0] > 0).sum())
    if first_codes is not None:
        c = np.where(slates[:, :k] > 0, first_codes[slates[:, :k]], -1)
        srt = np.sort(c, 1)
        distinct = (srt[:, 1:] != srt[:, :-1]).sum(1) + 1 - (srt[:, 0] < 0)
        out[f"diversity@{k}"] = float(np.mean(distinct / k))
    if num_items:
        out[f"coverage@{k}"] = coverage(slates[:, :k], num_items)
    return out


@torch.no_grad()
def evaluate_slates(generate, ss, *, k: int, batch_size: int = 256, device: str = "cpu", first_codes=None,
                    num_items: int | None = None, user_features: np.ndarray | None = None):
    """`generate(batch) -> (b, L)` item ids for a batch dict (history, history_ts, user_features).
    Returns (metrics, (N, L) slates)."""
    out, t0 = [], time.perf_counter()
    for lo in range(0, len(ss), batch_size):
        hi = min(lo + batch_size, len(ss))
        batch = context_batch(ss.history[lo:hi], ss.history_ts[lo:hi],
                              None if user_features is None else user_features[ss.users[lo:hi]], device)
        out.append(generate(batch).cpu().numpy())
    elapsed = time.perf_counter() - t0
    slates = np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)
    metrics = slate_metrics(slates, ss.effective, ss.impressions, k, first_codes, num_items)
    metrics["slates_per_s"] = len(ss) / elapsed if elapsed > 0 else float("nan")
    return metrics, slates
