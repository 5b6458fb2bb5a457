"""Fixtures for the exporter tests: small random-weight HF checkpoints per family (from
tests/authoring) and their conversions, each built once per session."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("litegen") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
# The families' HF models live with the authoring tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "authoring"))

try:
    import torch
    import transformers  # noqa: F401 (required by authoring_hf_models)
except ImportError:  # the exporter tests need torch; the writer tests do not
    collect_ignore_glob = ["test_export_*.py"]
else:
    from authoring_hf_models import FAMILIES, FamilySpec
    from export_helpers import MAX_CONTEXT, PREFILL_LEN, sample_args


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    """Tiny models: multi-threaded kernels only add wake-up latency on a 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runtime weight caches go under the test's tmp dir, never the user's cache."""
    monkeypatch.setenv("LITEGEN_CACHE_DIR", str(tmp_path / "cache"))


@dataclass
class Family:
    name: str
    spec: FamilySpec
    checkpoint: Path
    model: Any  # litegen DecoderModel (fp32, eval)


@dataclass
class Exported:
    family: Family
    form: str
    path: Path
    weight_bytes: int
    kv_cache_dtype: str


@pytest.fixture(scope="session")
def family(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Family]:
    """``family(name)``: the HF checkpoint (saved once) and our model loaded from it."""
    import litegen

    built: dict[str, Family] = {}

    def get(name: str) -> Family:
        if name not in built:
            spec = FAMILIES[name]
            path = tmp_path_factory.mktemp(f"ckpt_{name}")
            spec.build().save_pretrained(path)
            # Every family is built for MAX_CONTEXT (Phi-3.5's LongRoPE keeps its short
            # factors: 32 is within its original context of 64).
            kwargs = {**spec.load_kwargs, "kv_cache_max_len": MAX_CONTEXT}
            model = litegen.from_pretrained(path, progress=False, **kwargs)
            built[name] = Family(name, spec, path, model)
        return built[name]

    return get


@pytest.fixture(scope="session")
def exported(
    family: Callable[[str], Family], tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Exported]:
    """``exported(name, form, kv_cache_dtype=None)``: the family's prefill+decode .tflite,
    converted once (KV caches of the form's default dtype unless given)."""
    import litegen

    done: dict[tuple[str, str, str | None], Exported] = {}

    def get(name: str, form: str, kv_cache_dtype: str | None = None) -> Exported:
        key = (name, form, kv_cache_dtype)
        if key not in done:
            fam = family(name)
            converted = (
                litegen.signature("prefill", fam.model, sample_args(fam.model, PREFILL_LEN))
                .signature("decode", fam.model, sample_args(fam.model, 1))
                .convert(form=form, kv_cache_dtype=kv_cache_dtype)
            )
            tag = f"{name}_{form}_{kv_cache_dtype or 'default'}"
            path = converted.export(tmp_path_factory.mktemp(tag) / "model.tflite")
            done[key] = Exported(fam, form, path, converted.weight_bytes, converted.kv_cache_dtype)
        return done[key]

    return get
