"""HiGR Table 4 on public data: preference post-training (DPO, SimPO, ORPO) against the pre-trained HiGR.

    python benchmarks/alignment.py [--dataset kuairand-pure] [--seeds 0 1 2] [--methods no_rl sft dpo simpo orpo]
                                   [--ablation] [--init 'runs/align-bench/{dataset}-higr-s{seed}/best']
                                   [--set key=value ...] [--pretrain-set key=value ...] [--results DIR]

Per seed s: the pre-trained HiGR `--init` (made with configs/slates/<dataset>/higr.yaml and seed s when
the folder does not exist yet; `{seed}` / `{dataset}` in the path are filled in) is the "w/o RL" row;
every method post-trains it with configs/align/<dataset>/<method>.yaml (`hgrec align`: same Trainer,
early stopping on validation NDCG@5, seed s for the pairs, batches and dropout). `sft` is our
control, not the paper's: ORPO with alpha = 0, i.e. the same extra epochs of NLL on the re-ranked
y+ without any negative — what is left of a method's gain after subtracting it is the preference
term's. `--ablation` adds ORPO with one kind of negative at a time (ranking / interest / repetition).

Each row is evaluated on the test slates (GSBI, M=5, B=5) of the best validation checkpoint:
hit@5 / recall@5 / NDCG@5 against effective views and against impressions (one row per truth
set), intra-slate diversity (distinct first-level codes / 5), coverage, and two in-slate ranking
measures against the logged watch ratio of the effective items (capped at 2): `order_ndcg@5`
(DCG of the slate's order / DCG of the same items sorted by watch ratio, over slates with a hit)
and `graded_ndcg@5` (the slate against the truth items sorted by watch ratio); and
`pref_acc[_<kind>]`, the share of *test* preference pairs with log pi(y+) > log pi(y-).
Cost per run: training seconds, ms per step, peak memory of the training steps only (CUDA:
torch.cuda.max_memory_allocated; CPU: the process's peak RSS, VmHWM reset before each step through
/proc/self/clear_refs — tracemalloc does not see torch's allocations), and the number of reference
forward passes (DPO: one per step; ORPO and SimPO: 0). Every run is a fresh subprocess, so one run's
memory never counts against the next. Writes benchmarks/results/alignment.{json,md} after every run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hgrec.benchmarking import Bench, seed_table

ROOT = Path(__file__).resolve().parents[1]

METHODS = ["no_rl", "sft", "dpo", "simpo", "orpo"]
VARIANTS = {  # variant -> (align config, overrides)
    "sft": ("orpo", ["alignment.alpha=0.0"]),
    "dpo": ("dpo", []),
    "simpo": ("simpo", []),
    "orpo": ("orpo", []),
}
ABLATION = {f"orpo_{k}_only": ("orpo", [f"alignment.negatives.{o}={1.0 if o == k else 0.0}"
                                        for o in ("ranking", "interest", "repetition")])
            for k in ("ranking", "interest", "repetition")}
EFFECTIVE = ["hit@5", "recall@5", "ndcg@5", "diversity@5", "coverage@5", "order_ndcg@5", "graded_ndcg@5",
             "pref_acc", "pref_acc_ranking", "pref_acc_interest", "pref_acc_repetition"]
PAPER = ("Published (HiGR Table 4, industrial data): impressions hit@5 / recall@5, effective hit@5 / recall@5, "
         "NDCG: w/o RL .2994/.0721/.2012/.0465/.0753; DPO .3055/.0732/.2069/.0477/.0780; "
         "SimPO .3090/.0740/.2085/.0480/.0766; ORPO .3163/.0760/.2145/.0495/.0831.")


# ---------------------------------------------------------------------------------------------
# Inside one job's process


class StepMemory:
    """Trainer callback: peak memory of the training steps alone. Before each step the peak is reset,
    after it the peak is read; intervals that also hold a validation (an epoch's first step) or the
    start-up are skipped."""

    def __init__(self, device: str):
        self.cuda = device == "cuda"
        self.peak_mb = 0.0  # absolute: everything allocated at the step's peak
        self.extra_mb = 0.0  # the step's own: peak minus what was allocated before it
        self.base_mb = self._reset()

    @staticmethod
    def _status_mb(field: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def _reset(self) -> float:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            return torch.cuda.memory_allocated() / 2**20
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        return self._status_mb("VmRSS")

    def _peak(self) -> float:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        return self._status_mb("VmHWM")

    def __call__(self, trainer) -> None:
        peak = self._peak()
        if trainer.state.step_in_epoch >= 2:
            self.peak_mb = max(self.peak_mb, peak)
            self.extra_mb = max(self.extra_mb, peak - self.base_mb)
        self.base_mb = self._reset()


def _gains(ds):
    """Per-interaction graded relevance for the in-slate ranking measures (hgrec.data.feedback.graded_gains)."""
    from hgrec.data.feedback import Feedback, graded_gains

    g = graded_gains(ds)
    return Feedback(g, np.zeros(len(g), dtype=bool), "gain")


def in_slate_ndcg(slates: np.ndarray, truth: np.ndarray, gains: np.ndarray, k: int = 5) -> tuple[float, float, int]:
    """(order_ndcg, graded_ndcg, slates with a gain) of (N, K) slates against (N, T) truth items with gains."""
    s = slates[:, :k]
    eq = (s[:, :, None] == truth[:, None, :]) & (truth > 0)[:, None, :]
    g = np.where(eq, gains[:, None, :], 0.0).max(-1)  # (N, K) gain of each slate position
    disc = 1.0 / np.log2(np.arange(k) + 2)
    dcg = (g * disc).sum(1)
    ideal_own = (-np.sort(-g, 1) * disc).sum(1)
    tg = -np.sort(-np.where(truth > 0, gains, 0.0), 1)[:, :k]
    ideal_truth = (tg * disc[:tg.shape[1]]).sum(1)
    own, tru = ideal_own > 0, ideal_truth > 0
    order = float((dcg[own] / ideal_own[own]).mean()) if own.any() else 0.0
    graded = float((dcg[tru] / ideal_truth[tru]).mean()) if tru.any() else 0.0
    return order, graded, int(own.sum())


def _context(task, ss, rows, device="cpu"):
    from hgrec.data.batch import context_batch

    return context_batch(ss.history[rows], ss.history_ts[rows], task.data.user_features[ss.users[rows]], device)


def pair_accuracy(model, task, ss, batch_size: int, device: str) -> dict[str, float]:
    """Share of test preference pairs (all three kinds, 1:1:1) where log pi(y+) > log pi(y-)."""
    import torch

    from hgrec.alignment.pairs import KINDS, preference_pairs

    train = task.data.train.effective
    popularity = np.bincount(train[train > 0], minlength=task.data.num_items + 1)  # fallback draws: training popularity
    p = preference_pairs(task.ds, ss, task.codes, {k: 1.0 for k in KINDS}, seed=12345, popularity=popularity)
    correct = np.zeros(len(p), dtype=bool)
    model.eval()
    with torch.no_grad():
        for lo in range(0, len(p), batch_size):
            idx = np.arange(lo, min(lo + batch_size, len(p)))
            slates = torch.from_numpy(np.stack([p.chosen[idx], p.rejected[idx]], 1)).to(device)
            lp = model.slate_logprobs(_context(task, ss, p.sample[idx], device), slates).sum((-1, -2))  # (b, 2)
            correct[idx] = (lp[:, 0] > lp[:, 1]).cpu().numpy()
    out = {"pref_acc": float(correct.mean())}
    for i, k in enumerate(KINDS):
        if (p.kind == i).any():
            out[f"pref_acc_{k}"] = float(correct[p.kind == i].mean())
    return out


def evaluate(path: Path, root, device: str) -> dict[str, float]:
    import torch

    from hgrec.alignment.pairs import target_windows
    from hgrec.decoding.slates import slate_generator
    from hgrec.pipelines.load import load_for_eval
    from hgrec.evaluation.slates import evaluate_slates

    cfg, task, model = load_for_eval(path, root=root)
    model.to(device)
    ss = task.data.test
    gen = slate_generator(model, task.trie, 5, cfg.data.beam, cfg.data.mask_history)
    with torch.no_grad():
        metrics, slates = evaluate_slates(gen, ss, k=5, batch_size=cfg.trainer.eval_batch_size, device=device,
                                          first_codes=np.concatenate([[-1], task.codes[:, 0]]),
                                          num_items=task.data.num_items, user_features=task.data.user_features)
    gains = target_windows(task.ds, _gains(task.ds), ss.users, ss.cut, ss.effective).strength
    metrics["order_ndcg@5"], metrics["graded_ndcg@5"], metrics["order_samples"] = in_slate_ndcg(
        slates, ss.effective, gains)
    metrics |= pair_accuracy(model, task, ss, cfg.trainer.eval_batch_size, device)
    return metrics


def run_job(job: dict) -> dict:
    """One pre-training, one evaluation of the pre-trained model, or one post-training + evaluation."""
    from hgrec.pipelines import resolve_device
    from hgrec.training.config import load_config

    if job["kind"] == "pretrain":
        from hgrec.pipelines import train

        train(load_config(job["config"], job["overrides"]))
        return {}
    device = resolve_device(job.get("device", "auto"))
    if job["kind"] == "evaluate":
        return {"metrics": evaluate(Path(job["init"]), job["root"], device), "timing": {}}
    from hgrec.pipelines import align
    from hgrec.training import checkpoint as ckpt

    cfg = load_config(job["config"], job["overrides"])
    memory = StepMemory(resolve_device(cfg.trainer.device))
    t0 = time.perf_counter()
    result = align(cfg, callbacks=[memory])
    wall = time.perf_counter() - t0
    run = Path(cfg.trainer.out_dir) / cfg.trainer.run_name
    steps_saved = ckpt.step_dirs(run)
    if not (run / "best").exists() and not steps_saved:
        raise RuntimeError(f"{run}: no checkpoint to evaluate (a run cut by max_steps needs trainer.save_every_steps)")
    best = run / "best" if (run / "best").exists() else steps_saved[-1]
    a = result["alignment"]
    steps = result["steps"]
    timing = {"train_s": result["train_seconds"], "step_ms": 1000 * result["train_seconds"] / max(steps, 1),
              "wall_s": wall, "steps": steps, "reference_forwards": a["reference_forwards"],
              "policy_forwards": a["policy_forwards"]}
    key = "gpu_peak_mb" if memory.cuda else "peak_rss_mb"
    timing[key], timing["step_mem_mb"] = memory.peak_mb, memory.extra_mb
    config = {"method": a["method"], **{k: v for k, v in cfg.to_dict()["alignment"].items() if k != "init"},
              "init": job["init"], "pairs": a["pairs"], "kinds": a["kinds"],
              "interest_fallback_items": a["interest_fallback_items"], "best_epoch": result["best_epoch"],
              "epochs_cap": cfg.trainer.epochs, "lr": cfg.trainer.lr, "batch_size": cfg.trainer.batch_size}
    return {"metrics": evaluate(best, job["root"], device), "timing": timing, "config": config}


# ---------------------------------------------------------------------------------------------
# The driver


def _subprocess(job: dict) -> dict:
    r = subprocess.run([sys.executable, __file__, "--job", json.dumps(job)], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"job {job['kind']} {job.get('variant', '')} failed:\n{r.stderr[-4000:]}")
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _semantic_ids(args, init: Path, configs: Path) -> str:
    """--semantic-ids, else the init checkpoint's, else the align config's (if made), else made here."""
    if args.semantic_ids:
        return args.semantic_ids
    if (init / "config.json").exists():
        return json.loads((init / "config.json").read_text())["run_config"]["data"]["semantic_ids"]
    import yaml

    shipped = (yaml.safe_load((configs / "orpo.yaml").read_text()).get("data") or {}).get("semantic_ids")
    if shipped and Path(shipped).exists():
        return shipped
    path = args.out_dir / "tokenize" / f"{args.dataset}-crq_vae-s0" / "codes.parquet"
    if not path.exists():
        from hgrec.pipelines.tokenize import load_tokenize_config, tokenize

        over = [f"out_dir={args.out_dir / 'tokenize'}"] + ([f"data.root={args.data / args.dataset}"]
                                                         if args.dataset != "sample" else [])
        tokenize(load_tokenize_config(ROOT / "configs" / args.dataset / "crq_vae.yaml", over), log=lambda s: None)
    return str(path)


def _previous_runs(path: Path, dataset: str) -> dict[tuple[str, int], dict]:
    """(variant, seed) -> the job output that made the rows of an earlier results file (`--reuse`)."""
    if not path.exists():
        return {}
    out: dict[tuple[str, int], dict] = {}
    for r in json.loads(path.read_text())["rows"]:
        if r["dataset"] != dataset:
            continue
        o = out.setdefault((r["variant"], r["seed"]), {"metrics": {}, "timing": r.get("timing", {}),
                                                        "config": r.get("config", {})})
        prefix = "" if r["truth"] == "effective" else "impressions/"
        o["metrics"].update({prefix + k: v for k, v in r["metrics"].items()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--job", help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--dataset", default="kuairand-pure")
    ap.add_argument("--configs", default=None, help="folder of the align configs (default configs/align/<dataset>)")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--methods", nargs="*", default=METHODS, choices=METHODS)
    ap.add_argument("--ablation", action="store_true", help="ORPO with one kind of negative at a time")
    ap.add_argument("--init", default="runs/align-bench/{dataset}-higr-s{seed}/best",
                    help="pre-trained HiGR per seed ({seed}, {dataset} filled in); trained when missing")
    ap.add_argument("--semantic-ids", default=None, help="codes.parquet (default: the init's, else made)")
    ap.add_argument("--set", nargs="*", default=[], dest="overrides", help="key=value for every post-training run")
    ap.add_argument("--pretrain-set", nargs="*", default=[], help="key=value for the pre-training runs")
    ap.add_argument("--pretrain-config", default=None, help="default configs/slates/<dataset>/higr.yaml")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/hgrec-align"))
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the (variant, seed) runs already in the results file for this dataset; run the rest")
    args = ap.parse_args()
    if args.job:
        print("RESULT " + json.dumps(run_job(json.loads(args.job))), flush=True)
        return

    configs = Path(args.configs) if args.configs else ROOT / "configs" / "align" / args.dataset
    root = None if args.dataset == "sample" else str(args.data / args.dataset)
    variants = {m: VARIANTS[m] for m in args.methods if m != "no_rl"} | (ABLATION if args.ablation else {})
    bench = Bench("alignment", out_dir=args.out_dir, results_dir=args.results)
    rows = bench.rows

    def add(variant, seed, out):
        m, timing = out["metrics"], out.get("timing", {})
        for truth, prefix in (("effective", ""), ("impressions", "impressions/")):
            keys = EFFECTIVE if truth == "effective" else ["hit@5", "recall@5", "ndcg@5"]
            metrics = {k: round(float(m[prefix + k]), 5) for k in keys
                       if prefix + k in m and np.isfinite(m[prefix + k])}
            rows.append({"dataset": args.dataset, "model": "higr", "variant": variant, "seed": seed, "truth": truth,
                         "metrics": metrics,
                         "timing": {k: round(float(v), 3) for k, v in timing.items() if np.isfinite(v)},
                         "config": out.get("config", {})})

    imp, eff = {"truth": "impressions"}, {"truth": "effective"}
    columns = [("imp. hit@5", "hit@5", imp), ("imp. recall@5", "recall@5", imp), ("hit@5", "hit@5", eff),
               ("recall@5", "recall@5", eff), ("NDCG@5", "ndcg@5", eff), ("diversity@5", "diversity@5", eff),
               ("order NDCG@5", "order_ndcg@5", eff), ("pref. acc.", "pref_acc", eff),
               ("train s", "timing:train_s", eff, ".1f"), ("ms/step", "timing:step_ms", eff, ".0f"),
               ("peak MB", "timing:gpu_peak_mb", eff, ".0f"), ("peak RSS MB", "timing:peak_rss_mb", eff, ".0f"),
               ("ref. fwd", "timing:reference_forwards", eff, ".0f")]

    def save(done: bool) -> None:
        """Written after every run (a killed benchmark keeps what it measured); the table from the rows alone."""
        notes = (f"{args.dataset}, seeds {args.seeds}, mean ± std over seeds; M=5, B=5; test slates of the best "
                 "validation checkpoint. Effective views = hit/recall/NDCG; impressions = 'imp.'. sft = ORPO with "
                 "alpha=0 (our control: the same extra training on y+ without negatives). order NDCG = the slate's "
                 "own order against the logged watch ratio; pref. acc. = share of test pairs with log pi(y+) > log "
                 "pi(y-). Memory: peak of the training steps (CPU: process RSS; CUDA: allocated). " + PAPER + "\n\n"
                 + seed_table(rows, [c for c in columns if any(c[1].split(":")[-1] in r["timing" if ":" in c[1] else
                                                                                         "metrics"] for r in rows)],
                              group=("variant",)))
        bench.save(done, notes)

    done_before = _previous_runs(args.results / "alignment.json", args.dataset) if args.reuse else {}

    def reuse(variant, seed) -> bool:
        if (variant, seed) not in done_before:
            return False
        add(variant, seed, done_before[variant, seed])
        print(seed, variant, "reused from", args.results / "alignment.json", flush=True)
        return True

    for seed in args.seeds:
        if all((v, seed) in done_before for v in ["no_rl", *variants] if v != "no_rl" or "no_rl" in args.methods):
            for v in ["no_rl", *variants]:
                if v != "no_rl" or "no_rl" in args.methods:
                    reuse(v, seed)
            continue
        init = Path(args.init.format(seed=seed, dataset=args.dataset))
        sids = _semantic_ids(args, init, configs)
        if not (init / "config.json").exists():
            base = [f"data.semantic_ids={sids}", f"trainer.seed={seed}", f"trainer.out_dir={init.parent.parent}",
                    f"trainer.run_name={init.parent.name}", "trainer.overwrite=true", "trainer.progress=false",
                    "trainer.tensorboard=false"] + ([f"data.root={root}"] if root else [])
            print(f"pre-training HiGR, seed {seed} -> {init}", flush=True)
            pre = args.pretrain_config or str(ROOT / "configs" / "slates" / args.dataset / "higr.yaml")
            _subprocess({"kind": "pretrain", "config": pre, "overrides": base + args.pretrain_set})
            if not (init / "config.json").exists():  # no validation ran (a smoke run): the last step
                from hgrec.training import checkpoint as ckpt

                init = ckpt.step_dirs(init.parent)[-1]
        # the post-training runs describe the pre-trained model: copy its model section
        meta = json.loads((init / "config.json").read_text())["run_config"]
        model_over = [f"model.{k}={json.dumps(v)}" for k, v in meta["model"].items() if k not in ("name", "dropout")]
        if "no_rl" in args.methods and not reuse("no_rl", seed):
            out = _subprocess({"kind": "evaluate", "init": str(init), "root": root})
            add("no_rl", seed, out)
            print(seed, "no_rl", {k: round(out["metrics"][k], 4) for k in ("ndcg@5", "order_ndcg@5", "pref_acc")},
                  flush=True)
            save(done=False)
        for variant, (method, over) in variants.items():
            if reuse(variant, seed):
                continue
            overrides = [f"data.semantic_ids={sids}", f"alignment.init={init}", f"trainer.seed={seed}",
                         f"trainer.out_dir={args.out_dir / 'runs'}",
                         f"trainer.run_name={args.dataset}-{variant}-s{seed}",
                         "trainer.overwrite=true", "trainer.progress=false", "trainer.tensorboard=false",
                         *([f"data.root={root}"] if root else []), *model_over, *over, *args.overrides]
            out = _subprocess({"kind": "align", "variant": variant, "config": str(configs / f"{method}.yaml"),
                               "overrides": overrides, "init": str(init), "root": root})
            add(variant, seed, out)
            t = out["timing"]
            print(seed, variant, {k: round(out["metrics"][k], 4) for k in ("ndcg@5", "order_ndcg@5", "pref_acc")},
                  f"{t['train_s']:.0f}s train, {t['step_ms']:.0f} ms/step, ref fwd {t['reference_forwards']}",
                  flush=True)
            save(done=False)
    save(done=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
