"""`hgrec train` from the command line: overrides, TensorBoard scalars, checkpoint layout, clean errors."""

import json

import torch
from typer.testing import CliRunner

from hgrec.cli import app


def test_train_cli_writes_the_run(tmp_path):
    r = CliRunner().invoke(app, [
        "train", "--config", "configs/sample/sasrec.yaml", f"trainer.out_dir={tmp_path}", "trainer.run_name=r",
        "trainer.epochs=1", "trainer.max_steps=4", "trainer.save_every_steps=2", "model.d_model=16", "model.d_ff=32",
    ])
    assert r.exit_code == 0, r.output
    run = tmp_path / "r"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000002", "step_000004"]
    step = run / "checkpoints" / "step_000004"
    assert {p.name for p in step.iterdir()} == {"model.safetensors", "config.json", "trainer.pt"}
    state = torch.load(step / "trainer.pt", weights_only=True)  # no pickled objects
    assert state["train_state"]["global_step"] == 4
    meta = json.loads((step / "config.json").read_text())
    assert meta["model_name"] == "sasrec" and meta["run_config"]["model"]["d_model"] == 16
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert len((run / "train_log.jsonl").read_text().splitlines()) == 4
    assert "test metrics" in r.output and "ndcg@10" in r.output


def test_train_writes_the_test_predictions_its_metrics_come_from(tmp_path):
    import polars as pl

    r = CliRunner().invoke(app, [
        "train", "--config", "configs/sample/sasrec.yaml", f"trainer.out_dir={tmp_path}", "trainer.run_name=r",
        "trainer.epochs=2", "model.d_model=16", "model.d_ff=32", "trainer.tensorboard=false",
    ])
    assert r.exit_code == 0, r.output
    test = json.loads((tmp_path / "r" / "metrics.json").read_text())["test"]
    p = pl.read_parquet(tmp_path / "r" / "test_predictions.parquet")
    assert p.height == test["users"]
    hits = [len(set(t) & set(rk[:10])) / len(t) for t, rk in zip(p["truth"].to_list(), p["ranked"].to_list())]
    assert abs(sum(hits) / len(hits) - test["recall@10"]) < 1e-6  # the metrics, recomputed from the file


def test_train_cli_bad_override_is_a_clean_error(tmp_path):
    r = CliRunner().invoke(app, ["train", "--config", "configs/sample/sasrec.yaml", "trainer.lrr=1"])
    assert r.exit_code == 2 and "trainer.lrr: unknown key" in r.output and "Traceback" not in r.output


def test_a_fresh_run_never_mixes_with_an_old_one(tmp_path):
    args = ["train", "--config", "configs/sample/sasrec.yaml", f"trainer.out_dir={tmp_path}", "trainer.run_name=r",
            "trainer.epochs=1", "trainer.max_steps=2", "model.d_model=16", "model.d_ff=32"]
    assert CliRunner().invoke(app, args).exit_code == 0
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and "already holds a run" in r.output and "--resume" in r.output
    r = CliRunner().invoke(app, args + ["trainer.overwrite=true", "trainer.lr=1e-4"])
    assert r.exit_code == 0, r.output
    assert len((tmp_path / "r" / "train_log.jsonl").read_text().splitlines()) == 2  # the old log is gone


def test_resume_refuses_a_different_model(tmp_path):
    from hgrec.train import main

    args = ["--config", "configs/sample/sasrec.yaml", f"trainer.out_dir={tmp_path}", "trainer.run_name=r",
            "trainer.epochs=1", "trainer.max_steps=2", "trainer.save_every_steps=1", "model.d_model=16",
            "model.d_ff=32", "trainer.tensorboard=false"]
    main(args)
    import pytest

    with pytest.raises(ValueError, match="model config differs from the checkpoint"):
        main(["--resume"] + args[:-3] + ["model.d_model=32", "model.d_ff=32", "trainer.tensorboard=false"])


def test_files_written_atomically_are_world_readable(tmp_path):
    import os
    import stat

    from hgrec.utils.atomic import atomic_write_text

    umask = os.umask(0)
    os.umask(umask)
    atomic_write_text(tmp_path / "x.json", "{}")
    assert stat.S_IMODE(os.stat(tmp_path / "x.json").st_mode) == 0o666 & ~umask  # not mkstemp's 0600


def test_resume_with_no_checkpoint_says_so(tmp_path, capsys):
    from hgrec.train import main

    main(["--config", "configs/sample/sasrec.yaml", "--resume", f"trainer.out_dir={tmp_path}", "trainer.run_name=r",
          "trainer.epochs=1", "trainer.max_steps=1", "model.d_model=16", "model.d_ff=32", "trainer.tensorboard=false"])
    assert "--resume found no checkpoint" in capsys.readouterr().err


def test_resume_reads_a_checkpoint_of_an_older_hgrec(tmp_path):
    """Older checkpoints lack config fields added since (they ran at the default) and hold one RNG state."""
    from hgrec.train import main

    args = ["--config", "configs/sample/sasrec.yaml", f"trainer.out_dir={tmp_path}", "trainer.run_name=r",
            "trainer.epochs=1", "trainer.save_every_steps=1", "model.d_model=16", "model.d_ff=32",
            "trainer.tensorboard=false"]
    main(args + ["trainer.max_steps=2"])
    step = tmp_path / "r" / "checkpoints" / "step_000002"
    meta = json.loads((step / "config.json").read_text())
    del meta["run_config"]["data"]["session_gap_min"]  # a field this checkpoint's hgrec did not have yet
    (step / "config.json").write_text(json.dumps(meta))
    state = torch.load(step / "trainer.pt", weights_only=True)
    state["rng_torch"], state["rng_cuda"] = state["rng_torch"][0], state["rng_cuda"][0]  # the pre-DDP layout
    torch.save(state, step / "trainer.pt")
    main(["--resume"] + args + ["trainer.max_steps=3"])
    assert torch.load(tmp_path / "r" / "checkpoints" / "step_000003" / "trainer.pt",
                      weights_only=True)["train_state"]["global_step"] == 3
    import pytest

    with pytest.raises(ValueError, match="data config differs"):  # a different value is still refused
        main(["--resume"] + args + ["trainer.max_steps=4", "data.session_gap_min=5"])
