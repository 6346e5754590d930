"""Sessions, slates (both truth sets), CTR rows and splits, checked against plain-Python references."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hgrec.data import DatasetInfo, build_dataset
from hgrec.data.views import (
    add_sessions, ctr_rows, leave_last_out, num_sessions, positive_history, request_index, sequences, slates,
    temporal_cuts,
)

GAP = 30 * 60 * 1000


def _per_user(ds):
    """Reference: per-user python lists of (item, ts, effective)."""
    df = ds.interactions
    eff = df["effective"] if "effective" in df.columns else pl.Series([True] * df.height)
    out = {}
    for u, i, t, e in zip(df["user_id"].to_list(), df["item_id"].to_list(), df["ts"].to_list(), eff.to_list()):
        out.setdefault(u, []).append((i, t, e))
    return out


def test_sessions_verified_count(load):
    assert num_sessions(load("kuairand-pure")) == 189_039  # shared/data/README.md
    assert num_sessions(load("amazon-beauty")) == 22_363  # order only: one session per user


def test_sessions_match_reference(load):
    ds = load("sample")
    s = add_sessions(ds)
    ref_sid, ref_idx, ref_pos = [], [], []
    sid = -1
    for u, rows in sorted(_per_user(ds).items()):
        k = -1
        for j, (_, t, _) in enumerate(rows):
            if j == 0 or t - rows[j - 1][1] > GAP:
                sid, k, p = sid + 1, k + 1, 0
            else:
                p += 1
            ref_sid.append(sid), ref_idx.append(k), ref_pos.append(p)
    assert s["session_id"].to_list() == ref_sid
    assert s["session_index"].to_list() == ref_idx
    assert s["pos_in_session"].to_list() == ref_pos
    assert s.filter(pl.col("pos") == 0)["gap_ms"].null_count() == ds.num_users


def test_slates_match_reference(load):
    ds, M = load("sample"), 5
    got = slates(ds, M, min_history=0)
    per_user = _per_user(ds)
    ref = []
    for u, rows in sorted(per_user.items()):
        n = len(rows)
        starts = sorted({n - M * k for k in range(1, n // M + 1)} | ({0} if n % M else set()))
        bounds = starts[1:] + [n]
        for r, (a, b) in enumerate(zip(starts, bounds)):
            from_end = len(starts) - 1 - r
            split = "test" if from_end == 0 else "valid" if from_end == 1 else "train"
            region = n if from_end == 0 else starts[-1] if from_end == 1 else starts[-2] if len(starts) >= 2 else n
            eff = \
                list(dict.fromkeys([i for i, _, e in rows[a:region] if e][:M]))
            imp = list(dict.fromkeys(i for i, _, _ in rows[a:b]))  # truth sets: repeats count once
            ref.append((u, r, a, b, sum(e for _, _, e in rows[:a]), split, imp, eff))
    cols = ["user_id", "request", "start", "end", "hist_len", "split", "impressions", "effective"]
    assert [tuple(r) for r in got.select(cols).with_columns(pl.col("split").cast(pl.Utf8)).iter_rows()] == ref


def test_slate_split_is_leave_last_request_out(load):
    ds = load("kuairand-pure")
    sl = slates(ds, 5, min_history=0)
    per_user = sl.group_by("user_id").agg(pl.col("split").cast(pl.Utf8), pl.col("start"))
    for splits, starts in zip(per_user["split"].to_list()[:2000], per_user["start"].to_list()[:2000]):
        order = np.argsort(starts)
        s = [splits[i] for i in order]
        assert s[-1] == "test" and s.count("test") == 1 and s.count("valid") <= 1
        if len(s) >= 2:
            assert s[-2] == "valid"
    # a request = M consecutive exposures, except possibly the user's first
    lens = sl["end"] - sl["start"]
    assert (sl.filter(lens < 5)["request"] == 0).all() and lens.max() == 5
    assert (sl["impressions"].list.len() <= lens).all()  # truth sets drop repeated videos
    assert (sl["effective"].list.len() <= 5).all()


def test_effective_truth_never_crosses_into_a_later_split(load):
    ds, M = load("kuairand-pure"), 5
    sl = slates(ds, M, min_history=0)
    seq = sequences(ds, ["item_id", "effective"])
    test_start = dict(zip(*sl.filter(pl.col("split") == "test").select("user_id", "start")))
    valid_start = dict(zip(*sl.filter(pl.col("split") == "valid").select("user_id", "start")))
    rows = sl.filter(pl.col("split") != "test").sample(3000, seed=0)
    for u, start, split, eff in rows.select("user_id", "start", "split", "effective").iter_rows():
        bound = test_start[u] if split == "valid" else valid_start.get(u, test_start[u])
        items, e = seq.user(u, "item_id"), seq.user(u, "effective")
        assert eff == list(dict.fromkeys(items[start:bound][e[start:bound]][:M].tolist()))


def test_slates_temporal_split(load):
    ds = load("kuairand-pure")
    cuts = temporal_cuts(ds)
    sl = slates(ds, 5, temporal_cuts=cuts)
    for name, lo, hi in (("train", None, cuts[0]), ("valid", cuts[0], cuts[1]), ("test", cuts[1], None)):
        ts = sl.filter(pl.col("split") == name)["ts_end"]  # a request belongs to the split of its last exposure
        assert ts.len() > 0
        assert lo is None or ts.min() >= lo
        assert hi is None or ts.max() < hi


def test_leave_last_out_no_leak(load):
    for name in ("amazon-beauty", "ml-100k", "kuairand-pure"):
        ds = load(name)
        df = ds.interactions.with_columns(split=leave_last_out(ds))
        if "effective" not in df.columns:
            df = df.with_columns(effective=pl.lit(True))
        df = df.with_row_index("row")
        first_row = df.group_by("user_id").agg(
            pl.col("row").filter(pl.col("split") == "train").max().alias("last_train"),
            pl.col("row").filter((pl.col("split") == "test") & pl.col("effective")).min().alias("test_row"),
            pl.col("row").filter((pl.col("split") == "valid") & pl.col("effective")).min().alias("valid_row"),
            (pl.col("split") == "test").filter(pl.col("effective")).sum().alias("n_test"),
        )
        both = first_row.drop_nulls(["test_row", "last_train"])
        assert (both["last_train"] < both["test_row"]).all()  # every train row precedes the test target
        vt = first_row.drop_nulls(["valid_row", "last_train"])
        assert (vt["last_train"] < vt["valid_row"]).all()
        assert first_row["n_test"].max() == 1  # one test target per user
    beauty = load("amazon-beauty")
    split = leave_last_out(beauty)
    # 5-core: every user has a train prefix, one valid and one test item (the TIGER split)
    assert split.value_counts().sort("split")["count"].to_list() == [198_502 - 2 * 22_363, 22_363, 22_363]


def test_ctr_rows_temporal(load):
    ds = load("kuairand-pure")
    rows = ctr_rows(ds)
    assert rows.height == ds.interactions.height
    assert rows["clicked"].sum() == 100_900
    tr, va, te = (rows.filter(pl.col("split") == s)["ts"] for s in ("train", "valid", "test"))
    assert tr.max() < va.min() and va.max() < te.min()
    assert abs(te.len() / rows.height - 0.1) < 0.01
    with pytest.raises(Exception, match="no negative feedback"):
        ctr_rows(load("amazon-beauty"))
    with pytest.raises(Exception, match="no timestamps"):
        temporal_cuts(load("amazon-beauty"))


def test_history_batch(load):
    ds = load("sample")
    seq = positive_history(ds)
    users = np.array([0, 1, 2, 3])
    cuts = np.minimum(seq.lengths[users], [0, 1, 3, 100])
    h = seq.history_batch(users, cuts, max_len=4)
    for row, u, c in zip(h, users, cuts):
        expect = list(seq.user(u)[:c][-4:])
        assert list(row[4 - len(expect):]) == expect and (row[: 4 - len(expect)] == 0).all()


def _tiny(rows):
    df = pl.DataFrame(rows, schema=["user", "item", "ts", "effective"], orient="row")
    info = DatasetInfo(name="tiny", source="-", has_timestamps=True, has_negatives=True, effective_definition="x")
    return build_dataset(df, info, item_col="item", user_col="user")


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(1, 13), min_size=1, max_size=6), m=st.integers(1, 5))
def test_request_index_chunks_from_the_end(lengths, m):
    rows = [(u, (u * 7 + j) % 5, j * 1000, j % 2 == 0) for u, n in enumerate(lengths) for j in range(n)]
    ds = _tiny(rows)
    req = request_index(ds, m)
    off = 0
    for n in lengths:
        r = req[off:off + n]
        off += n
        assert r[0] == 0 and (np.diff(r) >= 0).all() and (np.diff(r) <= 1).all()
        counts = np.bincount(r)
        assert (counts[1:] == m).all() and 1 <= counts[0] <= m  # only the first request may be short
