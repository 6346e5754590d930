"""Load + preprocess time and peak memory per dataset, cold (parse raw files, write the cache) and
cached (read the parquet cache), plus the derived views. Target: every dataset loads from cache in < 2 s.

    python benchmarks/data_pipeline.py [--data ../shared/data] [--repeats 5]

Each measurement runs in a fresh Python process so peak RSS (ru_maxrss) belongs to that load alone;
`base_rss_mb` is the same process after imports, before loading. Medians over --repeats runs.
Writes benchmarks/results/data_pipeline.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from hgrec.utils.results import write_results

DATASETS = ["kuairand-pure", "ml-100k", "amazon-beauty", "amazon-toys", "amazon-scientific", "sample"]

CHILD = r"""
import json, resource, sys, time
import polars, pyarrow, numpy
from hgrec.data import load_dataset
from hgrec.data import views as V
name, root, cache = sys.argv[1], sys.argv[2], sys.argv[3]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
ds = load_dataset(name, None if root == "-" else root, cache_dir=cache)
t_load = time.perf_counter() - t0
out = {"load_s": t_load, "cache_hit": ds.cache_hit, "base_rss_mb": base}
if sys.argv[4] == "views":
    t = time.perf_counter(); V.add_sessions(ds); out["sessions_s"] = time.perf_counter() - t
    t = time.perf_counter(); V.slates(ds, 5); out["slates_s"] = time.perf_counter() - t
    t = time.perf_counter(); V.leave_last_out(ds); out["leave_last_out_s"] = time.perf_counter() - t
    if ds.info.has_negatives and ds.info.has_timestamps:
        t = time.perf_counter(); V.ctr_rows(ds); out["ctr_rows_s"] = time.perf_counter() - t
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run_child(name: str, root: str, cache: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, name, root, str(cache), mode], capture_output=True, text=True,
                         cwd=ROOT)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--datasets", nargs="*", default=DATASETS)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    rows = []
    for name in args.datasets:
        root = "-" if name == "sample" else str(args.data / name)
        cold, cached = [], []
        for _ in range(args.repeats):
            cache = Path(tempfile.mkdtemp(prefix="hgrec-bench-"))
            try:
                cold.append(run_child(name, root, cache, "load"))
                cached.append(run_child(name, root, cache, "views"))
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        assert not any(c["cache_hit"] for c in cold) and all(c["cache_hit"] for c in cached)
        for variant, runs in (("cold", cold), ("cached", cached)):
            timing = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "cache_hit"}
            rows.append({"dataset": name, "model": "loader", "variant": variant, "seed": 0, "metrics": {},
                         "timing": {k: round(v, 4) for k, v in timing.items()},
                         "config": {"repeats": args.repeats}})
            print(f"{name:18s} {variant:6s} load {timing['load_s']:.3f}s peak {timing['peak_rss_mb']:.0f} MB")
    worst = max(r["timing"]["load_s"] for r in rows if r["variant"] == "cached")
    notes = (f"Medians of {args.repeats} fresh processes per cell. Target: every cached load < 2 s; "
             f"slowest cached load here: {worst:.3f} s. Times in seconds, memory in MB (peak RSS of the process; "
             "base_rss_mb = after imports, before loading). Views (sessions, slates M=5, leave-last-out, CTR rows) "
             "are timed on the cached run.")
    path = write_results("data_pipeline", rows, out_dir=args.out, notes=notes,
                         command="python benchmarks/data_pipeline.py " + " ".join(sys.argv[1:]))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
