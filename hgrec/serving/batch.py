"""Batch inference: a file of user ids -> a parquet file of slates, streaming in constant memory.

    hgrec recommend --checkpoint runs/kuairand-pure-higr-s0/best --users users.txt --out slates.parquet

`users.txt` holds one source user id per line (blank lines and lines starting with # are skipped).
Users are read, decoded and written `chunk` at a time (pyarrow's ParquetWriter appends one row
group per chunk), so memory does not grow with the number of users. The output (written to a
temporary file and renamed at the end: a killed run leaves no half file) has one row per user:
`user_id`, `items` (the slate, source ids), `scores` (log-probabilities, DESIGN §8 predictions
format plus scores). An unknown user stops the run with its line number, unless `skip_unknown`.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from hgrec.data.errors import DataError
from hgrec.decoding.slates import slate_generator
from hgrec.serving.recommend import Recommender
from hgrec.utils.atomic import atomic_path


def read_user_ids(path: str | Path, chunk: int) -> Iterator[list[tuple[int, str]]]:
    """(line number, user id) pairs, `chunk` at a time."""
    def text(line: bytes, n: int) -> str:
        try:
            return line.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            raise DataError(f"not UTF-8 text (byte {line[e.start]:#04x} at column {e.start + 1})", path, n) from e

    with open(path, "rb") as f:
        lines = ((n, text(line, n)) for n, line in enumerate(f, 1))
        rows = ((n, s) for n, s in lines if s and not s.startswith("#"))
        while block := list(itertools.islice(rows, chunk)):
            yield block


def recommend_file(rec: Recommender, users: str | Path, out: str | Path, slate_size: int = 5, beam: int | None = None,
                   exclude_history: bool | None = None, chunk: int = 1024, skip_unknown: bool = False,
                   progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """-> {"users": written, "skipped": unknown users skipped}."""
    if slate_size < 1 or slate_size > rec.ds.num_items:
        raise ValueError(f"slate_size must be between 1 and the catalogue size {rec.ds.num_items}, got {slate_size}")
    gen = slate_generator(rec.model, rec.trie, slate_size, beam or rec.cfg.data.beam,
                          rec.cfg.data.mask_history if exclude_history is None else exclude_history, with_scores=True)
    item_type = pa.string() if rec.ds.item_map.is_string else pa.int64()
    user_type = pa.string() if rec.ds.user_map.is_string else pa.int64()
    schema = pa.schema([("user_id", user_type), ("items", pa.list_(item_type)), ("scores", pa.list_(pa.float32()))])
    written = skipped = 0
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for block in read_user_ids(users, chunk):
            ids = [u for _, u in block]
            try:
                dense = rec.ds.user_map.to_dense(ids, where=str(users))
            except DataError:
                known = np.array([_known(rec, u) for u in ids])
                if not skip_unknown:
                    bad = [(n, u) for (n, u), k in zip(block, known) if not k]
                    raise DataError(f"unknown user id(s) {[u for _, u in bad[:5]]} "
                                    f"(line {', '.join(str(n) for n, _ in bad[:5])}); pass --skip-unknown to skip them",
                                    str(users)) from None
                skipped += int((~known).sum())
                ids = [u for u, k in zip(ids, known) if k]
                if not ids:
                    continue
                dense = rec.ds.user_map.to_dense(ids)
            _, batch = rec.context(rec.ds.user_map.to_raw(dense))
            with torch.inference_mode():
                items, scores = gen(batch)
            items, scores = items.cpu().numpy(), scores.float().cpu().numpy()
            raw_users = rec.ds.user_map.to_raw(dense)
            writer.write_table(pa.table({
                "user_id": pa.array(raw_users.tolist(), user_type),
                "items": pa.array([rec.ds.item_map.to_raw(r[r > 0]).tolist() for r in items], pa.list_(item_type)),
                "scores": pa.array([s[r > 0].tolist() for r, s in zip(items, scores)], pa.list_(pa.float32()))},
                schema=schema))
            written += len(ids)
            if progress is not None:
                progress(len(block))
    return {"users": written, "skipped": skipped}


def _known(rec: Recommender, user: str) -> bool:
    try:
        rec.ds.user_map.to_dense([user])
        return True
    except DataError:
        return False
