"""Slate models end to end on the embedded KuaiRand slice: semantic IDs -> train -> GSBI -> metrics."""

import numpy as np
import pytest
import torch

from hgrec.training.config import load_config


@pytest.fixture(scope="module")
def codes_path(tmp_path_factory):
    from hgrec.pipelines.tokenize import load_tokenize_config, tokenize

    out = tmp_path_factory.mktemp("tok")
    run = load_tokenize_config(raw={"data": {"dataset": "sample"}, "items": {"sources": ["collab"]},
                                    "tokenizer": {"method": "rq_kmeans", "codebook_size": 32}, "out_dir": str(out)})
    return tokenize(run, log=lambda *a: None)["out"] + "/codes.parquet"


def _cfg(tmp_path, codes_path, model, extra=()):
    import yaml

    raw = yaml.safe_load(open("configs/sample/higr.yaml"))
    raw["model"] = {"name": model, "n_heads": 2}
    return load_config(raw=raw, overrides=[
        f"data.semantic_ids={codes_path}", f"trainer.out_dir={tmp_path}", "trainer.run_name=r",
        "trainer.epochs=1", "trainer.max_steps=12", "trainer.save_every_steps=12", "trainer.tensorboard=false", "trainer.eval_batch_size=1024",
        "model.d_model=32", "model.d_ff=64", *extra])


@pytest.mark.parametrize("model,extra", [
    ("higr", ["model.slate_layers=2", "model.item_layers=1"]),
    ("onerec", ["model.decoder_layers=2"]),
])
@pytest.mark.slow
def test_slate_model_trains_and_generates_valid_slates_on_real_data(tmp_path, codes_path, model, extra):
    from hgrec.pipelines import make_task, train

    cfg = _cfg(tmp_path, codes_path, model, extra)
    result = train(cfg)
    test = result["test"]
    for k in ("hit@5", "recall@5", "ndcg@5", "impressions/hit@5", "diversity@5", "coverage@5"):
        assert 0.0 <= test[k] <= 1.0, (k, test[k])
    assert test["samples"] > 1000 and test["impressions/samples"] >= test["samples"]
    log = [r for r in map(eval, (tmp_path / "r" / "train_log.jsonl").read_text().replace("NaN", "float('nan')")
                          .splitlines()) if "train/loss" in r]
    assert log[-1]["train/loss"] < log[0]["train/loss"]  # it learns

    # the checkpoint carries its semantic IDs: reload and decode with the task's trie
    from hgrec.pipelines.load import load_for_eval

    step = sorted((tmp_path / "r" / "checkpoints").iterdir())[-1]
    _, task, m = load_for_eval(step)
    assert torch.equal(m.sid.codes[1:], torch.from_numpy(task.codes))
    ss = task.data.test.subset(np.arange(64))
    from hgrec.decoding.slates import slate_generator

    batch = {"history": torch.from_numpy(ss.history), "history_ts": torch.from_numpy(ss.history_ts),
             "user_features": torch.from_numpy(task.data.user_features[ss.users])}
    slates = slate_generator(m, task.trie, 5, 5, exclude_history=True)(batch).numpy()
    assert ((slates >= 1) & (slates <= task.data.num_items)).all()
    assert all(len(set(s)) == 5 and not set(s) & set(h[h > 0]) for s, h in zip(slates, ss.history))
    assert make_task(cfg).meta == task.meta


def test_slate_model_without_semantic_ids_is_a_clean_error(tmp_path):
    from hgrec.pipelines import train

    cfg = load_config("configs/sample/higr.yaml", ["data.semantic_ids=null", f"trainer.out_dir={tmp_path}"])
    with pytest.raises(ValueError, match="needs semantic IDs"):
        train(cfg)
