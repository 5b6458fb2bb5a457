"""Convert the benchmark checkpoint with litert-torch and bundle it for LiteRT-LM.

Runs in the peers venv, in its own process (``python -m benchmarks.peers.litert_torch_convert
CKPT OUT_DIR``): the model is built with litert-torch's generative API from the checkpoint's
config.json (the TinyLlama example's layers), converted with ``prefill_N`` + ``decode``
signatures, dynamic int8 weights and the transposed KV layout (the only one LiteRT-LM 0.18
reads), then packed with ``litert-lm-builder`` into a ``.litertlm`` beside the ``.tflite``.
Prints one JSON object naming both files.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import sys
import types
from pathlib import Path
from typing import Any


def register_tensorflow_schema_stand_in() -> None:
    """litert-torch 0.10 imports ``tensorflow.lite.python.schema_py_generated`` (in
    layers/lora.py) but does not depend on TensorFlow; the same flatbuffer schema ships
    in ai_edge_litert. Register it under the TensorFlow name before litert_torch loads."""
    import torch  # noqa: F401  (torch first: litert_torch expects it loaded)
    from ai_edge_litert import schema_py_generated

    names = ("tensorflow", "tensorflow.lite", "tensorflow.lite.python")
    for name in names:
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = []  # a package, so the submodule import resolves
            # A spec without an origin: importlib.util.find_spec (torch._dynamo calls it on
            # known third-party names) must see a module with no source directory.
            module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
            sys.modules[name] = module
    sys.modules["tensorflow.lite.python"].schema_py_generated = schema_py_generated  # type: ignore[attr-defined]
    sys.modules["tensorflow.lite.python.schema_py_generated"] = schema_py_generated


def model_config(hf: dict[str, Any]) -> Any:
    """litert-torch's ModelConfig for a HF Llama config (TinyLlama example layout)."""
    import litert_torch.generative.layers.model_config as cfg

    heads = int(hf["num_attention_heads"])
    attn = cfg.AttentionConfig(
        num_heads=heads,
        head_dim=int(hf["hidden_size"]) // heads,
        num_query_groups=int(hf["num_key_value_heads"]),
        rotary_base=int(hf.get("rope_theta", 10000)),
        rotary_percentage=1.0,
    )
    ff = cfg.FeedForwardConfig(
        type=cfg.FeedForwardType.GATED,
        activation=cfg.ActivationConfig(cfg.ActivationType.SILU),
        intermediate_size=int(hf["intermediate_size"]),
    )
    norm = cfg.NormalizationConfig(
        type=cfg.NormalizationType.RMS_NORM, epsilon=float(hf.get("rms_norm_eps", 1e-5))
    )
    block = cfg.TransformerBlockConfig(
        attn_config=attn,
        ff_config=ff,
        pre_attention_norm_config=norm,
        post_attention_norm_config=norm,
    )
    return cfg.ModelConfig(
        vocab_size=int(hf["vocab_size"]),
        num_layers=int(hf["num_hidden_layers"]),
        max_seq_len=int(hf.get("max_position_embeddings", 2048)),
        embedding_dim=int(hf["hidden_size"]),
        block_configs=block,
        final_norm_config=norm,
        lm_head_share_weight_with_embedding=bool(hf.get("tie_word_embeddings", False)),
    )


def convert(ckpt: Path, out_dir: Path, prefill: int, kv_len: int) -> Path:
    from litert_torch.generative.layers import kv_cache
    from litert_torch.generative.utilities import converter, export_config, model_builder

    hf = json.loads((ckpt / "config.json").read_text())
    model = model_builder.build_decoder_only_model(
        checkpoint_path=str(ckpt),
        config=model_config(hf),
        tensor_names=model_builder.TENSOR_NAMES_WITH_SEPARATE_LM_HEAD,
        mask_cache_size=kv_len,  # the causal mask is sliced from a kv_len-square cache
    )
    config = export_config.ExportConfig(kvcache_layout=kv_cache.KV_LAYOUT_TRANSPOSED)
    path = converter.convert_to_tflite(
        model,
        output_path=str(out_dir),
        output_name_prefix=ckpt.name,
        prefill_seq_len=prefill,
        kv_cache_max_len=kv_len,
        quantize="dynamic_int8",
        export_config=config,
    )
    return Path(path)


def bundle(tflite: Path, tokenizer: Path, kv_len: int, out: Path) -> None:
    """``out``: the .tflite + SentencePiece model + LlmMetadata (BOS 1, EOS 2)."""
    from litert_lm_builder import litertlm_builder as b
    from litert_lm_builder.runtime.proto import llm_metadata_pb2

    meta = llm_metadata_pb2.LlmMetadata()
    meta.start_token.token_ids.ids.append(1)
    meta.stop_tokens.add().token_ids.ids.append(2)
    meta.max_num_tokens = kv_len
    meta.llm_model_type.generic_model.SetInParent()
    meta_path = out.with_suffix(".llm_metadata.pb")
    meta_path.write_bytes(meta.SerializeToString())
    builder = b.LitertLmFileBuilder()
    builder.add_tflite_model(str(tflite), b.TfLiteModelType.PREFILL_DECODE)
    builder.add_sentencepiece_tokenizer(str(tokenizer))
    builder.add_llm_metadata(str(meta_path))
    partial = out.with_suffix(".partial")
    with open(partial, "wb") as f:
        builder.build(f)
    partial.replace(out)
    meta_path.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--prefill", type=int, default=128)
    parser.add_argument("--kv-len", type=int, default=1024)
    args = parser.parse_args(argv)
    register_tensorflow_schema_stand_in()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    tflite = convert(args.checkpoint, args.out_dir, args.prefill, args.kv_len)
    litertlm = tflite.with_suffix(".litertlm")
    bundle(tflite, args.checkpoint / "tokenizer.model", args.kv_len, litertlm)
    print(json.dumps({"tflite": str(tflite), "litertlm": str(litertlm)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
