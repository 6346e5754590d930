"""`hgrec data stats` reproduces the verified figures of shared/data/README.md exactly."""

import pytest

from hgrec.data.stats import dataset_stats


@pytest.mark.parametrize(
    "name,users,items,inter,seq",
    [
        ("kuairand-pure", 25_156, 6_361, 228_329, {"median": 7, "p90": 20, "max": 141}),
        ("ml-100k", 943, 1_682, 100_000, {"min": 20}),
        ("amazon-beauty", 22_363, 12_101, 198_502, {"min": 5, "median": 6, "max": 204}),
        ("amazon-toys", 19_412, 11_924, 167_597, {"min": 5, "median": 6, "max": 550}),
        ("amazon-scientific", 8_317, 4_344, 58_492, {"min": 5, "median": 6, "max": 78}),
    ],
)
def test_verified_statistics(load, name, users, items, inter, seq):
    s = dataset_stats(load(name))
    assert (s["users"], s["items"], s["interactions"]) == (users, items, inter)
    for k, v in seq.items():
        assert s["seq_len"][k] == v, k


def test_kuairand_details(load):
    s = dataset_stats(load("kuairand-pure"))
    assert s["sessions"] == 189_039
    assert round(s["seq_len"]["mean"], 1) == 9.1
    assert (s["clicked_count"], s["effective_count"]) == (100_900, 70_963)
    assert s["time_range"] == ["2022-04-24 15:05 UTC", "2022-05-08 15:52 UTC"]  # 23:05 .. 23:52 +08:00


def test_means_and_shares(load):
    assert round(dataset_stats(load("amazon-beauty"))["seq_len"]["mean"], 2) == 8.88
    assert round(dataset_stats(load("amazon-toys"))["seq_len"]["mean"], 2) == 8.63
    ml = dataset_stats(load("ml-100k"))
    assert ml["effective_count"] == 55_375 and ml["time_range"][0].startswith("1997-09-20 03:05")
    assert dataset_stats(load("amazon-beauty"))["time_range"] is None
