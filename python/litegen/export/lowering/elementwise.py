"""Elementwise ops: arithmetic, math functions, activations, comparisons, select, casts."""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from litegen.errors import UnsupportedOpError
from litegen.export.lowering.context import LoweringContext
from litegen.export.lowering.registry import arg, out_dtype, out_shape, register
from litegen.export.lowering.values import RTensor, Value
from litegen.export.tflite_schema import schema
from litegen.export.weights import file_dtype

aten = torch.ops.aten


def _proto(value: Value) -> Any:
    """Something with ``value``'s dtype and scalar-ness, for torch's promotion rules."""
    if isinstance(value, RTensor):
        return torch.empty((1,) * max(1, value.rank), dtype=value.dtype)
    if isinstance(value, torch.SymInt):
        return 1
    return value


def _binary(
    ctx: LoweringContext,
    node: fx.Node,
    opname: str,
    a: Value,
    b: Value,
    compute: torch.dtype | None = None,
) -> RTensor:
    dtype = out_dtype(node)
    compute = compute or dtype
    return ctx.op(
        opname, [ctx.as_handle(a, compute), ctx.as_handle(b, compute)], out_shape(node), dtype
    )


def _compare_dtype(a: Value, b: Value) -> torch.dtype:
    return file_dtype(torch.result_type(_proto(a), _proto(b)))


