"""Model introspection for ``litegen inspect``: signatures, operators, weights, bundle
metadata and tokenizer, read from the file without torch (runtime dependencies only)."""

from litegen.inspection.report import ModelReport, TokenizerSummary, inspect_model
from litegen.inspection.tflite_reader import (
    SignatureInfo,
    TensorInfo,
    TFLiteInfo,
    WeightInfo,
    layer_index,
    read_tflite,
)

__all__ = [
    "ModelReport",
    "SignatureInfo",
    "TFLiteInfo",
    "TensorInfo",
    "TokenizerSummary",
    "WeightInfo",
    "inspect_model",
    "layer_index",
    "read_tflite",
]
