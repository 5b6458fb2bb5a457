"""Reductions and normalisations: mean/sum/max, softmax, layer_norm."""

from __future__ import annotations

import numpy as np
import torch
from torch import fx

from litegen.errors import UnsupportedOpError
from litegen.export.lowering.context import LoweringContext
from litegen.export.lowering.registry import arg, dim_index, out_dtype, out_shape, register
from litegen.export.lowering.values import RTensor, Value
from litegen.export.tflite_schema import schema

aten = torch.ops.aten


def _reduce(
    ctx: LoweringContext,
    node: fx.Node,
    opname: str,
    x: RTensor,
    dims: list[int] | None,
    keepdim: bool,
) -> Value:
    x = ctx.plain(x)
    axes = list(range(x.rank)) if not dims else sorted(dim_index(d, x.rank) for d in dims)
    opts = schema.ReducerOptionsT()
    opts.keepDims = bool(keepdim)
    dtype = out_dtype(node)
    x = ctx.cast(x, dtype)
    return ctx.op(opname, [x, ctx.const(np.asarray(axes, np.int32))], out_shape(node), dtype, opts)


def _dims(value: object) -> list[int] | None:
    if value is None:
        return None
    return [int(value)] if isinstance(value, int) else [int(d) for d in value]  # type: ignore


@register(aten.mean.dim, aten.mean.default)
def _mean(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    if node.target is aten.mean.default:
        return _reduce(ctx, node, "MEAN", args[0], None, False)
    return _reduce(
        ctx,
        node,
        "MEAN",
        args[0],
        _dims(arg(args, kwargs, 1, "dim")),
        arg(args, kwargs, 2, "keepdim", False),
    )


@register(aten.sum.dim_IntList, aten.sum.default)
def _sum(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    if node.target is aten.sum.default:
        return _reduce(ctx, node, "SUM", args[0], None, False)
    return _reduce(
        ctx,
        node,
        "SUM",
        args[0],
        _dims(arg(args, kwargs, 1, "dim")),
        arg(args, kwargs, 2, "keepdim", False),
    )


@register(aten.amax.default)
def _amax(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    return _reduce(
        ctx,
        node,
        "REDUCE_MAX",
        args[0],
        _dims(arg(args, kwargs, 1, "dim", [])),
        arg(args, kwargs, 2, "keepdim", False),
    )


@register(aten.amin.default)
def _amin(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    return _reduce(
        ctx,
        node,
        "REDUCE_MIN",
        args[0],
        _dims(arg(args, kwargs, 1, "dim", [])),
        arg(args, kwargs, 2, "keepdim", False),
    )


def _last_dim_op(
    ctx: LoweringContext, node: fx.Node, x: RTensor, dim: int, opname: str, options: object
) -> Value:
    """SOFTMAX / LOG_SOFTMAX work on the last dim: transpose other dims there and back."""
    x = ctx.cast(ctx.plain(x), out_dtype(node))
    d = dim_index(dim, x.rank)
    perm = list(range(x.rank))
    perm[d], perm[-1] = perm[-1], perm[d]
    y = ctx.transpose(x, perm)
    y = ctx.op(opname, [y], y.shape, y.dtype, options)
    return ctx.transpose(y, perm)


@register(aten._softmax.default, aten.softmax.int)
def _softmax(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    opts = schema.SoftmaxOptionsT()
    opts.beta = 1.0
    return _last_dim_op(ctx, node, args[0], int(args[1]), "SOFTMAX", opts)


@register(aten._log_softmax.default, aten.log_softmax.int)
def _log_softmax(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    return _last_dim_op(
        ctx, node, args[0], int(args[1]), "LOG_SOFTMAX", schema.LogSoftmaxOptionsT()
    )


@register(aten.layer_norm.default)
def _layer_norm(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    """``(x - mean) * rsqrt(var + eps) * w + b`` over the normalised (trailing) dims."""
    x = ctx.plain(args[0])
    normalized = list(arg(args, kwargs, 1, "normalized_shape"))
    weight = arg(args, kwargs, 2, "weight")
    bias = arg(args, kwargs, 3, "bias")
    eps = float(arg(args, kwargs, 4, "eps", 1e-5))
    if x.dtype != torch.float32:
        raise UnsupportedOpError(f"layer_norm on {x.dtype} tensors is not supported")
    axes = np.arange(x.rank - len(normalized), x.rank, dtype=np.int32)
    keep = schema.ReducerOptionsT()
    keep.keepDims = True
    stat_shape = (*x.shape[: x.rank - len(normalized)], *([1] * len(normalized)))
    f32 = torch.float32
    mean = ctx.op("MEAN", [x, ctx.const(axes)], stat_shape, f32, keep)
    centered = ctx.op("SUB", [x, mean], x.shape, f32)
    sq = ctx.op("MUL", [centered, centered], x.shape, f32)
    var = ctx.op("MEAN", [sq, ctx.const(axes)], stat_shape, f32, keep)
    var_eps = ctx.op("ADD", [var, ctx.const(np.float32(eps))], stat_shape, f32)
    inv = ctx.op("RSQRT", [var_eps], stat_shape, f32)
    y = ctx.op("MUL", [centered, inv], x.shape, f32)
    if weight is not None:
        y = ctx.op("MUL", [y, ctx.as_handle(weight, f32)], x.shape, f32)
    if bias is not None:
        y = ctx.op("ADD", [y, ctx.as_handle(bias, f32)], x.shape, f32)
    return y
