"""Model families and the ``model_type`` registry used by ``litegen.from_pretrained``."""

from litegen.models import gemma, gemma2, llama, phi, phi3, qwen2, qwen3  # noqa: F401 (register)
from litegen.models.hf_config import HFConfig
from litegen.models.registry import FAMILIES, Family, get_family, register

__all__ = ["FAMILIES", "Family", "HFConfig", "get_family", "register"]
