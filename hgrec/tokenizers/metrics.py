"""Semantic-ID quality (HiGR Table 1; DESIGN §4 — two of the definitions are ours):

- collision rate = 1 - distinct D-tuples / items (before disambiguation);
- concentration = share of semantic-neighbour pairs (cosine >= 0.8 between item vectors) whose
  first-level codes agree;
- consistency = share of co-occurrence pairs (consecutive effective items of one session) whose
  first-level codes agree;
- per level: codebook utilisation (used codes / K) and perplexity (exp of the code entropy).
"""

from __future__ import annotations

import numpy as np
import torch


def collision_rate(codes: np.ndarray) -> float:
    codes = np.asarray(codes)
    return float(1 - len(np.unique(codes, axis=0)) / len(codes))


def codebook_stats(codes: np.ndarray, codebook_size: int) -> list[dict[str, float]]:
    out = []
    for d in range(codes.shape[1]):
        counts = np.bincount(codes[:, d], minlength=codebook_size)
        p = counts[counts > 0] / counts.sum()
        out.append({"utilisation": float((counts > 0).mean()), "perplexity": float(np.exp(-(p * np.log(p)).sum()))})
    return out


def neighbour_pairs(vectors: np.ndarray, threshold: float = 0.8, block: int = 2048) -> np.ndarray:
    """(P, 2) pairs i < j with cosine(v_i, v_j) >= threshold, computed in blocks (no N x N matrix kept)."""
    v = torch.from_numpy(np.asarray(vectors, dtype=np.float32))
    v = torch.nn.functional.normalize(v, dim=1)
    pairs = []
    for lo in range(0, len(v), block):
        sim = v[lo:lo + block] @ v.T  # (b, N)
        i, j = torch.nonzero(sim >= threshold, as_tuple=True)
        i = i + lo
        keep = i < j
        pairs.append(torch.stack([i[keep], j[keep]], 1))
    return torch.cat(pairs).numpy() if pairs else np.zeros((0, 2), dtype=np.int64)


def concentration(first_codes: np.ndarray, pairs: np.ndarray) -> float:
    """Share of (i, j) pairs with the same first-level code (NaN when there are no pairs)."""
    if len(pairs) == 0:
        return float("nan")
    return float((first_codes[pairs[:, 0]] == first_codes[pairs[:, 1]]).mean())


def consistency(first_codes: np.ndarray, cooc_pairs: np.ndarray) -> float:
    return concentration(first_codes, cooc_pairs)
