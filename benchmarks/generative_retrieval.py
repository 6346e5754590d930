"""Generative retrieval on the Amazon TIGER split: TIGER, HiGR's item generator and OneRec-style decoding.

    python benchmarks/generative_retrieval.py --datasets amazon-beauty --models tiger higr higr_next5 onerec \
        --seeds 0 1 2 --paired tiger --predictions-dir /tmp/gr-pred
    python benchmarks/generative_retrieval.py --datasets amazon-beauty --models tiger \
        --tokenizers crq_vae rq_vae collab text+collab random --name generative_retrieval_tokenizers

Protocol: `sequential_reproduction.py`'s split, histories (50) and masking (`data.protocol=next_item` of a
semantic-ID model: hgrec.pipelines.tasks.RetrievalTask): leave-one-out, test = last item, validation = the
one before. A model ranks the whole catalogue by one trie-constrained beam search of width 20
(`hgrec.decoding.retrieval`); items outside the beam rank below it, so Recall/NDCG@5,10 are exact for the
beams. Models (configs/<dataset>/): `tiger` (encoder-decoder at the TIGER paper's size), `higr` (HiGR's
context encoder, one planner step and the shared item generator: slate HiGR with M = 1), `higr_next5`
(the same model trained on the next 5 items as its slate, scored on the next one), `onerec` (the flat
decoder over one item's codes). The SASRec-CE row is read from sequential_reproduction.json (not retrained).

`--tokenizers` runs the first of `--models` once per tokenizer on the same decoder: crq_vae / rq_vae (item
text), collab (PPMI-SVD co-occurrence vectors of the training part only), text+collab, random (the control),
short_text (CRQ-VAE on the first 6 words of each item's text only: what a short derived text costs);
collision, concentration and consistency of each codes file go beside its row. Every run writes its test
predictions (DESIGN §8) to --predictions-dir; `--paired tiger` adds each row's paired difference from TIGER
(same dataset, seed and users; `hgrec compare`). Overrides (`model.context_layers=2 ...`) apply to every run;
`--note` says in the results why (e.g. a size cut to fit this CPU). `--models tiger higr:hybrid` gives a model its own
variants; `--paired tiger --paired-variant collab` pairs every row with TIGER on the collaborative codes.
`--orders file sorted` adds the item-order control: the same runs on a copy of the dataset with each user's items
sorted by ASIN (IDGenRec's Toys order; `sequential_reproduction.sorted_copy`), codes made on that copy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hgrec.benchmarking import Bench, RunSpec, parse_overrides, seed_table, tokenized
from sequential_reproduction import order_agreement, predictions_of, sorted_copy

ROOT = Path(__file__).resolve().parents[1]
ANCHORS = {  # R@5, N@5, R@10, N@10 (../shared/ANCHORS.md)
    ("amazon-beauty", "tiger"): (0.0454, 0.0321, 0.0648, 0.0384),
    ("amazon-toys", "tiger"): (0.0521, 0.0371, 0.0712, 0.0432),
    ("amazon-beauty", "rpg"): (0.0550, 0.0381, 0.0809, 0.0464),
    ("amazon-toys", "rpg"): (0.0592, 0.0401, 0.0869, 0.0490),
}
METRICS = ("recall@5", "ndcg@5", "recall@10", "ndcg@10")
# --size cpu: what fits about an hour per run on a 2-core CPU (the configs hold the TIGER paper's size:
# d_model 128, 6 heads of 64, FFN 1024, 4 + 4 layers). The same cut for every model: d_model 64, 4 heads of
# 16, FFN 256, 2 context layers and 2 decoder layers (HiGR: l_slate 1 + l_item 1).
CPU = {"model.d_model": 64, "model.n_heads": 4, "model.head_dim": None, "model.d_ff": 256, "model.context_layers": 2}
SIZES = {"paper": {}, "cpu": {"tiger": CPU | {"model.decoder_layers": 2}, "onerec": CPU | {"model.decoder_layers": 2},
                              "higr": CPU | {"model.slate_layers": 1, "model.item_layers": 1},
                              "higr_next5": CPU | {"model.slate_layers": 1, "model.item_layers": 1}}}
# --variants: model changes beside the tokenizer, one row each (`default` = the config as it is)
VARIANTS = {"default": {}, "hybrid": {"model.item_ids": True}}  # hybrid: + an item-ID embedding in the context
TOKENIZERS = {  # label -> tokenized() arguments (configs/<dataset>/crq_vae.yaml with these changes)
    "crq_vae": {}, "rq_vae": {"method": "rq_vae"}, "random": {"method": "random"},
    "collab": {"sources": ["collab"]}, "text+collab": {"sources": ["text", "collab"]},
    # the short-text control: only the first 6 words of each item's text (Beauty / Toys carry ~5-6 derived words;
    # on Scientific's real text this measures what such a short text costs)
    "short_text": {"overrides": {"items.text_words": 6}},
}


def codes_for(dataset: str, tokenizer: str, args, root: Path | None = None, order: str = "file") -> tuple[str, dict]:
    """The codes.parquet of a tokenizer on a dataset (made once, shared; `order` sorted: on the sorted copy at
    `root`, whose training part differs) and its quality figures."""
    if tokenizer not in TOKENIZERS:
        raise SystemExit(f"--tokenizers: unknown {tokenizer!r}; known: {', '.join(TOKENIZERS)}")
    path = tokenized(ROOT / "configs" / dataset / "crq_vae.yaml", dataset, root or args.data / dataset,
                     args.out_dir / ("tokenize" if order == "file" else f"tokenize-{order}"), **TOKENIZERS[tokenizer])
    quality = json.loads((Path(path).parent / "metrics.json").read_text())
    return path, {k: round(quality[k], 4) for k in ("collision", "concentration", "consistency") if k in quality}


REFERENCES = ("sequential_reproduction.json", "sequential_reproduction_scientific.json")


def reference_rows(datasets: list[str]) -> list[dict]:
    """SASRec-CE from sequential_reproduction.py's results (Beauty/Toys; Scientific in its own file), as measured
    there (not retrained)."""
    out = []
    for name in REFERENCES:
        path = ROOT / "benchmarks" / "results" / name
        out += _reference_rows(path, datasets) if path.exists() else []
    return out


def _reference_rows(path: Path, datasets: list[str]) -> list[dict]:
    out = []
    for r in json.loads(path.read_text())["rows"]:
        if r["dataset"] in datasets and r["model"] == "sasrec" and r["config"].get("selected", True):
            out.append({"dataset": r["dataset"], "model": "sasrec", "variant": "ce (reference, not retrained)",
                        "seed": r["seed"], "metrics": {k: r["metrics"][k] for k in METRICS},
                        "timing": {k: r["timing"][k] for k in ("train_s", "train_samples_per_s", "eval_users_per_s",
                                                               "epochs", "best_epoch")},
                        "config": {"params": r["config"].get("params"), "source": path.name}})
    return out


def add_paired(rows: list[dict], ref: str, pred_of: dict, ref_variant: str = "crq_vae") -> None:
    """diff_* = this row minus the `ref` model's `ref_variant` row, same dataset and seed, paired by user (a row of
    the sorted copy, `sorted ...`, against the reference's row on that copy: the test items differ between orders)."""
    from hgrec.evaluation.compare import compare_predictions

    def order(r):
        return "sorted" if r["variant"].startswith("sorted ") else "file"

    base = {(r["dataset"], r["seed"], order(r)): r for r in rows
            if r["model"] == ref and r["variant"].removeprefix("sorted ") == ref_variant}
    for r in rows:
        b = base.get((r["dataset"], r["seed"], order(r)))
        if b is None or r is b or id(r) not in pred_of:
            continue
        diffs, _ = compare_predictions(pred_of[id(b)], pred_of[id(r)], ks=(5, 10))
        for d in diffs:
            if d.metric in ("recall@10", "ndcg@10"):
                r["metrics"][f"diff_{d.metric}"] = round(d.diff, 5)
                r["metrics"][f"diff_low_{d.metric}"] = round(d.ci_low, 5)
                r["metrics"][f"diff_high_{d.metric}"] = round(d.ci_high, 5)


