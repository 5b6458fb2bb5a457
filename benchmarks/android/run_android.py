"""Benchmark litegen on an Android device over adb: push ``litegen-run`` (the arm64 build
of the README's Android section), ``libLiteRt.so`` and the model to /data/local/tmp, pin
the run to the fastest cores, run ``litegen-run --bench ... --json-file``, pull the JSON
back and print a table.

    python benchmarks/android/run_android.py --binary build-android/litegen-run \\
        --litert-lib path/to/jni/arm64-v8a/libLiteRt.so --model model.tflite \\
        [--prompt-tokens 128] [--decode-tokens 32] [--threads 4] [-s SERIAL] [--out result.json]

The device is ``-s SERIAL`` or $ANDROID_SERIAL (adb's own convention); the adb binary is
``$ADB`` or ``adb`` on PATH. Pinning: the run uses ``taskset`` with the mask of the
fastest cores by cpuinfo_max_freq (/sys/devices/system/cpu/cpu*/cpufreq/), as many as
there are threads, ties included (a 1+3+4 phone with 4 threads: the prime and the three
big cores). The weight cache is written next to the model on the device (``--cold``
deletes it first), since $HOME may not be writable there.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEVICE_DIR = "/data/local/tmp/litegen"
FREQ_GLOB = "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq"


class AndroidBenchError(Exception):
    """adb failed, or the device answered something this script cannot use."""


@dataclass(frozen=True)
class Adb:
    """Runs adb for one device (``serial`` None: adb's default / $ANDROID_SERIAL)."""

    executable: str
    serial: str | None

    def command(self, *args: str) -> list[str]:
        prefix = [self.executable] + (["-s", self.serial] if self.serial else [])
        return prefix + list(args)

    def run(self, *args: str) -> str:
        cmd = self.command(*args)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise AndroidBenchError(
                f"{shlex.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}"
            )
        return proc.stdout

    def shell(self, script: str) -> str:
        return self.run("shell", script)


def parse_max_freqs(text: str) -> dict[int, int]:
    """``cpuN:freq`` lines (what big_core_mask's shell loop prints) -> {cpu: kHz}."""
    freqs: dict[int, int] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        name, _, value = line.partition(":")
        if not name.startswith("cpu") or not name[3:].isdigit() or not value.strip().isdigit():
            raise AndroidBenchError(f"unexpected cpufreq line from the device: {line!r}")
        freqs[int(name[3:])] = int(value)
    if not freqs:
        raise AndroidBenchError("the device reported no cpufreq/cpuinfo_max_freq files")
    return freqs


def fastest_cpu_mask(freqs: dict[int, int], threads: int) -> int:
    """Bit mask of the fastest CPUs for ``threads`` threads: every CPU at least as fast as
    the threads-th fastest one (a 1+3+4 phone with 4 threads: the prime and the 3 big
    cores; with 1 thread: the prime core alone). Ties stay in, for the scheduler."""
    ranked = sorted(freqs.values(), reverse=True)
    cutoff = ranked[min(max(threads, 1), len(ranked)) - 1]
    mask = 0
    for cpu, freq in freqs.items():
        if freq >= cutoff:
            mask |= 1 << cpu
    return mask


def big_core_mask(adb: Adb, threads: int) -> int:
    script = (
        f"for f in {FREQ_GLOB}; do c=${{f#/sys/devices/system/cpu/}}; "
        f'echo "${{c%%/*}}:$(cat $f)"; done'
    )
    return fastest_cpu_mask(parse_max_freqs(adb.shell(script)), threads)


def bench_command(
    model: str, mask: int, prompt: int, decode: int, threads: int, warmup: int, repeat: int
) -> str:
    """The device-side shell command (run from DEVICE_DIR)."""
    args = [
        "./litegen-run",
        "--model",
        model,
        "--bench",
        "--prompt-tokens",
        str(prompt),
        "--decode-tokens",
        str(decode),
        "--threads",
        str(threads),
        "--warmup",
        str(warmup),
        "--repeat",
        str(repeat),
        "--weight-cache",
        f"{model}.xnnpack_cache",
        "--json-file",
        "bench.json",
    ]
    return f"cd {DEVICE_DIR} && LD_LIBRARY_PATH={DEVICE_DIR} taskset {mask:x} " + " ".join(
        shlex.quote(a) for a in args
    )


def table(result: dict) -> str:
    """The device's result as a two-column markdown table (no litegen import needed)."""
    r = result
    rows = [
        ("model", f"{r['model']} ({r['model_file_bytes'] / 1e6:.1f} MB)"),
        ("threads / kernels", f"{r['threads']} / {r['isa']}"),
        ("init (s)", f"{r['init_seconds']:.3f} ({r['weight_cache_state']} cache)"),
        (f"prefill {r['prompt_tokens']} tokens (tok/s)", f"{r['prefill_tokens_per_second']:.1f}"),
        ("time to first token (s)", f"{r['time_to_first_token_seconds']:.4f}"),
        (f"decode {r['decode_tokens']} tokens (tok/s)", f"{r['decode_tokens_per_second']:.2f}"),
        ("peak RSS (MB)", f"{r['peak_rss_bytes'] / 1e6:.1f}"),
    ]
    return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", type=Path, required=True, help="arm64 litegen-run")
    parser.add_argument("--litert-lib", type=Path, required=True, help="arm64 libLiteRt.so")
    parser.add_argument("--model", type=Path, required=True, help="fast-form .tflite/.litegen")
    parser.add_argument(
        "--extra-lib",
        type=Path,
        action="append",
        default=[],
        help="more libraries to push (e.g. libc++_shared.so)",
    )
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="delete the weight cache first")
    parser.add_argument("--skip-model-push", action="store_true", help="model already there")
    parser.add_argument("-s", "--serial", default=os.environ.get("ANDROID_SERIAL"))
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--json", action="store_true", help="print the JSON, not a table")
    args = parser.parse_args(argv)

    for path in [args.binary, args.litert_lib, *args.extra_lib] + (
        [] if args.skip_model_push else [args.model]
    ):
        if not path.is_file():
            parser.error(f"no such file: {path}")
    adb = Adb(os.environ.get("ADB", "adb"), args.serial)
    try:
        adb.shell(f"mkdir -p {DEVICE_DIR}")
        for lib in (args.litert_lib, *args.extra_lib):
            adb.run("push", str(lib), f"{DEVICE_DIR}/{lib.name}")
        adb.run("push", str(args.binary), f"{DEVICE_DIR}/litegen-run")
        adb.shell(f"chmod 755 {DEVICE_DIR}/litegen-run")
        model = args.model.name
        if not args.skip_model_push:
            adb.run("push", str(args.model), f"{DEVICE_DIR}/{model}")
        if args.cold:
            cache = f"{DEVICE_DIR}/{model}.xnnpack_cache"
            adb.shell(f"rm -f {cache} {cache}.fingerprint")
        mask = big_core_mask(adb, args.threads)
        print(f"pinning to CPU mask 0x{mask:x}", file=sys.stderr)
        adb.shell(f"rm -f {DEVICE_DIR}/bench.json")
        command = bench_command(
            model, mask, args.prompt_tokens, args.decode_tokens, args.threads, args.warmup,
            args.repeat,
        )  # fmt: skip
        adb.shell(command)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "bench.json"
            adb.run("pull", f"{DEVICE_DIR}/bench.json", str(local))
            text = local.read_text()
    except AndroidBenchError as e:
        print(f"run_android: error: {e}", file=sys.stderr)
        return 1
    try:
        result = json.loads(text)
    except json.JSONDecodeError as e:
        print(f"run_android: error: the device's bench.json is not JSON: {e}", file=sys.stderr)
        return 1
    result["cpu_mask"] = f"0x{mask:x}"
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
