"""The `hgrec` command line. Each sub-command is a thin shell over a library function.

    hgrec data stats NAME [--root PATH]     verified statistics of a dataset
    hgrec data fetch NAME                   download + verify into the cache
    hgrec data slates NAME                  a few slate samples with item text
    hgrec train --config X.yaml [key=value]  train any registered model
    hgrec align --config X.yaml [--resume]  preference post-training of a HiGR checkpoint (ORPO/DPO/SimPO)
    hgrec tokenize --config X.yaml          semantic IDs (RQ-KMeans / RQ-VAE / CRQ-VAE)
    hgrec evaluate --checkpoint DIR         metrics of a checkpoint
    hgrec compare A.parquet B.parquet       is B better than A? paired, with confidence intervals
    hgrec recommend --checkpoint DIR --user ID   a slate for a user, with item descriptions
    hgrec recommend --checkpoint DIR --users F --out S.parquet   batch slates, streaming
    hgrec serve --checkpoint DIR [--port 8000]  the HTTP service (slates, click scores)
    hgrec demo                              the end-to-end demo on the embedded sample
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import hgrec

app = typer.Typer(add_completion=False, no_args_is_help=True, help="hgrec: hierarchical generative recommendation")
data_app = typer.Typer(no_args_is_help=True, help="Datasets: statistics, download, derived views.")
app.add_typer(data_app, name="data")
console = Console()
err_console = Console(stderr=True, soft_wrap=True)

RootOpt = Annotated[Optional[Path], typer.Option("--root", help="Folder with the dataset's raw files.")]
CacheOpt = Annotated[Optional[Path], typer.Option("--cache", help="Cache folder (default $HGREC_CACHE or ~/.cache/hgrec).")]


def _fail(e: Exception) -> None:
    msg = e.args[0] if isinstance(e, KeyError) and e.args else e  # KeyError's str() adds quotes
    err_console.print(f"[red]error:[/red] {escape(str(msg))}", highlight=False)
    raise typer.Exit(code=2)


def _version(value: bool) -> None:
    if value:
        console.print(f"hgrec {hgrec.__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False) -> None:
    pass


def _load(name: str, root: Path | None, cache: Path | None):
    from hgrec.data import DataError, load_dataset

    try:
        return load_dataset(name, root, cache_dir=cache)
    except (DataError, KeyError) as e:
        _fail(e)


@data_app.command("stats")
def data_stats(
    name: Annotated[str, typer.Argument(help="kuairand-pure, ml-100k, amazon-beauty, amazon-toys, amazon-scientific, sample")],
    root: RootOpt = None,
    cache: CacheOpt = None,
    session_gap_min: Annotated[float, typer.Option(help="Session gap in minutes.")] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Users, items, interactions, positives share, sequence lengths, sessions, time range."""
    from hgrec.data.stats import dataset_stats, format_stats

    ds = _load(name, root, cache)
    stats = dataset_stats(ds, int(session_gap_min * 60_000))
    if as_json:
        print(json.dumps(stats, indent=1))
        return
    table = Table(title=f"{ds.name} ({'cache hit' if ds.cache_hit else 'parsed from ' + ds.info.source})")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for k, v in format_stats(stats):
        table.add_row(k, v)
    console.print(table)


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="Dataset to download.")],
    cache: CacheOpt = None,
    mirror: Annotated[Optional[str], typer.Option(help="Replace scheme+host of the official URLs (a local mirror).")] = None,
) -> None:
    """Download a dataset from its official source, verify checksums, unpack into the cache."""
    from hgrec.data import DataError
    from hgrec.data.adapters import ALIASES
    from hgrec.data.fetch import fetch
    from hgrec.data.loader import cache_root

    try:
        path = fetch(ALIASES.get(name, name), cache_root(cache) / "raw", mirror=mirror, progress=os.isatty(2))
    except (DataError, KeyError) as e:
        _fail(e)
    console.print(f"{name}: verified and unpacked into {path}")


