"""Entry point for preference post-training (HiGR §3.4), single process or under torchrun (DDP):

    python -m hgrec.align --config configs/align/kuairand-pure/orpo.yaml [--resume] [key.path=value ...]

The work is `hgrec.pipelines.align`; this module only reads the command line.
"""

from __future__ import annotations

import argparse
import sys

from hgrec.pipelines import align
from hgrec.training.config import load_config


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Preference post-training (ORPO / DPO / SimPO) of a HiGR checkpoint.")
    ap.add_argument("--config", required=True)
    ap.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    ap.add_argument("overrides", nargs="*", help="key.path=value")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    result = align(cfg, args.resume)
    if result:
        print({k: round(v, 4) for k, v in result["test"].items() if "@" in k})


if __name__ == "__main__":
    sys.exit(main())
