"""Checkpoint loading: ``TensorNames`` templates, ``ModelLoader`` and ``from_pretrained``."""

from litegen.loading.checkpoint import Checkpoint
from litegen.loading.loader import ModelLoader, TensorNames
from litegen.loading.pretrained import config_from_pretrained, from_pretrained

__all__ = ["Checkpoint", "ModelLoader", "TensorNames", "config_from_pretrained", "from_pretrained"]
