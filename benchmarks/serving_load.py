"""Load test of `hgrec serve`: the real server on 127.0.0.1, an async httpx client, bounded duration.

    python benchmarks/serving_load.py --checkpoint runs/kuairand-pure-higr-s0/best \
        [--root ../shared/data/kuairand-pure] [--concurrency 1 8 32 64 128] [--duration 15] [--max-wait-ms 5]
        [--max-wait-s 0.5]

For each server setting (dynamic batching on: `--max-batch`/`--max-wait-ms`; off: one request per
decoder call) the script starts `python -m hgrec serve` on a free port, waits for /healthz, warms up,
then for each concurrency C runs C client workers in one event loop, each sending POST /v1/slate
{"user_id": u, "slate_size": M} for users drawn from the dataset (users with a history), back to back,
until `--duration` seconds have passed (closed loop: a worker sends its next request when the last one is
answered). Latency is measured per request on the client (send to full body) over the answered (200)
requests; requests/s = answered requests / elapsed. A 429 (load shedding: the server's expected queueing
wait passed `--max-wait-s`; docs/serving.md) is counted as shed, not as an error, and its worker sends the
next request at once; shed rate = 429s / requests sent. Any other non-200 answer, a transport error, or a
slate that is not `slate_size` distinct catalogue items counts as an error (the issue's bar: 0). Writes
benchmarks/results/serving_load.{json,md}.

Timing keys: median_ms = p50, tail_ms = p99, plus p95_ms-style keys as `latency_ms@95`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from hgrec.utils.results import write_results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def catalogue_ids(checkpoint: Path, root: str | None) -> set[str]:
    """The source ids of the checkpoint's items, as strings (a slate item outside them is an error)."""
    from hgrec.data import load_dataset

    data = json.loads((checkpoint / "config.json").read_text())["run_config"]["data"]
    ds = load_dataset(data["dataset"], root or data.get("root"))
    return {str(x) for x in ds.item_map.to_raw(np.arange(1, ds.num_items + 1)).tolist()}


def users_with_history(checkpoint: Path, root: str | None, n: int, seed: int) -> list:
    from hgrec.data import load_dataset
    from hgrec.data.views import positive_history

    meta = json.loads((checkpoint / "config.json").read_text())
    data = meta["run_config"]["data"]
    ds = load_dataset(data["dataset"], root or data.get("root"))
    lengths = positive_history(ds, ["item_id"]).lengths
    dense = np.flatnonzero(lengths > 0)
    pick = np.random.default_rng(seed).choice(dense, size=min(n, len(dense)), replace=False)
    return ds.user_map.to_raw(pick).tolist()


