# litegen developer entry points. Everything runs inside the virtual environment .venv/,
# which these targets create and fill themselves (pip packages, the C++ build).
#
#   make demo   set up, then run the main job on a built-in default model
#   make test   set up, then run every test (Python, C++ under ASan/UBSan, lint)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Build requirements (the native build links the ai-edge-litert wheel's libLiteRt.so) are
# installed before the package itself, which is then built without isolation.
# torch is installed first and pinned, so no later requirement can pull a newer CUDA build.
TORCH_PIN := torch==2.13.0
INSTALL_STAMP := $(VENV)/.litegen-installed
NATIVE_SOURCES := $(shell find cpp third_party -type f) CMakeLists.txt pyproject.toml
ASAN_BUILD := build/cpp-asan

.PHONY: all demo test test-python test-cpp test-neon lint install system-deps clean bench-peers

all: install

# What pip cannot provide, installed with apt if missing: a C++17 compiler, and the
# SentencePiece C++ library the runtime tokenizer links (Debian's libsentencepiece-dev;
# found by third_party/sentencepiece/FindSentencePiece.cmake).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
system-deps:
	@missing=""; \
	command -v g++ >/dev/null 2>&1 || missing="$$missing build-essential"; \
	[ -f /usr/include/sentencepiece_processor.h ] || \
	  [ -f /usr/local/include/sentencepiece_processor.h ] || \
	  missing="$$missing libsentencepiece-dev"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing with apt-get"; \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y --no-install-recommends $$missing; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)

$(INSTALL_STAMP): $(PY) $(NATIVE_SOURCES) | system-deps
	$(PIP) install --disable-pip-version-check -q $(TORCH_PIN)
	$(PIP) install --disable-pip-version-check -q "scikit-build-core>=0.10" "pybind11>=2.12" \
	  "cmake>=3.24" ninja ai-edge-litert==2.3.0
	$(PIP) install --disable-pip-version-check -q --no-build-isolation -e ".[export,serve,test,bench,litertlm,explorer]" \
	  $(TORCH_PIN)
	touch $@

install: $(INSTALL_STAMP)

demo: install
	$(PY) -m litegen.demo

test: install lint test-python test-cpp test-neon

lint: install
	$(VENV)/bin/ruff check python tests benchmarks
	$(VENV)/bin/ruff format --check python tests benchmarks

test-python: install
	$(PY) -m pytest -q

# C++ unit tests of the runtime layer, built with AddressSanitizer + UBSan.
test-cpp: install
	$(VENV)/bin/cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV)/bin/ninja) \
	  -DCMAKE_BUILD_TYPE=Debug -DLITEGEN_BUILD_TESTS=ON -DLITEGEN_SANITIZE=ON \
	  -DPython_EXECUTABLE=$(abspath $(PY)) >/dev/null
	$(VENV)/bin/cmake --build $(ASAN_BUILD) -j2
	$(PY) -m tests.fixtures.cpp_models $(ASAN_BUILD)/fixtures
	$(PY) -m tests.tokenizer.cpp_fixtures $(ASAN_BUILD)/fixtures
	$(ASAN_BUILD)/litegen_cpp_tests $(ASAN_BUILD)/fixtures

# The NEON matrix kernels, cross-compiled for arm64 and run under qemu (both flavours: with
# and without the dot-product extension). Skipped, saying so, where the cross compiler or
# qemu is missing (Debian: g++-aarch64-linux-gnu qemu-user).
test-neon:
	@if command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1; then \
	  cpp/tools/test_linear_neon.sh; \
	else \
	  echo "test-neon: skipped (no aarch64-linux-gnu-g++ / qemu-aarch64)"; \
	fi

# Peers side by side (issue 6): LiteRT-LM and ai_edge_litert's CompiledModel (on models made
# by litert-torch) and llama.cpp (its own tools, built from the llama-cpp-python sdist's
# vendored tree), against litegen from .venv, in one table. The peers live in their own venv
# (~2.3 GB), never in .venv; build/peers/ holds llama.cpp, checkpoints, models, results.
# PEERS_ARGS passes options to benchmarks/peers/run.py, e.g. PEERS_ARGS=--quick.
PEERS_VENV := .venv-peers
PEERS_PY := $(PEERS_VENV)/bin/python
PEERS_DIR := build/peers
PEERS_STAMP := $(PEERS_VENV)/.peers-installed
PEERS_TOOLS := $(PEERS_DIR)/llama.cpp-build/bin/llama-bench
PEERS_ARGS ?=

$(PEERS_STAMP): benchmarks/peers/constraints.txt
	test -x $(PEERS_PY) || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_PY) -m pip install --disable-pip-version-check -q $(TORCH_PIN)
	$(PEERS_PY) -m pip install --disable-pip-version-check -q \
	  -c benchmarks/peers/constraints.txt litert-torch litert-lm litert-lm-builder gguf sentencepiece
	touch $@

$(PEERS_TOOLS): benchmarks/peers/build_llama_cpp.sh | $(PEERS_STAMP)
	benchmarks/peers/build_llama_cpp.sh $(PEERS_PY) $(PEERS_DIR)

bench-peers: install $(PEERS_STAMP) $(PEERS_TOOLS)
	$(PEERS_PY) benchmarks/peers/run.py --litegen $(VENV)/bin/litegen $(PEERS_ARGS)

clean:
	rm -rf build .demo .pytest_cache .ruff_cache $(PEERS_VENV)
