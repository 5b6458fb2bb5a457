"""Signatures share weights: every parameter is ONE buffer referenced by both subgraphs,
so the file holds one copy of the weights."""

from __future__ import annotations

import pytest

from litegen.export.tflite_schema import schema

# Flatbuffer tables, small folded constants and 64-byte alignment padding.
MAX_OVERHEAD_BYTES = 128 * 1024


def _unique_param_bytes(model) -> int:
    seen, total = set(), 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            total += p.numel() * p.element_size()
    return total


@pytest.mark.parametrize(("name", "form"), [("llama", "portable"), ("qwen2_tied", "fast")])
def test_weights_are_stored_once_and_shared(name, form, exported):
    ex = exported(name, form)
    params = _unique_param_bytes(ex.family.model)
    assert ex.weight_bytes == params
    size = ex.path.stat().st_size
    assert params <= size <= params + MAX_OVERHEAD_BYTES

    model = schema.ModelT.InitFromPackedBuf(bytearray(ex.path.read_bytes()), 0)
    big = {i for i, b in enumerate(model.buffers) if (b.size or 0) >= 1024}
    used = [{t.buffer for t in sg.tensors if t.buffer in big} for sg in model.subgraphs]
    assert len(used) == 2
    assert used[0] == used[1] == big  # prefill and decode read the same buffers
    assert sum(model.buffers[i].size for i in big) <= params
    sizes = sorted(
        p.numel() * 4
        for p in {p.data_ptr(): p for p in ex.family.model.parameters()}.values()
        if p.numel() * 4 >= 1024
    )
    assert sorted(model.buffers[i].size for i in big) == sizes


def test_tied_embedding_is_one_buffer_for_gather_and_fully_connected(exported):
    ex = exported("qwen2_tied", "fast")
    model = schema.ModelT.InitFromPackedBuf(bytearray(ex.path.read_bytes()), 0)
    op = schema.BuiltinOperator
    for sg in model.subgraphs:
        codes = [model.operatorCodes[o.opcodeIndex].builtinCode for o in sg.operators]
        gather = sg.operators[codes.index(op.GATHER)]
        last_fc = [o for o, c in zip(sg.operators, codes, strict=True) if c == op.FULLY_CONNECTED][
            -1
        ]
        table = sg.tensors[gather.inputs[0]].buffer
        assert sg.tensors[last_fc.inputs[1]].buffer == table  # the LM head
