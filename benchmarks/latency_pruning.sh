#!/usr/bin/env bash
# FLOPs-targeted, FLOPs + round_to auto and latency-targeted plans of one trained model,
# timed beside the unpruned model: for last stride 1 and 2 (set_last_stride.py rewrites
# the file's layer4 stride; weights unchanged) and batch 32 and 1, every plan is made by
# `reidprune prune` (global L1, inner scope, 256x128; the latency table is built for that
# batch and cached in OUT/latency.json) and timed by `reidprune bench infer --weights`
# and by PyTorch on the same widths (torch_pruned_bench.py, TorchScript frozen). One JSON
# line per measurement on stdout; the prune logs (predicted vs measured) in OUT/*.log.
# Run on a quiet machine.
#
# Usage: benchmarks/latency_pruning.sh [--threads N] CONFIG.yaml TRAINED.safetensors OUT
#        (PYTHON= the interpreter with torch, default /work/venv-torch/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2
rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -eq 3 ] || { echo "usage: benchmarks/latency_pruning.sh [--threads N] [--rounds R] CONFIG.yaml TRAINED.safetensors OUT" >&2; exit 2; }
config=$1 trained=$2 out=$3
python=${PYTHON:-/work/venv-torch/bin/python}
bin=.build/release/reidprune
[ -x "$bin" ] || swift build -c release --product reidprune
mkdir -p "$out"
export OMP_NUM_THREADS=$threads
prune=("$bin" prune --config "$config" --criterion l1 --ranking global --scope inner --latency-cache "$out/latency.json")
measure() {  # variant last_stride batch model round
  echo "{\"variant\": \"$1\", \"last_stride\": $2, \"batch\": $3, \"model\": \"$4\", \"round\": $5, \"reidprune\": $("$bin" bench infer --weights "$4" --height 256 --width 128 --batch "$3" --threads "$threads" --steps 20 --json), \"torch\": $("$python" benchmarks/torch_pruned_bench.py --weights "$4" --batch "$3" --threads "$threads" --steps 20 2>/dev/null)}"
}
for ls in 1 2; do
  base="$out/trained-ls$ls.safetensors"
  "$python" benchmarks/set_last_stride.py "$trained" "$base" --last-stride "$ls"
  flops="$out/ls$ls-flops.safetensors"
  "${prune[@]}" --weights "$base" --target-flops 0.5 --out "$flops" > "$out/ls$ls-flops.log" 2>&1
  for batch in 32 1; do
    auto="$out/ls$ls-b$batch-flops-auto.safetensors" latency="$out/ls$ls-b$batch-latency.safetensors"
    "${prune[@]}" --weights "$base" --target-flops 0.5 --round-to auto --latency-batch "$batch" --out "$auto" \
      > "$out/ls$ls-b$batch-flops-auto.log" 2>&1
    "${prune[@]}" --weights "$base" --target-latency 0.5 --latency-batch "$batch" --out "$latency" \
      > "$out/ls$ls-b$batch-latency.log" 2>&1
    for round in $(seq "$rounds"); do
      measure unpruned "$ls" "$batch" "$base" "$round"
      measure flops-0.5 "$ls" "$batch" "$flops" "$round"
      measure flops-0.5+round_to-auto "$ls" "$batch" "$auto" "$round"
      measure latency-0.5 "$ls" "$batch" "$latency" "$round"
    done
  done
done
