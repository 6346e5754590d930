"""Slates from logged requests (TableAdapter request_id/position): a slate is exactly what one request showed."""

import numpy as np
import polars as pl
import pytest

from hgrec.data import DataError, DatasetInfo, TableAdapter, build_dataset, load_dataset
from hgrec.data.slate_samples import slate_data
from hgrec.data.views import request_index, slates

# (user, request, time s, [(item, clicked, effective)] in slot order)
FEED = [
    ("alice", "a1", 100, [("i10", 0, 0), ("i11", 1, 1), ("i12", 0, 0)]),
    ("alice", "a2", 200, [("i13", 0, 0), ("i10", 0, 0), ("i14", 1, 1), ("i15", 1, 0)]),
    ("alice", "a3", 300, [("i16", 0, 0), ("i17", 1, 1)]),
    ("alice", "a4", 400, [("i18", 0, 0), ("i11", 0, 0), ("i19", 1, 1)]),
    ("bob", "b1", 50, [("i20", 1, 1), ("i21", 0, 0)]),
    ("bob", "b2", 60, [("i22", 0, 0), ("i10", 0, 0), ("i23", 1, 1), ("i24", 0, 0), ("i25", 0, 0), ("i26", 0, 0),
                       ("i27", 0, 0)]),  # 7 items: more than the slate size
    ("bob", "b3", 70, [("i11", 0, 0), ("i12", 1, 1)]),
]


def _write_feed(path, *, shuffle=True, drop=()):
    """The feed as a CSV, rows in random order; each exposure's time is the request's + its slot (s)."""
    rows = [{"user": u, "request": r, "time": t + slot, "slot": slot, "item": i, "click": c, "watched": e}
            for u, r, t, shown in FEED for slot, (i, c, e) in enumerate(shown)]
    df = pl.DataFrame(rows).drop(list(drop))
    if shuffle:
        df = df.sample(fraction=1.0, shuffle=True, seed=3)
    df.write_csv(path)
    return path


def _adapter(path, **kw):
    args = dict(user="user", item="item", ts="time", request_id="request", position="slot", clicked="click",
                effective="watched")
    return TableAdapter("feed", path, **(args | kw))


def _raw(ds, lists):
    return [[str(ds.item_map.raw[i - 1]) for i in items] for items in lists]


def test_table_requests_are_the_logged_slates(tmp_path):
    ds = load_dataset(_adapter(_write_feed(tmp_path / "feed.csv")), cache_dir=tmp_path / "c")
    df = ds.interactions
    # dense request ids in canonical order, rows of a request contiguous, in slot order, at one time
    assert df["request_id"].to_list() == [k for k, (_, _, _, shown) in enumerate(FEED) for _ in shown]
    assert df["position"].to_list() == [p for *_, shown in FEED for p in range(len(shown))]
    assert df["ts"].to_list() == [t * 1000 for _, _, t, shown in FEED for _ in shown]
    # per-item feedback as logged
    assert df["clicked"].to_list() == [bool(c) for *_, shown in FEED for _, c, _ in shown]
    assert df["effective"].to_list() == [bool(e) for *_, shown in FEED for _, _, e in shown]
    assert request_index(ds, 3).tolist() == [0] * 3 + [1] * 4 + [2] * 2 + [3] * 3 + [0] * 2 + [1] * 7 + [2] * 2

    s = slates(ds, slate_size=3, min_history=0)
    # a slate is exactly what the request showed, in position order, whatever its size
    assert _raw(ds, s["impressions"].to_list()) == [[i for i, _, _ in shown] for *_, shown in FEED]
    assert s["split"].to_list() == ["train", "train", "valid", "test", "train", "valid", "test"]
    assert s["hist_len"].to_list() == [0, 1, 2, 3, 0, 1, 2]
    assert s["request"].to_list() == [0, 1, 2, 3, 0, 1, 2]
    # effective truth: the next <= M effective items from the request's start, never into a later split
    assert _raw(ds, s["effective"].to_list()) == [["i11", "i14"], ["i14"], ["i17"], ["i19"],
                                                  ["i20"], ["i23"], ["i12"]]
    assert s["ts"].to_list() == s["ts_end"].to_list() == [t * 1000 for _, _, t, _ in FEED]

    # slate samples: the test impressions truth is bob's last request, the training target its clicks
    data = slate_data(ds, slate_size=3, target="impressions")
    bob = ds.user_map.to_dense(np.array(["bob"]))[0]
    row = int(np.flatnonzero(data.test.users == bob)[0])
    assert _raw(ds, [data.test.impressions[row][data.test.impressions[row] > 0]]) == [["i11", "i12"]]
    assert data.valid.impressions.shape[1] == 7  # the 7-item request is kept whole as a truth set


def test_no_position_and_no_time_use_the_file_order(tmp_path):
    path = _write_feed(tmp_path / "feed.csv", shuffle=False, drop=("slot", "time"))
    ds = load_dataset(_adapter(path, ts=None, position=None), use_cache=False)
    assert not ds.info.has_timestamps
    s = slates(ds, 3, min_history=0)
    assert _raw(ds, s["impressions"].to_list()) == [[i for i, _, _ in shown] for *_, shown in FEED]
    assert s["ts"].to_list() == [0, 1, 2, 3, 0, 1, 2]  # the request's order within its user
    assert ds.interactions["position"].to_list() == [p for *_, shown in FEED for p in range(len(shown))]


