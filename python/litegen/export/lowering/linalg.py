"""Matrix products and lookups: linear, matmul/bmm, embedding, index_select, index."""

from __future__ import annotations

import torch
from torch import fx

from litegen.errors import UnsupportedOpError
from litegen.export.lowering.attention import CUSTOM_OP_VERSION
from litegen.export.lowering.context import LoweringContext
from litegen.export.lowering.registry import arg, dim_index, out_dtype, out_shape, register
from litegen.export.lowering.values import RTensor, Value, same_shape
from litegen.export.tflite_schema import schema

aten = torch.ops.aten

FC = "LITEGEN_FC"


@register(aten.linear.default)
def _linear(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x, w = args[0], args[1]
    bias = arg(args, kwargs, 2, "bias")
    dtype = out_dtype(node)
    if isinstance(w, torch.Tensor) and w.dim() == 2:
        b = ctx.as_handle(bias, torch.float32) if bias is not None else None
        fast = ctx.fast_linear_weight(w)
        if fast is not None:
            # Our kernel reads the quantized weight in place (docs/custom_ops.md).
            out = ctx.new(out_shape(node), torch.float32)
            inputs = [ctx.as_handle(x, torch.float32), *fast, *([b] if b is not None else [])]
            fused = _fusable_residual(ctx, node, out)
            if fused is not None:
                add, residual = fused
                inputs.append(residual.handle)
                ctx.fused[add] = out
            ctx.sg.add_custom_op(FC, inputs, [out.handle], version=CUSTOM_OP_VERSION)
            return out
        # FULLY_CONNECTED takes the weight as stored by nn.Linear: [out, in].
        filt, opts = ctx.fully_connected_weight(w)
        return ctx.op(
            "FULLY_CONNECTED", [ctx.as_handle(x, dtype), filt, b], out_shape(node), dtype, opts
        )
    # A run-time weight: x @ w^T (+ b).
    opts = schema.BatchMatMulOptionsT()
    opts.adjY = True
    y = ctx.op(
        "BATCH_MATMUL",
        [ctx.as_handle(x, dtype), ctx.as_handle(w, dtype)],
        out_shape(node),
        dtype,
        opts,
    )
    if bias is not None:
        y = ctx.op("ADD", [y, ctx.as_handle(bias, dtype)], out_shape(node), dtype)
    return y


def _fusable_residual(
    ctx: LoweringContext, node: fx.Node, out: RTensor
) -> tuple[fx.Node, RTensor] | None:
    """``(add, residual)`` when the linear's only use is ``add(residual, linear)`` on a
    residual already computed, of the same shape (rank >= 2), in float32: LITEGEN_FC then
    adds it (its last input), which saves an ADD node per residual connection."""
    if len(node.users) != 1:
        return None
    (add,) = node.users
    if add.target is not aten.add.Tensor or len(add.args) != 2 or add.kwargs.get("alpha", 1) != 1:
        return None
    other = add.args[1] if add.args[0] is node else add.args[0]
    residual = ctx.lowered.get(other) if isinstance(other, fx.Node) and other is not node else None
    if (
        not isinstance(residual, RTensor)
        or residual.dtype != torch.float32
        or residual.layout != "plain"
        or residual.deps
        or residual.rank < 2  # a rank-1 operand after the weights is the bias
        or not same_shape(residual.shape, out.shape)
        or out_dtype(add) != torch.float32
    ):
        return None
    return add, residual


@register(aten.matmul.default, aten.bmm.default, aten.mm.default)
def _matmul(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    a, b = args[0], args[1]
    for v in (a, b):
        rank = v.rank if isinstance(v, RTensor) else v.dim()
        if rank < 2:
            raise UnsupportedOpError("matmul with a 1-D operand is not supported (reshape it)")
    dtype = out_dtype(node)
    return ctx.op(
        "BATCH_MATMUL",
        [ctx.as_handle(a, dtype), ctx.as_handle(b, dtype)],
        out_shape(node),
        dtype,
        schema.BatchMatMulOptionsT(),
    )


@register(aten.addmm.default)
def _addmm(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    bias, a, b = args[0], args[1], args[2]
    if arg(args, kwargs, 3, "beta", 1) != 1 or arg(args, kwargs, 4, "alpha", 1) != 1:
        raise UnsupportedOpError("addmm with beta/alpha != 1 is not supported")
    dtype = out_dtype(node)
    y = ctx.op(
        "BATCH_MATMUL",
        [ctx.as_handle(a, dtype), ctx.as_handle(b, dtype)],
        out_shape(node),
        dtype,
        schema.BatchMatMulOptionsT(),
    )
    return ctx.op("ADD", [y, ctx.as_handle(bias, dtype)], out_shape(node), dtype)


def _gather(ctx: LoweringContext, node: fx.Node, params: Value, index: Value, axis: int) -> Value:
    opts = schema.GatherOptionsT()
    opts.axis = axis
    return ctx.op(
        "GATHER",
        [ctx.as_handle(params), ctx.as_handle(index, torch.int32)],
        out_shape(node),
        out_dtype(node),
        opts,
    )


@register(aten.embedding.default)
def _embedding(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    table, ids = args[0], args[1]
    if isinstance(table, torch.Tensor) and isinstance(ids, RTensor) and table.dim() == 2:
        return ctx.embedding_lookup(table, ids, out_shape(node))
    return _gather(ctx, node, table, ids, 0)


@register(aten.index_select.default)
def _index_select(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x, dim, index = args[0], int(args[1]), args[2]
    rank = x.rank if isinstance(x, RTensor) else x.dim()
    return _gather(ctx, node, x, index, dim_index(dim, rank))


@register(aten.index.Tensor)
def _index(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x, indices = args[0], list(args[1])
    used = [i for i, t in enumerate(indices) if t is not None]
    if len(used) != 1:
        raise UnsupportedOpError("indexing with more than one index tensor is not supported")
    index = indices[used[0]]
    index_dtype = index.dtype if isinstance(index, (RTensor, torch.Tensor)) else None
    if index_dtype == torch.bool:
        raise UnsupportedOpError("boolean-mask indexing is not supported (data-dependent shape)")
    return _gather(ctx, node, x, index, used[0])
