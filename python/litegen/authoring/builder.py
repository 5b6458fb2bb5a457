"""Layer builders in the seed's ``builder`` style."""

from __future__ import annotations

from litegen.authoring.attention import Attention
from litegen.authoring.feed_forward import FeedForward
from litegen.authoring.model import build_model
from litegen.authoring.norms import build_norm
from litegen.authoring.rope import RotaryEmbedding

__all__ = ["Attention", "FeedForward", "RotaryEmbedding", "build_model", "build_norm"]
