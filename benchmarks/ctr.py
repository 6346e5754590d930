"""CTR benchmark: HPGR (+ ablations) against HSTU-CTR, MTGR-style and DIN on KuaiRand-Pure and ML-100K.

    python benchmarks/ctr.py [--data ../shared/data] [--datasets kuairand-pure ml-100k] [--seeds 0 1 2]
                             [--only hpgr:default mtgr:default ...] [--collect | --reuse] [key.path=value ...]
    python benchmarks/ctr.py --smoke --results /tmp/ctr-smoke   # seconds: embedded sample, tiny models

Protocol (docs/hpgr.md): every exposure is a sample (candidate = the exposed item, history = the user's
earlier exposures with their feedback, sessions split at gaps > 30 min), global temporal split 80/10/10 of
the exposures, early stopping on validation AUC, test of the best validation epoch; AUC, GAUC (per user,
impression-weighted) and log loss on the test split. Labels: KuaiRand-Pure is_click (`truth: clicked`)
and long_view (`truth: effective`); ML-100K rating >= 4 (`truth: effective`, the ratings as the history's
actions: HSTU's ranking protocol). Configs: configs/kuairand/ and configs/ml-100k/ (same d and depth for
every model). HPGR variants:
  default       MIM pre-training (hpgr_pretrain.yaml) -> PGSA fine-tuning (hpgr_finetune.yaml)
  no_pretrain   fine-tuning from scratch (PGSA selects with the model's own item embeddings)
  dense         pre-training -> dense target attention over the whole history ("w/o PGSA"; the
                "pre-training alone" point of the paper's ablation, see docs/hpgr.md)
  no_sem        pre-training and fine-tuning without the Session Enhancement Module ("w/o SEM")
  cross         + MTGR's user x author / genre cross counters (what MTGR-style gets)
  adaptive      PGSA with a per-candidate budget (relevance >= model.relevance_threshold among the top K)
  nofeat        the history alone, no side features (the first build's inputs)
Every model gets the same side features and causal counters (--features, hgrec/data/ctr_features.py);
MTGR-style adds its cross features. LightGBM (lightgbm:default, lightgbm:cross) fits on the same split,
rows and features. --paired MODEL:VARIANT adds `hgrec compare` intervals against --paired-against.
One pre-training run per (dataset, seed, SEM on/off) serves every label and variant that needs it.
The paper's own figures (private APPGallery data, not comparable in absolute terms) are written beside
ours under `reference`. Session statistics of each dataset are written under `session_stats`: where the
sessions are short (KuaiRand-Pure: 1.2 exposures each), SEM and PGSA have little structure to use.
Writes benchmarks/results/ctr.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from hgrec.benchmarking import Bench, RunSpec, parse_overrides

ROOT = Path(__file__).resolve().parents[1]

CONFIG_DIR = {"kuairand-pure": "kuairand", "ml-100k": "ml-100k", "sample": "kuairand"}
LABELS = {"kuairand-pure": ["clicked", "effective"], "ml-100k": ["effective"], "sample": ["clicked"]}
RUNS = ["hpgr:default", "hpgr:no_pretrain", "hpgr:dense", "hpgr:no_sem", "hpgr:cross", "hpgr:adaptive", "hpgr:nofeat",
        "hstu_ctr:default", "mtgr:default", "din:default", "lightgbm:default", "lightgbm:cross"]
FEATURES = ["user", "item", "context", "counters"]  # every model alike; MTGR-style and lightgbm:cross add "cross"
VARIANT_OVERRIDES = {
    "default": {},
    "no_pretrain": {"model.pretrained": None},
    "dense": {"model.attention": "dense"},
    "no_sem": {"model.sem": False},
    "adaptive": {"model.top_k_mode": "threshold"},  # per-candidate budget: relevance >= model.relevance_threshold
    "nofeat": {},  # the history alone (data.features=[]): the first build's HPGR, for comparison
    "cross": {},  # + MTGR's cross features (`cross` group), as MTGR-style gets them
}
REFERENCE = {  # HPGR paper (arXiv 2603.00980), private APPGallery data: orientation only
    "hpgr_auc": 0.8377, "pretraining_alone_auc": 0.8327, "gain_over_hstu_mtgr_auc_points": 1.50,
}
SMOKE = {"model.d_model": 16, "model.d_ff": 32, "trainer.epochs": 1, "trainer.max_steps": 6,
         "trainer.save_every_steps": 6, "trainer.eval_batch_size": 4096, "trainer.warmup_steps": 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--datasets", nargs="*", default=["kuairand-pure", "ml-100k"])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--only", nargs="*", default=RUNS, help="model:variant pairs (default: all)")
    ap.add_argument("--labels", nargs="*", default=None,
                    help="restrict labels: clicked / effective, or dataset:label (kuairand-pure:clicked)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="epoch cap of the fine-tuning and baseline runs (pre-training keeps its config's)")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/hgrec-bench-runs/ctr"))
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--predictions-dir", type=Path, default=None)
    ap.add_argument("--collect", action="store_true",
                    help="do not train: rows from the runs in --out-dir that finished with the same settings")
    ap.add_argument("--reuse", action="store_true",
                    help="pick up runs in --out-dir that finished with the same settings; train the others")
    ap.add_argument("--smoke", action="store_true",
                    help="embedded sample, tiny models, a few steps (a check, not a result)")
    ap.add_argument("--paired", default=None, metavar="MODEL:VARIANT",
                    help="with --predictions-dir: the --paired-against runs' paired difference from this run on the same "
                         "test exposures (hgrec compare: user-cluster bootstrap), per dataset, label and seed")
    ap.add_argument("--paired-against", nargs="*", default=["lightgbm:default", "hstu_ctr:default", "mtgr:default"],
                    help="the runs --paired compares with (each bootstrap costs seconds to minutes)")
    ap.add_argument("--features", nargs="*", default=FEATURES,
                    help="feature groups of every model (hgrec/data/ctr_features.py); the nofeat variant has none")
    ap.add_argument("overrides", nargs="*", help="key.path=value applied to every run")
    args = ap.parse_args()
    overrides = parse_overrides(args.overrides)
    if args.smoke:
        args.datasets, args.seeds = ["sample"], args.seeds[:1]
        overrides = {**SMOKE, **overrides}
    bench = Bench("ctr", out_dir=args.out_dir, results_dir=args.results, reuse=args.reuse, collect=args.collect)
    stats: dict[str, dict] = {}
    for dataset in args.datasets:
        cdir = ROOT / "configs" / CONFIG_DIR[dataset]
        stats[dataset] = dataset_session_stats(dataset, None if dataset == "sample" else args.data / dataset)
        base = {"data.dataset": dataset, **({} if dataset == "sample" else {"data.root": str(args.data / dataset)})}
        for seed in args.seeds:
            pretrained = {}  # sem on/off -> checkpoint of this seed's pre-training run
            hpgr_variants = {r.split(":")[1] for r in args.only if r.startswith("hpgr:")}
            need = {True: bool(hpgr_variants - {"no_pretrain", "no_sem"}), False: "no_sem" in hpgr_variants}
            for sem in (True, False):
                if not need[sem]:
                    continue
                spec = RunSpec(cdir / "hpgr_pretrain.yaml", dataset, "hpgr_pretrain", "default" if sem else "no_sem",
                               seed, {**base, "model.sem": sem, **overrides},
                               name=f"{dataset}-hpgr-pretrain{'' if sem else '-nosem'}-s{seed}")
                run = bench.run(spec)
                pretrained[sem] = checkpoint_of(run.dir)
                if run.result:
                    print(json.dumps({"pretrain": spec.run_name,
                                      "test": {k: round(v, 4) for k, v in run.result["test"].items()}}), flush=True)
            for label in LABELS[dataset]:
                if args.labels and label not in args.labels and f"{dataset}:{label}" not in args.labels:
                    continue
                for model, variant in (r.split(":") for r in args.only):
                    name = f"{dataset}-{label}-{model}-{variant}-s{seed}"
                    groups = run_features(model, variant, args.features)
                    if model == "lightgbm":  # not a Trainer run: fitted here, on the same rows and features
                        bench.rows.append(lightgbm_row(dataset, label, variant, seed, groups, args, name))
                        save(bench, stats, args, done=False)
                        continue
                    over = {**base, "data.label": label, "data.features": groups}
                    if model == "hpgr":
                        over |= VARIANT_OVERRIDES[variant]
                        if variant != "no_pretrain":
                            over["model.pretrained"] = str(pretrained[variant != "no_sem"])
                    if args.epochs:
                        over["trainer.epochs"] = args.epochs
                    config = cdir / f"{'hpgr_finetune' if model == 'hpgr' else model}.yaml"
                    run = bench.run(RunSpec(config, dataset, model, variant, seed, {**over, **overrides}, name=name))
                    if run.result is None:  # --collect and the run is not there
                        continue
                    bench.rows.append(ctr_row(run, label))
                    print(json.dumps({k: bench.rows[-1][k] for k in ("dataset", "truth", "model", "variant", "seed",
                                                                      "metrics")}), flush=True)
                    save(bench, stats, args, done=False)
                    write_predictions(run, args.predictions_dir)
    if not bench.rows:
        raise SystemExit("no finished runs")
    paired = paired_differences(bench.rows, args) if args.paired and args.predictions_dir else []
    save(bench, stats, args, done=True, paired=paired)


def ctr_row(run, label: str) -> dict:
    """The DESIGN §10 row of one finished Trainer run (test of the best validation epoch)."""
    res, cfg, test = run.result, run.cfg, run.result["test"]
    attended = test.get("attended_tokens", float("nan"))
    return {
        "dataset": run.spec.dataset, "model": run.spec.model, "variant": run.spec.variant, "seed": run.spec.seed,
        "truth": label, "metrics": {k: round(test[k], 5) for k in ("auc", "gauc", "logloss")},
        "timing": {"train_s": round(res["train_seconds"], 1),
                   **({} if run.reused else {"wall_s": round(run.seconds, 1)}),
                   "train_samples_per_s": round(res["train_samples_per_s"] or 0.0, 1),
                   "eval_samples_per_s": round(test["samples_per_s"], 1),
                   "epochs": res["epochs"], "best_epoch": res["best_epoch"], "epochs_cap": cfg.trainer.epochs,
                   **({"attended_tokens": round(attended, 2)} if attended == attended else {})},
        "config": {**cfg.to_dict()["model"], "features": list(cfg.data.features), "max_len": cfg.data.max_len,
                   "lr": cfg.trainer.lr, "batch_size": cfg.trainer.batch_size, "params": res["params"],
                   "test_samples": int(test["samples"]), "test_positive_rate": round(test["positive_rate"], 4)},
    }


def write_predictions(run, out: Path | None) -> None:
    """The run's test predictions (DESIGN §8) from its best checkpoint, unless this run's file is there already."""
    pred = out / f"{run.spec.run_name}.parquet" if out else None
    if pred is None or (pred.exists() and pred.stat().st_mtime >= (run.dir / "metrics.json").stat().st_mtime):
        return
    from hgrec.pipelines import load_for_eval

    _, task, m = load_for_eval(checkpoint_of(run.dir))
    out.mkdir(parents=True, exist_ok=True)
    task.evaluate(m, "test", batch_size=4096, predictions=str(pred))


def paired_differences(rows: list[dict], args) -> list[dict]:
    """`hgrec compare` of the --paired run against each --paired-against run of the same dataset, label and seed."""
    from hgrec.evaluation.compare import compare_ctr_predictions

    ref_model, ref_variant = args.paired.split(":")
    out = []
    for r in rows:
        if f"{r['model']}:{r['variant']}" not in args.paired_against:
            continue
        key = f"{r['dataset']}-{r['truth']}"
        a = args.predictions_dir / f"{key}-{r['model']}-{r['variant']}-s{r['seed']}.parquet"
        b = args.predictions_dir / f"{key}-{ref_model}-{ref_variant}-s{r['seed']}.parquet"
        if not (a.exists() and b.exists()):
            continue
        diffs, n_users = compare_ctr_predictions(a, b, resamples=300, seed=r["seed"])
        out.append({"dataset": r["dataset"], "truth": r["truth"], "seed": r["seed"], "against": f"{r['model']}:{r['variant']}",
                    "users": n_users, **{d.metric: {"diff": round(d.diff, 5), "ci_low": round(d.ci_low, 5),
                                                    "ci_high": round(d.ci_high, 5)} for d in diffs}})
        print(json.dumps(out[-1]), flush=True)
    return out


def save(bench: Bench, stats: dict, args, done: bool, paired: list[dict] = ()) -> None:
    """Written after every run, so a killed benchmark keeps what it measured (marked partial); the tables
    come from the rows alone."""
    summary = summarise(bench.rows)
    table = ["| dataset | label | model | variant | features | AUC | GAUC | log loss | best / last epoch | seeds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        cell = (lambda k: f"{s[k]:.4f}" + (f" ± {s[k + '_std']:.4f}" if s["seeds"] > 1 else ""))
        table.append(f"| {s['dataset']} | {s['truth']} | {s['model']} | {s['variant']} | {s['features']} | "
                     f"{cell('auc')} | {cell('gauc')} | {cell('logloss')} | {s['epochs']} | {s['seeds']} |")
    if paired:
        table += ["", f"Paired differences, {args.paired} minus each run, same test exposures (`hgrec compare`: "
                      "user-cluster bootstrap, 300 draws, 95 % interval):", "",
                  "| dataset | label | seed | against | AUC diff [95 % CI] | GAUC diff [95 % CI] |", "|---|---|---|---|---|---|"]
        for p in paired:
            ci = (lambda k: f"{p[k]['diff']:+.4f} [{p[k]['ci_low']:+.4f}, {p[k]['ci_high']:+.4f}]")
            table.append(f"| {p['dataset']} | {p['truth']} | {p['seed']} | {p['against']} | {ci('auc')} | {ci('gauc')} |")
    sess = ["| dataset | " + " | ".join(k for k in next(iter(stats.values()))) + " |"] if stats else []
    if stats:
        sess.append("|---" * (1 + len(next(iter(stats.values())))) + "|")
        sess += [f"| {d} | " + " | ".join(str(v) for v in st.values()) + " |" for d, st in stats.items()]
    notes = ("CTR on every exposure, global temporal split 80/10/10, early stopping on validation AUC (patience "
             "of the configs: 2 evaluations; LightGBM: 100 rounds); test AUC / GAUC (per-user, "
             "impression-weighted) / log loss. label = clicked (KuaiRand is_click) or effective (long_view, or "
             f"rating >= 4 on ML-100K). Features (hgrec/data/ctr_features.py): {' + '.join(args.features) or 'none'}"
             " for every model alike; MTGR-style and lightgbm:cross add `cross` (user x author / genre counters); "
             "nofeat = the history alone (the first build's inputs). HPGR variants: default = MIM pre-training + "
             "PGSA; no_pretrain; dense = w/o PGSA (the paper's 'pre-training alone'); no_sem = w/o SEM; cross = + "
             "MTGR-style's cross features; adaptive = "
             "per-candidate budget (relevance >= model.relevance_threshold among the top K). Fine-tuning / "
             f"baseline epoch cap: {args.epochs or 'the configs'} (LightGBM: 3000 rounds), 'best / last epoch' is "
             "the mean over seeds (LightGBM: boosting rounds); pre-training: the config's cap (30) with early "
             "stopping. The paper's figures (0.8377 vs 0.8327 AUC, +1.50 points over HSTU/MTGR) are on private "
             "data: see `reference`.\n\n" + "\n".join(table) +
             ("\n\nSession statistics (the history features of the CTR samples):\n\n" + "\n".join(sess) if sess else ""))
    bench.save(done, notes, extra={"reference": REFERENCE, "session_stats": stats, "summary": summary,
                                   "paired": list(paired)})


def run_features(model: str, variant: str, features: list[str]) -> list[str]:
    """The feature groups of a run: the shared set; none for nofeat; + MTGR's cross features."""
    if variant == "nofeat":
        return []
    return list(features) + (["cross"] if (model == "mtgr" or variant == "cross") and "cross" not in features else [])


