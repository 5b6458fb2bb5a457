"""``litegen convert HF_DIR -o OUT [--quant Q] [--form fast|portable] [--max-context N]
[--kv-dtype float16|float32] [--force]``."""

from __future__ import annotations

import argparse

FORM_CHOICES = ("fast", "portable")
KV_DTYPE_CHOICES = ("float16", "float32")


def register(sub: argparse._SubParsersAction) -> None:
    convert = sub.add_parser(
        "convert",
        help="convert a HuggingFace checkpoint directory to .tflite / .litegen / .litertlm",
        description="Convert a HuggingFace checkpoint directory to one model file with "
        "'prefill' (dynamic token count) and 'decode' signatures sharing every weight. The "
        "output's extension picks the format: .tflite (bare model), .litegen (model + "
        "tokenizer + metadata), .litertlm (LiteRT-LM bundle; needs --form portable).",
    )
    convert.add_argument("hf_dir", metavar="HF_DIR", help="checkpoint directory (config.json)")
    convert.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output path (.tflite, .litegen or .litertlm)",
    )
    convert.add_argument(
        "--quant",
        default="none",
        metavar="Q",
        help="weight quantization recipe: none (default, float32), fp16, int8 (dynamic "
        "range), int8-weight-only, int4 (= int4-b32), int4-b64, int4-b128; add per-layer "
        "overrides as pattern=scheme, e.g. 'int4-b32,lm_head=int8'",
    )
    convert.add_argument(
        "--form",
        default="fast",
        choices=FORM_CHOICES,
        help="fast: litegen custom ops for litegen's runtime; portable: "
        "builtin ops only (stock LiteRT, LiteRT-LM)",
    )
    convert.add_argument(
        "--max-context",
        type=int,
        default=1024,
        metavar="N",
        help="KV-cache length in tokens (default: 1024)",
    )
    convert.add_argument(
        "--kv-dtype",
        default=None,
        choices=KV_DTYPE_CHOICES,
        help="KV-cache dtype: float16 (default for --form fast: half the cache memory and "
        "decode traffic) or float32 (the only choice for --form portable)",
    )
    convert.add_argument("--force", action="store_true", help="overwrite an existing output")
    convert.add_argument("--no-progress", action="store_true", help="no progress display")
    convert.set_defaults(handler=_convert)


def _convert(args: argparse.Namespace) -> int:
    from litegen.export.api import convert_checkpoint

    result = convert_checkpoint(
        args.hf_dir,
        args.output,
        quant=args.quant,
        form=args.form,
        max_context=args.max_context,
        kv_cache_dtype=args.kv_dtype,
        force=args.force,
        progress=not args.no_progress,
    )
    path = result.path
    size = path.stat().st_size
    if result.quant_report is not None:
        # Sizes by scheme and the worst errors: what the recipe cost in accuracy.
        print(result.quant_report.format())
    print(f"wrote {path} ({size / 2**20:.1f} MiB, {args.form} form)")
    return 0
