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


def test_train_cli_bad_override_is_a_clean_error(tmp_path):
    r = CliRunner().invoke(app, ["train", "--config", "configs/sample/sasrec.yaml", "trainer.lrr=1"])
    assert r.exit_code == 2 and "trainer.lrr: unknown key" in r.output and "Traceback" not in r.output
