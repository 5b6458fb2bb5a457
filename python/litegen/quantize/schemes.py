"""Quantization schemes: how one weight is stored in the .tflite file and computed with.

A :class:`QuantScheme` is a weight format plus its parameters. The names below are the
ones users type (``--quant``, recipe strings); :func:`scheme_from_name` parses them.

========================  =================================================================
name                      stored as / computed as
========================  =================================================================
``fp32`` (``none``)       float32 weights
``fp16``                  float16 weights + DEQUANTIZE; XNNPack feeds the fp16 weights
                          straight into its GEMM (half the bytes of fp32)
``int8``                  int8, one symmetric scale per output row; the kernel quantizes
                          the float activations per row on the fly ("dynamic range",
                          TFLite hybrid; XNNPack qd8 x qc8w)
``int8-weight-only``      int8 per row + DEQUANTIZE: float compute. XNNPack unpacks the
                          weights to float32 when it loads the model, so this saves file
                          size only, not memory or time
``int4-ch``               int4 (packed two per byte), one scale per output row, dynamic
                          range like ``int8``
``int4`` / ``int4-bN``    int4 blockwise: one float16 scale per ``N`` consecutive inputs of
                          a row (N a multiple of 32; ``int4`` = ``int4-b32``), dynamic range
========================  =================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from litegen.quantize.errors import RecipeError

__all__ = [
    "DEFAULT_INT4_BLOCK_SIZE",
    "FP16",
    "FP32",
    "INT4_B32",
    "INT4_B64",
    "INT4_B128",
    "INT4_CHANNEL",
    "INT8",
    "INT8_WEIGHT_ONLY",
    "SCHEME_NAMES",
    "QuantScheme",
    "WeightFormat",
    "scheme_from_name",
]

# XNNPack's blockwise kernels (qb4w) reject block sizes that are not a multiple of 32.
BLOCK_SIZE_MULTIPLE = 32
# Block 32 keeps the error lowest; larger blocks trade accuracy for fewer scales.
DEFAULT_INT4_BLOCK_SIZE = 32


class WeightFormat(str, Enum):
    """Storage/compute form of a weight (the value is the scheme name without parameters)."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"
    INT8_WEIGHT_ONLY = "int8-weight-only"
    INT4_CHANNEL = "int4-ch"
    INT4_BLOCK = "int4-block"


_STORAGE_BITS = {
    WeightFormat.FP32: 32,
    WeightFormat.FP16: 16,
    WeightFormat.INT8: 8,
    WeightFormat.INT8_WEIGHT_ONLY: 8,
    WeightFormat.INT4_CHANNEL: 4,
    WeightFormat.INT4_BLOCK: 4,
}


@dataclass(frozen=True)
class QuantScheme:
    """A weight format plus its parameters; compare and hash by value."""

    format: WeightFormat
    block_size: int | None = None  # INT4_BLOCK only: inputs per scale

    def __post_init__(self) -> None:
        fmt = WeightFormat(self.format)
        object.__setattr__(self, "format", fmt)
        if fmt is WeightFormat.INT4_BLOCK:
            bs = self.block_size
            if (
                not isinstance(bs, int)
                or isinstance(bs, bool)
                or bs <= 0
                or bs % BLOCK_SIZE_MULTIPLE
            ):
                raise RecipeError(
                    f"int4 block size must be a positive multiple of {BLOCK_SIZE_MULTIPLE} "
                    f"(XNNPack's blockwise kernels need it), got {bs!r}"
                )
        elif self.block_size is not None:
            raise RecipeError(f"scheme {fmt.value} takes no block size")

    @property
    def name(self) -> str:
        """Canonical name, accepted by :func:`scheme_from_name` (``int4-b64``, ``int8``...)."""
        if self.format is WeightFormat.INT4_BLOCK:
            return f"int4-b{self.block_size}"
        return self.format.value

    @property
    def storage_bits(self) -> int:
        """Bits per stored weight element, scales not counted."""
        return _STORAGE_BITS[self.format]

    @property
    def is_quantized(self) -> bool:
        """True for the integer formats (their scales come with the weight)."""
        return self.storage_bits <= 8

    @property
    def dynamic_range(self) -> bool:
        """True when the kernel also quantizes the activations (int8 / int4 compute)."""
        return self.format in (
            WeightFormat.INT8,
            WeightFormat.INT4_CHANNEL,
            WeightFormat.INT4_BLOCK,
        )

    def __str__(self) -> str:
        return self.name


FP32 = QuantScheme(WeightFormat.FP32)
FP16 = QuantScheme(WeightFormat.FP16)
INT8 = QuantScheme(WeightFormat.INT8)
INT8_WEIGHT_ONLY = QuantScheme(WeightFormat.INT8_WEIGHT_ONLY)
INT4_CHANNEL = QuantScheme(WeightFormat.INT4_CHANNEL)
INT4_B32 = QuantScheme(WeightFormat.INT4_BLOCK, 32)
INT4_B64 = QuantScheme(WeightFormat.INT4_BLOCK, 64)
INT4_B128 = QuantScheme(WeightFormat.INT4_BLOCK, 128)

_ALIASES: dict[str, QuantScheme] = {
    "none": FP32,
    "fp32": FP32,
    "float32": FP32,
    "f32": FP32,
    "fp16": FP16,
    "float16": FP16,
    "f16": FP16,
    "int8": INT8,
    "int8-dynamic": INT8,
    "int8-weight-only": INT8_WEIGHT_ONLY,
    "int8-wo": INT8_WEIGHT_ONLY,
    "int4": QuantScheme(WeightFormat.INT4_BLOCK, DEFAULT_INT4_BLOCK_SIZE),
    "int4-ch": INT4_CHANNEL,
    "int4-channel": INT4_CHANNEL,
}
# The names to offer users (CLI help, messages); scheme_from_name accepts a few aliases more.
SCHEME_NAMES: tuple[str, ...] = (
    "none",
    "fp16",
    "int8",
    "int8-weight-only",
    "int4",
    "int4-b32",
    "int4-b64",
    "int4-b128",
    "int4-ch",
)
_BLOCK_NAME = re.compile(r"int4-b(?:lock)?(\d+)")


def scheme_from_name(name: str) -> QuantScheme:
    """Parse a scheme name (case-insensitive; ``_`` may stand for ``-``).

    Raises:
        RecipeError: unknown name or invalid block size.
    """
    if isinstance(name, QuantScheme):
        return name
    if not isinstance(name, str):
        raise RecipeError(f"a quantization scheme name must be a string, got {name!r}")
    key = name.strip().lower().replace("_", "-")
    found = _ALIASES.get(key)
    if found is not None:
        return found
    m = _BLOCK_NAME.fullmatch(key)
    if m:
        return QuantScheme(WeightFormat.INT4_BLOCK, int(m.group(1)))
    known = ", ".join(SCHEME_NAMES)
    raise RecipeError(f"unknown quantization scheme {name!r} (known: {known}; int4 = int4-b32)")
