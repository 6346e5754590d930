"""HiGR Table 2 / Table 3 / Figure 4 on public data: slate quality of HiGR against its baselines.

    python benchmarks/slate_quality.py --table 2 [--datasets kuairand-pure ml-100k] [--seeds 0 1 2] [--reuse]
    python benchmarks/slate_quality.py [--datasets kuairand-pure ml-100k] [--models sasrec bert4rec hstu tiger onerec higr]
                                       [--orpo] [--seeds 0 1 2] [--epochs 20] [--sweep]
                                       [--ablations [--ablation-seeds 0] [--ablation-datasets ml-100k]]
                                       [--predictions-dir DIR] [--reuse]

`--table 2` is HiGR's Table 2: all eight rows (ListCVAE, BERT4Rec, SASRec, TIGER, HSTU, OneRec-style,
HiGR without alignment, HiGR with ORPO), both truth sets, mean ± std over the seeds; the results
file is benchmarks/results/slate_table2.json. `--orpo` post-trains every default HiGR run with
configs/align/<dataset>/orpo.yaml (`hgrec align`, alignment.init = that run's best checkpoint, same
seed) and reports it as the row `higr_orpo`. `--sid-method random --variant random_ids --models higr tiger --name slate_quality_random_ids` is the
random-ID control (same code shape, no semantics). `--reuse` takes a run whose folder already holds a
metrics.json written under the same model / data / trainer settings instead of training it again
(the timings are then the original run's); `--collect` trains nothing and writes the finished runs only.

Every model is trained by the same Trainer on the same slate samples (configs/slates/<dataset>/<model>.yaml:
same d_model and total layers; `every_item` training samples; early stopping on validation
NDCG@5 with the same epoch cap and patience — the tuning budget is identical and documented in
docs/slates.md) and evaluated on the same test slates: hit@5, recall@5, NDCG@5 against the
effective views and against the impressions (KuaiRand; the other sources log no impressions, so
their "impressions" truth is the same as the effective one), intra-slate diversity and coverage.
A popularity slate (the 5 most frequent training targets) is reported as the floor.

`--variants hybrid hybrid_collab_sids hybrid_sasrec_sids deep_generator random_ids` adds issue 23's HiGR
variants (VARIANTS below: the hybrid item-ID + SID context, semantic IDs from co-occurrences only or from
the seed-0 SASRec run's item table, a deeper item generator at the same total depth, the random-ID
control), on `--variant-seeds`.
`--sweep` adds the slate-length sweep L in {1, 2, 3, 4, 5, 10} for HiGR and OneRec-style (Figure 4,
models trained with M=5); `--ablations` the HSD variants of Table 3 (mean / max pooling, without
context embedding in the item generator, non-shared generators). Semantic IDs come from
configs/<dataset>/crq_vae.yaml (seed 0), made on first use. Writes
benchmarks/results/slate_quality.{json,md} after every run (a killed benchmark keeps what it
measured; the Markdown says "Partial") and, with --sweep, slate_quality_sweep.png. Runs go seed-major:
every model on every dataset for the first seed, then the ablations, then the other seeds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hgrec.benchmarking import Bench, RunSpec, parse_overrides, seed_table, tokenized
from hgrec.evaluation.slates import slate_metrics
from hgrec.pipelines import align, load_config, load_for_eval, make_task

ROOT = Path(__file__).resolve().parents[1]

MODELS = ["sasrec", "bert4rec", "hstu", "tiger", "onerec", "higr"]
TABLE2 = ["listcvae", "bert4rec", "sasrec", "tiger", "hstu", "onerec", "higr"]  # + higr_orpo (--orpo)
CTR_ONLY = {"label", "session_gap_min"}  # data fields slate models never read (their defaults changed once)
SWEEP = [1, 2, 3, 4, 5, 10]
ABLATIONS = {
    "mean_pooling": {"model.pooling": "mean"},
    "max_pooling": {"model.pooling": "max"},
    "without_context_in_generator": {"model.item_context": False},
    "non_shared_generator": {"model.shared_generator": False},
}
# Issue 23's HiGR variants (`--variants`): overrides and semantic IDs of each; `{out}` is --out-dir, and
# `model` SIDs quantise the item table of that dataset's seed-0 SASRec run of the same benchmark.
HYBRID = {"model.item_ids": True}
VARIANTS = {
    "hybrid": {"over": HYBRID},  # context item = item-ID embedding + summed SID embedding
    "hybrid_collab_sids": {"over": HYBRID, "sources": ["collab"]},  # co-occurrence-only SIDs
    "hybrid_sasrec_sids": {"over": HYBRID, "sources": ["model"],
                           "checkpoint": "{out}/{dataset}-sasrec-default-s0/best"},  # a trained SASRec's item table
    "deep_generator": {"over": {"model.slate_layers": 2, "model.item_layers": 4}},  # same total depth, deeper generator
    "random_ids": {"method": "random"},  # the random-ID control: same code shape, no semantics
    "sid_seed_1": {"sid_set": {"tokenizer.seed": 1}},  # the same codes' config, another tokenizer draw
    "sid_seed_2": {"sid_set": {"tokenizer.seed": 2}},
    "hybrid_random_ids": {"over": HYBRID, "method": "random"},  # control for hybrid_sasrec_sids
    "sasrec_sids": {"sources": ["model"], "checkpoint": "{out}/{dataset}-sasrec-default-s0/best"},  # without hybrid
    "collab_sids": {"model": "tiger", "sources": ["collab"]},  # control: TIGER on HiGR's collaborative SIDs
    "tiger_sasrec_sids": {"model": "tiger", "sources": ["model"],  # control: TIGER on the same SASRec-table SIDs
                          "checkpoint": "{out}/{dataset}-sasrec-default-s0/best"},
}
SID_MODELS = {"tiger", "onerec", "higr", "higr_orpo"}  # decoded by a beam over semantic IDs
KEYS = ["hit@5", "recall@5", "ndcg@5", "impressions/hit@5", "impressions/recall@5", "impressions/ndcg@5",
        "diversity@5", "coverage@5"]
EFF, IMP = {"truth": "effective"}, {"truth": "impressions"}
COLUMNS = [("hit@5", "hit@5", EFF), ("recall@5", "recall@5", EFF), ("NDCG@5", "ndcg@5", EFF),
           ("imp. hit@5", "hit@5", IMP), ("imp. recall@5", "recall@5", IMP), ("imp. NDCG@5", "ndcg@5", IMP),
           ("diversity@5", "diversity@5", EFF), ("coverage@5", "coverage@5", EFF)]


def semantic_ids(dataset: str, data: Path, out: Path, sources: list[str] | None = None, method: str | None = None,
                 checkpoint: str | None = None, overrides: dict | None = None) -> str:
    """CRQ-VAE codes from configs/<dataset>/crq_vae.yaml (seed 0), made on first use (`hgrec.benchmarking`).
    The codes' collaborative part counts only the slate split's training part (items.train_region: slates)."""
    return tokenized(ROOT / "configs" / dataset / "crq_vae.yaml", dataset, data / dataset, out, sources, method,
                     checkpoint, overrides)


def plot_sweep(rows: list[dict], path: Path) -> None:
    """NDCG@L against the slate length L, one line per dataset and model (the paper's Figure 4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len({r["dataset"] for r in rows}), figsize=(10, 3.5), squeeze=False)
    for ax, dataset in zip(axes[0], sorted({r["dataset"] for r in rows})):
        for model in sorted({r["model"] for r in rows if r["dataset"] == dataset}):
            pts = sorted((r["config"]["slate_size"], r["metrics"][f"ndcg@{r['config']['slate_size']}"])
                         for r in rows if r["dataset"] == dataset and r["model"] == model)
            ax.plot(*zip(*pts), marker="o", label=model)
        ax.set(title=dataset, xlabel="slate length L (trained with M=5)", ylabel="NDCG@L")
        ax.legend()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)  # atomic


