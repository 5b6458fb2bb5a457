"""Values the lowering passes around: runtime tensors of the TFLite subgraph, constants
(plain ``torch.Tensor``), Python scalars and symbolic ints (``torch.SymInt``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from litegen.export.tflite_writer import TensorHandle

Dim = int | torch.SymInt
# How a runtime tensor's bytes relate to its logical (torch) value. ``v_transposed``: a
# portable V cache stored as [B, Hkv, D, S] (LiteRT-LM's layout) for a logical [B, Hkv, S, D].
Layout = Literal["plain", "v_transposed"]


@dataclass(frozen=True, eq=False)
class RTensor:
    """A tensor computed at run time in the subgraph being written.

    ``shape`` is the logical (torch) shape; SymInt dims are dynamic (-1 in the file).
    ``deps`` (fast form only): dependency tokens of the in-place cache writes whose
    result this value stands for; only ``litegen::sdpa`` may read such a value.
    """

    handle: TensorHandle
    shape: tuple[Dim, ...]
    dtype: torch.dtype
    layout: Layout = "plain"
    deps: tuple[TensorHandle, ...] = ()

    @property
    def rank(self) -> int:
        return len(self.shape)


# A lowered node's result: runtime tensor, constant, scalar, symbolic int, or a list of them.
Value = RTensor | torch.Tensor | int | float | bool | torch.SymInt | list | None


def static_int(d: object) -> int | None:
    """``d`` as a Python int if it is known at export time, else None."""
    if isinstance(d, bool):
        return int(d)
    if isinstance(d, int):
        return d
    if isinstance(d, torch.SymInt):
        expr = d.node.expr
        return int(expr) if expr.is_number else None
    return None


def is_static_shape(shape: tuple[Dim, ...]) -> bool:
    return all(static_int(d) is not None for d in shape)


def file_shape(shape: tuple[Dim, ...]) -> tuple[int, ...]:
    """The shape written to the file: static dims as they are, dynamic ones as -1."""
    out = []
    for d in shape:
        s = static_int(d)
        out.append(-1 if s is None else s)
    return tuple(out)


def same_shape(a: tuple[Dim, ...], b: tuple[Dim, ...]) -> bool:
    """Whether two shapes are equal: static dims by value, dynamic ones by expression."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        sx, sy = static_int(x), static_int(y)
        if sx is None and sy is None:
            if x.node.expr != y.node.expr:  # type: ignore[union-attr]
                return False
        elif sx != sy:
            return False
    return True
