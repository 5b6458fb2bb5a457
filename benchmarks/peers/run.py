"""Peers side by side: litegen against LiteRT-LM, the ai_edge_litert CompiledModel and
llama.cpp on the same random-weight checkpoint, in one run, as one table.

Run in the peers venv (``make bench-peers`` builds it and runs this):

    .venv-peers/bin/python benchmarks/peers/run.py [--quick] [--threads 2]
        [--prompt-tokens 128] [--decode-tokens 128] [--litegen PATH]

Every model file is made once and cached under build/peers/ (the litert-torch conversion
of the 1.1B shape needs ~22 GB and minutes). Every runtime runs in its own subprocess, so
its peak RSS is its own. Results: build/peers/results/<shape>-<time>.json and .md (and
latest-<shape>.*).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script: make `benchmarks.peers` importable
    sys.path.insert(0, str(REPO))

from benchmarks.peers.llama_cpp import LlamaCpp  # noqa: E402
from benchmarks.peers.parsing import (  # noqa: E402
    Speeds,
    last_json_object,
    parse_litegen_bench_json,
    parse_litert_lm_benchmark,
)
from benchmarks.peers.proc import Measured, PeerFailed, run_measured  # noqa: E402
from benchmarks.peers.report import Row, markdown_table, with_ratios  # noqa: E402

PEERS = ("litegen", "litert-lm", "compiled-model", "llama.cpp")
BUILD_KEYS = ("convert", "convert_f16", "quantize")  # made_once records in Row.extra
PREFILL_SIGNATURE = 128  # litert-torch's fixed prefill_N (LiteRT-LM pads the last chunk)
KV_LEN = 1024


@dataclass(frozen=True)
class Settings:
    threads: int
    prompt_tokens: int
    decode_tokens: int
    runs: int
    peers_dir: Path  # build/peers: tools, checkpoints, model files
    work: Path  # build/peers/<shape>: this shape's model files
    litegen: Path  # the litegen CLI (of the main venv)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _module(python: str | Path, module: str, *args: str | Path) -> list[str | Path]:
    return [python, "-m", module, *args]


def made_once(out: Path, make: Callable[[], Measured]) -> dict[str, Any]:
    """Run ``make`` unless ``out`` exists; its wall time and peak RSS are kept in
    ``out.build.json`` so a cached file still reports what making it cost."""
    record = out.with_name(out.name + ".build.json")
    if out.exists() and record.is_file():
        return {**json.loads(record.read_text()), "cached": True}
    out.parent.mkdir(parents=True, exist_ok=True)
    measured = make()
    info = {
        "wall_seconds": round(measured.wall_seconds, 2),
        "peak_rss_bytes": measured.peak_rss_bytes,
        "command": " ".join(measured.args),
    }
    record.write_text(json.dumps(info, indent=2))
    return {**info, "cached": False}


def keep_output(s: Settings, name: str, measured: Measured) -> None:
    """A peer's raw output, kept beside the results (evidence; parser test data)."""
    raw = s.peers_dir / "results" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    (raw / f"{s.work.name}-{slug}.txt").write_text(measured.stdout)


def _row(name: str, file: Path | None, speeds: Speeds, rss: int | None, **kw: Any) -> Row:
    builds = [b for k, b in kw.get("extra", {}).items() if k in BUILD_KEYS]
    return Row(
        name=name,
        file_bytes=file.stat().st_size if file is not None and file.exists() else None,
        prefill_tokens_per_second=speeds.prefill_tokens_per_second,
        decode_tokens_per_second=speeds.decode_tokens_per_second,
        time_to_first_token_seconds=speeds.time_to_first_token_seconds,
        init_seconds=speeds.init_seconds,
        peak_rss_bytes=rss,
        # steps run one after the other (llama.cpp: f16 conversion, then quantization)
        convert_seconds=sum(b["wall_seconds"] for b in builds) if builds else None,
        convert_peak_rss_bytes=max(b["peak_rss_bytes"] for b in builds) if builds else None,
        **kw,
    )


def _failed(name: str, exc: BaseException) -> Row:
    """A row for a runtime that failed: the first line in the table, all of it in JSON."""
    text = str(exc).strip() or type(exc).__name__
    return Row(
        name,
        None,
        None,
        None,
        None,
        None,
        None,
        note=f"failed: {text.splitlines()[0][:160]}",
        extra={"error": text[-6000:]},
    )


# ---- litegen -------------------------------------------------------------------------


