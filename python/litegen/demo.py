"""`make demo`: the main job on a built-in default model, with nothing downloaded.

Today's pipeline (the exporter and generation engine issues extend it to
convert-then-generate through the C++ engine):

1. write a small random-weight Llama checkpoint with HF transformers (safetensors +
   config.json), once, under the work directory;
2. re-author it with litegen (`litegen.from_pretrained`) and verify it against the HF
   reference: logits, greedy tokens, per-layer divergence;
3. generate greedily through the explicit KV cache (prefill, then decode steps);
4. write the model's LM head as a two-signature .tflite (prefill/decode sharing one
   weight buffer) with litegen's flatbuffer writer and run it on LiteRT/XNNPack through
   the C++ runtime, checking its logits against PyTorch.

Run: python -m litegen.demo [--workdir .demo]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import litegen
from litegen.authoring.model import DecoderModel
from litegen.export.tflite_writer import ModelWriter
from litegen.runtime import Model
from litegen.verify import verify

# Small but shaped like TinyLlama: grouped-query attention, gated SiLU MLP, RMSNorm.
DEMO_CONFIG = {
    "vocab_size": 2048,
    "hidden_size": 256,
    "intermediate_size": 704,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "max_position_embeddings": 512,
    "rms_norm_eps": 1e-5,
    "initializer_range": 0.1,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "tie_word_embeddings": False,
}


def write_demo_checkpoint(directory: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(**DEMO_CONFIG)
    config._attn_implementation = "eager"
    LlamaForCausalLM(config).eval().save_pretrained(directory, safe_serialization=True)


def load_reference(directory: Path) -> torch.nn.Module:
    from transformers import LlamaForCausalLM

    return LlamaForCausalLM.from_pretrained(directory, attn_implementation="eager").eval()


@torch.no_grad()
def generate_with_cache(
    model: DecoderModel, prompt: list[int], new_tokens: int
) -> tuple[list[int], float, float]:
    """Greedy prefill + decode; returns tokens, prefill tok/s and decode tok/s."""
    cache = model.new_kv_cache(max_seq_len=len(prompt) + new_tokens)
    tokens = torch.tensor([prompt])
    start = time.perf_counter()
    logits = model(tokens, torch.arange(len(prompt)), cache)
    prefill_seconds = time.perf_counter() - start
    out: list[int] = []
    start = time.perf_counter()
    for step in range(new_tokens):
        next_token = int(logits[0, -1].argmax())
        out.append(next_token)
        if step + 1 == new_tokens:
            break
        position = torch.tensor([len(prompt) + step])
        logits = model(torch.tensor([[next_token]]), position, cache)
    decode_seconds = time.perf_counter() - start
    return out, len(prompt) / prefill_seconds, max(new_tokens - 1, 1) / decode_seconds


def write_lm_head(model: DecoderModel, path: Path) -> None:
    """LM head as 'prefill' (hidden [-1, D]) and 'decode' (hidden [1, D]) sharing weights."""
    from ai_edge_litert import schema_py_generated as schema

    weight = model.lm_head.weight.detach().float().numpy()
    vocab, dim = weight.shape
    writer = ModelWriter(description="litegen demo: LM head")
    weight_buffer = writer.add_buffer(weight)
    for name, rows in (("prefill", -1), ("decode", 1)):
        sg = writer.add_subgraph(name)
        hidden = sg.add_input("hidden", np.float32, (rows, dim))
        w = sg.add_constant("lm_head.weight", weight_buffer, np.float32, (vocab, dim))
        logits = sg.add_tensor("logits", np.float32, (rows, vocab))
        sg.add_builtin_op(
            "FULLY_CONNECTED", [hidden, w, None], [logits], options=schema.FullyConnectedOptionsT()
        )
        sg.add_output(logits, "logits")
    writer.write(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(".demo"))
    parser.add_argument("--new-tokens", type=int, default=32)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    checkpoint = args.workdir / "tiny-llama"
    if not (checkpoint / "config.json").is_file():
        print(f"[1/4] writing a random-weight Llama checkpoint to {checkpoint}")
        write_demo_checkpoint(checkpoint)
    else:
        print(f"[1/4] using the checkpoint in {checkpoint}")

    print("[2/4] re-authoring with litegen.from_pretrained and verifying against HF")
    model = litegen.from_pretrained(checkpoint)
    prompt = [1, 17, 423, 99, 1024, 7, 311, 256]
    report = verify(model, load_reference(checkpoint), prompt, num_greedy_tokens=args.new_tokens)
    print("      " + str(report).replace("\n", "\n      "))
    if not report.passed:
        raise SystemExit("verification failed")

    print(f"[3/4] greedy generation through the KV cache ({args.new_tokens} tokens)")
    tokens, prefill_tps, decode_tps = generate_with_cache(model, prompt, args.new_tokens)
    print(f"      prompt {prompt}\n      output {tokens}")
    if tokens != report.greedy.reference:
        raise SystemExit("cached generation differs from the HF reference's greedy tokens")
    print(f"      PyTorch eager: prefill {prefill_tps:.0f} tok/s, decode {decode_tps:.0f} tok/s")

    print("[4/4] LM head on LiteRT/XNNPack through litegen's C++ runtime")
    tflite = args.workdir / "lm_head.tflite"
    write_lm_head(model, tflite)
    runtime = Model(tflite, num_threads=2)
    with torch.no_grad():
        hidden = model.final_norm(torch.randn(len(prompt), model.config.embedding_dim))
        expected = model.lm_head(hidden).numpy()
    prefill_logits = runtime.run("prefill", hidden=hidden.numpy())["logits"]
    decode_logits = runtime.run("decode", hidden=hidden[-1:].numpy())["logits"]
    diff = max(
        float(np.abs(prefill_logits - expected).max()),
        float(np.abs(decode_logits - expected[-1:]).max()),
    )
    print(
        f"      {tflite} ({tflite.stat().st_size / 1e6:.1f} MB, signatures "
        f"{list(runtime.signatures)}): max |LiteRT - PyTorch| = {diff:.2e}"
    )
    if diff > 1e-3:
        raise SystemExit("LiteRT logits differ from PyTorch")
    print("demo finished: authoring, loading, verification, cached generation and the runtime work")


if __name__ == "__main__":
    main()
