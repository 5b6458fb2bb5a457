"""TFLite schema helpers: dtypes, operator codes and the builtin-options union.

The flatbuffer bindings themselves are the generated ones that ship with ai-edge-litert
(``ai_edge_litert.schema_py_generated``); this module only adds the lookups the writer
needs on top of them, with errors that name the offending value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from litegen.errors import ExportError

__all__ = [
    "DType",
    "DTypeLike",
    "builtin_op_code",
    "builtin_op_name",
    "options_union",
    "pack_int4",
    "resolve_dtype",
    "schema",
]


@dataclass(frozen=True)
class DType:
    """A TFLite tensor element type.

    ``numpy`` is None for types numpy cannot represent (int4, bfloat16); their constant
    data is passed as raw bytes (``uint8``/``int8`` arrays, ``bytes``).
    """

    name: str
    tensor_type: int
    bits: int
    numpy: np.dtype[Any] | None

    def nbytes(self, num_elements: int) -> int:
        """Bytes needed to store ``num_elements`` packed values (int4 packs two per byte)."""
        return (num_elements * self.bits + 7) // 8

    def __str__(self) -> str:
        return self.name


DTypeLike = DType | str | np.dtype[Any] | type

_T = schema.TensorType
_DTYPES: tuple[DType, ...] = (
    DType("float32", _T.FLOAT32, 32, np.dtype(np.float32)),
    DType("float16", _T.FLOAT16, 16, np.dtype(np.float16)),
    DType("bfloat16", _T.BFLOAT16, 16, None),
    DType("float64", _T.FLOAT64, 64, np.dtype(np.float64)),
    DType("int64", _T.INT64, 64, np.dtype(np.int64)),
    DType("int32", _T.INT32, 32, np.dtype(np.int32)),
    DType("int16", _T.INT16, 16, np.dtype(np.int16)),
    DType("int8", _T.INT8, 8, np.dtype(np.int8)),
    DType("int4", _T.INT4, 4, None),
    DType("uint64", _T.UINT64, 64, np.dtype(np.uint64)),
    DType("uint32", _T.UINT32, 32, np.dtype(np.uint32)),
    DType("uint16", _T.UINT16, 16, np.dtype(np.uint16)),
    DType("uint8", _T.UINT8, 8, np.dtype(np.uint8)),
    DType("bool", _T.BOOL, 8, np.dtype(np.bool_)),
)
_BY_NAME: dict[str, DType] = {d.name: d for d in _DTYPES}
_BY_NAME.update(
    {
        "f32": _BY_NAME["float32"],
        "f16": _BY_NAME["float16"],
        "half": _BY_NAME["float16"],
        "bf16": _BY_NAME["bfloat16"],
        "f64": _BY_NAME["float64"],
        "i64": _BY_NAME["int64"],
        "i32": _BY_NAME["int32"],
        "i16": _BY_NAME["int16"],
        "i8": _BY_NAME["int8"],
        "i4": _BY_NAME["int4"],
        "u8": _BY_NAME["uint8"],
    }
)
_BY_NUMPY: dict[np.dtype[Any], DType] = {d.numpy: d for d in _DTYPES if d.numpy is not None}


def resolve_dtype(dtype: DTypeLike) -> DType:
    """Map a numpy dtype, numpy scalar type or name (``"int4"``, ``"float32"``) to a DType."""
    if isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, str):
        # Names first: numpy has no int4/bfloat16 and would reject or misread them.
        found = _BY_NAME.get(dtype.lower())
        if found is not None:
            return found
    try:
        npd = np.dtype(dtype)
    except TypeError:
        npd = None
    if npd is not None:
        found = _BY_NUMPY.get(npd.newbyteorder("="))
        if found is not None:
            return found
    supported = ", ".join(d.name for d in _DTYPES)
    raise ExportError(f"dtype {dtype!r} is not supported by the TFLite writer (use: {supported})")


def pack_int4(values: np.ndarray) -> np.ndarray:
    """Pack int4 values (-8..7) two per byte, element 2i in the low nibble, as TFLite reads them.

    The tensor is flattened in row-major order; an odd element count leaves the last high
    nibble zero. Returns a ``uint8`` array of ``ceil(n / 2)`` bytes.
    """
    flat = np.asarray(values).reshape(-1)
    if flat.size and (flat.min() < -8 or flat.max() > 7):
        raise ExportError("pack_int4: values must lie in [-8, 7]")
    nibbles = (flat.astype(np.int16) & 0xF).astype(np.uint8)
    if nibbles.size % 2:
        nibbles = np.concatenate([nibbles, np.zeros(1, np.uint8)])
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8)


_OPERATORS: dict[str, int] = {
    name: code
    for name, code in vars(schema.BuiltinOperator).items()
    if not name.startswith("_") and isinstance(code, int)
}
_OPERATOR_NAMES: dict[int, str] = {code: name for name, code in _OPERATORS.items()}


def builtin_op_code(op: str | int) -> int:
    """Resolve a builtin operator name (``"FULLY_CONNECTED"``) or code to its code."""
    if isinstance(op, str):
        code = _OPERATORS.get(op.upper())
        if code is None:
            raise ExportError(f"unknown builtin operator {op!r}")
    else:
        code = int(op)
        if code not in _OPERATOR_NAMES:
            raise ExportError(f"unknown builtin operator code {code}")
    if code == schema.BuiltinOperator.CUSTOM:
        raise ExportError("CUSTOM is not a builtin operator: use add_custom_op()")
    return code


def builtin_op_name(code: int) -> str:
    """Name of a builtin operator code (for messages)."""
    return _OPERATOR_NAMES.get(code, f"<builtin {code}>")


def _union_members(union: type, slot: int) -> dict[type, tuple[int, int]]:
    members: dict[type, tuple[int, int]] = {}
    for name, value in vars(union).items():
        if name.startswith("_") or name == "NONE" or not isinstance(value, int):
            continue
        # Each union member ``XOptions`` has an object-API class ``XOptionsT``.
        members[getattr(schema, name + "T")] = (slot, value)
    return members


# options class -> (1 for builtin_options / 2 for builtin_options_2, union type value)
_OPTIONS_UNION: dict[type, tuple[int, int]] = {
    **_union_members(schema.BuiltinOptions, 1),
    **_union_members(schema.BuiltinOptions2, 2),
}


def options_union(options: object) -> tuple[int, int]:
    """Which union an object-API options instance belongs to: ``(1 or 2, union type)``."""
    found = _OPTIONS_UNION.get(type(options))
    if found is None:
        raise ExportError(
            f"{type(options).__name__} is not a BuiltinOptions/BuiltinOptions2 object-API class "
            "(expected e.g. schema.FullyConnectedOptionsT())"
        )
    return found
