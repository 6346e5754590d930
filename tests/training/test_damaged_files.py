"""Damaged checkpoints, configs and codes files (issue 21): every command that reads them stops with one line
naming the file (and line, key or tensor), never a traceback; weights holding NaN/inf are refused at load."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from hgrec.cli import app
from hgrec.data.errors import DataError
from hgrec.training import checkpoint as ckpt
from hgrec.training.config import ConfigError, load_config


@pytest.fixture(scope="module")
def best(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    r = CliRunner().invoke(app, [
        "train", "--config", "configs/sample/sasrec.yaml", f"trainer.out_dir={out}", "trainer.run_name=r",
        "trainer.epochs=1", "trainer.max_steps=2", "trainer.save_every_steps=2", "model.d_model=16", "model.d_ff=32",
        "trainer.tensorboard=false"])
    assert r.exit_code == 0, r.output
    return out / "r" / "checkpoints" / "step_000002"


@pytest.fixture
def damaged(best, tmp_path):
    return shutil.copytree(best, tmp_path / "ck")


def _weights_cut(d):
    f = d / "model.safetensors"
    f.write_bytes(f.read_bytes()[:1000])


def _weights_empty(d):
    (d / "model.safetensors").write_bytes(b"")


def _weights_bad_header(d):
    f = d / "model.safetensors"
    f.write_bytes(b"\xff" * 8 + f.read_bytes()[8:])


def _weights_nan(d):
    w = load_file(d / "model.safetensors")
    name = sorted(k for k in w if w[k].is_floating_point())[0]
    w[name][0] = float("nan")
    save_file(w, d / "model.safetensors")
    return name


def _config_cut(d):
    f = d / "config.json"
    f.write_bytes(f.read_bytes()[:200])


def _config_not_utf8(d):
    f = d / "config.json"
    f.write_bytes(b'{"x": "\xff"}')


def _config_key_missing(d):
    meta = json.loads((d / "config.json").read_text())
    del meta["run_config"]
    (d / "config.json").write_text(json.dumps(meta))


CASES = [(_weights_cut, r"model\.safetensors: not a readable safetensors file"),
         (_weights_empty, r"model\.safetensors: not a readable safetensors file"),
         (_weights_bad_header, r"model\.safetensors: not a readable safetensors file"),
         (_weights_nan, r"model\.safetensors: tensor '.*' holds 1 NaN/inf value"),
         (_config_cut, r"config\.json:\d+: invalid JSON: .*cut-off"),
         (_config_not_utf8, r"config\.json: not UTF-8 text"),
         (_config_key_missing, r"config\.json: key 'run_config': missing")]


@pytest.mark.parametrize("damage,message", CASES, ids=[c[0].__name__.strip("_") for c in CASES])
def test_damaged_checkpoint_is_one_line_naming_the_file(damaged, damage, message):
    from hgrec.pipelines.load import load_for_eval

    named = damage(damaged)
    with pytest.raises(DataError, match=message) as e:
        load_for_eval(damaged)
    if named:
        assert repr(named) in str(e.value)  # the NaN tensor is named
    for args in (["evaluate", "--checkpoint", str(damaged)],
                 ["recommend", "--checkpoint", str(damaged), "--user", "1"],
                 ["serve", "--checkpoint", str(damaged), "--port", "0"]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.output.startswith("error: ") and len(r.output.strip().splitlines()) <= 2, r.output
        assert "Traceback" not in r.output and str(damaged) in r.output.replace("\n", "")


def test_inf_weights_are_refused_with_the_tensor_named():
    m = torch.nn.Linear(3, 2)
    with torch.no_grad():
        m.bias[1] = float("inf")
    with pytest.raises(DataError, match=r"here: tensor 'bias' holds 1 NaN/inf value\(s\) of 2"):
        ckpt.check_finite(m, "here")


def test_damaged_trainer_state_is_named(damaged):
    f = damaged / "trainer.pt"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(DataError, match=r"trainer\.pt: cannot load .*damaged or cut-off"):
        ckpt.load_trainer_state(damaged)


@pytest.mark.parametrize("text,message", [
    (b"model:\n  name: sasrec\n  d_model: [16\n", r"c\.yaml:\d+: not valid YAML"),
    (b"model:\n  name: sas\xffrec\n", r"c\.yaml:2: not UTF-8 text \(byte 0xff\)"),
    (b"- model\n- data\n", r"c\.yaml: expected a mapping of sections"),
])
def test_damaged_config_is_one_line_naming_file_and_line(tmp_path, text, message):
    from hgrec.pipelines.tokenize import load_tokenize_config

    (tmp_path / "c.yaml").write_bytes(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match=message):
        load_tokenize_config(tmp_path / "c.yaml")
    r = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "c.yaml")])
    assert r.exit_code == 2 and r.output.startswith("error: ") and "Traceback" not in r.output, r.output


def test_damaged_codes_parquet_is_named(tmp_path):
    from hgrec.data import load_dataset
    from hgrec.tokenizers.codes import read_codes

    ds = load_dataset("sample")
    (tmp_path / "codes.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"codes\.parquet: not a readable parquet file"):
        read_codes(tmp_path / "codes.parquet", ds)


def test_damaged_predictions_file_is_named(tmp_path):
    (tmp_path / "a.parquet").write_bytes(b"PAR1\x00\x01cut")
    (tmp_path / "b.parquet").write_bytes(b"PAR1\x00\x01cut")
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "a.parquet: not a readable parquet file" in r.output.replace("\n", "")
