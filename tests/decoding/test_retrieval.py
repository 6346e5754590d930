"""Semantic-ID models as next-item retrievers (hgrec.decoding.retrieval): the beams are valid items, a beam as
wide as the catalogue is the brute-force ranking by log P(codes | context), HiGR's next-item model is slate
HiGR's modules, and the retrieval task runs on a slice of real Amazon Beauty."""

import numpy as np
import pytest
import torch

from hgrec.decoding.gsbi import gsbi
from hgrec.decoding.retrieval import next_item_beams
from hgrec.evaluation.metrics import ranking_metrics, ranks_of_truth
from hgrec.models.higr import HiGR, HiGRConfig
from hgrec.models.onerec import OneRec, OneRecConfig
from hgrec.models.tiger import TIGER, TIGERConfig
from hgrec.tokenizers.trie import PrefixTrie

N_ITEMS, VOCAB = 14, [4, 3, 2]


def _codes() -> np.ndarray:
    """14 distinct 3-level codes of a 4 x 3 x 2 space, some prefixes with one child only."""
    rng = np.random.default_rng(0)
    space = np.array([(a, b, c) for a in range(4) for b in range(3) for c in range(2)])
    return space[np.sort(rng.choice(len(space), N_ITEMS, replace=False))]


def _model(name: str, slate_size: int = 1):
    torch.manual_seed(1)
    small = dict(d_model=24, n_heads=2, head_dim=16, d_ff=32, context_layers=1, dropout=0.0)
    if name == "tiger":
        m = TIGER(TIGERConfig(**small, decoder_layers=2), N_ITEMS, 8, slate_size, VOCAB)
    elif name == "higr":
        m = HiGR(HiGRConfig(**small, slate_layers=1, item_layers=1), N_ITEMS, 8, slate_size, VOCAB)
    else:
        m = OneRec(OneRecConfig(**small, decoder_layers=2), N_ITEMS, 8, slate_size, VOCAB)
    m.sid.set_codes(_codes())
    return m.eval()


def _batch():
    history = torch.tensor([[0, 0, 3, 5], [1, 2, 7, 9], [0, 0, 0, 4]])
    return {"history": history, "history_ts": torch.arange(4).expand(3, 4) * 60}


def _brute_force_logp(model, batch) -> torch.Tensor:
    """(R, N+1) log P(item) = sum_d log_softmax(teacher-forced logits of level d)[code_d] for every item (0: -inf)."""
    C, pad = model.encode_context(batch)
    R = C.shape[0]
    codes = model.sid.codes[1:]  # (N, D)
    Cr, padr = C.repeat_interleave(N_ITEMS, 0), pad.repeat_interleave(N_ITEMS, 0)
    cr = codes.repeat(R, 1)
    if isinstance(model, TIGER):
        logits = model.decoder(model.sid, model.item_start(len(cr)), cr, Cr, padr)
    elif isinstance(model, HiGR):
        i_hat = model.plan(C.new_zeros(R, 0, C.shape[-1]), C, pad)[:, 0].repeat_interleave(N_ITEMS, 0)
        logits = model.generator(0)(model.sid, i_hat, cr, Cr, padr)
    else:
        tokens = torch.cat([torch.zeros(len(cr), 1, dtype=torch.long), cr[:, :-1]], 1)
        h = model.decode(model.embed(tokens, 0), Cr, padr)
        logits = [model.code_logits(h[:, d], d) for d in range(cr.shape[1])]
    logp = sum(torch.log_softmax(lg.float(), -1).gather(1, cr[:, d:d + 1])[:, 0] for d, lg in enumerate(logits))
    return torch.cat([torch.full((R, 1), -torch.inf), logp.view(R, N_ITEMS)], 1)


@pytest.mark.parametrize("name", ["tiger", "higr", "onerec"])
def test_beams_are_valid_distinct_items_of_the_catalogue(name):
    model, trie = _model(name), PrefixTrie(_codes(), vocab_sizes=VOCAB)
    items, scores = next_item_beams(model, _batch(), trie, n=6, exclude_history=True)
    assert items.shape == (3, 6) and bool((items > 0).all())
    valid = {tuple(c) for c in _codes().tolist()}
    for row, hist in zip(items.tolist(), _batch()["history"].tolist()):
        assert len(set(row)) == 6 and not set(row) & set(hist)
        assert all(tuple(model.sid.codes[i].tolist()) in valid for i in row)
    assert bool((scores[:, :-1] >= scores[:, 1:]).all())  # best first


@pytest.mark.parametrize("name", ["tiger", "higr", "onerec"])
def test_a_beam_as_wide_as_the_catalogue_is_the_brute_force_ranking(name):
    """Width >= catalogue: beam search keeps every prefix, so its ranking, scores and metrics are exact."""
    model, trie, batch = _model(name), PrefixTrie(_codes(), vocab_sizes=VOCAB), _batch()
    with torch.no_grad():
        want = _brute_force_logp(model, batch)
    items, scores = next_item_beams(model, batch, trie, n=N_ITEMS)
    torch.testing.assert_close(scores, want.gather(1, items), rtol=1e-4, atol=1e-5)
    assert bool((want.argsort(1, descending=True)[:, :N_ITEMS] == items).all())
    truth = torch.tensor([[6], [11], [2]])
    beam_ranks = torch.where(items == truth, torch.arange(1, N_ITEMS + 1), N_ITEMS + 1).amin(1, keepdim=True)
    for k, v in ranking_metrics(ranks_of_truth(want, truth), ks=(1, 3, 5)).items():
        np.testing.assert_allclose(ranking_metrics(beam_ranks, ks=(1, 3, 5))[k], v)


