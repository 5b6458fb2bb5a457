"""What a model reads per token: the bytes and parameter count of its matmul weights, and
the KV cache bytes attention reads per position.

Read straight from the .tflite flatbuffer (memory-mapped; no buffer data is touched), so
it works on a 1 GB model in milliseconds. Decode reads every matmul weight once per
token, so ``weight_bytes`` over the memory bandwidth bounds decode tokens/s; prefill does
``2 * matmul_params`` operations per token, so the int8 matmul peak bounds prefill.
Constant buffers shared by several signatures (prefill and decode) count once. The KV
cache is the signature inputs ``kv_cache_k_{i}`` / ``kv_cache_v_{i}`` (keys [1, Hkv, S_max,
D], values in that or the transposed layout), so one position is their bytes / S_max.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

from litegen.bench.errors import BenchmarkError

# Weight-reading ops: the weight is input 1 (FULLY_CONNECTED, BATCH_MATMUL, CONV_2D), and
# litegen's LITEGEN_FC, whose scales and row sums (inputs 2, 3) are read with it and whose
# uint8 weights hold two int4 values per byte (docs/custom_ops.md).
_MATMUL_OPS = ("FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D")
_FAST_LINEAR = b"LITEGEN_FC"


@dataclass(frozen=True)
class ModelWeights:
    file_bytes: int
    weight_bytes: int  # matmul weights (+ blockwise scales): read once per decode step
    matmul_params: int  # elements of those weights: 2 * this = operations per token
    constant_bytes: int  # every constant buffer (embedding table included)
    kv_bytes_per_position: float = 0.0  # keys + values of one position, every layer


def _buffer_bytes(buffer: object) -> int:
    # Offset buffers (the >2 GB layout litegen writes) keep their data after the
    # flatbuffer; inline buffers hold it in `data`.
    if buffer.Offset() > 1:  # type: ignore[attr-defined]
        return int(buffer.Size())  # type: ignore[attr-defined]
    return int(buffer.DataLength())  # type: ignore[attr-defined]


def read_model_weights(path: Path) -> ModelWeights:
    """Weight statistics of a .tflite / .litegen file; BenchmarkError if unreadable."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _read(schema, data, path)
    except (OSError, ValueError) as e:
        raise BenchmarkError(f"cannot read model '{path}': {e}") from e


def _read(schema: object, data: mmap.mmap, path: Path) -> ModelWeights:
    model = schema.Model.GetRootAs(data, 0)  # type: ignore[attr-defined]
    codes = []
    fast_linear = set()  # opcode indices of LITEGEN_FC
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        codes.append(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()))
        if oc.CustomCode() == _FAST_LINEAR:
            fast_linear.add(i)
    op_enum = schema.BuiltinOperator  # type: ignore[attr-defined]
    matmul_codes = {getattr(op_enum, name) for name in _MATMUL_OPS}
    uint8 = schema.TensorType.UINT8  # type: ignore[attr-defined]
    blockwise = schema.QuantizationDetails.BlockwiseQuantization  # type: ignore[attr-defined]

    seen: set[int] = set()  # buffers counted already
    weight_bytes = params = 0

    def add_buffer(index: int) -> int:
        nonlocal weight_bytes
        if index <= 0 or index in seen:
            return 0
        seen.add(index)
        size = _buffer_bytes(model.Buffers(index))
        weight_bytes += size
        return size

    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            fast = op.OpcodeIndex() in fast_linear
            if (codes[op.OpcodeIndex()] not in matmul_codes and not fast) or op.InputsLength() < 2:
                continue
            index = op.Inputs(1)
            if index < 0:
                continue
            tensor = sg.Tensors(index)
            if tensor.Buffer() <= 0 or tensor.Buffer() in seen:
                continue  # activations (BATCH_MATMUL on q/k) or a weight counted already
            add_buffer(tensor.Buffer())
            count = 1
            for d in range(tensor.ShapeLength()):
                count *= max(tensor.Shape(d), 0)
            params += count * (2 if fast and tensor.Type() == uint8 else 1)
            if fast:
                for extra in range(2, min(op.InputsLength(), 4)):  # scales, row sums
                    add_buffer(sg.Tensors(op.Inputs(extra)).Buffer())
                continue
            quant = tensor.Quantization()
            if quant is not None and quant.DetailsType() == blockwise:
                details = schema.BlockwiseQuantization()  # type: ignore[attr-defined]
                table = quant.Details()
                details.Init(table.Bytes, table.Pos)
                for extra in (details.Scales(), details.ZeroPoints()):
                    if extra >= 0:
                        add_buffer(sg.Tensors(extra).Buffer())
    if params == 0:
        raise BenchmarkError(f"model '{path}' has no constant matmul weights")
    constant = sum(_buffer_bytes(model.Buffers(i)) for i in range(model.BuffersLength()))
    return ModelWeights(
        file_bytes=path.stat().st_size,
        weight_bytes=weight_bytes,
        matmul_params=params,
        constant_bytes=constant,
        kv_bytes_per_position=_kv_bytes_per_position(schema, model),
    )


def _kv_bytes_per_position(schema: object, model: object) -> float:
    """The KV cache inputs of the first signature that has them; 0 if none does."""
    sizes = {
        schema.TensorType.FLOAT32: 4,  # type: ignore[attr-defined]
        schema.TensorType.FLOAT16: 2,  # type: ignore[attr-defined]
        schema.TensorType.INT8: 1,  # type: ignore[attr-defined]
    }
    for s in range(model.SignatureDefsLength()):  # type: ignore[attr-defined]
        sig = model.SignatureDefs(s)  # type: ignore[attr-defined]
        sg = model.Subgraphs(sig.SubgraphIndex())  # type: ignore[attr-defined]
        total, positions = 0, 0
        for i in range(sig.InputsLength()):
            entry = sig.Inputs(i)
            name = entry.Name().decode()
            if not name.startswith("kv_cache_"):
                continue
            tensor = sg.Tensors(entry.TensorIndex())
            shape = [tensor.Shape(d) for d in range(tensor.ShapeLength())]
            if len(shape) != 4 or min(shape) < 1 or tensor.Type() not in sizes:
                return 0.0  # not a layout this count knows
            total += sizes[tensor.Type()] * shape[0] * shape[1] * shape[2] * shape[3]
            if name.startswith("kv_cache_k_"):
                positions = shape[2]
        if total and positions:
            return total / positions
    return 0.0