@data_app.command("slates")
def data_slates(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    root: RootOpt = None,
    cache: CacheOpt = None,
    slate_size: Annotated[int, typer.Option("--slate-size", "-m", min=1)] = 5,
    n: Annotated[int, typer.Option("-n", min=1, help="How many test slates to show.")] = 3,
) -> None:
    """Show test slate samples: the user's recent history and both truth sets, with item text."""
    ds = _load(name, root, cache)
    show_slates(ds, slate_size, n)


def show_slates(ds, slate_size: int, n: int) -> None:
    import polars as pl

    from hgrec.data.views import positive_history, slates

    samples = slates(ds, slate_size).filter((pl.col("split") == "test") & (pl.col("effective").list.len() > 0))
    hist = positive_history(ds)
    text = ds.items["text"].to_list()
    eff_lens = samples["effective"].list.len()
    console.print(
        f"{samples.height:,} test slates (M={slate_size}) with an effective item; "
        f"mean |impressions| {samples['impressions'].list.len().mean():.2f}, mean |effective| {eff_lens.mean():.2f}"
    )
    for row in samples.head(n).iter_rows(named=True):
        u, hl = row["user_id"], row["hist_len"]
        recent = hist.user(u)[:hl][-3:]
        t = Table(title=f"user {ds.user_map.to_raw([u])[0]} (history: {hl} effective items)", show_lines=False)
        t.add_column("")
        t.add_column("item")
        t.add_column("text", overflow="fold")
        for i in recent:
            t.add_row("history", str(ds.item_map.to_raw([i])[0]), text[i - 1])
        eff = set(row["effective"])
        for i in row["impressions"]:
            t.add_row("exposed" + (" + effective" if i in eff else ""), str(ds.item_map.to_raw([i])[0]), text[i - 1])
        console.print(t)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option("--config", help="Run config (YAML).")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the run's latest checkpoint.")] = False,
) -> None:
    """Train a registered model; extra arguments are key.path=value overrides (trainer.lr=3e-4)."""
    from hgrec.data import DataError
    from hgrec.pipelines import train as run_train
    from hgrec.training.config import ConfigError, load_config

    try:
        cfg = load_config(config, list(ctx.args))
        result = run_train(cfg, resume)
    except (ConfigError, DataError, KeyError, FileExistsError) as e:
        _fail(e)
    if result:
        metrics_table(result["test"], f"test metrics ({cfg.model_name} on {cfg.data.dataset})")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def align(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option("--config", help="Alignment run config (YAML with an alignment: section).")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the run's latest checkpoint.")] = False,
) -> None:
    """Preference post-training (ORPO / DPO / SimPO) of a pre-trained HiGR checkpoint; extra arguments are
    key.path=value overrides (alignment.method=dpo)."""
    from hgrec.pipelines import align as run_align
    from hgrec.data import DataError
    from hgrec.training.config import ConfigError, load_config

    try:
        cfg = load_config(config, list(ctx.args))
        result = run_align(cfg, resume)
    except (ConfigError, DataError, KeyError, FileExistsError, FileNotFoundError) as e:
        _fail(e)
    if result:
        a = result["alignment"]
        metrics_table(result["test"], f"test metrics ({cfg.model_name} + {a['method']} on {cfg.data.dataset})")
        console.print(f"{a['pairs']:,} pairs ({', '.join(f'{k} {v:,}' for k, v in a['kinds'].items())}); "
                      f"reference forward passes: {a['reference_forwards']:,}")


