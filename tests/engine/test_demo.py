"""Smoke test of `make demo`'s pipeline (python -m litegen.demo) on a tiny config: the
checkpoint with its trained tokenizer, the HF verification, `litegen convert` to a bundle
and text from `litegen-run`."""

from __future__ import annotations

import json

from litegen import demo
from litegen.tokenizer import Tokenizer

TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 1,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}


def test_demo_pipeline_on_a_tiny_config(tmp_path):
    ckpt = tmp_path / "ckpt"
    demo.write_demo_checkpoint(ckpt, TINY, vocab_size=400)
    tokenizer = Tokenizer.from_file(ckpt / "tokenizer.model")
    assert json.loads((ckpt / "config.json").read_text())["vocab_size"] == tokenizer.vocab_size
    assert "chat_template" in json.loads((ckpt / "tokenizer_config.json").read_text())

    demo.verify_checkpoint(ckpt, [1, *tokenizer.encode(demo.PROMPT)], 4)
    bundle = tmp_path / "model.litegen"
    demo.convert_checkpoint(ckpt, bundle, quant="none", max_context=64)
    text, stats = demo.run_engine(
        bundle,
        demo.PROMPT,
        new_tokens=8,
        threads=1,
        echo=False,
        extra=["--no-weight-cache", "--stop-ids", ""],
    )
    assert stats["generated_tokens"] == "8" and "decode_tokens_per_s" in stats
    import litegen

    expected = litegen.Generator(bundle, num_threads=1, weight_cache=False).generate(
        demo.PROMPT, max_new_tokens=8, stop_token_ids=()
    )
    assert text == expected.text
