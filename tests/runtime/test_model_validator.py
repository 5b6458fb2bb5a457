"""The .tflite validator (cpp/litert/model_validator.cc) on valid and corrupted models.

LiteRT does not fully verify the flatbuffer it loads, so a corrupted file could crash the
process. litegen validates the file first. These tests

* check the generated schema table (third_party/litert/tflite_schema_table.h) against the
  flatbuffer module that ships with ai-edge-litert;
* build valid models with litegen's writer and check they validate, load and run;
* corrupt them on purpose (one known defect each, checking the message) and at random
  (a few hundred byte flips, truncations, offsets past EOF, bad indices) and check that
  every file is either rejected with a message or, if accepted, loads and runs in LiteRT
  without a crash (each LiteRT attempt runs in a subprocess; no signal may kill it).

The validator is exercised twice: directly, through a tiny driver compiled here with g++
(under AddressSanitizer/UBSan when available, which proves the reader never reads out of
bounds), and through ``litegen.runtime.Model``, which must raise ModelLoadError.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import random
import re
import shutil
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import pytest

from litegen.export.tflite_schema import pack_int4, schema
from litegen.export.tflite_writer import BlockwiseQuantization, ModelWriter, Quantization

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_TABLE = ROOT / "third_party" / "litert" / "tflite_schema_table.h"
GENERATOR = ROOT / "third_party" / "litert" / "gen_schema_table.py"

# ---- the direct driver ------------------------------------------------------------------

DRIVER_SOURCE = r"""
#include <chrono>
#include <cstdio>
#include <cstring>
#include "litert/model_validator.h"
// driver FILE...        prints one line per file: "OK" or "ERR <message>"
// driver --time FILE    prints the best of 5 validation times in milliseconds
int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--time") == 0) {
    double best = 1e9;
    for (int i = 0; i < 5; ++i) {
      const auto start = std::chrono::steady_clock::now();
      if (!litegen::ValidateTfliteModelFile(argv[2]).ok()) return 1;
      const std::chrono::duration<double, std::milli> took =
          std::chrono::steady_clock::now() - start;
      if (took.count() < best) best = took.count();
    }
    std::printf("%f\n", best);
    return 0;
  }
  for (int i = 1; i < argc; ++i) {
    const litegen::Status status = litegen::ValidateTfliteModelFile(argv[i]);
    if (status.ok()) std::printf("OK\n"); else std::printf("ERR %s\n", status.message().c_str());
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        pytest.skip(f"no C++ compiler ({cxx}) to build the validator driver")
    out = tmp_path_factory.mktemp("validator")
    (out / "driver.cc").write_text(DRIVER_SOURCE)
    sources = [
        ROOT / "cpp/litert/model_validator.cc",
        ROOT / "cpp/litert/status.cc",
        out / "driver.cc",
    ]
    base = [
        cxx,
        "-std=c++17",
        "-O1",
        "-Wall",
        "-Wextra",
        "-Werror",
        f"-I{ROOT / 'cpp'}",
        f"-I{ROOT / 'third_party'}",
        *map(str, sources),
        "-o",
        str(out / "driver"),
    ]
    sanitize = [
        "-g",
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all",
        "-fno-omit-frame-pointer",
    ]
    if subprocess.run(base[:1] + sanitize + base[1:], capture_output=True).returncode != 0:
        build = subprocess.run(base, capture_output=True, text=True)  # no sanitizer runtime
        assert build.returncode == 0, build.stderr
    return out / "driver"


def validate(driver: Path, paths: list[Path]) -> list[str | None]:
    """The validator's verdict per file: None when valid, else the error message."""
    verdicts: list[str | None] = []
    for start in range(0, len(paths), 200):
        chunk = paths[start : start + 200]
        run = subprocess.run(
            [str(driver), *map(str, chunk)], capture_output=True, text=True, timeout=300
        )
        # A sanitizer report or any signal fails here, naming the output.
        assert run.returncode == 0, f"validator driver failed ({run.returncode}):\n{run.stderr}"
        lines = run.stdout.splitlines()
        assert len(lines) == len(chunk), run.stdout
        verdicts += [None if line == "OK" else line.removeprefix("ERR ") for line in lines]
    return verdicts


# ---- running files in LiteRT, in subprocesses -------------------------------------------

RUNNER = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from litegen.errors import LitegenError
    from litegen.runtime import Model
    limit = 6 << 30  # a corrupted shape must not take the machine down
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for path in sys.argv[1:]:
        print("START", flush=True)
        try:
            model = Model(path, weight_cache=False)
            for name, sig in model.signatures.items():
                inputs = {t.name: np.zeros([1 if d < 0 else d for d in t.shape], t.dtype)
                          for t in sig.inputs}
                model.run(name, **inputs)
            result = "RAN"
        except LitegenError as e:
            result = type(e).__name__ + " " + " ".join(str(e).split())
        except Exception as e:  # noqa: BLE001 - not a crash; reported for the record
            result = "PYTHON " + type(e).__name__ + " " + " ".join(str(e).split())
        print("END " + result, flush=True)
""")


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_in_litert(paths: list[Path], per_file_timeout: float = 30.0) -> list[str]:
    """Loads and runs each file with litegen.runtime.Model in a child process.

    Returns per file "RAN", "<ErrorClass> <message>", or "SIGNAL <n>" / "EXIT <n>" /
    "TIMEOUT" when the child died or hung on that file (a fresh child takes the rest).
    """
    pythonpath = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=pythonpath)
    results: list[str] = []
    while len(results) < len(paths):
        child = subprocess.Popen(
            [sys.executable, "-c", RUNNER, *map(str, paths[len(results) :])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(child.stdout, lines))
        reader.start()
        timeout = 120.0  # the first line waits for the imports
        try:
            while len(results) < len(paths):
                line = lines.get(timeout=timeout)
                if line is None:  # the child exited before finishing its file
                    code = child.wait()
                    results.append(f"SIGNAL {-code}" if code < 0 else f"EXIT {code}")
                    break
                if line.startswith("END "):
                    results.append(line[4:].rstrip("\n"))
                timeout = per_file_timeout
        except queue.Empty:
            results.append("TIMEOUT")
        finally:
            child.kill()
            child.wait()
            reader.join()
    return results


# ---- valid models --------------------------------------------------------------------------


def write_fc(path: Path, inline: bool = False) -> None:
    """Signatures prefill (x [-1, 16]) and decode (x [1, 16]) sharing one weight buffer."""
    rng = np.random.default_rng(0)
    w = ModelWriter()
    weight = w.add_buffer(rng.standard_normal((8, 16)).astype(np.float32))
    bias = w.add_buffer(rng.standard_normal(8).astype(np.float32))
    w.add_metadata("min_runtime_version", b"1.5.0\0\0\0\0\0\0\0\0\0\0\0")
    for name, rows in (("prefill", -1), ("decode", 1)):
        sg = w.add_subgraph(name)
        x = sg.add_input("x", np.float32, (rows, 16))
        wt = sg.add_constant("w", weight, np.float32, (8, 16))
        b = sg.add_constant("b", bias, np.float32, (8,))
        y = sg.add_tensor("y", np.float32, (rows, 8))
        sg.add_builtin_op(
            "FULLY_CONNECTED", [x, wt, b], [y], options=schema.FullyConnectedOptionsT()
        )
        sg.add_output(y, "y")
    w.write(path, inline_buffers=inline)


def write_quantized(path: Path) -> None:
    """y = x + dequantize(int8 per-channel constant) + dequantize(int4 constant).

    Also holds an (unused) blockwise-quantized int4 constant, for the details union.
    """
    w = ModelWriter()
    q8 = w.add_buffer(np.arange(32, dtype=np.int8).reshape(4, 8))
    q4 = w.add_buffer(pack_int4((np.arange(32) % 16 - 8).astype(np.int8)))
    sg = w.add_subgraph("dequant")
    x = sg.add_input("x", np.float32, (4, 8))
    c8 = sg.add_constant(
        "w8",
        q8,
        "int8",
        (4, 8),
        Quantization(np.array([0.5, 0.25, 1.0, 2.0]), quantized_dimension=0),
    )
    c4 = sg.add_constant("w4", q4, "int4", (4, 8), Quantization(np.array([0.5])))
    d8, d4, s, y = (sg.add_tensor(n, np.float32, (4, 8)) for n in ("d8", "d4", "s", "y"))
    sg.add_builtin_op("DEQUANTIZE", [c8], [d8])
    sg.add_builtin_op("DEQUANTIZE", [c4], [d4])
    sg.add_builtin_op("ADD", [x, d8], [s], options=schema.AddOptionsT())
    sg.add_builtin_op("ADD", [s, d4], [y], options=schema.AddOptionsT())
    sg.add_output(y, "y")
    scales = sg.add_constant(
        "block_scales", w.add_buffer(np.ones((4, 1), np.float16)), np.float16, (4, 1)
    )
    sg.add_constant("w4_blockwise", q4, "int4", (4, 8), BlockwiseQuantization(scales, 8))
    w.write(path)


def write_custom(path: Path) -> None:
    """A reshape (options with a vector) feeding a custom op with custom options."""
    w = ModelWriter()
    sg = w.add_subgraph("step")
    x = sg.add_input("x", np.float32, (2, 3))
    r = sg.add_tensor("r", np.float32, (6,))
    y = sg.add_tensor("y", np.float32, (6,))
    options = schema.ReshapeOptionsT()
    options.newShape = [6]
    sg.add_builtin_op("RESHAPE", [x, None], [r], options=options)
    sg.add_custom_op("LITEGEN_VALIDATOR_TEST_OP", [r], [y], custom_options=b"\x01\x02\x03\x04")
    sg.add_output(y, "y")
    w.write(path)


class _Zeros:
    """1 MiB of zero weights, produced while the file is written (nothing held in memory)."""

    CHUNK = bytes(1 << 20)
    nbytes = len(CHUNK)

    def chunks(self):
        yield self.CHUNK


def write_large(path: Path, layers: int = 1024) -> None:
    """A chain of FULLY_CONNECTED layers: 2 * layers + 1 tensors, ``layers`` MiB of weights."""
    w = ModelWriter()
    sg = w.add_subgraph("main")
    h = sg.add_input("x", np.float32, (1, 512))
    for i in range(layers):
        weight = sg.add_constant(f"w{i}", w.add_buffer(_Zeros()), np.float32, (512, 512))
        y = sg.add_tensor(f"h{i}", np.float32, (1, 512))
        sg.add_builtin_op(
            "FULLY_CONNECTED", [h, weight, None], [y], options=schema.FullyConnectedOptionsT()
        )
        h = y
    sg.add_output(h, "y")
    w.write(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("valid_models")
    paths = {name: root / f"{name}.tflite" for name in ("fc", "fc_inline", "quantized", "custom")}
    write_fc(paths["fc"])
    write_fc(paths["fc_inline"], inline=True)
    write_quantized(paths["quantized"])
    write_custom(paths["custom"])
    return paths


# ---- locating fields in a model (for targeted corruptions) ------------------------------


class _SlotRecorder:
    """Stands in for flatbuffers.Builder: records what a generated XAddY function writes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __getattr__(self, method: str) -> Callable[..., None]:
        return lambda slot, *args: self.calls.append((method, slot))


def field_id(table: str, accessor: str) -> int:
    """Field id of ``table.accessor`` according to the generated builder function."""
    recorder = _SlotRecorder()
    getattr(schema, f"{table}Add{accessor}")(recorder, 0)
    return recorder.calls[0][1]


def field_pos(obj: object, table: str, accessor: str) -> int:
    """Absolute byte position of a field that is present in ``obj``'s table."""
    offset = obj._tab.Offset(4 + 2 * field_id(table, accessor))
    assert offset, f"{table}.{accessor} is not stored in this model"
    return obj._tab.Pos + offset


def vector_pos(obj: object, table: str, accessor: str) -> int:
    """Position of the length word of a vector field."""
    return (
        field_pos(obj, table, accessor)
        + struct.unpack_from("<I", obj._tab.Bytes, field_pos(obj, table, accessor))[0]
    )


def patched(data: bytes, pos: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, pos, value)
    return bytes(out)


def root(data: bytes) -> schema.Model:
    return schema.Model.GetRootAs(bytearray(data), 0)


def reshape_options(data: bytes) -> schema.ReshapeOptions:
    """The ReshapeOptions of operator 0 of subgraph 0."""
    table = root(data).Subgraphs(0).Operators(0).BuiltinOptions()
    options = schema.ReshapeOptions()
    options.Init(table.Bytes, table.Pos)
    return options


def blockwise_field(data: bytes, accessor: str) -> int:
    """Position of a BlockwiseQuantization field of the last tensor of subgraph 0."""
    sg = root(data).Subgraphs(0)
    details = sg.Tensors(sg.TensorsLength() - 1).Quantization().Details()
    blockwise = schema.BlockwiseQuantization()
    blockwise.Init(details.Bytes, details.Pos)
    return field_pos(blockwise, "BlockwiseQuantization", accessor)


def flatbuffer_size(data: bytes) -> int:
    """Where the flatbuffer ends: the first external buffer, or the end of the file."""
    model = root(data)
    starts = [model.Buffers(i).Offset() for i in range(model.BuffersLength())]
    return min([s for s in starts if s > 1] + [len(data)])


# (name, base model, corruption, expected message fragment)
TARGETED: list[tuple[str, str, Callable[[bytes], bytes], str]] = [
    (
        "tensor-buffer-out-of-range",
        "fc",
        lambda d: patched(
            d, field_pos(root(d).Subgraphs(0).Tensors(1), "Tensor", "Buffer"), "<I", 17
        ),
        "tensor 1 of subgraph 0 ('w') uses buffer 17, but the model has 4 buffers",
    ),
    (
        "buffer-offset-past-eof",
        "fc",
        lambda d: patched(d, field_pos(root(d).Buffers(1), "Buffer", "Offset"), "<Q", len(d) - 100),
        "buffer 1 spans bytes",
    ),
    (
        "buffer-size-past-eof",
        "fc",
        lambda d: patched(d, field_pos(root(d).Buffers(1), "Buffer", "Size"), "<Q", 1 << 62),
        "past the end of the file",
    ),
    (
        "constant-size-mismatch",
        "fc",
        lambda d: patched(d, field_pos(root(d).Buffers(2), "Buffer", "Size"), "<Q", 28),
        "tensor 2 of subgraph 0 ('b') is FLOAT32 [8] (32 bytes) but buffer 2 holds 28 bytes",
    ),
    (
        "inline-constant-size-mismatch",
        "fc_inline",
        lambda d: patched(
            d, field_pos(root(d).Subgraphs(1).Tensors(1), "Tensor", "Buffer"), "<I", 2
        ),
        "tensor 1 of subgraph 1 ('w') is FLOAT32 [8, 16] (512 bytes) but buffer 2 holds 32 bytes",
    ),
    (
        "operator-input-out-of-range",
        "fc",
        lambda d: patched(
            d, vector_pos(root(d).Subgraphs(0).Operators(0), "Operator", "Inputs") + 4, "<i", 40
        ),
        "input 0 of operator 0 (FULLY_CONNECTED) of subgraph 0 is tensor 40, but the subgraph "
        "has 4 tensors",
    ),
    (
        "required-input-omitted",
        "quantized",
        lambda d: patched(
            d, vector_pos(root(d).Subgraphs(0).Operators(2), "Operator", "Inputs") + 8, "<i", -1
        ),
        "input 1 of operator 2 (ADD) of subgraph 0 is omitted (-1), but the operator requires it",
    ),
    (
        "operator-output-is-constant",
        "fc",
        lambda d: patched(
            d, vector_pos(root(d).Subgraphs(1).Operators(0), "Operator", "Outputs") + 4, "<i", 1
        ),
        "output 0 of operator 0 (FULLY_CONNECTED) of subgraph 1 is tensor 1 ('w'), a constant",
    ),
    (
        "opcode-index-out-of-range",
        "quantized",
        lambda d: patched(
            d, field_pos(root(d).Subgraphs(0).Operators(2), "Operator", "OpcodeIndex"), "<I", 5
        ),
        "operator 2 of subgraph 0 uses operator code 5, but the model has 2 operator codes",
    ),
    (
        "tensor-type-out-of-range",
        "quantized",
        lambda d: patched(
            d, field_pos(root(d).Subgraphs(0).Tensors(1), "Tensor", "Type"), "<b", 99
        ),
        "tensor 1 of subgraph 0 ('w8') has type 99, which is not a TFLite tensor type",
    ),
    (
        "per-channel-scales-mismatch",
        "quantized",
        lambda d: patched(
            d, vector_pos(root(d).Subgraphs(0).Tensors(1), "Tensor", "Shape") + 4, "<i", 2
        ),
        "tensor 1 of subgraph 0 ('w8') has 4 per-channel scales but dimension 0 of [2, 8]",
    ),
    (
        "blockwise-scales-tensor-out-of-range",
        "quantized",
        lambda d: patched(d, blockwise_field(d, "Scales"), "<i", 30),
        "tensor 8 of subgraph 0 ('w4_blockwise') has BlockwiseQuantization scales tensor 30 "
        "and zero_points tensor -1, but the subgraph has 9 tensors",
    ),
    (
        "signature-subgraph-out-of-range",
        "fc",
        lambda d: patched(
            d, field_pos(root(d).SignatureDefs(1), "SignatureDef", "SubgraphIndex"), "<I", 9
        ),
        "signature 1 ('decode') refers to subgraph 9, but the model has 2 subgraphs",
    ),
    (
        "signature-tensor-out-of-range",
        "fc",
        lambda d: patched(
            d, field_pos(root(d).SignatureDefs(0).Outputs(0), "TensorMap", "TensorIndex"), "<I", 50
        ),
        "signature 0 ('prefill') output 'y' is tensor 50, but subgraph 0 has 4 tensors",
    ),
    (
        "negative-dimension",
        "fc",
        lambda d: patched(
            d, vector_pos(root(d).Subgraphs(0).Tensors(0), "Tensor", "Shape") + 8, "<i", -16
        ),
        "tensor 0 of subgraph 0 ('x') has an invalid dimension -16 in [1, -16]",
    ),
    (
        "rank-above-8",
        "fc",
        lambda d: patched(
            d, vector_pos(root(d).Subgraphs(0).Tensors(3), "Tensor", "Shape"), "<I", 9
        ),
        "tensor 3 of subgraph 0 ('y') has rank 9; LiteRT supports at most 8 dimensions",
    ),
    (
        "metadata-buffer-out-of-range",
        "fc",
        lambda d: patched(d, field_pos(root(d).Metadata(0), "Metadata", "Buffer"), "<I", 4),
        "metadata 0 ('min_runtime_version') uses buffer 4, but the model has 4 buffers",
    ),
    (
        "schema-version",
        "fc",
        lambda d: patched(d, field_pos(root(d), "Model", "Version"), "<I", 4),
        "schema version 4, expected 3",
    ),
    (
        "no-subgraphs",
        "fc",
        lambda d: patched(d, vector_pos(root(d), "Model", "Subgraphs"), "<I", 0),
        "the model has no subgraphs",
    ),
    (
        "tensor-vector-past-eof",
        "fc",
        lambda d: patched(
            d, vector_pos(root(d).Subgraphs(0), "SubGraph", "Tensors"), "<I", 1 << 28
        ),
        "subgraphs[0].tensors: vector at byte",
    ),
    (
        "name-not-terminated",
        "fc",
        lambda d: patched(
            d, vector_pos(root(d).Subgraphs(0).Tensors(1), "Tensor", "Name") + 5, "<B", ord("x")
        ),
        "subgraphs[0].tensors[1].name: string at byte",
    ),
    (
        "reshape-options-vector-past-eof",
        "custom",
        lambda d: patched(
            d, vector_pos(reshape_options(d), "ReshapeOptions", "NewShape"), "<I", 1 << 20
        ),
        "subgraphs[0].operators[0].builtin_options.new_shape: vector at byte",
    ),
    (
        "root-offset-past-eof",
        "fc",
        lambda d: patched(d, 0, "<I", len(d) + 64),
        "root table: offset at byte 0 points to byte",
    ),
    (
        "vtable-outside-file",
        "fc",
        lambda d: patched(d, struct.unpack_from("<I", d, 0)[0], "<i", -(1 << 30)),
        "the vtable of the table at byte",
    ),
    ("truncated-weights", "fc", lambda d: d[:-1], "past the end of the file"),
    ("truncated-header", "fc", lambda d: d[:5], "the file is truncated (5 bytes)"),
]


@pytest.fixture(scope="module")
def targeted(
    models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, str]]:
    out = tmp_path_factory.mktemp("targeted")
    files = {}
    for name, base, corrupt, message in TARGETED:
        path = out / f"{name}.tflite"
        path.write_bytes(corrupt(models[base].read_bytes()))
        files[name] = (path, message)
    return files


