"""XNNPack weight cache: created once, reused, and shared by signatures (one packed copy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from litegen.errors import InputError
from litegen.runtime import Model
from litegen.runtime.model import default_weight_cache_path
from tests.fixtures.cpp_models import FC_IN, write_two_signature_fc


def test_cache_file_is_created_then_reused(fc_model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "fc.xnnpack_cache"
    x = np.random.default_rng(0).standard_normal((3, FC_IN)).astype(np.float32)

    first = Model(fc_model, weight_cache_path=cache)
    assert cache.is_file() and cache.stat().st_size > 0
    y_first = first.run("prefill", x=x)["y"]
    stat_before = cache.stat()
    bytes_before = cache.read_bytes()

    second = Model(fc_model, weight_cache_path=cache)
    y_second = second.run("prefill", x=x)["y"]
    stat_after = cache.stat()
    # Reused, not rewritten: same inode, same modification time, same bytes.
    assert (stat_after.st_ino, stat_after.st_mtime_ns) == (
        stat_before.st_ino,
        stat_before.st_mtime_ns,
    )
    assert cache.read_bytes() == bytes_before
    np.testing.assert_array_equal(y_first, y_second)


def test_default_cache_path_lives_in_the_litegen_cache_dir(fc_model: Path, tmp_path: Path) -> None:
    model = Model(fc_model)
    expected = default_weight_cache_path(fc_model)
    assert model.weight_cache_path == expected
    assert expected.is_relative_to(tmp_path / "cache")  # LITEGEN_CACHE_DIR from conftest
    assert expected.is_file()


def test_a_rewritten_model_reuses_its_default_cache_file(tmp_path: Path) -> None:
    """Re-converting a model must not leave its old cache (often model-sized) behind."""
    path = tmp_path / "model.tflite"
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, FC_IN)).astype(np.float32)
    outputs = []
    for _ in range(2):  # convert, then re-convert with new weights
        weight = rng.standard_normal((8, FC_IN)).astype(np.float32)
        write_two_signature_fc(path, weight=weight)
        y = Model(path).run("prefill", x=x)["y"]
        np.testing.assert_allclose(y, x @ weight.T, rtol=1e-5, atol=1e-5)
        outputs.append(y)
    caches = sorted((tmp_path / "cache" / "xnnpack").glob("*.xnnpack_cache"))
    assert caches == [default_weight_cache_path(path)]
    assert not np.allclose(outputs[0], outputs[1])


def test_caches_of_deleted_or_changed_models_are_pruned(tmp_path: Path) -> None:
    """Loading with the default cache directory drops caches nobody can use again."""
    gone, changed, kept = (tmp_path / f"{n}.tflite" for n in ("gone", "changed", "kept"))
    for path in (gone, changed, kept):
        write_two_signature_fc(path)
        Model(path)
    caches = {p: default_weight_cache_path(p) for p in (gone, changed, kept)}
    assert all(c.is_file() for c in caches.values())
    directory = caches[kept].parent
    foreign = directory / "notes.xnnpack_cache"  # stale fingerprint, but not a cache file
    foreign.write_text("mine")
    (directory / "notes.xnnpack_cache.fingerprint").write_text(
        f"litegen-weight-cache-fingerprint 1\nmodel {tmp_path / 'nowhere'}\n"
    )
    unfinished = directory / "unfinished.xnnpack_cache"  # no fingerprint: maybe being written
    unfinished.write_bytes(b"")
    gone.unlink()
    write_two_signature_fc(changed, weight=np.ones((8, FC_IN), np.float32))

    Model(kept)
    assert not caches[gone].exists()
    assert not Path(f"{caches[gone]}.fingerprint").exists()
    assert not caches[changed].exists()  # rebuilt when `changed` itself is loaded
    assert caches[kept].is_file() and foreign.read_text() == "mine" and unfinished.exists()


def test_cache_can_be_disabled(fc_model: Path) -> None:
    model = Model(fc_model, weight_cache=False)
    assert model.weight_cache_path is None
    x = np.ones((1, FC_IN), np.float32)
    assert model.run("decode", x=x)["y"].shape == (1, 8)


def test_stale_cache_is_rebuilt(tmp_path: Path) -> None:
    """A cache written for other weights must not be used for this model."""
    cache = tmp_path / "shared.xnnpack_cache"
    rng = np.random.default_rng(3)
    first_path, second_path = tmp_path / "a.tflite", tmp_path / "b.tflite"
    first_weight = rng.standard_normal((8, FC_IN)).astype(np.float32)
    second_weight = rng.standard_normal((8, FC_IN)).astype(np.float32)
    write_two_signature_fc(first_path, weight=first_weight)
    write_two_signature_fc(second_path, weight=second_weight)
    x = rng.standard_normal((2, FC_IN)).astype(np.float32)
    Model(first_path, weight_cache_path=cache).run("prefill", x=x)
    y = Model(second_path, weight_cache_path=cache).run("prefill", x=x)["y"]
    np.testing.assert_allclose(y, x @ second_weight.T, rtol=1e-5, atol=1e-5)


# Peak RSS of loading a model whose two signatures share one large weight, then running
# both, in a fresh process. Reports the growth of VmHWM over the process's peak before
# loading, in bytes.
_RSS_PROBE = """
import json, sys
import numpy as np
from litegen.errors import InputError
from litegen.runtime import Model

def peak():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) * 1024

path, cache = sys.argv[1], sys.argv[2]
before = peak()
model = Model(path, weight_cache_path=cache or None, weight_cache=bool(cache))
x = np.ones((4, model.signatures['prefill'].inputs[0].shape[1]), np.float32)
model.run('prefill', x=x)
model.run('decode', x=x[:1])
print(json.dumps({'growth': peak() - before}))
"""


def _peak_growth(model: Path, cache: Path | None) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(model), str(cache or "")],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(json.loads(result.stdout.strip().splitlines()[-1])["growth"])


@pytest.mark.slow
def test_shared_weight_is_held_once_with_a_cache(tmp_path: Path) -> None:
    """Bound asserted: with a warm cache, peak RSS grows by < 1.5x the weight's bytes.

    The 64 MiB weight is used by both signatures. Without a cache XNNPack packs it once
    per signature (plus the mapped original: ~3 copies); with a cache the packed copy
    is shared. On a warm cache only the mapped packed copy is touched (~1 copy); on the
    first (cold) load the original is read while packing (~2 copies).
    """
    features = 4096
    weight = np.random.default_rng(0).standard_normal((features, features)).astype(np.float32)
    path = tmp_path / "big.tflite"
    write_two_signature_fc(path, features, features, weight)
    cache = tmp_path / "big.xnnpack_cache"
    weight_bytes = weight.nbytes
    del weight

    cold = _peak_growth(path, cache)
    warm = _peak_growth(path, cache)
    uncached = _peak_growth(path, None)
    report = (
        f"cold {cold / weight_bytes:.2f}x, warm {warm / weight_bytes:.2f}x, "
        f"no cache {uncached / weight_bytes:.2f}x of the weight"
    )
    assert warm < 1.5 * weight_bytes, report
    assert cold < 2.5 * weight_bytes, report
    # The measurement can see duplication: without a cache the weight is packed twice.
    assert uncached > 2.5 * weight_bytes, report


def test_foreign_file_at_cache_path_is_refused_and_kept(fc_model: Path, tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("not a cache, do not delete")
    with pytest.raises(InputError, match="not an XNNPack weight cache"):
        Model(fc_model, weight_cache_path=precious)
    assert precious.read_text() == "not a cache, do not delete"
