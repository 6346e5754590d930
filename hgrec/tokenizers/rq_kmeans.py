"""RQ-KMeans: residual k-means, one faiss k-means per level on what the previous levels left.

    r^0 = x;  c^d = argmin_k ||r^{d-1} - e^d_k||;  r^d = r^{d-1} - e^d_{c^d}      (HiGR eq. 2)

Inputs are standardised (zero mean, unit variance per dimension) first when `standardize` is on,
because the levels only see residuals and a few dominant dimensions would otherwise take every
codeword. The seed is fixed and recorded; k-means is faiss (float32, C-contiguous).
"""

from __future__ import annotations

import dataclasses

import faiss
import numpy as np


@dataclasses.dataclass
class RQKMeansConfig:
    levels: int = 3  # D
    codebook_size: int = 256  # K
    niter: int = 25
    seed: int = 0
    standardize: bool = True

    def __post_init__(self):
        if self.levels < 1 or self.codebook_size < 2:
            raise ValueError("levels must be >= 1 and codebook_size >= 2")


class RQKMeans:
    def __init__(self, config: RQKMeansConfig | None = None):
        self.config = config or RQKMeansConfig()
        self.codebooks: list[np.ndarray] = []
        self.mean = self.std = None

    def _prep(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.config.standardize:
            x = (x - self.mean) / self.std
        return np.ascontiguousarray(x, dtype=np.float32)

    def fit(self, x: np.ndarray) -> "RQKMeans":
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or len(x) < self.config.codebook_size:
            raise ValueError(f"need a (N, d) matrix with N >= codebook_size {self.config.codebook_size}, got {x.shape}")
        self.mean = x.mean(0)
        self.std = x.std(0) + 1e-6
        r = self._prep(x)
        self.codebooks = []
        for d in range(self.config.levels):
            km = faiss.Kmeans(r.shape[1], self.config.codebook_size, niter=self.config.niter,
                              seed=self.config.seed + d, verbose=False, spherical=False,
                              min_points_per_centroid=1)  # small catalogues are the norm here
            km.train(r)
            cb = km.centroids.astype(np.float32)
            self.codebooks.append(cb)
            _, idx = km.index.search(r, 1)
            r = np.ascontiguousarray(r - cb[idx[:, 0]])
        return self

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, D) codes and (N, D) norms of the residual left after each level."""
        if not self.codebooks:
            raise RuntimeError("fit() first")
        r = self._prep(x)
        codes = np.empty((len(r), len(self.codebooks)), dtype=np.int64)
        norms = np.empty((len(r), len(self.codebooks)), dtype=np.float32)
        for d, cb in enumerate(self.codebooks):
            index = faiss.IndexFlatL2(cb.shape[1])
            index.add(cb)
            _, idx = index.search(r, 1)
            codes[:, d] = idx[:, 0]
            r = np.ascontiguousarray(r - cb[idx[:, 0]])
            norms[:, d] = np.linalg.norm(r, axis=1)
        return codes, norms

    def reconstruct(self, codes: np.ndarray) -> np.ndarray:
        z = sum(cb[codes[:, d]] for d, cb in enumerate(self.codebooks))
        return z * self.std + self.mean if self.config.standardize else z