def test_bad_request_columns(tmp_path):
    path = _write_feed(tmp_path / "feed.csv", shuffle=False)
    df = pl.read_csv(path)
    bad = tmp_path / "bad.csv"
    df.with_columns(request=pl.when(pl.int_range(pl.len()) == 4).then(None).otherwise(pl.col("request"))).write_csv(bad)
    with pytest.raises(DataError, match=r"bad\.csv: column 'request' has 1 empty value\(s\)"):
        load_dataset(_adapter(bad), use_cache=False)
    df.with_columns(slot=pl.col("slot").cast(pl.String) + "a").write_csv(bad)
    with pytest.raises(DataError, match=r"bad\.csv: column 'slot' must hold integer slots"):
        load_dataset(_adapter(bad), use_cache=False)
    df.with_columns(slot=pl.col("slot") - 1).write_csv(bad)
    with pytest.raises(DataError, match=r"bad\.csv: column 'slot' has slots outside 0\.\.32767"):
        load_dataset(_adapter(bad), use_cache=False)
    with pytest.raises(DataError, match=r"missing column\(s\) \['req'\]"):
        load_dataset(_adapter(path, request_id="req"), use_cache=False)
    with pytest.raises(ValueError, match="give request_id too"):
        TableAdapter("x", path, position="slot")
    # a request whose rows are not one contiguous moment cannot be a slate
    inter = pl.DataFrame({"user": [1, 1, 1], "item": [1, 2, 3], "ts": [0, 5, 9], "request_id": [7, 8, 7]})
    with pytest.raises(DataError, match="a request's rows have different timestamps"):
        build_dataset(inter, DatasetInfo("x", "x", True, True, "all"), item_col="item", user_col="user")


def test_tables_without_requests_keep_their_cache_key(tmp_path):
    path = _write_feed(tmp_path / "feed.csv")
    plain = TableAdapter("feed", path, user="user", item="item", ts="time")
    assert "request_id" not in plain.options and "position" not in plain.options
    assert _adapter(path).options["request_id"] == "request"


def test_the_table_folder_is_a_registered_dataset(tmp_path):
    """`data: {dataset: table, root: FOLDER}`: canonical column names, optional ones detected."""
    folder = tmp_path / "logs"
    folder.mkdir()
    df = pl.read_csv(_write_feed(tmp_path / "feed.csv"))
    df.rename({"user": "user_id", "item": "item_id", "time": "ts", "request": "request_id", "slot": "position",
               "click": "clicked", "watched": "effective"}).write_csv(folder / "interactions.tsv", separator="\t")
    pl.DataFrame({"item_id": [f"i{k}" for k in range(10, 28)], "text": [f"item number {k}" for k in range(10, 28)]}
                 ).write_parquet(folder / "items.parquet")
    ds = load_dataset("table", folder, cache_dir=tmp_path / "c")
    ref = load_dataset(_adapter(tmp_path / "feed.csv"), use_cache=False)
    assert ds.interactions.equals(ref.interactions)
    assert ds.items.filter(pl.col("raw_id") == "i14")["text"].item() == "item number 14"
    assert slates(ds, 3)["impressions"].to_list() == slates(ref, 3)["impressions"].to_list()


def test_real_log_without_request_ids_is_unchanged(load, tmp_path):
    """KuaiRand-Pure has no request ids: slates are still chunks of M consecutive exposures aligned to
    the end. The same log with those chunks written as logged requests gives the same samples."""
    ds = load("kuairand-pure")
    assert "request_id" not in ds.interactions.columns
    users = np.arange(0, ds.num_users, 5)  # a slice: every fifth user
    sub = ds.interactions.filter(pl.col("user_id").is_in(users))
    M = 5
    n = sub.group_by("user_id", maintain_order=True).len()["len"].to_numpy()
    pos = np.concatenate([np.arange(k) for k in n])
    length = np.repeat(n, n)
    chunk = (length + M - 1) // M - 1 - (length - 1 - pos) // M  # the documented pseudo-request rule
    logged = sub.with_columns(request=pl.Series(chunk), slot=pl.Series(pos))
    logged = logged.with_columns(ts=pl.col("ts").min().over("user_id", "request"))  # one moment per request
    logged.write_parquet(tmp_path / "kr.parquet")
    ref = load_dataset(TableAdapter("kr", tmp_path / "kr.parquet", user="user_id", item="item_id", ts="ts",
                                    ts_unit="ms", effective="effective", clicked="clicked", request_id="request",
                                    position="slot"), use_cache=False)
    got = slates(ds, M)
    got = got.filter(pl.col("user_id").is_in(users)).with_columns(
        user_id=pl.Series(ref.user_map.to_dense(got.filter(pl.col("user_id").is_in(users))["user_id"].to_numpy())))
    want = slates(ref, M)
    to_raw = lambda s: s.list.eval(pl.element() - 1).map_elements(  # noqa: E731
        lambda xs: ref.item_map.raw[np.asarray(xs, dtype=np.int64)].tolist(), return_dtype=pl.List(pl.Int64))
    cols = ["user_id", "request", "start", "end", "hist_len", "split", "ts"]
    assert got.select(cols).equals(want.select(cols))
    assert got.height > 1000
    assert got["impressions"].to_list() == to_raw(want["impressions"]).to_list()
    assert got["effective"].to_list() == to_raw(want["effective"]).to_list()
