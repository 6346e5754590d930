"""Reading the codes.parquet that `hgrec tokenize` writes: dense item id -> its unique semantic ID."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from hgrec.data.errors import DataError


def read_codes(path: str | Path, ds) -> tuple[np.ndarray, list[int]]:
    """codes.parquet of `hgrec tokenize` -> ((N, D') unique codes of dense items 1..N, vocab size per level).

    Items are matched by the source's own id, so codes made from one load of a dataset fit another.
    The disambiguation level is kept only when some codes collide (otherwise it is all zeros).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"semantic IDs not found: {path} (make them with `hgrec tokenize --config ...`)", path)
    try:
        table = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DataError(f"not a readable parquet file ({str(e).splitlines()[0]}): damaged or cut-off?", path) from e
    for col in ("item_id", "sid"):
        if col not in table.columns:
            raise DataError(f"{path}: column {col!r} missing (expected the codes.parquet of `hgrec tokenize`)", path)
    dense = ds.item_map.to_dense(table["item_id"].to_numpy(), where=str(path))
    known = np.ones(len(dense), dtype=bool)
    have = np.zeros(ds.num_items + 1, dtype=bool)
    have[dense[known]] = True
    if not have[1:].all():
        missing = ds.item_map.to_raw(np.flatnonzero(~have[1:])[:5] + 1)
        raise DataError(f"{path}: no code for {int((~have[1:]).sum())} items of {ds.name} (e.g. {list(missing)}); "
                        "tokenize this dataset again", path)
    try:
        sid = np.stack(table["sid"].to_numpy()[known]).astype(np.int64)
    except (ValueError, TypeError) as e:
        raise DataError(f"column 'sid': expected one list of integer codes of one length per item ({e})", path) from e
    codes = np.zeros((ds.num_items, sid.shape[1]), dtype=np.int64)
    codes[dense[known] - 1] = sid
    if codes[:, -1].max() == 0:
        codes = codes[:, :-1]
    if len(np.unique(codes, axis=0)) != len(codes):
        raise DataError(f"{path}: codes are not unique per item", path)
    return codes, [int(v) + 1 for v in codes.max(0)]
