"""The features a production ranker has, for every CTR model alike (and the LightGBM baseline).

Groups (`data.features` in a config; empty = none, the history-only models of the first build):

  user      the user's profile table (`Dataset.users`): every categorical column, range buckets as
            they are, numeric columns with many values (age) in quantile buckets
  item      the candidate's side table (`Dataset.items`): categorical columns, the first two entries
            of list columns (KuaiRand tags, ML genres), numeric columns in quantile buckets (duration,
            year); `*_id` columns (author, music) keep their `ID_VOCAB` most frequent values
  context   the request: KuaiRand's `tab` and the hour of day of the exposure
  counters  real-time causal counters: the user's and the candidate item's exposures and positives
            (each feedback column the log has: clicked, effective) *strictly before* the exposure's
            timestamp, and the smoothed positive rates they give
  cross     MTGR's user-item cross features: the user's exposures and positives of the candidate's
            author (KuaiRand) or primary genre (ML) strictly before the exposure

Never used: the KuaiRand statistics table (it aggregates over the whole log, the test period too), the
candidate's own label, or anything at or after its timestamp (ties included): `tests/data/test_ctr_features.py`
shuffles and rewrites every future row and checks that no feature moves.

Two forms of the same numbers: `codes(rows)` -> (B, F) int64 buckets for the neural models (0 = unknown
for every field, so an unknown user or item gets field 0, not an error) and `frame(rows)` -> (B, F')
float32 for LightGBM (raw counts and rates, category codes). Serving calls `request_codes` with a
user, candidates and a time; it runs the same counter query (`_EventIndex.before`) as training.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from hgrec.data.dataset import Dataset
from hgrec.data.errors import DataError

GROUPS = ("user", "item", "context", "counters", "cross")
ID_VOCAB = 2000  # most frequent values kept of an `*_id` column (author, music); the rest share one bucket
QUANTILE_BUCKETS = 16
COUNT_BUCKETS = 16  # 0 = unknown, 1 + floor(log2(1 + count)) capped
RATE_BUCKETS = 12  # 0 = unknown, 1 = no exposure yet, 2..11 = smoothed rate deciles
SKIP = {"user_id", "item_id", "raw_id", "text", "title", "release_date", "upload_dt", "zip", "video_id"}
LIST_COLUMNS = {"tag", "genres"}
CROSS_KEY = ("author_id", "genres", "tag")  # the first the item table has is the cross key


@dataclasses.dataclass
class FeatureField:
    name: str
    size: int  # number of buckets, 0 = unknown included
    numeric: bool = False  # LightGBM: a number (counts, rates) rather than a category


def _encode_table(df: pl.DataFrame, id_col: str, n_rows: int, where: str) -> tuple[np.ndarray, list[FeatureField]]:
    """(n_rows, F) int64 codes of a side table's columns, row = dense id; rows the table lacks stay 0."""
    cols, fields = [], []
    ids = df[id_col].to_numpy()
    if ids.size and (ids.min() < 0 or ids.max() >= n_rows):
        raise DataError(f"{id_col} outside 0..{n_rows - 1}", where)
    for name in df.columns:
        if name in SKIP or name.endswith("_text"):
            continue
        s = df[name]
        if name in LIST_COLUMNS:
            parts = s.cast(pl.Utf8).str.split(",").list.eval(pl.element().str.strip_chars())
            for j, tag in enumerate(("primary", "secondary")):
                cols.append((f"{name}_{tag}", parts.list.get(j, null_on_oob=True)))
            continue
        numeric = s.dtype.is_numeric() and not name.endswith("_id")
        if numeric and s.n_unique() > 64:  # durations, ages, years: quantile buckets over the table
            v = s.cast(pl.Float64).to_numpy()
            edges = np.unique(np.nanquantile(v, np.linspace(0, 1, QUANTILE_BUCKETS + 1)[1:-1]))
            b = np.where(np.isnan(v), 0, 1 + np.searchsorted(edges, v, side="right"))
            cols.append((name, pl.Series(name, b.astype(np.int64))))
            continue
        cols.append((name, s))
    out = np.zeros((n_rows, len(cols)), dtype=np.int64)
    for j, (name, s) in enumerate(cols):
        s = s.cast(pl.Utf8)
        vc = s.drop_nulls().value_counts(sort=True)
        keep = vc[s.name].to_list()[: ID_VOCAB if name.endswith("_id") else None]
        keep = sorted(keep)
        other = len(keep) + 1 if len(keep) < vc.height else 0  # capped ids share one bucket
        code = s.replace_strict(keep, list(range(1, len(keep) + 1)), default=other, return_dtype=pl.Int64)
        out[ids, j] = code.fill_null(0).to_numpy()
        fields.append(FeatureField(name, len(keep) + 1 + (other > 0)))
    return out, fields


