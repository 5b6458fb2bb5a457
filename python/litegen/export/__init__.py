"""Export to TFLite/LiteRT.

This package must stay importable without torch: the flatbuffer writer
(:mod:`litegen.export.tflite_writer`) is used by tests and tools that only need numpy.
Names are resolved lazily so that ``import litegen.export`` itself costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litegen.export.tflite_schema import DType, pack_int4, resolve_dtype
    from litegen.export.tflite_writer import (
        BlockwiseQuantization,
        BufferSource,
        ModelWriter,
        Quantization,
        SubgraphWriter,
        TensorHandle,
    )

_LAZY = {
    "BlockwiseQuantization": "litegen.export.tflite_writer",
    "BufferSource": "litegen.export.tflite_writer",
    "ModelWriter": "litegen.export.tflite_writer",
    "Quantization": "litegen.export.tflite_writer",
    "SubgraphWriter": "litegen.export.tflite_writer",
    "TensorHandle": "litegen.export.tflite_writer",
    "DType": "litegen.export.tflite_schema",
    "pack_int4": "litegen.export.tflite_schema",
    "resolve_dtype": "litegen.export.tflite_schema",
}

__all__ = [
    "BlockwiseQuantization",
    "BufferSource",
    "DType",
    "ModelWriter",
    "Quantization",
    "SubgraphWriter",
    "TensorHandle",
    "pack_int4",
    "resolve_dtype",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'litegen.export' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
