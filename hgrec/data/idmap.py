"""Two-way mapping between a source's own ids (ints or strings) and hgrec's dense ids.

Convention, fixed once for the whole library:
- users are dense 0..U-1;
- items are dense 1..N and **0 is the padding id**, never a real item. Embedding tables therefore
  have N+1 rows (`num_embeddings = item_map.num_ids`). This is what SASRec/HSTU/TIGER code does.
Dense order is the sorted order of raw ids, so the mapping does not depend on file order and
`to_dense` is a binary search.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from hgrec.data.errors import DataError


class IdMap:
    """raw id <-> dense id for one kind of entity. `offset` is 1 for items (0 = padding), 0 for users."""

    def __init__(self, raw_sorted: np.ndarray, offset: int, kind: str):
        self.raw = np.asarray(raw_sorted)  # raw id of dense id (offset + i)
        self.offset = int(offset)
        self.kind = kind
        if len(self.raw) > 1 and not (self.raw[1:] > self.raw[:-1]).all():
            raise ValueError(f"{kind} id map: raw ids must be unique and sorted")

    @classmethod
    def build(cls, raw_values, offset: int, kind: str) -> "IdMap":
        values = pl.Series(raw_values).unique().sort().to_numpy()
        if values.dtype.kind == "O":  # polars strings -> fixed-width unicode: fast searchsorted
            values = values.astype(str)
        return cls(values, offset, kind)

    def __len__(self) -> int:
        """Number of real entities (padding not counted)."""
        return len(self.raw)

    @property
    def num_ids(self) -> int:
        """Size of an embedding table indexed by dense id (padding included)."""
        return len(self.raw) + self.offset

    @property
    def is_string(self) -> bool:
        return self.raw.dtype.kind in "OUS"

    def to_dense(self, raw_values, *, where: str | None = None) -> np.ndarray:
        """Dense ids for raw ids; unknown ids raise DataError naming (up to 5 of) them."""
        values = np.asarray(raw_values)
        if self.is_string:
            values = values.astype(str)  # never to raw's fixed width: that would truncate unknown ids
        elif values.dtype.kind not in "iu":
            try:
                values = values.astype(np.int64)
            except (TypeError, ValueError, OverflowError) as e:
                raise DataError(f"unknown {self.kind} id(s) {values.ravel()[:5].tolist()}: this source's "
                                f"{self.kind} ids are 64-bit integers", where) from e
        pos = np.searchsorted(self.raw, values)
        pos_c = np.minimum(pos, len(self.raw) - 1)
        found = (pos < len(self.raw)) & (self.raw[pos_c] == values)
        if not found.all():
            unknown = list(dict.fromkeys(values[~found].tolist()))
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise DataError(f"unknown {self.kind} id(s) {unknown[:5]}{more}", where)
        return (pos + self.offset).astype(np.int64)

    def to_raw(self, dense_ids) -> np.ndarray:
        dense = np.asarray(dense_ids, dtype=np.int64)
        bad = (dense < self.offset) | (dense >= self.num_ids)
        if bad.any():
            raise DataError(f"dense {self.kind} id(s) {dense[bad][:5].tolist()} out of range [{self.offset}, {self.num_ids})")
        return self.raw[dense - self.offset]

    def to_frame(self) -> pl.DataFrame:
        raw = self.raw.astype(str) if self.raw.dtype.kind == "O" else self.raw
        return pl.DataFrame({"dense_id": np.arange(self.offset, self.num_ids, dtype=np.int64), "raw_id": raw})

    def save(self, path: str | Path) -> None:
        from hgrec.utils.atomic import atomic_path

        with atomic_path(path) as tmp:
            self.to_frame().write_parquet(tmp)

    @classmethod
    def load(cls, path: str | Path, kind: str) -> "IdMap":
        df = pl.read_parquet(path)
        offset = int(df["dense_id"][0]) if len(df) else 0
        raw = df["raw_id"].to_numpy()
        if raw.dtype.kind == "O":
            raw = raw.astype(str)
        return cls(raw, offset, kind)

    def __eq__(self, other) -> bool:
        return isinstance(other, IdMap) and self.offset == other.offset and np.array_equal(self.raw, other.raw)

    def __repr__(self) -> str:
        return f"IdMap({self.kind}, n={len(self)}, offset={self.offset}, raw dtype={self.raw.dtype})"