def metrics_table(metrics: dict, title: str, name: str = "value", others: dict[str, dict] | None = None) -> None:
    """One row per metric (fits an 80-column terminal), one column per model: `name` for `metrics`,
    then each of `others` (e.g. the popularity slate beside HiGR) on the same keys."""
    table = Table(title=title, min_width=min(len(title), 80))  # the title on one line where it fits
    keys = [k for k in metrics if "@" in k or k in ("mrr", "auc", "gauc", "logloss")]  # ranking or CTR metrics
    table.add_column("metric")
    for col in (name, *(others or {})):
        table.add_column(col, justify="right")
    for k in keys:
        table.add_row(k, f"{metrics[k]:.4f}", *[f"{o[k]:.4f}" if k in o else "" for o in (others or {}).values()])
    console.print(table)
    if "users" in metrics:
        console.print(f"{int(metrics['users']):,} users, {metrics['users_per_s']:,.0f} users/s")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def tokenize(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option("--config", help="Tokenizer config (YAML).")],
) -> None:
    """Item vectors -> semantic IDs (RQ-KMeans, RQ-VAE, CRQ-VAE); prints the quality table, writes codes.parquet."""
    from hgrec.data import DataError
    from hgrec.pipelines.tokenize import load_tokenize_config
    from hgrec.pipelines.tokenize import tokenize as run_tokenize
    from hgrec.training.config import ConfigError

    try:
        run = load_tokenize_config(config, list(ctx.args))
        m = run_tokenize(run, log=lambda s: console.print(s))
    except (ConfigError, DataError, KeyError, FileNotFoundError, ValueError) as e:
        _fail(e)
    table = Table(title=f"semantic IDs: {run.tokenizer.method} on {run.data.dataset} (K={m['codebook_size']})")
    for col in ("collision", "concentration", "consistency", "recon", "tokenize s"):
        table.add_column(col, justify="right")
    table.add_row(f"{m['collision']:.4f}", f"{m['concentration']:.4f}", f"{m['consistency']:.4f}",
                  "n/a" if m["recon"] is None else f"{m['recon']:.4g}", f"{m['tokenize_s']:.1f}")  # random: no recon
    console.print(table)
    levels = Table(title="per level")
    for col in ("level", "utilisation", "perplexity", "residual norm"):
        levels.add_column(col, justify="right")
    for d, lv in enumerate(m["levels"], 1):
        levels.add_row(str(d), f"{lv['utilisation']:.3f}", f"{lv['perplexity']:.1f}", f"{lv['residual_norm']:.3f}")
    console.print(levels)
    console.print(f"codes written to {m['out']}/codes.parquet")


