"""Shape and layout ops: view/reshape, transpose/permute, (un)squeeze, slice/select,
cat, split, expand."""

from __future__ import annotations

import sys

import numpy as np
import torch
from torch import fx

from litegen.errors import UnsupportedOpError
from litegen.export.lowering.context import LoweringContext
from litegen.export.lowering.registry import (
    arg,
    dim_index,
    meta_val,
    out_dtype,
    out_shape,
    register,
)
from litegen.export.lowering.values import Dim, RTensor, Value, same_shape, static_int
from litegen.export.tflite_schema import schema

aten = torch.ops.aten


@register(
    aten.view.default,
    aten._unsafe_view.default,
    aten.reshape.default,
    aten.unsqueeze.default,
    aten.squeeze.dim,
    aten.squeeze.dims,
    aten.squeeze.default,
    aten.flatten.using_ints,
    aten.unflatten.int,
    aten.view_copy.default,
)
def _reshape(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    # The output shape is known from the graph (with -1 already resolved): reshape to it.
    return ctx.reshape(ctx.plain(args[0]), out_shape(node))


@register(aten.transpose.int)
def _transpose(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x: RTensor = args[0]
    d0, d1 = dim_index(int(args[1]), x.rank), dim_index(int(args[2]), x.rank)
    perm = list(range(x.rank))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return _permute_value(ctx, x, perm)


@register(aten.permute.default)
def _permute(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x: RTensor = args[0]
    return _permute_value(ctx, x, [dim_index(int(d), x.rank) for d in args[1]])


@register(aten.t.default, aten.numpy_T.default)
def _t(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x: RTensor = args[0]
    return _permute_value(ctx, x, list(range(x.rank))[::-1])


def _permute_value(ctx: LoweringContext, x: RTensor, perm: list[int]) -> Value:
    if x.layout == "v_transposed" and not x.deps:
        # Physical is logical with the last two dims swapped: fold that into the perm.
        phys = list(range(x.rank))
        phys[-1], phys[-2] = phys[-2], phys[-1]
        base = RTensor(x.handle, (*x.shape[:-2], x.shape[-1], x.shape[-2]), x.dtype)
        return ctx.transpose(base, [phys[p] for p in perm])
    return ctx.transpose(ctx.plain(x), perm)


_MAX_END = sys.maxsize


def _slice(
    ctx: LoweringContext,
    x: RTensor,
    dim: int,
    start: Dim | None,
    end: Dim | None,
    step: int,
    shape: tuple[Dim, ...],
    shrink: bool = False,
) -> RTensor:
    """STRIDED_SLICE of ``x`` along ``dim`` (other dims whole, via the masks)."""
    rank = x.rank
    size = x.shape[dim]
    s_size = static_int(size)
    start = 0 if start is None else start
    end = _MAX_END if end is None else end
    s_start, s_end = static_int(start), static_int(end)
    if s_start is not None and s_start < 0 and s_size is not None:
        s_start, start = s_start + s_size, s_start + s_size
    if s_end is not None and s_end < 0 and s_size is not None:
        s_end, end = s_end + s_size, s_end + s_size
    whole_end = s_end is not None and (
        s_end >= _MAX_END or (s_size is not None and s_end >= s_size)
    )
    if not whole_end and s_end is None and isinstance(size, torch.SymInt):
        whole_end = end.node.expr == size.node.expr  # type: ignore[union-attr]
    if step != 1 and ((s_start or 0) < 0 or (s_end is not None and s_end < 0 and not whole_end)):
        raise UnsupportedOpError("negative slice bounds with a step on a dynamic dimension")
    # Negative bounds left here are on a dynamic dimension: STRIDED_SLICE counts them from
    # the end at run time, as Python does (e.g. x[:, -1:] for the last position).
    others = ((1 << rank) - 1) & ~(1 << dim)
    opts = schema.StridedSliceOptionsT()
    opts.beginMask = others
    opts.endMask = others | ((1 << dim) if whole_end else 0)
    if shrink:
        opts.shrinkAxisMask = 1 << dim
    begin = [0] * rank
    begin[dim] = start
    ends = [0] * rank
    ends[dim] = 0 if whole_end else end
    if shrink:
        ends[dim] = start + 1
    strides = [1] * rank
    strides[dim] = step
    return ctx.op(
        "STRIDED_SLICE",
        [x, ctx.int_vector(begin), ctx.int_vector(ends), ctx.const(np.asarray(strides, np.int32))],
        shape,
        x.dtype,
        opts,
    )


@register(aten.slice.Tensor, aten.slice_copy.Tensor)
def _slice_tensor(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x = ctx.plain(args[0])
    dim = dim_index(int(arg(args, kwargs, 1, "dim", 0)), x.rank)
    start = arg(args, kwargs, 2, "start")
    end = arg(args, kwargs, 3, "end")
    step = int(arg(args, kwargs, 4, "step", 1))
    shape = out_shape(node)
    if same_shape(shape, x.shape):
        return x
    return _slice(ctx, x, dim, start, end, step, shape)


@register(aten.select.int)
def _select(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x = ctx.plain(args[0])
    dim = dim_index(int(args[1]), x.rank)
    index = args[2]
    s_index = static_int(index)
    if s_index is not None and s_index < 0:
        size = static_int(x.shape[dim])
        if size is None:
            raise UnsupportedOpError("negative select index on a dynamic dimension")
        index = s_index + size
    return _slice(ctx, x, dim, index, None, 1, out_shape(node), shrink=True)


@register(aten.cat.default, aten.concat.default)
def _cat(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    dtype = out_dtype(node)
    shape = out_shape(node)
    dim = dim_index(int(arg(args, kwargs, 1, "dim", 0)), len(shape))
    parts = []
    for t in args[0]:
        t_shape = t.shape if isinstance(t, (RTensor, torch.Tensor)) else ()
        if len(t_shape) == 1 and static_int(t_shape[0]) == 0 and len(shape) != 1:
            continue  # torch.cat accepts legacy empty [0] tensors of any rank
        if static_int(t_shape[dim]) == 0:
            continue
        parts.append(ctx.as_handle(t, dtype))
    if len(parts) == 1:
        return ctx.cast(args[0][0], dtype) if isinstance(args[0][0], RTensor) else args[0][0]
    opts = schema.ConcatenationOptionsT()
    opts.axis = dim
    return ctx.op("CONCATENATION", parts, shape, dtype, opts)


@register(
    aten.split.Tensor,
    aten.split_with_sizes.default,
    aten.split_with_sizes_copy.default,
    aten.chunk.default,
    aten.tensor_split.sections,
    aten.split_copy.Tensor,
)
def _split(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x = ctx.plain(args[0])
    dim = dim_index(int(arg(args, kwargs, 2, "dim", 0)), x.rank)
    outs = []
    offset: Dim = 0
    for fake in meta_val(node):
        shape = tuple(fake.shape)
        length = shape[dim]
        outs.append(_slice(ctx, x, dim, offset, offset + length, 1, shape))
        offset = offset + length
    return outs


@register(aten.expand.default, aten.expand_copy.default)
def _expand(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x = ctx.plain(args[0]) if isinstance(args[0], RTensor) else args[0]
    shape = out_shape(node)
    if isinstance(x, RTensor) and same_shape(shape, x.shape):
        return x
    return ctx.op("BROADCAST_TO", [ctx.as_handle(x), ctx.int_vector(shape)], shape, out_dtype(node))


@register(aten.stack.default)
def _stack(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    """Each input reshaped with the new axis of size 1, then CONCATENATION along it."""
    shape = out_shape(node)
    dtype = out_dtype(node)
    dim = dim_index(int(arg(args, kwargs, 1, "dim", 0)), len(shape))
    parts = []
    for t in args[0]:
        piece_shape = (*shape[:dim], 1, *shape[dim + 1 :])
        if isinstance(t, RTensor):
            parts.append(ctx.reshape(ctx.cast(ctx.plain(t), dtype), piece_shape).handle)
        else:
            parts.append(ctx.as_handle(torch.as_tensor(t).reshape(piece_shape), dtype))
    opts = schema.ConcatenationOptionsT()
    opts.axis = dim
    return ctx.op("CONCATENATION", parts, shape, dtype, opts)


@register(aten.unbind.int)
def _unbind(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x = ctx.plain(args[0])
    dim = dim_index(int(arg(args, kwargs, 1, "dim", 0)), x.rank)
    return [
        _slice(ctx, x, dim, i, None, 1, tuple(fake.shape), shrink=True)
        for i, fake in enumerate(meta_val(node))
    ]


@register(aten.repeat_interleave.self_int)
def _repeat_interleave(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    """A GATHER with constant indices ``[0, 0, 1, 1, ...]`` along a static dim."""
    x = ctx.plain(args[0])
    repeats = int(args[1])
    dim = arg(args, kwargs, 2, "dim")
    if dim is None:
        raise UnsupportedOpError("repeat_interleave without dim is not supported")
    dim = dim_index(int(dim), x.rank)
    size = static_int(x.shape[dim])
    if size is None:
        raise UnsupportedOpError("repeat_interleave along a dynamic dimension")
    index = np.repeat(np.arange(size, dtype=np.int32), repeats)
    opts = schema.GatherOptionsT()
    opts.axis = dim
    return ctx.op("GATHER", [x, ctx.const(index)], out_shape(node), x.dtype, opts)


@register(aten.repeat.default)
def _repeat(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    x = ctx.plain(args[0])
    reps = list(args[1])
    if len(reps) != x.rank:
        x = ctx.reshape(x, (*([1] * (len(reps) - x.rank)), *x.shape))
    return ctx.op("TILE", [x, ctx.int_vector(reps)], out_shape(node), x.dtype)
