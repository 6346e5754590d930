"""Make every item's code unique (TIGER): items sharing a D-tuple get an extra level 0, 1, 2, ...

The extra level's size is the largest collision group; items whose tuple is unique get 0, so the
extra token carries no information for them and the trie still holds exactly one code per item.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def disambiguate(codes: np.ndarray) -> np.ndarray:
    """(N, D) codes -> (N, D+1) unique codes (vectorised: one group-by)."""
    codes = np.asarray(codes, dtype=np.int64)
    df = pl.DataFrame({f"c{d}": codes[:, d] for d in range(codes.shape[1])}).with_row_index("i")
    extra = df.with_columns(k=pl.int_range(pl.len()).over([f"c{d}" for d in range(codes.shape[1])]))["k"].to_numpy()
    out = np.concatenate([codes, extra[:, None].astype(np.int64)], axis=1)
    return out
