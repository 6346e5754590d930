"""Reproduction check: rerun committed benchmark rows on today's code and compare them with the committed
numbers, per seed, against the seed-to-seed spread of the committed rows.

    python benchmarks/reproduction.py [--checks slate_table2 slate_random_ids ctr semantic_ids data_pipeline] [--reuse]

Each check runs a benchmark script the way a user would (a subprocess, its results written to a scratch
folder, never over the committed file), then matches its rows with the committed rows of the same results
file by (dataset, model, variant, seed, truth). For every compared metric a row of
`benchmarks/results/reproduction.json` holds the committed value of the same seed, the committed mean and
std over seeds, today's value, and `within_noise`: |today - committed same seed| <= 2 x the committed std
over seeds, or of another file's seeds where a check names `noise_from` (a row without spread must agree
to 1e-4; timings are reported as ratios, never judged). The settings of the committed runs are restored where the code's
defaults moved since (CHECKS below says which and why), so a difference is the code's, not the protocol's.
Issue 22 (the redesign) uses it: the redesign must leave these numbers where they were.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from hgrec.utils.results import write_results

ROOT = Path(__file__).resolve().parents[1]

# name -> the script and its arguments (today's run), the committed results file, the metrics compared.
CHECKS = {
    # HiGR Table 2, SASRec and HiGR rows, seed 0, KuaiRand-Pure. Restored settings of the committed table
    # (commit 88eb487): the 4-epoch cap, validation every 2 epochs, and the semantic IDs of that time, whose
    # co-occurrence part counted the leave-last-out training region (items.train_region=next_item; issue 23
    # moved it to the slate split's training period).
    "slate_table2": {"script": "slate_quality.py", "results": "slate_table2",
                     "args": ["--datasets", "kuairand-pure", "--models", "sasrec", "higr", "--seeds", "0",
                              "--epochs", "4", "--sid-set", "items.train_region=next_item",
                              "--name", "slate_table2"],
                     "overrides": ["trainer.eval_every=2"],
                     "metrics": ["ndcg@5", "hit@5", "recall@5"]},
    # HiGR with the random-ID control on ML-100K, seed 0, as measured before the redesign (commit 124688d):
    # random codes are a seeded draw, so this HiGR row sees exactly the committed codes (the CRQ-VAE codes of
    # the Table 2 run were a draw of a tokenizer that was not deterministic then, see docs/semantic_ids.md).
    # Its file holds one seed: the noise is the seed spread of Table 2's ML-100K HiGR rows (same protocol).
    "slate_random_ids": {"script": "slate_quality.py", "results": "slate_quality_random_ids",
                         "args": ["--datasets", "ml-100k", "--models", "higr", "--seeds", "0", "--epochs", "4",
                                  "--sid-method", "random", "--variant", "random_ids",
                                  "--name", "slate_quality_random_ids"],
                         "overrides": ["trainer.eval_every=2"], "metrics": ["ndcg@5", "hit@5", "recall@5"],
                         "noise_from": "slate_table2"},
    # The CTR table's HPGR row (MIM pre-training -> PGSA fine-tuning), clicks, seeds 0 and 1, with the committed cap.
    "ctr": {"script": "ctr.py", "results": "ctr",
            "args": ["--datasets", "kuairand-pure", "--seeds", "0", "1", "--only", "hpgr:default", "--labels", "clicked",
                     "--epochs", "30"],
            "metrics": ["auc", "gauc", "logloss"]},
    # Semantic-ID quality, seed 0, on the datasets whose item vectors did not change since (KuaiRand's
    # co-occurrence part moved to the slate split's training period in issue 23).
    "semantic_ids": {"script": "semantic_ids.py", "results": "semantic_ids",
                     "args": ["--datasets", "amazon-scientific", "ml-100k", "--seeds", "0"],
                     "metrics": ["collision", "concentration", "consistency"]},
    # Cold parse and cached load times (timings: reported as ratios, not judged).
    "data_pipeline": {"script": "data_pipeline.py", "results": "data_pipeline", "results_flag": "--out",
                      "args": ["--repeats", "3"], "metrics": ["load_s", "peak_rss_mb"], "timing": True},
}
KEY = ("dataset", "model", "variant", "seed", "truth")


def key(row: dict) -> tuple:
    return tuple(row.get(k) for k in KEY)


def compare(name: str, committed: list[dict], today: list[dict], metrics: list[str] | None, timing: bool,
            noise: list[dict] | None = None) -> list[dict]:
    """One output row per (today's row, metric) that has a committed counterpart; the seed spread comes from
    the committed rows of the same dataset, model, variant and truth, or from `noise` (rows of another file:
    same dataset, model and truth, any variant) where the committed file holds one seed."""
    mine = {key(r): r for r in committed}
    out = []
    for r in today:
        old = mine.get(key(r))
        if old is None:
            continue
        seeds = [c for c in committed if key(c)[:3] + key(c)[4:] == key(r)[:3] + key(r)[4:]]
        if noise is not None:
            seeds = [c for c in noise if (c["dataset"], c["model"], c.get("truth")) == (r["dataset"], r["model"],
                                                                                       r.get("truth"))] or seeds
        part = "timing" if timing else "metrics"  # timing checks compare the rows' timing fields
        for m in metrics or [k for k in r[part] if k in old[part]]:
            if m not in r[part] or m not in old[part]:
                continue
            vals = [c[part][m] for c in seeds if m in c[part]]
            std = statistics.stdev(vals) if len(vals) > 1 else 0.0
            now, was = r[part][m], old[part][m]
            if timing:
                within = None
            elif std > 0:
                within = abs(now - was) <= 2 * std
            else:
                within = abs(now - was) <= 1e-4
            out.append({"dataset": r["dataset"], "model": r["model"], "variant": f"{name}:{r['variant']}:{m}",
                        "seed": r["seed"], **({"truth": r["truth"]} if "truth" in r else {}),
                        "metrics": {"today": now, "committed": was, "diff": round(now - was, 6),
                                    "committed_mean": round(statistics.mean(vals), 6),
                                    "committed_std": round(std, 6), "committed_seeds": len(vals),
                                    **({"ratio": round(now / was, 3)} if was else {})},
                        "config": {"check": name, "metric": m, "within_noise": within,
                                   "noise_from": "committed seeds" if noise is None else "another file's seeds",
                                   }})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checks", nargs="*", default=list(CHECKS), choices=list(CHECKS))
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/hgrec-reproduction"),
                    help="today's results files and runs (never benchmarks/results)")
    ap.add_argument("--reuse", action="store_true", help="pick up today's finished runs in --scratch")
    ap.add_argument("--committed", type=Path, default=ROOT / "benchmarks" / "results",
                    help="the committed results files the rows are compared with")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                    help="where reproduction.{json,md} go")
    args = ap.parse_args()
    rows = []
    for name in args.checks:
        c = CHECKS[name]
        res_dir = args.scratch / name
        cmd = [sys.executable, str(ROOT / "benchmarks" / c["script"]), "--data", str(args.data), *c["args"],
               c.get("results_flag", "--results"), str(res_dir)]
        if c["script"] in ("slate_quality.py", "ctr.py", "semantic_ids.py"):
            cmd += ["--out-dir", str(args.scratch / f"{name}-runs")]
        if args.reuse and c["script"] in ("slate_quality.py", "ctr.py"):
            cmd.append("--reuse")
        cmd += c.get("overrides", [])  # key.path=value: the script's positional arguments, last
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
        committed = json.loads((args.committed / f"{c['results']}.json").read_text())
        today = json.loads((res_dir / f"{c['results']}.json").read_text())
        noise = (json.loads((args.committed / f"{c['noise_from']}.json").read_text())["rows"]
                 if c.get("noise_from") else None)
        got = compare(name, committed["rows"], today["rows"], c["metrics"], c.get("timing", False), noise)
        for g in got:  # the commit the compared numbers were measured at
            g["config"]["committed_commit"] = committed.get("git_commit")
        rows += got
        lines = [f"{g['dataset']} {g['model']} {g['variant']} s{g['seed']} {g['config']['metric']}: "
                 f"{g['metrics']['committed']} -> {g['metrics']['today']} ({g['config']['within_noise']})" for g in got]
        print("\n".join(lines), flush=True)
        save(rows, args, done=name == args.checks[-1])


def save(rows: list[dict], args, done: bool) -> None:
    judged = [r for r in rows if r["config"]["within_noise"] is not None]
    ok = sum(r["config"]["within_noise"] for r in judged)
    lines = [f"{ok} of {len(judged)} compared metrics within seed noise (|today - committed same seed| <= 2 x the "
             "committed std over seeds; exact to 1e-4 where the committed rows have no spread); timings reported, "
             "not judged. Per check and model (within / judged): " + ", ".join(
                 f"{ck} {mo} {sum(r['config']['within_noise'] for r in judged if (r['config']['check'], r['model']) == (ck, mo))}"
                 f"/{sum(1 for r in judged if (r['config']['check'], r['model']) == (ck, mo))}"
                 for ck, mo in dict.fromkeys((r["config"]["check"], r["model"]) for r in judged)) + ".", "",
             "The spread is that of the committed rows over seeds, or, where a check says `noise_from` (a file that "
             "holds one seed), that of another file's rows of the same dataset and model under the same protocol "
             "(its mean is then that file's, not this row's).", "",
             "| check | dataset | model | variant | seed | metric | committed | today | diff | spread rows: mean ± std "
             "(seeds) | within noise |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m, c = r["metrics"], r["config"]
        w = {True: "yes", False: "**no**", None: "timing"}[c["within_noise"]]
        lines.append(f"| {c['check']} | {r['dataset']} | {r['model']} | {r['variant'].split(':')[1]} | {r['seed']} "
                     f"| {c['metric']}{'/' + r['truth'] if r.get('truth') else ''} | {m['committed']:.5g} | "
                     f"{m['today']:.5g} | {m['diff']:+.3g} | {m['committed_mean']:.5g} ± {m['committed_std']:.2g} "
                     f"({m['committed_seeds']}) | {w} |")
    notes = ("" if done else "**Partial: the check was still running when this was written.**\n\n") + \
        "Committed benchmark rows rerun on today's code (benchmarks/reproduction.py; the restored settings of " \
        "each check are in its CHECKS entry).\n\n" + "\n".join(lines)
    write_results("reproduction", rows, out_dir=args.results, notes=notes,
                  command="python benchmarks/reproduction.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
