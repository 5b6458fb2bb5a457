"""The table of op lowerings: ATen (and litegen) op -> function emitting TFLite ops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import fx

from litegen.export.lowering.context import LoweringContext
from litegen.export.lowering.values import Dim, RTensor, Value

# (ctx, node, args, kwargs) -> value; args/kwargs hold lowered values, not fx nodes.
Lowering = Callable[[LoweringContext, fx.Node, tuple[Any, ...], dict[str, Any]], Value]

_LOWERINGS: dict[object, Lowering] = {}


def register(*targets: object) -> Callable[[Lowering], Lowering]:
    """Register a lowering for ATen overloads (``aten.add.Tensor``) or whole packets."""

    def deco(fn: Lowering) -> Lowering:
        for t in targets:
            _LOWERINGS[t] = fn
        return fn

    return deco


def lookup(target: object) -> Lowering | None:
    fn = _LOWERINGS.get(target)
    if fn is None and isinstance(target, torch._ops.OpOverload):
        fn = _LOWERINGS.get(target.overloadpacket)
    return fn


def supported_ops() -> list[str]:
    """Names of every op with a lowering (for docs and messages)."""
    return sorted(str(t) for t in _LOWERINGS)


def arg(
    args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any = None
) -> Any:
    """Positional-or-keyword argument ``name`` of an ATen call."""
    if index < len(args):
        return args[index]
    return kwargs.get(name, default)


def meta_val(node: fx.Node) -> Any:
    return node.meta.get("val")


def out_shape(node: fx.Node) -> tuple[Dim, ...]:
    return tuple(meta_val(node).shape)


def out_dtype(node: fx.Node) -> torch.dtype:
    return meta_val(node).dtype


def dim_index(dim: int, rank: int) -> int:
    return dim % rank if rank else 0


def is_runtime(value: Any) -> bool:
    return isinstance(value, RTensor)
