"""Model families: how a HuggingFace ``model_type`` maps onto litegen's building blocks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litegen.authoring.config import AttentionConfig, BlockConfig, ModelConfig
from litegen.errors import UnsupportedModelError
from litegen.loading.loader import TensorNames
from litegen.models.hf_config import HFConfig


@dataclass(frozen=True)
class Family:
    """A model family: builds a :class:`ModelConfig` from config.json, names its tensors."""

    name: str
    model_types: tuple[str, ...]
    build_config: Callable[[HFConfig], ModelConfig]
    tensor_names: TensorNames


# model_type -> family; filled by the family modules when litegen.models is imported.
FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    for model_type in family.model_types:
        FAMILIES[model_type] = family
    return family


def get_family(model_type: str | None) -> Family:
    """The family for ``model_type``; :class:`UnsupportedModelError` if there is none."""
    family = FAMILIES.get(model_type or "")
    if family is None:
        raise UnsupportedModelError(
            f"model_type {model_type!r} has no litegen model family; supported: "
            f"{', '.join(sorted(FAMILIES))}"
        )
    return family


def attention_config(hf: HFConfig, **overrides: Any) -> AttentionConfig:
    """Heads, kv heads, head dim and RoPE from config.json, plus family specifics."""
    rope = hf.rope(default_partial=overrides.pop("default_partial_rotary", 1.0))
    fields: dict[str, Any] = {
        "num_heads": hf.num_heads,
        "num_kv_heads": hf.num_kv_heads,
        "head_dim": hf.head_dim,
        **rope,
    }
    fields.update(overrides)
    return AttentionConfig(**fields)


def decoder_config(
    hf: HFConfig, name: str, block: BlockConfig, windows: list[int | None], **fields: Any
) -> ModelConfig:
    """A ModelConfig with one block per layer differing only in sliding window."""

    def windowed(w: int | None) -> BlockConfig:
        return dataclasses.replace(block, attn=dataclasses.replace(block.attn, sliding_window=w))

    blocks: BlockConfig | tuple[BlockConfig, ...] = (
        windowed(windows[0]) if len(set(windows)) == 1 else tuple(windowed(w) for w in windows)
    )
    return ModelConfig(
        vocab_size=hf.get_int("vocab_size"),
        embedding_dim=hf.hidden_size,
        num_layers=hf.get_int("num_hidden_layers"),
        block_configs=blocks,
        kv_cache_max_len=hf.max_context(),
        name=name,
        **fields,
    )
