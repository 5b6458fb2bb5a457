"""litegen custom ops: attention, the KV-cache write, RMSNorm, rotary embedding and the
gated activation.

The authoring layers call these ops (registered with ``torch.library``) so that
``torch.export`` keeps each as ONE graph node; the exporter lowers them to our fused TFLite
custom ops (fast path) or to builtin ops (portable path), and the C++ runtime implements the
same contracts. The eager kernels below are the numerical reference for both.

``litegen::kv_cache_update(Tensor cache, Tensor update, Tensor input_pos) -> Tensor``
    Functional: returns a new tensor equal to ``cache`` with rows ``input_pos`` of the
    sequence axis replaced by ``update``.
    - ``cache``: [B, Hkv, S_max, D]; ``update``: [B, Hkv, T, D] (same B, Hkv, D; it is cast
      to ``cache``'s dtype); ``input_pos``: int32 or int64 [T], absolute positions.
    - ``out[:, :, input_pos[t], :] = update[:, :, t, :]``; every other row is unchanged.
    - A position outside ``[0, S_max)`` is an error (eager: :class:`InputError`).

``litegen::sdpa(Tensor q, Tensor k, Tensor v, Tensor input_pos, float scale,
float logit_softcap=0.0, int sliding_window=0) -> Tensor``
    Causal scaled dot-product attention with grouped-query heads.
    - ``q``: [B, Hq, T, D]; ``k``, ``v``: [B, Hkv, S, D] — either the whole cache (S = S_max)
      or the fresh keys/values of a full forward (S = T, ``input_pos = arange(T)``).
    - ``Hq`` is a multiple of ``Hkv``; query head ``h`` uses key/value head ``h // (Hq/Hkv)``.
    - ``input_pos``: int32/int64 [T], the absolute position of each query; key row ``j`` holds
      position ``j``.
    - ``scores = scale * (q @ k^T)``; if ``logit_softcap > 0``:
      ``scores = logit_softcap * tanh(scores / logit_softcap)`` (before masking).
    - Key ``j`` is visible to query ``i`` iff ``j <= input_pos[i]`` and
      (``sliding_window == 0`` or ``input_pos[i] - j < sliding_window``); invisible scores
      are -inf. ``probs = softmax(scores)`` over keys (in float32), ``out = probs @ v``.
    - Output: [B, Hq, T, D]. Rows of k/v beyond ``max(input_pos)`` are never read, so a
      cache's unwritten tail may hold anything.

``litegen::rms_norm(Tensor x, Tensor weight, float eps, bool zero_centered=False) -> Tensor``
    ``x * rsqrt(mean(x^2, -1) + eps) * w`` over the last dim, in float32 (returned in
    ``x``'s dtype); ``w = 1 + weight`` when ``zero_centered`` (Gemma), else ``weight`` [D].

``litegen::glu(Tensor x, str activation) -> Tensor``
    Gated activation of a fused ``[gate; up]`` projection (SwiGLU, GeGLU):
    ``act(x[..., :F]) * x[..., F:]`` for ``x`` [..., 2F]; ``activation`` is one of
    ``GLU_ACTIVATIONS`` (``gelu`` is the exact erf form, ``gelu_tanh`` the tanh one).

``litegen::rope(Tensor x, Tensor cos, Tensor sin) -> Tensor``
    Rotary embedding of ``x`` [..., T, D] with ``cos``/``sin`` [T, R] (R even, <= D): the
    first R dims are rotated in half-split pairs, ``x_rot * cos + cat(-x2, x1) * sin`` with
    ``x1, x2`` the two halves of ``x_rot``; dims R.. pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from litegen.errors import InputError

_SDPA_SCHEMA = (
    "(Tensor q, Tensor k, Tensor v, Tensor input_pos, float scale, "
    "float logit_softcap=0.0, int sliding_window=0) -> Tensor"
)
_KV_UPDATE_SCHEMA = "(Tensor cache, Tensor update, Tensor input_pos) -> Tensor"
_RMS_NORM_SCHEMA = "(Tensor x, Tensor weight, float eps, bool zero_centered=False) -> Tensor"
_ROPE_SCHEMA = "(Tensor x, Tensor cos, Tensor sin) -> Tensor"
_GLU_SCHEMA = "(Tensor x, str activation) -> Tensor"


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.gelu(x, approximate="tanh")


# The activations litegen::glu takes; their order is the LITEGEN_GLU activation code
# (docs/custom_ops.md), so only append.
GLU_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "silu": torch.nn.functional.silu,
    "gelu": torch.nn.functional.gelu,
    "gelu_tanh": _gelu_tanh,
    "relu": torch.nn.functional.relu,
}


def _check_positions(input_pos: torch.Tensor, length: int, what: str) -> None:
    if input_pos.dim() != 1 or input_pos.dtype not in (torch.int32, torch.int64):
        raise InputError(
            f"{what}: input_pos must be a 1-D int32/int64 tensor, got "
            f"{input_pos.dtype} of shape {tuple(input_pos.shape)}"
        )
    if input_pos.numel() and (int(input_pos.min()) < 0 or int(input_pos.max()) >= length):
        raise InputError(
            f"{what}: positions {input_pos.tolist()} are outside [0, {length}) "
            f"(the sequence length of the keys/cache)"
        )


@torch.library.custom_op("litegen::kv_cache_update", mutates_args=(), schema=_KV_UPDATE_SCHEMA)
def _kv_cache_update(
    cache: torch.Tensor, update: torch.Tensor, input_pos: torch.Tensor
) -> torch.Tensor:
    if cache.dim() != 4 or update.dim() != 4:
        raise InputError(
            f"kv_cache_update: cache and update must be 4-D [B, Hkv, S, D], got "
            f"{tuple(cache.shape)} and {tuple(update.shape)}"
        )
    b, h, _, d = cache.shape
    expected = (b, h, input_pos.numel(), d)
    if tuple(update.shape) != expected:
        raise InputError(
            f"kv_cache_update: update {tuple(update.shape)} does not fit cache "
            f"{tuple(cache.shape)} with {input_pos.numel()} positions"
        )
    _check_positions(input_pos, cache.shape[2], "kv_cache_update")
    out = cache.clone()
    out.index_copy_(2, input_pos.to(torch.long), update.to(cache.dtype))
    return out


@_kv_cache_update.register_fake
def _kv_cache_update_fake(
    cache: torch.Tensor, update: torch.Tensor, input_pos: torch.Tensor
) -> torch.Tensor:
    return torch.empty_like(cache)


@torch.library.custom_op("litegen::sdpa", mutates_args=(), schema=_SDPA_SCHEMA)
def _sdpa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    input_pos: torch.Tensor,
    scale: float,
    logit_softcap: float = 0.0,
    sliding_window: int = 0,
) -> torch.Tensor:
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise InputError("sdpa: q, k and v must be 4-D [B, H, T|S, D]")
    b, hq, t, _ = q.shape
    hkv, s = k.shape[1], k.shape[2]
    if hq % hkv or v.shape[:3] != k.shape[:3] or t != input_pos.numel():
        raise InputError(
            f"sdpa: incompatible shapes q={tuple(q.shape)} k={tuple(k.shape)} "
            f"v={tuple(v.shape)} input_pos={tuple(input_pos.shape)}"
        )
    _check_positions(input_pos, s, "sdpa")
    if t == 0:
        return q.new_empty((b, hq, 0, v.shape[-1]))
    pos = input_pos.to(torch.long)
    # Keys after the last query position are never visible: skip them (and any unwritten
    # cache rows, which may hold NaN/garbage that would poison 0 * x in probs @ v).
    visible = int(pos.max()) + 1
    k, v = k[:, :, :visible], v[:, :, :visible]
    group = hq // hkv
    # Group query heads per kv head instead of repeating k/v (no copies).
    qg = q.reshape(b, hkv, group * t, q.shape[-1])
    scores = torch.matmul(qg, k.transpose(-1, -2)) * scale
    if logit_softcap > 0.0:
        scores = torch.tanh(scores / logit_softcap) * logit_softcap
    key_pos = torch.arange(visible, device=q.device)
    allowed = key_pos[None, :] <= pos[:, None]
    if sliding_window > 0:
        allowed &= (pos[:, None] - key_pos[None, :]) < sliding_window
    scores = scores.view(b, hkv, group, t, visible).masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    out = torch.matmul(probs.view(b, hkv, group * t, visible), v)
    return out.view(b, hq, t, v.shape[-1])


@_sdpa.register_fake
def _sdpa_fake(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    input_pos: torch.Tensor,
    scale: float,
    logit_softcap: float = 0.0,
    sliding_window: int = 0,
) -> torch.Tensor:
    return q.new_empty((q.shape[0], q.shape[1], q.shape[2], v.shape[-1]))


def _rms_norm_reference(
    x: torch.Tensor, weight: torch.Tensor, eps: float, zero_centered: bool
) -> torch.Tensor:
    xf = x.to(torch.float32)
    normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    scale = weight.to(torch.float32)
    if zero_centered:
        scale = 1.0 + scale
    return (normed * scale).to(x.dtype)


def _rope_reference(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    rot_dim = cos.shape[-1]
    x_rot, x_pass = x[..., :rot_dim], x[..., rot_dim:]
    half = rot_dim // 2
    rotated = torch.cat((-x_rot[..., half:], x_rot[..., :half]), dim=-1)
    out = x_rot * cos.to(x.dtype) + rotated * sin.to(x.dtype)
    if x_pass.shape[-1] == 0:
        return out
    return torch.cat((out, x_pass), dim=-1)


@torch.library.custom_op("litegen::rms_norm", mutates_args=(), schema=_RMS_NORM_SCHEMA)
def _rms_norm(
    x: torch.Tensor, weight: torch.Tensor, eps: float, zero_centered: bool = False
) -> torch.Tensor:
    if x.dim() < 1 or weight.shape != x.shape[-1:]:
        raise InputError(
            f"rms_norm: weight {tuple(weight.shape)} does not match x {tuple(x.shape)}"
        )
    return _rms_norm_reference(x, weight, eps, zero_centered)


@_rms_norm.register_fake
def _rms_norm_fake(
    x: torch.Tensor, weight: torch.Tensor, eps: float, zero_centered: bool = False
) -> torch.Tensor:
    return torch.empty_like(x)


@torch.library.custom_op("litegen::rope", mutates_args=(), schema=_ROPE_SCHEMA)
def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    rot_dim = cos.shape[-1]
    if (
        x.dim() < 2
        or cos.dim() != 2
        or sin.shape != cos.shape
        or cos.shape[0] != x.shape[-2]
        or rot_dim % 2
        or rot_dim > x.shape[-1]
    ):
        raise InputError(
            f"rope: incompatible shapes x={tuple(x.shape)} cos={tuple(cos.shape)} "
            f"sin={tuple(sin.shape)} (want x [..., T, D], cos/sin [T, R], R even <= D)"
        )
    return _rope_reference(x, cos, sin)


@_rope.register_fake
def _rope_fake(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def _glu_reference(x: torch.Tensor, activation: str) -> torch.Tensor:
    gate, up = x.chunk(2, dim=-1)
    return GLU_ACTIVATIONS[activation](gate) * up


@torch.library.custom_op("litegen::glu", mutates_args=(), schema=_GLU_SCHEMA)
def _glu(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation not in GLU_ACTIVATIONS:
        raise InputError(
            f"glu: unknown activation {activation!r}; supported: {sorted(GLU_ACTIVATIONS)}"
        )
    if x.dim() < 1 or x.shape[-1] % 2:
        raise InputError(f"glu: x {tuple(x.shape)} must have an even last dim ([gate; up])")
    return _glu_reference(x, activation)


@_glu.register_fake
def _glu_fake(x: torch.Tensor, activation: str) -> torch.Tensor:
    return x.new_empty((*x.shape[:-1], x.shape[-1] // 2))


# Norms, rotary embeddings and the gated activation stay differentiable (fine-tuning,
# adapters): the backward re-runs the reference formula under autograd. Attention and the
# cache write are inference-only.
def _save_inputs(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    ctx.save_for_backward(*(t for t in inputs if isinstance(t, torch.Tensor)))
    ctx.constants = tuple(v for v in inputs if not isinstance(v, torch.Tensor))


def _backward_through(reference: Callable[..., torch.Tensor]) -> Callable[..., tuple]:
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:
        tensors = [t.detach().requires_grad_(t.is_floating_point()) for t in ctx.saved_tensors]
        with torch.enable_grad():
            out = reference(*tensors, *ctx.constants)
        wanted = [t for t in tensors if t.requires_grad]
        grads = iter(torch.autograd.grad(out, wanted, grad, allow_unused=True))
        return (*(next(grads) if t.requires_grad else None for t in tensors),) + (None,) * len(
            ctx.constants
        )

    return backward


_rms_norm.register_autograd(_backward_through(_rms_norm_reference), setup_context=_save_inputs)
_rope.register_autograd(_backward_through(_rope_reference), setup_context=_save_inputs)
_glu.register_autograd(_backward_through(_glu_reference), setup_context=_save_inputs)


def rms_norm(
    x: torch.Tensor, weight: torch.Tensor, eps: float, zero_centered: bool = False
) -> torch.Tensor:
    """RMSNorm of ``x`` over its last dim (see module doc)."""
    return torch.ops.litegen.rms_norm(x, weight, float(eps), bool(zero_centered))


def glu(x: torch.Tensor, activation: str) -> torch.Tensor:
    """``act(gate) * up`` of a fused ``[gate; up]`` tensor ``x`` (see module doc)."""
    return torch.ops.litegen.glu(x, activation)


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of ``x`` [..., T, D] by ``cos``/``sin`` [T, R] (see module doc)."""
    return torch.ops.litegen.rope(x, cos, sin)


def kv_cache_update(
    cache: torch.Tensor, update: torch.Tensor, input_pos: torch.Tensor
) -> torch.Tensor:
    """Return ``cache`` with rows ``input_pos`` replaced by ``update`` (see module doc)."""
    return torch.ops.litegen.kv_cache_update(cache, update, input_pos)


def sdpa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    input_pos: torch.Tensor,
    scale: float,
    logit_softcap: float = 0.0,
    sliding_window: int = 0,
) -> torch.Tensor:
    """Causal grouped-query attention of ``q`` over ``k``/``v`` (see module doc)."""
    return torch.ops.litegen.sdpa(
        q, k, v, input_pos, float(scale), float(logit_softcap), int(sliding_window)
    )