def bench_litegen(ckpt: Path, s: Settings) -> list[Row]:
    rows = []
    for quant in ("int8", "int4"):
        name = f"litegen {quant}"
        try:
            model = s.work / "litegen" / f"{quant}.litegen"
            build = made_once(
                model,
                lambda m=model, q=quant: run_measured(
                    [
                        s.litegen,
                        "convert",
                        ckpt,
                        "-o",
                        m,
                        "--quant",
                        q,
                        "--max-context",
                        str(KV_LEN),
                        "--force",
                        "--no-progress",
                    ]
                ),
            )
            common = [
                "--prompt-tokens",
                str(s.prompt_tokens),
                "--decode-tokens",
                str(s.decode_tokens),
                "--threads",
                str(s.threads),
            ]
            # a short first run writes the weight cache, so the timed one starts warm
            run_measured(
                [
                    s.litegen,
                    "bench",
                    model,
                    "--prompt-tokens",
                    "8",
                    "--decode-tokens",
                    "1",
                    "--threads",
                    str(s.threads),
                    "--json",
                ]
            )
            measured = run_measured(
                [s.litegen, "bench", model, *common, "--repeat", str(s.runs), "--json"]
            )
            speeds, engine_rss = parse_litegen_bench_json(measured.stdout)
            # litegen bench runs the engine (litegen-run) in a child and reports that
            # process's peak RSS: the engine's own, as for the other runtimes.
            rss = engine_rss if engine_rss is not None else measured.peak_rss_bytes
            note = "litegen bench --json (litegen-run), warm cache"
            extra = {
                "wrapper_peak_rss_bytes": measured.peak_rss_bytes,
                "weight_cache_state": last_json_object(measured.stdout).get("weight_cache_state"),
            }
            rows.append(
                _row(
                    name,
                    model,
                    speeds,
                    rss,
                    note=note,
                    extra={**extra, "convert": build},
                )
            )
        except (PeerFailed, OSError, ValueError, KeyError) as exc:
            rows.append(_failed(name, exc))
    return rows


# ---- litert-torch -> LiteRT-LM / CompiledModel -------------------------------------


def convert_litert_torch(ckpt: Path, s: Settings) -> tuple[Path, Path, dict[str, Any]]:
    """The .tflite and .litertlm of litert-torch (made once; the 1.1B conversion peaks
    near 22 GB)."""
    out_dir = s.work / "litert-torch"
    names = out_dir / "files.json"

    def convert() -> Measured:
        measured = run_measured(
            _module(
                sys.executable,
                "benchmarks.peers.litert_torch_convert",
                ckpt,
                out_dir,
                "--prefill",
                str(PREFILL_SIGNATURE),
                "--kv-len",
                str(KV_LEN),
            ),
            env=_env(),
            cwd=REPO,
        )
        names.write_text(json.dumps(last_json_object(measured.stdout)))
        return measured

    build = made_once(names, convert)
    files = json.loads(names.read_text())
    return REPO / files["tflite"], REPO / files["litertlm"], build


def bench_litert_lm(bundle: Path, s: Settings, build: dict[str, Any]) -> list[Row]:
    cli = Path(sys.executable).parent / "litert-lm"
    args = [
        cli,
        "benchmark",
        bundle,
        "-p",
        str(s.prompt_tokens),
        "-d",
        str(s.decode_tokens),
        "--max-num-tokens",
        str(KV_LEN),
        "--runs",
        str(s.runs),
        "--backend",
        "cpu",
        "--cpu-thread-count",
        str(s.threads),
    ]
    rows = []
    # Warm: a first run writes <bundle>_*.xnnpack_cache beside the bundle.
    if not list(bundle.parent.glob(bundle.name + "_*.xnnpack_cache")):
        run_measured([*args[:3], "-p", "8", "-d", "8", "--cache", "disk", "--skip-warmup"])
    for cache, label in (("disk", "warm weight cache"), ("no", "no weight cache")):
        name = f"LiteRT-LM int8 ({label})"
        try:
            measured = run_measured([*args, "--cache", cache])
            keep_output(s, name, measured)
            speeds = parse_litert_lm_benchmark(measured.stdout)
            rows.append(
                _row(
                    name,
                    bundle,
                    speeds,
                    measured.peak_rss_bytes,
                    note="litert-torch dynamic int8, transposed KV",
                    extra={"convert": build},
                )
            )
        except (PeerFailed, ValueError) as exc:
            rows.append(_failed(name, exc))
    return rows


def bench_compiled_model(tflite: Path, s: Settings, build: dict[str, Any]) -> list[Row]:
    name = "ai_edge_litert CompiledModel int8"
    try:
        measured = run_measured(
            _module(
                sys.executable,
                "benchmarks.peers.compiled_model_bench",
                tflite,
                "--prompt-tokens",
                str(s.prompt_tokens),
                "--decode-tokens",
                str(s.decode_tokens),
                "--threads",
                str(s.threads),
                "--runs",
                str(s.runs),
            ),
            env=_env(),
            cwd=REPO,
        )
        data = last_json_object(measured.stdout)
        speeds = Speeds(
            data["prefill_tokens_per_second"],
            data["decode_tokens_per_second"],
            data["time_to_first_token_seconds"],
            data["init_seconds"],
        )
        note = f"hand loop: prefill_{PREFILL_SIGNATURE} chunks + decode; no weight cache"
        return [
            _row(name, tflite, speeds, measured.peak_rss_bytes, note=note, extra={"convert": build})
        ]
    except (PeerFailed, ValueError, KeyError) as exc:
        return [_failed(name, exc)]


