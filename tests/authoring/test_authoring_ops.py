"""The litegen custom ops: contracts of the eager kernels, and one node each in torch.export."""

from __future__ import annotations

import math

import pytest
import torch

from litegen.authoring import (
    AttentionConfig,
    BlockConfig,
    FeedForwardConfig,
    KVCache,
    ModelConfig,
    build_model,
    ops,
)
from litegen.errors import InputError


def _naive_sdpa(q, k, v, pos, scale, softcap=0.0, window=0):
    """Loop-per-(head, query) reference written straight from the contract."""
    b, hq, t, _ = q.shape
    hkv, s = k.shape[1], k.shape[2]
    out = torch.zeros(b, hq, t, v.shape[-1], dtype=torch.float64)
    for bi in range(b):
        for h in range(hq):
            kh = h // (hq // hkv)
            for i in range(t):
                p = int(pos[i])
                scores = []
                for j in range(s):
                    visible = j <= p and (window == 0 or p - j < window)
                    if not visible:
                        scores.append(-math.inf)
                        continue
                    x = scale * float(q[bi, h, i].double() @ k[bi, kh, j].double())
                    scores.append(softcap * math.tanh(x / softcap) if softcap > 0 else x)
                w = torch.softmax(torch.tensor(scores, dtype=torch.float64), dim=0)
                for j in range(s):
                    if scores[j] != -math.inf:
                        out[bi, h, i] += w[j] * v[bi, kh, j].double()
    return out


@pytest.mark.parametrize(
    ("softcap", "window", "pos_dtype"), [(0.0, 0, torch.int64), (2.0, 3, torch.int32)]
)
def test_sdpa_matches_contract_on_a_cache(softcap, window, pos_dtype):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 4, 3, 8, generator=g)
    k = torch.randn(2, 2, 10, 8, generator=g)
    v = torch.randn(2, 2, 10, 8, generator=g)
    k[:, :, 7:], v[:, :, 7:] = float("nan"), float("nan")  # unwritten tail is never read
    pos = torch.tensor([4, 5, 6], dtype=pos_dtype)
    out = ops.sdpa(q, k, v, pos, 0.3, softcap, window)
    assert out.shape == (2, 4, 3, 8)
    ref = _naive_sdpa(q, k, v, pos, 0.3, softcap, window)
    assert torch.allclose(out.double(), ref, atol=1e-5)


def test_sdpa_full_forward_is_causal():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 5, 4, generator=g) for _ in range(3))
    out = ops.sdpa(q, k, v, torch.arange(5), 0.5)
    assert torch.allclose(out.double(), _naive_sdpa(q, k, v, torch.arange(5), 0.5), atol=1e-6)
    assert torch.allclose(out[:, :, 0], v[:, :, 0])  # first query sees only key 0


def test_kv_cache_update_is_functional():
    cache = torch.zeros(1, 2, 6, 3)
    update = torch.ones(1, 2, 2, 3)
    out = ops.kv_cache_update(cache, update, torch.tensor([2, 4], dtype=torch.int32))
    assert cache.abs().sum() == 0  # input untouched
    assert out[:, :, [2, 4]].eq(1).all() and out[:, :, [0, 1, 3, 5]].eq(0).all()


@pytest.mark.parametrize("pos", [[6], [-1], [0, 6]])
def test_kv_cache_update_rejects_out_of_range(pos):
    with pytest.raises(InputError, match="outside"):
        ops.kv_cache_update(
            torch.zeros(1, 1, 6, 2), torch.ones(1, 1, len(pos), 2), torch.tensor(pos)
        )


def _tiny_config(layers: int = 2) -> ModelConfig:
    attn = AttentionConfig(num_heads=4, num_kv_heads=2, head_dim=8, qkv_fused=True)
    block = BlockConfig(attn=attn, ff=FeedForwardConfig(64, gate_up_fused=True))
    return ModelConfig(
        vocab_size=64,
        embedding_dim=32,
        num_layers=layers,
        block_configs=block,
        kv_cache_max_len=32,
    )