def model_variants(entry: str, default: list[str]) -> tuple[str, list[str]]:
    """`higr:hybrid` -> ("higr", ["hybrid"]): a model with its own variants (comma-separated); `tiger` -> the
    `--variants` of every model."""
    model, _, only = entry.partition(":")
    variants = only.split(",") if only else default
    if unknown := [v for v in variants if v not in VARIANTS]:
        raise SystemExit(f"--models {entry}: unknown variant {unknown[0]!r}; known: {', '.join(VARIANTS)}")
    return model, variants


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--datasets", nargs="*", default=["amazon-beauty", "amazon-toys", "amazon-scientific"])
    ap.add_argument("--models", nargs="*", default=["tiger", "higr", "higr_next5", "onerec"],
                    help="model[:variant,...] (e.g. tiger higr:hybrid): a variant list of its own, else --variants")
    ap.add_argument("--tokenizers", nargs="*", default=["crq_vae"],
                    help="more than one: the tokenizer study, run on the first model only")
    ap.add_argument("--variants", nargs="*", default=["default"], choices=sorted(VARIANTS),
                    help="hybrid: the context encoder adds a free item-ID embedding to each history item's SID one")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/hgrec-retrieval-runs"))
    ap.add_argument("--predictions-dir", type=Path, default=None)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--name", default="generative_retrieval")
    ap.add_argument("--paired", metavar="MODEL", default=None, help="paired differences from MODEL's rows")
    ap.add_argument("--paired-variant", default="crq_vae", help="... from MODEL's rows of this variant label "
                    "(e.g. collab: against TIGER on collaborative codes)")
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--collect", action="store_true")
    ap.add_argument("--size", choices=sorted(SIZES), default="paper",
                    help="paper: the configs' (TIGER paper) size; cpu: the cut that fits this CPU (see SIZES)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per run (trainer.num_threads)")
    ap.add_argument("--note", default="")
    ap.add_argument("--orders", nargs="*", choices=["file", "sorted"], default=["file"],
                    help="sorted: the item-order control (each user's items sorted by ASIN, IDGenRec's Toys order; "
                         "sequential_reproduction.sorted_copy), codes and runs on that copy; rows labelled `sorted ...`")
    ap.add_argument("overrides", nargs="*", help="key.path=value applied to every run")
    args = ap.parse_args()
    bench = Bench(args.name, out_dir=args.out_dir, results_dir=args.results, reuse=args.reuse, collect=args.collect)
    over = parse_overrides(args.overrides) | ({"trainer.num_threads": args.threads} if args.threads else {})
    pred_of: dict[int, Path] = {}
    study = len(args.tokenizers) > 1
    for order, dataset in [(o, d) for o in args.orders for d in args.datasets]:
        root = args.data / dataset if order == "file" else sorted_copy(args.data / dataset,
                                                                         args.out_dir / "sorted-data" / dataset)
        for entry in (args.models[:1] if study else args.models):
            model, only = model_variants(entry, args.variants)
            for tok, variant in [(t, v) for t in args.tokenizers for v in only]:
                codes, quality = codes_for(dataset, tok, args, root, order)
                label = (tok if variant == "default" else f"{tok} {variant}")
                label = label if order == "file" else f"{order} {label}"
                for seed in args.seeds:
                    spec = RunSpec(ROOT / "configs" / dataset / f"{model}.yaml", dataset, model,
                                   label.replace(" ", "-"), seed,
                                   {"data.root": str(root), "data.semantic_ids": codes,
                                    **SIZES[args.size].get(model, {}), **VARIANTS[variant], **over})
                    done = bench.run(spec)
                    if done.result is None:
                        continue
                    res, cfg = done.result, done.cfg
                    test = res["test"]
                    row = {"dataset": dataset, "model": model, "variant": label, "seed": seed,
                           "metrics": {k: round(test[k], 5) for k in (*METRICS, "mrr", "coverage@10")} | quality,
                           "timing": {"train_s": round(res["train_seconds"], 1),
                                      **({} if done.reused else {"wall_s": round(done.seconds, 1)}),
                                      "train_samples_per_s": round(res["train_samples_per_s"], 1),
                                      "eval_users_per_s": round(test["users_per_s"], 1),
                                      "epochs": res["epochs"], "best_epoch": res["best_epoch"],
                                      "epoch_cap": cfg.trainer.epochs},
                           "config": {**cfg.to_dict()["model"], "size": args.size, "params": res["params"], "beam": cfg.data.beam,
                                      "slate_size": cfg.data.slate_size, "max_len": cfg.data.max_len,
                                      "valid_users": cfg.data.valid_users, "lr": cfg.trainer.lr,
                                      "test_users": int(test["users"])}}
                    for (d, m), a in ANCHORS.items():
                        if d == dataset and m == model:
                            row["anchor"] = dict(zip(METRICS, a))
                            row["metrics"]["ratio_to_anchor_min"] = round(min(test[k] / v for k, v in zip(METRICS, a)), 3)
                    if args.predictions_dir or args.paired:
                        pred_of[id(row)] = predictions_of(done.dir, root, args.predictions_dir)
                    bench.rows.append(row)
                    print(json.dumps({k: row[k] for k in ("dataset", "model", "variant", "metrics", "timing")}),
                          flush=True)
                    bench.save(done=False)
    if not bench.rows:
        raise SystemExit("no finished runs")
    if args.paired:
        add_paired(bench.rows, args.paired, pred_of, args.paired_variant)
    bench.rows += reference_rows(args.datasets)
    capped = [f"{r['dataset']} {r['model']} {r['variant']} seed {r['seed']}" for r in bench.rows
              if r["timing"].get("epoch_cap") and r["timing"]["epochs"] >= r["timing"]["epoch_cap"]]
    notes = ("Next-item, leave-one-out, the whole catalogue ranked by one trie-constrained beam search of width "
             "20 (items outside the beam rank below it); history 50, history items masked (5-core: no repeats). "
             "Early stopping on validation NDCG@10 (`data.valid_users`: a fixed random sample of validation users, "
             "where set); `epochs` = epochs trained, `best_epoch` = the one tested, `epoch_cap` = the cap. "
             + ("Stopped at the epoch cap (rerun longer): " + ", ".join(capped) + ". " if capped else
                "No run stopped at its epoch cap. ")
             + "Published (ANCHORS.md) R@5 / N@5 / R@10 / N@10: TIGER Beauty .0454/.0321/.0648/.0384, Toys "
             ".0521/.0371/.0712/.0432; RPG Beauty .0550/.0381/.0809/.0464; `ratio_to_anchor_min` = min over the four "
             "of ours / TIGER's. The sasrec row is sequential_reproduction.json's (full-softmax CE, not retrained).")
    if args.paired:
        notes += (f" `diff_*` = this row minus {args.paired}'s ({args.paired_variant}) on the same dataset, seed and test users "
                  "(`hgrec compare`, 95 % bootstrap interval over users in diff_low / diff_high).")
    extra = None
    if "sorted" in args.orders:
        agreement = {d: order_agreement(args.data / d) for d in args.datasets}
        extra = {"order_agreement": agreement}
        notes += (" Item-order control (`--orders sorted`, rows `sorted ...`): each user's items sorted by ASIN, as in "
                  "IDGenRec's Toys copy (validation / test are the alphabetically last items); codes made on that copy's "
                  "training part. `order_agreement`: " + "; ".join(
                      f"{d}: test item changed for {a['test_item_changed']:.1%} of {a['users']:,} users"
                      for d, a in agreement.items()) + ".")
    if args.note:
        notes += " " + args.note
    cols = [(k, k, {}) for k in METRICS] + [("collision", "collision", {}), ("concentration", "concentration", {}),
                                            ("consistency", "consistency", {}),
                                            ("diff R@10 vs " + (args.paired or "-"), "diff_recall@10", {}),
                                            ("epochs", "timing:epochs", {}, ".0f"),
                                            ("best epoch", "timing:best_epoch", {}, ".0f"),
                                            ("train s", "timing:train_s", {}, ".0f"),
                                            ("samples/s", "timing:train_samples_per_s", {}, ".0f"),
                                            ("users/s", "timing:eval_users_per_s", {}, ".0f")]
    bench.save(done=True, notes=notes + "\n\n" + seed_table(bench.rows, cols), extra=extra)


if __name__ == "__main__":
    main()
