"""Model-size scaling (HiGR Table 2's 0.025B vs 0.1B rows): HiGR and OneRec-style at several widths.

    python benchmarks/slate_scaling.py [--dataset kuairand-pure] [--models higr onerec] [--widths 32 64 128]
                                       [--seeds 0] [--epochs 40] [--reuse]

Each size is the slate config (configs/slates/<dataset>/<model>.yaml: same depth for every size —
HiGR 2 context + 4 planner + 2 generator layers, OneRec-style 2 context + 6 decoder layers) with
d_model = width and d_ff = 4 * width, trained by the same Trainer with the same epoch cap, early stopping,
learning rate and batch size as every other size (one budget, no per-size tuning); tested with GSBI /
beam search (M=5, B=5) on the test slates. Reported per run: the parameter count, GFLOPs per slate of
inference (torch.utils.flop_counter on 8 test users), test hit/recall/NDCG@5 against the effective views
and the impressions, training seconds. The width of the config itself runs as variant `default`, so
`--reuse` picks up the Table 2 runs (benchmarks/slate_quality.py, same --out-dir) instead of training
them again. Writes benchmarks/results/slate_scaling.{json,md} after every run and slate_scaling.png
(NDCG@5 against parameters) at the end.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from hgrec.benchmarking import Bench, RunSpec, seed_table, tokenized
from hgrec.data.batch import context_batch
from hgrec.decoding.slates import slate_generator
from hgrec.pipelines import load_config, load_for_eval

ROOT = Path(__file__).resolve().parents[1]

KEYS = ["hit@5", "recall@5", "ndcg@5", "impressions/hit@5", "impressions/recall@5", "impressions/ndcg@5"]


def flops_per_slate(run_dir: Path, users: int = 8) -> float:
    """Inference FLOPs of one slate (GSBI / beam search, M=5, the config's beam) of the run's best model."""
    cfg, task, model = load_for_eval(run_dir / "best")
    model.eval().requires_grad_(False)  # inference only (what the FLOP counter's module tracker expects)
    ss = task.data.test
    batch = context_batch(ss.history[:users], ss.history_ts[:users], task.data.user_features[ss.users[:users]])
    gen = slate_generator(model, task.trie, cfg.data.slate_size, cfg.data.beam, cfg.data.mask_history)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        gen(batch)
    return fc.get_total_flops() / users


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for model in sorted({r["model"] for r in rows}):
        pts: dict[int, list[float]] = {}
        for r in rows:
            if r["model"] == model and r["truth"] == "effective":
                pts.setdefault(r["config"]["params"], []).append(r["metrics"]["ndcg@5"])
        xs = sorted(pts)
        ax.errorbar(xs, [statistics.mean(pts[x]) for x in xs],
                    yerr=[statistics.stdev(pts[x]) if len(pts[x]) > 1 else 0 for x in xs], marker="o", label=model)
    ax.set(xscale="log", xlabel="parameters (millions)", ylabel="test NDCG@5 (effective views)", title=rows[0]["dataset"])
    # label only the measured sizes: log-axis minor labels overlap at this width
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(sorted({r["config"]["params"] for r in rows})))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1e6:.2g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)  # atomic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--dataset", default="kuairand-pure")
    ap.add_argument("--models", nargs="*", default=["higr", "onerec"], choices=["higr", "onerec", "tiger"])
    ap.add_argument("--widths", nargs="*", type=int, default=[32, 64, 128])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--epochs", type=int, default=40, help="epoch cap, the same for every size (early stopping "
                    "decides; a row whose best epoch is its cap is flagged by the report)")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/hgrec-slates"))
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--reuse", action="store_true", help="pick up finished runs with the same settings")
    ap.add_argument("--collect", action="store_true", help="train nothing: the results of the finished runs only")
    args = ap.parse_args()
    sids = tokenized(ROOT / "configs" / args.dataset / "crq_vae.yaml", args.dataset, args.data / args.dataset,
                     args.out_dir / "tokenize")
    bench = Bench("slate_scaling", out_dir=args.out_dir, results_dir=args.results, reuse=args.reuse,
                  collect=args.collect, ignore={"data": {"label", "session_gap_min"}})
    rows = bench.rows
    eff, imp = {"truth": "effective"}, {"truth": "impressions"}

    def notes() -> str:
        return (f"{args.dataset}, seeds {args.seeds}, epoch cap {args.epochs}, M=5, B=5; depth fixed per model "
                "(HiGR 2+4+2 layers, OneRec-style 2+6), d_ff = 4 d. HiGR Table 2 (industrial data): HiGR w/o RL "
                "0.1B over 0.025B: impressions hit@5 .2994 vs .2641, effective NDCG .0753 vs .0631.\n\n"
                + seed_table(rows, [("parameters", "params", eff), ("GFLOPs/slate", "gflops_per_slate", eff),
                                    ("NDCG@5", "ndcg@5", eff), ("imp. hit@5", "hit@5", imp)], ("model", "variant")))
    for seed in args.seeds:
        for width in args.widths:
            for model in args.models:
                probe = load_config(ROOT / "configs" / "slates" / args.dataset / f"{model}.yaml")
                variant = "default" if probe.model.d_model == width else f"d{width}"
                over = {} if variant == "default" else {"model.d_model": width, "model.d_ff": 4 * width}
                run = bench.run(RunSpec(ROOT / "configs" / "slates" / args.dataset / f"{model}.yaml", args.dataset,
                                        model, variant, seed, {"data.root": str(args.data / args.dataset),
                                                               "data.semantic_ids": sids,
                                                               "trainer.epochs": args.epochs, **over}))
                if run.result is None:  # --collect and the run is not there
                    continue
                cfg, result, seconds, reused, run_dir = run.cfg, run.result, run.seconds, run.reused, run.dir
                test, params = result["test"], int(result["params"])
                gflops = flops_per_slate(run_dir) / 1e9
                config = {"width": width, "d_ff": 4 * width, "params": params, "epochs_cap": args.epochs,
                          "best_epoch": result.get("best_epoch"), "epochs": result.get("epochs"), "reused": reused,
                          "model": cfg.to_dict()["model"]}
                for truth, prefix in (("effective", ""), ("impressions", "impressions/")):
                    rows.append({"dataset": args.dataset, "model": model, "variant": f"d{width}", "seed": seed,
                                 "truth": truth, "config": config,
                                 "metrics": {k[len(prefix):]: round(float(test[k]), 5) for k in KEYS
                                             if k in test and (k.startswith(prefix) if prefix else "/" not in k)}
                                 | {"params": params, "gflops_per_slate": round(gflops, 4)},
                                 "timing": {"train_s": round(seconds, 1)}})
                print(model, width, params, f"{gflops:.3f} GFLOPs", {k: round(test[k], 4) for k in KEYS}, flush=True)
                bench.save(done=False, notes=notes())
    bench.save(done=True, notes=notes())
    if rows:
        plot(rows, args.results / "slate_scaling.png")


if __name__ == "__main__":
    main()
