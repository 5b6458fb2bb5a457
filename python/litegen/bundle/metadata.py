"""Bundle metadata from a HuggingFace checkpoint directory (config.json,
generation_config.json, tokenizer_config.json) and the export settings."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from litegen.errors import ExportError
from litegen.tokenizer.checkpoint import CheckpointTokenizer


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: cannot read ({exc})") from exc
    return data if isinstance(data, dict) else {}


def _ids(value: Any) -> list[int]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []


def _chat_template(tokenizer_config: dict[str, Any], root: Path) -> str | None:
    template = tokenizer_config.get("chat_template")
    if template is None and (root / "chat_template.jinja").is_file():
        # transformers >= 4.50 saves the template as a file of its own.
        try:
            return (root / "chat_template.jinja").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ExportError(f"{root / 'chat_template.jinja'}: cannot read ({exc})") from exc
    if isinstance(template, str):
        return template
    if isinstance(template, list):  # [{"name": "default", "template": "..."}, ...]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        chosen = named.get("default") or next(iter(named.values()), None)
        return chosen if isinstance(chosen, str) else None
    return None


def checkpoint_metadata(
    hf_dir: str | os.PathLike[str],
    tokenizer: CheckpointTokenizer,
    *,
    context_size: int,
    quant_recipe: str,
    export_form: str,
    signatures: list[str],
) -> dict[str, Any]:
    """The metadata dict :func:`litegen.bundle.write_bundle` stores (see
    docs/bundle_format.md for every key)."""
    import litegen

    root = Path(hf_dir)
    config = _read_json(root / "config.json")
    generation = _read_json(root / "generation_config.json")
    tok_config = _read_json(root / "tokenizer_config.json")

    bos = next(
        iter(_ids(generation.get("bos_token_id")) + _ids(config.get("bos_token_id"))),
        tokenizer.bos_id,
    )
    eos: list[int] = []
    for candidate in (
        _ids(generation.get("eos_token_id"))
        + _ids(config.get("eos_token_id"))
        + _ids(tokenizer.eos_id)
    ):
        if candidate not in eos and candidate >= 0:
            eos.append(candidate)
    pad = next(
        iter(_ids(generation.get("pad_token_id")) + _ids(config.get("pad_token_id"))),
        tokenizer.pad_id,
    )
    add_bos = tok_config.get("add_bos_token")
    if not isinstance(add_bos, bool):
        # tokenizer.json says it through its post-processor (Llama 3 prepends
        # <|begin_of_text|>, Qwen prepends nothing though config.json names a BOS).
        add_bos = tokenizer.add_bos if tokenizer.add_bos is not None else bos is not None
    return {
        "litegen_version": litegen.__version__,
        "source_checkpoint": str(config.get("_name_or_path") or root.resolve()),
        "model_type": config.get("model_type"),
        "context_size": context_size,
        "quant_recipe": quant_recipe,
        "export_form": export_form,
        "signatures": list(signatures),
        "tokenizer_type": tokenizer.kind,
        "vocab_size": tokenizer.vocab_size,
        "bos_token_id": bos,
        "eos_token_ids": eos,
        "pad_token_id": pad,
        "add_bos_token": add_bos,
        "chat_template": _chat_template(tok_config, root),
    }
