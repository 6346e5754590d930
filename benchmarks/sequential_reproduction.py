"""Next-item reproduction: SASRec and HSTU on Amazon Beauty / Toys (TIGER protocol) and ML-100K.

    python benchmarks/sequential_reproduction.py [--data ../shared/data] [--runs amazon-beauty:sasrec ...]
    python benchmarks/sequential_reproduction.py --runs amazon-toys:sasrec amazon-toys:hstu \
        --grid trainer.lr=1e-3,2e-3 model.dropout=0.3,0.5 --reuse        # the same tuning budget for each model

Protocol: leave-one-out over each user's positive sequence (last = test, second to last = valid),
full ranking over the whole catalogue with the user's earlier items masked (5-core Amazon and ML
have no repeated items, so this only removes impossible answers), history 50 (Amazon) / 200 (ML),
full-softmax cross-entropy for both models (same head, same budget: the configs under
configs/<dataset>/), early stopping on validation NDCG@10, test of the best validation epoch.
Published anchors (TIGER paper, Table 2, SASRec with BCE) are written beside our figures.
`--grid` trains every model at every point of the product of the given values (the same points, so the
same budget, for every model; an axis `hstu:model.init=torch,reference` is for that model's runs only),
records each point's validation metric and marks the point with the best one `selected` per (dataset,
model, seed): compare models by their selected rows. `--reuse` picks up runs that finished with the same
settings (a grid point equal to the config's own values reuses its plain run).
`--orders file sorted` adds the item-order control (issue 20: why public TIGER reproductions miss Toys): every
dataset is trained and tested on a copy of its `user_sequence.txt` with each user's items sorted by ASIN, the
order of IDGenRec's Toys copy (data README), so its test item is the alphabetically last one, not the latest.
Writes benchmarks/results/sequential_reproduction.{json,md} (`--name`: another file, for a tuning study);
each run also writes its predictions
(source ids) to --predictions-dir. `--paired sasrec` adds to every other model's row its paired difference
from SASRec's selected row on the same test users, with a bootstrap interval (hgrec/evaluation/compare.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
from pathlib import Path

from hgrec.benchmarking import Bench, RunSpec, parse_overrides
from hgrec.training.trainer import PREDICTIONS
from hgrec.utils.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]

ANCHORS = {  # TIGER paper Table 2 (SASRec, BCE with one negative); R@5, N@5, R@10, N@10
    ("amazon-beauty", "sasrec"): {"recall@5": 0.0387, "ndcg@5": 0.0249, "recall@10": 0.0605, "ndcg@10": 0.0318},
    ("amazon-toys", "sasrec"): {"recall@5": 0.0463, "ndcg@5": 0.0306, "recall@10": 0.0675, "ndcg@10": 0.0374},
}
DEFAULT_RUNS = ["amazon-beauty:sasrec", "amazon-beauty:hstu", "amazon-beauty:bert4rec", "amazon-toys:sasrec",
                "amazon-toys:hstu", "amazon-toys:bert4rec", "ml-100k:sasrec", "ml-100k:hstu", "ml-100k:bert4rec"]


def grid_points(grid: list[str], model: str | None = None) -> list[tuple[str, list[str]]]:
    """["trainer.lr=1e-3,2e-3", "model.dropout=0.3,0.5"] -> [("lr=1e-3 dropout=0.3", [overrides]), ...];
    an axis written `MODEL:key=v1,v2` (e.g. `hstu:model.init=torch,reference`, a field only HSTU has) applies
    to that model's runs only; no grid -> one unlabelled point with no overrides, a grid none of whose axes
    apply to `model` -> its one `default` point (the config's own values)."""
    if not grid:
        return [("", [])]
    axes = []
    for spec in grid:
        key, sep, values = spec.partition("=")
        only, colon, key = key.rpartition(":")
        if not sep or not key or not values or (colon and not only):
            raise SystemExit(f"--grid {spec!r}: expected [model:]key.path=v1,v2")
        if only and model is not None and only != model:
            continue
        axes.append([(key, v) for v in values.split(",")])
    if not axes:
        return [("default", [])]
    return [(" ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in point), [f"{k}={v}" for k, v in point])
            for point in itertools.product(*axes)]


def candidate_dirs(out_dir: Path, dataset: str, model: str, seed: int) -> list[Path]:
    """Where `--reuse` / `--collect` look for a finished run with a point's settings besides its own folder:
    the plain run's, then every other run of this (dataset, model, seed), so a point run under another study's
    name (weight_decay=0.1 of one study is weight_decay=0.1 n_layers=2 of the next) is not trained again.
    `finished_run` accepts a folder only if its saved settings are the point's."""
    return [out_dir / f"{dataset}-{model}-s{seed}", *sorted(out_dir.glob(f"{dataset}-{model}-*-s{seed}"))]


def predictions_of(run_dir: Path, root: Path, out: Path | None = None) -> Path:
    """The test predictions of a run's best checkpoint (DESIGN §8), written once and kept beside it."""
    from hgrec.pipelines.load import load_for_eval

    written = run_dir / PREDICTIONS  # by the Trainer's own test pass (runs trained since it writes them)
    path = (out / f"{run_dir.name}.parquet") if out else written
    if not path.exists() and written.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(written, path)
    if not path.exists():
        cfg, task, m = load_for_eval(run_dir / "best", root=root)
        path.parent.mkdir(parents=True, exist_ok=True)
        task.evaluate(m, "test", ks=cfg.trainer.ks, batch_size=512, device="cpu", predictions=str(path))
    return path


def paired_with(rows: list[dict], ref: str, run_of: dict, args) -> None:
    """Adds diff_* metrics to every row whose dataset and seed have a `ref` row: this row minus the reference's
    selected (or only) row, paired by user, with a bootstrap interval."""
    from hgrec.evaluation.compare import compare_predictions

    refs = {(r["dataset"], r["seed"], r.get("variant", "").endswith("sorted-order")): r for r in rows
            if r["model"] == ref and r["config"].get("selected", True)}
    for r in rows:
        base = refs.get((r["dataset"], r["seed"], r.get("variant", "").endswith("sorted-order")))  # same order
        if r["model"] == ref or base is None:
            continue
        a = predictions_of(*run_of[id(base)], args.predictions_dir)
        b = predictions_of(*run_of[id(r)], args.predictions_dir)
        diffs, _ = compare_predictions(a, b, ks=(5, 10))
        for d in diffs:
            if d.metric in ("recall@5", "ndcg@10"):
                r["metrics"][f"diff_{d.metric}"] = round(d.diff, 5)
                r["metrics"][f"diff_low_{d.metric}"] = round(d.ci_low, 5)
                r["metrics"][f"diff_high_{d.metric}"] = round(d.ci_high, 5)


def seed_summary(rows: list[dict]) -> str:
    """Mean ± std over seeds of each (dataset, model)'s selected (or only) rows, as a Markdown table."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if r["config"].get("selected", True):
            groups.setdefault((r["dataset"], r["model"]), []).append(r)
    keys = ["recall@5", "ndcg@5", "recall@10", "ndcg@10"]
    keys += [k for k in ("valid_ndcg@10", "diff_ndcg@10") if any(k in r["metrics"] for r in rows)]

    def cell(rs, k):
        vals = [r["metrics"][k] for r in rs if k in r["metrics"]]
        if not vals:
            return ""
        return f"{statistics.mean(vals):.4f} ± {statistics.stdev(vals):.4f}" if len(vals) > 1 else f"{vals[0]:.4f}"

    lines = ["Mean ± std over seeds (selected points):", "", "| dataset | model | seeds | " + " | ".join(keys) + " |",
             "|" + "---|" * (len(keys) + 3)]
    lines += [f"| {d} | {m} | {len(rs)} | " + " | ".join(cell(rs, k) for k in keys) + " |"
              for (d, m), rs in groups.items()]
    return "\n".join(lines)


def sorted_copy(src: Path, dst: Path) -> Path:
    """A copy of an Amazon dataset folder whose `user_sequence.txt` lists each user's items sorted by ASIN (the
    order of IDGenRec's Toys copy): the item-order control. Other files are linked; written atomically, once."""
    seq = dst / "user_sequence.txt"
    if not seq.exists():
        if not (src / "user_sequence.txt").exists():
            raise SystemExit(f"--orders sorted: {src / 'user_sequence.txt'} not found (Amazon Beauty/Toys only)")
        dst.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            if f.name != "user_sequence.txt" and not (dst / f.name).exists():
                (dst / f.name).symlink_to(f.resolve())
        lines = (src / "user_sequence.txt").read_text().splitlines()
        out = [" ".join([t[0], *sorted(t[1:])]) for t in (line.split() for line in lines) if t]
        atomic_write_text(seq, "\n".join(out) + "\n")
    return dst


def order_agreement(src: Path) -> dict:
    """How far ASIN order is from the file's (chronological) order, per user: the share whose test (last) and
    validation (second to last) items change under sorting, and the median Kendall tau between the two orders."""
    from scipy.stats import kendalltau

    seqs = [line.split()[1:] for line in (src / "user_sequence.txt").read_text().splitlines() if line.strip()]
    ranks = [sorted(range(len(s)), key=s.__getitem__) for s in seqs]  # positions in ASIN order
    taus = [kendalltau(range(len(r)), r)[0] for r in ranks]
    return {"users": len(seqs),
            "test_item_changed": round(sum(s[-1] != max(s) for s in seqs) / len(seqs), 4),
            "valid_item_changed": round(sum(s[-2] != sorted(s)[-2] for s in seqs) / len(seqs), 4),
            "median_kendall_tau": round(float(statistics.median(taus)), 4)}


def slug(label: str) -> str:
    """'lr=1e-3 dropout=0.3' -> 'lr_1e-3-dropout_0.3' (a folder name)."""
    return label.replace("=", "_").replace(" ", "-")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--runs", nargs="*", default=DEFAULT_RUNS, help="dataset:model pairs")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/hgrec-bench-runs"))
    ap.add_argument("--predictions-dir", type=Path, default=None)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--name", default="sequential_reproduction",
                    help="results file name: keep tuning studies apart from the reproduction table")
    ap.add_argument("--note", default="", help="a sentence appended to the results file's notes")
    ap.add_argument("--collect", action="store_true",
                    help="do not train: build the results from runs in --out-dir that finished with the same settings")
    ap.add_argument("--grid", nargs="*", default=[], metavar="KEY=V1,V2",
                    help="tune every model over the product of these values; the best validation point is `selected`")
    ap.add_argument("--reuse", action="store_true", help="pick up runs that finished with the same settings")
    ap.add_argument("--paired", metavar="MODEL", default=None,
                    help="compare every other model's test predictions with MODEL's, paired by user (hgrec compare)")
    ap.add_argument("--orders", nargs="*", choices=["file", "sorted"], default=["file"],
                    help="sorted: the item-order control (each user's items sorted by ASIN, as in IDGenRec's Toys copy)")
    ap.add_argument("overrides", nargs="*", help="key.path=value applied to every run")
    args = ap.parse_args()
    roots = {"file": args.data, "sorted": args.out_dir / "sorted-data"}  # sorted: the copies of the order control
    if "sorted" in args.orders:
        for run in args.runs:
            sorted_copy(args.data / run.split(":")[0], roots["sorted"] / run.split(":")[0])
    bench = Bench(args.name, out_dir=args.out_dir, results_dir=args.results, reuse=args.reuse, collect=args.collect)
    rows, run_of = bench.rows, {}  # run_of: id(row) -> the run folder it came from and its data root
    for order, run in [(o, r) for o in args.orders for r in args.runs]:
        data = roots[order]
        dataset, model = run.split(":")
        points = grid_points(args.grid, model)
        for seed in args.seeds:
            group = []  # this (dataset, model, seed)'s rows, one per grid point
            for label, over in points:
                name = f"{dataset}-{model}-{slug(label)}-s{seed}" if label else f"{dataset}-{model}-s{seed}"
                if order == "sorted":
                    name = name.replace(f"{dataset}-", f"{dataset}-sorted-", 1)
                spec = RunSpec(ROOT / "configs" / dataset / f"{model}.yaml", dataset, model, label or "default", seed,
                               {"data.root": str(data / dataset), **parse_overrides(args.overrides),
                                **parse_overrides(over)}, name=name)
                done = bench.run(spec, elsewhere=candidate_dirs(args.out_dir, dataset, model, seed))
                if done.result is None:  # --collect and the run is not there
                    continue
                cfg, result, run_dir = done.cfg, done.result, done.dir
                wall = float("nan") if done.reused else done.seconds
                test, metric = result["test"], cfg.trainer.metric
                row = {
                    "dataset": dataset, "model": model, "variant": " ".join(filter(None, [cfg.model.head.loss, label,
                                                                     "sorted-order" if order == "sorted" else ""])),
                    "seed": seed,
                    "metrics": {k: round(test[k], 5) for k in ("recall@5", "ndcg@5", "recall@10", "ndcg@10", "mrr",
                                                               f"coverage@{max(cfg.trainer.ks)}")},
                    "timing": {"train_s": round(result["train_seconds"], 1),
                               **({"wall_s": round(wall, 1)} if wall == wall else {}),
                               "train_samples_per_s": round(result["train_samples_per_s"], 1),
                               "eval_users_per_s": round(test["users_per_s"], 1), "epochs": result["epochs"],
                               "best_epoch": result["best_epoch"]},
                    "config": {**cfg.to_dict()["model"], "max_len": cfg.data.max_len, "lr": cfg.trainer.lr,
                               "batch_size": cfg.trainer.batch_size, "params": result["params"],
                               "test_users": int(test["users"])},
                }
                if label:  # the grid's selection criterion, next to the test figures
                    row["metrics"][f"valid_{metric}"] = round(result["valid"][metric], 5)
                    row["config"]["grid_point"] = label
                if (dataset, model) in ANCHORS:
                    row["anchor"] = ANCHORS[(dataset, model)]
                    row["metrics"]["ratio_to_anchor_min"] = round(
                        min(test[k] / v for k, v in ANCHORS[(dataset, model)].items()), 3)
                group.append(row)
                run_of[id(row)] = run_dir, data / dataset
                print(json.dumps({k: row[k] for k in ("dataset", "model", "variant", "metrics", "timing")}), flush=True)
                if args.predictions_dir:
                    predictions_of(run_dir, data / dataset, args.predictions_dir)
            if args.grid and group:  # the point a user would pick: best on validation, never on test
                key = next(k for k in group[0]["metrics"] if k.startswith("valid_"))
                best = max(group, key=lambda r: r["metrics"][key])
                for r in group:
                    r["config"]["selected"] = r is best
            rows += group
            bench.save(done=False, notes="Rows so far; the notes and the seed summary come at the end.")
    if args.paired:
        paired_with(rows, args.paired, run_of, args)
    notes = ("Next-item, leave-one-out, full ranking (history items masked: 5-core / ML have no repeats). "
             "Every model: full-softmax cross-entropy, d_model 64, 2 layers, the same optimiser, epoch cap and early "
             "stopping (BERT4Rec: cloze training on masked positions, the last position masked at inference). "
             "`anchor` = TIGER paper Table 2 (SASRec, BCE); ratio_to_anchor_min = min over the four metrics of ours / "
             "published (target >= 0.95). Times in seconds on the machine below (CPU only).")
    capped = [f"{r['dataset']} {r['model']}" for r in rows if r["timing"]["best_epoch"] >= r["timing"]["epochs"] - 2]
    if capped:  # the best validation epoch is the last one: the budget, not early stopping, ended the run
        notes += " Still improving when the epoch cap ended the run: " + ", ".join(capped) + "."
    if args.paired:
        notes += (f" `diff_*` = this row minus {args.paired}'s (its selected point where there is a grid) on the same "
                  "dataset, seed and test users, paired by user (`hgrec compare`): the mean difference and its 95 % "
                  "bootstrap interval `diff_low_*` / `diff_high_*` over users; seed-to-seed spread is not in it.")
    extra = None
    if "sorted" in args.orders:
        agreement = {d: order_agreement(args.data / d) for d in sorted({r.split(":")[0] for r in args.runs})}
        extra = {"order_agreement": agreement}
        notes += (" Item-order control (`--orders sorted`): each user's items sorted by ASIN, as in IDGenRec's Toys "
                  "copy, so validation / test are the alphabetically last items, not the latest. How far the two "
                  "orders are apart (`order_agreement`): " + "; ".join(
                      f"{d}: test item changed for {a['test_item_changed']:.1%} of {a['users']:,} users, validation "
                      f"item for {a['valid_item_changed']:.1%}, median Kendall tau {a['median_kendall_tau']:.2f}"
                      for d, a in agreement.items()) + ".")
    if args.note:
        notes += " " + args.note
    if args.grid:
        notes += (f" Grid (the same points for every model; a `model:` axis for that model only): "
                  f"{', '.join(args.grid)}; `selected` = the point with the best "
                  "validation metric per (dataset, model, seed). Selected points:\n\n| dataset | model | seed | point | "
                  "valid | recall@5 | ndcg@5 | recall@10 | ndcg@10 |\n|---|---|---|---|---|---|---|---|---|\n" + "\n".join(
                      f"| {r['dataset']} | {r['model']} | {r['seed']} | {r['config']['grid_point']} | "
                      f"{next(v for k, v in r['metrics'].items() if k.startswith('valid_')):.4f} | "
                      + " | ".join(f"{r['metrics'][k]:.4f}" for k in ("recall@5", "ndcg@5", "recall@10", "ndcg@10")) + " |"
                      for r in rows if r["config"].get("selected")))
    if len(args.seeds) > 1:
        notes += "\n\n" + seed_summary(rows)
    if not rows:
        raise SystemExit("no finished runs")
    bench.save(done=True, notes=notes, extra=extra)


if __name__ == "__main__":
    main()