def lightgbm_row(dataset: str, label: str, variant: str, seed: int, groups: list[str], args, name: str) -> dict:
    """Fit LightGBM on the same split, test rows and features as the neural runs; its predictions file too."""
    from hgrec.data import load_dataset
    from hgrec.data.ctr_samples import ctr_data
    from hgrec.evaluation.ctr import ctr_metrics, write_ctr_predictions
    from hgrec.models.lightgbm_ctr import LightGBMCTR

    ds = load_dataset(dataset, None if dataset == "sample" else args.data / dataset)
    max_len = 200 if dataset == "ml-100k" else 50
    t0 = time.perf_counter()
    data = ctr_data(ds, max_len, label, features=tuple(groups))
    model = LightGBMCTR(seed=seed).fit(data)
    test = data.test
    t1 = time.perf_counter()
    probs = model.predict(data, test.rows)
    eval_s = time.perf_counter() - t1
    users = data.columns["user"][test.rows]
    m = ctr_metrics(users, test.labels, probs)
    if args.predictions_dir:
        args.predictions_dir.mkdir(parents=True, exist_ok=True)
        write_ctr_predictions(str(args.predictions_dir / f"{name}.parquet"), ds.user_map.to_raw(users),
                              ds.item_map.to_raw(data.columns["item"][test.rows]), data.columns["ts"][test.rows] * 1000,
                              test.labels, probs)
    row = {"dataset": dataset, "model": "lightgbm", "variant": variant, "seed": seed, "truth": label,
           "metrics": {k: round(m[k], 5) for k in ("auc", "gauc", "logloss")},
           "timing": {"train_s": round(model.train_seconds, 1), "wall_s": round(time.perf_counter() - t0, 1),
                      "eval_samples_per_s": round(len(test.rows) / eval_s, 1),
                      "epochs": model.rounds, "best_epoch": model.best_iteration,
                      "epochs_cap": model.config.max_rounds},  # epochs = boosting rounds for LightGBM
           "config": {**dataclasses.asdict(model.config), "features": groups,
                      "top_features": dict(list(model.importance().items())[:8]),
                      "test_samples": len(test.rows), "test_positive_rate": round(float(test.labels.mean()), 4)}}
    print(json.dumps({k: row[k] for k in ("dataset", "truth", "model", "variant", "seed", "metrics")}), flush=True)
    return row