def spec_for(dataset, model, seed, args, sids, over=None, variant="default") -> RunSpec:
    """The run of `model` (or 'higr_orpo': the same seed's default HiGR post-trained with ORPO)."""
    common = {"data.root": str(args.data / dataset), "data.semantic_ids": sids}
    if model == "higr_orpo":
        init = args.out_dir / f"{dataset}-higr-{variant}-s{seed}" / "best"
        return RunSpec(ROOT / "configs" / "align" / dataset / "orpo.yaml", dataset, model, variant, seed,
                       {**common, "alignment.init": str(init), **(over or {})})
    return RunSpec(ROOT / "configs" / "slates" / dataset / f"{model}.yaml", dataset, model, variant, seed,
                   {**common, "trainer.epochs": args.epochs, **(over or {})})


def beam_selection(run_dir: Path, task, model, beams: list[int], prediction: Path | None, trained: dict) -> dict:
    """The decoding beam of a semantic-ID model chosen on validation NDCG@5 among `beams`, and the test metrics
    at that beam (with its predictions file). The training run's own beam (`data.beam`) is known from its
    metrics.json (`trained`: same weights, same beam); the others are cached in the run folder
    (beam_selection.json), so a beam already validated is not decoded again."""
    from hgrec.utils.atomic import atomic_write_text

    path = run_dir / "beam_selection.json"
    done = json.loads(path.read_text()) if path.exists() else {}
    finished = (run_dir / "metrics.json").stat().st_mtime
    if done.get("finished") != finished:
        done = {"finished": finished, "valid": {str(trained["beam"]): trained["valid"]}, "test": trained["test"],
                "test_beam": trained["beam"]}
        if prediction is not None and prediction.exists() and prediction.stat().st_mtime >= finished:
            done["predictions_beam"] = trained["beam"]  # written from this run at its own beam
    for b in beams:
        if str(b) not in done["valid"]:
            done["valid"][str(b)] = task.evaluate(model, "valid", ks=(5,), batch_size=1024, device="cpu", beam=b)["ndcg@5"]
            atomic_write_text(path, json.dumps(done, indent=1))
    best = max(beams, key=lambda b: (done["valid"][str(b)], -b))  # ties: the narrower beam
    need_pred = prediction is not None and not (prediction.exists() and done.get("predictions_beam") == best)
    if done.get("test_beam") != best or need_pred:
        done["test"] = task.evaluate(model, "test", ks=(5,), batch_size=1024, device="cpu", beam=best,
                                     predictions=str(prediction) if prediction is not None else None)
        done["test_beam"] = best
        if prediction is not None:
            done["predictions_beam"] = best
        atomic_write_text(path, json.dumps(done, indent=1))
    return {"beam": best, "valid": done["valid"], "test": done["test"]}


