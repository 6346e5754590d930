"""RQ-KMeans, collisions, trie and SID metrics: invariants on small fixtures and a real-data slice."""

import numpy as np
import pytest
import torch

from hgrec.tokenizers import PrefixTrie, RQKMeans, RQKMeansConfig, codebook_stats, collision_rate, disambiguate
from hgrec.tokenizers.metrics import concentration, neighbour_pairs


def test_disambiguate_makes_codes_unique():
    codes = np.array([[1, 2], [1, 2], [3, 4], [1, 2], [3, 4], [0, 0]])
    out = disambiguate(codes)
    assert out.shape == (6, 3)
    assert len(np.unique(out, axis=0)) == 6
    assert out[:, 2].tolist() == [0, 1, 0, 2, 1, 0]
    assert collision_rate(codes) == pytest.approx(1 - 3 / 6) and collision_rate(out) == 0


def test_trie_holds_exactly_the_valid_codes():
    rng = np.random.default_rng(0)
    codes = disambiguate(rng.integers(0, 4, (200, 3)))
    trie = PrefixTrie(codes)
    t = torch.from_numpy(codes)
    assert trie.contains(t).all()
    assert trie.items_of(t).tolist() == list(range(1, 201))
    everything = torch.cartesian_prod(*[torch.arange(k) for k in trie.vocab_sizes])
    valid = {tuple(c) for c in codes.tolist()}
    expect = torch.tensor([tuple(c) in valid for c in everything.tolist()])
    assert torch.equal(trie.contains(everything), expect)  # nothing more, nothing less
    # allowed[d] agrees with the codes: a batched step from the root
    root = torch.zeros(1, dtype=torch.long)
    assert set(torch.nonzero(trie.allowed[0][root][0]).flatten().tolist()) == set(codes[:, 0].tolist())
    with pytest.raises(ValueError, match="not unique"):
        PrefixTrie(np.array([[1, 1], [1, 1]]))


def test_rq_kmeans_reduces_residuals_and_reconstructs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 16)).astype(np.float32)
    rq = RQKMeans(RQKMeansConfig(levels=3, codebook_size=16, niter=10)).fit(x)
    codes, norms = rq.encode(x)
    assert codes.shape == (2000, 3) and codes.max() < 16
    assert (np.diff(norms.mean(0)) < 0).all()  # every level removes error
    err = np.linalg.norm(rq.reconstruct(codes) - x, axis=1).mean()
    assert err < np.linalg.norm(x - x.mean(0), axis=1).mean()
    stats = codebook_stats(codes, 16)
    assert all(0 < s["utilisation"] <= 1 and 1 <= s["perplexity"] <= 16 for s in stats)


def test_concentration_on_neighbour_pairs():
    v = np.array([[1, 0], [0.99, 0.1], [0, 1], [0.1, 0.99]], dtype=np.float32)
    pairs = neighbour_pairs(v, 0.8)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (2, 3)]
    assert concentration(np.array([5, 5, 7, 8]), pairs) == 0.5


def test_rq_kmeans_on_real_kuairand_collaborative_vectors(load):
    from hgrec.items import cooccurrence_embeddings

    ds = load("sample")
    v = cooccurrence_embeddings(ds, dim=32)
    has = np.abs(v).sum(1) > 0
    assert has.mean() > 0.45  # 48 %: the rest are never an effective training item
    in_session = np.abs(cooccurrence_embeddings(ds, dim=32, scope="session")).sum(1) > 0
    assert in_session.mean() < 0.25  # 21 %: 30-minute sessions are too short on KuaiRand (docstring)
    rq = RQKMeans(RQKMeansConfig(levels=2, codebook_size=32, niter=10)).fit(v[has])
    codes, _ = rq.encode(v[has])
    assert collision_rate(codes) < 0.9 and len(np.unique(codes[:, 0])) > 16
