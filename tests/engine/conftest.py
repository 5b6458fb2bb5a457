"""Fixtures for the generation-engine tests: each family's small HF checkpoint (from
tests/authoring), converted once per session to a fast-form .tflite, and its HF model
as the greedy reference."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "authoring"))

try:
    import torch
    import transformers  # noqa: F401 (required by authoring_hf_models)
except ImportError:  # converting needs torch; the engine itself does not
    collect_ignore_glob = ["test_*.py"]
else:
    from authoring_hf_models import FAMILIES

MAX_CONTEXT = 64
NEW_TOKENS = 32


@dataclass
class Converted:
    name: str
    checkpoint: Path
    path: Path  # fast-form .tflite with a MAX_CONTEXT cache
    hf: Any  # the HF reference model (eval, eos disabled)
    vocab_size: int

    def hf_greedy_margins(
        self, prompt: list[int], new_tokens: int = NEW_TOKENS
    ) -> tuple[list[int], list[float]]:
        """HF's greedy ids and, per step, the gap between its two best logits relative to
        the step's max |logit| (how close the choice was to a tie)."""
        ids = torch.tensor([prompt])
        with torch.no_grad():
            out = self.hf.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                pad_token_id=0,
                output_logits=True,
                return_dict_in_generate=True,
            )
        margins = []
        for logits in out.logits:
            top2 = logits[0].double().topk(2).values
            margins.append(float((top2[0] - top2[1]) / logits[0].double().abs().max()))
        return out.sequences[0, len(prompt) :].tolist(), margins

    def hf_greedy(self, prompt: list[int], new_tokens: int = NEW_TOKENS) -> list[int]:
        return self.hf_greedy_margins(prompt, new_tokens)[0]


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Weight caches go under the test's tmp dir, never the user's cache."""
    monkeypatch.setenv("LITEGEN_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Converted]:
    """``converted(name, kv_cache_dtype="float32")``: the family's checkpoint converted
    (fast form, fp32 weights) once. The tests that expect HF's greedy ids exactly use float32
    KV caches: over 32 tokens of a random-weight model some step is a near tie, which the
    float16 caches' rounding may flip (test_engine_families checks float16 caches up to
    such a tie)."""
    import litegen

    done: dict[tuple[str, str], Converted] = {}

    def get(name: str, kv_cache_dtype: str = "float32") -> Converted:
        key = (name, kv_cache_dtype)
        if key not in done:
            torch.set_num_threads(1)
            spec = FAMILIES[name]
            root = tmp_path_factory.mktemp(f"engine_{name}_{kv_cache_dtype}")
            ckpt = root / "ckpt"
            hf = spec.build()
            hf.save_pretrained(ckpt)
            path = litegen.convert(
                ckpt,
                root / "model.tflite",
                form="fast",
                max_context=MAX_CONTEXT,
                kv_cache_dtype=kv_cache_dtype,
            )
            done[key] = Converted(name, ckpt, path, hf, hf.config.vocab_size)
        return done[key]

    return get


def prompt_ids(vocab_size: int, length: int = 8, seed: int = 1) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab_size, (length,), generator=generator).tolist()
