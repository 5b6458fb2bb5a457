"""``litegen::glu`` (the gated activation of a fused ``[gate; up]`` projection) in both
export forms.

fast (our runtime): one LITEGEN_GLU node (docs/custom_ops.md). In a decode step the math is
a few thousand floats; as builtin ops it was five nodes (two slices, LOGISTIC and two MULs
for SwiGLU), and LOGISTIC alone cost more than the fused kernel.

portable (builtin ops only): STRIDED_SLICE of each half, the activation's builtin op(s)
(LOGISTIC + MUL for silu, GELU, RELU) and a MUL, the graph the eager formula traces to.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import fx

from litegen.authoring.ops import GLU_ACTIVATIONS
from litegen.errors import UnsupportedOpError
from litegen.export.lowering.attention import CUSTOM_OP_VERSION
from litegen.export.lowering.context import LoweringContext
from litegen.export.lowering.registry import register
from litegen.export.lowering.shape_ops import _slice
from litegen.export.lowering.values import RTensor, Value, static_int
from litegen.export.tflite_schema import schema

GLU = "LITEGEN_GLU"
# LITEGEN_GLU's activation codes: the position in GLU_ACTIVATIONS.
GLU_ACTIVATION_CODES = {name: code for code, name in enumerate(GLU_ACTIVATIONS)}

_f32 = torch.float32


@register(torch.ops.litegen.glu.default)
def _glu(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x = args[0]
    activation = str(args[1])
    if not isinstance(x, RTensor) or x.dtype != _f32:
        raise UnsupportedOpError("glu: x must be a float32 tensor computed at run time")
    if activation not in GLU_ACTIVATION_CODES:
        raise UnsupportedOpError(
            f"glu: unknown activation {activation!r}; supported: {sorted(GLU_ACTIVATION_CODES)}"
        )
    x = ctx.plain(x)
    width = static_int(x.shape[-1])
    if width is None or width % 2:
        raise UnsupportedOpError(f"glu: the last dim of x {x.shape} must be static and even")
    half = width // 2
    out_shape = (*x.shape[:-1], half)
    if ctx.form == "fast":
        out = ctx.new(out_shape, _f32, "glu")
        code = ctx.const(
            np.asarray([GLU_ACTIVATION_CODES[activation]], np.int32), name="glu_activation"
        )
        ctx.sg.add_custom_op(GLU, [x.handle, code], [out.handle], version=CUSTOM_OP_VERSION)
        return out
    last = x.rank - 1
    gate = _slice(ctx, x, last, 0, half, 1, out_shape)
    up = _slice(ctx, x, last, half, width, 1, out_shape)
    if activation == "silu":
        act = ctx.op("MUL", [gate, ctx.op("LOGISTIC", [gate], out_shape, _f32)], out_shape, _f32)
    elif activation == "relu":
        act = ctx.op("RELU", [gate], out_shape, _f32)
    else:
        opts = schema.GeluOptionsT()
        opts.approximate = activation == "gelu_tanh"
        act = ctx.op("GELU", [gate], out_shape, _f32, opts)
    return ctx.op("MUL", [act, up], out_shape, _f32)
