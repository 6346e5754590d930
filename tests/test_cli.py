"""The CLI end to end (typer's runner: same code path as the console script)."""

import json

import pytest
from typer.testing import CliRunner

from hgrec.cli import app

runner = CliRunner()


def test_stats_sample_needs_no_data_folder(tmp_path):
    r = runner.invoke(app, ["data", "stats", "sample", "--json", "--cache", str(tmp_path)])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert (s["users"], s["items"], s["interactions"]) == (2_000, 5_308, 62_971)


def test_stats_real_dataset_table(data_root, tmp_path):
    r = runner.invoke(app, ["data", "stats", "kuairand", "--root", str(data_root / "kuairand-pure"),
                            "--cache", str(tmp_path)])
    assert r.exit_code == 0, r.output
    for figure in ("25,156", "6,361", "228,329", "189,039"):
        assert figure in r.output
    r2 = runner.invoke(app, ["data", "stats", "kuairand", "--root", str(data_root / "kuairand-pure"),
                             "--cache", str(tmp_path)])
    assert "cache hit" in r2.output


def test_errors_are_clean(tmp_path):
    r = runner.invoke(app, ["data", "stats", "nope", "--root", str(tmp_path)])
    assert r.exit_code == 2 and "unknown dataset 'nope'" in r.output
    r = runner.invoke(app, ["data", "stats", "ml-100k", "--cache", str(tmp_path)])
    assert r.exit_code == 2 and "hgrec data fetch ml-100k" in r.output
    (tmp_path / "ml").mkdir()
    (tmp_path / "ml" / "u.data").write_text("1\t2\n")
    r = runner.invoke(app, ["data", "stats", "ml-100k", "--root", str(tmp_path / "ml"), "--cache", str(tmp_path)])
    assert r.exit_code == 2 and "no file matching u.item" in r.output and "Traceback" not in r.output


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    r = runner.invoke(app, ["demo", "--cache", str(tmp_path), "--out-dir", str(tmp_path / "runs"), "--epochs", "2"])
    assert r.exit_code == 0, r.output
    assert "62,971" in r.output and "exposed + effective" in r.output and "history" in r.output
    assert "collision" in r.output and "ndcg@5" in r.output and "slate for user" in r.output
    # the metrics table has the popularity floor beside HiGR, and no header is cut in 80 columns
    assert "popularity" in r.output and "impressions/recall@5" in r.output
    tables = [line for line in r.output.splitlines() if "│" in line or "━" in line or "┃" in line]
    assert tables and max(map(len, tables)) <= 80, [line for line in tables if len(line) > 80]
    watched = r.output.split("watched next: ")[1].splitlines()[0]
    assert watched.strip()  # rich markup no longer swallows the list
    # the slate it printed can be asked for again from the command line
    user = r.output.split("slate for user ")[1].split()[0]
    r2 = runner.invoke(app, ["recommend", "--checkpoint", str(tmp_path / "runs" / "demo-higr" / "best"),
                             "--user", user, "--slate-size", "3", "--cache", str(tmp_path)])
    assert r2.exit_code == 0, r2.output
    assert f"slate for user {user}" in r2.output and "│ 3 " in r2.output and "│ 4 " not in r2.output
    r3 = runner.invoke(app, ["recommend", "--checkpoint", str(tmp_path / "runs" / "demo-higr" / "best"),
                             "--user", "no-such-user", "--cache", str(tmp_path)])
    assert r3.exit_code == 2 and "no-such-user" in r3.output and "Traceback" not in r3.output


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("hgrec ")