class _CachedStep(torch.nn.Module):
    """What an exporter traces: tokens, positions and the cache in; logits and cache out."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens, input_pos, kv_cache: KVCache):
        logits = self.model(tokens, input_pos, kv_cache)
        return logits, kv_cache


def _count(ep: torch.export.ExportedProgram, op) -> int:
    return sum(1 for n in ep.graph.nodes if n.op == "call_function" and n.target == op)


def test_torch_export_keeps_each_op_as_one_node():
    torch.manual_seed(0)
    model = build_model(_tiny_config(layers=2))
    cache = KVCache.create(model.config, max_seq_len=32)
    tokens, pos = torch.randint(0, 64, (1, 5)), torch.arange(5)
    seq = torch.export.Dim("seq", min=1, max=32)
    ep = torch.export.export(
        _CachedStep(model),
        (tokens, pos, cache),
        dynamic_shapes=({1: seq}, {0: seq}, [[None] * 2, [None] * 2]),
    )
    assert _count(ep, torch.ops.litegen.sdpa.default) == 2
    assert _count(ep, torch.ops.litegen.kv_cache_update.default) == 4
    assert _count(ep, torch.ops.litegen.glu.default) == 2  # the fused [gate; up] layers
    # The exported program computes what eager does, for a prefill and a decode step.
    eager_cache, exported_cache = cache.clone(), cache.clone()
    with torch.no_grad():
        for toks, p in ((tokens, pos), (torch.tensor([[7]]), torch.tensor([5]))):
            want = model(toks, p, eager_cache)
            got, exported_cache = ep.module()(toks, p, exported_cache)
            assert torch.allclose(got, want, atol=1e-6)
    assert torch.equal(exported_cache.k[1], eager_cache.k[1])

    full = torch.export.export(model, (tokens,))
    assert _count(full, torch.ops.litegen.sdpa.default) == 2
    assert _count(full, torch.ops.litegen.kv_cache_update.default) == 0


def test_cached_step_needs_positions():
    model = build_model(_tiny_config())
    with pytest.raises(InputError, match="input_pos"):
        model(torch.zeros(1, 2, dtype=torch.long), kv_cache=model.new_kv_cache())


def test_kv_cache_create_shapes():
    cache = KVCache.create(_tiny_config(layers=3), batch_size=2, max_seq_len=16)
    assert len(cache.k) == len(cache.v) == 3
    assert cache.k[0].shape == (2, 2, 16, 8) and cache.max_seq_len == 16


def test_norm_and_rope_ops_are_differentiable() -> None:
    """Fine-tuning through the norms and the rotary embedding keeps working."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 3, 8, dtype=torch.float64, generator=gen, requires_grad=True)
    cos = torch.randn(3, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    sin = torch.randn(3, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(ops.rope, (x, cos, sin))

    h = torch.randn(4, 16, generator=gen, requires_grad=True)
    w = torch.randn(16, generator=gen, requires_grad=True)
    grad = torch.randn(4, 16, generator=gen)
    got = torch.autograd.grad(ops.rms_norm(h, w, 1e-6, True), (h, w), grad)
    # The formula written out, differentiated by autograd.
    ref = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6) * (1.0 + w)
    want = torch.autograd.grad(ref, (h, w), grad)
    for g, r in zip(got, want, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("activation", "formula"),
    [
        ("silu", lambda g: g * torch.sigmoid(g)),
        ("gelu", lambda g: 0.5 * g * (1.0 + torch.erf(g / math.sqrt(2.0)))),
        ("gelu_tanh", lambda g: 0.5 * g * (1.0 + torch.tanh(0.7978845608 * (g + 0.044715 * g**3)))),
        ("relu", lambda g: g.clamp_min(0.0)),
    ],
)
def test_glu_gates_the_up_half_with_the_activation_of_the_gate_half(activation, formula):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 10, dtype=torch.float64, generator=gen, requires_grad=True)
    got = ops.glu(x, activation)
    want = formula(x[..., :5]) * x[..., 5:]
    torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-9)
    grad = torch.randn(2, 3, 5, dtype=torch.float64, generator=gen)
    torch.testing.assert_close(
        torch.autograd.grad(got, x, grad)[0], torch.autograd.grad(want, x, grad)[0]
    )


def test_glu_rejects_unknown_activations_and_odd_widths():
    with pytest.raises(InputError, match="unknown activation 'swish'"):
        ops.glu(torch.zeros(1, 4), "swish")
    with pytest.raises(InputError, match="even last dim"):
        ops.glu(torch.zeros(1, 5), "silu")
