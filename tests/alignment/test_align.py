"""`hgrec align` on the embedded KuaiRand slice: real pairs checked against the raw log, a few
post-training steps from a tiny pre-trained HiGR, resume, DPO's reference, clean config errors."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import yaml
from typer.testing import CliRunner

from hgrec.alignment.pairs import KINDS, preference_pairs, sid_neighbours
from hgrec.cli import app
from hgrec.training import checkpoint as ckpt
from hgrec.training.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
TINY = {"name": "higr", "d_model": 32, "n_heads": 2, "d_ff": 64, "context_layers": 1, "slate_layers": 1,
        "item_layers": 1, "dropout": 0.1}


@pytest.fixture(scope="module")
def init(tmp_path_factory):
    """Semantic IDs for the sample, and a HiGR trained for a few steps, saved as a checkpoint."""
    from hgrec.models import build_model
    from hgrec.pipelines.tokenize import load_tokenize_config, tokenize
    from hgrec.pipelines import make_task

    out = tmp_path_factory.mktemp("align")
    cache = out / "cache"
    run = load_tokenize_config(raw={"data": {"dataset": "sample", "cache": str(cache)},
                                    "items": {"sources": ["collab"]},
                                    "tokenizer": {"method": "rq_kmeans", "codebook_size": 32}, "out_dir": str(out)})
    codes = tokenize(run, log=lambda *a: None)["out"] + "/codes.parquet"
    raw = {"model": TINY, "data": {"dataset": "sample", "cache": str(cache), "semantic_ids": codes,
                                   "train_samples": "every_item", "beam": 1},
           "trainer": {"out_dir": str(out / "runs"), "batch_size": 128, "ks": [5], "metric": "ndcg@5",
                       "tensorboard": False, "progress": False, "num_threads": 1, "eval_batch_size": 2048}}
    cfg = load_config(raw=raw)
    task = make_task(cfg)
    torch.manual_seed(0)
    model = build_model("higr", cfg.model, **task.meta)
    task.init_model(model)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(15):
        loss, n = model(task.train_batch(np.arange(step * 128, (step + 1) * 128), "cpu"))
        opt.zero_grad()
        (loss / n).backward()
        opt.step()
    path = out / "pretrained" / "best"
    ckpt.save_checkpoint(path, model, {"model_name": "higr", "run_config": cfg.to_dict(), "dataset_meta": task.meta,
                                       "task": "slate"})
    return {"raw": raw, "path": path, "task": task, "out": out}


def _align_yaml(init, tmp_path, method="orpo", **trainer):
    raw = json.loads(json.dumps(init["raw"]))
    raw["trainer"].update(out_dir=str(tmp_path), lr=1e-3, warmup_steps=2, **trainer)
    raw["alignment"] = {"method": method, "init": str(init["path"])}
    p = tmp_path / f"{method}-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


def test_pairs_on_the_embedded_kuairand_slice_agree_with_the_raw_log(init):
    task = init["task"]
    ds, ss, codes = task.ds, task.data.train, task.codes
    p = preference_pairs(ds, ss, codes, {"ranking": 1, "interest": 1, "repetition": 1}, seed=0)
    assert len(p) > 0.5 * len(ss)
    counts = p.counts()
    assert all(abs(counts[k] / len(p) - 1 / 3) < 0.05 for k in KINDS)
    n = (p.chosen > 0).sum(1)
    assert (n >= 2).all() and ((p.rejected > 0).sum(1) == n).all()
    assert not (p.rejected == p.chosen).all(1).any()  # never y- == y+
    assert all(len(set(r[r > 0])) == len(r[r > 0]) for r in p.rejected)  # no item twice in a slate
    df = ds.interactions.with_row_index("row")
    rng = np.random.default_rng(0)
    nb = sid_neighbours(codes, 5)
    for i in rng.choice(len(p), 60, replace=False):
        s = p.sample[i]
        u, cut = int(ss.users[s]), int(ss.cut[s])
        log = df.filter(pl.col("user_id") == u)
        eff = log.filter(pl.col("effective"))
        target = ss.effective[s][ss.effective[s] > 0]  # every_item: S^u[cut:cut+k], cut at the training region
        window = eff[cut:cut + len(target)]
        assert window["item_id"].to_list() == list(target)
        assert set(p.chosen[i][p.chosen[i] > 0]) == set(target)
        # y+ is the window re-ranked by watch ratio (capped at 2) + 2 * (like + follow), descending
        strength = (window["watch_ratio"].fill_null(0).clip(0, 2) + 2 * window["liked"].cast(float)
                    + 2 * window["followed"].cast(float)).to_list()
        first = {}
        for item, st in zip(window["item_id"].to_list(), strength):
            first.setdefault(item, st)
        got = [first[x] for x in p.chosen[i][: n[i]]]
        assert got == sorted(got, reverse=True)
        end_row = window["row"].max()
        changed = p.rejected[i][(p.rejected[i] != p.chosen[i]) & (p.rejected[i] > 0)]
        if KINDS[p.kind[i]] == "interest":
            seen = log.filter(pl.col("row") <= end_row)
            negatives = seen.filter(pl.col("hated") | (~pl.col("effective") & ~pl.col("liked") & ~pl.col("followed")))
            from_log = [x for x in changed if x in set(negatives["item_id"].to_list())]
            assert len(from_log) == len(changed) - p.from_fallback[i]  # the rest: popular items never shown
            assert not set(changed) - set(from_log) & set(seen["item_id"].to_list())
        elif KINDS[p.kind[i]] == "repetition":
            anchor = p.chosen[i][0]
            assert p.rejected[i][0] == anchor and list(p.rejected[i][1:n[i]]) == list(nb[anchor, :n[i] - 1]) or \
                list(p.rejected[i][1:n[i]]) == list(nb[anchor, 1:n[i]])
        else:
            assert sorted(p.rejected[i]) == sorted(p.chosen[i])


def _log(run_dir):
    return [json.loads(x) for x in (run_dir / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_align_cli_runs_resumes_exactly_and_writes_a_plain_higr_checkpoint(init, tmp_path):
    runner = CliRunner()
    cfg = _align_yaml(init, tmp_path, save_every_steps=2, epochs=1)
    a = runner.invoke(app, ["align", "--config", str(cfg), "trainer.run_name=a", "trainer.max_steps=4"])
    assert a.exit_code == 0, a.output
    out = " ".join(a.output.split())
    assert "test metrics (higr + orpo on sample)" in out and "reference forward passes: 0" in out
    # b: 2 steps, then --resume to 4: the same losses as the uninterrupted run
    b = runner.invoke(app, ["align", "--config", str(cfg), "trainer.run_name=b", "trainer.max_steps=2"])
    assert b.exit_code == 0, b.output
    b2 = runner.invoke(app, ["align", "--config", str(cfg), "--resume", "trainer.run_name=b", "trainer.max_steps=4"])
    assert b2.exit_code == 0, b2.output
    la, lb = _log(tmp_path / "a"), _log(tmp_path / "b")
    loss = lambda log: [(r["step"], r["train/loss"]) for r in log if "train/loss" in r]  # noqa: E731
    assert [s for s, _ in loss(lb)] == [1, 2, 3, 4]
    for (sa, xa), (sb, xb) in zip(loss(la), loss(lb)):
        assert sa == sb and xb == pytest.approx(xa, rel=1e-6)
    acc = [r["align/accuracy"] for r in la if "align/accuracy" in r]
    assert len(acc) == 4 and all(0 <= x <= 1 for x in acc)
    summary = json.loads((tmp_path / "a" / "alignment.json").read_text())
    assert summary["reference_forwards"] == 0 and summary["policy_forwards"] == 4 and summary["pairs"] > 1000
    # the checkpoint is an ordinary HiGR checkpoint: evaluate / recommend load it as is
    from hgrec.pipelines.load import load_for_eval

    step = ckpt.step_dirs(tmp_path / "a")[-1]
    cfg_loaded, task, model = load_for_eval(step)
    assert type(model).__name__ == "HiGR" and cfg_loaded.alignment.method == "orpo"
    init_model = load_for_eval(init["path"])[2]
    assert any(not torch.equal(x, y) for x, y in zip(model.state_dict().values(), init_model.state_dict().values()))
    assert torch.equal(model.sid.codes, init_model.sid.codes)  # post-training moved the weights, not the codes
    # resuming with another alignment section is refused
    r = runner.invoke(app, ["align", "--config", str(cfg), "--resume", "trainer.run_name=b", "alignment.alpha=0.5"])
    assert r.exit_code == 2 and "alignment config differs" in r.output


def test_dpo_runs_its_frozen_reference_once_per_step(init, tmp_path):
    from hgrec.pipelines import align

    cfg = load_config(_align_yaml(init, tmp_path, method="dpo"), ["trainer.max_steps=2", "trainer.run_name=d"])
    assert cfg.alignment.beta == 0.1  # the DPO paper's default when none is given
    result = align(cfg)
    assert result["alignment"]["reference_forwards"] == 2 and np.isfinite(result["test"]["ndcg@5"])


def test_config_errors_are_clean(init, tmp_path):
    from hgrec.pipelines import align

    def run(*over, path=None):
        return align(load_config(path or _align_yaml(init, tmp_path), list(over)))

    with pytest.raises(ConfigError, match=r"alignment\.metod: unknown key; known: .*method"):
        run("alignment.metod=dpo")
    with pytest.raises(ConfigError, match="alignment.method must be one of orpo, dpo, simpo"):
        run("alignment.method=ppo")
    with pytest.raises(ConfigError, match="alignment.init: missing"):
        run("alignment.init=null")
    with pytest.raises(ConfigError, match="alignment.init: no checkpoint at"):
        run(f"alignment.init={tmp_path / 'nowhere'}")
    other = tmp_path / "sasrec"
    ckpt.save_checkpoint(other, torch.nn.Linear(1, 1), {"model_name": "sasrec", "run_config": {}, "dataset_meta": {}})
    with pytest.raises(ConfigError, match="holds a 'sasrec' checkpoint; alignment post-trains HiGR"):
        run(f"alignment.init={other}")
    with pytest.raises(ConfigError, match=r"model\.d_model: 48 here but 32 in the checkpoint"):
        run("model.d_model=48")
    r = CliRunner().invoke(app, ["train", "--config", str(_align_yaml(init, tmp_path))])
    assert r.exit_code == 2 and "hgrec align" in r.output and "Traceback" not in r.output
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(init["raw"]))
    r = CliRunner().invoke(app, ["align", "--config", str(plain)])
    assert r.exit_code == 2 and "alignment: missing section" in r.output


@pytest.mark.parametrize("method", ["orpo", "dpo", "simpo"])
def test_shipped_align_configs_post_train_the_shipped_higr(method):
    higr = yaml.safe_load((ROOT / "configs/slates/kuairand-pure/higr.yaml").read_text())
    path = ROOT / f"configs/align/kuairand-pure/{method}.yaml"
    assert path.read_text().startswith(f"# hgrec align --config configs/align/kuairand-pure/{method}.yaml")
    cfg = load_config(path)
    base = load_config(raw=higr)
    assert cfg.model == base.model and cfg.data == base.data and cfg.alignment.method == method
    assert cfg.alignment.init == "runs/kuairand-pure-higr-s0/best"  # where `hgrec train` puts that config's best
