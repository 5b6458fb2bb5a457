"""`make demo`: the main job on a built-in default model, with nothing downloaded.

1. write a small random-weight Llama checkpoint with HF transformers (safetensors +
   config.json), a SentencePiece ``tokenizer.model`` trained on generated text and a
   ``tokenizer_config.json`` with a simple chat template -- once, under the work directory;
2. re-author it with litegen (`litegen.from_pretrained`) and verify it against the HF
   reference: logits, greedy tokens, per-layer divergence;
3. convert it with ``litegen convert CKPT -o WORKDIR/model.litegen`` (fast form, int8
   weights) into one bundle: model + tokenizer + metadata;
4. generate text from a prompt with ``litegen-run`` -- the C++ engine on LiteRT/XNNPack,
   no Python -- streaming the text and printing its stats.

The weights are random, so the generated text is gibberish made of the tokenizer's pieces;
the point is the pipeline (and its speed), not the prose.

Run: python -m litegen.demo [--workdir .demo]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

import litegen
from litegen.verify import verify

# Small but shaped like TinyLlama: grouped-query attention, gated SiLU MLP, RMSNorm.
# vocab_size is set to the trained tokenizer's size.
DEMO_CONFIG: dict[str, Any] = {
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
TOKENIZER_VOCAB = 1024
MAX_CONTEXT = 256
PROMPT = "The little robot walked to the river and"
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n"
    "{{ message['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_SUBJECTS = [
    "the little robot",
    "a curious fox",
    "my old friend",
    "the quiet engineer",
    "every small model",
    "the tokenizer",
    "a bright student",
    "the river",
]
_VERBS = [
    "walked to",
    "looked at",
    "wrote about",
    "dreamed of",
    "carried",
    "measured",
    "followed",
    "sang about",
    "remembered",
    "built",
]
_OBJECTS = [
    "the river",
    "a green garden",
    "the tall mountain",
    "an empty station",
    "the morning light",
    "a wooden bridge",
    "the busy market",
    "a long letter",
    "the quiet forest",
    "seven blue stones",
]
_ENDINGS = [
    "and smiled.",
    "before the rain came.",
    "with great care.",
    "all day long.",
    "and then went home.",
    "while the city slept.",
    "for the first time.",
    "and asked a question?",
    "in 2026.",
    "because it was fun!",
]


def demo_corpus(sentences: int = 400, seed: int = 0) -> list[str]:
    """Generated English-like sentences (a few KB) to train the demo tokenizer on."""
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences):
        line = " ".join(
            (
                rng.choice(_SUBJECTS).capitalize(),
                rng.choice(_VERBS),
                rng.choice(_OBJECTS),
                rng.choice(_ENDINGS),
            )
        )
        lines.append(line)
    return lines


def train_tokenizer(vocab_size: int = TOKENIZER_VOCAB) -> bytes:
    """A SentencePiece BPE model (byte fallback; <unk>=0, <s>=1, </s>=2), trained in
    about a second."""
    import sentencepiece as spm

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(demo_corpus()),
        model_writer=out,
        model_type="bpe",
        vocab_size=vocab_size,
        byte_fallback=True,
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return out.getvalue()


def write_demo_checkpoint(
    directory: Path, config: dict[str, Any] | None = None, vocab_size: int = TOKENIZER_VOCAB
) -> None:
    """HF Llama checkpoint with random weights, its tokenizer.model and a chat template."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from litegen.tokenizer import Tokenizer

    spm_model = train_tokenizer(vocab_size)
    vocab = Tokenizer.from_bytes(spm_model).vocab_size
    torch.manual_seed(0)
    hf_config = LlamaConfig(**{**DEMO_CONFIG, **(config or {}), "vocab_size": vocab})
    hf_config._attn_implementation = "eager"
    directory.mkdir(parents=True, exist_ok=True)
    LlamaForCausalLM(hf_config).eval().save_pretrained(directory, safe_serialization=True)
    (directory / "tokenizer.model").write_bytes(spm_model)
    (directory / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "add_bos_token": True,
                "bos_token": "<s>",
                "eos_token": "</s>",
                "chat_template": CHAT_TEMPLATE,
            },
            indent=2,
        )
    )


def load_reference(directory: Path) -> torch.nn.Module:
    from transformers import LlamaForCausalLM

    return LlamaForCausalLM.from_pretrained(directory, attn_implementation="eager").eval()


