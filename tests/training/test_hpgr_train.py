"""HPGR end to end on the embedded KuaiRand slice: MIM pre-training -> PGSA fine-tuning from its checkpoint
-> `hgrec evaluate` prints the CTR table; the CTR baselines train with the same task."""

import json

import polars as pl
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from hgrec.cli import app
from hgrec.pipelines import train
from hgrec.training.config import ConfigError, load_config

SMALL = ["model.d_model=16", "model.d_ff=32", "model.n_heads=2", "trainer.tensorboard=false", "data.dataset=sample",
         "trainer.eval_batch_size=2048", "trainer.warmup_steps=1", "trainer.lr=3e-3"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = load_config("configs/kuairand/hpgr_pretrain.yaml", SMALL + [
        f"trainer.out_dir={out}", "trainer.epochs=1", "trainer.batch_size=256"])
    result = train(cfg)
    return out / cfg.trainer.run_name, result


def test_pretraining_learns_and_checkpoints_the_item_space(pretrained):
    run, result = pretrained
    log = [json.loads(ln) for ln in (run / "train_log.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in log if "train/loss" in r]
    assert len(losses) == 9 and losses[-1] < losses[0]  # 2,059 windows / 256
    assert (run / "best" / "model.safetensors").exists()
    test = result["test"]
    assert test["targets"] > 1000 and 0 <= test["ndcg@10"] <= test["hit@10"] <= 1


def test_finetuning_starts_from_the_pretrained_checkpoint_and_evaluates(pretrained, tmp_path):
    run, _ = pretrained
    cfg = load_config("configs/kuairand/hpgr_finetune.yaml", SMALL + [
        f"trainer.out_dir={tmp_path}", "trainer.epochs=1", "trainer.max_steps=15", "trainer.save_every_steps=15",
        f"model.pretrained={run / 'best'}"])
    result = train(cfg)
    for split in ("valid", "test"):
        m = result[split]
        assert 0 <= m["auc"] <= 1 and 0 <= m["gauc"] <= 1 and 0 < m["logloss"] < 2 and m["samples"] > 6000
    step = tmp_path / cfg.trainer.run_name / "checkpoints" / "step_000015"
    pre = load_file(str(run / "best" / "model.safetensors"))
    ft = load_file(str(step / "model.safetensors"))
    assert torch.equal(ft["selector_emb"], pre["tokens.item_emb.weight"])  # the frozen pre-trained space
    assert not torch.equal(ft["tokens.item_emb.weight"], pre["tokens.item_emb.weight"])  # fine-tuned copy

    pred = tmp_path / "pred.parquet"
    r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(step), "--predictions", str(pred)])
    assert r.exit_code == 0, r.output
    assert all(k in r.output for k in ("auc", "gauc", "logloss"))
    p = pl.read_parquet(pred)
    assert p.columns == ["user_id", "item_id", "ts", "label", "prob"] and p.height == result["test"]["samples"]
    assert abs(p["prob"].mean() - 0.4) < 0.3


def test_missing_pretrained_checkpoint_is_a_clean_error(tmp_path):
    cfg = load_config("configs/kuairand/hpgr_finetune.yaml", SMALL + [
        f"trainer.out_dir={tmp_path}", f"model.pretrained={tmp_path / 'nope'}"])
    with pytest.raises(ConfigError, match="model.pretrained: .* is not a checkpoint folder"):
        train(cfg)


@pytest.mark.parametrize("config,extra", [
    ("din", []), ("hstu_ctr", []), ("mtgr", []),
    ("hpgr_finetune", ["model.pretrained=null", "model.attention=dense"]),  # w/o pre-training, w/o PGSA
    ("hpgr_finetune", ["model.pretrained=null", "model.sem=false"]),  # w/o pre-training, w/o SEM
])
@pytest.mark.slow
def test_ctr_baselines_and_ablations_train_on_real_data(tmp_path, config, extra):
    small = [o for o in SMALL if not (config == "din" and o.startswith("model.n_heads"))]  # DIN has no heads
    cfg = load_config(f"configs/kuairand/{config}.yaml", small + extra + [
        f"trainer.out_dir={tmp_path}", "trainer.epochs=1", "trainer.max_steps=8"])
    m = train(cfg)["test"]
    assert 0 <= m["auc"] <= 1 and 0 < m["logloss"] < 2 and m["samples"] > 6000
