"""Tensor creation with run-time sizes: full/zeros/ones(_like), arange.

Creation ops whose arguments are all known at export time never get here: the graph
driver folds them into constants.
"""

from __future__ import annotations

import torch
from torch import fx

from litegen.errors import UnsupportedOpError
from litegen.export.lowering.context import LoweringContext
from litegen.export.lowering.registry import arg, out_dtype, out_shape, register
from litegen.export.lowering.values import Value
from litegen.export.tflite_schema import schema
from litegen.export.weights import file_dtype

aten = torch.ops.aten


def _fill(ctx: LoweringContext, node: fx.Node, value: object) -> Value:
    shape = out_shape(node)
    dtype = out_dtype(node)
    scalar = torch.tensor(value, dtype=file_dtype(dtype))
    return ctx.op(
        "FILL", [ctx.int_vector(shape), ctx.const(scalar)], shape, dtype, schema.FillOptionsT()
    )


@register(aten.full.default, aten.full_like.default, aten.new_full.default)
def _full(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    return _fill(ctx, node, arg(args, kwargs, 1, "fill_value"))


@register(
    aten.zeros.default,
    aten.zeros_like.default,
    aten.new_zeros.default,
    aten.empty.memory_format,
    aten.empty_like.default,
    aten.new_empty.default,
)
def _zeros(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    return _fill(ctx, node, 0)


@register(aten.ones.default, aten.ones_like.default, aten.new_ones.default)
def _ones(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    return _fill(ctx, node, 1)


@register(aten.arange.default, aten.arange.start, aten.arange.start_step)
def _arange(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    if node.target is aten.arange.default:
        start, end, step = 0, args[0], 1
    else:
        start, end = args[0], args[1]
        step = arg(args, kwargs, 2, "step", 1) if node.target is aten.arange.start_step else 1
    dtype = out_dtype(node)
    if dtype.is_floating_point:
        raise UnsupportedOpError("arange with a dynamic size is only supported for integers")
    handles = []
    for v in (start, end, step):
        if isinstance(v, torch.SymInt):
            handles.append(ctx.scalar_sym(v, dtype))
        else:
            handles.append(ctx.const(torch.tensor(v, dtype=file_dtype(dtype))))
    return ctx.op("RANGE", handles, out_shape(node), dtype, schema.RangeOptionsT())