class _EventIndex:
    """Count a key's events strictly before a time: events sorted by (key, time) once, one
    `searchsorted` per query. Training and serving ask the same question through `before`."""

    def __init__(self, keys: np.ndarray, ts: np.ndarray, positives: dict[str, np.ndarray]):
        self.t0 = int(ts.min()) if len(ts) else 0
        self.span = int(ts.max()) - self.t0 + 2 if len(ts) else 2
        self.num_keys = int(keys.max(initial=0)) + 1
        if self.num_keys * self.span >= 2**62:
            raise DataError(f"counter keys x time span too large for int64 ({self.num_keys} keys, {self.span} ms)")
        order = np.lexsort((ts, keys))
        self.combined = keys[order].astype(np.int64) * self.span + (ts[order] - self.t0)
        self.cum = {k: np.concatenate([[0], np.cumsum(v[order].astype(np.int64))]) for k, v in positives.items()}

    def before(self, keys: np.ndarray, ts: np.ndarray) -> dict[str, np.ndarray]:
        """{"n": exposures, <column>: positives} of each (key, time) query, strictly before time."""
        keys = np.asarray(keys, dtype=np.int64)
        known = (keys >= 0) & (keys < self.num_keys)
        k = np.where(known, keys, 0)
        t = np.clip(np.asarray(ts, dtype=np.int64) - self.t0, 0, self.span - 1)
        at = np.searchsorted(self.combined, k * self.span + t, side="left")
        start = np.searchsorted(self.combined, k * self.span, side="left")
        out = {"n": np.where(known, at - start, 0)}
        for col, cum in self.cum.items():
            out[col] = np.where(known, cum[at] - cum[start], 0)
        return out


def _count_bucket(n: np.ndarray) -> np.ndarray:
    return np.minimum(1 + np.floor(np.log2(1.0 + n)).astype(np.int64), COUNT_BUCKETS - 1)


def _rate(pos: np.ndarray, n: np.ndarray, prior: np.ndarray) -> np.ndarray:
    return (pos + 5.0 * prior) / (n + 5.0)  # smoothed towards the global rate so far: 5 pseudo-exposures


def _rate_bucket(pos: np.ndarray, n: np.ndarray, prior: np.ndarray) -> np.ndarray:
    r = _rate(pos, n, prior)
    return np.where(n > 0, 2 + np.minimum((r * 10).astype(np.int64), 9), 1)


