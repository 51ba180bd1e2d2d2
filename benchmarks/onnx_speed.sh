#!/usr/bin/env bash
# ONNX Runtime beside ReIDPrune's own inference for exported models: each model file is
# exported (ONNX, BN folded, dynamic batch, 256x128), then timed at batch 32 and 1 with
# the same threads by benchmarks/onnx_check.py speed (onnxruntime) and by
# `reidprune bench infer --weights` (the file's architecture, pruned or not). One JSON
# line per measurement. Run on a quiet machine; needs onnxruntime, numpy and Pillow.
#
# Usage: benchmarks/onnx_speed.sh [--threads N] MODEL.safetensors...   (PYTHON= picks the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2
if [ "${1:-}" = "--threads" ]; then threads=$2; shift 2; fi
[ $# -ge 1 ] || { echo "usage: benchmarks/onnx_speed.sh [--threads N] MODEL.safetensors..." >&2; exit 2; }
python=${PYTHON:-python3}
bin=.build/release/reidprune
[ -x "$bin" ] || swift build -c release --product reidprune
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for model in "$@"; do
  onnx="$out/$(basename "$(dirname "$model")")-$(basename "$model" .safetensors).onnx"
  "$bin" export --weights "$model" --out "$onnx" --height 256 --width 128 --dynamic-batch >&2
  for batch in 32 1; do
    echo "{\"model\": \"$model\", \"measure\": $("$python" benchmarks/onnx_check.py speed --onnx "$onnx" --batch "$batch" --threads "$threads")}"
    echo "{\"model\": \"$model\", \"measure\": $("$bin" bench infer --weights "$model" --height 256 --width 128 --batch "$batch" --threads "$threads" --steps 10 --json)}"
  done
done
