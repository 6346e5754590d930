"""The one deterministic top-k order every layer uses (decoding, evaluation, serving)."""

from __future__ import annotations

import math

import torch


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k item ids in rank order (score descending, ties by id ascending), as `ranks_of_truth` ranks.

    `torch.topk` does not promise an order among equal scores; re-sorting its k results by
    (score desc, id asc) makes the written predictions agree with the metrics.
    """
    scores = scores.masked_fill(scores.isnan(), -math.inf)
    vals, idx = scores.topk(k, dim=1)
    idx, order = idx.sort(dim=1)  # id ascending ...
    vals = vals.gather(1, order)
    order = vals.argsort(dim=1, descending=True, stable=True)  # ... then score descending, stable
    return idx.gather(1, order)