class CTRFeatures:
    """Side features and causal counters of every exposure of a dataset (module docstring)."""

    def __init__(self, ds: Dataset, groups: tuple[str, ...] | list[str], log: pl.DataFrame | None = None):
        """`log`: the exposures whose row numbers `codes` / `frame` take (default `ds.interactions`)."""
        unknown = sorted(set(groups) - set(GROUPS))
        if unknown:
            raise DataError(f"data.features: unknown group(s) {unknown}; known: {list(GROUPS)}")
        self.groups = tuple(g for g in GROUPS if g in groups)  # canonical order
        inter = ds.interactions if log is None else log
        self.num_users, self.num_items = ds.num_users, ds.num_items
        ts = inter["ts"].to_numpy()
        users, items = inter["user_id"].to_numpy(), inter["item_id"].to_numpy()
        self.feedback = [c for c in ("clicked", "effective") if c in inter.columns]
        pos = {c: inter[c].to_numpy().astype(np.int8) for c in self.feedback}
        # the rates' prior: the whole log's positive rate strictly before the exposure (causal too)
        self.global_index = _EventIndex(np.zeros(len(ts), np.int64), ts, pos)
        self.fields: list[FeatureField] = []
        self.user_codes = np.zeros((ds.num_users, 0), np.int64)
        self.item_codes = np.zeros((ds.num_items + 2, 0), np.int64)  # + [MASK] row: unknown everywhere
        if "user" in self.groups and ds.users is not None and ds.users.width > 2:
            self.user_codes, f = _encode_table(ds.users, "user_id", ds.num_users, f"{ds.name} users")
            self.fields += [dataclasses.replace(x, name=f"user.{x.name}") for x in f]
        if "item" in self.groups and ds.items is not None:
            self.item_codes, f = _encode_table(ds.items, "item_id", ds.num_items + 2, f"{ds.name} items")
            self.fields += [dataclasses.replace(x, name=f"item.{x.name}") for x in f]
        self.has_tab = "context" in self.groups and "tab" in inter.columns
        if "context" in self.groups:
            if self.has_tab:
                self.tab_size = int(inter["tab"].max()) + 2
                self.fields.append(FeatureField("context.tab", self.tab_size))
            self.fields.append(FeatureField("context.hour", 25))
        self.user_index = self.item_index = self.cross_index = None
        if "counters" in self.groups:
            self.user_index = _EventIndex(users, ts, pos)
            self.item_index = _EventIndex(items, ts, pos)
            for who in ("user", "item"):
                self.fields.append(FeatureField(f"counters.{who}_n", COUNT_BUCKETS, True))
                for c in self.feedback:
                    self.fields += [FeatureField(f"counters.{who}_{c}", COUNT_BUCKETS, True),
                                    FeatureField(f"counters.{who}_{c}_rate", RATE_BUCKETS, True)]
        if "cross" in self.groups:
            key_col = next((c for c in CROSS_KEY if ds.items is not None and c in ds.items.columns), None)
            if key_col is None:
                raise DataError(f"data.features: cross needs an author, genre or tag column in {ds.name}'s items")
            codes, f = _encode_table(ds.items.select("item_id", key_col), "item_id", ds.num_items + 2, ds.name)
            self.cross_key, self.cross_name = codes[:, 0], f[0].name  # list columns: the primary entry
            self.cross_width = int(self.cross_key.max()) + 1
            self.cross_index = _EventIndex(users * self.cross_width + self.cross_key[items], ts, pos)
            self.fields.append(FeatureField(f"cross.user_{self.cross_name}_n", COUNT_BUCKETS, True))
            for c in self.feedback:
                self.fields += [FeatureField(f"cross.user_{self.cross_name}_{c}", COUNT_BUCKETS, True),
                                FeatureField(f"cross.user_{self.cross_name}_{c}_rate", RATE_BUCKETS, True)]
        self._users, self._items, self._ts = users, items, ts
        self._tab = inter["tab"].to_numpy().astype(np.int64) if self.has_tab else None

    @property
    def sizes(self) -> list[int]:
        """Bucket count of each field: what the models' feature embeddings are built from."""
        return [f.size for f in self.fields]

    def __len__(self) -> int:
        return len(self.fields)

    # ---- the one feature path: (user, item, time, tab) queries ----
    def _query(self, user: np.ndarray, item: np.ndarray, ts_ms: np.ndarray, tab: np.ndarray | None,
               numeric: bool) -> np.ndarray:
        """(B, F) features of exposures given as arrays; user -1 / item 0 = unknown."""
        B = len(item)
        user = np.asarray(user, np.int64)
        item = np.asarray(item, np.int64)
        ts_ms = np.asarray(ts_ms, np.int64)
        known_u = (user >= 0) & (user < self.num_users)
        known_i = (item > 0) & (item <= self.num_items)
        u = np.where(known_u, user, 0)
        i = np.where(known_i, item, 0)
        parts: list[np.ndarray] = []
        g = self.global_index.before(np.zeros(B, np.int64), ts_ms)
        prior = {c: (g[c] + 1.0) / (g["n"] + 2.0) for c in self.feedback}
        if self.user_codes.shape[1]:
            parts.append(np.where(known_u[:, None], self.user_codes[u], 0))
        if self.item_codes.shape[1]:
            parts.append(self.item_codes[i])
        if "context" in self.groups:
            if self.has_tab:
                t = np.full(B, -1, np.int64) if tab is None else np.asarray(tab, np.int64)
                parts.append(np.where((t >= 0) & (t < self.tab_size - 1), t + 1, 0)[:, None])
            parts.append((1 + (ts_ms // 3_600_000) % 24)[:, None])
        for index, keys, known in ((self.user_index, user, known_u), (self.item_index, item, known_i),
                                   (self.cross_index, None, known_u & known_i)):
            if index is None:
                continue
            if keys is None:  # cross: (user, the item's author / genre) pairs
                keys = u * self.cross_width + self.cross_key[i]
            got = index.before(np.where(known, keys, -1), ts_ms)
            n = got["n"]
            parts.append((n if numeric else _count_bucket(n))[:, None])
            for c in self.feedback:
                p = got[c]
                if numeric:
                    parts.append(np.stack([p, _rate(p, n, prior[c])], 1))
                else:
                    parts.append(np.stack([_count_bucket(p), _rate_bucket(p, n, prior[c])], 1))
        if not parts:
            return np.zeros((B, 0), np.float32 if numeric else np.int64)
        out = np.concatenate([p.astype(np.float64 if numeric else np.int64) for p in parts], 1)
        return out.astype(np.float32) if numeric else out

    # ---- logged exposures (training, evaluation) ----
    def codes(self, rows: np.ndarray) -> np.ndarray:
        """(B, F) int64 buckets of logged exposures `rows` (flat indices into the interactions)."""
        return self._query(self._users[rows], self._items[rows], self._ts[rows],
                           None if self._tab is None else self._tab[rows], numeric=False)

    def frame(self, rows: np.ndarray) -> np.ndarray:
        """(B, F) float32 of the same features for LightGBM: counts and rates as numbers, categories as codes."""
        return self._query(self._users[rows], self._items[rows], self._ts[rows],
                           None if self._tab is None else self._tab[rows], numeric=True)

    # ---- serving ----
    def request_codes(self, user: int | None, items: np.ndarray, ts_ms: int, tab: int | None = None) -> np.ndarray:
        """(C, F) buckets of candidates `items` shown to dense user `user` (None = unknown) at `ts_ms`."""
        C = len(items)
        return self._query(np.full(C, -1 if user is None else user), items, np.full(C, ts_ms),
                           None if tab is None else np.full(C, tab), numeric=False)