@app.command()
def evaluate(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="A run's best/ or checkpoints/step_N/ folder.")],
    split: Annotated[str, typer.Option(help="valid or test")] = "test",
    predictions: Annotated[Optional[Path], typer.Option(help="Write one row per user (source ids) to this parquet.")] = None,
    root: RootOpt = None,
    cache: CacheOpt = None,
) -> None:
    """Metrics of a checkpoint on the test (or valid) split, full ranking over the catalogue."""
    from hgrec.data import DataError
    from hgrec.pipelines.load import load_for_eval

    if split not in ("valid", "test"):
        _fail(ValueError(f"--split must be valid or test, got {split!r}"))
    try:
        cfg, task, model = load_for_eval(checkpoint, root=root, cache=cache)
    except (DataError, FileNotFoundError, ValueError, KeyError) as e:
        _fail(e)
    t = cfg.trainer
    m = task.evaluate(model, split, ks=t.ks, batch_size=t.eval_batch_size, device="cpu",
                      predictions=str(predictions) if predictions else None)
    metrics_table(m, f"{split} metrics: {cfg.model_name} on {cfg.data.dataset} ({checkpoint})")
    if predictions:
        console.print(f"predictions written to {predictions}")


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="Predictions of the reference model (hgrec evaluate --predictions).")],
    b: Annotated[Path, typer.Argument(help="Predictions of the model compared with it, same split and users.")],
    k: Annotated[Optional[list[int]], typer.Option("--k", min=1, help="Cut-offs (repeatable; default 5 and 10).")] = None,
    resamples: Annotated[int, typer.Option(min=100, help="Bootstrap resamples of the users.")] = 2000,
    confidence: Annotated[float, typer.Option(min=0.5, max=0.999, help="Confidence level of the interval.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    out: Annotated[Optional[Path], typer.Option("--json", help="Also write the comparison to this JSON file.")] = None,
) -> None:
    """Is B better than A? Two prediction files of the same split, paired by user: B - A with a bootstrap
    confidence interval and a p-value (user sampling only, not seed-to-seed spread). Ranking files
    (user_id, truth, ranked): hit/recall/NDCG@K; CTR files (user_id, item_id, ts, label, prob): AUC, GAUC,
    logloss."""
    from hgrec.evaluation.compare import compare_ctr_predictions, compare_predictions, kind_of
    from hgrec.utils.atomic import atomic_write_text

    try:
        if kind_of(a) == "ctr":
            if k:
                raise ValueError("--k applies to ranking predictions; these are CTR predictions")
            diffs, users = compare_ctr_predictions(a, b, resamples, confidence, seed)
        else:
            diffs, users = compare_predictions(a, b, tuple(k or (5, 10)), resamples, confidence, seed)
    except (FileNotFoundError, ValueError) as e:
        _fail(e)
    table = Table(title=f"B - A over {users:,} users (A = {a.name}, B = {b.name})")
    for col in ("metric", "A", "B", "B - A", f"{confidence:.0%} CI", "p"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for d in diffs:
        mark = " *" if d.significant else ""
        table.add_row(d.metric, f"{d.a:.4f}", f"{d.b:.4f}", f"{d.diff:+.4f}{mark}",
                      f"[{d.ci_low:+.4f}, {d.ci_high:+.4f}]", f"{d.p_value:.3f}")
    console.print(table)
    console.print("* the interval excludes 0")
    if out:
        atomic_write_text(out, json.dumps({"a": str(a), "b": str(b), "users": users, "confidence": confidence,
                                           "resamples": resamples, "seed": seed,
                                           "metrics": [dataclasses.asdict(d) for d in diffs]}, indent=2))
        console.print(f"written to {out}")


@app.command()
def recommend(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="A run's best/ or checkpoints/step_N/ folder.")],
    user: Annotated[Optional[list[str]], typer.Option("--user", help="Source user id (repeat for several users).")] = None,
    users: Annotated[Optional[Path], typer.Option("--users", help="Batch: a file with one user id per line.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Batch: the slates parquet to write.")] = None,
    slate_size: Annotated[int, typer.Option("--slate-size", min=1, help="Items per slate (any L).")] = 5,
    beam: Annotated[Optional[int], typer.Option(min=1, help="Beam width (default: the run's data.beam).")] = None,
    exclude_history: Annotated[Optional[bool], typer.Option("--exclude-history/--allow-history")] = None,
    chunk: Annotated[int, typer.Option(min=1, help="Batch: users decoded (and written) at a time.")] = 1024,
    skip_unknown: Annotated[bool, typer.Option("--skip-unknown", help="Batch: skip unknown user ids.")] = False,
    root: RootOpt = None,
    cache: CacheOpt = None,
) -> None:
    """Slates from a trained checkpoint: shown for --user ids, or written to --out for a --users file."""
    from hgrec.data import DataError
    from hgrec.serving import Recommender

    if bool(users) != bool(out):
        _fail(ValueError("batch mode needs both --users FILE and --out FILE.parquet"))
    if not users and not user:
        _fail(ValueError("give --user ID (repeatable) or --users FILE --out FILE.parquet"))
    try:
        rec = Recommender.from_checkpoint(checkpoint, root=root, cache=cache)
        if users:
            from tqdm import tqdm

            from hgrec.serving.batch import recommend_file

            with tqdm(unit="user", desc="slates", disable=None) as bar:
                done = recommend_file(rec, users, out, slate_size, beam, exclude_history, chunk, skip_unknown,
                                      progress=bar.update)
            console.print(f"{done['users']:,} slates written to {out}"
                          + (f"; {done['skipped']:,} unknown users skipped" if done["skipped"] else ""))
            return
        slates = rec.recommend(user, slate_size, beam, exclude_history)
    except (DataError, FileNotFoundError, ValueError, KeyError) as e:
        _fail(e)
    for u, slate in zip(user, slates):
        show_slate(rec, u, slate)


