"""``litegen::rms_norm`` and ``litegen::rope`` in both export forms.

fast (our runtime): one LITEGEN_RMS_NORM / LITEGEN_ROPE node each (docs/custom_ops.md).
In a decode step their math is tiny and the per-node overhead is what costs: fused they
are 4 nodes per layer instead of ~24.

portable (builtin ops only): RMSNorm as MUL, MEAN, ADD, RSQRT, MUL, MUL; RoPE as
STRIDED_SLICE, NEG, CONCATENATION, MUL, MUL, ADD (+ a CONCATENATION of the pass-through
dims for partial rotary), exactly the graph the eager formula traces to.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import fx

import litegen.authoring.ops  # noqa: F401 (registers torch.ops.litegen.*)
from litegen.errors import UnsupportedOpError
from litegen.export.lowering.attention import CUSTOM_OP_VERSION
from litegen.export.lowering.context import LoweringContext
from litegen.export.lowering.registry import arg, register
from litegen.export.lowering.shape_ops import _slice
from litegen.export.lowering.values import RTensor, Value
from litegen.export.tflite_schema import schema

RMS_NORM = "LITEGEN_RMS_NORM"
ROPE = "LITEGEN_ROPE"

_f32 = torch.float32


def _float_input(ctx: LoweringContext, value: Value, what: str) -> RTensor:
    if not isinstance(value, RTensor) or value.dtype != _f32:
        raise UnsupportedOpError(f"{what} must be a float32 tensor computed at run time")
    return ctx.plain(value)


@register(torch.ops.litegen.rms_norm.default)
def _rms_norm(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x = _float_input(ctx, args[0], "rms_norm: x")
    weight = args[1]
    eps = float(args[2])
    zero_centered = bool(arg(args, kwargs, 3, "zero_centered", False))
    if isinstance(weight, torch.Tensor):  # a parameter: fold the Gemma "1 +" into it
        w = weight.detach().to(_f32)
        scale = ctx.const(1.0 + w if zero_centered else w, name="rms_norm_weight")
    else:
        scale = ctx.as_handle(weight, _f32)
        if zero_centered:
            scale = ctx.op("ADD", [scale, ctx.const(np.float32(1.0))], weight.shape, _f32).handle
    if ctx.form == "fast":
        out = ctx.new(x.shape, _f32, "rms_norm")
        params = ctx.const(np.asarray([eps], np.float32), name="rms_norm_eps")
        ctx.sg.add_custom_op(
            RMS_NORM, [x.handle, scale, params], [out.handle], version=CUSTOM_OP_VERSION
        )
        return out
    keep = schema.ReducerOptionsT()
    keep.keepDims = True
    stat_shape = (*x.shape[:-1], 1)
    last_axis = ctx.const(np.asarray([x.rank - 1], np.int32))
    squares = ctx.op("MUL", [x, x], x.shape, _f32)
    mean = ctx.op("MEAN", [squares, last_axis], stat_shape, _f32, keep)
    mean_eps = ctx.op("ADD", [mean, ctx.const(np.float32(eps))], stat_shape, _f32)
    inv = ctx.op("RSQRT", [mean_eps], stat_shape, _f32)
    normed = ctx.op("MUL", [x, inv], x.shape, _f32)
    return ctx.op("MUL", [normed, scale], x.shape, _f32)


@register(torch.ops.litegen.rope.default)
def _rope(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x = _float_input(ctx, args[0], "rope: x")
    cos = ctx.as_handle(args[1], _f32)
    sin = ctx.as_handle(args[2], _f32)
    rot = int(cos.shape[-1])
    if ctx.form == "fast":
        out = ctx.new(x.shape, _f32, "rope")
        ctx.sg.add_custom_op(ROPE, [x.handle, cos, sin], [out.handle], version=CUSTOM_OP_VERSION)
        return out
    last = x.rank - 1
    width = int(x.shape[-1])
    half = rot // 2

    def part(source: RTensor, start: int, end: int) -> RTensor:
        return _slice(ctx, source, last, start, end, 1, (*source.shape[:-1], end - start))

    def concat(parts: list[RTensor], shape: tuple) -> RTensor:
        opts = schema.ConcatenationOptionsT()
        opts.axis = last
        return ctx.op("CONCATENATION", parts, shape, _f32, opts)

    x_rot = x if rot == width else part(x, 0, rot)
    negated = ctx.op("NEG", [part(x_rot, half, rot)], (*x.shape[:-1], rot - half), _f32)
    rotated = concat([negated, part(x_rot, 0, half)], x_rot.shape)
    out = ctx.op(
        "ADD",
        [
            ctx.op("MUL", [x_rot, cos], x_rot.shape, _f32),
            ctx.op("MUL", [rotated, sin], x_rot.shape, _f32),
        ],
        x_rot.shape,
        _f32,
    )
    if rot == width:
        return out
    return concat([out, part(x, rot, width)], x.shape)
