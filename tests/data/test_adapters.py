"""Every adapter on the real files in shared/data: counts, columns, ordering, feature joins."""

import numpy as np
import polars as pl
import pytest

from hgrec.data import load_dataset
from hgrec.data.views import sequences

VERIFIED = {  # shared/data/README.md
    "kuairand-pure": (25_156, 6_361, 228_329),
    "ml-100k": (943, 1_682, 100_000),
    "amazon-beauty": (22_363, 12_101, 198_502),
    "amazon-toys": (19_412, 11_924, 167_597),
    "amazon-scientific": (8_317, 4_344, 58_492),
}


@pytest.mark.parametrize("name", sorted(VERIFIED))
def test_counts_and_invariants(load, name):
    ds = load(name)
    assert (ds.num_users, ds.num_items, ds.interactions.height) == VERIFIED[name]
    df = ds.interactions
    assert df["item_id"].min() == 1 and df["item_id"].max() == ds.num_items  # 0 is padding
    assert df["user_id"].n_unique() == ds.num_users
    assert ds.items["text"].null_count() == 0
    # raw <-> dense round trip on every row
    raw = ds.item_map.to_raw(df["item_id"].to_numpy())
    assert np.array_equal(ds.item_map.to_dense(raw), df["item_id"].to_numpy())
    ds.validate()


def test_kuairand_signals(load):
    df = load("kuairand-pure").interactions
    assert int(df["clicked"].sum()) == 100_900
    assert int(df["effective"].sum()) == 70_963
    assert int(df["hated"].sum()) == 190
    assert df.height - df.unique().height >= 5_460  # the log's 5,460 exact duplicate rows are kept
    wr = df["watch_ratio"]
    assert wr.null_count() == int((df["duration_ms"] == 0).sum()) == 3_568
    expect = (df["play_time_ms"] / df["duration_ms"]).cast(pl.Float32)
    ok = df["duration_ms"] > 0
    assert np.allclose(wr.filter(ok).to_numpy(), expect.filter(ok).to_numpy())


def test_kuairand_keeps_file_order_and_time_order(load, data_root):
    ds = load("kuairand-pure")
    raw = pl.read_csv(data_root / "kuairand-pure/log_standard_4_25_to_5_08_pure.csv.gz")
    u = int(raw["user_id"].value_counts().sort("count", descending=True)["user_id"][0])
    expect = raw.filter(pl.col("user_id") == u).sort("time_ms", maintain_order=True)["video_id"].to_numpy()
    dense_u = int(ds.user_map.to_dense([u])[0])
    got = ds.item_map.to_raw(sequences(ds).user(dense_u))
    assert np.array_equal(got, expect)


def test_kuairand_features_joined(load):
    ds = load("kuairand-pure")
    assert {"user_active_degree", "onehot_feat0"} <= set(ds.users.columns)
    assert ds.users["user_active_degree"].null_count() == 0  # every log user is in the feature file
    assert {"author_id", "tag", "video_duration"} <= set(ds.items.columns)
    assert ds.info.text_is_derived and "tags" in ds.items["text"][0]


def test_movielens(load, data_root):
    ds = load("ml-100k")
    df = ds.interactions
    assert df["rating"].value_counts().sort("rating")["count"].to_list() == [6_110, 11_370, 27_145, 34_174, 21_201]
    assert int(df["effective"].sum()) == 34_174 + 21_201
    assert ds.items.filter(pl.col("raw_id") == 1)["text"][0] == "Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert ds.users.filter(pl.col("raw_id") == 1).select("age", "gender", "occupation").row(0) == (24, "M", "technician")
    # timestamps are ms, within the verified range 1997-09-20 .. 1998-04-22
    assert df["ts"].min() == 874724710 * 1000 and df["ts"].max() == 893286638 * 1000


