"""Conversion benchmark: wall time and peak RSS of ``litegen convert`` on a TinyLlama-1.1B
shaped checkpoint (random bf16 weights).

Not a test: run it by hand (``python benchmarks/convert_benchmark.py``). The checkpoint is
written once under ``--ckpt-dir`` (default ``build/bench-ckpt``) straight with the
safetensors layout, tensor by tensor, so making it never holds the model in memory (an
HF model instantiated in float32 alone would take 4.4 GB). Each conversion runs in its
own subprocess; its peak RSS is the ``ru_maxrss`` that ``os.wait4`` reports for it.

Targets (issue 4): int8, ``--max-context 1024``: <= 20 s wall, <= 4 GB peak RSS on the
2-core dev machine. The machine is shared: quote results with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Shape:
    name: str
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int


TINYLLAMA = Shape("tinyllama-1.1b", 32000, 2048, 22, 32, 4, 5632)
TINY = Shape("tiny", 256, 64, 2, 4, 2, 128)


def hf_config(shape: Shape) -> dict[str, Any]:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": shape.vocab_size,
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": shape.num_layers,
        "num_attention_heads": shape.num_heads,
        "num_key_value_heads": shape.num_kv_heads,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "bos_token_id": 1,
        "eos_token_id": 2,
    }


def tensor_shapes(shape: Shape) -> list[tuple[str, tuple[int, ...]]]:
    """HF Llama tensor names and shapes, in file order."""
    h, kv = shape.hidden_size, shape.hidden_size // shape.num_heads * shape.num_kv_heads
    out: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (shape.vocab_size, h))]
    for i in range(shape.num_layers):
        p = f"model.layers.{i}"
        out += [
            (f"{p}.input_layernorm.weight", (h,)),
            (f"{p}.self_attn.q_proj.weight", (h, h)),
            (f"{p}.self_attn.k_proj.weight", (kv, h)),
            (f"{p}.self_attn.v_proj.weight", (kv, h)),
            (f"{p}.self_attn.o_proj.weight", (h, h)),
            (f"{p}.post_attention_layernorm.weight", (h,)),
            (f"{p}.mlp.gate_proj.weight", (shape.intermediate_size, h)),
            (f"{p}.mlp.up_proj.weight", (shape.intermediate_size, h)),
            (f"{p}.mlp.down_proj.weight", (h, shape.intermediate_size)),
        ]
    out += [("model.norm.weight", (h,)), ("lm_head.weight", (shape.vocab_size, h))]
    return out


def write_checkpoint(shape: Shape, directory: Path) -> Path:
    """A random bf16 checkpoint of ``shape`` in ``directory`` (reused when complete)."""
    ckpt = directory / shape.name
    config_path, weights = ckpt / "config.json", ckpt / "model.safetensors"
    if config_path.is_file() and weights.is_file():
        return ckpt  # config.json is written last: its presence means complete
    ckpt.mkdir(parents=True, exist_ok=True)
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    names = tensor_shapes(shape)
    for name, dims in names:
        size = 2 * int(torch.Size(dims).numel())
        span = [offset, offset + size]
        header[name] = {"dtype": "BF16", "shape": list(dims), "data_offsets": span}
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # the data starts 8-byte aligned
    gen = torch.Generator().manual_seed(0)
    tmp = weights.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(len(blob).to_bytes(8, "little"))
        f.write(blob)
        for _, dims in names:  # one tensor in memory at a time
            if len(dims) == 1:
                t = torch.ones(dims, dtype=torch.bfloat16)
            else:  # initializer_range 0.02, like the real model's init
                t = (torch.randn(dims, generator=gen) * 0.02).to(torch.bfloat16)
            f.write(t.view(torch.int16).numpy().tobytes())
    tmp.replace(weights)
    config_path.write_text(json.dumps(hf_config(shape), indent=2))
    return ckpt


def write_tokenizer(ckpt: Path, vocab_size: int) -> None:
    """A SentencePiece ``tokenizer.model`` (+ tokenizer_config.json) in ``ckpt``, which a
    ``.litegen`` bundle (and the peers: llama.cpp's converter, LiteRT-LM) needs; a BPE model
    (<unk>=0, <s>=1, </s>=2) trained in seconds on generated text, reused when present.
    Padded with user-defined pieces to exactly ``vocab_size`` (as a real TinyLlama
    tokenizer has the model's 32000), so every id the random model emits decodes."""
    path = ckpt / "tokenizer.model"
    if path.is_file():
        return
    import io
    import random

    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    rng = random.Random(0)
    # 300 made-up words of 2-7 letters: enough text to learn a few hundred merges
    words = ["".join(rng.choices("aeioubcdfghklmnprst", k=rng.randint(2, 7))) for _ in range(300)]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 14))) for _ in range(2000)]
    model = io.BytesIO()
    byte_fallback = vocab_size >= 400  # needs 256 byte pieces + the specials
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="bpe",
        vocab_size=min(400, vocab_size) if byte_fallback else min(64, vocab_size),
        byte_fallback=byte_fallback,
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    proto = model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    for i in range(len(proto.pieces), vocab_size):
        piece = proto.pieces.add()
        piece.piece = f"<extra_{i}>"
        piece.type = model_pb2.ModelProto.SentencePiece.Type.USER_DEFINED
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "tokenizer_class": "LlamaTokenizer",
    }
    (ckpt / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    if len(proto.pieces) != vocab_size:
        raise ValueError(f"tokenizer has {len(proto.pieces)} pieces, wanted {vocab_size}")
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(proto.SerializeToString())
    tmp.replace(path)  # written last: its presence means complete


def run_convert(ckpt: Path, out: Path, quant: str, form: str, max_context: int) -> dict[str, Any]:
    """One ``litegen convert`` in a subprocess: wall seconds and its peak RSS."""
    cmd = [
        sys.executable,
        "-m",
        "litegen.cli",
        "convert",
        str(ckpt),
        "-o",
        str(out),
        "--quant",
        quant,
        "--form",
        form,
        "--max-context",
        str(max_context),
        "--force",
        "--no-progress",
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "python"), env.get("PYTHONPATH")]))
    # Output goes to files, not pipes: nobody reads a pipe while wait4 blocks.
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out_f, stderr=err_f)
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix in earlier runs).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        stdout, stderr = out_f.read().decode(), err_f.read().decode()
    if code != 0:
        raise SystemExit(f"conversion failed ({code}):\n{stdout}\n{stderr}")
    return {
        "quant": quant,
        "format": out.suffix.lstrip("."),
        "form": form,
        "max_context": max_context,
        "wall_s": round(wall, 3),
        "cpu_user_s": round(usage.ru_utime, 3),
        "cpu_system_s": round(usage.ru_stime, 3),
        "peak_rss_bytes": usage.ru_maxrss * 1024,  # Linux reports KiB
        "file_bytes": out.stat().st_size,
        "load_avg_before": list(os.getloadavg()),
        "cli_output": stdout.strip(),
    }


