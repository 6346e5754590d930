"""The compiled decoding step: one function that every semantic-ID decoder runs, compiled once.

    compile_decoders(model)                                  # in place; returns the model
    slate_generator(model, trie, 5, beam=5, compile=True)    # the same, from the one slate entry point

Every cached decoder of hgrec — HiGR's slate planner and item generator (GSBI), TIGER's item decoder
and the OneRec-style flat decoder — runs one new position per step through
`hgrec.nn.blocks.decode_step` (its blocks on their KV caches, then the final norm). Its inputs have
static shapes: the self-attention caches are preallocated for the whole decode (`StaticCaches`:
(rows x beam, steps) written in place at a position held in a tensor), the cross-attention keys, values
and padding mask over the context are computed once before the first step (`prefill_cross`), and the
trie mask is a gather from the trie's precomputed tables (`hgrec.decoding.beam`). Nothing in a step
reads a value back to the host, so the step compiles into one graph per decoder stack with
`torch.compile` (inductor: the blocks' small matmuls, norms and attention fused into a few kernels,
no Python between layers), and on a GPU is captured as a CUDA graph (`mode="reduce-overhead"`) and
replayed. The same compiled step serves GSBI, OneRec-style beam search and TIGER, so speed
comparisons between them stay fair; the beam bookkeeping around it (top-k, reorders) is shared eager
code in `hgrec.decoding`.

Compilation costs time on first use: "default" compiles one graph per decoder stack with dynamic batch and
context sizes (about a minute on a small CPU); "max-autotune" compiles per shape (minutes each) and is
the faster step. `benchmarks/slate_efficiency.py` reports both the time and the speed. Compiled and eager decoding give the same slates
(tests/decoding/test_compiled.py compares them on real checkpoints, slate for slate).
"""

from __future__ import annotations

import torch
from torch import nn

from hgrec.nn.blocks import decode_step


MODES = ("default", "max-autotune", "reduce-overhead")


def compile_options(mode: str, on_gpu: bool) -> dict:
    """torch.compile's arguments for `mode`. On CPU every mode freezes the weights (inference only: they become
    constants of the graph, and linear layers get prepacked oneDNN weights); "max-autotune" also generates C++
    GEMM kernels for the step's small matrices (much faster at batch 1, minutes of compilation, static shapes).
    On a GPU "reduce-overhead" captures the step as a CUDA graph."""
    if mode not in MODES:
        raise ValueError(f"compile mode must be one of {MODES}, got {mode!r}")
    if on_gpu:
        return {"mode": mode}
    options = {"freezing": True}
    if mode == "max-autotune":
        options |= {"max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN"}
        return {"options": options, "dynamic": False}
    return {"options": options, "dynamic": True}  # one graph for every batch and context size


def compile_decoders(model: nn.Module, mode: str | None = None) -> nn.Module:
    """Swap a compiled `decode_step` into every decoder stack of `model` (modules with a `stepper`).
    `mode` (`MODES`): default "reduce-overhead" (CUDA graphs) on a GPU, "default" on CPU."""
    on_gpu = any(p.is_cuda for p in model.parameters())
    if mode is None:
        mode = "reduce-overhead" if on_gpu else "default"
    kwargs = compile_options(mode, on_gpu)
    # one compiled entry per decoder stack and shape class: more than dynamo's default of 8 for a model with
    # non-shared generators
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    stacks = [m for m in model.modules() if hasattr(m, "stepper")]
    if not stacks:
        raise TypeError(f"{type(model).__name__} has no cached decoder to compile (no module with a `stepper`)")
    for m in stacks:
        m.stepper = torch.compile(decode_step, **kwargs)
    model.compiled_decoding = mode
    return model


def is_compiled(model: nn.Module) -> bool:
    return getattr(model, "compiled_decoding", None) is not None