def test_movielens_ties_keep_file_order(load, data_root):
    ds = load("ml-100k")
    raw = pl.read_csv(data_root / "ml-100k/u.data", separator="\t", has_header=False,
                      new_columns=["u", "i", "r", "t"])
    # a user with several ratings in the same second
    ties = raw.group_by(["u", "t"]).len().filter(pl.col("len") >= 3).sort(["u", "t"])
    u = int(ties["u"][0])
    expect = raw.filter(pl.col("u") == u).sort("t", maintain_order=True)["i"].to_numpy()
    got = ds.item_map.to_raw(sequences(ds).user(int(ds.user_map.to_dense([u])[0])))
    assert np.array_equal(got, expect)


@pytest.mark.parametrize("name,intfile", [("amazon-beauty", "Beauty.txt")])
def test_amazon_sequences_match_s3rec_integer_file(load, data_root, name, intfile):
    """Line k of user_sequence.txt maps onto line k of the S3-Rec file under one ASIN<->int bijection."""
    ds = load(name)
    asin_lines = (data_root / name / "user_sequence.txt").read_text().split("\n")
    int_lines = (data_root / name / intfile).read_text().split("\n")
    pairs = {}
    for a_line, i_line in zip(asin_lines[:3000], int_lines[:3000]):
        if not a_line.strip():
            continue
        a, i = a_line.split()[1:], i_line.split()[1:]
        assert len(a) == len(i)
        for x, y in zip(a, i):
            assert pairs.setdefault(x, y) == y
        # and our dense sequence for this user is the file's sequence
        u = int(ds.user_map.to_dense([a_line.split()[0]])[0])
        assert list(ds.item_map.to_raw(sequences(ds).user(u))) == a
    assert len(set(pairs.values())) == len(pairs)


def test_amazon_text_flagged_derived(load):
    for name in ("amazon-beauty", "amazon-toys"):
        ds = load(name)
        assert ds.info.text_is_derived and not ds.info.has_timestamps
        assert ds.info.extra["items_without_text"] == 0
        assert ds.items["text"].str.len_chars().median() > 10


def test_scientific_real_text(load):
    ds = load("amazon-scientific")
    assert not ds.info.text_is_derived
    first = ds.items.filter(pl.col("raw_id") == 0)
    assert first["title"][0].startswith("SUPCO SPP6")
    assert "Brand: Sealed Unit Parts" in first["text"][0]
    assert (ds.items["title"].str.len_chars() > 0).all()


def test_sample_is_a_slice_of_the_real_log(load):
    full, sample = load("kuairand-pure"), load("sample")
    assert (sample.num_users, sample.num_items, sample.interactions.height) == (2_000, 5_308, 62_971)
    # the 2,000 users with the most exposures, every one of their rows
    counts = np.bincount(full.interactions["user_id"].to_numpy())
    kept = full.user_map.to_dense(sample.user_map.raw)
    assert counts[kept].min() >= np.sort(counts)[::-1][1999]
    assert counts[kept].sum() == sample.interactions.height
    assert sample.info.licence == "CC BY-SA 4.0"


def test_custom_table_adapter(tmp_path):
    from hgrec.data import TableAdapter

    p = tmp_path / "events.csv"
    p.write_text("customer,sku,t,bought\nc1,A,10,1\nc1,B,5,0\nc2,A,7,1\nc2,C,7,1\n")
    ds = load_dataset(TableAdapter("shop", p, user="customer", item="sku", ts="t", effective="bought"))
    assert (ds.num_users, ds.num_items) == (2, 3)
    c1 = int(ds.user_map.to_dense(["c1"])[0])
    assert list(ds.item_map.to_raw(sequences(ds).user(c1))) == ["B", "A"]  # time order
    assert ds.interactions["ts"].to_list()[:2] == [5000, 10000]


def test_embedded_sample_rebuilds_byte_for_byte(data_root, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from hgrec.data.loader import sample_root

    script = Path(__file__).resolve().parents[2] / "tools" / "make_sample.py"
    subprocess.run([sys.executable, str(script), "--source", str(data_root / "kuairand-pure"), "--out",
                    str(tmp_path)], check=True, capture_output=True)
    shipped = sorted(p.name for p in sample_root().iterdir())
    assert shipped == sorted(p.name for p in tmp_path.iterdir())
    for name in shipped:
        assert (tmp_path / name).read_bytes() == (sample_root() / name).read_bytes(), name
