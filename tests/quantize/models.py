"""Small models built from quantized weights, shared by the tests and measure_forms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litegen.export.tflite_writer import ModelWriter
from litegen.quantize import QuantizedWeight, QuantScheme, fully_connected_options

SIGNATURES = (("prefill", -1), ("decode", 1))  # name, rows (-1: dynamic)


def _fc(sg, x, w, scheme: QuantScheme, rows: int, out_features: int, name: str = "y"):
    y = sg.add_tensor(name, np.float32, (rows, out_features))
    options = fully_connected_options(scheme)
    sg.add_builtin_op("FULLY_CONNECTED", [x, w, None], [y], options=options)
    return y


def write_fc_model(path: Path, weight: QuantizedWeight) -> ModelWriter:
    """'prefill' x[-1, in] / 'decode' x[1, in] -> y = x @ W.T, both reading one stored W."""
    out_features, in_features = weight.shape
    writer = ModelWriter()
    stored = weight.add_to(writer)
    for name, rows in SIGNATURES:
        sg = writer.add_subgraph(name)
        x = sg.add_input("x", np.float32, (rows, in_features))
        sg.add_output(_fc(sg, x, stored.constant(sg), weight.scheme, rows, out_features), "y")
    writer.write(path)
    return writer


def write_lookup_model(path: Path, table: QuantizedWeight) -> ModelWriter:
    """'prefill' ids[-1] / 'decode' ids[1] -> rows of ``table`` as float32."""
    writer = ModelWriter()
    stored = table.add_to(writer)
    for name, rows in SIGNATURES:
        sg = writer.add_subgraph(name)
        ids = sg.add_input("ids", np.int32, (rows,))
        sg.add_output(stored.lookup(sg, ids, "rows"), "rows")
    writer.write(path)
    return writer


def write_tied_model(path: Path, table: QuantizedWeight) -> ModelWriter:
    """ids -> embedding rows -> FC with the same table (tied lm_head) -> logits."""
    vocab = table.shape[0]
    writer = ModelWriter()
    stored = table.add_to(writer)
    for name, rows in SIGNATURES:
        sg = writer.add_subgraph(name)
        ids = sg.add_input("ids", np.int32, (rows,))
        h = stored.lookup(sg, ids, "h")
        sg.add_output(
            _fc(sg, h, stored.constant(sg), table.scheme, rows, vocab, "logits"), "logits"
        )
    writer.write(path)
    return writer
