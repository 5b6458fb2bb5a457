"""litegen.runtime.Model on models written by litegen's flatbuffer writer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from litegen.errors import (
    InputError,
    LitegenError,
    ModelLoadError,
    RuntimeVersionError,
    SignatureError,
)
from litegen.runtime import Model, SignatureSpec, TensorSpec, _native
from tests.fixtures.cpp_models import FC_IN, FC_OUT, fc_weights


def reference_fc(x: np.ndarray) -> np.ndarray:
    weight, bias = fc_weights()
    return x.astype(np.float64) @ weight.T.astype(np.float64) + bias


def test_signatures_describe_names_dtypes_and_dynamic_dims(fc_model: Path) -> None:
    model = Model(fc_model)
    assert list(model.signatures) == ["prefill", "decode"]
    prefill = model.signatures["prefill"]
    assert prefill == SignatureSpec(
        "prefill",
        (TensorSpec("x", np.dtype(np.float32), (-1, FC_IN)),),
        (TensorSpec("y", np.dtype(np.float32), (-1, FC_OUT)),),
    )
    assert prefill.inputs[0].is_dynamic
    assert model.signatures["decode"].inputs[0].shape == (1, FC_IN)
    assert model.custom_ops == []
    assert model.fully_accelerated


def test_two_signatures_sharing_weights_match_numpy(fc_model: Path) -> None:
    model = Model(fc_model, num_threads=2)
    rng = np.random.default_rng(0)
    # Changing row counts exercise the dynamic dimension, back and forth.
    for rows in (5, 1, 9, 5):
        x = rng.standard_normal((rows, FC_IN)).astype(np.float32)
        y = model.run("prefill", x=x)["y"]
        assert y.shape == (rows, FC_OUT) and y.dtype == np.float32
        np.testing.assert_allclose(y, reference_fc(x), rtol=1e-5, atol=1e-5)
    x = rng.standard_normal((1, FC_IN)).astype(np.float32)
    np.testing.assert_allclose(model.run("decode", x=x)["y"], reference_fc(x), rtol=1e-5, atol=1e-5)


def test_inputs_are_not_modified_and_outputs_are_fresh(fc_model: Path) -> None:
    model = Model(fc_model)
    x = np.ones((2, FC_IN), np.float32)
    first = model.run("prefill", x=x)["y"]
    second = model.run("prefill", x=x * 2)["y"]
    np.testing.assert_array_equal(x, np.ones((2, FC_IN), np.float32))
    assert not np.shares_memory(first, second)
    np.testing.assert_allclose(first, reference_fc(x), rtol=1e-5, atol=1e-5)


def test_non_contiguous_input_is_accepted(fc_model: Path) -> None:
    model = Model(fc_model)
    x = np.asfortranarray(np.random.default_rng(1).standard_normal((3, FC_IN)).astype(np.float32))
    np.testing.assert_allclose(
        model.run("prefill", x=x)["y"], reference_fc(x), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "truncated"),
        (b"\x00" * 4 + b"XXXX" + b"\x00" * 100, "not a TFLite model"),
        (os.urandom(4096), "not a TFLite model"),
    ],
    ids=["missing", "empty", "wrong-identifier", "random-bytes"],
)
def test_bad_files_raise_model_load_error(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "bad.tflite"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message) as info:
        Model(path)
    assert str(path) in str(info.value)


def test_truncated_model_raises_model_load_error(tmp_path: Path, fc_model: Path) -> None:
    data = fc_model.read_bytes()
    for size in (12, len(data) // 2, len(data) - 32):
        path = tmp_path / f"truncated_{size}.tflite"
        path.write_bytes(data[:size])
        with pytest.raises(ModelLoadError, match=str(path)):
            Model(path, weight_cache=False)


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a regular file"):
        Model(tmp_path)


def test_unknown_signature(fc_model: Path) -> None:
    model = Model(fc_model)
    with pytest.raises(
        SignatureError, match=r"no signature 'generate' \(available: 'prefill', 'decode'\)"
    ):
        model.run("generate", x=np.zeros((1, FC_IN), np.float32))


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "input 'x' is missing"),
        ({"x": np.zeros((1, FC_IN), np.float64)}, "dtype float64, expected float32"),
        ({"x": np.zeros((1, FC_IN), np.int32)}, "dtype int32, expected float32"),
        ({"x": np.zeros((1, FC_IN + 1), np.float32)}, r"shape \[1, 17\] does not match \[-1, 16\]"),
        ({"x": np.zeros((0, FC_IN), np.float32)}, r"shape \[0, 16\] does not match"),
        ({"x": np.zeros((FC_IN,), np.float32)}, r"shape \[16\] does not match"),
        ({"x": np.zeros((1, FC_IN), np.float32), "y": np.zeros(1)}, "has no input 'y'"),
    ],
    ids=["missing", "float64", "int32", "wrong-dim", "zero-rows", "wrong-rank", "unexpected"],
)
def test_bad_inputs_raise_input_error(fc_model: Path, inputs: dict, message: str) -> None:
    model = Model(fc_model)
    with pytest.raises(InputError, match=message) as info:
        model.run("prefill", **inputs)
    assert "signature 'prefill'" in str(info.value)
    # The model keeps working after a rejected call.
    x = np.ones((2, FC_IN), np.float32)
    np.testing.assert_allclose(
        model.run("prefill", x=x)["y"], reference_fc(x), rtol=1e-5, atol=1e-5
    )


def test_static_dims_are_enforced(fc_model: Path) -> None:
    with pytest.raises(InputError, match=r"shape \[2, 16\] does not match \[1, 16\]"):
        Model(fc_model).run("decode", x=np.zeros((2, FC_IN), np.float32))


def test_unregistered_custom_op_is_named_at_load(custom_op_model: Path) -> None:
    with pytest.raises(ModelLoadError, match="uses custom op 'LITEGEN_NOT_REGISTERED'") as info:
        Model(custom_op_model)
    assert str(custom_op_model) in str(info.value)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_bad_thread_count(fc_model: Path, threads: object) -> None:
    with pytest.raises(InputError, match="num_threads"):
        Model(fc_model, num_threads=threads)  # type: ignore[arg-type]


def test_errors_share_one_base_class() -> None:
    for error in (ModelLoadError, SignatureError, InputError, RuntimeVersionError):
        assert issubclass(error, LitegenError)


def test_litert_version_mismatch_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_native, "installed_litert_version", lambda: "2.1.0")
    with pytest.raises(
        RuntimeVersionError, match=r"needs ai-edge-litert==2\.3\.0.*2\.1\.0 is installed"
    ):
        _native.load_extension()
    monkeypatch.setattr(_native, "installed_litert_version", lambda: None)
    with pytest.raises(RuntimeVersionError, match="is not installed"):
        _native.load_extension()


def test_import_litegen_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, litegen, litegen.runtime; assert 'torch' not in sys.modules, 'torch loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)
