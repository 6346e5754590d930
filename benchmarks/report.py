"""One report of every benchmark: docs/results.md and the README's headline table, from benchmarks/results/*.json.

    python benchmarks/report.py [--results benchmarks/results] [--out docs/results.md] [--readme README.md] [--check]

Generated, never edited by hand (benchmarks/reporting.py). `--check` writes nothing and exits 1 if either file
is out of date with the JSON files (tests/utils/test_report.py runs the same check).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from hgrec.utils.atomic import atomic_write_text
from reporting import render_headline, render_report, replace_block  # benchmarks/reporting.py, beside this script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results.md")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    ap.add_argument("--check", action="store_true", help="exit 1 if a file is out of date; write nothing")
    args = ap.parse_args()
    report = render_report(args.results)
    readme = replace_block(args.readme.read_text(), render_headline(args.results))
    stale = [p for p, text in ((args.out, report), (args.readme, readme))
             if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"{p} is out of date: run python benchmarks/report.py", file=sys.stderr)
        sys.exit(1 if stale else 0)
    for p, text in ((args.out, report), (args.readme, readme)):
        if p in stale:
            atomic_write_text(p, text)
            print("wrote", p)


if __name__ == "__main__":
    main()
