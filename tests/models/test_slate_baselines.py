import pytest
import torch
import torch.nn.functional as F

from hgrec.decoding.slates import slate_generator
from hgrec.models import build_model
from hgrec.tokenizers.trie import PrefixTrie
from tests.models.test_higr import VOCAB, _batch, _codes, _train

SMALL = {"d_model": 32, "n_heads": 2, "d_ff": 64, "context_layers": 1, "decoder_layers": 2, "dropout": 0.0}


def _model(name, n=24, seed=0):
    torch.manual_seed(seed)
    m = build_model(name, SMALL, num_items=n, max_len=6, slate_size=3, sid_vocab=VOCAB, feature_vocab=[3, 4])
    m.sid.set_codes(_codes(n, seed))
    return m


def test_onerec_loss_is_the_flat_token_cross_entropy():
    m = _model("onerec").eval()
    batch = _batch(24)
    loss, n = m(batch)
    C, pad = m.encode_context(batch)
    manual = 0.0
    for b in range(5):
        items = batch["target"][b][batch["target"][b] > 0]
        flat = m.sid.codes[items].reshape(1, -1)  # (1, m*D)
        h = m.decode(m.embed(torch.cat([flat.new_zeros(1, 1), flat[:, :-1]], 1), 0), C[b:b + 1], pad[b:b + 1])
        for t in range(flat.shape[1]):
            manual -= F.log_softmax(m.heads[t % len(VOCAB)](h[0, t]), -1)[flat[0, t]].item()
    assert int(n) == (batch["target"] > 0).sum() * len(VOCAB)
    assert loss.item() == pytest.approx(manual, rel=1e-5)


@pytest.mark.parametrize("name", ["tiger", "onerec"])
@pytest.mark.parametrize("beam", [1, 4])
def test_slates_are_valid_distinct_and_cache_independent(name, beam):
    n = 24
    m = _train(_model(name), _batch(n), steps=30)
    trie = PrefixTrie(m.sid.codes[1:].numpy(), vocab_sizes=VOCAB)
    batch = _batch(n, seed=5)
    a = slate_generator(m, trie, 6, beam)(batch)
    b = slate_generator(m, trie, 6, beam, use_cache=False)(batch)
    assert torch.equal(a, b)
    assert ((a >= 1) & (a <= n)).all() and all(len(set(s.tolist())) == 6 for s in a)
    ex = slate_generator(m, trie, 6, beam, exclude_history=True)(batch)
    for s, h in zip(ex, batch["history"]):
        assert not set(s.tolist()) & set(h[h > 0].tolist())


def test_trained_onerec_reproduces_its_training_slate():
    n = 24
    batch = _batch(n)
    m = _train(_model("onerec"), batch, steps=80)
    trie = PrefixTrie(m.sid.codes[1:].numpy(), vocab_sizes=VOCAB)
    out = slate_generator(m, trie, 3, beam=3)(batch)
    full = batch["target"][:, 0] > 0
    assert (out[:, 0] == batch["target"][:, 0])[full].float().mean() >= 0.8
