"""litegen: author LLMs in PyTorch, export them to LiteRT/TFLite, run them on device CPUs.

``import litegen`` stays light and works without torch: the runtime needs only numpy and
ai-edge-litert, while the authoring and export parts (torch) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> module defining it, imported on first attribute access.
_LAZY_ATTRIBUTES: dict[str, str] = {
    "Generator": "litegen.generate.generator",
    "Model": "litegen.runtime.model",
    "convert": "litegen.export.api",
    "from_pretrained": "litegen.loading.pretrained",
    "signature": "litegen.export.api",
    "Tokenizer": "litegen.tokenizer.tokenizer",
}
_NEEDS_TORCH = {"from_pretrained"}

__all__ = sorted(_LAZY_ATTRIBUTES)


def __getattr__(name: str) -> Any:
    module_name = _LAZY_ATTRIBUTES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'litegen' has no attribute {name!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if name in _NEEDS_TORCH and e.name == "torch":  # torch is not a runtime dependency
            raise ImportError(
                f"litegen.{name} needs the authoring extras (torch is missing): "
                "pip install 'litegen[export]'"
            ) from e
        raise
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_ATTRIBUTES])