# ---- random corruptions -----------------------------------------------------------------


def corrupted_variants(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """``count`` random corruptions of one model, of several kinds."""
    model = root(data)
    fb_end = flatbuffer_size(data)
    positions: dict[str, list[int]] = {"buffer": [], "index": [], "offset": []}
    for g in range(model.SubgraphsLength()):
        sg = model.Subgraphs(g)
        for t in range(sg.TensorsLength()):
            tensor = sg.Tensors(t)
            if tensor._tab.Offset(4 + 2 * field_id("Tensor", "Buffer")):
                positions["buffer"].append(field_pos(tensor, "Tensor", "Buffer"))
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            for accessor in ("Inputs", "Outputs"):
                start = vector_pos(op, "Operator", accessor)
                n = struct.unpack_from("<I", data, start)[0]
                positions["index"] += [start + 4 + 4 * i for i in range(n)]
    for b in range(model.BuffersLength()):
        if model.Buffers(b).Offset() > 1:
            positions["offset"] += [
                field_pos(model.Buffers(b), "Buffer", a) for a in ("Offset", "Size")
            ]
    variants = []
    for i in range(count):
        out = bytearray(data)
        kind = i % 6
        if kind in (0, 1):  # ~10 random bytes flipped, in the flatbuffer (mostly) or anywhere
            end = fb_end if kind == 0 else len(out)
            for _ in range(10):
                out[rng.randrange(end)] ^= rng.randrange(1, 256)
        elif kind == 2:  # truncation
            out = out[: rng.randrange(len(out))]
        elif kind == 3:  # an aligned word of the flatbuffer becomes a large offset / count
            pos = rng.randrange(0, fb_end - 3) & ~3
            value = rng.choice(
                [len(data) + rng.randrange(1, 4096), 0x7FFFFFF0, 0xFFFFFFFF, rng.randrange(1 << 32)]
            )
            struct.pack_into("<I", out, pos, value)
        elif kind == 4:  # tensor buffer / operator tensor indices out of range or wrong
            pos = rng.choice(positions["buffer"] + positions["index"])
            struct.pack_into("<i", out, pos, rng.choice([-2, -1, 0, 1, 2, 3, 5, 17, 1 << 20]))
        else:  # external buffer offset / size past EOF
            pos = rng.choice(positions["offset"] or [0])
            value = rng.choice([len(data), len(data) + 1, 1 << 40, (1 << 64) - 1])
            if pos:
                struct.pack_into("<Q", out, pos, value)
            else:
                out = out[: len(out) // 2]
        variants.append(bytes(out))
    return variants


@pytest.fixture(scope="module")
def corpus(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("corpus")
    rng = random.Random(20240601)
    paths = []
    for name, path in models.items():
        for i, variant in enumerate(corrupted_variants(path.read_bytes(), rng, 90)):
            file = out / f"{name}_{i:03d}.tflite"
            file.write_bytes(variant)
            paths.append(file)
    return paths


# ---- tests --------------------------------------------------------------------------------


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_schema_table", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_schema_table_is_generated_from_the_installed_schema() -> None:
    import ai_edge_litert

    text = _load_generator().generate(schema, ai_edge_litert.__version__)
    assert SCHEMA_TABLE.read_text() == text, "rerun third_party/litert/gen_schema_table.py"


def _committed_tables() -> dict[str, dict[str, tuple[int, str, int]]]:
    """{table: {field: (id, kind, size)}} parsed from the committed C++ header."""
    text = SCHEMA_TABLE.read_text()
    fields = re.findall(r'\{"(\w+)", (\d+), Kind::(\w+), (\d+), (-?\d+), (?:true|false)\}', text)
    tables = re.findall(r'\{"(\w+)", (\d+), (\d+)\},  // \d+', text)
    out = {}
    for name, first, count in tables:
        rows = fields[int(first) : int(first) + int(count)]
        out[name] = {f: (int(i), kind, int(size)) for f, i, kind, size, _ in rows}
    return out


_PREPEND_SIZES = {
    "Bool": 1,
    "Int8": 1,
    "Uint8": 1,
    "Int16": 2,
    "Uint16": 2,
    "Int32": 4,
    "Uint32": 4,
    "Int64": 8,
    "Uint64": 8,
    "Float32": 4,
    "Float64": 8,
}


def test_schema_table_matches_the_builder_functions() -> None:
    """Cross-check against a different part of schema_py_generated: the builder functions.

    The table was derived from the reader classes (``self._tab.Offset(N)``); here every
    ``XAddY(builder, value)`` is called with a recording builder, which tells the slot it
    writes and whether it writes an offset or a scalar of some size.
    """
    committed = _committed_tables()
    gen = _load_generator()
    seen_tables = 0
    for table, fields in committed.items():
        assert f"{table}Start" in vars(schema), table
        adders = {
            n[len(table) + 3 :]: f
            for n, f in vars(schema).items()
            if n.startswith(f"{table}Add") and callable(f)
        }
        assert len(adders) == len(fields), (table, sorted(adders), sorted(fields))
        for accessor, add in adders.items():
            recorder = _SlotRecorder()
            add(recorder, 0)
            ((method, slot),) = recorder.calls
            fid, kind, size = fields[gen.snake(accessor)]
            assert slot == fid, (table, accessor)
            if method == "PrependUOffsetTRelativeSlot":
                assert kind != "kScalar", (table, accessor)
            else:
                scalar = method.removeprefix("Prepend").removesuffix("Slot")
                assert (kind, size) == ("kScalar", _PREPEND_SIZES[scalar]), (table, accessor)
        seen_tables += 1
    # Every table of the module (each has a GetRootAs reader) is described.
    module_tables = {
        n for n, c in vars(schema).items() if isinstance(c, type) and "GetRootAs" in vars(c)
    }
    assert set(committed) == module_tables
    assert seen_tables > 150


def test_core_field_ids() -> None:
    """Spot checks of the field ids the semantic checks use (schema.fbs order)."""
    text = SCHEMA_TABLE.read_text()
    for table, field, fid in [
        ("Tensor", "buffer", 2),
        ("Tensor", "shape_signature", 7),
        ("Operator", "builtin_options_2", 12),
        ("Operator", "large_custom_options_offset", 9),
        ("Buffer", "offset", 1),
        ("SignatureDef", "subgraph_index", 4),
        ("Model", "signature_defs", 7),
    ]:
        assert f"namespace {table} {{" in text
        section = text.split(f"namespace {table} {{", 1)[1].split("}", 1)[0]
        assert f"inline constexpr uint16_t {field} = {fid};" in section, (table, field)


def test_valid_models_validate_and_run(driver: Path, models: dict[str, Path]) -> None:
    assert validate(driver, list(models.values())) == [None] * len(models)
    results = dict(zip(models, run_in_litert(list(models.values())), strict=True))
    assert results["fc"] == results["fc_inline"] == results["quantized"] == "RAN"
    # The custom op is not registered: a clean load error, not a crash.
    assert results["custom"].startswith("ModelLoadError"), results["custom"]


def test_targeted_corruptions_are_rejected_precisely(
    driver: Path, targeted: dict[str, tuple[Path, str]]
) -> None:
    verdicts = validate(driver, [path for path, _ in targeted.values()])
    for (name, (path, message)), verdict in zip(targeted.items(), verdicts, strict=True):
        assert verdict is not None, f"{name}: accepted"
        assert verdict.startswith(f"model file '{path}' is corrupt: "), (name, verdict)
        assert message in verdict, (name, verdict)


def test_runtime_model_raises_model_load_error_for_targeted_corruptions(
    targeted: dict[str, tuple[Path, str]],
) -> None:
    results = run_in_litert([path for path, _ in targeted.values()])
    for (name, (path, message)), result in zip(targeted.items(), results, strict=True):
        assert result.startswith("ModelLoadError "), (name, result)
        assert f"model file '{path}' is corrupt: " in result and message in result, (name, result)


def test_validator_survives_every_single_byte_change(
    driver: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    """Every byte of the flatbuffer of one model set to 0x00 and to 0xFF (bounds proof)."""
    data = models["quantized"].read_bytes()
    paths = []
    for pos in range(flatbuffer_size(data)):
        for value in (0x00, 0xFF):
            if data[pos] != value:
                path = tmp_path / f"{pos}_{value}.tflite"
                path.write_bytes(data[:pos] + bytes([value]) + data[pos + 1 :])
                paths.append(path)
    verdicts = validate(driver, paths)
    assert any(v is None for v in verdicts) and any(v is not None for v in verdicts)
    for path, verdict in zip(paths, verdicts, strict=True):
        if verdict is not None:
            assert verdict.startswith(f"model file '{path}' is "), verdict


def test_random_corruptions_are_rejected_or_run_without_crashing(
    driver: Path, corpus: list[Path]
) -> None:
    verdicts = validate(driver, corpus)
    accepted = [path for path, verdict in zip(corpus, verdicts, strict=True) if verdict is None]
    for path, verdict in zip(corpus, verdicts, strict=True):
        if verdict is not None:
            assert verdict.startswith(f"model file '{path}' is "), verdict
    assert len(corpus) >= 300 and len(accepted) < len(corpus) // 2
    results = run_in_litert(accepted)
    crashed = [
        (p.name, r)
        for p, r in zip(accepted, results, strict=True)
        if r.startswith(("SIGNAL", "TIMEOUT", "EXIT"))
    ]
    assert not crashed, f"{len(crashed)} accepted files crashed LiteRT: {crashed[:10]}"
    assert "RAN" in results  # some corruptions only touch weights or names


def test_runtime_model_rejects_every_file_the_validator_rejects(
    driver: Path, corpus: list[Path]
) -> None:
    """Through litegen.runtime.Model (the validator runs inside Model::Load)."""
    verdicts = validate(driver, corpus)
    rejected = [(path, v) for path, v in zip(corpus, verdicts, strict=True) if v is not None]
    results = run_in_litert([path for path, _ in rejected])
    bad = [
        (path.name, verdict, result)
        for (path, verdict), result in zip(rejected, results, strict=True)
        if result != f"ModelLoadError {' '.join(verdict.split())}"
    ]
    assert not bad, f"{len(bad)} of {len(rejected)} differ, e.g. {bad[:5]}"


@pytest.mark.slow
def test_a_1gb_model_validates_in_milliseconds(driver: Path, tmp_path: Path) -> None:
    """Only the flatbuffer is read: 2049 tensors and 1 GiB of weights take a few ms."""
    path = tmp_path / "large.tflite"
    try:
        write_large(path)
        assert path.stat().st_size > 1 << 30
        timed = subprocess.run(
            [str(driver), "--time", str(path)], capture_output=True, text=True, timeout=120
        )
        assert timed.returncode == 0, validate(driver, [path])
        assert float(timed.stdout) < 100.0, f"validation took {timed.stdout.strip()} ms"
    finally:
        path.unlink(missing_ok=True)  # pytest keeps tmp dirs of recent runs
