"""PGSA efficiency: time and memory of Preference-Guided Sparse Attention vs dense target attention as the
history grows (synthetic histories, 64 -> 4096 tokens, K = 32 / 64 / 128).

    python benchmarks/pgsa_efficiency.py [--lengths 64 128 ... 4096] [--ks 32 64 128] [--batch 64] [--device auto]
    python benchmarks/pgsa_efficiency.py --smoke --results /tmp/pgsa-smoke    # seconds: two short lengths

What is measured: HPGR's candidate-side module (`PreferenceGuidedSparseAttention`, hgrec/models/hpgr.py)
on B candidates, each with its own history of L encoded tokens (random states; the last 8 tokens are the
current session): `dense` attends to all L tokens; `pgsa_kK` scores the L history items against the
candidate in a frozen item table (cosine, O(L d)), keeps the top K + the current session (topk + gather)
and attends to those W = K + 8 tokens only. Same weights, same inputs; methods interleaved per repeat.
Reported (per L and method): forward latency (`fwd_ms`, inference, median of the repeats), forward +
backward latency (`train_ms`), the activation memory autograd keeps for the backward pass
(`activation_mib`, from saved-tensor hooks: exact and device-independent) and, on CUDA, the peak
allocated memory of a forward + backward (`peak_mib`); `speedup_fwd` = dense fwd_ms / this fwd_ms.
The session encoder (SEM) in front of this module is not timed here: it is the same for both.
Writes benchmarks/results/pgsa_efficiency.{json,md} and the plot pgsa_efficiency.png.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from hgrec.models.hpgr import HPGRConfig, PreferenceGuidedSparseAttention
from hgrec.utils.results import write_results

CURRENT = 8  # tokens of the current session in every synthetic history
NUM_ITEMS = 100_000


def make_inputs(B: int, L: int, d: int, device: str, g: torch.Generator):
    states = torch.randn(B, L, d, generator=g).to(device).requires_grad_(True)
    cand = torch.randn(B, d, generator=g).to(device).requires_grad_(True)
    table = torch.nn.functional.normalize(torch.randn(NUM_ITEMS, d, generator=g), dim=-1).to(device)
    items = torch.randint(1, NUM_ITEMS, (B, L), generator=g).to(device)
    cand_item = torch.randint(1, NUM_ITEMS, (B,), generator=g).to(device)
    valid = torch.ones(B, L, dtype=torch.bool, device=device)
    current = torch.zeros(B, L, dtype=torch.bool, device=device)
    current[:, -CURRENT:] = True
    return states, cand, table, items, cand_item, valid, current


def run_once(module, inputs, sparse: bool, backward: bool):
    states, cand, table, items, cand_item, valid, current = inputs
    rel = None
    if sparse:  # the relevance PGSA selects with: cosine in the frozen pre-trained item table
        rel = (table[items] @ table[cand_item][:, :, None]).squeeze(-1)  # (B, L)
    out = module(cand, states, valid, current, rel)
    if backward:
        out.sum().backward()
    return out


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def activation_bytes(module, inputs, sparse: bool) -> int:
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run_once(module, inputs, sparse, backward=False)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", nargs="*", type=int, default=[64, 128, 256, 512, 1024, 2048, 4096])
    ap.add_argument("--ks", nargs="*", type=int, default=[32, 64, 128])
    ap.add_argument("--batch", type=int, default=64, help="candidates, each with its own history")
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--n-heads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=1, help="PGSA target-attention blocks")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--smoke", action="store_true", help="two short lengths, few repeats (a check, not a result)")
    args = ap.parse_args()
    if args.smoke:
        args.lengths, args.ks, args.repeats, args.batch = [64, 256], [32], 3, 8
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    methods = {"dense": None, **{f"pgsa_k{k}": k for k in args.ks}}
    modules = {}
    for name, k in methods.items():
        cfg = HPGRConfig(d_model=args.d_model, n_heads=args.n_heads, d_ff=4 * args.d_model, dropout=0.0,
                         attention="dense" if k is None else "sparse", top_k=k or 1, max_current=CURRENT,
                         pgsa_layers=args.layers)
        torch.manual_seed(0)
        modules[name] = PreferenceGuidedSparseAttention(cfg).to(device)
    rows = []
    g = torch.Generator().manual_seed(0)
    for L in args.lengths:
        inputs = make_inputs(args.batch, L, args.d_model, device, g)
        fwd = {n: [] for n in methods}
        train = {n: [] for n in methods}
        for rep in range(args.repeats + 2):  # 2 warm-up rounds; methods interleaved in every round
            for name, k in methods.items():
                m = modules[name]
                with torch.no_grad():
                    sync(device)
                    t0 = time.perf_counter()
                    run_once(m, inputs, k is not None, backward=False)
                    sync(device)
                    t1 = time.perf_counter()
                m.zero_grad(set_to_none=True)
                inputs[0].grad = inputs[1].grad = None
                t2 = time.perf_counter()
                run_once(m, inputs, k is not None, backward=True)
                sync(device)
                t3 = time.perf_counter()
                if rep >= 2:
                    fwd[name].append((t1 - t0) * 1000)
                    train[name].append((t3 - t2) * 1000)
        dense_fwd = statistics.median(fwd["dense"])
        for name, k in methods.items():
            m = modules[name]
            timing = {"fwd_ms": round(statistics.median(fwd[name]), 3),
                      "train_ms": round(statistics.median(train[name]), 3),
                      "activation_mib": round(activation_bytes(m, inputs, k is not None) / 2**20, 3)}
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
                run_once(m, inputs, k is not None, backward=True)
                torch.cuda.synchronize()
                timing["peak_mib"] = round((torch.cuda.max_memory_allocated() - base) / 2**20, 3)
            timing["speedup_fwd"] = round(dense_fwd / statistics.median(fwd[name]), 3)
            attended = L if k is None else min(k, L) + min(CURRENT, L)
            rows.append({"dataset": f"synthetic-L{L}", "model": "hpgr", "variant": name, "seed": 0,
                         "metrics": {"attended_keys": attended}, "timing": timing,
                         "config": {"history_len": L, "top_k": k, "batch": args.batch, "d_model": args.d_model,
                                    "n_heads": args.n_heads, "layers": args.layers, "current_session": CURRENT,
                                    "device": device, "repeats": args.repeats}})
            print(rows[-1]["dataset"], name, timing, flush=True)
    notes = (f"{args.batch} candidates, each with its own history of L tokens (d={args.d_model}, {args.n_heads} heads, "
             f"{args.layers} PGSA block(s)); the last {CURRENT} tokens are the current session. dense = attention "
             "over all L; pgsa_kK = cosine relevance in a frozen item table + top-K + current session, gather, "
             "attention over W = K + 8. fwd_ms / train_ms = median latency (inference / forward+backward); "
             "activation_mib = tensors autograd saves for backward; peak_mib = CUDA peak allocation of a "
             "forward+backward (GPU runs only). Methods interleaved per repeat, one run, the machine below.")
    path = write_results("pgsa_efficiency", rows, out_dir=args.results, notes=notes,
                         command="python benchmarks/pgsa_efficiency.py " + " ".join(sys.argv[1:]))
    plot(rows, path.with_suffix(".png"))


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for variant in dict.fromkeys(r["variant"] for r in rows):
        rs = [r for r in rows if r["variant"] == variant]
        L = [r["config"]["history_len"] for r in rs]
        for ax, key in zip(axes, ("fwd_ms", "train_ms", "activation_mib")):
            ax.plot(L, [r["timing"][key] for r in rs], marker="o", label=variant)
    for ax, title in zip(axes, ("forward (ms)", "forward + backward (ms)", "activation memory (MiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("history length L")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(out)  # atomic
    print(f"plot written to {out}", flush=True)


if __name__ == "__main__":
    main()
