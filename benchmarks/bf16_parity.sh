#!/usr/bin/env bash
# Accuracy parity of bf16 training against fp32, on synthetic data: the demo's first-stage
# recipe (configs/demo/unpruned.yaml: SynthReID mall, 128x64, 6 epochs, 2 ranks) trained with
# train.precision fp32 and bf16 on the same run seeds (the data set is the same for every run),
# for each architecture; then the table of rank-1 and mAP with the fp32 seed spread beside the
# bf16 difference (benchmarks/bf16_parity_summary.py).
#   benchmarks/bf16_parity.sh OUT [--arch resnet18,resnet50] [--seeds 1,2,3] [--np 2] [key=value ...]
# A finished run (its results.json exists) is not run again: rerunning continues a stopped study.
# REIDPRUNE_BIN runs another build.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 1 ] || { echo "usage: benchmarks/bf16_parity.sh OUT [--arch A,B] [--seeds 1,2,3] [--np N] [key=value ...]" >&2; exit 2; }
out="$(mkdir -p "$1" && cd "$1" && pwd)"; shift
archs="resnet18,resnet50"; seeds="1,2,3"; np=2; extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) archs="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --np) np="$2"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
cd "$here"
for arch in ${archs//,/ }; do
  for seed in ${seeds//,/ }; do
    for precision in fp32 bf16; do
      dir="$out/$arch-$precision-seed$seed"
      [ -f "$dir/results.json" ] && continue
      echo "== $arch $precision seed $seed -> $dir"
      launch/train configs/demo/unpruned.yaml --np "$np" model.arch="$arch" train.precision="$precision" \
        run.seed="$seed" run.dir="$dir" train.progress=false "${extra[@]}" > "$out/$arch-$precision-seed$seed.log" 2>&1 \
        || { echo "bf16_parity: $arch $precision seed $seed failed: see $out/$arch-$precision-seed$seed.log" >&2; exit 1; }
      tail -1 "$out/$arch-$precision-seed$seed.log"
    done
  done
done
python3 "$here/benchmarks/bf16_parity_summary.py" "$out"
