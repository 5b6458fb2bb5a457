"""``litegen::kv_cache_update`` and ``litegen::sdpa`` in both export forms.

fast (our runtime): the fused custom ops of docs/custom_ops.md. The cache is a signature
input written in place by LITEGEN_KV_CACHE_UPDATE; its [1] int32 "done" output is passed
to every LITEGEN_SDPA reading that cache, which orders execution. The caches may be
float16 (the kernels convert; the update, q and the output stay float32).

portable (builtin ops only, the LiteRT-LM / MediaPipe interface): the update is a
DYNAMIC_UPDATE_SLICE at ``input_pos[0]`` (positions must be consecutive, as in those
runtimes) producing a new cache tensor (a signature output); attention is BATCH_MATMUL +
additive mask built from ``input_pos`` + SOFTMAX + BATCH_MATMUL over the whole cache (rows
not written yet must hold finite values, e.g. zeros). V caches use LiteRT-LM's
transposed layout [B, Hkv, D, S].
"""

from __future__ import annotations

import numpy as np
import torch
from torch import fx

import litegen.authoring.ops  # noqa: F401 (registers torch.ops.litegen.*)
from litegen.errors import ExportError
from litegen.export.lowering.context import LoweringContext
from litegen.export.lowering.registry import arg, register
from litegen.export.lowering.values import RTensor, Value, static_int
from litegen.export.tflite_schema import schema

KV_CACHE_UPDATE = "LITEGEN_KV_CACHE_UPDATE"
SDPA = "LITEGEN_SDPA"
CUSTOM_OP_VERSION = 1
# Additive mask value for hidden keys: finite (no inf - inf), exp() underflows to exactly 0.
MASK_VALUE = -1e30

_f32 = torch.float32
_i32 = torch.int32
_CACHE_DTYPES = (torch.float32, torch.float16)


def _runtime(value: Value, what: str) -> RTensor:
    if not isinstance(value, RTensor):
        raise ExportError(f"{what} must be computed at run time, got a constant")
    return value


