"""Checkpoint formats, layout conversions, legacy configs and bad checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from authoring_hf_models import rel_diff
from safetensors.torch import load_file, save_file

import litegen
from litegen.errors import CheckpointError, ConfigError, UnsupportedModelError
from litegen.loading import config_from_pretrained

TOKENS = torch.randint(3, 256, (1, 24), generator=torch.Generator().manual_seed(5))


def _assert_matches_hf(model, hf, rtol: float = 1e-4) -> None:
    with torch.no_grad():
        assert rel_diff(model(TOKENS), hf(TOKENS).logits) <= rtol


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- formats -------------------------------------------------------------------------------
def test_sharded_safetensors(saved_model, tmp_path):
    saved = saved_model("llama")
    saved.hf.save_pretrained(tmp_path, max_shard_size="40KB")
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 2
    _assert_matches_hf(litegen.from_pretrained(tmp_path, progress=False), saved.hf)


def test_pytorch_bin_single_and_sharded(saved_model, tmp_path):
    saved = saved_model("qwen2_tied")
    state = saved.hf.state_dict()  # includes the tied lm_head.weight, as old .bin files do
    single = tmp_path / "single"
    single.mkdir()
    shutil.copy(saved.path / "config.json", single)
    torch.save(state, single / "pytorch_model.bin")
    _assert_matches_hf(litegen.from_pretrained(single, progress=False), saved.hf)

    sharded = tmp_path / "sharded"
    sharded.mkdir()
    shutil.copy(saved.path / "config.json", sharded)
    names = sorted(state)
    weight_map = {}
    for i, part in enumerate((names[: len(names) // 2], names[len(names) // 2 :])):
        file = f"pytorch_model-{i + 1:05d}-of-00002.bin"
        torch.save({n: state[n] for n in part}, sharded / file)
        weight_map.update(dict.fromkeys(part, file))
    (sharded / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    _assert_matches_hf(litegen.from_pretrained(sharded, progress=False), saved.hf)


def test_bf16_checkpoint_loads_into_fp32(saved_model, tmp_path):
    saved = saved_model("gemma")
    tensors = {
        k: v.to(torch.bfloat16) for k, v in load_file(saved.path / "model.safetensors").items()
    }
    ckpt = _copy(saved.path, tmp_path / "bf16")
    save_file(tensors, ckpt / "model.safetensors")
    model = litegen.from_pretrained(ckpt, progress=False)
    weight = model.transformer_blocks[0].attention.q_proj.weight
    assert weight.dtype == torch.float32
    want = tensors["model.layers.0.self_attn.q_proj.weight"].float()
    assert torch.equal(weight, want)


def test_progress_bar_can_be_shown(saved_model, capsys):
    litegen.from_pretrained(saved_model("llama").path, progress=True)
    assert "Loading" in capsys.readouterr().err


# -- fused <-> split projections -------------------------------------------------------------
@pytest.mark.parametrize(("name", "fused"), [("phi3", False), ("llama", True), ("qwen2", True)])
def test_projection_layout_conversion(saved_model, name, fused):
    saved = saved_model(name)
    model = litegen.from_pretrained(saved.path, progress=False, fused_projections=fused)
    attn = model.transformer_blocks[0].attention
    assert hasattr(attn, "qkv_proj") == fused
    assert hasattr(model.transformer_blocks[0].feed_forward, "gate_up_proj") == fused
    _assert_matches_hf(model, saved.hf)


# -- legacy config.json layouts --------------------------------------------------------------
def _rewrite_config(src: Path, dst: Path, edit) -> Path:
    ckpt = _copy(src, dst)
    cfg = json.loads((ckpt / "config.json").read_text())
    edit(cfg)
    (ckpt / "config.json").write_text(json.dumps(cfg))
    return ckpt


def test_legacy_rope_fields(saved_model, tmp_path):
    """Pre-v5 checkpoints keep rope_theta / rope_scaling at the top level."""

    def legacy_llama3(cfg):
        params = cfg.pop("rope_parameters")
        cfg["rope_theta"] = params.pop("rope_theta")
        cfg["rope_scaling"] = params

    def legacy_phi3(cfg):
        params = cfg.pop("rope_parameters")
        cfg["rope_theta"] = params.pop("rope_theta")
        params["type"] = "su"  # the Phi-3 release's name for LongRoPE
        del params["rope_type"]
        cfg["rope_scaling"] = params

    def legacy_gemma(cfg):
        cfg["hidden_act"] = "gelu"  # Gemma's released configs; means the tanh approximation

    for name, edit in (
        ("llama3", legacy_llama3),
        ("phi3_longrope", legacy_phi3),
        ("gemma", legacy_gemma),
    ):
        saved = saved_model(name)
        legacy = _rewrite_config(saved.path, tmp_path / name, edit)
        assert config_from_pretrained(legacy) == config_from_pretrained(saved.path)


def test_unsupported_rope_scaling_is_a_config_error(saved_model, tmp_path):
    def yarn(cfg):
        cfg["rope_parameters"] = {"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e4}

    ckpt = _rewrite_config(saved_model("llama").path, tmp_path / "yarn", yarn)
    with pytest.raises(ConfigError, match="'yarn'"):
        litegen.from_pretrained(ckpt, progress=False)


# -- bad checkpoints -------------------------------------------------------------------------
def _edit_tensors(src: Path, dst: Path, edit) -> Path:
    ckpt = _copy(src, dst)
    tensors = load_file(ckpt / "model.safetensors")
    edit(tensors)
    save_file(tensors, ckpt / "model.safetensors")
    return ckpt


def test_missing_tensor(saved_model, tmp_path):
    name = "model.layers.1.mlp.up_proj.weight"
    ckpt = _edit_tensors(saved_model("llama").path, tmp_path / "c", lambda t: t.pop(name))
    with pytest.raises(CheckpointError, match="missing") as e:
        litegen.from_pretrained(ckpt, progress=False)
    msg = str(e.value)
    assert name in msg and "transformer_blocks.1.feed_forward.up_proj.weight" in msg
    assert "(128, 64)" in msg


def test_wrong_shape(saved_model, tmp_path):
    name = "model.layers.0.self_attn.k_proj.weight"

    def shrink(tensors):
        tensors[name] = tensors[name][:16].clone()

    ckpt = _edit_tensors(saved_model("llama").path, tmp_path / "c", shrink)
    with pytest.raises(CheckpointError) as e:
        litegen.from_pretrained(ckpt, progress=False)
    msg = str(e.value)
    assert name in msg and "(16, 64)" in msg and "(32, 64)" in msg


def test_wrong_shape_in_a_fused_part(saved_model, tmp_path):
    name = "model.layers.0.self_attn.v_proj.weight"

    def grow(tensors):
        tensors[name] = torch.zeros(40, 64)

    ckpt = _edit_tensors(saved_model("llama").path, tmp_path / "c", grow)
    with pytest.raises(CheckpointError) as e:
        litegen.from_pretrained(ckpt, progress=False, fused_projections=True)
    msg = str(e.value)
    assert name in msg and "(40, 64)" in msg and "(32, 64)" in msg and "qkv_proj" in msg


def test_extra_tensor(saved_model, tmp_path):
    def add(tensors):
        tensors["model.layers.0.mlp.extra_proj.weight"] = torch.zeros(3, 5)
        tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.zeros(8)  # benign

    ckpt = _edit_tensors(saved_model("llama").path, tmp_path / "c", add)
    with pytest.raises(CheckpointError) as e:
        litegen.from_pretrained(ckpt, progress=False)
    msg = str(e.value)
    assert "model.layers.0.mlp.extra_proj.weight" in msg and "(3, 5)" in msg
    assert "inv_freq" not in msg
    litegen.from_pretrained(ckpt, progress=False, strict=False)  # tolerated on request


def test_unsupported_model_type(saved_model, tmp_path):
    ckpt = _rewrite_config(
        saved_model("llama").path, tmp_path / "c", lambda c: c.update(model_type="mamba")
    )
    with pytest.raises(UnsupportedModelError, match="'mamba'") as e:
        litegen.from_pretrained(ckpt, progress=False)
    assert "llama" in str(e.value) and "gemma2" in str(e.value)


def test_corrupt_safetensors_header(saved_model, tmp_path):
    ckpt = _copy(saved_model("llama").path, tmp_path / "c")
    data = bytearray((ckpt / "model.safetensors").read_bytes())
    data[8:40] = b"{ this is not json at all !!!!!!"
    (ckpt / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt") as e:
        litegen.from_pretrained(ckpt, progress=False)
    assert "model.safetensors" in str(e.value)


def test_truncated_safetensors(saved_model, tmp_path):
    ckpt = _copy(saved_model("llama").path, tmp_path / "c")
    data = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        litegen.from_pretrained(ckpt, progress=False)


class _NotATensor:
    pass


def test_pickle_with_objects_is_refused(saved_model, tmp_path):
    ckpt = tmp_path / "c"
    ckpt.mkdir()
    shutil.copy(saved_model("llama").path / "config.json", ckpt)
    torch.save(
        {"model.norm.weight": torch.ones(64), "payload": _NotATensor()}, ckpt / "pytorch_model.bin"
    )
    with pytest.raises(CheckpointError, match="refusing"):
        litegen.from_pretrained(ckpt, progress=False)


def test_missing_config_and_weights(tmp_path):
    with pytest.raises(CheckpointError, match=r"config\.json"):
        litegen.from_pretrained(tmp_path, progress=False)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ConfigError, match="required field"):
        litegen.from_pretrained(tmp_path, progress=False)
