"""The canonical dataset: three tables, two id maps, and where they came from.

Every adapter produces a `Dataset`; every model, view and benchmark consumes one. Schema
(docs/data.md has the full table):

interactions  user_id:int64, item_id:int64 (dense ids), ts:int64 (**milliseconds** since the epoch;
              for order-only sources the 0-based position in the user's sequence), and where the
              source has them clicked:bool, effective:bool, watch_ratio:float32, rating:int8,
              request_id:int64, position:int16, liked/followed/commented/forwarded/hated:bool, ...
              Rows are sorted by (user_id, ts); rows with equal ts keep the source file's order.
              Logged requests: `request_id` is dense (0.., one per user-request, in canonical order),
              a request's rows share one ts and are contiguous, sorted by `position` (slot in the request).
items         item_id (dense, 1..N), raw_id, text:str, plus categorical feature columns.
users         user_id (dense, 0..U-1), raw_id, plus categorical feature columns.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hgrec.data.errors import DataError
from hgrec.data.idmap import IdMap
from hgrec.utils.atomic import atomic_dir, recover_dir

SCHEMA_VERSION = 1

REQUIRED = {"user_id": pl.Int64, "item_id": pl.Int64, "ts": pl.Int64}
OPTIONAL = {
    "clicked": pl.Boolean,
    "effective": pl.Boolean,
    "watch_ratio": pl.Float32,
    "rating": pl.Int8,
    "request_id": pl.Int64,
    "position": pl.Int16,
}


@dataclasses.dataclass
class DatasetInfo:
    """What a dataset is and what it can be used for (written to meta.json in the cache)."""

    name: str
    source: str  # where the raw files were read from
    has_timestamps: bool  # False: ts is the position in the user's sequence (order only)
    has_negatives: bool  # exposures without positive feedback are in the log
    effective_definition: str  # what `effective` means for this source
    text_is_derived: bool = False  # item text is not the original metadata
    text_note: str = ""
    licence: str = ""
    citation: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Dataset:
    interactions: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame
    item_map: IdMap
    user_map: IdMap
    info: DatasetInfo
    cache_hit: bool = False  # True when this object was read from the parquet cache

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def num_users(self) -> int:
        return len(self.user_map)

    @property
    def num_items(self) -> int:
        """Real items (dense ids 1..num_items); embedding tables need num_items + 1 rows."""
        return len(self.item_map)

    def validate(self) -> "Dataset":
        """Check the invariants every consumer relies on; raise DataError naming the broken one."""
        df = self.interactions
        where = f"dataset {self.name}"
        for col, typ in REQUIRED.items():
            if col not in df.columns:
                raise DataError(f"interactions lack column '{col}'", where)
            if df.schema[col] != typ:
                raise DataError(f"interactions.{col} is {df.schema[col]}, expected {typ}", where)
        for col, typ in OPTIONAL.items():
            if col in df.columns and df.schema[col] != typ:
                raise DataError(f"interactions.{col} is {df.schema[col]}, expected {typ}", where)
        if df.height == 0:
            raise DataError("no interactions", where)
        u = df["user_id"].to_numpy()
        i = df["item_id"].to_numpy()
        if u.min() < 0 or u.max() >= self.num_users:
            raise DataError("user ids outside the user map", where)
        if i.min() < 1 or i.max() > self.num_items:
            raise DataError("item ids outside 1..num_items (0 is padding)", where)
        t = df["ts"].to_numpy()
        same_user = u[1:] == u[:-1]
        if (u[1:] < u[:-1]).any() or (same_user & (t[1:] < t[:-1])).any():
            raise DataError("interactions are not sorted by (user_id, ts)", where)
        if self.items.height != self.num_items or self.users.height != self.num_users:
            raise DataError("items/users tables do not match the id maps", where)
        return self

    # ---- persistence (the parquet cache) ----
    def save(self, path: str | Path) -> Path:
        """Write the dataset as a directory of parquet files, atomically (all or nothing)."""
        with atomic_dir(path) as tmp:
            self.interactions.write_parquet(tmp / "interactions.parquet")
            self.items.write_parquet(tmp / "items.parquet")
            self.users.write_parquet(tmp / "users.parquet")
            self.item_map.save(tmp / "item_map.parquet")
            self.user_map.save(tmp / "user_map.parquet")
            meta = {"schema_version": SCHEMA_VERSION, "info": dataclasses.asdict(self.info)}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "Dataset":
        path = Path(path)
        recover_dir(path)
        meta_path = path / "meta.json"
        if not meta_path.exists():
            raise DataError("not a dataset cache (no meta.json)", path)
        try:
            meta = json.loads(meta_path.read_bytes().decode("utf-8"))
            if meta.get("schema_version") != SCHEMA_VERSION:
                raise DataError(f"cache schema {meta.get('schema_version')} != {SCHEMA_VERSION}; rebuild it", path)
            return cls(
                interactions=pl.read_parquet(path / "interactions.parquet"),
                items=pl.read_parquet(path / "items.parquet"),
                users=pl.read_parquet(path / "users.parquet"),
                item_map=IdMap.load(path / "item_map.parquet", "item"),
                user_map=IdMap.load(path / "user_map.parquet", "user"),
                info=DatasetInfo(**meta["info"]),
                cache_hit=True,
            )
        except DataError:
            raise
        except (pl.exceptions.PolarsError, OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(f"damaged cache ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})", path) from e


def build_dataset(
    interactions: pl.DataFrame,
    info: DatasetInfo,
    items: pl.DataFrame | None = None,
    users: pl.DataFrame | None = None,
    *,
    item_col: str = "item_id",
    user_col: str = "user_id",
    order_col: str | None = None,
) -> Dataset:
    """Turn raw-id interactions into a canonical Dataset (dense ids, sorted, features joined).

    `interactions` carries raw ids in `user_col`/`item_col`, a `ts` column in ms, and optional
    canonical columns. Rows keep the file's order among equal timestamps (`order_col`, default the
    row order as given). `items`/`users` carry raw ids in `raw_id` plus feature columns; items and
    users that never occur in the log are dropped, so the catalogue is what the log can teach.
    """
    df = interactions.with_row_index("_row") if order_col is None else interactions.rename({order_col: "_row"})
    user_map = IdMap.build(df[user_col], offset=0, kind="user")
    item_map = IdMap.build(df[item_col], offset=1, kind="item")
    df = df.with_columns(
        user_id=pl.Series(user_map.to_dense(df[user_col].to_numpy()), dtype=pl.Int64),
        item_id=pl.Series(item_map.to_dense(df[item_col].to_numpy()), dtype=pl.Int64),
    )
    if user_col != "user_id":
        df = df.drop(user_col)
    if item_col != "item_id":
        df = df.drop(item_col)
    # Logged requests (request_id, and position within the request) order rows of equal ts; every row of
    # one request must share its ts (the adapters give a request the time of its first exposure).
    keys = ["user_id", "ts"] + [c for c in ("request_id", "position") if c in df.columns] + ["_row"]
    df = df.sort(keys).drop("_row")
    if "request_id" in df.columns:
        df = _dense_requests(df)
    lead = ["user_id", "item_id", "ts"]
    df = df.select(lead + [c for c in df.columns if c not in lead])
    df = df.with_columns([pl.col(c).cast(t) for c, t in OPTIONAL.items() if c in df.columns])

    item_frame = pl.DataFrame(
        {"item_id": np.arange(1, item_map.num_ids, dtype=np.int64), "raw_id": item_map.raw}
    )
    if items is not None:
        item_frame = _join_features(item_frame, items, item_map, "item")
    if "text" not in item_frame.columns:
        item_frame = item_frame.with_columns(text=pl.col("raw_id").cast(pl.Utf8))
    item_frame = item_frame.with_columns(pl.col("text").fill_null(""))
    user_frame = pl.DataFrame({"user_id": np.arange(user_map.num_ids, dtype=np.int64), "raw_id": user_map.raw})
    if users is not None:
        user_frame = _join_features(user_frame, users, user_map, "user")
    return Dataset(df, item_frame, user_frame, item_map, user_map, info).validate()


def _dense_requests(df: pl.DataFrame) -> pl.DataFrame:
    """Raw request ids -> dense 0.. ids, one per (user, request) in canonical order; a request must be
    contiguous (one ts for all its rows) and have no empty id."""
    where = "interactions.request_id"
    if df["request_id"].null_count():
        raise DataError(f"{df['request_id'].null_count()} row(s) have no request id", where)
    u, r = df["user_id"].to_numpy(), df["request_id"].to_numpy()
    new = np.ones(len(u), dtype=bool)
    new[1:] = (u[1:] != u[:-1]) | (r[1:] != r[:-1])
    dense = np.cumsum(new) - 1
    if int(new.sum()) != df.select(pl.struct("user_id", "request_id").n_unique()).item():
        raise DataError("a request's rows have different timestamps (give each request one time)", where)
    return df.with_columns(request_id=pl.Series(dense, dtype=pl.Int64))


def _join_features(frame: pl.DataFrame, features: pl.DataFrame, idmap: IdMap, kind: str) -> pl.DataFrame:
    if features["raw_id"].n_unique() != features.height:
        raise DataError(f"{kind} feature table has duplicate ids")
    features = features.with_columns(pl.col("raw_id").cast(frame.schema["raw_id"]))
    return frame.join(features, on="raw_id", how="left", maintain_order="left")
