"""Metrics exactly as DESIGN §8, vectorised from ranks.

Ranking (full catalogue, multi-item truth sets):
  hit@K    = 1 if any of the top K is in the truth set
  recall@K = |top K ∩ truth| / |truth|
  NDCG@K   = sum_{t in truth, rank_t <= K} 1/log2(rank_t + 1) / IDCG, IDCG over min(K, |truth|) binary gains
  MRR      = 1 / rank of the best-ranked truth item (full ranking, no cut-off)
Ranks are 1-based positions in the order "score descending, then item id ascending" — the same
deterministic order `torch.topk` over our score vectors is checked against, so the written
predictions and the metrics agree. Items masked out (padding, history where the protocol masks it)
score -inf; a truth item that is masked can never be hit.

CTR: AUC and log loss from scikit-learn; GAUC = impression-weighted mean of per-user AUC over
users having both a positive and a negative (the usual definition, e.g. DIN).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import torch
from sklearn.metrics import log_loss, roc_auc_score

from hgrec.utils.ranking import top_k  # noqa: F401  (re-exported: evaluation's ranking order)


def ranks_of_truth(scores: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(B, N) scores, (B, M) truth ids (0 = padding) -> (B, M) 1-based ranks (0 where padding or a repeat).

    A masked truth item (score -inf) or one scored NaN gets rank N + 1 (never within any cut-off).
    """
    B, N = scores.shape
    # A NaN score (a diverged model) must never count as a hit: rank it last, like a masked item.
    scores = scores.masked_fill(scores.isnan(), -math.inf)
    ids = torch.arange(N, device=scores.device)
    ranks = torch.zeros_like(truth)
    for m in range(truth.shape[1]):  # M is the slate size (<= 10): a loop over truth columns, not tokens
        t = truth[:, m]
        # The truth is a set: a repeated item counts once (its first occurrence).
        t = torch.where((t[:, None] == truth[:, :m]).any(1), torch.zeros_like(t), t)
        s = scores.gather(1, t[:, None])  # (B, 1)
        ahead = (scores > s) | ((scores == s) & (ids[None, :] < t[:, None]))
        r = ahead.sum(1) + 1
        r = torch.where(torch.isinf(s[:, 0]) & (s[:, 0] < 0), torch.full_like(r, N + 1), r)
        ranks[:, m] = torch.where(t > 0, r, torch.zeros_like(r))
    return ranks


def ranking_metrics(ranks: np.ndarray | torch.Tensor, ks=(5, 10)) -> dict[str, np.ndarray]:
    """Per-row metric values from (B, M) ranks (0 = padding). Rows with an empty truth set are NaN."""
    r = torch.as_tensor(ranks).double()
    valid = r > 0
    n_truth = valid.sum(1)
    out: dict[str, np.ndarray] = {}
    rr = torch.where(valid, 1.0 / r.clamp(min=1), torch.zeros_like(r)).amax(1)
    empty = n_truth == 0
    out["mrr"] = torch.where(empty, torch.nan, rr).numpy()
    for k in ks:
        hit_k = valid & (r <= k)
        dcg = torch.where(hit_k, 1.0 / torch.log2(r + 1), torch.zeros_like(r)).sum(1)
        ideal_n = n_truth.clamp(max=k)
        idcg = (1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.double)))
        idcg = torch.cumsum(idcg, 0)[(ideal_n - 1).clamp(min=0)]
        out[f"hit@{k}"] = torch.where(empty, torch.nan, hit_k.any(1).double()).numpy()
        recall = hit_k.sum(1).double() / n_truth.clamp(min=1)  # double: int / int is float32 in torch
        out[f"recall@{k}"] = torch.where(empty, torch.nan, recall).numpy()
        out[f"ndcg@{k}"] = torch.where(empty, torch.nan, dcg / idcg).numpy()
    return out


def coverage(topk: np.ndarray, num_items: int) -> float:
    """Share of the catalogue that appears in at least one user's top K (padding id 0 ignored)."""
    items = np.unique(np.asarray(topk))
    return float((items > 0).sum() / num_items)


def auc(labels, scores) -> float:
    return float(roc_auc_score(np.asarray(labels), np.asarray(scores)))


def logloss(labels, probs, eps: float = 1e-7) -> float:
    p = np.clip(np.asarray(probs, dtype=np.float64), eps, 1 - eps)
    return float(log_loss(np.asarray(labels), p, labels=[0, 1]))


def per_user_auc(users, labels, scores) -> pl.DataFrame:
    """AUC of each user having both a positive and a negative: columns u, n (impressions), auc.

    Vectorised with ranks (Mann-Whitney): AUC = (sum of positive ranks - P(P+1)/2) / (P N)."""
    df = pl.DataFrame({"u": np.asarray(users), "y": np.asarray(labels).astype(np.int8),
                       "s": np.asarray(scores, dtype=np.float64)})
    return (
        df.with_columns(r=pl.col("s").rank("average").over("u"))
        .group_by("u")
        .agg(n=pl.len(), pos=pl.col("y").sum(), rsum=pl.col("r").filter(pl.col("y") == 1).sum())
        .with_columns(neg=pl.col("n") - pl.col("pos"))
        .filter((pl.col("pos") > 0) & (pl.col("neg") > 0))
        .with_columns(auc=(pl.col("rsum") - pl.col("pos") * (pl.col("pos") + 1) / 2) / (pl.col("pos") * pl.col("neg")))
        .select("u", "n", "auc")
    )


def gauc(users, labels, scores) -> float:
    """Impression-weighted mean of per-user AUC (users with both classes)."""
    per = per_user_auc(users, labels, scores)
    if per.height == 0:
        return float("nan")
    return float((per["auc"] * per["n"]).sum() / per["n"].sum())
