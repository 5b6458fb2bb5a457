"""``litegen.convert(hf_dir, "x.litertlm", form="portable")``: a LiteRT-LM bundle.

The portable .tflite (``prefill_N`` with a fixed token count N + ``decode``, transposed V
cache: the interface LiteRT-LM 0.18 reads) is packed with the checkpoint's SentencePiece
tokenizer and an ``LlmMetadata`` proto (start/stop tokens, context size, chat template)
by Google's ``litert-lm-builder`` (``pip install 'litegen[litertlm]'``). See
docs/bundle_format.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from litegen.errors import ExportError

R = TypeVar("R")

LITERTLM_SUFFIX = ".litertlm"
# LiteRT-LM pads each prefill chunk to a prefill_N signature's N and refuses a chunk that
# would run past the context ("prefill work group size exceeds available state entries"),
# so smaller signatures let later turns prefill near the end of the context.
PREFILL_LENS = (128, 32, 8)


def prefill_lengths(max_context: int) -> tuple[int, ...]:
    """The token counts of the fixed-length ``prefill_N`` signatures for ``max_context``
    (largest first)."""
    return tuple(sorted({min(n, max_context) for n in PREFILL_LENS}, reverse=True))


def check_litertlm_request(form: str) -> None:
    """Fail before any export work: LiteRT-LM runs builtin ops only, and the bundle is
    written by ``litert-lm-builder``."""
    if form != "portable":
        raise ExportError(
            f"a .litertlm bundle needs form='portable', got form={form!r}: LiteRT-LM "
            "cannot run litegen's custom ops; pass form='portable' / --form portable"
        )
    _builder()


def _builder() -> Any:
    try:
        from litert_lm_builder import litertlm_builder
    except ImportError as exc:
        raise ExportError(
            "writing a .litertlm bundle needs Google's litert-lm-builder package: "
            "pip install 'litegen[litertlm]'"
        ) from exc
    return litertlm_builder


def _llm_metadata(meta: dict[str, Any]) -> bytes:
    from litert_lm_builder.runtime.proto import llm_metadata_pb2

    msg = llm_metadata_pb2.LlmMetadata()
    if meta.get("bos_token_id") is not None and meta.get("add_bos_token", True):
        msg.start_token.token_ids.ids.append(int(meta["bos_token_id"]))
    for eos in meta.get("eos_token_ids") or []:
        msg.stop_tokens.add().token_ids.ids.append(int(eos))
    msg.max_num_tokens = int(meta["context_size"])
    msg.llm_model_type.generic_model.SetInParent()
    if meta.get("chat_template"):
        msg.jinja_prompt_template = meta["chat_template"]
    return msg.SerializeToString()


def write_litertlm(
    tflite: Path, out: Path, tokenizer_model: bytes, metadata: dict[str, Any]
) -> None:
    """Pack ``tflite`` + the SentencePiece model + metadata into ``out`` (atomically)."""
    b = _builder()
    parent = out.parent if str(out.parent) else Path(".")
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.pack.", dir=parent) as tmp:
        spm = Path(tmp) / "tokenizer.model"
        spm.write_bytes(tokenizer_model)
        llm = Path(tmp) / "llm_metadata.pb"
        llm.write_bytes(_llm_metadata(metadata))
        builder = b.LitertLmFileBuilder()
        for key in ("litegen_version", "model_type", "quant_recipe", "source_checkpoint"):
            if metadata.get(key) is not None:
                builder.add_system_metadata(
                    b.Metadata(key=key, value=str(metadata[key]), dtype=b.DType.STRING)
                )
        with contextlib.redirect_stdout(io.StringIO()):  # it prints the activation type
            builder.add_tflite_model(
                str(tflite), b.TfLiteModelType.PREFILL_DECODE, prefer_activation_type="fp32"
            )
        builder.add_sentencepiece_tokenizer(str(spm))
        builder.add_llm_metadata(str(llm))
        partial = Path(tmp) / "bundle.litertlm"
        try:
            with open(partial, "wb") as f:
                builder.build(f)
            os.replace(partial, out)
        except (OSError, ValueError, AssertionError) as exc:
            raise ExportError(f"{out}: cannot write the .litertlm bundle ({exc})") from exc


def _model_vocab_size(hf_dir: Path) -> int | None:
    try:
        config = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = config.get("vocab_size") if isinstance(config, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def export_litertlm(
    hf_dir: str | os.PathLike[str],
    out: Path,
    *,
    quant: Any,
    form: str,
    max_context: int,
    export: Callable[[Path, tuple[int, ...]], R],
) -> R:
    """Check the form, builder and tokenizer first, run ``export(tmp_tflite, lens)``
    (a fixed-length ``prefill_N`` per N of ``lens``, and ``decode``), then write ``out``.
    Returns
    ``export``'s result with its ``path`` replaced by ``out``."""
    from litegen.bundle.export import _recipe_name
    from litegen.bundle.metadata import checkpoint_metadata
    from litegen.tokenizer.checkpoint import load_checkpoint_tokenizer

    check_litertlm_request(form)
    root = Path(hf_dir)
    tokenizer = load_checkpoint_tokenizer(root, model_vocab_size=_model_vocab_size(root))
    if tokenizer.kind != "sentencepiece":
        from litegen.errors import TokenizerError

        raise TokenizerError(
            f"{tokenizer.source}: a .litertlm bundle needs a SentencePiece tokenizer.model; "
            f"this checkpoint's tokenizer is {tokenizer.kind} (write a .litegen bundle instead)"
        )
    lens = prefill_lengths(max_context)
    parent = out.parent if str(out.parent) else Path(".")
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=parent) as tmp:
        tflite = Path(tmp) / "model.tflite"
        result = export(tflite, lens)
        metadata = checkpoint_metadata(
            root,
            tokenizer,
            context_size=max_context,
            quant_recipe=_recipe_name(quant),
            export_form=form,
            signatures=[*(f"prefill_{n}" for n in lens), "decode"],
        )
        write_litertlm(tflite, out, tokenizer.model_bytes, metadata)
    if dataclasses.is_dataclass(result) and hasattr(result, "path"):
        return dataclasses.replace(result, path=out)  # type: ignore[type-var]
    return result