def markdown(shape: str, runs: list[dict[str, Any]], load: tuple[float, ...]) -> str:
    lines = [
        f"conversion of the {shape} shape (load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}, {os.cpu_count()} CPUs)",
        "",
        "| quant | format | form | max context | wall s | CPU s | peak RSS GB | file MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['quant']} | {r['format']} | {r['form']} | {r['max_context']} | "
            f"{r['wall_s']:.1f} | "
            f"{r['cpu_user_s'] + r['cpu_system_s']:.1f} | {r['peak_rss_bytes'] / 1e9:.2f} | "
            f"{r['file_bytes'] / 1e6:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt-dir", type=Path, default=REPO / "build" / "bench-ckpt")
    parser.add_argument(
        "--quant", action="append", help="recipe(s) to convert with (repeatable; default int8)"
    )
    parser.add_argument("--form", default="fast", choices=("fast", "portable"))
    parser.add_argument("--max-context", type=int, default=1024)
    parser.add_argument("--tiny", action="store_true", help="a tiny shape (smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--format",
        action="append",
        choices=("tflite", "litegen"),
        help="output format(s), repeatable (default tflite); litegen (model + tokenizer + "
        "metadata) adds a SentencePiece tokenizer to the checkpoint first",
    )
    parser.add_argument("--out-dir", type=Path, help="where the output goes (default: a tmp dir)")
    args = parser.parse_args(argv)
    shape = TINY if args.tiny else TINYLLAMA
    ckpt = write_checkpoint(shape, args.ckpt_dir)
    formats = args.format or ["tflite"]
    if "litegen" in formats:
        write_tokenizer(ckpt, shape.vocab_size)
    runs = []
    with tempfile.TemporaryDirectory(dir=args.out_dir) as tmp:
        for quant in args.quant or ["int8"]:
            for fmt in formats:  # formats back to back: same-minute A/B on a shared host
                name = f"model-{quant.replace(',', '_').replace('=', '-')}.{fmt}"
                out = Path(tmp) / name
                runs.append(run_convert(ckpt, out, quant, args.form, args.max_context))
                out.unlink()
    load = os.getloadavg()
    print(markdown(shape.name, runs, load))
    if args.json:
        result = {
            "shape": asdict(shape),
            "checkpoint_bytes": (ckpt / "model.safetensors").stat().st_size,
            "machine": {
                "cpu_count": os.cpu_count(),
                "load_avg_after": list(load),
                "python": platform.python_version(),
                "torch": torch.__version__,
            },
            "runs": runs,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
