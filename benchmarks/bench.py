"""The litegen benchmark sweep on one model: init (cold and warm weight cache), prefill
tokens/s at 32/128/512/1024 tokens, time to first token, decode tokens/s at context
depths 128/512/1024, peak RSS, file size, and this machine's memory-read bandwidth and
int8 matmul peak with decode / prefill as a percentage of them.

Not a test: run it by hand. By default it builds the TinyLlama-1.1B-shaped checkpoint
(random weights, like convert_benchmark.py) and converts it once to an int8 fast-form
model cached under build/bench-models/; ``--model PATH`` benchmarks an existing model,
``--quick`` a tiny one (seconds). Writes bench.json, bench.md and bench.png into
``--out-dir`` and prints the table. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import convert_benchmark  # noqa: E402 (the checkpoint writer lives next to this file)
import litegen  # noqa: E402
from litegen.bench.compute_peak import MatmulShape  # noqa: E402
from litegen.bench.plot import plot_sweep  # noqa: E402
from litegen.bench.report import sweep_markdown  # noqa: E402
from litegen.bench.runner import BenchRunner, find_litegen_run  # noqa: E402
from litegen.bench.sweep import SweepConfig, run_sweep  # noqa: E402


@dataclass(frozen=True)
class Preset:
    shape: convert_benchmark.Shape
    max_context: int
    config: SweepConfig


FULL = Preset(convert_benchmark.TINYLLAMA, 1024, SweepConfig())
QUICK = Preset(
    convert_benchmark.TINY,
    128,
    SweepConfig(
        prefill_lengths=(8, 32, 96),
        decode_depths=(16, 96),
        decode_tokens=16,
        repeat=2,
        init_repeat=2,
        bandwidth_mib=64,
        matmul=MatmulShape(rows=64, hidden=256, inner=512, pairs=1),
    ),
)


def exporter_stamp() -> str:
    """A digest of litegen's Python sources: a cached model converted by other code (an
    older exporter, say) is converted again."""
    root = Path(litegen.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def default_model(preset: Preset, quant: str, build_dir: Path, ckpt_dir: Path) -> Path:
    """The preset's checkpoint (written once under ckpt_dir) converted to a fast-form
    model, cached under build_dir/bench-models."""
    ckpt = convert_benchmark.write_checkpoint(preset.shape, ckpt_dir)
    out = (
        build_dir / "bench-models" / f"{preset.shape.name}-{quant}-fast-{preset.max_context}.tflite"
    )
    weights = ckpt / "model.safetensors"
    stamp = out.with_name(out.name + ".exporter")
    current = exporter_stamp()
    fresh = out.is_file() and out.stat().st_mtime >= weights.stat().st_mtime
    if fresh and stamp.is_file() and stamp.read_text() == current:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"converting {ckpt} -> {out} ({quant}) ...", file=sys.stderr)
    stats = convert_benchmark.run_convert(ckpt, out, quant, "fast", preset.max_context)
    stamp.write_text(current)
    print(
        f"  {stats['wall_s']:.1f} s, peak RSS {stats['peak_rss_bytes'] / 1e9:.2f} GB",
        file=sys.stderr,
    )
    return out


def parse_ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="benchmark this fast-form .tflite/.litegen")
    parser.add_argument("--quick", action="store_true", help="a tiny model and short runs")
    parser.add_argument("--quant", default="int8", help="recipe for the built model (int8)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, help="untimed runs per measurement")
    parser.add_argument("--init-repeat", type=int, help="processes for cold and warm init")
    parser.add_argument("--decode-tokens", type=int, help="decode steps per run")
    parser.add_argument("--prefill-lengths", type=parse_ints, help="e.g. 32,128,512,1024")
    parser.add_argument("--decode-depths", type=parse_ints, help="e.g. 128,512,1024")
    parser.add_argument("--no-limits", action="store_true", help="skip bandwidth / matmul peak")
    parser.add_argument("--no-plot", action="store_true", help="no PNG (matplotlib not needed)")
    parser.add_argument("--build-dir", type=Path, default=REPO / "build")
    parser.add_argument(
        "--ckpt-dir", type=Path, help="random checkpoints (default <build-dir>/bench-ckpt)"
    )
    parser.add_argument(
        "--out-dir", type=Path, help="results directory (default build/bench-results/<model>)"
    )
    args = parser.parse_args(argv)

    preset = QUICK if args.quick else FULL
    model = args.model or default_model(
        preset, args.quant, args.build_dir, args.ckpt_dir or args.build_dir / "bench-ckpt"
    )
    overrides: dict[str, Any] = {
        "repeat": args.repeat,
        "warmup": args.warmup,
        "init_repeat": args.init_repeat,
        "decode_tokens": args.decode_tokens,
        "prefill_lengths": args.prefill_lengths,
        "decode_depths": args.decode_depths,
    }
    fields = {k: v for k, v in overrides.items() if v is not None}
    config = replace(preset.config, **fields, threads=args.threads, limits=not args.no_limits)
    out_dir = args.out_dir or args.build_dir / "bench-results" / model.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    runner = BenchRunner(
        model, config.threads, out_dir / "weights.xnnpack_cache", find_litegen_run()
    )
    result = run_sweep(runner, config, log=lambda msg: print(f"  {msg}", file=sys.stderr))
    result["command"] = " ".join(["python", "benchmarks/bench.py", *(argv or sys.argv[1:])])

    table = sweep_markdown(result)
    (out_dir / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "bench.md").write_text(table + "\n")
    if not args.no_plot:
        plot_sweep(result, out_dir / "bench.png")
    print(table)
    print(f"\nwrote {out_dir}/bench.json, bench.md" + ("" if args.no_plot else ", bench.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