def checkpoint_of(run_dir: Path) -> Path:
    """The run's best validation checkpoint, or its latest step checkpoint when it never validated (smoke runs)."""
    from hgrec.training.checkpoint import step_dirs

    if (run_dir / "best").exists() or not step_dirs(run_dir):
        return run_dir / "best"
    return step_dirs(run_dir)[-1]


def dataset_session_stats(dataset: str, root: Path | None) -> dict:
    from hgrec.data import load_dataset
    from hgrec.data.ctr_samples import ctr_data, session_stats

    ds = load_dataset(dataset, root)
    label = "clicked" if "clicked" in ds.interactions.columns else "effective"
    max_len = 200 if dataset == "ml-100k" else 50
    stats = session_stats(ctr_data(ds, max_len, label))
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()}


def summarise(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["truth"], r["model"], r["variant"]), []).append(r)
    out = []
    for (dataset, truth, model, variant), rs in groups.items():
        ms = [r["metrics"] for r in rs]
        t = [r["timing"] for r in rs]
        s = {"dataset": dataset, "truth": truth, "model": model, "variant": variant, "seeds": len(ms),
             "features": "+".join(rs[0]["config"].get("features", [])) or "none",
             "epochs": f"{np.mean([x['best_epoch'] for x in t]):.3g} / {np.mean([x['epochs'] for x in t]):.3g}"}
        for k in ("auc", "gauc", "logloss"):
            v = np.array([m[k] for m in ms])
            s[k] = round(float(v.mean()), 5)
            s[f"{k}_std"] = round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 5)
        out.append(s)
    return out


if __name__ == "__main__":
    main()