def verify_checkpoint(checkpoint: Path, prompt: list[int], new_tokens: int) -> Any:
    """litegen's re-authored model against the HF reference (raises SystemExit on failure)."""
    model = litegen.from_pretrained(checkpoint)
    report = verify(model, load_reference(checkpoint), prompt, num_greedy_tokens=new_tokens)
    if not report.passed:
        raise SystemExit(f"verification failed:\n{report}")
    return report


def _litegen_cli() -> list[str]:
    script = Path(sys.executable).parent / "litegen"
    if script.is_file():
        return [str(script)]
    found = shutil.which("litegen")
    return (
        [found]
        if found
        else [
            sys.executable,
            "-c",
            "import sys; from litegen.cli.main import main; sys.exit(main())",
        ]
    )


def convert_checkpoint(
    checkpoint: Path, out: Path, *, quant: str = "int8", max_context: int = MAX_CONTEXT
) -> float:
    """``litegen convert CKPT -o OUT`` (fast form); returns the seconds it took."""
    cmd = [
        *_litegen_cli(),
        "convert",
        str(checkpoint),
        "-o",
        str(out),
        "--quant",
        quant,
        "--max-context",
        str(max_context),
        "--force",
        "--no-progress",
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"litegen convert failed:\n{proc.stderr}")
    return time.perf_counter() - start


def run_engine(
    bundle: Path,
    prompt: str,
    *,
    new_tokens: int,
    threads: int = 2,
    echo: bool = True,
    extra: list[str] | None = None,
) -> tuple[str, dict[str, str]]:
    """Runs ``litegen-run --model BUNDLE --prompt PROMPT`` (C++ only); streams its stdout
    when ``echo``; returns the text and the stats it printed on stderr."""
    from litegen.generate import litegen_run_path

    binary = litegen_run_path()
    if binary is None:
        raise SystemExit("litegen-run is not installed (run `make install`)")
    cmd = [
        str(binary),
        "--model",
        str(bundle),
        "--prompt",
        prompt,
        "--max-new-tokens",
        str(new_tokens),
        "--threads",
        str(threads),
        *(extra or []),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    chunks = []
    while chunk := proc.stdout.read1(4096):
        chunks.append(chunk)
        if echo:
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
    stderr = proc.stderr.read().decode("utf-8", "replace")
    if proc.wait() != 0:
        raise SystemExit(f"litegen-run failed:\n{stderr}")
    stats = {}
    for line in stderr.splitlines():
        key, sep, value = line.partition(": ")
        if sep and not key.startswith("INFO"):
            stats[key] = value
    text = b"".join(chunks).decode("utf-8", "replace")
    return text.removesuffix("\n"), stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(".demo"))
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--quant", default="int8", help="litegen convert --quant recipe")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    checkpoint = args.workdir / "tiny-llama"
    if not (checkpoint / "tokenizer.model").is_file():
        print(
            f"[1/4] writing a random-weight Llama checkpoint + SentencePiece tokenizer to "
            f"{checkpoint}"
        )
        write_demo_checkpoint(checkpoint)
    else:
        print(f"[1/4] using the checkpoint in {checkpoint}")

    print("[2/4] re-authoring with litegen.from_pretrained and verifying against HF")
    from litegen.tokenizer import Tokenizer

    tokenizer = Tokenizer.from_file(checkpoint / "tokenizer.model")
    prompt_ids = [1, *tokenizer.encode(args.prompt)]
    report = verify_checkpoint(checkpoint, prompt_ids, 16)
    print("      " + str(report).replace("\n", "\n      "))

    bundle = args.workdir / "model.litegen"
    print(f"[3/4] litegen convert {checkpoint} -o {bundle} --quant {args.quant}")
    seconds = convert_checkpoint(checkpoint, bundle, quant=args.quant)
    print(f"      wrote {bundle} ({bundle.stat().st_size / 1e6:.1f} MB) in {seconds:.1f} s")

    print(f"[4/4] litegen-run --model {bundle} --prompt {args.prompt!r}  (C++ engine, no Python)")
    print("      (random weights: expect gibberish text)")
    print(f"      prompt: {args.prompt}")
    sys.stdout.write("      output: ")
    sys.stdout.flush()
    _, stats = run_engine(bundle, args.prompt, new_tokens=args.new_tokens)
    for key in (
        "prompt_tokens",
        "generated_tokens",
        "time_to_first_token_s",
        "prefill_tokens_per_s",
        "decode_tokens_per_s",
        "stop_reason",
    ):
        if key in stats:
            print(f"      {key}: {stats[key]}")
    print("demo finished: checkpoint -> verified -> converted bundle -> text from the C++ engine")


if __name__ == "__main__":
    main()
