"""The `hgrec` command line. Each sub-command is a thin shell over a library function.

    hgrec data stats NAME [--root PATH]     verified statistics of a dataset
    hgrec data fetch NAME                   download + verify into the cache
    hgrec data slates NAME                  a few slate samples with item text
    hgrec demo                              the end-to-end demo on the embedded sample
"""

from __future__ import annotations

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


@app.command()
def demo(cache: CacheOpt = None) -> None:
    """End-to-end demo on the embedded KuaiRand-Pure slice (no data folder needed)."""
    console.rule("hgrec demo: the embedded KuaiRand-Pure sample")
    data_stats("sample", None, cache)
    console.rule("slates: history -> next exposures (impressions) and effective views")
    ds = _load("sample", None, cache)
    show_slates(ds, 5, 2)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
