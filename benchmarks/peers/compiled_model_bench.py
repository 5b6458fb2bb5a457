"""Time litert-torch's .tflite on the plain ``ai_edge_litert`` CompiledModel API.

Runs in the peers venv, in its own process (``python -m benchmarks.peers.compiled_model_bench
MODEL.tflite --prompt-tokens N --decode-tokens M --threads T``). The loop is the one an
application writes by hand on this API: ``prefill_P`` over the prompt in P-token chunks,
then ``decode`` one token at a time with greedy sampling read from the logits; KV caches
ping-pong between two buffer sets (outputs of one step are inputs of the next). No weight
cache (the API's default). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np


def _prefill_signature(signatures: dict[str, Any]) -> tuple[str, int]:
    names = [s for s in signatures if s.startswith("prefill_") and s[8:].isdigit()]
    if not names:
        raise SystemExit(f"no prefill_N signature in {sorted(signatures)}")
    name = max(names, key=lambda s: int(s[8:]))
    return name, int(name[8:])


class Loop:
    def __init__(self, path: str, threads: int) -> None:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.cpu_options import CpuOptions
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import Options

        options = Options(
            hardware_accelerators=HardwareAccelerator.CPU,
            cpu_options=CpuOptions(num_threads=threads),
        )
        self.model = CompiledModel.from_file(path, options=options)
        signatures = self.model.get_signature_list()
        self.prefill_name, self.prefill_len = _prefill_signature(signatures)
        kv_names = [n for n in signatures["decode"]["inputs"] if n.startswith("kv_cache_")]
        details = self.model.get_input_tensor_details("decode")
        self.vocab = int(self.model.get_output_tensor_details("decode")["logits"]["shape"][-1])
        self.kv_len = int(details[kv_names[0]]["shape"][2])
        # Two KV buffer sets, created from the decode signature (both signatures share the
        # layout); a step reads one set and writes the other.
        self.kv = [
            {n: self.model.create_input_buffer_by_name("decode", n) for n in kv_names}
            for _ in range(2)
        ]
        self.io = {
            sig: {
                "tokens": self.model.create_input_buffer_by_name(sig, "tokens"),
                "input_pos": self.model.create_input_buffer_by_name(sig, "input_pos"),
            }
            for sig in (self.prefill_name, "decode")
        }
        self.logits = self.model.create_output_buffer_by_name("decode", "logits")
        self.current = 0

    def _run(self, sig: str, tokens: np.ndarray, pos: np.ndarray) -> None:
        self.io[sig]["tokens"].write(tokens)
        self.io[sig]["input_pos"].write(pos)
        inputs = {**self.io[sig], **self.kv[self.current]}
        outputs = dict(self.kv[1 - self.current])
        if sig == "decode":
            outputs["logits"] = self.logits
        self.model.run_by_name(sig, inputs, outputs)
        self.current = 1 - self.current

    def prefill(self, prompt: np.ndarray) -> None:
        p = self.prefill_len
        for start in range(0, len(prompt), p):  # the last chunk is padded
            chunk = np.zeros((1, p), dtype=np.int32)
            part = prompt[start : start + p]
            chunk[0, : len(part)] = part
            self._run(self.prefill_name, chunk, np.arange(start, start + p, dtype=np.int32))

    def decode(self, token: int, pos: int) -> int:
        self._run("decode", np.array([[token]], dtype=np.int32), np.array([pos], dtype=np.int32))
        return int(np.argmax(self.logits.read(self.vocab, np.float32)))


def one_run(loop: Loop, prompt: np.ndarray, decode_tokens: int) -> dict[str, float]:
    start = time.perf_counter()
    loop.prefill(prompt)
    prefill_s = time.perf_counter() - start
    token = loop.decode(int(prompt[-1]), len(prompt))
    first = time.perf_counter() - start
    decode_start = time.perf_counter()
    for i in range(1, decode_tokens):
        token = loop.decode(token, len(prompt) + i)
    decode_s = time.perf_counter() - decode_start
    return {
        "prefill_tokens_per_second": len(prompt) / prefill_s,
        # the first generated token comes from the first decode step (prefill has no logits)
        "decode_tokens_per_second": (decode_tokens - 1) / decode_s,
        "time_to_first_token_seconds": first,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    loop = Loop(args.model, args.threads)
    init = time.perf_counter() - start
    if args.prompt_tokens + args.decode_tokens > loop.kv_len:
        raise SystemExit(f"prompt + decode tokens exceed the KV cache ({loop.kv_len})")
    rng = np.random.default_rng(0)
    prompt = rng.integers(3, loop.vocab, size=args.prompt_tokens, dtype=np.int32)
    one_run(loop, prompt, min(args.decode_tokens, 8))  # warm-up
    runs = [one_run(loop, prompt, args.decode_tokens) for _ in range(args.runs)]
    result = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    result["init_seconds"] = init
    result["runs"] = runs
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
