"""One small converted model for every CLI test: a random-weight 2-layer Llama with a
SentencePiece tokenizer trained in the test and a chat template, converted once per
session to a .litegen bundle (and a bare .tflite)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# Long enough that an answer of thousands of tokens takes seconds even on this tiny model,
# so the chat test's Ctrl-C lands in the middle of one.
MAX_CONTEXT = 16384
# Role tags and EOS around every message: a later turn's prompt starts with the earlier
# turn's prompt, so the chat session reuses its KV prefix.
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@dataclass(frozen=True)
class CliModel:
    bundle: Path  # .litegen: model + tokenizer + metadata (chat template)
    tflite: Path  # the same model, bare
    tokenizer: Path  # its tokenizer.model
    cache_dir: Path  # LITEGEN_CACHE_DIR for subprocesses (weight caches)

    def env(self) -> dict[str, str]:
        """Environment for a ``litegen`` subprocess: caches under the test's directory."""
        return {**os.environ, "LITEGEN_CACHE_DIR": str(self.cache_dir)}


def litegen_command(*args: str) -> list[str]:
    """``litegen ARGS`` run with this interpreter (the entry point of the test venv)."""
    return [sys.executable, "-m", "litegen.cli", *args]


@pytest.fixture(scope="session")
def cli_model(tmp_path_factory: pytest.TempPathFactory) -> CliModel:
    import torch
    from tests.bundle.checkpoints import write_llama
    from tests.tokenizer.spm_models import train

    import litegen
    from litegen.bundle import read_bundle
    from litegen.tokenizer import Tokenizer

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("cli_model")
    spm = train("bpe")
    ckpt = root / "ckpt"
    write_llama(ckpt, Tokenizer.from_bytes(spm).vocab_size)
    (ckpt / "tokenizer.model").write_bytes(spm)
    (ckpt / "tokenizer_config.json").write_text(
        json.dumps({"add_bos_token": True, "chat_template": TEMPLATE})
    )
    bundle = Path(litegen.convert(ckpt, root / "model.litegen", max_context=MAX_CONTEXT))
    # The bundle starts with the bare model, byte for byte (docs/bundle_format.md).
    tflite = root / "model.tflite"
    tflite.write_bytes(read_bundle(bundle).read_model_bytes())
    return CliModel(bundle, tflite, ckpt / "tokenizer.model", root / "cache")


@pytest.fixture(scope="session")
def reference(cli_model: CliModel):
    """The Python API on the same bundle: what every command's output is checked against."""
    import litegen

    return litegen.Generator(
        cli_model.bundle, num_threads=1, weight_cache_path=cli_model.cache_dir / "ref.cache"
    )


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process weight caches go under the test's tmp dir, never the user's cache."""
    monkeypatch.setenv("LITEGEN_CACHE_DIR", str(tmp_path / "cache"))