def paired_differences(rows: list[dict], args) -> list[dict]:
    """`hgrec compare` of each --paired run against each --paired-against run of the same dataset and seed."""
    from hgrec.evaluation.compare import compare_predictions

    out = []
    for r, ref in ((r, ref) for ref in args.paired for r in rows):
        ref_model, ref_variant = ref.split(":")
        if r["truth"] != "effective" or f"{r['model']}:{r['variant']}" not in args.paired_against:
            continue
        a = args.predictions_dir / f"{r['dataset']}-{r['model']}-{r['variant']}-s{r['seed']}.parquet"
        b = args.predictions_dir / f"{r['dataset']}-{ref_model}-{ref_variant}-s{r['seed']}.parquet"
        if not (a.exists() and b.exists()):
            continue
        diffs, users = compare_predictions(a, b, ks=(5,), resamples=1000, seed=0)
        out.append({"dataset": r["dataset"], "seed": r["seed"], "run": ref, "against": f"{r['model']}:{r['variant']}",
                    "users": users, **{d.metric: {"diff": round(d.diff, 5), "ci_low": round(d.ci_low, 5),
                                                   "ci_high": round(d.ci_high, 5), "p": round(d.p_value, 4)}
                                       for d in diffs}})
        print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--datasets", nargs="*", default=["kuairand-pure", "ml-100k"])
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=40,
                    help="epoch cap, the same for every model (early stopping decides; a row at its cap is flagged)")
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--ablations", action="store_true")
    ap.add_argument("--ablation-seeds", nargs="*", type=int, help="seeds for the ablations (default: --seeds)")
    ap.add_argument("--ablation-datasets", nargs="*", help="datasets for the ablations (default: --datasets)")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/hgrec-slates"))
    ap.add_argument("--predictions-dir", type=Path)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--name", default="slate_quality", help="results file name (benchmarks/results/<name>.json)")
    ap.add_argument("--sid-sources", nargs="*", help="item-vector sources of the semantic IDs (default: the "
                    "tokenize config's), e.g. text collab")
    ap.add_argument("--sid-method", help="tokenizer of the semantic IDs (default crq_vae; random: the random-ID control)")
    ap.add_argument("--sid-checkpoint", help="with --sid-sources model: a trained run's best/ folder whose item table "
                    "the semantic IDs quantise (e.g. a SASRec of the same dataset and split); {dataset} is replaced")
    ap.add_argument("--sid-set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="other fields of the tokenize config, e.g. items.train_region=next_item (the codes of the "
                         "tables measured before the leak fix, for a reproduction)")
    ap.add_argument("--variant", default="default", help="label of the model runs in the results")
    ap.add_argument("--variants", nargs="*", default=[], choices=list(VARIANTS),
                    help="HiGR variants and controls (VARIANTS: hybrid context, collaborative / SASRec-table / "
                         "random SIDs, depth)")
    ap.add_argument("--variant-seeds", nargs="*", type=int, help="seeds of the --variants runs (default: --seeds)")
    ap.add_argument("--paired", nargs="*", default=[], metavar="MODEL:VARIANT",
                    help="with --predictions-dir: each of these runs minus each --paired-against run of the same "
                         "dataset and seed on the same test slates (hgrec compare: paired by user and request, "
                         "user-cluster bootstrap)")
    ap.add_argument("--paired-against", nargs="*", default=["sasrec:default", "tiger:default"])
    ap.add_argument("--table", type=int, choices=[2], help="2: HiGR's Table 2 (eight rows, both truth sets)")
    ap.add_argument("--orpo", action="store_true", help="also post-train each default HiGR run with ORPO")
    ap.add_argument("--beams", nargs="*", type=int, help="decode every semantic-ID model (TIGER, OneRec-style, HiGR) "
                    "with the beam among these that is best on validation NDCG@5; the row reports the test metrics "
                    "at that beam (B in `config.beam`, every beam's validation score in `config.beam_valid`)")
    ap.add_argument("--reuse", action="store_true", help="pick up finished runs with the same settings")
    ap.add_argument("--collect", action="store_true", help="train nothing: the results of the finished runs only")
    ap.add_argument("overrides", nargs="*", help="key.path=value applied to every model run of this --variant "
                    "(e.g. model.item_ids=true: HiGR's hybrid context)")
    args = ap.parse_args()
    if args.table == 2:
        args.orpo = True
        if args.models == MODELS:
            args.models = TABLE2
        if args.name == "slate_quality":
            args.name = "slate_table2"
    if args.orpo and "higr" in args.models and "higr_orpo" not in args.models:
        args.models = [*args.models, "higr_orpo"]
    overrides = parse_overrides(args.overrides)
    bench = Bench(args.name, out_dir=args.out_dir, results_dir=args.results, reuse=args.reuse, collect=args.collect,
                  ignore={"data": CTR_ONLY})
    rows, paired = bench.rows, []

    def add(dataset, model, variant, seed, metrics, timing, config):
        """Two rows per run (DESIGN §10): truth=effective (+ diversity, coverage) and truth=impressions."""
        for truth, prefix in (("effective", ""), ("impressions", "impressions/")):
            m = {k[len(prefix):]: v for k, v in metrics.items()
                 if (k.startswith(prefix) if prefix else "/" not in k)}
            if m:
                rows.append({"dataset": dataset, "model": model, "variant": variant, "seed": seed, "truth": truth,
                             "metrics": {k: round(float(v), 5) for k, v in m.items()},
                             "timing": {k: round(v, 2) for k, v in timing.items() if v == v},
                             "config": config})

    def save(done: bool) -> None:
        """Written after every run, so a killed benchmark keeps what it measured (marked partial)."""
        lines = [seed_table([r for r in rows if not r["variant"].startswith("slate_size_")], COLUMNS)]
        sweep = [r for r in rows if r["variant"].startswith("slate_size_") and r["truth"] == "effective"]
        if sweep:
            lines += ["", "Slate-length sweep (Figure 4; models trained with M=5, seed " + str(args.seeds[0])
                      + ", effective views):", "", "| dataset | model | L | hit@L | recall@L | NDCG@L | diversity@L |",
                      "|---|---|---|---|---|---|---|"]
            for r in sweep:
                L = r["config"]["slate_size"]
                lines.append(f"| {r['dataset']} | {r['model']} | {L} | " + " | ".join(
                    f"{r['metrics'].get(f'{k}@{L}', float('nan')):.4f}" for k in ("hit", "recall", "ndcg", "diversity"))
                    + " |")
        if done and sweep:
            plot_sweep(sweep, args.results / "slate_quality_sweep.png")
        beam = (f"B chosen on validation NDCG@5 among {args.beams} for the semantic-ID models (`config.beam`)"
                if args.beams else "B=5")
        notes = (f"Seeds {args.seeds}; M=5, {beam}; epoch cap {args.epochs}, early stopping on validation NDCG@5 "
                 "(patience in the configs). Effective views = hit/recall/NDCG; impressions = 'imp.'. "
                 "Published (HiGR Table 2, industrial data, 0.025B models): impressions hit@5 TIGER .1812, HSTU .2281, "
                 "OneRec .2438, HiGR w/o RL .2641; effective NDCG .0406/.0492/.0589/.0631.\n\n" + "\n".join(lines))
        if paired:
            def ci(p, m):
                return f"{p[m]['diff']:+.4f} [{p[m]['ci_low']:+.4f}, {p[m]['ci_high']:+.4f}]"

            notes += ("\n\nPaired differences, each --paired run minus each run it is compared with, same test slates "
                      "(`hgrec compare`: paired by user and request, user-cluster bootstrap, 1,000 draws, 95 % "
                      "interval), effective views:\n\n| dataset | seed | run | minus | NDCG@5 diff [95 % CI] | "
                      "hit@5 diff [95 % CI] |\n|---|---|---|---|---|---|\n"
                      + "\n".join(f"| {p['dataset']} | {p['seed']} | {p.get('run', args.paired[0])} | {p['against']} | "
                                   f"{ci(p, 'ndcg@5')} | {ci(p, 'hit@5')} |" for p in paired))
        bench.save(done, notes, extra={"paired": paired} if paired else None)

    sids = {}
    variant_sids = {}  # (dataset, variant) -> codes.parquet of that variant
    for dataset in args.datasets:
        sids[dataset] = semantic_ids(dataset, args.data, args.out_dir / "tokenize", args.sid_sources, args.sid_method,
                                     args.sid_checkpoint.format(dataset=dataset) if args.sid_checkpoint else None,
                                     parse_overrides(args.sid_set))
        # the popularity floor on the very same test slates
        cfg = load_config(ROOT / "configs" / "slates" / dataset / "higr.yaml", [f"data.root={args.data / dataset}",
                                                                     f"data.semantic_ids={sids[dataset]}"])
        task = make_task(cfg)
        tr = task.data.train.target
        top = np.argsort(-np.bincount(tr[tr > 0], minlength=task.data.num_items + 1), kind="stable")[:5]
        ss = task.data.test
        pop = slate_metrics(np.tile(top, (len(ss), 1)), ss.effective, ss.impressions, 5,
                            np.concatenate([[-1], task.codes[:, 0]]), task.data.num_items)
        add(dataset, "popularity", "default", 0, {k: pop[k] for k in KEYS}, {}, {"slate_size": 5})
        for name in args.variants:
            v = VARIANTS[name]
            if "sources" not in v and "method" not in v and "sid_set" not in v:
                variant_sids[dataset, name] = sids[dataset]
                continue
            ckpt = v.get("checkpoint", "").format(out=args.out_dir, dataset=dataset) or None
            if ckpt and not Path(ckpt).exists():
                print(f"not run yet: {ckpt} (variant {name} needs it)", flush=True)
                bench.missing.append(f"{dataset} {name}: {ckpt}")
                continue
            variant_sids[dataset, name] = semantic_ids(dataset, args.data, args.out_dir / "tokenize", v.get("sources"),
                                                       v.get("method"), ckpt, v.get("sid_set"))

    # Seed-major order, so that an interrupted benchmark still holds every model on every dataset for
    # the first seed: first seed's models, then the ablations (first seed unless --ablation-seeds), then the other seeds.
    first, rest = args.seeds[:1], args.seeds[1:]
    jobs = [spec_for(d, m, s, args, sids[d], overrides, args.variant) for s in first for d in args.datasets
            for m in args.models]
    if args.ablations:
        jobs += [spec_for(d, "higr", s, args, sids[d], over, name) for s in (args.ablation_seeds or args.seeds)
                 for d in (args.ablation_datasets or args.datasets) for name, over in ABLATIONS.items()]
    jobs += [spec_for(d, VARIANTS[name].get("model", "higr"), s, args, variant_sids[d, name],
                      {**VARIANTS[name].get("over", {}), **overrides}, name)
             for s in (args.variant_seeds or args.seeds) for d in args.datasets for name in args.variants
             if (d, name) in variant_sids]
    jobs += [spec_for(d, m, s, args, sids[d], overrides, args.variant) for s in rest for d in args.datasets
             for m in args.models]
    for spec in jobs:
        dataset, model, variant, seed = spec.dataset, spec.model, spec.variant, spec.seed
        run = bench.run(spec, align) if model == "higr_orpo" else bench.run(spec)
        if run.result is None:  # --collect and the run is not there
            continue
        cfg, result, test = run.cfg, run.result, run.result["test"]
        sweep = args.sweep and model in ("higr", "onerec") and variant == args.variant and seed == args.seeds[0]
        pred = args.predictions_dir / f"{cfg.trainer.run_name}.parquet" if args.predictions_dir else None
        finished = (run.dir / "metrics.json").stat().st_mtime
        stale = pred is not None and not (pred.exists() and pred.stat().st_mtime >= finished)
        beams = args.beams if args.beams and model in SID_MODELS else None
        if stale or sweep or beams:  # the best validation weights, as the trainer tested them
            _, task, model_obj = load_for_eval(run.dir / "best")
        chosen = beam_selection(run.dir, task, model_obj, beams, pred,
                                {"beam": cfg.data.beam, "valid": result["valid"]["ndcg@5"], "test": test}) if beams else None
        if chosen:
            test = chosen["test"]
        elif stale:  # else: this very run's predictions file is there already
            task.evaluate(model_obj, "test", ks=(5,), batch_size=1024, device="cpu", predictions=str(pred))
        metrics = {k: test[k] for k in KEYS if k in test}
        timing = {"train_s": run.seconds, "train_samples_per_s": result.get("train_samples_per_s") or float("nan"),
                  "eval_slates_per_s": test.get("slates_per_s", float("nan"))}
        config = {"model": cfg.to_dict()["model"], "epochs_cap": cfg.trainer.epochs, "best_epoch": result.get("best_epoch"),
                  "epochs": result.get("epochs"), "valid_ndcg@5": (result.get("valid") or {}).get("ndcg@5"),
                  "train_samples": cfg.data.train_samples, "split": cfg.data.split, "beam": cfg.data.beam,
                  "lr": cfg.trainer.lr, "reused": run.reused}
        if chosen:
            config |= {"beam": chosen["beam"], "valid_ndcg@5": chosen["valid"][str(chosen["beam"])],
                       "beam_valid": chosen["valid"], "trained_valid_ndcg@5": config["valid_ndcg@5"]}
        if model == "higr_orpo":
            config["alignment"] = {k: v for k, v in cfg.to_dict()["alignment"].items() if k != "init"}
        add(dataset, model, variant, seed, metrics, timing, config)
        print(dataset, model, variant, seed, {k: round(test[k], 4) for k in KEYS[:3]}, f"{run.seconds:.0f}s",
              flush=True)
        if sweep:
            for L in SWEEP:
                m = task.evaluate(model_obj, "test", ks=(L,), batch_size=1024, device="cpu", slate_size=L)
                add(dataset, model, f"slate_size_{L}", seed, {k: v for k, v in m.items() if f"@{L}" in k}, {},
                    {"slate_size": L})
                print("  L =", L, round(m[f"ndcg@{L}"], 4), flush=True)
        save(done=False)
    if args.paired and args.predictions_dir:
        paired += paired_differences(rows, args)
    save(done=True)


if __name__ == "__main__":
    main()
