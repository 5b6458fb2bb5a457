"""ATen op coverage beyond the model families: small modules lowered to TFLite, run by
the stock interpreter and compared with eager PyTorch, including dynamic sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from ai_edge_litert.interpreter import Interpreter
from torch import nn
from torch.export import Dim

from litegen.export.lowering.context import LoweringContext
from litegen.export.lowering.graph import InputSpec, OutputSpec, lower_program
from litegen.export.tflite_schema import schema
from litegen.export.tflite_writer import ModelWriter
from litegen.export.weights import ConstantPool


def lower(module: nn.Module, args: tuple, dynamic_shapes=None) -> bytes:
    with torch.no_grad():
        program = torch.export.export(module, args, dynamic_shapes=dynamic_shapes, strict=False)
    writer = ModelWriter()
    ctx = LoweringContext(writer.add_subgraph("main"), ConstantPool(writer), "portable")
    outputs = program.graph_signature.user_outputs
    lower_program(
        ctx,
        program,
        [InputSpec(f"x{i}") for i in range(len(args))],
        [OutputSpec(f"y{i}") for i in range(len(outputs))],
    )
    return writer.to_bytes()


def check(module: nn.Module, args: tuple, dynamic_shapes=None, more: tuple = (), rtol=1e-5):
    """Lower ``module`` on ``args`` and compare with eager on ``args`` and each of ``more``."""
    data = lower(module.eval(), args, dynamic_shapes)
    runner = Interpreter(model_content=data).get_signature_runner("main")
    for inputs in (args, *more):
        with torch.no_grad():
            ref = module(*inputs)
        ref = ref if isinstance(ref, tuple) else (ref,)
        out = runner(**{f"x{i}": a.numpy() for i, a in enumerate(inputs)})
        for i, r in enumerate(ref):
            got, want = out[f"y{i}"], r.numpy()
            assert got.shape == want.shape, f"output {i}: {got.shape} != {want.shape}"
            if want.dtype == np.bool_ or want.dtype.kind in "iu":
                np.testing.assert_array_equal(got, want, err_msg=f"output {i}")
            else:
                scale = max(1.0, float(np.abs(want).max()))
                err = float(np.abs(got - want).max()) / scale
                assert err <= rtol, f"output {i}: relative error {err}"
    return data


class Elementwise(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor):
        return (
            torch.softmax(x, -1),
            torch.softmax(x, 0),
            torch.log_softmax(x, -1),
            F.relu(x),
            F.gelu(x),
            F.gelu(x, approximate="tanh"),
            F.silu(x),
            torch.sigmoid(x),
            torch.tanh(x),
            torch.exp(x),
            torch.sqrt(x.abs() + 1),
            torch.rsqrt(x.abs() + 1),
            x / (y + 2),
            x - y * 3,
            -x,
            x.pow(3),
            x.sum(-1),
            x.amax(-1, keepdim=True),
            x.mean(),
            torch.where(x > 0, x, y),
            x.masked_fill(x < 0, -1.0),
            (x >= y) & (x != 0),
            F.layer_norm(x, (8,), y + 1, y),
            torch.cos(x) + torch.sin(x),
        )


def test_elementwise_and_reductions_dynamic_rows():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(5, 8, generator=gen), torch.randn(8, generator=gen)
    rows = Dim("rows", min=2, max=16)
    check(
        Elementwise(),
        (x, y),
        dynamic_shapes=({0: rows}, None),
        more=((torch.randn(3, 8, generator=gen), y), (torch.randn(11, 8, generator=gen), y)),
    )


class Shapes(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 5, generator=torch.Generator().manual_seed(3)))
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor, idx: torch.Tensor):
        n = x.shape[0]
        return (
            x.permute(2, 0, 1),
            x.transpose(0, 1),
            x[:, 1],
            x[..., 2:5],
            x[: n - 1],
            x[-1:],  # negative bounds on the dynamic dim: counted from the end at run time
            x[-2:-1],
            x.unsqueeze(1).squeeze(1),
            torch.cat([x, x * 2], dim=-1),
            x.split([2, 4], dim=-1)[1],
            x.chunk(2, dim=1)[0],
            x.reshape(-1, 6),
            x.flatten(1),
            x.view(n * 2, 2, 6),
            x.index_select(2, idx),
            x[:, :, idx],
            x[:, :1].expand(-1, 4, -1),
            torch.bmm(x, x.transpose(1, 2)),
            x @ self.w,
            self.fc(x),
            F.linear(x, x[0]),
        )


def test_shape_ops_and_matmul_dynamic_rows():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(5, 4, 6, generator=gen)
    idx = torch.tensor([4, 0, 2], dtype=torch.int32)
    rows = Dim("rows", min=3, max=16)  # x[: n - 1] must keep 2+ rows (no 0/1 specialising)
    check(
        Shapes(),
        (x, idx),
        dynamic_shapes=({0: rows}, None),
        more=(
            (torch.randn(2, 4, 6, generator=gen), idx),
            (torch.randn(9, 4, 6, generator=gen), idx),
        ),
    )


class Creation(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.linspace(-1, 1, 4))

    def forward(self, x: torch.Tensor):
        n = x.shape[0]
        folded = self.w * 2 + torch.ones(4)  # constant: folded at export time
        return (
            torch.arange(n),
            torch.arange(1, n + 1, dtype=torch.int32) * 2,
            torch.full((n, 2), 3.0),
            torch.zeros_like(x) + 1,
            x * folded,
            x + torch.arange(4, dtype=torch.float32),
        )


def test_creation_ops_dynamic_and_folded():
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(2))
    rows = Dim("rows", min=2, max=16)
    data = check(
        Creation(),
        (x,),
        dynamic_shapes=({0: rows},),
        more=((torch.randn(7, 4),), (torch.randn(2, 4),)),
    )
    # w * 2 + ones(4) is one folded constant, not MUL/ADD ops on the parameter.
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    ops = [model.operatorCodes[o.opcodeIndex].builtinCode for o in model.subgraphs[0].operators]
    assert ops.count(schema.BuiltinOperator.MUL) == 2  # x * folded and (...) * 2


@pytest.mark.parametrize("window", [0, 3])
def test_portable_attention_matches_reference_op(window):
    """litegen::sdpa lowered to builtin ops (mask from input_pos) == its eager kernel."""
    from litegen.authoring import ops

    class Attend(nn.Module):
        def forward(self, q, k, v, pos):
            return ops.sdpa(q, k, v, pos, 0.3, 2.0, window)

    gen = torch.Generator().manual_seed(4)
    q = torch.randn(1, 4, 3, 8, generator=gen)
    k, v = torch.randn(1, 2, 10, 8, generator=gen), torch.randn(1, 2, 10, 8, generator=gen)
    pos = torch.tensor([4, 5, 6], dtype=torch.int32)
    t = Dim("t", min=1, max=10)
    check(
        Attend(),
        (q, k, v, pos),
        dynamic_shapes=({2: t}, None, None, {0: t}),
        more=((q[:, :, :1], k, v, pos[:1] + 3),),
    )


class MoreOps(nn.Module):
    def forward(self, x: torch.Tensor):
        return (
            torch.clamp(x, -0.5, 0.5),
            x.clamp(min=0),
            torch.square(x),
            torch.reciprocal(x.abs() + 1),
            torch.stack([x, x * 2], 1),
            x.unbind(1)[2],
            x.repeat_interleave(2, dim=1),
            x.repeat(1, 2),
        )


def test_more_ops_dynamic_rows():
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(5))
    rows = Dim("rows", min=2, max=16)
    check(MoreOps(), (x,), dynamic_shapes=({0: rows},), more=((torch.randn(3, 4),),))


class TorchAttention(nn.Module):
    """Plain F.scaled_dot_product_attention (no litegen op): causal, masked, and GQA."""

    def forward(self, q, k, v, mask):
        return (
            F.scaled_dot_product_attention(q, k, v, is_causal=True),
            F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.2),
            F.scaled_dot_product_attention(q, k[:, :2], v[:, :2], is_causal=True, enable_gqa=True),
        )


def test_torch_scaled_dot_product_attention():
    gen = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(1, 4, 6, 8, generator=gen) for _ in range(3))
    mask = torch.randn(6, 6, generator=gen) > 0
    mask[:, 0] = True  # no fully hidden rows
    seq = Dim("seq", min=2, max=16)
    dyn = {2: seq}
    q2, k2, v2 = (torch.randn(1, 4, 9, 8, generator=gen) for _ in range(3))
    mask2 = torch.randn(9, 9, generator=gen) > 0
    mask2[:, 0] = True
    check(
        TorchAttention(),
        (q, k, v, mask),
        dynamic_shapes=(dyn, dyn, dyn, {0: seq, 1: seq}),
        more=((q2, k2, v2, mask2),),
    )
