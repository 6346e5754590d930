"""The static-shape decoding step (hgrec.decoding.step): preallocated caches give the attention of growing ones,
and compiled decoding gives the eager slates, slate for slate, on checkpoints trained on real data."""

import pytest
import torch

from hgrec.decoding.slates import slate_generator
from hgrec.decoding.step import compile_decoders, is_compiled
from hgrec.nn import KVCache, StaticCaches, TransformerBlock
from hgrec.nn.blocks import decode_step, make_norm, prefill_cross


def test_static_caches_give_the_attention_of_growing_caches_and_survive_reorders():
    torch.manual_seed(0)
    blocks = torch.nn.ModuleList(TransformerBlock(16, 2, 32, cross=True, cross_first=True) for _ in range(2)).eval()
    norm = make_norm("rms", 16)
    R, group, S, steps = 3, 2, 7, 4
    C = torch.randn(R, S, 16)
    pad = torch.zeros(R, S, dtype=torch.bool)
    pad[0, :3] = True  # a left-padded context
    pad[2, :] = True  # a row without context at all
    grow, grow_x = [KVCache() for _ in blocks], [KVCache() for _ in blocks]
    static, static_x = StaticCaches.for_blocks(blocks, R * group, steps), [KVCache() for _ in blocks]
    prefill_cross(blocks, static_x, C, pad)
    with torch.no_grad():
        for t in range(steps):
            x = torch.randn(R * group, 1, 16)
            h = x
            for b, c, cx in zip(blocks, grow, grow_x):
                h = b(h, causal=True, context=C, context_padding=pad, cache=c, cross_cache=cx, cross_group=group)
            want = norm(h[:, 0])
            got = decode_step(blocks, norm, x, static, static_x, pad, group)
            static.advance()
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
            index = torch.tensor([1, 0, 3, 2, 5, 4])  # beams swap within their user
            for c in grow:
                c.reorder(index)
            static.reorder(index)
    assert int(static.pos) == steps
    with pytest.raises(ValueError, match="one new position"):
        static[0].append(torch.zeros(6, 2, 2, 8), torch.zeros(6, 2, 2, 8))


def test_compile_needs_a_cached_semantic_id_decoder():
    with pytest.raises(TypeError, match="no cached decoder"):
        compile_decoders(torch.nn.Linear(2, 2))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """HiGR, TIGER and OneRec-style trained briefly on the embedded KuaiRand-Pure sample (real data)."""
    from hgrec.pipelines import load_for_eval
    from tests.sample_runs import sample_codes, train_sample

    out = tmp_path_factory.mktemp("compiled")
    codes = sample_codes(out)
    models = {"higr": {"slate_layers": 2, "item_layers": 1}, "tiger": {"decoder_layers": 2},
              "onerec": {"decoder_layers": 2}}
    runs = {name: load_for_eval(train_sample(out, name, {"name": name, **size}, codes)) for name, size in models.items()}
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("name", ["higr", "tiger", "onerec"])
def test_compiled_decoding_gives_the_eager_slates_slate_for_slate(trained, name):
    """Slate for slate, up to float-noise ties: the compiler fuses and reorders float operations, so two
    candidates whose log-probabilities agree to ~1e-6 may swap (seen on a loaded 2-core machine: one row in
    ~1,000). Every other row must be identical, and where the model gives item scores (HiGR, TIGER) the
    first item that differs must score the same in both to 1e-4 (a tie, not a different search)."""
    from hgrec.data.batch import context_batch

    cfg, task, model = trained[name]
    ss = task.data.test
    batches = [context_batch(ss.history[i:i + n], ss.history_ts[i:i + n], task.data.user_features[ss.users[i:i + n]])
               for i, n in ((0, len(ss.users)), (0, 1), (5, 3))]  # three batch and context sizes
    scored = name != "onerec"  # OneRec-style scores whole slates: no per-item score to compare
    eager = slate_generator(model, task.trie, 5, 5, exclude_history=True, with_scores=scored)
    want = [eager(b) for b in batches]
    compiled = slate_generator(model, task.trie, 5, 5, exclude_history=True, compile=True, with_scores=scored)
    assert is_compiled(model)
    for b, w in zip(batches, want):
        got = compiled(b)
        (g, gs), (w_, ws) = (got, w) if scored else ((got, None), (w, None))
        differ = (g != w_).any(1)
        assert int(differ.sum()) <= max(1, len(g) // 200), differ.nonzero()[:5]
        for r in differ.nonzero()[:, 0].tolist():
            m = int((g[r] != w_[r]).nonzero()[0])
            if scored:
                torch.testing.assert_close(gs[r, m], ws[r, m], rtol=0, atol=1e-4)
    first = want[0][0] if scored else want[0]
    assert not (first == 0).any()  # full slates: the comparison is not of empty ones
