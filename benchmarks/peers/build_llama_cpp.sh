#!/usr/bin/env bash
# Builds llama.cpp's own tools (llama-bench, llama-quantize) from the llama.cpp tree that the
# llama-cpp-python sdist vendors, so the peer is the same llama.cpp release PyPI ships.
# Usage: build_llama_cpp.sh PYTHON OUT_DIR   (tools land in OUT_DIR/llama.cpp-build/bin)
set -euo pipefail
python=$1
mkdir -p "$2/src"
out=$(cd "$2" && pwd)
if ! ls "$out"/src/llama_cpp_python-*.tar.gz >/dev/null 2>&1; then
  "$python" -m pip download -q --no-deps --no-binary :all: -d "$out/src" llama-cpp-python
fi
sdist=$(ls "$out"/src/llama_cpp_python-*.tar.gz | sort -V | tail -1)
tree="${sdist%.tar.gz}"
[ -d "$tree" ] || tar xzf "$sdist" -C "$out/src"
# A stable path to the tree, for convert_hf_to_gguf.py and gguf-py.
ln -sfn "$tree/vendor/llama.cpp" "$out/llama.cpp"
# Static, no OpenSSL (llama-bench never downloads), this CPU's SIMD. On CPUs with AMX,
# llama.cpp's AMX matmul (compiled in by -march=native) segfaults in llama-bench's prompt
# test here (Q8_0/Q4_0, any shape; --repack 0 avoids it but also disables the Q4_0 repack
# that llama.cpp relies on), so there the ISA is listed explicitly without AMX.
isa=(-DGGML_NATIVE=ON)
if grep -qw amx_int8 /proc/cpuinfo 2>/dev/null; then
  isa=(-DGGML_NATIVE=OFF)
  for pair in sse4_2:SSE42 avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx_vnni:AVX_VNNI \
      avx512f:AVX512 avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16; do
    if grep -qw "${pair%%:*}" /proc/cpuinfo; then isa+=("-DGGML_${pair#*:}=ON"); fi
  done
fi
cmake -S "$out/llama.cpp" -B "$out/llama.cpp-build" -DCMAKE_BUILD_TYPE=Release \
  "${isa[@]}" -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF >/dev/null
# -j2: the machine has 2 cores shared with others.
cmake --build "$out/llama.cpp-build" -j2 --target llama-bench llama-quantize
