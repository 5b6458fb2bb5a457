"""Tests of the TFLite flatbuffer writer: files are loaded and run by LiteRT and compared
against numpy references."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from litegen.errors import ExportError
from litegen.export.tflite_schema import pack_int4, resolve_dtype, schema
from litegen.export.tflite_writer import (
    BUFFER_ALIGNMENT,
    INLINE_ALIGNMENT,
    PAGE_ALIGNMENT,
    BlockwiseQuantization,
    BufferSource,
    ModelWriter,
    Quantization,
    buffer_alignment,
)

IN, OUT = 16, 24


@pytest.fixture(scope="module")
def fc_params() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1234)
    return (
        rng.standard_normal((OUT, IN)).astype(np.float32),
        rng.standard_normal(OUT).astype(np.float32),
    )


def build_two_signature_fc(weight: np.ndarray, bias: np.ndarray) -> ModelWriter:
    """prefill: x[-1, in] and decode: x[1, in], both FULLY_CONNECTED on one weight buffer
    (weight [out, in])."""
    n_out, n_in = weight.shape
    w = ModelWriter(description="litegen test")
    wbuf = w.add_buffer(weight)
    bbuf = w.add_buffer(bias)
    for name, batch in (("prefill", -1), ("decode", 1)):
        sg = w.add_subgraph(name)
        x = sg.add_input("x", np.float32, (batch, n_in))
        wt = sg.add_constant("w", wbuf, np.float32, (n_out, n_in))
        b = sg.add_constant("b", bbuf, np.float32, (n_out,))
        y = sg.add_tensor("y", np.float32, (batch, n_out))
        sg.add_builtin_op(
            "FULLY_CONNECTED", [x, wt, b], [y], options=schema.FullyConnectedOptionsT()
        )
        sg.add_output(y, name="y")
    return w


def read_model(data: bytes) -> schema.ModelT:
    return schema.ModelT.InitFromPackedBuf(bytearray(data), 0)


# -- (1) two signatures sharing one weight buffer ------------------------------------------


def test_two_signatures_share_weight_buffer(tmp_path: Path, fc_params) -> None:
    weight, bias = fc_params
    path = tmp_path / "fc.tflite"
    size = build_two_signature_fc(weight, bias).write(path)
    data = path.read_bytes()
    assert size == len(data)

    interp = Interpreter(model_path=str(path))
    assert interp.get_signature_list() == {
        "prefill": {"inputs": ["x"], "outputs": ["y"]},
        "decode": {"inputs": ["x"], "outputs": ["y"]},
    }
    rng = np.random.default_rng(0)
    prefill = interp.get_signature_runner("prefill")
    for batch in (3, 7, 2):  # the runner resizes the dynamic first dim on each new batch
        x = rng.standard_normal((batch, IN)).astype(np.float32)
        y = prefill(x=x)["y"]
        assert y.shape == (batch, OUT)
        np.testing.assert_allclose(y, x @ weight.T + bias, rtol=1e-5, atol=1e-5)
    x = rng.standard_normal((1, IN)).astype(np.float32)
    y = interp.get_signature_runner("decode")(x=x)["y"]
    np.testing.assert_allclose(y, x @ weight.T + bias, rtol=1e-5, atol=1e-5)

    # The weights are stored once, at a 64-byte aligned offset after the flatbuffer, and
    # both subgraphs' weight tensors point at that one buffer.
    assert data.count(weight.tobytes()) == 1
    model = read_model(data)
    assert model.version == 3
    assert model.description == b"litegen test"
    w_buffers = {sg.tensors[1].buffer for sg in model.subgraphs}
    assert len(w_buffers) == 1
    wb = model.buffers[w_buffers.pop()]
    assert wb.offset % BUFFER_ALIGNMENT == 0 and wb.size == weight.nbytes
    assert data[wb.offset : wb.offset + wb.size] == weight.tobytes()
    assert model.buffers[0].data is None and model.buffers[0].offset == 0
    assert len(model.operatorCodes) == 1  # one FULLY_CONNECTED v1 code for both subgraphs
    prefill_x = model.subgraphs[0].tensors[0]
    assert list(prefill_x.shape) == [1, IN] and list(prefill_x.shapeSignature) == [-1, IN]
    assert model.subgraphs[1].tensors[0].shapeSignature is None


def test_compiled_model_runs_offset_layout(tmp_path: Path, fc_params) -> None:
    from ai_edge_litert.compiled_model import CompiledModel

    weight, bias = fc_params
    path = tmp_path / "fc.tflite"
    build_two_signature_fc(weight, bias).write(path)
    model = CompiledModel.from_file(str(path))
    assert set(model.get_signature_list()) == {"prefill", "decode"}
    rng = np.random.default_rng(1)
    for signature, batch in (("decode", 1), ("prefill", 4)):
        if batch != 1:
            model.resize_input_tensor_by_name(signature, "x", [batch, IN])
        index = model.get_signature_index(signature)
        inputs = model.create_input_buffers(index)
        outputs = model.create_output_buffers(index)
        x = rng.standard_normal((batch, IN)).astype(np.float32)
        inputs[0].write(x)
        model.run_by_index(index, inputs, outputs)
        y = outputs[0].read(batch * OUT, np.float32).reshape(batch, OUT)
        np.testing.assert_allclose(y, x @ weight.T + bias, rtol=1e-5, atol=1e-5)


# -- (2) elementwise + reshape + softmax with options --------------------------------------


def build_elementwise_model() -> tuple[ModelWriter, np.ndarray]:
    c = np.linspace(-1.0, 1.0, 6, dtype=np.float32)
    w = ModelWriter()
    sg = w.add_subgraph("main")
    x = sg.add_input("x", np.float32, (2, 6))
    const = sg.add_constant("c", w.add_buffer(c), np.float32, (6,))
    new_shape = sg.add_constant("shape", w.add_buffer(np.array([3, 4], np.int32)), "int32", (2,))
    t1 = sg.add_tensor("relu_add", np.float32, (2, 6))
    t2 = sg.add_tensor("mul", np.float32, (2, 6))
    t3 = sg.add_tensor("reshaped", np.float32, (3, 4))
    y = sg.add_tensor("probs", np.float32, (3, 4))
    relu = schema.ActivationFunctionType.RELU
    sg.add_builtin_op("ADD", [x, const], [t1], schema.AddOptionsT(fusedActivationFunction=relu))
    sg.add_builtin_op("MUL", [t1, x], [t2], schema.MulOptionsT())
    sg.add_builtin_op("RESHAPE", [t2, new_shape], [t3], schema.ReshapeOptionsT(newShape=[3, 4]))
    sg.add_builtin_op(schema.BuiltinOperator.SOFTMAX, [t3], [y], schema.SoftmaxOptionsT(beta=0.5))
    sg.add_output(y, name="out")
    return w, c


def elementwise_reference(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    z = (np.maximum(x + c, 0.0) * x).reshape(3, 4) * 0.5
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def run_main(data: bytes, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    return Interpreter(model_content=data).get_signature_runner("main")(**inputs)


def test_elementwise_reshape_softmax() -> None:
    w, c = build_elementwise_model()
    x = np.random.default_rng(2).standard_normal((2, 6)).astype(np.float32)
    out = run_main(w.to_bytes(), x=x)["out"]
    np.testing.assert_allclose(out, elementwise_reference(x, c), rtol=1e-5, atol=1e-6)


def test_remove_dead_operators_keeps_live_and_custom_ops() -> None:
    w, _ = build_elementwise_model()
    sg = w.subgraphs[0]
    x = sg.tensor("x")
    dead1 = sg.add_tensor("dead1", np.float32, (2, 6))
    dead2 = sg.add_tensor("dead2", np.float32, (2, 6))
    side = sg.add_tensor("side", np.float32, (2, 6))
    sg.add_builtin_op("MUL", [x, x], [dead1], schema.MulOptionsT())
    sg.add_builtin_op("ADD", [dead1, x], [dead2], schema.AddOptionsT())  # reads a dead value
    sg.add_custom_op("LITEGEN_TEST_OP", [x], [side])  # unread, but custom: may act in place
    assert sg.remove_dead_operators() == 2
    model = schema.ModelT.InitFromPackedBuf(bytearray(w.to_bytes()), 0)
    codes = [model.operatorCodes[op.opcodeIndex] for op in model.subgraphs[0].operators]
    assert [max(k.builtinCode, k.deprecatedBuiltinCode) for k in codes] == [
        schema.BuiltinOperator.ADD,
        schema.BuiltinOperator.MUL,
        schema.BuiltinOperator.RESHAPE,
        schema.BuiltinOperator.SOFTMAX,
        schema.BuiltinOperator.CUSTOM,
    ]
    assert sg.remove_dead_operators() == 0


# -- (3) offset layout vs inline layout ----------------------------------------------------


def test_offset_and_inline_layouts_agree(fc_params) -> None:
    weight, bias = fc_params
    w = build_two_signature_fc(weight, bias)
    offset_data = w.to_bytes()
    inline_data = w.to_bytes(inline_buffers=True)
    x = np.random.default_rng(3).standard_normal((5, IN)).astype(np.float32)
    results = [
        Interpreter(model_content=d).get_signature_runner("prefill")(x=x)["y"]
        for d in (offset_data, inline_data)
    ]
    np.testing.assert_array_equal(results[0], results[1])

    inline = read_model(inline_data)
    assert all(b.offset == 0 and b.size == 0 for b in inline.buffers)
    assert inline_data.find(weight.tobytes()) % INLINE_ALIGNMENT == 0
    assert inline_data.find(bias.tobytes()) % INLINE_ALIGNMENT == 0
    # Offset layout: the flatbuffer holds no data; the buffers follow it, in order, each
    # 64-byte aligned, and the flatbuffer alone (the bytes before them) parses.
    model = read_model(offset_data)
    assert all(b.data is None for b in model.buffers)
    offsets = [b.offset for b in model.buffers[1:]]
    assert offsets == sorted(offsets)
    assert all(o % BUFFER_ALIGNMENT == 0 for o in offsets)
    assert offset_data.find(weight.tobytes()) == model.buffers[1].offset
    assert offset_data.find(bias.tobytes()) == model.buffers[2].offset
    assert len(offset_data) == offsets[-1] + bias.nbytes
    header = read_model(offset_data[: offsets[0]])
    assert [sg.name for sg in header.subgraphs] == [b"prefill", b"decode"]


def test_weight_sized_buffers_start_on_a_page() -> None:
    """Buffers of a page or more start on a 4 KiB page (decode streams them measurably
    faster there); smaller ones keep the 64-byte alignment, and the model still runs."""
    rng = np.random.default_rng(5)
    weight = rng.standard_normal((OUT, 64)).astype(np.float32)  # 6 KiB
    bias = rng.standard_normal(OUT).astype(np.float32)
    data = build_two_signature_fc(weight, bias).to_bytes()
    model = read_model(data)
    sizes = {b.offset: b.size for b in model.buffers if b.offset}
    assert buffer_alignment(weight.nbytes) == PAGE_ALIGNMENT == 4096
    assert buffer_alignment(bias.nbytes) == BUFFER_ALIGNMENT
    big = [o for o, n in sizes.items() if n == weight.nbytes]
    assert big and all(o % PAGE_ALIGNMENT == 0 for o in big)
    assert all(o % BUFFER_ALIGNMENT == 0 for o in sizes)
    x = rng.standard_normal((2, 64)).astype(np.float32)
    y = Interpreter(model_content=data).get_signature_runner("prefill")(x=x)["y"]
    np.testing.assert_allclose(y, x @ weight.T + bias, rtol=1e-5, atol=1e-5)


def test_elementwise_layouts_agree() -> None:
    w, _ = build_elementwise_model()
    x = np.random.default_rng(4).standard_normal((2, 6)).astype(np.float32)
    a = run_main(w.to_bytes(), x=x)["out"]
    b = run_main(w.to_bytes(inline_buffers=True), x=x)["out"]
    np.testing.assert_array_equal(a, b)


# -- (4) lazy BufferSource streaming ------------------------------------------------------


class ChunkedSource:
    """Yields an array's bytes as bytes, memoryview and ndarray chunks.

    ``produced_delta`` makes it yield that many bytes more (or fewer) than ``nbytes``.
    """

    def __init__(self, array: np.ndarray, produced_delta: int = 0) -> None:
        self.array = array
        self.produced_delta = produced_delta
        self.calls = 0

    @property
    def nbytes(self) -> int:
        return self.array.nbytes

    def chunks(self) -> Iterator[bytes | memoryview | np.ndarray]:
        self.calls += 1
        raw = self.array.tobytes()
        raw = (
            raw + b"\0" * self.produced_delta
            if self.produced_delta >= 0
            else raw[: self.produced_delta]
        )
        yield raw[:10]
        yield memoryview(raw)[10:50]
        yield np.frombuffer(raw[50:], dtype=np.uint8)


def build_lazy_fc(source: ChunkedSource, bias: np.ndarray) -> ModelWriter:
    w = ModelWriter()
    sg = w.add_subgraph("main")
    x = sg.add_input("x", np.float32, (2, IN))
    wt = sg.add_constant("w", w.add_buffer(source), np.float32, (OUT, IN))
    b = sg.add_constant("b", w.add_buffer(bias), np.float32, (OUT,))
    y = sg.add_tensor("y", np.float32, (2, OUT))
    sg.add_builtin_op("FULLY_CONNECTED", [x, wt, b], [y], schema.FullyConnectedOptionsT())
    sg.add_output(y)
    return w


def test_lazy_buffer_source_streams(tmp_path: Path, fc_params) -> None:
    weight, bias = fc_params
    source = ChunkedSource(weight)
    assert isinstance(source, BufferSource)
    path = tmp_path / "lazy.tflite"
    build_lazy_fc(source, bias).write(path)
    assert source.calls == 1
    x = np.random.default_rng(5).standard_normal((2, IN)).astype(np.float32)
    y = Interpreter(model_path=str(path)).get_signature_runner("main")(x=x)["y"]
    np.testing.assert_allclose(y, x @ weight.T + bias, rtol=1e-5, atol=1e-5)
    assert sorted(os.listdir(tmp_path)) == ["lazy.tflite"]


@pytest.mark.parametrize("produced_delta", [8, -8])
def test_lazy_source_wrong_size_leaves_no_file(tmp_path: Path, fc_params, produced_delta) -> None:
    weight, bias = fc_params
    w = build_lazy_fc(ChunkedSource(weight, produced_delta), bias)
    fresh = tmp_path / "new.tflite"
    with pytest.raises(ExportError, match=r"buffer 1 \(ChunkedSource\).*declared nbytes=1536"):
        w.write(fresh)
    assert os.listdir(tmp_path) == []
    # An existing file is left untouched by a failed write.
    existing = tmp_path / "old.tflite"
    existing.write_bytes(b"previous model")
    with pytest.raises(ExportError):
        w.write(existing)
    assert existing.read_bytes() == b"previous model"
    assert os.listdir(tmp_path) == ["old.tflite"]
    with pytest.raises(ExportError):
        w.to_bytes(inline_buffers=True)


# -- (5) custom op -------------------------------------------------------------------------


def test_custom_op_round_trip_and_rejected_by_interpreter() -> None:
    w = ModelWriter()
    sg = w.add_subgraph("main")
    a = sg.add_input("a", np.float32, (2, 3))
    b = sg.add_input("b", np.float32, (2, 3))
    c = sg.add_tensor("c", np.float32, (2, 3))
    d = sg.add_tensor("d", np.float32, (2, 3))
    sg.add_custom_op("LITEGEN_TEST_OP", [a, b], [c], custom_options=b"\x00opts\xff", version=2)
    sg.add_builtin_op("GELU", [c], [d], schema.GeluOptionsT())  # code 150 > 127
    sg.add_output(d)
    data = w.to_bytes()

    model = schema.Model.GetRootAsModel(data, 0)
    assert model.OperatorCodesLength() == 2
    custom = model.OperatorCodes(0)
    assert custom.BuiltinCode() == schema.BuiltinOperator.CUSTOM
    assert custom.DeprecatedBuiltinCode() == schema.BuiltinOperator.CUSTOM
    assert custom.CustomCode() == b"LITEGEN_TEST_OP"
    assert custom.Version() == 2
    gelu = model.OperatorCodes(1)
    assert gelu.BuiltinCode() == schema.BuiltinOperator.GELU == 150
    assert gelu.DeprecatedBuiltinCode() == 127  # PLACEHOLDER_FOR_GREATER_OP_CODES
    op = model.Subgraphs(0).Operators(0)
    assert op.OpcodeIndex() == 0
    assert op.CustomOptionsAsNumpy().tobytes() == b"\x00opts\xff"
    assert list(op.InputsAsNumpy()) == [a.index, b.index]
    assert model.Subgraphs(0).Operators(1).BuiltinOptionsType() == schema.BuiltinOptions.GeluOptions

    interp = Interpreter(model_content=data)
    with pytest.raises(RuntimeError, match="LITEGEN_TEST_OP"):
        interp.allocate_tensors()


def test_gelu_high_opcode_runs() -> None:
    w = ModelWriter()
    sg = w.add_subgraph("main")
    x = sg.add_input("x", np.float32, (5,))
    y = sg.add_tensor("y", np.float32, (5,))
    sg.add_builtin_op("gelu", [x], [y], schema.GeluOptionsT())
    sg.add_output(y)
    xs = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], np.float32)
    erf = np.array([math.erf(v / math.sqrt(2.0)) for v in xs], np.float32)
    np.testing.assert_allclose(run_main(w.to_bytes(), x=xs)["y"], 0.5 * xs * (1 + erf), atol=1e-5)


def test_operator_codes_dedup_and_builtin_options_2() -> None:
    w = ModelWriter()
    sg = w.add_subgraph("main", signature=False)
    x = sg.add_input("x", np.float32, (4,))
    outs = [sg.add_tensor(f"t{i}", np.float32, (4,)) for i in range(6)]
    sg.add_builtin_op("RELU", [x], [outs[0]])
    sg.add_builtin_op("RELU", [outs[0]], [outs[1]])  # same code, version -> same entry
    sg.add_builtin_op("RELU", [outs[1]], [outs[2]], version=2)
    sg.add_custom_op("A", [outs[2]], [outs[3]])
    sg.add_custom_op("A", [outs[3]], [outs[4]])
    reduce_window = schema.ReduceWindowOptionsT(reduceFunction=schema.ReduceWindowFunction.ADD)
    sg.add_builtin_op("REDUCE_WINDOW", [outs[4]], [outs[5]], reduce_window)
    sg.add_output(outs[5])
    model = schema.Model.GetRootAsModel(w.to_bytes(), 0)
    codes = [
        (model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).Version())
        for i in range(model.OperatorCodesLength())
    ]
    relu, custom = schema.BuiltinOperator.RELU, schema.BuiltinOperator.CUSTOM
    assert codes == [(relu, 1), (relu, 2), (custom, 1), (schema.BuiltinOperator.REDUCE_WINDOW, 1)]
    subgraph = model.Subgraphs(0)
    assert [subgraph.Operators(i).OpcodeIndex() for i in range(6)] == [0, 0, 1, 2, 2, 3]
    op = subgraph.Operators(5)
    assert op.BuiltinOptionsType() == schema.BuiltinOptions.NONE
    assert op.BuiltinOptions2Type() == schema.BuiltinOptions2.ReduceWindowOptions
    assert model.SignatureDefsLength() == 0  # signature=False


# -- (6) misuse ----------------------------------------------------------------------------


def test_misuse_raises_export_error() -> None:
    w = ModelWriter()
    sg = w.add_subgraph("prefill")
    other = w.add_subgraph("decode")
    x = sg.add_input("x", np.float32, (2, 4))
    with pytest.raises(ExportError, match="duplicate tensor name 'x'"):
        sg.add_tensor("x", np.float32, (2, 4))
    buf = w.add_buffer(np.zeros((8, 4), np.float32))
    with pytest.raises(ExportError, match=r"'w'.*128 bytes.*needs 96"):
        sg.add_constant("w", buf, np.float32, (8, 3))
    with pytest.raises(ExportError, match=r"'w'.*float32 data but the tensor is int32"):
        sg.add_constant("w", buf, np.int32, (8, 4))
    with pytest.raises(ExportError, match="buffer 0 is the empty sentinel"):
        sg.add_constant("w", 0, np.float32, (8, 4))
    with pytest.raises(ExportError, match="unknown buffer index 99"):
        sg.add_constant("w", 99, np.float32, (8, 4))
    with pytest.raises(ExportError, match="must be static"):
        sg.add_constant("w", buf, np.float32, (-1, 4))
    y_other = other.add_tensor("y", np.float32, (2, 4))
    with pytest.raises(ExportError, match="'y' belongs to subgraph 'decode', not 'prefill'"):
        sg.add_builtin_op("RELU", [x], [y_other])
    with pytest.raises(ExportError, match="'x' belongs to subgraph 'prefill'"):
        other.add_output(x)
    with pytest.raises(ExportError, match="expected a TensorHandle, got int"):
        sg.add_builtin_op("RELU", [0], [sg.add_tensor("r", np.float32, (2, 4))])
    with pytest.raises(ExportError, match="dtype 'complex32' is not supported"):
        sg.add_tensor("z", "complex32", (1,))
    with pytest.raises(ExportError, match="unknown builtin operator 'NOT_AN_OP'"):
        sg.add_builtin_op("NOT_AN_OP", [x], [sg.tensor("r")])
    with pytest.raises(ExportError, match="use add_custom_op"):
        sg.add_builtin_op("CUSTOM", [x], [sg.tensor("r")])
    with pytest.raises(ExportError, match="not a BuiltinOptions"):
        sg.add_builtin_op("RELU", [x], [sg.tensor("r")], options=object())
    unwritten = sg.add_tensor("unwritten", np.float32, (2, 4))
    with pytest.raises(ExportError, match=r"RELU.*'unwritten' is not written by any earlier op"):
        sg.add_builtin_op("RELU", [unwritten], [sg.tensor("r")])
    sg.add_builtin_op("RELU", [x], [sg.tensor("r")])
    with pytest.raises(ExportError, match="'r' is already written by op #0 RELU"):
        sg.add_builtin_op("RELU", [x], [sg.tensor("r")])
    with pytest.raises(ExportError, match="duplicate subgraph name 'decode'"):
        w.add_subgraph("decode")
    w.add_metadata("m", b"1")
    with pytest.raises(ExportError, match="duplicate metadata name 'm'"):
        w.add_metadata("m", b"2")
    with pytest.raises(ExportError, match=r"'unwritten'.*not written by any op"):
        sg.add_output(unwritten)
        w.to_bytes()
    with pytest.raises(ExportError, match="expected a numpy array, bytes or a BufferSource"):
        w.add_buffer([1, 2, 3])  # type: ignore[arg-type]


def test_quantization_and_dtype_validation() -> None:
    w = ModelWriter()
    sg = w.add_subgraph("main")
    with pytest.raises(ExportError, match="3 per-channel scales do not match dimension 0"):
        sg.add_tensor("q", np.int8, (4, 2), Quantization(scale=np.ones(3), quantized_dimension=0))
    with pytest.raises(ExportError, match="float32 tensors cannot be quantized"):
        sg.add_tensor("f", np.float32, (4,), Quantization(scale=np.ones(1)))
    with pytest.raises(ExportError, match="same non-zero length"):
        Quantization(scale=np.ones(2), zero_point=np.zeros(3))
    buf = w.add_buffer(np.zeros(8, np.int8))
    with pytest.raises(ExportError, match="pack_int4"):
        sg.add_constant("w4", buf, "int4", (8,))
    assert resolve_dtype("int4").nbytes(7) == 4
    assert resolve_dtype(np.float16).tensor_type == schema.TensorType.FLOAT16
    assert resolve_dtype(np.dtype(">i4")).name == "int32"
    assert resolve_dtype("bool").tensor_type == schema.TensorType.BOOL
    packed = pack_int4(np.array([-8, 7, 1, -1, 3], np.int8))
    assert packed.tolist() == [0x78, 0xF1, 0x03]


# -- (7) quantized weights on FULLY_CONNECTED ----------------------------------------------


@pytest.mark.parametrize("bits", [8, 4])
def test_hybrid_per_channel_fully_connected(fc_params, bits: int) -> None:
    weight, bias = fc_params
    qmax = 2 ** (bits - 1) - 1
    scale = np.abs(weight).max(axis=1) / qmax
    q = np.clip(np.round(weight / scale[:, None]), -qmax, qmax).astype(np.int8)
    w_deq = q.astype(np.float32) * scale[:, None].astype(np.float32)

    w = ModelWriter()
    sg = w.add_subgraph("main")
    x = sg.add_input("x", np.float32, (-1, IN))
    quant = Quantization(scale=scale, zero_point=np.zeros(OUT, np.int64), quantized_dimension=0)
    data, dtype = (q, "int8") if bits == 8 else (pack_int4(q), "int4")
    wt = sg.add_constant("w", w.add_buffer(data), dtype, (OUT, IN), quantization=quant)
    b = sg.add_constant("b", w.add_buffer(bias), np.float32, (OUT,))
    y = sg.add_tensor("y", np.float32, (-1, OUT))
    sg.add_builtin_op("FULLY_CONNECTED", [x, wt, b], [y], schema.FullyConnectedOptionsT())
    sg.add_output(y)

    xs = np.random.default_rng(6).standard_normal((5, IN)).astype(np.float32)
    out = run_main(w.to_bytes(), x=xs)["y"]
    reference = xs @ w_deq.T + bias
    # Hybrid FC also quantizes each activation row to int8 on the fly with a step of at
    # most max|x_row| / 127 (symmetric in the TFLite kernel; XNNPACK's asymmetric per-row
    # step (max - min) / 255 is no larger), so each activation is off by at most half a
    # step and output (n) is off by at most sum_k |w_deq[n, k]| * step / 2. Products are
    # accumulated exactly in int32, so that bound (plus float slack) is the tolerance.
    step = np.abs(xs).max(axis=1, keepdims=True) / 127.0
    bound = np.abs(w_deq).sum(axis=1)[None, :] * step / 2 + 1e-5
    assert np.all(np.abs(out - reference) <= bound)
    # ...and the check is not vacuous: the bound is a few percent of the output scale.
    assert bound.max() < 0.1 * np.abs(reference).max()


def test_blockwise_quantization_parses_back() -> None:
    w = ModelWriter()
    sg = w.add_subgraph("main")
    block = 4
    q = np.random.default_rng(7).integers(-8, 8, size=(OUT, IN)).astype(np.int8)
    scales_data = np.full((OUT, IN // block), 0.05, np.float16)
    scales = sg.add_constant("w_scales", w.add_buffer(scales_data), np.float16, (OUT, IN // block))
    quant = BlockwiseQuantization(scales=scales, block_size=block)
    wt = sg.add_constant("w", w.add_buffer(pack_int4(q)), "int4", (OUT, IN), quantization=quant)
    x = sg.add_input("x", np.float32, (1, IN))
    y = sg.add_tensor("y", np.float32, (1, OUT))
    sg.add_builtin_op("FULLY_CONNECTED", [x, wt, None], [y], schema.FullyConnectedOptionsT())
    sg.add_output(y)
    data = w.to_bytes()

    model = read_model(data)
    tensors = model.subgraphs[0].tensors
    w_tensor = tensors[wt.index]
    assert w_tensor.type == schema.TensorType.INT4
    qp = w_tensor.quantization
    assert qp.detailsType == schema.QuantizationDetails.BlockwiseQuantization
    assert qp.details.scales == scales.index
    assert qp.details.zeroPoints == -1
    assert qp.details.blockSize == block
    assert tensors[scales.index].type == schema.TensorType.FLOAT16
    assert list(model.subgraphs[0].operators[0].inputs) == [x.index, wt.index, -1]
    packed = model.buffers[w_tensor.buffer]
    assert packed.size == OUT * IN // 2
    assert data[packed.offset : packed.offset + packed.size] == pack_int4(q).tobytes()


# -- metadata, import hygiene ---------------------------------------------------------------


def test_metadata_round_trip(fc_params) -> None:
    w = build_two_signature_fc(*fc_params)
    w.add_metadata("litegen.config", b'{"layers": 2}')
    data = w.to_bytes()
    model = read_model(data)
    (entry,) = model.metadata
    assert entry.name == b"litegen.config"
    buf = model.buffers[entry.buffer]
    assert data[buf.offset : buf.offset + buf.size] == b'{"layers": 2}'
    inline = read_model(w.to_bytes(inline_buffers=True))
    assert inline.buffers[inline.metadata[0].buffer].data.tobytes() == b'{"layers": 2}'


def test_export_package_does_not_import_torch() -> None:
    code = (
        "import sys, litegen.export, litegen.export.tflite_writer as t; "
        "assert litegen.export.ModelWriter is t.ModelWriter; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_block_writer_writes_whole_aligned_blocks():
    """The model file is written in whole 2 MiB-multiple blocks (so its page-cache pages
    can be mapped with huge pages), with the same bytes as written."""
    from litegen.export.tflite_writer import _BlockWriter

    class Recorder:
        def __init__(self) -> None:
            self.sizes: list[int] = []
            self.data = bytearray()

        def write(self, data) -> int:
            self.sizes.append(len(data))
            self.data += data
            return len(data)

    rng = np.random.default_rng(0)
    sink = Recorder()
    writer = _BlockWriter(sink, block=1024)  # type: ignore[arg-type]
    expected = bytearray()
    for size in rng.integers(0, 3000, 200):
        chunk = rng.integers(0, 256, int(size), dtype=np.uint8)
        assert writer.write(memoryview(chunk)) == size
        expected += chunk.tobytes()
    writer.flush()
    assert sink.data == expected
    assert all(s % 1024 == 0 for s in sink.sizes[:-1]) and sink.sizes[-1] <= 1024 + 2 * 3000
