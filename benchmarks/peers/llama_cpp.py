"""llama.cpp as a peer: the checkpoint written as GGUF (f16 by llama.cpp's own
convert_hf_to_gguf.py, then Q8_0 / Q4_0 by llama-quantize) and timed by llama-bench.

The tools are built by build_llama_cpp.sh under ``<out>/llama.cpp-build/bin`` from the tree
the llama-cpp-python sdist vendors (``<out>/llama.cpp``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.peers.parsing import Speeds, parse_llama_bench_json
from benchmarks.peers.proc import Measured, run_measured


@dataclass(frozen=True)
class LlamaCpp:
    tree: Path  # the llama.cpp source tree (convert_hf_to_gguf.py)
    bin_dir: Path  # llama-bench, llama-quantize

    @classmethod
    def under(cls, peers_dir: Path) -> LlamaCpp:
        return cls(peers_dir / "llama.cpp", peers_dir / "llama.cpp-build" / "bin")

    def check(self) -> None:
        for path in (self.tree / "convert_hf_to_gguf.py", self.bin_dir / "llama-bench"):
            if not path.is_file():
                raise FileNotFoundError(f"{path} missing: run `make bench-peers` (it builds it)")

    def convert_f16(self, ckpt: Path, out: Path) -> Measured:
        # The converter runs on the tree's own gguf-py (it puts it first on sys.path): the
        # PyPI gguf release lags the converter (no LazyChunkedTensor in gguf 0.19).
        return run_measured(
            [
                sys.executable,
                self.tree / "convert_hf_to_gguf.py",
                ckpt,
                "--outtype",
                "f16",
                "--outfile",
                out,
            ]
        )

    def quantize(self, f16: Path, out: Path, kind: str) -> Measured:
        return run_measured([self.bin_dir / "llama-quantize", f16, out, kind])

    def bench(
        self, gguf: Path, *, threads: int, prompt_tokens: int, decode_tokens: int, runs: int
    ) -> tuple[Speeds, Measured, dict[str, object]]:
        measured = run_measured(
            [
                self.bin_dir / "llama-bench",
                "-m",
                gguf,
                "-t",
                str(threads),
                "-p",
                str(prompt_tokens),
                "-n",
                str(decode_tokens),
                "-r",
                str(runs),
                "-o",
                "json",
            ]
        )
        parsed = parse_llama_bench_json(measured.stdout)
        speeds = parsed.pop("speeds")
        assert isinstance(speeds, Speeds)
        return speeds, measured, parsed
