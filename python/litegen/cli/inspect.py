"""``litegen inspect MODEL [--json]``: what a .tflite / .litegen file holds."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    inspect = sub.add_parser(
        "inspect",
        help="show a model's signatures, operators, weights, metadata and tokenizer",
        description="Show what a .tflite or .litegen file holds: each signature's inputs and "
        "outputs (name, dtype, shape; ? = dynamic) and operator histogram, the custom ops, "
        "weight bytes by dtype, quantization and decoder layer, and for a .litegen bundle "
        "its metadata (quantization recipe, context, stop tokens, chat template) and "
        "tokenizer. Reads the file only (no model is compiled). For the graph itself, open "
        "the file in Google's Model Explorer: pip install ai-edge-model-explorer; "
        "model-explorer MODEL.tflite",
    )
    inspect.add_argument("model", metavar="MODEL", help="a .tflite or .litegen file")
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    inspect.set_defaults(handler=_inspect)


def _inspect(args: argparse.Namespace) -> int:
    from litegen.inspection import inspect_model

    report = inspect_model(args.model)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1, ensure_ascii=False))
    else:
        print(report.format())
    return 0
