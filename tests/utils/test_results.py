import json
import subprocess
import sys
from pathlib import Path

import pytest

from hgrec.utils.results import validate_rows, write_results

ROW = {"dataset": "ml-100k", "model": "loader", "variant": "cold", "seed": 0, "metrics": {},
       "timing": {"load_s": 0.25, "peak_rss_mb": 120.0}}


def test_write_results_schema_and_markdown(tmp_path, data_root):
    path = write_results("demo_bench", [ROW], out_dir=tmp_path, command="python x.py")
    doc = json.loads(path.read_text())
    assert doc["benchmark"] == "demo_bench" and doc["machine"]["cores"] >= 1 and doc["rows"] == [ROW]
    md = (tmp_path / "demo_bench.md").read_text()
    assert "| ml-100k | loader | cold | 0 | 0.25 | 120 |" in md
    checker = data_root.parent / "tools" / "check_results.py"
    out = subprocess.run([sys.executable, str(checker), str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


@pytest.mark.parametrize("bad,msg", [
    ({**ROW, "seed": "0"}, "'seed' missing or not int"),
    ({**ROW, "metrics": {"NDCG@5": 0.1}}, "not lower-case"),
    ({**ROW, "timing": {"load_s": float("nan")}}, "not a finite number"),
])
def test_bad_rows_rejected(bad, msg):
    with pytest.raises(ValueError, match=msg):
        validate_rows([bad])


def test_committed_results_conform():
    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    for f in results.glob("*.json"):
        validate_rows(json.loads(f.read_text())["rows"])
