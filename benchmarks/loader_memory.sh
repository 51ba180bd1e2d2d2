#!/usr/bin/env bash
# Peak resident memory of the classification training loader over 10k and 100k images,
# from image folders (every rank lists every file) and from WebDataset shards (a rank
# holds its shuffle buffer only). Writes the synthetic sets under DIR (about 2.5 GB for
# 100k images, twice that with the shards) and prints one JSON line per measurement:
# rss_after_open_mb (the listing's cost), peak_rss_mb, images_per_s.
#
# Usage: benchmarks/loader_memory.sh DIR [BATCHES]   (release build; BATCHES 0 = one epoch)
set -euo pipefail
dir=${1:?usage: benchmarks/loader_memory.sh DIR [BATCHES]}
batches=${2:-0}
bin=.build/release/reidprune
[ -x "$bin" ] || swift build -c release --product reidprune
for set in "10k 100" "100k 1000"; do
  read -r name classes <<<"$set"
  data="$dir/synthcls-$name"
  "$bin" synth --task classification --classes "$classes" --images-per-class 100 --val-per-class 10 --seed 1 --out "$data"
  if [ ! -f "$data-shards/shards.json" ]; then
    "$bin" shards --data "$data" --split train --out "$data-shards" --images-per-shard 1000
    "$bin" shards --data "$data" --split val --out "$data-shards" --images-per-shard 1000
  fi
  "$bin" bench loader --data "$data" --batch 256 --batches "$batches" --workers 2 --json
  "$bin" bench loader --data "$data-shards" --batch 256 --batches "$batches" --workers 2 --shuffle-buffer 1000 --json
done