@app.command()
def serve(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="A run's best/ or checkpoints/step_N/ folder.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    max_batch: Annotated[int, typer.Option(min=1, help="Dynamic batching: most requests per decoder call.")] = 64,
    max_wait_ms: Annotated[float, typer.Option(min=0, help="Dynamic batching: longest wait for a batch.")] = 5.0,
    no_batching: Annotated[bool, typer.Option("--no-batching", help="One request per decoder call.")] = False,
    threads: Annotated[Optional[int], typer.Option(min=1, help="torch intra-op threads (default: one per core).")] = None,
    max_body_bytes: Annotated[int, typer.Option(min=1, help="Largest request body (413 above).")] = 1 << 20,
    max_work: Annotated[int, typer.Option(min=1, help="Largest slate_size x beam_width of a request (422 above).")] = 1000,
    max_candidates: Annotated[int, typer.Option(min=1, help="Most candidates of a /v1/score request (422 above).")] = 2000,
    deadline_s: Annotated[float, typer.Option(min=0.001, help="Each request's deadline (504 when it passes).")] = 10.0,
    max_queue: Annotated[int, typer.Option(min=1, help="Most slate requests waiting (429 + Retry-After above).")] = 1024,
    max_wait_s: Annotated[float, typer.Option(min=0.001, help="Load shedding: a slate request's longest expected "
                                                               "wait (429 + Retry-After above).")] = 0.5,
    max_in_flight: Annotated[int, typer.Option(min=1, help="Most slate requests inside the server at once "
                                                          "(429 + Retry-After above).")] = 512,
    grace_s: Annotated[float, typer.Option(min=0, help="On SIGTERM/Ctrl-C: time in-flight requests get to finish.")] = 10.0,
    compile: Annotated[Optional[str], typer.Option(help="Decode with the compiled step (hgrec.decoding.step): default "
                                                         "or max-autotune; /readyz answers 503 until it is compiled.")] = None,
    root: RootOpt = None,
    cache: CacheOpt = None,
) -> None:
    """The HTTP service: POST /v1/slate, POST /v1/score, GET /v1/model, GET /healthz, GET /readyz, OpenAPI at /docs."""
    import uvicorn

    from hgrec.data import DataError
    from hgrec.serving.app import create_app
    from hgrec.serving.engine import InferenceEngine, Limits

    try:
        limits = Limits(max_body_bytes=max_body_bytes, max_work=max_work, max_candidates=max_candidates,
                        deadline_s=deadline_s, max_queue=max_queue, max_wait_s=max_wait_s,
                        max_in_flight=max_in_flight, batch_work=max(4 * max_work, 4000))
        engine = InferenceEngine.from_checkpoint(checkpoint, root=root, cache=cache, max_batch=max_batch,
                                                 max_wait_ms=max_wait_ms, batching=not no_batching, threads=threads,
                                                 limits=limits, compile=compile)
    except (DataError, FileNotFoundError, ValueError, KeyError) as e:
        _fail(e)
    info = engine.info()
    console.print(f"serving {info['model']} ({info['dataset']}, {info['catalogue_size']:,} items) "
                  f"on http://{host}:{port}  (docs: /docs)")
    # SIGTERM / Ctrl-C: stop accepting, let in-flight requests finish for at most grace_s, then exit
    uvicorn.Server(uvicorn.Config(create_app(engine), host=host, port=port, log_level="warning",
                                  timeout_graceful_shutdown=grace_s)).run()


def show_slate(rec, user_raw, slate, truth=()) -> None:
    t = Table(title=f"slate for user {user_raw} ({rec.cfg.model_name}, {rec.cfg.data.dataset})")
    t.add_column("#")
    t.add_column("item")
    t.add_column("description", overflow="fold")
    for r, (item, text) in enumerate(zip(slate, rec.describe(slate)), 1):
        mark = "  [bold green](watched)[/]" if item in set(truth) else ""
        t.add_row(str(r), escape(str(item)) + mark, escape(text))
    console.print(t)


