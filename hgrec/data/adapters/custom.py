"""Your own log: a CSV/TSV/Parquet file and a column mapping.

    from hgrec.data import TableAdapter, load_dataset
    adapter = TableAdapter("my-shop", "events.parquet", user="customer", item="sku", ts="event_time",
                           ts_unit="s", effective="purchased", clicked="clicked",
                           request_id="request", position="slot")   # optional: logged feed requests
    ds = load_dataset(adapter)                         # cached like any built-in dataset

Only user/item are required. Without `ts` the file order is the time order (ts = position).
`effective` may name a boolean/0-1 column or be omitted (then every row is positive).

Feed logs: `request_id` names the column that says which rows one request (one screen, one page of
the feed) showed, so slates are exactly the logged requests (hgrec.data.views); `position` is the
slot within it (integer 0..32767; without it, the file order within the request). A request is
one moment: its rows take the request's earliest `ts` (without `ts`, requests are ordered by their
first row in the file). Any id type works (ints, strings); it is kept as a dense int per user-request.

`LogFolderAdapter` (registry name `table`) is the same for configs: `data: {dataset: table, root:
FOLDER}` reads FOLDER/interactions.{parquet,csv,tsv} with the canonical column names (user_id,
item_id and, where present, ts in seconds, effective, clicked, request_id, position) and an optional
FOLDER/items.{parquet,csv,tsv} (item_id, text, features). Its cache is one slot: loading another
folder replaces it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hgrec.data.adapters.base import Adapter
from hgrec.data.dataset import Dataset, DatasetInfo, build_dataset
from hgrec.data.errors import DataError

_UNITS = {"ms": 1, "s": 1000, "us": 1e-3, "ns": 1e-6}


class TableAdapter(Adapter):
    version = "1"

    def __init__(self, name: str, path: str | Path, *, user: str = "user_id", item: str = "item_id",
                 ts: str | None = "ts", ts_unit: str = "s", effective: str | None = None,
                 clicked: str | None = None, items_path: str | Path | None = None, item_text: str = "text",
                 sep: str = ",", request_id: str | None = None, position: str | None = None):
        if ts_unit not in _UNITS:
            raise ValueError(f"ts_unit must be one of {sorted(_UNITS)}, got {ts_unit!r}")
        self.name, self.path = name, Path(path)
        self.user, self.item, self.ts, self.ts_unit = user, item, ts, ts_unit
        self.effective, self.clicked = effective, clicked
        self.items_path, self.item_text, self.sep = (Path(items_path) if items_path else None), item_text, sep
        self.request_id, self.position = request_id, position
        if position and not request_id:
            raise ValueError("position is the slot within a request: give request_id too")
        self.options = {"user": user, "item": item, "ts": ts, "ts_unit": ts_unit, "effective": effective,
                        "clicked": clicked, "item_text": item_text, "sep": sep}
        if request_id:  # only then, so caches of tables without requests keep their key
            self.options |= {"request_id": request_id, "position": position}

    def source_files(self, root: Path | None = None) -> list[Path]:
        return [self.path] + ([self.items_path] if self.items_path else [])

    def _read(self, path: Path) -> pl.DataFrame:
        if not path.exists():
            raise DataError("file not found", path)
        try:
            if path.suffix == ".parquet":
                return pl.read_parquet(path)
            sep = "\t" if path.suffix == ".tsv" and self.sep == "," else self.sep
            return pl.read_csv(path, separator=sep, infer_schema_length=10000)
        except (pl.exceptions.PolarsError, OSError) as e:
            raise DataError(f"cannot read table ({str(e).splitlines()[0]})", path) from e

    def read(self, root: Path | None = None) -> Dataset:
        return self.from_frame(self._read(self.path))

    def from_frame(self, df: pl.DataFrame) -> Dataset:
        """The dataset of an already-read interactions table (errors still name `self.path`)."""
        need = [c for c in (self.user, self.item, self.ts, self.effective, self.clicked, self.request_id,
                            self.position) if c]
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise DataError(f"missing column(s) {missing}; the file has {df.columns}", self.path)
        if df.height == 0:
            raise DataError("table has no rows", self.path)
        for c in (self.user, self.item, self.request_id, self.position):
            if c and df[c].null_count():
                raise DataError(f"column '{c}' has {df[c].null_count()} empty value(s)", self.path)
        cols = {"user": pl.col(self.user), "item": pl.col(self.item)}
        if self.ts:
            t = pl.col(self.ts)
            if df.schema[self.ts] in (pl.Datetime, pl.Date) or isinstance(df.schema[self.ts], pl.Datetime):
                t = t.cast(pl.Datetime("ms")).cast(pl.Int64)
            else:
                t = (t.cast(pl.Float64) * _UNITS[self.ts_unit]).round(0).cast(pl.Int64)
            cols["ts"] = t
        else:
            cols["ts"] = pl.int_range(pl.len()).over(self.user).cast(pl.Int64)
        cols["effective"] = pl.col(self.effective).cast(pl.Boolean) if self.effective else pl.lit(True)
        if self.clicked:
            cols["clicked"] = pl.col(self.clicked).cast(pl.Boolean)
        if self.request_id:
            cols["request_id"] = pl.col(self.request_id).rank("dense").cast(pl.Int64)  # any id type -> int
            if self.position:
                if not df.schema[self.position].is_integer():
                    raise DataError(f"column '{self.position}' must hold integer slots, not {df.schema[self.position]}",
                                    self.path)
                if not df[self.position].is_between(0, 32767).all():
                    raise DataError(f"column '{self.position}' has slots outside 0..32767", self.path)
                cols["position"] = pl.col(self.position)
            else:
                cols["position"] = pl.int_range(pl.len()).over(self.user, self.request_id)
        inter = df.select(**cols).with_row_index("_row")
        if inter["ts"].null_count():
            raise DataError(f"column '{self.ts}' has empty or non-numeric values", self.path)
        if self.request_id:  # a request is one moment: the time of its first exposure (or first row)
            req = ["user", "request_id"]
            first = (pl.col("ts").min().over(req) if self.ts
                     else pl.col("_row").min().over(req).rank("dense").over("user") - 1)
            inter = inter.with_columns(ts=first.cast(pl.Int64))
        items = None
        if self.items_path:
            it = self._read(self.items_path)
            if self.item not in it.columns:
                raise DataError(f"items table lacks the item column '{self.item}'", self.items_path)
            items = it.rename({self.item: "raw_id"})
            if self.item_text in items.columns and self.item_text != "text":
                items = items.rename({self.item_text: "text"})
        info = DatasetInfo(
            name=self.name, source=str(self.path), has_timestamps=self.ts is not None,
            has_negatives=self.effective is not None,
            effective_definition=f"column '{self.effective}'" if self.effective else "every row",
        )
        return build_dataset(inter, info, items=items, item_col="item", user_col="user", order_col="_row")


class LogFolderAdapter(Adapter):
    """Registry name `table`: a folder with interactions.{parquet,csv,tsv} in canonical column names."""

    name = "table"
    version = "1"
    _INTER = ("interactions.parquet", "interactions.csv", "interactions.tsv")
    _ITEMS = ("items.parquet", "items.csv", "items.tsv")

    def source_files(self, root: Path) -> list[Path]:
        return self._find(root, *self._INTER)[:1] + self._find(root, *self._ITEMS, required=False)[:1]

    def read(self, root: Path) -> Dataset:
        path, *items = self.source_files(root)
        df = TableAdapter(self.name, path)._read(path)
        has = lambda c: c if c in df.columns else None  # noqa: E731
        table = TableAdapter(self.name, path, ts=has("ts"), effective=has("effective"), clicked=has("clicked"),
                             request_id=has("request_id"), position=has("position") if has("request_id") else None,
                             items_path=items[0] if items else None)
        return table.from_frame(df)
