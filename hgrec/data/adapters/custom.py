"""Your own log: a CSV/TSV/Parquet file and a column mapping.

    from hgrec.data import TableAdapter, load_dataset
    adapter = TableAdapter("my-shop", "events.parquet", user="customer", item="sku", ts="event_time",
                           ts_unit="s", effective="purchased", clicked="clicked")
    ds = load_dataset(adapter)                         # cached like any built-in dataset

Only user/item are required. Without `ts` the file order is the time order (ts = position).
`effective` may name a boolean/0-1 column or be omitted (then every row is positive).
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
                 sep: str = ","):
        if ts_unit not in _UNITS:
            raise ValueError(f"ts_unit must be one of {sorted(_UNITS)}, got {ts_unit!r}")
        self.name, self.path = name, Path(path)
        self.user, self.item, self.ts, self.ts_unit = user, item, ts, ts_unit
        self.effective, self.clicked = effective, clicked
        self.items_path, self.item_text, self.sep = (Path(items_path) if items_path else None), item_text, sep
        self.options = {"user": user, "item": item, "ts": ts, "ts_unit": ts_unit, "effective": effective,
                        "clicked": clicked, "item_text": item_text, "sep": sep}

    def source_files(self, root: Path | None = None) -> list[Path]:
        return [self.path] + ([self.items_path] if self.items_path else [])

    def _read(self, path: Path) -> pl.DataFrame:
        if not path.exists():
            raise DataError("file not found", path)
        try:
            if path.suffix == ".parquet":
                return pl.read_parquet(path)
            return pl.read_csv(path, separator=self.sep, infer_schema_length=10000)
        except (pl.exceptions.PolarsError, OSError) as e:
            raise DataError(f"cannot read table ({str(e).splitlines()[0]})", path) from e

    def read(self, root: Path | None = None) -> Dataset:
        df = self._read(self.path)
        need = [c for c in (self.user, self.item, self.ts, self.effective, self.clicked) if c]
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise DataError(f"missing column(s) {missing}; the file has {df.columns}", self.path)
        if df.height == 0:
            raise DataError("table has no rows", self.path)
        for c in (self.user, self.item):
            if df[c].null_count():
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
        inter = df.select(**cols).with_row_index("_row")
        if inter["ts"].null_count():
            raise DataError(f"column '{self.ts}' has empty or non-numeric values", self.path)
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
