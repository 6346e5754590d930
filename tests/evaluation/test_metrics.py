"""Metrics against hand-computed cases, scikit-learn, and a direct top-K implementation."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import ndcg_score, roc_auc_score

from hgrec.evaluation.metrics import auc, coverage, gauc, logloss, ranking_metrics, ranks_of_truth


def test_hand_computed_multi_item_truth():
    # catalogue 0..5 (0 = padding, masked); ranking by score: 3, 1, 5, 2, 4
    scores = torch.tensor([[-math.inf, 0.8, 0.3, 0.9, 0.1, 0.5]])
    truth = torch.tensor([[1, 4, 0]])  # |truth| = 2
    ranks = ranks_of_truth(scores, truth)
    assert ranks.tolist() == [[2, 5, 0]]
    m = ranking_metrics(ranks, ks=(1, 3, 5))
    assert m["hit@1"][0] == 0 and m["hit@3"][0] == 1
    assert m["recall@3"][0] == 0.5 and m["recall@5"][0] == 1.0
    assert m["ndcg@3"][0] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert m["ndcg@5"][0] == pytest.approx((1 / math.log2(3) + 1 / math.log2(6)) / (1 + 1 / math.log2(3)))
    assert m["mrr"][0] == 0.5


def test_ties_break_by_item_id_like_topk():
    scores = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    assert ranks_of_truth(scores, torch.tensor([[3]])).item() == 3
    assert ranks_of_truth(scores, torch.tensor([[1]])).item() == 1


def test_masked_truth_is_never_hit():
    scores = torch.tensor([[-math.inf, -math.inf, 0.5, 0.2]])
    assert ranks_of_truth(scores, torch.tensor([[1]])).item() == 5
    assert ranking_metrics(ranks_of_truth(scores, torch.tensor([[1]])), ks=(3,))["hit@3"][0] == 0


def test_against_topk_and_sklearn_ndcg():
    g = torch.Generator().manual_seed(0)
    B, N, M, K = 64, 50, 4, 10
    scores = torch.randn(B, N, generator=g)
    scores[:, 0] = -math.inf
    truth = torch.randint(1, N, (B, M), generator=g)
    truth[:, 3] = 0
    truth[:, 1] = torch.where(truth[:, 1] == truth[:, 0], 0, truth[:, 1])  # keep truth sets duplicate-free
    truth[:, 2] = torch.where((truth[:, 2] == truth[:, 0]) | (truth[:, 2] == truth[:, 1]), 0, truth[:, 2])
    m = ranking_metrics(ranks_of_truth(scores, truth), ks=(K,))
    top = scores.topk(K, dim=1).indices
    for b in range(B):
        t = set(truth[b][truth[b] > 0].tolist())
        inter = [i for i in top[b].tolist() if i in t]
        assert m[f"hit@{K}"][b] == float(bool(inter))
        assert m[f"recall@{K}"][b] == pytest.approx(len(inter) / len(t))
        rel = np.zeros((1, N - 1))
        rel[0, [i - 1 for i in t]] = 1
        # sklearn's NDCG with binary relevance equals ours when |truth| <= K
        assert m[f"ndcg@{K}"][b] == pytest.approx(ndcg_score(rel, scores[b, 1:][None].numpy(), k=K))


def test_ctr_metrics_against_sklearn():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 30, 2000)
    y = rng.integers(0, 2, 2000)
    s = rng.random(2000) + 0.3 * y
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s))
    expect_num = expect_den = 0.0
    for u in np.unique(users):
        m = users == u
        if 0 < y[m].sum() < m.sum():
            expect_num += roc_auc_score(y[m], s[m]) * m.sum()
            expect_den += m.sum()
    assert gauc(users, y, s) == pytest.approx(expect_num / expect_den)
    p = np.clip(s / s.max(), 0.01, 0.99)
    assert logloss(y, p) == pytest.approx(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def test_coverage():
    assert coverage(np.array([[1, 2], [2, 3], [0, 0]]), num_items=10) == 0.3


def test_repeated_truth_items_count_once_and_ndcg_stays_below_one():
    scores = torch.tensor([[-math.inf, 0.9, 0.1, 0.2]])
    m = ranking_metrics(ranks_of_truth(scores, torch.tensor([[1, 1]])), ks=(5,))
    assert m["ndcg@5"][0] == 1.0 and m["recall@5"][0] == 1.0


def test_nan_scores_never_hit():
    scores = torch.tensor([[-math.inf, float("nan"), 0.1, 0.2]])
    r = ranks_of_truth(scores, torch.tensor([[1]]))
    assert r.item() == 5 and ranking_metrics(r, ks=(3,))["hit@3"][0] == 0


def test_top_k_order_matches_ranks_with_ties():
    from hgrec.evaluation.metrics import top_k

    scores = torch.tensor([[-math.inf, 0.5, 0.9, 0.5, 0.5, 0.1]])
    assert top_k(scores, 4).tolist() == [[2, 1, 3, 4]]
    for pos, item in enumerate(top_k(scores, 4)[0].tolist(), 1):
        assert ranks_of_truth(scores, torch.tensor([[item]])).item() == pos
