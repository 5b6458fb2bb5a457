"""Authoring API: configs, transformer building blocks, custom ops and the KV cache."""

from litegen.authoring import ops
from litegen.authoring.attention import Attention
from litegen.authoring.block import TransformerBlock
from litegen.authoring.config import (
    AttentionConfig,
    BlockConfig,
    FeedForwardConfig,
    ModelConfig,
    NormConfig,
    RopeScalingConfig,
)
from litegen.authoring.feed_forward import FeedForward
from litegen.authoring.kv_cache import KVCache
from litegen.authoring.model import DecoderModel, build_model
from litegen.authoring.norms import LayerNorm, RMSNorm, build_norm
from litegen.authoring.rope import RotaryEmbedding, apply_rope

__all__ = [
    "Attention",
    "AttentionConfig",
    "BlockConfig",
    "DecoderModel",
    "FeedForward",
    "FeedForwardConfig",
    "KVCache",
    "LayerNorm",
    "ModelConfig",
    "NormConfig",
    "RMSNorm",
    "RopeScalingConfig",
    "RotaryEmbedding",
    "TransformerBlock",
    "apply_rope",
    "build_model",
    "build_norm",
    "ops",
]
