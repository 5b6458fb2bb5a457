"""End to end with tokenizer.json-only checkpoints (byte-level BPE trained in the test: a
Llama with a Llama 3 style tokenizer, a Qwen 2 with a Qwen 2 style one): `litegen.convert`
-> .litegen -> `litegen.Generator` and `litegen-run` text generation, against HF
transformers greedy generation on the `tokenizers` encoding."""

from __future__ import annotations

import subprocess

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

import litegen  # noqa: E402
from litegen.bundle import read_bundle  # noqa: E402
from litegen.generate import litegen_run_path  # noqa: E402
from tests.tokenizer import bpe_models  # noqa: E402

MAX_CONTEXT = 48
NEW = 8
PROMPT = "some text: it's 2026, cafe\u0301 über 東京 🙂"


# tokenizer style -> (HF config, model class, BOS, EOS)
FAMILIES = {
    "llama3": ("LlamaConfig", "LlamaForCausalLM", "<|begin_of_text|>", "<|eot_id|>"),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", None, "<|im_end|>"),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def converted(request, tmp_path_factory: pytest.TempPathFactory):
    """(style, bundle path, HF model, HF tokenizer) of a small random model whose
    checkpoint has only a tokenizer.json (+ tokenizer_config.json)."""
    style = request.param
    config_class, model_class, bos, eos = FAMILIES[style]
    root = tmp_path_factory.mktemp(f"bpe_{style}")
    ckpt = root / "ckpt"
    bpe_models.write_checkpoint_tokenizer(ckpt, style)
    ref = bpe_models.reference(style)
    config = getattr(transformers, config_class)(
        vocab_size=ref.get_vocab_size(with_added_tokens=True),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        initializer_range=0.2,
        bos_token_id=ref.token_to_id(bos) if bos else None,
        eos_token_id=ref.token_to_id(eos),
        rms_norm_eps=1e-5,
    )
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = getattr(transformers, model_class)(config).eval()
    model.save_pretrained(ckpt)
    assert not (ckpt / "tokenizer.model").exists()
    bundle = litegen.convert(ckpt, root / "m.litegen", max_context=MAX_CONTEXT)
    return style, bundle, model, ref


def _hf_greedy(model, prompt: list[int]) -> list[int]:
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            do_sample=False,
            max_new_tokens=NEW,
            min_new_tokens=NEW,
            pad_token_id=0,
            eos_token_id=None,
        )
    return out[0, len(prompt) :].tolist()


def test_bundle_metadata(converted):
    style, bundle, _, ref = converted
    _, _, bos, eos = FAMILIES[style]
    meta = read_bundle(bundle).metadata
    assert meta["tokenizer_type"] == "bpe_bytelevel"
    assert meta["bos_token_id"] == (ref.token_to_id(bos) if bos else None)
    assert meta["eos_token_ids"] == [ref.token_to_id(eos)]
    # From the tokenizer.json post-processor: Llama 3 prepends BOS, Qwen does not.
    assert meta["add_bos_token"] is (style == "llama3")


def test_generator_matches_hf_greedy(converted):
    _, bundle, model, ref = converted
    gen = litegen.Generator(bundle, num_threads=1, weight_cache=False)
    result = gen.generate(PROMPT, temperature=0, max_new_tokens=NEW, stop_token_ids=())
    prompt = ref.encode(PROMPT).ids  # with the post-processor's BOS, if any
    assert result.stats.prompt_tokens == len(prompt)
    assert result.token_ids == _hf_greedy(model, prompt)
    assert result.text == ref.decode(result.token_ids, skip_special_tokens=True)
    pieces = list(gen.new_session().stream(PROMPT, max_new_tokens=NEW, stop_token_ids=()))
    assert "".join(pieces) == result.text


def test_litegen_run_text_output(converted):
    _, bundle, model, ref = converted
    binary = litegen_run_path()
    assert binary is not None
    proc = subprocess.run(
        [
            str(binary),
            "--model",
            str(bundle),
            "--prompt",
            PROMPT,
            "--stop-ids",
            "",
            "--max-new-tokens",
            str(NEW),
            "--threads",
            "1",
            "--no-weight-cache",
        ],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    expected = _hf_greedy(model, ref.encode(PROMPT).ids)
    # Bytes, not text mode: generated "\r\n" must reach stdout unchanged.
    assert proc.stdout.decode("utf-8") == ref.decode(expected, skip_special_tokens=True) + "\n"