@register(torch.ops.litegen.kv_cache_update.default)
def _kv_cache_update(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    cache = _runtime(args[0], "kv_cache_update: cache")
    update = ctx.cast(ctx.plain(_runtime(args[1], "kv_cache_update: update")), _f32)
    input_pos = ctx.as_handle(args[2], _i32)
    if cache.handle not in ctx.sg.inputs:
        raise ExportError(
            "kv_cache_update: the cache must be a signature input (the runtime owns the KV "
            "cache); pass the KVCache tensors in the sample arguments"
        )
    if ctx.form == "fast":
        if cache.dtype not in _CACHE_DTYPES:
            raise ExportError(
                f"kv_cache_update: the cache is {cache.dtype}; LITEGEN_KV_CACHE_UPDATE takes "
                "float32 or float16 caches"
            )
        pairs = [(cache, update)]
        sibling = _sibling_update(ctx, node)
        if sibling is not None:
            pairs.append(sibling[1:])
        done = ctx.new((1,), _i32, "kv_update_done")
        ctx.sg.add_custom_op(
            KV_CACHE_UPDATE,
            [*(h for c, u in pairs for h in (c.handle, u.handle)), input_pos],
            [done.handle],
            version=CUSTOM_OP_VERSION,
        )
        written = [
            RTensor(c.handle, c.shape, c.dtype, c.layout, (*c.deps, done.handle)) for c, _ in pairs
        ]
        if sibling is not None:
            ctx.fused[sibling[0]] = written[1]
        return written[0]
    if cache.dtype != _f32:
        raise ExportError(
            f"kv_cache_update: the portable form needs float32 KV caches, got {cache.dtype}"
        )
    start = _start_indices(ctx, input_pos, cache.layout == "v_transposed")
    physical = cache.handle.shape
    if cache.layout == "v_transposed":
        update = ctx.transpose(update, [0, 1, 3, 2])
    out = ctx.new(physical, _f32, f"{cache.handle.name}_updated")
    out = RTensor(out.handle, cache.shape, _f32, cache.layout)
    ctx.sg.add_builtin_op(
        "DYNAMIC_UPDATE_SLICE", [cache.handle, update.handle, start], [out.handle]
    )
    return out


def _sibling_update(ctx: LoweringContext, node: fx.Node) -> tuple[fx.Node, RTensor, RTensor] | None:
    """A later ``kv_cache_update`` of the same positions whose cache and update are already
    lowered (a layer's V write, seen from its K write), as (node, cache, update): one
    LITEGEN_KV_CACHE_UPDATE then writes both, one custom-op call (and a dependency token)
    fewer per layer."""
    positions = node.args[2]
    if not isinstance(positions, fx.Node):
        return None
    for user in positions.users:
        if (
            user is node
            or user.target is not torch.ops.litegen.kv_cache_update.default
            or user in ctx.lowered
            or user in ctx.fused
        ):
            continue
        cache, update = (
            ctx.lowered.get(a) if isinstance(a, fx.Node) else None for a in user.args[:2]
        )
        if (
            isinstance(cache, RTensor)
            and isinstance(update, RTensor)
            and cache.handle in ctx.sg.inputs
            and cache.dtype in _CACHE_DTYPES
            and update.layout == "plain"
            and not update.deps
        ):
            return user, cache, ctx.cast(update, _f32)
    return None


def _start_indices(ctx: LoweringContext, input_pos: object, transposed: bool) -> object:
    key = ("dus_start", transposed)
    if key not in ctx.memo:
        first = ctx.strided_slice_1d(input_pos, 0)  # type: ignore[arg-type]
        zeros = ctx.const(np.zeros(2, np.int32))
        zero = ctx.const(np.zeros(1, np.int32))
        parts = [zeros, zero, first] if transposed else [zeros, first, zero]
        opts = schema.ConcatenationOptionsT()
        opts.axis = 0
        ctx.memo[key] = ctx.op("CONCATENATION", parts, (4,), _i32, opts, "cache_start").handle
    return ctx.memo[key]


@register(torch.ops.litegen.sdpa.default)
def _sdpa(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    q = ctx.cast(ctx.plain(_runtime(args[0], "sdpa: q")), _f32)
    k = _runtime(args[1], "sdpa: k")
    v = _runtime(args[2], "sdpa: v")
    input_pos = ctx.as_handle(args[3], _i32)
    scale = float(args[4])
    softcap = float(arg(args, kwargs, 5, "logit_softcap", 0.0) or 0.0)
    window = int(arg(args, kwargs, 6, "sliding_window", 0) or 0)
    out_shape = (*q.shape[:3], v.shape[-1])
    if ctx.form == "fast":
        if k.dtype != v.dtype or k.dtype not in _CACHE_DTYPES:
            raise ExportError(
                f"sdpa: the k and v caches are {k.dtype} and {v.dtype}; LITEGEN_SDPA takes "
                "two float32 or two float16 caches"
            )
        k_h = k.handle if k.deps else ctx.plain(k).handle
        v_h = v.handle if v.deps else ctx.plain(v).handle
        params = ctx.const(np.asarray([scale, softcap], np.float32), name="sdpa_params")
        win = ctx.const(np.asarray([window], np.int32), name="sdpa_window")
        out = ctx.new(out_shape, _f32, "sdpa")
        ctx.sg.add_custom_op(
            SDPA,
            # One token per cache write (the k and v writes of a layer share one).
            [q.handle, k_h, v_h, input_pos, params, win, *dict.fromkeys((*k.deps, *v.deps))],
            [out.handle],
            version=CUSTOM_OP_VERSION,
        )
        return out
    return _portable_sdpa(ctx, q, k, v, input_pos, scale, softcap, window, out_shape)


def _portable_sdpa(
    ctx: LoweringContext,
    q: RTensor,
    k: RTensor,
    v: RTensor,
    input_pos: object,
    scale: float,
    softcap: float,
    window: int,
    out_shape: tuple,
) -> RTensor:
    b, hq, t, d = q.shape
    hkv, s = k.shape[1], k.shape[2]
    sb, shq, shkv = static_int(b), static_int(hq), static_int(hkv)
    if sb is None or shq is None or shkv is None:
        raise ExportError("sdpa: batch and head counts must be static")
    group = shq // shkv
    bh = sb * shkv
    # Query heads h = kv * group + g, so a reshape groups them per kv head (no k/v copies).
    qs = ctx.op("MUL", [q, ctx.const(np.float32(scale))], q.shape, _f32, base="q_scaled")
    qg = ctx.reshape(qs, (bh, group * t, d))
    k3 = ctx.reshape(ctx.plain(k), (bh, s, k.shape[-1]))
    adj_y = schema.BatchMatMulOptionsT()
    adj_y.adjY = True
    scores = ctx.op("BATCH_MATMUL", [qg, k3], (bh, group * t, s), _f32, adj_y, "scores")
    if softcap > 0.0:
        capped = ctx.op("DIV", [scores, ctx.const(np.float32(softcap))], scores.shape, _f32)
        capped = ctx.op("TANH", [capped], scores.shape, _f32)
        scores = ctx.op("MUL", [capped, ctx.const(np.float32(softcap))], scores.shape, _f32)
    scores4 = ctx.reshape(scores, (bh, group, t, s))
    masked = ctx.op("ADD", [scores4, _mask(ctx, input_pos, t, s, window)], scores4.shape, _f32)
    softmax = schema.SoftmaxOptionsT()
    softmax.beta = 1.0
    probs = ctx.op("SOFTMAX", [masked], masked.shape, _f32, softmax, "probs")
    probs3 = ctx.reshape(probs, (bh, group * t, s))
    if v.layout == "v_transposed":
        # Physical V is [B, Hkv, D, S]: probs @ V^T^T, i.e. BATCH_MATMUL with adj_y.
        vt = RTensor(v.handle, (*v.shape[:2], v.shape[3], v.shape[2]), v.dtype)
        v3 = ctx.reshape(vt, (bh, v.shape[3], s))
        out = ctx.op("BATCH_MATMUL", [probs3, v3], (bh, group * t, v.shape[3]), _f32, adj_y)
    else:
        v3 = ctx.reshape(ctx.plain(v), (bh, s, v.shape[3]))
        out = ctx.op(
            "BATCH_MATMUL",
            [probs3, v3],
            (bh, group * t, v.shape[3]),
            _f32,
            schema.BatchMatMulOptionsT(),
        )
    return ctx.reshape(out, out_shape)


def _mask(ctx: LoweringContext, input_pos: object, t: object, s: object, window: int) -> object:
    """[T, S] additive mask: 0 where key j is visible to query i, MASK_VALUE elsewhere."""
    key = ("mask", window, str(s))
    if key in ctx.memo:
        return ctx.memo[key]
    s_static = static_int(s)
    if s_static is not None:
        keys = ctx.const(np.arange(s_static, dtype=np.int32).reshape(1, s_static), name="key_pos")
    else:
        rng = ctx.op(
            "RANGE",
            [
                ctx.const(np.int32(0)),
                ctx.scalar_sym(s, _i32),  # type: ignore
                ctx.const(np.int32(1)),
            ],
            (s,),
            _i32,
            schema.RangeOptionsT(),
        )
        keys = ctx.reshape(rng, (1, s)).handle
    pos = ctx.reshape(RTensor(input_pos, (t,), _i32), (t, 1))  # type: ignore[arg-type]
    allowed = ctx.op("LESS_EQUAL", [keys, pos], (t, s), torch.bool, base="visible")
    if window > 0:
        dist = ctx.op("SUB", [pos, keys], (t, s), _i32, base="distance")
        near = ctx.op("LESS", [dist, ctx.const(np.int32(window))], (t, s), torch.bool)
        allowed = ctx.op("LOGICAL_AND", [allowed, near], (t, s), torch.bool, base="visible")
    mask = ctx.op(
        "SELECT_V2",
        [allowed, ctx.const(np.float32(0.0)), ctx.const(np.float32(MASK_VALUE))],
        (t, s),
        _f32,
        base="mask",
    )
    ctx.memo[key] = mask.handle
    return mask.handle


@register(torch.ops.aten.scaled_dot_product_attention.default)
def _torch_sdpa(ctx: LoweringContext, node: fx.Node, args: tuple, kwargs: dict) -> Value:
    """``F.scaled_dot_product_attention`` (no KV cache) as builtin ops in both forms:
    BATCH_MATMUL + mask + SOFTMAX + BATCH_MATMUL."""
    q = ctx.cast(ctx.plain(_runtime(args[0], "sdpa: query")), _f32)
    k = ctx.cast(ctx.plain(_runtime(args[1], "sdpa: key")), _f32)
    v = ctx.cast(ctx.plain(_runtime(args[2], "sdpa: value")), _f32)
    attn_mask = arg(args, kwargs, 3, "attn_mask")
    if float(arg(args, kwargs, 4, "dropout_p", 0.0) or 0.0) != 0.0:
        raise ExportError("scaled_dot_product_attention: dropout_p must be 0 for export")
    is_causal = bool(arg(args, kwargs, 5, "is_causal", False))
    scale = kwargs.get("scale")
    if q.rank != 4 or k.rank != 4:
        raise ExportError("scaled_dot_product_attention: only 4-D [B, H, L, E] inputs")
    b, hq, lq, e = q.shape
    hkv, s = k.shape[1], k.shape[2]
    scale = float(scale) if scale is not None else float(static_int(e) or 1) ** -0.5
    sb, shq, shkv = static_int(b), static_int(hq), static_int(hkv)
    if sb is None or shq is None or shkv is None:
        raise ExportError("scaled_dot_product_attention: batch and head counts must be static")
    group = shq // shkv
    # GQA (enable_gqa): query heads grouped per kv head by a reshape, as in _portable_sdpa.
    qs = ctx.op("MUL", [q, ctx.const(np.float32(scale))], q.shape, _f32, base="q_scaled")
    qg = ctx.reshape(qs, (sb, shkv, group * lq, e))
    adj_y = schema.BatchMatMulOptionsT()
    adj_y.adjY = True
    scores = ctx.op("BATCH_MATMUL", [qg, k], (sb, shkv, group * lq, s), _f32, adj_y, "scores")
    scores = ctx.reshape(scores, (sb, shq, lq, s))
    if is_causal:
        scores = ctx.op("ADD", [scores, _causal_mask(ctx, lq, s)], scores.shape, _f32)
    if attn_mask is not None:
        if isinstance(attn_mask, (RTensor, torch.Tensor)) and attn_mask.dtype == torch.bool:
            mask = ctx.op(
                "SELECT_V2",
                [
                    ctx.as_handle(attn_mask),
                    ctx.const(np.float32(0.0)),
                    ctx.const(np.float32(MASK_VALUE)),
                ],
                _mask_shape(attn_mask),
                _f32,
                base="mask",
            ).handle
        else:
            mask = ctx.as_handle(attn_mask, _f32)
        scores = ctx.op("ADD", [scores, mask], scores.shape, _f32)
    softmax = schema.SoftmaxOptionsT()
    softmax.beta = 1.0
    probs = ctx.op("SOFTMAX", [scores], scores.shape, _f32, softmax, "probs")
    probs = ctx.reshape(probs, (sb, shkv, group * lq, s))
    out = ctx.op(
        "BATCH_MATMUL",
        [probs, v],
        (sb, shkv, group * lq, v.shape[3]),
        _f32,
        schema.BatchMatMulOptionsT(),
    )
    return ctx.reshape(out, (sb, shq, lq, v.shape[3]))


def _mask_shape(mask: Value) -> tuple:
    return tuple(mask.shape)  # type: ignore[union-attr]


def _causal_mask(ctx: LoweringContext, lq: object, s: object) -> object:
    """[L, S] additive mask of torch's is_causal: key j visible to query i iff j <= i."""
    sl, ss = static_int(lq), static_int(s)
    if sl is not None and ss is not None:
        allowed = np.tril(np.ones((sl, ss), dtype=bool))
        return ctx.const(np.where(allowed, 0.0, MASK_VALUE).astype(np.float32), name="causal")
    ranges = []
    for n in (lq, s):
        sn = static_int(n)
        if sn is not None:
            ranges.append(ctx.const(np.arange(sn, dtype=np.int32)))
        else:
            ranges.append(
                ctx.op(
                    "RANGE",
                    [
                        ctx.const(np.int32(0)),
                        ctx.scalar_sym(n, _i32),  # type: ignore[arg-type]
                        ctx.const(np.int32(1)),
                    ],
                    (n,),
                    _i32,
                    schema.RangeOptionsT(),
                ).handle
            )
    rows = ctx.reshape(RTensor(ranges[0], (lq,), _i32), (lq, 1))  # type: ignore[arg-type]
    allowed = ctx.op("LESS_EQUAL", [ranges[1], rows], (lq, s), torch.bool, base="causal")
    return ctx.op(
        "SELECT_V2",
        [allowed, ctx.const(np.float32(0.0)), ctx.const(np.float32(MASK_VALUE))],
        (lq, s),
        _f32,
        base="causal",
    ).handle
