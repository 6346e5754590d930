"""MIND (Microsoft News Dataset; Wu et al., ACL 2020): news impressions with per-item clicks.

Reads the official release layout: `MINDsmall_train/` and `MINDsmall_dev/` (or `MINDlarge_*`), each
with `behaviors.tsv` and `news.tsv`, in `root` (or `root/data`); or a single `behaviors.tsv` +
`news.tsv` directly in `root`. The unlabelled `MINDlarge_test` is not read. Formats (tab-separated,
no header):

- behaviors.tsv: impression id, user id, time (`11/15/2019 8:55:22 AM`, US format, 12-hour clock),
  history (the user's earlier clicks, space-separated news ids, may be empty), impressions
  (`N123-1 N456-0`: news id, dash, clicked flag 1/0, in display order).
- news.tsv: news id, category, subcategory, title, abstract, url, title entities, abstract entities.

Mapping to the canonical schema:
- **Each impression is one request**: request_id = the impression (train and dev each number theirs
  from 1, so the key is (file, id)), position = the index in the impressions list, clicked =
  effective = the flag, ts = the impression time in ms (read as UTC: the release names no zone).
  Train and dev are one log: dev is the day after train, so leave-last-out and temporal splits put
  it at the end.
- **History**: MIND gives every impression the user's click history from before the logging
  window (it does not grow with the impressions inside it). We take the history of the user's
  earliest impression once and add its items as clicked + effective rows of one extra request,
  1 ms before that first impression, in the listed order (position = index). Why: they are real
  clicks, and without them most users would start cold (HiGR's S^u needs earlier effective items);
  as a request of their own they are history for every logged slate but never a slate sample
  themselves (no effective item precedes them, so `min_history >= 1` drops it). Caveat: CTR rows
  see them as clicked exposures without their unclicked neighbours; `MINDAdapter(history=False)`
  leaves them out.
- Item text = title, plus ". " + abstract where there is one; category and subcategory are item
  features. News ids that occur in the log but in no news.tsv keep their id as text (counted in
  info.extra). A news id in both train and dev news.tsv keeps the train row.

Licence: Microsoft Research License Terms (non-commercial research use; see msnews.github.io).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from hgrec.data.adapters.base import Adapter
from hgrec.data.dataset import Dataset, DatasetInfo, build_dataset
from hgrec.data.errors import DataError
from hgrec.data.io import decode_text, read_bytes, read_delimited

BEHAVIOR_FIELDS = ["impression_id", "user", "time", "history", "impressions"]
NEWS_FIELDS = ["raw_id", "category", "subcategory", "title", "abstract", "url", "title_entities",
               "abstract_entities"]  # fmt: skip
TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
_PART_STRIDE = 1 << 40  # request key = part * stride + impression id (ids are unique within a file)


def _first_bad(frame: pl.DataFrame, bad: pl.Series, path: Path, message) -> None:
    """Raise a DataError at the first row flagged in `bad` (message: row -> text)."""
    bad = bad.fill_null(True).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(message(frame.row(i, named=True)), path, int(frame["line"][i]))


def read_behaviors(path: Path) -> pl.DataFrame:
    """behaviors.tsv -> one row per impression: line, impression_id, user, ts (ms), history, impressions.

    Vectorised: the text is split into lines once and checked column by column; the first bad line
    is reported by number."""
    text = decode_text(read_bytes(path), path)
    frame = pl.DataFrame({"raw": text.split("\n")}).with_row_index("line", offset=1)
    frame = frame.with_columns(pl.col("raw").str.strip_chars_end("\r")).filter(pl.col("raw").str.strip_chars() != "")
    n = frame["raw"].str.count_matches("\t", literal=True) + 1
    _first_bad(frame, n != 5, path, lambda r: f"expected 5 tab-separated fields ({', '.join(BEHAVIOR_FIELDS)}), "
                                              f"got {r['raw'].count(chr(9)) + 1}: {r['raw'][:80]!r}")
    frame = frame.select("line", fields=pl.col("raw").str.split("\t"))
    frame = frame.select("line", **{f: pl.col("fields").list.get(i) for i, f in enumerate(BEHAVIOR_FIELDS)})
    frame = frame.with_columns(pl.col("impression_id").str.to_integer(strict=False),
                               ts=pl.col("time").str.strptime(pl.Datetime("ms"), TIME_FORMAT, strict=False)
                               .cast(pl.Int64))
    _first_bad(frame, frame["impression_id"].is_null(), path, lambda r: "impression id is not an integer")
    _first_bad(frame, frame["user"].str.strip_chars() == "", path, lambda r: "empty user id")
    _first_bad(frame, frame["ts"].is_null(), path,
               lambda r: f"time {r['time']!r} is not M/D/YYYY H:MM:SS AM|PM")
    dup = ~frame["impression_id"].is_first_distinct()
    _first_bad(frame, dup, path, lambda r: f"impression id {r['impression_id']} appears on more than one line")
    return frame.drop("time")


def explode_impressions(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """One row per shown item: line, impression_id, user, ts, position, news, clicked."""
    imp = frame.select("line", "impression_id", "user", "ts",
                       token=pl.col("impressions").str.strip_chars().str.split(" "))
    imp = imp.explode("token").with_columns(position=pl.int_range(pl.len()).over("line"))
    parts = pl.col("token").str.extract_groups(r"^(\S+)-([01])$")
    imp = imp.with_columns(news=parts.struct.field("1"), flag=parts.struct.field("2"))
    _first_bad(imp, imp["flag"].is_null(), path,
               lambda r: f"impression {r['token']!r} is not NEWSID-1 or NEWSID-0 (clicked flag)"
               if r["token"] else "empty impression (an empty list, or two spaces in a row)")
    return imp.select("line", "impression_id", "user", "ts", "position", "news", clicked=pl.col("flag") == "1")


def read_news(path: Path) -> pl.DataFrame:
    return read_delimited(path, sep="\t", header=False, names=NEWS_FIELDS,
                          columns={"raw_id": pa.string(), "category": pa.string(), "subcategory": pa.string(),
                                   "title": pa.string(), "abstract": pa.string()})


def check_folder(folder: Path) -> None:
    """Parse a release folder's behaviors.tsv and news.tsv (what `hgrec data fetch mind` verifies: the
    publisher gives no checksum)."""
    behaviors = read_behaviors(Path(folder) / "behaviors.tsv")
    explode_impressions(behaviors, Path(folder) / "behaviors.tsv")
    read_news(Path(folder) / "news.tsv")


class MINDAdapter(Adapter):
    name = "mind"
    version = "1"

    def __init__(self, history: bool = True):
        self.history = history
        self.options = {"history": history}

    def parts(self, root: Path) -> list[Path]:
        """Folders holding behaviors.tsv + news.tsv, in time order (train before dev)."""
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"dataset root for {self.name} is not a directory", root)
        for base in (root, root / "data"):
            train, dev = sorted(base.glob("MIND*_train")), sorted(base.glob("MIND*_dev"))
            found = [p for p in train + dev if p.is_dir()]
            if len({p.name.rsplit("_", 1)[0] for p in found}) > 1:
                raise DataError(f"several MIND releases ({', '.join(p.name for p in found)}): point the root "
                                "at a folder with one (e.g. MINDsmall_train + MINDsmall_dev)", base)
            if found:
                return found
            if (base / "behaviors.tsv").exists():
                return [base]
        raise DataError("no MIND files: expected MINDsmall_train/ and MINDsmall_dev/ (each with behaviors.tsv "
                        "and news.tsv), or behaviors.tsv + news.tsv", root)

    def source_files(self, root: Path) -> list[Path]:
        return [p / f for p in self.parts(root) for f in ("behaviors.tsv", "news.tsv")]

    def read(self, root: Path) -> Dataset:
        parts = self.parts(root)
        shown, first = [], []
        for k, part in enumerate(parts):
            path = part / "behaviors.tsv"
            behaviors = read_behaviors(path).with_columns(part=pl.lit(k))
            imp = explode_impressions(behaviors, path)
            shown.append(imp.select("user", "ts", "position", "clicked", item="news",
                                    request_id=pl.col("impression_id") + k * _PART_STRIDE))
            first.append(behaviors.select("user", "ts", "part", "impression_id", "history"))
        inter = pl.concat(shown)
        n_history = 0
        if self.history:
            # the history of each user's earliest impression, as one request 1 ms before it
            hist = (pl.concat(first).sort("ts", "part", "impression_id").unique("user", keep="first")
                    .select("user", ts=pl.col("ts") - 1, item=pl.col("history").str.strip_chars().str.split(" ")))
            hist = hist.explode("item").filter(pl.col("item").is_not_null() & (pl.col("item") != ""))
            hist = hist.with_columns(position=pl.int_range(pl.len()).over("user"), clicked=pl.lit(True),
                                     request_id=pl.lit(-1, pl.Int64))
            n_history = hist.height
            inter = pl.concat([hist.select(inter.columns), inter])
        inter = inter.with_columns(effective=pl.col("clicked")).with_row_index("_row")

        news = pl.concat([read_news(p / "news.tsv") for p in parts]).unique("raw_id", keep="first",
                                                                             maintain_order=True)
        news = news.select("raw_id", "category", "subcategory", "title", "abstract",
                           text=pl.when(pl.col("abstract").str.strip_chars() != "")
                           .then(pl.col("title") + pl.lit(". ") + pl.col("abstract")).otherwise(pl.col("title")))
        logged = inter["item"].unique()
        info = DatasetInfo(
            name=self.name,
            source=str(root),
            has_timestamps=True,
            has_negatives=True,
            effective_definition="clicked (the impression's 1/0 flag); history items count as clicked",
            text_note="news title + abstract",
            licence="Microsoft Research License Terms (non-commercial research use)",
            citation="Wu et al., MIND: A Large-scale Dataset for News Recommendation, ACL 2020",
            extra={"parts": [p.name for p in parts], "history_rows": n_history,
                   "items_without_text": int((~logged.is_in(news["raw_id"].implode())).sum())},
        )
        return build_dataset(inter, info, items=news, item_col="item", user_col="user",
                             order_col="_row")
