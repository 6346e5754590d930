"""Load test of `hgrec serve`: the real server on 127.0.0.1, an async httpx client, bounded duration.

    python benchmarks/serving_load.py --checkpoint runs/kuairand-pure-higr-s0/best \
        [--root ../shared/data/kuairand-pure] [--concurrency 1 8 32] [--duration 15] [--max-wait-ms 5]

For each server setting (dynamic batching on: `--max-batch`/`--max-wait-ms`; off: one request per
decoder call) the script starts `python -m hgrec serve` on a free port, waits for /healthz, warms up,
then for each concurrency C runs C client workers in one event loop, each sending POST /v1/slate
{"user_id": u, "slate_size": M} for users drawn from the dataset (users with a history), back to back,
until `--duration` seconds have passed. Latency is measured per request on the client (send to
full body); requests/s = completed requests / elapsed. Any non-200 answer or transport error counts
as an error (the issue's bar: 0). Writes benchmarks/results/serving_load.{json,md}.

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
                 threads: int | None):
        self.port = free_port()
        cmd = [sys.executable, "-m", "hgrec", "serve", "--checkpoint", str(checkpoint), "--port", str(self.port),
               "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms)]
        if not batching:
            cmd.append("--no-batching")
        if root:
            cmd += ["--root", root]
        if threads:
            cmd += ["--threads", str(threads)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float = 300) -> None:
        import httpx

        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stdout.read().decode()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
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


async def load(url: str, users: list, concurrency: int, duration: float, slate_size: int) -> dict:
    import httpx

    lat, errors, done = [], 0, 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        deadline = time.perf_counter() + duration

        async def worker(w: int):
            nonlocal errors, done
            i = w
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/slate", json={"user_id": users[i % len(users)], "slate_size": slate_size})
                    ok = r.status_code == 200 and len(r.json()["items"]) == slate_size
                except httpx.HTTPError:
                    ok = False
                lat.append((time.perf_counter() - t0) * 1000)
                done += 1
                errors += not ok
                i += concurrency

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - t0
    q = np.percentile(lat, [50, 95, 99]) if lat else [float("nan")] * 3
    return {"requests": done, "errors": errors, "requests_per_s": done / elapsed, "elapsed_s": elapsed,
            "p50": float(q[0]), "p95": float(q[1]), "p99": float(q[2]), "mean": statistics.fmean(lat) if lat else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--root", help="the dataset folder (default: the one the checkpoint was trained on)")
    ap.add_argument("--concurrency", nargs="*", type=int, default=[1, 8, 32])
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per (setting, concurrency)")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--slate-size", type=int, default=5)
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--users", type=int, default=2000, help="distinct users requests cycle through")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()

    users = users_with_history(args.checkpoint, args.root, args.users, seed=0)
    meta = json.loads((args.checkpoint / "config.json").read_text())
    model, dataset = meta["model_name"], meta["run_config"]["data"]["dataset"]
    rows, lines = [], ["| batching | concurrency | requests/s | p50 ms | p95 ms | p99 ms | requests | errors |",
                       "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for batching in (True, False):
        server = Server(args.checkpoint, args.root, batching, args.max_batch, args.max_wait_ms, args.threads)
        try:
            server.wait()
            asyncio.run(load(server.url, users, 4, args.warmup, args.slate_size))  # warm-up, not recorded
            for c in args.concurrency:
                m = asyncio.run(load(server.url, users, c, args.duration, args.slate_size))
                variant = "dynamic_batching" if batching else "no_batching"
                rows.append({"dataset": dataset, "model": model, "variant": variant, "seed": 0,
                             "metrics": {"requests_per_s": round(m["requests_per_s"], 2), "errors": m["errors"]},
                             "timing": {"median_ms": round(m["p50"], 2), "latency_ms@95": round(m["p95"], 2),
                                        "tail_ms": round(m["p99"], 2), "requests": m["requests"],
                                        "elapsed_s": round(m["elapsed_s"], 2)},
                             "config": {"concurrency": c, "slate_size": args.slate_size, "beam": None,
                                        "max_batch": args.max_batch if batching else 1,
                                        "max_wait_ms": args.max_wait_ms if batching else 0,
                                        "checkpoint": str(args.checkpoint), "threads": args.threads}})
                lines.append(f"| {'on' if batching else 'off'} | {c} | {m['requests_per_s']:,.1f} | {m['p50']:,.1f} | "
                             f"{m['p95']:,.1f} | {m['p99']:,.1f} | {m['requests']:,} | {m['errors']} |")
                print(lines[-1], flush=True)
        finally:
            server.stop()
    notes = (f"`hgrec serve` with {model} on {dataset} ({args.checkpoint}); POST /v1/slate by user_id, slate size "
             f"{args.slate_size}, the model's beam; {args.duration:g} s per row after a {args.warmup:g} s warm-up; "
             f"client and server on the same machine (they share its cores). Dynamic batching: max_batch "
             f"{args.max_batch}, max_wait {args.max_wait_ms:g} ms.\n\n" + "\n".join(lines))
    write_results("serving_load", rows, out_dir=args.results, notes=notes,
                  command="python benchmarks/serving_load.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
