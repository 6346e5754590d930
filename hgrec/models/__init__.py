"""Models, one file each, registered by name (`hgrec.models.registry`)."""

from hgrec.models import bert4rec, higr, hstu, onerec, sasrec, tiger  # noqa: F401  (registration)
from hgrec.models.registry import MODELS, build_model, model_config

__all__ = ["MODELS", "build_model", "model_config"]
