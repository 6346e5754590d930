"""benchmarks/reproduction.py: committed rows against today's, judged against the committed seed spread."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("reproduction", ROOT / "benchmarks" / "reproduction.py")
rep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rep)


def _row(seed, v, model="m", truth="effective"):
    return {"dataset": "d", "model": model, "variant": "default", "seed": seed, "truth": truth, "metrics": {"ndcg@5": v}}


def test_within_noise_is_two_committed_stds_from_the_same_seed():
    committed = [_row(0, 0.020), _row(1, 0.022), _row(2, 0.018)]  # std .002
    ok = rep.compare("c", committed, [_row(0, 0.0235)], ["ndcg@5"], timing=False)
    bad = rep.compare("c", committed, [_row(0, 0.0245)], ["ndcg@5"], timing=False)
    assert ok[0]["config"]["within_noise"] is True and bad[0]["config"]["within_noise"] is False
    assert ok[0]["metrics"]["committed"] == 0.020 and ok[0]["metrics"]["committed_seeds"] == 3
    assert abs(ok[0]["metrics"]["diff"] - 0.0035) < 1e-9


def test_a_row_without_spread_must_agree_exactly_and_timings_are_not_judged():
    committed = [_row(0, 0.0177, model="popularity"), _row(0, 0.5, truth="impressions")]
    same = rep.compare("c", committed, [_row(0, 0.0177, model="popularity")], ["ndcg@5"], timing=False)
    off = rep.compare("c", committed, [_row(0, 0.0180, model="popularity")], ["ndcg@5"], timing=False)
    assert same[0]["config"]["within_noise"] is True and off[0]["config"]["within_noise"] is False
    timed = [{**_row(0, 0.0, model="loader"), "timing": {"load_s": 0.30}}]
    got = rep.compare("c", timed, [{**_row(0, 0.0, model="loader"), "timing": {"load_s": 0.33}}], None, timing=True)
    assert got[0]["config"]["within_noise"] is None and got[0]["metrics"]["ratio"] == 1.1
    # rows with no committed counterpart (another truth, model or seed) are not compared
    assert rep.compare("c", committed, [_row(1, 0.0177, model="popularity")], ["ndcg@5"], timing=False) == []


def test_a_one_seed_file_takes_its_noise_from_another_files_seeds():
    committed = [_row(0, 0.0326)]
    noise = [{**_row(s, v), "variant": "other"} for s, v in enumerate([0.047, 0.053, 0.050])]  # std .003
    got = rep.compare("c", committed, [_row(0, 0.0350)], ["ndcg@5"], timing=False, noise=noise)
    assert got[0]["config"]["within_noise"] is True and got[0]["metrics"]["committed_seeds"] == 3
    assert rep.compare("c", committed, [_row(0, 0.0350)], ["ndcg@5"], timing=False)[0]["config"]["within_noise"] is False
