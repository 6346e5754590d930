"""Allocation churn of training (issue 24, item 0): user vs system CPU time, minor page faults, training
samples/s and evaluation users/s of one `python -m hgrec.train` run, before and after a change.

    python benchmarks/training_churn.py [--before-ref HEAD~1] [--dataset amazon-beauty] [--epochs 2] [--threads 2]

The same config (configs/<dataset>/sasrec.yaml, `--epochs` epochs, evaluation every epoch, seed 0) runs
twice, one after the other, each under /usr/bin/time -v: `before` from a git worktree of `--before-ref`
(the materialised full-catalogue cross-entropy), `after` from this checkout (chunked cross-entropy in a
reused buffer, `hgrec.nn.losses`). Test metrics must agree within seed noise: the loss is the same
function. Writes benchmarks/results/training_churn.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hgrec.utils.results import write_results

ROOT = Path(__file__).resolve().parents[1]
TIME_KEYS = {"User time (seconds)": "user_s", "System time (seconds)": "sys_s",
             "Minor (reclaiming a frame) page faults": "minor_faults", "Maximum resident set size (kbytes)": "max_rss_kb",
             "Elapsed (wall clock) time (h:mm:ss or m:ss)": "wall"}


def timed_train(code: Path, config: Path, overrides: list[str], out: Path, threads: int) -> dict:
    """One training process of the hgrec in `code` under /usr/bin/time -v -> its counters and metrics.json."""
    env = dict(os.environ, PYTHONPATH=str(code), OMP_NUM_THREADS=str(threads))
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "hgrec.train", "--config", str(config), *overrides,
           f"trainer.out_dir={out}", "trainer.run_name=run", "trainer.overwrite=true", "trainer.progress=false",
           "trainer.tensorboard=false", f"trainer.num_threads={threads}"]
    proc = subprocess.run(cmd, cwd=code, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"training failed in {code}:\n{proc.stderr[-3000:]}")
    counters = {}
    for line in proc.stderr.splitlines():
        key, _, value = line.strip().rpartition(": ")
        if key in TIME_KEYS:
            if TIME_KEYS[key] == "wall":
                parts = [float(p) for p in value.split(":")]
                counters["wall_s"] = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
            else:
                counters[TIME_KEYS[key]] = float(value)
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    return {"counters": counters, "result": metrics}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--dataset", default="amazon-beauty")
    ap.add_argument("--before-ref", default="HEAD~1", help="git ref of the code before the change")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    config = ROOT / "configs" / args.dataset / "sasrec.yaml"
    over = [f"data.root={args.data / args.dataset}", f"trainer.epochs={args.epochs}", "trainer.eval_every=1",
            "trainer.seed=0"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before_ref], cwd=ROOT, check=True,
                       capture_output=True)
        ref = subprocess.run(["git", "rev-parse", "--short=12", args.before_ref], cwd=ROOT, capture_output=True,
                             text=True).stdout.strip()
        try:
            for variant, code in (("before", before), ("after", ROOT)):
                run = timed_train(code, config, over, Path(tmp) / f"runs-{variant}", args.threads)
                c, res = run["counters"], run["result"]
                test = res["test"]
                rows.append({"dataset": args.dataset, "model": "sasrec", "variant": variant, "seed": 0,
                             "metrics": {k: round(test[k], 5) for k in ("recall@10", "ndcg@10") if k in test},
                             "timing": {"user_s": c["user_s"], "sys_s": c["sys_s"],
                                        "sys_over_user": round(c["sys_s"] / c["user_s"], 4),
                                        "minor_faults": c["minor_faults"], "max_rss_mb": round(c["max_rss_kb"] / 1024),
                                        "wall_s": round(c["wall_s"], 1),
                                        "train_samples_per_s": round(res["train_samples_per_s"], 1),
                                        "eval_users_per_s": round(test["users_per_s"], 1)},
                             "config": {"code": ref if variant == "before" else "this checkout",
                                        "epochs": args.epochs, "threads": args.threads}})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)
    b, a = (r["timing"] for r in rows)
    notes = (f"`python -m hgrec.train` of configs/{args.dataset}/sasrec.yaml, {args.epochs} epochs with an evaluation "
             f"after each, {args.threads} torch threads, one run each, one after the other on this machine. before = "
             f"{rows[0]['config']['code']} (materialised (n x items) logits), after = chunked cross-entropy in a reused "
             f"buffer. System / user time {b['sys_over_user']:.1%} -> {a['sys_over_user']:.1%}; minor page faults "
             f"{b['minor_faults']:,.0f} -> {a['minor_faults']:,.0f}; training samples/s {b['train_samples_per_s']:,.0f} "
             f"-> {a['train_samples_per_s']:,.0f} ({a['train_samples_per_s'] / b['train_samples_per_s']:.2f}x).")
    write_results("training_churn", rows, out_dir=args.results, notes=notes,
                  command="python benchmarks/training_churn.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