def test_next_item_higr_is_slate_higr_with_a_slate_of_one():
    """The same modules (no copy): a slate checkpoint loads strictly into the next-item model, and its top beam is
    GSBI's one-item slate."""
    slate, single = _model("higr", slate_size=5), _model("higr", slate_size=1)
    assert {k: v.shape for k, v in slate.state_dict().items()} == {k: v.shape for k, v in single.state_dict().items()}
    single.load_state_dict(slate.state_dict(), strict=True)
    trie, batch = PrefixTrie(_codes(), vocab_sizes=VOCAB), _batch()
    items, scores = next_item_beams(single, batch, trie, n=5)
    first, first_score = gsbi(slate, batch, trie, slate_size=1, beam=5, with_scores=True)
    assert items[:, 0].tolist() == first[:, 0].tolist()
    torch.testing.assert_close(scores[:, 0], first_score[:, 0])


def test_a_beam_narrower_than_the_metric_cut_off_is_refused(tmp_path):
    from hgrec.pipelines.tasks import RetrievalTask

    task = RetrievalTask.__new__(RetrievalTask)
    task.cfg = type("C", (), {"beam": 5})()
    with pytest.raises(ValueError, match="beam of at least 10"):
        task.evaluate(None, "valid", ks=(5, 10), batch_size=8, device="cpu")


def test_retrieval_trains_and_ranks_on_real_amazon_beauty(data_root, tmp_path):
    """TIGER and HiGR (next-k) on Amazon Beauty: the split is the next-item task's, training targets are the
    next <= M training items, and evaluation writes a predictions file that `hgrec compare` reads."""
    import polars as pl

    from hgrec.pipelines import load_config, train
    from hgrec.pipelines.tokenize import load_tokenize_config, tokenize

    run = load_tokenize_config(raw={"data": {"dataset": "amazon-beauty", "root": str(data_root / "amazon-beauty")},
                                    "items": {"sources": ["collab"]},
                                    "tokenizer": {"method": "rq_kmeans", "levels": 2, "codebook_size": 64},
                                    "out_dir": str(tmp_path)})
    codes = tokenize(run, log=lambda *a: None)["out"] + "/codes.parquet"
    from hgrec.models.registry import build_model
    from hgrec.pipelines.tasks import make_task

    for name, extra in (("tiger", ["model.decoder_layers=1"]), ("higr", ["data.slate_size=3"])):
        cfg = load_config(raw={"model": {"name": name, "d_model": 32, "n_heads": 2, "d_ff": 64, "context_layers": 1},
                               "data": {"dataset": "amazon-beauty", "root": str(data_root / "amazon-beauty"),
                                        "protocol": "next_item", "semantic_ids": codes, "max_len": 20,
                                        "mask_history": True, "slate_size": 1, "beam": 10},
                               "trainer": {"epochs": 1, "max_steps": 6, "save_every_steps": 6, "batch_size": 64, "ks": [5, 10],
                                           "out_dir": str(tmp_path), "run_name": name, "tensorboard": False}},
                          overrides=extra)
        task = make_task(cfg)
        assert task.name == "retrieval"
        # the samples are the training part of the next-item split: never a validation or test item
        held = set(zip(task.data.valid.users.tolist(), task.data.valid.truth[:, 0].tolist()))
        held |= set(zip(task.data.test.users.tolist(), task.data.test.truth[:, 0].tolist()))
        t = task.train
        assert t.target.shape[1] == cfg.data.slate_size and bool((t.target[:, 0] > 0).all())
        pairs = set(zip(np.repeat(t.users, t.target.shape[1]).tolist(), t.target.ravel().tolist()))
        assert not pairs & held
        task.data.test = task.data.test.subset(np.arange(300))
        model = build_model(cfg.model_name, cfg.model, **task.meta)
        task.init_model(model)
        metrics = task.evaluate(model, "test", ks=(5, 10), batch_size=64, device="cpu",
                                predictions=str(tmp_path / f"{name}.parquet"))
        assert 0 <= metrics["recall@5"] <= metrics["recall@10"] <= 1 and metrics["users"] == 300
        pred = pl.read_parquet(tmp_path / f"{name}.parquet")
        assert pred.height == 300 and 1 <= pred["ranked"].list.len().min() and pred["ranked"].list.len().max() <= 10
    # `hgrec train` end to end (the whole validation and test sets)
    result = train(cfg)
    assert result["test"]["users"] == len(make_task(cfg).data.test)
    assert 0 < result["test"]["recall@10"] < 1
    # `hgrec recommend` of a retriever: its top beams, history excluded
    from hgrec.serving.recommend import Recommender

    rec = Recommender.from_checkpoint(sorted((tmp_path / "higr" / "checkpoints").iterdir())[-1])
    users = list(rec.ds.user_map.to_raw(np.array([0, 1])))
    lists = rec.recommend(users, slate_size=5)
    hist = rec.seq.history_batch(np.array([0, 1]), rec.seq.lengths[[0, 1]], 50)
    seen = [set(rec.ds.item_map.to_raw(h[h > 0])) for h in hist]
    assert [len(x) for x in lists] == [5, 5] and all(not set(x) & s for x, s in zip(lists, seen))
