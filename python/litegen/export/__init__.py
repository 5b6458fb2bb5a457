"""Export to TFLite/LiteRT.

- :mod:`~litegen.export.api`: ``signature(...).signature(...).convert().export(path)`` and
  the one-shot ``convert(hf_dir, out_path)`` (also ``litegen.signature`` /
  ``litegen.convert``); :mod:`~litegen.export.signatures` traces each signature with
  ``torch.export``; :mod:`~litegen.export.converter` lowers them into one model.
- :mod:`~litegen.export.lowering`: ATen ops -> TFLite ops (one module per op group;
  :mod:`~litegen.export.lowering.attention` holds the fast/portable attention forms).
- :mod:`~litegen.export.weights`: parameters streamed to the file, one buffer each, and the
  quantization hook; :mod:`~litegen.export.tflite_writer`: the flatbuffer writer.

This package must stay importable without torch: the flatbuffer writer is used by tests
and tools that only need numpy. Names are resolved lazily so that ``import
litegen.export`` itself costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litegen.export.api import ConvertedModel, SignatureBuilder, convert, signature
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
    "ConvertedModel": "litegen.export.api",
    "SignatureBuilder": "litegen.export.api",
    "convert": "litegen.export.api",
    "signature": "litegen.export.api",
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
    "ConvertedModel",
    "DType",
    "ModelWriter",
    "Quantization",
    "SignatureBuilder",
    "SubgraphWriter",
    "TensorHandle",
    "convert",
    "pack_int4",
    "resolve_dtype",
    "signature",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'litegen.export' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