class Server:
    def __init__(self, checkpoint: Path, root: str | None, batching: bool, max_batch: int, max_wait_ms: float,
                 threads: int | None, max_wait_s: float, extra: list[str] = ()):
        self.port = free_port()
        cmd = [sys.executable, "-m", "hgrec", "serve", "--checkpoint", str(checkpoint), "--port", str(self.port),
               "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms), "--max-wait-s", str(max_wait_s),
               *extra]
        if not batching:
            cmd.append("--no-batching")
        if root:
            cmd += ["--root", root]
        if threads:
            cmd += ["--threads", str(threads)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float = 1800) -> None:
        import httpx

        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stdout.read().decode()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:  # compiled: once compiled
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
        raise TimeoutError("server did not become healthy")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def load(url: str, users: list, concurrency: int, duration: float, slate_size: int, catalogue: set) -> dict:
    import httpx

    lat, errors, done, shed = [], 0, 0, 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        deadline = time.perf_counter() + duration

        async def worker(w: int):
            nonlocal errors, done, shed
            i = w
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/slate", json={"user_id": users[i % len(users)], "slate_size": slate_size})
                    if r.status_code == 429 and int(r.headers.get("retry-after", "0")) >= 1:
                        shed += 1
                        i += concurrency
                        continue
                    items = [i["item_id"] for i in r.json()["items"]] if r.status_code == 200 else []
                    ok = len(items) == slate_size == len(set(items)) and all(str(x) in catalogue for x in items)
                except httpx.HTTPError:
                    ok = False
                if ok:
                    lat.append((time.perf_counter() - t0) * 1000)
                done += 1
                errors += not ok
                i += concurrency

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - t0
    q = np.percentile(lat, [50, 95, 99]) if lat else [float("nan")] * 3
    return {"requests": done, "errors": errors, "requests_per_s": len(lat) / elapsed, "elapsed_s": elapsed,
            "shed": shed, "shed_rate": shed / max(1, shed + done),
            "p50": float(q[0]), "p95": float(q[1]), "p99": float(q[2]), "mean": statistics.fmean(lat) if lat else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--root", help="the dataset folder (default: the one the checkpoint was trained on)")
    ap.add_argument("--concurrency", nargs="*", type=int, default=[1, 8, 32, 64, 128])
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per (setting, concurrency)")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--slate-size", type=int, default=5)
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--max-wait-s", type=float, default=0.5, help="the server's load-shedding bound (429 above)")
    ap.add_argument("--serve-args", nargs="*", default=[], help="more `hgrec serve` options, e.g. --compile")
    ap.add_argument("--users", type=int, default=2000, help="distinct users requests cycle through")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()

    users = users_with_history(args.checkpoint, args.root, args.users, seed=0)
    catalogue = catalogue_ids(args.checkpoint, args.root)
    meta = json.loads((args.checkpoint / "config.json").read_text())
    model, dataset = meta["model_name"], meta["run_config"]["data"]["dataset"]
    rows, lines = [], ["| batching | concurrency | requests/s | p50 ms | p95 ms | p99 ms | requests | shed (429) | errors |",
                       "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for batching in (True, False):
        server = Server(args.checkpoint, args.root, batching, args.max_batch, args.max_wait_ms, args.threads,
                        args.max_wait_s, args.serve_args)
        try:
            server.wait()
            asyncio.run(load(server.url, users, 4, args.warmup, args.slate_size, catalogue))  # warm-up, not recorded
            for c in args.concurrency:
                m = asyncio.run(load(server.url, users, c, args.duration, args.slate_size, catalogue))
                variant = "dynamic_batching" if batching else "no_batching"
                rows.append({"dataset": dataset, "model": model, "variant": variant, "seed": 0,
                             "metrics": {"requests_per_s": round(m["requests_per_s"], 2), "errors": m["errors"],
                                         "shed_rate": round(m["shed_rate"], 4)},
                             "timing": {"median_ms": round(m["p50"], 2), "latency_ms@95": round(m["p95"], 2),
                                        "tail_ms": round(m["p99"], 2), "requests": m["requests"], "shed": m["shed"],
                                        "elapsed_s": round(m["elapsed_s"], 2)},
                             "config": {"concurrency": c, "slate_size": args.slate_size, "beam": None,
                                        "max_batch": args.max_batch if batching else 1,
                                        "max_wait_ms": args.max_wait_ms if batching else 0,
                                        "checkpoint": str(args.checkpoint), "threads": args.threads,
                                        "max_wait_s": args.max_wait_s, "serve_args": args.serve_args}})
                lines.append(f"| {'on' if batching else 'off'} | {c} | {m['requests_per_s']:,.1f} | {m['p50']:,.1f} | "
                             f"{m['p95']:,.1f} | {m['p99']:,.1f} | {m['requests']:,} | {m['shed']:,} ({m['shed_rate']:.1%}) | "
                             f"{m['errors']} |")
                print(lines[-1], flush=True)
        finally:
            server.stop()
    notes = (f"`hgrec serve` with {model} on {dataset} ({args.checkpoint}); POST /v1/slate by user_id, slate size "
             f"{args.slate_size}, the model's beam; {args.duration:g} s per row after a {args.warmup:g} s warm-up; "
             f"client and server on the same machine (they share its cores). Dynamic batching: max_batch "
             f"{args.max_batch}, max_wait {args.max_wait_ms:g} ms; load shedding above an expected wait of "
             f"{args.max_wait_s:g} s (429 + Retry-After); server options {args.serve_args or 'none'}.\n\n" + "\n".join(lines))
    write_results("serving_load", rows, out_dir=args.results, notes=notes,
                  command="python benchmarks/serving_load.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