# ---- llama.cpp ------------------------------------------------------------------------


def bench_llama_cpp(ckpt: Path, s: Settings) -> list[Row]:
    tools = LlamaCpp.under(s.peers_dir)
    out = s.work / "llama.cpp"
    try:
        tools.check()
        f16 = out / f"{ckpt.name}-f16.gguf"
        f16_build = made_once(f16, lambda: tools.convert_f16(ckpt, f16))
    except (PeerFailed, OSError) as exc:
        return [_failed(f"llama.cpp {k}", exc) for k in ("Q8_0", "Q4_0")]
    rows = []
    for kind in ("Q8_0", "Q4_0"):
        name = f"llama.cpp {kind}"
        try:
            gguf = out / f"{ckpt.name}-{kind.lower()}.gguf"
            build = made_once(gguf, lambda g=gguf, k=kind: tools.quantize(f16, g, k))
            speeds, measured, info = tools.bench(
                gguf,
                threads=s.threads,
                prompt_tokens=s.prompt_tokens,
                decode_tokens=s.decode_tokens,
                runs=s.runs,
            )
            keep_output(s, name, measured)
            rows.append(
                _row(
                    name,
                    gguf,
                    speeds,
                    measured.peak_rss_bytes,
                    note="llama-bench (no TTFT/init reported), mmap",
                    extra={**info, "convert_f16": f16_build, "quantize": build},
                )
            )
        except (PeerFailed, OSError, ValueError) as exc:
            rows.append(_failed(name, exc))
    return rows


# ---- main -----------------------------------------------------------------------------


def _default_litegen() -> Path:
    local = REPO / ".venv" / "bin" / "litegen"
    if local.is_file():
        return local
    found = shutil.which("litegen")
    return Path(found) if found else local


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny shape (pipeline check)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3, help="timed repetitions per runtime")
    parser.add_argument("--out-dir", type=Path, default=REPO / "build" / "peers")
    parser.add_argument(
        "--litegen", type=Path, default=_default_litegen(), help="the litegen CLI to time"
    )
    parser.add_argument("--skip", action="append", default=[], choices=PEERS)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("litert_torch") is None:
        raise SystemExit("run this in the peers venv (make bench-peers builds .venv-peers)")
    if args.prompt_tokens + args.decode_tokens > KV_LEN:
        raise SystemExit(f"--prompt-tokens + --decode-tokens must fit the {KV_LEN}-token KV")
    peers_dir = args.out_dir.resolve()
    load_before = os.getloadavg()
    # In a subprocess: making it imports torch, and every child inherits this process's
    # RSS at fork (Linux keeps the pre-exec high-water mark in ru_maxrss).
    made = run_measured(
        _module(
            sys.executable,
            "benchmarks.peers.checkpoint",
            peers_dir / "ckpt",
            *(["--quick"] if args.quick else []),
        ),
        env=_env(),
        cwd=REPO,
    )
    ckpt = Path(made.stdout.strip().splitlines()[-1])
    shape = ckpt.name
    s = Settings(
        threads=args.threads,
        prompt_tokens=args.prompt_tokens,
        decode_tokens=args.decode_tokens,
        runs=args.runs,
        peers_dir=peers_dir,
        work=peers_dir / shape,
        litegen=args.litegen.absolute(),
    )
    rows: list[Row] = []
    if "litegen" not in args.skip:
        rows += bench_litegen(ckpt, s)
    if not {"litert-lm", "compiled-model"} <= set(args.skip):
        try:
            tflite, bundle, build = convert_litert_torch(ckpt, s)
        except PeerFailed as exc:
            traceback.print_exc()
            rows += [_failed("litert-torch conversion", exc)]
        else:
            if "litert-lm" not in args.skip:
                rows += bench_litert_lm(bundle, s, build)
            if "compiled-model" not in args.skip:
                rows += bench_compiled_model(tflite, s, build)
    if "llama.cpp" not in args.skip:
        rows += bench_llama_cpp(ckpt, s)
    rows = with_ratios(rows)
    load_after = os.getloadavg()
    title = (
        f"{shape} shape, prompt {s.prompt_tokens}, decode {s.decode_tokens}, "
        f"{s.threads} threads, kv {KV_LEN}, median of {s.runs} runs; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after ({os.cpu_count()} CPUs)"
    )
    table = markdown_table(rows)
    print(title + "\n\n" + table)
    results = peers_dir / "results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    record = {
        "title": title,
        "shape": shape,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(s).items()},
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_avg_before": list(load_before),
            "load_avg_after": list(load_after),
            "python": platform.python_version(),
            "platform": platform.platform(),
            # a child's ru_maxrss can include up to this much (the runner's RSS at fork)
            "runner_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        },
        "rows": [r.as_dict() for r in rows],
    }
    for stem in (f"{shape}-{stamp}", f"latest-{shape}"):
        (results / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
        (results / f"{stem}.md").write_text(f"{title}\n\n{table}\n")
    print(f"\nwrote {results}/{shape}-{stamp}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
