"""``from_pretrained``: a HuggingFace checkpoint directory -> a loaded litegen model."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from litegen.authoring.config import ModelConfig
from litegen.authoring.model import DecoderModel
from litegen.errors import CheckpointError, ConfigError
from litegen.loading.loader import ModelLoader


def read_hf_config(hf_dir: str | Path) -> dict:
    """The parsed ``config.json`` of a checkpoint directory."""
    path = Path(hf_dir) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{hf_dir} has no config.json (is it a HuggingFace checkpoint?)")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot parse {path}: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return data


def config_from_pretrained(hf_dir: str | Path) -> ModelConfig:
    """The litegen :class:`ModelConfig` for a checkpoint directory (no weights read)."""
    from litegen.models import HFConfig, get_family

    hf = HFConfig(read_hf_config(hf_dir), source=str(Path(hf_dir) / "config.json"))
    return get_family(hf.model_type).build_config(hf)


def from_pretrained(
    hf_dir: str | Path,
    *,
    dtype: torch.dtype = torch.float32,
    kv_cache_max_len: int | None = None,
    fused_projections: bool | None = None,
    progress: bool = True,
    strict: bool = True,
) -> DecoderModel:
    """Build the litegen model for a HuggingFace checkpoint directory and load its weights.

    ``config.json``'s ``model_type`` picks the family. ``kv_cache_max_len`` is the context
    the model is built for (default: the checkpoint's, capped at 4096); ``fused_projections``
    forces fused (True) or split (False) qkv and gate/up projections (default: the family's
    layout). Raises :class:`UnsupportedModelError`, :class:`ConfigError` or
    :class:`CheckpointError` naming the field or tensor at fault.
    """
    from litegen.models import HFConfig, get_family

    hf = HFConfig(read_hf_config(hf_dir), source=str(Path(hf_dir) / "config.json"))
    family = get_family(hf.model_type)
    config = family.build_config(hf)
    if kv_cache_max_len is not None:
        config = config.replace(kv_cache_max_len=kv_cache_max_len)
    if fused_projections is not None:
        config = config.with_fused_projections(fused_projections)
    model = DecoderModel.empty(config, dtype=dtype)
    ModelLoader(hf_dir, family.tensor_names, progress=progress).load(model, strict=strict)
    return model.requires_grad_(False)
