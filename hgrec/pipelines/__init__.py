"""The glue between the layers: building a run's task, training, preference alignment, tokenizing,
and loading a checkpoint back for evaluation and serving. Everything below (data, nn, models,
tokenizers, decoding, evaluation, training) is usable on its own; the CLI, the server and the
benchmarks call in here. The layering is an import-linter contract in pyproject.toml."""

from hgrec.pipelines.align import align
from hgrec.pipelines.launch import resolve_device, run_dir_for
from hgrec.pipelines.load import load_for_eval
from hgrec.pipelines.tasks import NextItemTask, SlateTask, make_task
from hgrec.pipelines.tokenize import load_tokenize_config, tokenize
from hgrec.pipelines.train import train
from hgrec.training.config import load_config

__all__ = ["NextItemTask", "SlateTask", "align", "load_config", "load_for_eval", "load_tokenize_config",
           "make_task", "resolve_device", "run_dir_for", "tokenize", "train"]
