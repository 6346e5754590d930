"""Models, one file each, registered by name (`hgrec.models.registry`)."""

from hgrec.models import (  # noqa: F401  (registration)
    bert4rec, din, higr, hpgr, hstu, hstu_ctr, listcvae, mtgr, onerec, sasrec, tiger,
)
from hgrec.models.registry import MODELS, build_model, model_config

__all__ = ["MODELS", "build_model", "model_config"]
