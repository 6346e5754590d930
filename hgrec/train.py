"""Entry point for training, single process or under torchrun (DDP):

    python -m hgrec.train --config configs/amazon-beauty/sasrec.yaml [--resume] [key.path=value ...]
    torchrun --nproc-per-node 8 -m hgrec.train --config ...

The work is `hgrec.pipelines.train`; this module only reads the command line.
"""

from __future__ import annotations

import argparse
import sys

from hgrec.pipelines import train
from hgrec.training.config import load_config


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Train any registered hgrec model.")
    ap.add_argument("--config", required=True)
    ap.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    ap.add_argument("overrides", nargs="*", help="key.path=value")
    args = ap.parse_args(argv)
    result = train(load_config(args.config, args.overrides), args.resume)
    if result:
        print({k: round(v, 4) for k, v in result["test"].items() if "@" in k or k in ("mrr", "auc", "gauc", "logloss")})


if __name__ == "__main__":
    sys.exit(main())
