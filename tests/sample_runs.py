"""Small semantic-ID models trained for a few steps on the embedded KuaiRand-Pure sample (real data): the
checkpoints the decoding and serving tests run on."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sample_codes(out: Path) -> str:
    """RQ-KMeans codes (K = 32) of the sample's collaborative item vectors, written under `out`."""
    from hgrec.pipelines.tokenize import load_tokenize_config, tokenize

    run = load_tokenize_config(raw={"data": {"dataset": "sample"}, "items": {"sources": ["collab"]},
                                    "tokenizer": {"method": "rq_kmeans", "codebook_size": 32}, "out_dir": str(out)})
    return tokenize(run, log=lambda *a: None)["out"] + "/codes.parquet"


def train_sample(out: Path, run_name: str, model: dict, codes: str, overrides: tuple[str, ...] = ()) -> Path:
    """configs/sample/higr.yaml with `model` (d_model 32, 2 heads, FFN 64 unless given), 8 steps -> the checkpoint."""
    import yaml

    from hgrec.pipelines import train
    from hgrec.training.config import load_config

    raw = yaml.safe_load(open(ROOT / "configs/sample/higr.yaml"))
    raw["model"] = {"n_heads": 2, "d_model": 32, "d_ff": 64, **model}
    cfg = load_config(raw=raw, overrides=[
        f"data.semantic_ids={codes}", f"trainer.out_dir={out}", f"trainer.run_name={run_name}", "trainer.epochs=1",
        "trainer.max_steps=8", "trainer.save_every_steps=8", "trainer.tensorboard=false", *overrides])
    train(cfg)
    return sorted((out / run_name / "checkpoints").iterdir())[-1]