@app.command()
def demo(
    cache: CacheOpt = None,
    out_dir: Annotated[Path, typer.Option(help="Where the demo runs are written.")] = Path("runs"),
    epochs: Annotated[int, typer.Option(min=1)] = 8,
) -> None:
    """End-to-end on the embedded KuaiRand-Pure slice: data -> semantic IDs -> HiGR -> metrics -> a slate."""
    import numpy as np

    from hgrec.serving import Recommender
    from hgrec.pipelines.tokenize import load_tokenize_config, tokenize as run_tokenize
    from hgrec.pipelines import train as run_train
    from hgrec.training.config import load_config

    configs = Path(__file__).resolve().parent / "configs"
    console.rule("1. data: the embedded KuaiRand-Pure sample")
    data_stats("sample", None, cache)
    ds = _load("sample", None, cache)
    show_slates(ds, 5, 1)
    console.rule("2. semantic IDs: CRQ-VAE over item text + co-occurrence vectors (D=3, K=256)")
    tok_over = [f"out_dir={out_dir / 'tokenize'}"] + ([f"data.cache={cache}"] if cache is not None else [])
    tok = run_tokenize(load_tokenize_config(configs / "demo_crq_vae.yaml", tok_over), log=lambda s: None)
    console.print(f"collision {tok['collision']:.4f} (before the disambiguation level), "
                  f"{tok['tokenize_s']:.1f} s; codes in {tok['out']}")
    console.rule("3. train HiGR (slate planner + shared item generator), leave-last-out slates")
    overrides = [f"trainer.out_dir={out_dir}", f"trainer.epochs={epochs}", "trainer.run_name=demo-higr",
                 "trainer.overwrite=true", f"data.semantic_ids={tok['out']}/codes.parquet"]
    if cache is not None:
        overrides.append(f"data.cache={cache}")
    result = run_train(load_config(configs / "demo_higr.yaml", overrides))
    rec = Recommender.from_checkpoint(out_dir / "demo-higr" / "best", cache=cache)
    test = rec.task.data.test
    # the floor a practitioner tries first: the 5 most frequent training targets for every request
    from hgrec.evaluation.slates import slate_metrics

    tr = rec.task.data.train.target
    top = np.argsort(-np.bincount(tr[tr > 0], minlength=rec.task.data.num_items + 1), kind="stable")[:5]
    popularity = slate_metrics(np.tile(top, (len(test), 1)), test.effective, test.impressions, 5,
                               np.concatenate([[-1], rec.task.codes[:, 0]]), rec.task.data.num_items)
    metrics_table(result["test"], "4. test metrics: GSBI slates (M=5, B=5) vs effective views and impressions",
                  "HiGR", {"popularity": popularity})
    console.print(f"trained {result['epochs']} epochs in {result['train_seconds']:.1f} s "
                  f"({result['train_samples_per_s']:,.0f} samples/s); best epoch {result['best_epoch']}")
    console.rule("5. one slate (hgrec recommend --checkpoint runs/demo-higr/best --user ID)")
    i = int(np.argmax((test.history > 0).sum(1)))  # the test request with the longest history
    user = rec.ds.user_map.to_raw([test.users[i]])[0]
    from hgrec.data.batch import context_batch
    from hgrec.decoding.slates import slate_generator

    batch = context_batch(test.history[i:i + 1], test.history_ts[i:i + 1], rec.user_features[test.users[i:i + 1]])
    slate = slate_generator(rec.model, rec.trie, 5, rec.cfg.data.beam)(batch)[0].numpy()
    truth = list(rec.ds.item_map.to_raw(test.effective[i][test.effective[i] > 0]))
    show_slate(rec, user, list(rec.ds.item_map.to_raw(slate[slate > 0])), truth)
    # escape: rich would read a list's brackets as markup and print nothing
    console.print(f"what user {escape(str(user))} watched next: " + escape(", ".join(map(str, truth)) or "(nothing)"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