@register(aten.add.Tensor, aten.add.Scalar)
def _add(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    a, b = args[0], args[1]
    alpha = arg(args, kwargs, 2, "alpha", 1)
    if alpha != 1:
        b = _scale(ctx, node, b, alpha)
    return _binary(ctx, node, "ADD", a, b)


@register(aten.sub.Tensor, aten.sub.Scalar)
def _sub(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    a, b = args[0], args[1]
    alpha = arg(args, kwargs, 2, "alpha", 1)
    if alpha != 1:
        b = _scale(ctx, node, b, alpha)
    return _binary(ctx, node, "SUB", a, b)


@register(aten.rsub.Scalar, aten.rsub.Tensor)
def _rsub(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    a, b = args[0], args[1]
    alpha = arg(args, kwargs, 2, "alpha", 1)
    if alpha != 1:
        a = _scale(ctx, node, a, alpha)
    return _binary(ctx, node, "SUB", b, a)


def _scale(ctx: LoweringContext, node: fx.Node, x: Value, alpha: float) -> Value:
    if not isinstance(x, RTensor):
        return x * alpha
    dtype = out_dtype(node)
    return ctx.op("MUL", [ctx.as_handle(x, dtype), ctx.as_handle(alpha, dtype)], x.shape, dtype)


@register(aten.mul.Tensor, aten.mul.Scalar)
def _mul(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    return _binary(ctx, node, "MUL", args[0], args[1])


@register(aten.div.Tensor, aten.div.Scalar)
def _div(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    return _binary(ctx, node, "DIV", args[0], args[1])


@register(aten.div.Tensor_mode, aten.floor_divide.default)
def _div_mode(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    mode = arg(args, kwargs, 2, "rounding_mode", "floor")
    if node.target is aten.floor_divide.default:
        mode = "floor"
    if mode != "floor":
        raise UnsupportedOpError(f"division with rounding_mode={mode!r} is not supported")
    return _binary(ctx, node, "FLOOR_DIV", args[0], args[1])


@register(aten.remainder.Tensor, aten.remainder.Scalar)
def _remainder(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    return _binary(ctx, node, "FLOOR_MOD", args[0], args[1])


@register(aten.maximum.default)
def _maximum(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    return _binary(ctx, node, "MAXIMUM", args[0], args[1])


@register(aten.minimum.default)
def _minimum(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    return _binary(ctx, node, "MINIMUM", args[0], args[1])


@register(aten.pow.Tensor_Scalar)
def _pow(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x, e = args[0], args[1]
    dtype = out_dtype(node)
    h = ctx.as_handle(x, dtype)
    # Small integer powers as multiplies: exact like torch's and faster than POW.
    if e == 1:
        return ctx.cast(x, dtype)
    if e == 2:
        return ctx.op("MUL", [h, h], out_shape(node), dtype)
    if e == 0.5:
        return ctx.op("SQRT", [h], out_shape(node), dtype)
    if e == -0.5:
        return ctx.op("RSQRT", [h], out_shape(node), dtype)
    if e == -1:
        return ctx.op("DIV", [ctx.as_handle(1.0, dtype), h], out_shape(node), dtype)
    return ctx.op("POW", [h, ctx.as_handle(float(e), dtype)], out_shape(node), dtype)


@register(aten.pow.Tensor_Tensor, aten.pow.Scalar)
def _pow_tensor(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    return _binary(ctx, node, "POW", args[0], args[1])


_UNARY = {
    aten.neg.default: "NEG",
    aten.sqrt.default: "SQRT",
    aten.rsqrt.default: "RSQRT",
    aten.exp.default: "EXP",
    aten.log.default: "LOG",
    aten.tanh.default: "TANH",
    aten.cos.default: "COS",
    aten.sin.default: "SIN",
    aten.sigmoid.default: "LOGISTIC",
    aten.relu.default: "RELU",
    aten.abs.default: "ABS",
    aten.floor.default: "FLOOR",
    aten.ceil.default: "CEIL",
    aten.logical_not.default: "LOGICAL_NOT",
    aten.bitwise_not.default: "LOGICAL_NOT",
}


def _unary(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    opname = _UNARY[node.target]  # type: ignore[index]
    dtype = out_dtype(node)
    if opname == "LOGICAL_NOT" and dtype != torch.bool:
        raise UnsupportedOpError("bitwise_not is only supported on bool tensors")
    return ctx.op(opname, [ctx.as_handle(args[0], dtype)], out_shape(node), dtype)


register(*_UNARY)(_unary)


@register(aten.silu.default)
def _silu(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    dtype = out_dtype(node)
    x = ctx.as_handle(args[0], dtype)
    sig = ctx.op("LOGISTIC", [x], out_shape(node), dtype)
    return ctx.op("MUL", [x, sig], out_shape(node), dtype)


@register(aten.gelu.default)
def _gelu(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    approximate = arg(args, kwargs, 1, "approximate", "none")
    opts = schema.GeluOptionsT()
    opts.approximate = approximate == "tanh"
    dtype = out_dtype(node)
    return ctx.op("GELU", [ctx.as_handle(args[0], dtype)], out_shape(node), dtype, opts)


_COMPARE = {
    aten.lt: "LESS",
    aten.le: "LESS_EQUAL",
    aten.gt: "GREATER",
    aten.ge: "GREATER_EQUAL",
    aten.eq: "EQUAL",
    aten.ne: "NOT_EQUAL",
}


def _compare(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    opname = _COMPARE[node.target.overloadpacket]  # type: ignore[union-attr]
    return _binary(ctx, node, opname, args[0], args[1], _compare_dtype(args[0], args[1]))


register(*_COMPARE)(_compare)


@register(aten.logical_and.default, aten.bitwise_and.Tensor, aten.__and__.Tensor)
def _and(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    if out_dtype(node) != torch.bool:
        raise UnsupportedOpError("bitwise_and is only supported on bool tensors")
    return _binary(ctx, node, "LOGICAL_AND", args[0], args[1])


@register(aten.logical_or.default, aten.bitwise_or.Tensor, aten.__or__.Tensor)
def _or(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    if out_dtype(node) != torch.bool:
        raise UnsupportedOpError("bitwise_or is only supported on bool tensors")
    return _binary(ctx, node, "LOGICAL_OR", args[0], args[1])


@register(aten.where.self, aten.where.ScalarSelf, aten.where.ScalarOther, aten.where.Scalar)
def _where(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    cond, a, b = args[0], args[1], args[2]
    dtype = out_dtype(node)
    return ctx.op(
        "SELECT_V2",
        [ctx.as_handle(cond, torch.bool), ctx.as_handle(a, dtype), ctx.as_handle(b, dtype)],
        out_shape(node),
        dtype,
    )


@register(aten.masked_fill.Scalar, aten.masked_fill.Tensor)
def _masked_fill(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x, mask, value = args[0], args[1], args[2]
    dtype = out_dtype(node)
    return ctx.op(
        "SELECT_V2",
        [ctx.as_handle(mask, torch.bool), ctx.as_handle(value, dtype), ctx.as_handle(x, dtype)],
        out_shape(node),
        dtype,
    )


@register(aten._to_copy.default, aten.to.dtype, aten.to.dtype_layout, aten.type_as.default)
def _cast(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x = args[0]
    return ctx.cast(ctx.plain(x), out_dtype(node))


@register(aten.clamp.default, aten.clamp_min.default, aten.clamp_max.default)
def _clamp(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x = args[0]
    if node.target is aten.clamp_min.default:
        lo, hi = args[1], None
    elif node.target is aten.clamp_max.default:
        lo, hi = None, args[1]
    else:
        lo, hi = arg(args, kwargs, 1, "min"), arg(args, kwargs, 2, "max")
    dtype = out_dtype(node)
    y = ctx.cast(ctx.plain(x), dtype)
    if lo is not None:
        y = ctx.op("MAXIMUM", [y, ctx.as_handle(lo, dtype)], out_shape(node), dtype)
    if hi is not None:
        y = ctx.op("MINIMUM", [y, ctx.as_handle(hi, dtype)], out_shape(node), dtype)
    return y


@register(aten.square.default)
def _square(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    dtype = out_dtype(node)
    h = ctx.as_handle(args[0], dtype)
    return ctx.op("MUL", [h, h], out_shape(node), dtype)


@register(aten.reciprocal.default)
def _reciprocal(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    dtype = out_dtype(node)
    one = ctx.as_handle(1.0, dtype)
    return ctx.op("DIV", [one, ctx.as_handle(args[0], dtype)], out_shape(node), dtype)
