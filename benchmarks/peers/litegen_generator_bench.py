"""Fallback timing of a litegen model through ``litegen.Generator``, for when the main
venv's ``litegen`` CLI has no ``bench`` subcommand yet.

Runs in the main venv, in its own process (``python -m benchmarks.peers.litegen_generator_bench
MODEL --prompt-tokens N --decode-tokens M --threads T``). The first Generator writes the
XNNPack weight cache; init is timed on a second one (warm, like LiteRT-LM's). Each run is a
fresh session (no prefix reuse), greedy, no stop tokens. Prints one JSON object with the
keys of ``litegen bench --json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    import litegen

    cold = time.perf_counter()
    generator = litegen.Generator(args.model, num_threads=args.threads)
    cold_init = time.perf_counter() - cold
    del generator
    start = time.perf_counter()
    generator = litegen.Generator(args.model, num_threads=args.threads)
    init = time.perf_counter() - start
    rng = np.random.default_rng(0)
    prompt = [int(t) for t in rng.integers(3, generator.vocab_size, size=args.prompt_tokens)]

    def one_run(new_tokens: int) -> dict[str, float]:
        stats = (
            generator.new_session()
            .generate(prompt, max_new_tokens=new_tokens, stop_token_ids=())
            .stats
        )
        return {
            "prefill_tokens_per_second": stats.prefill_tokens_per_s,
            "decode_tokens_per_second": stats.decode_tokens_per_s,
            "time_to_first_token_seconds": stats.time_to_first_token_s,
        }

    one_run(8)  # warm-up
    runs = [one_run(args.decode_tokens) for _ in range(args.runs)]
    result: dict[str, object] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    result["init_seconds"] = init
    result["cold_init_seconds"] = cold_init
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["runs"] = runs
    result["timed_with"] = "litegen.Generator"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
