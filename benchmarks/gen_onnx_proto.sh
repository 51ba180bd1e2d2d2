#!/usr/bin/env bash
# Regenerates Sources/Export/onnx.pb.swift (committed) from Sources/Export/onnx.proto with
# protoc (Debian's protobuf-compiler) and the protoc-gen-swift plugin of the
# swift-protobuf version Package.swift names. Builds never run this; run it after
# editing onnx.proto.
#
# Usage: benchmarks/gen_onnx_proto.sh [PROTOC_GEN_SWIFT]
#   Without the plugin's path, it is built once (about 10 minutes) from a clone of
#   swift-protobuf at the tag below, in ${TMPDIR:-/tmp}/swift-protobuf-$version.
set -euo pipefail
version=1.39.0
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
plugin=${1:-}
if [ -z "$plugin" ]; then
  src=${TMPDIR:-/tmp}/swift-protobuf-$version
  [ -d "$src" ] || git clone --quiet --depth 1 --branch "$version" https://github.com/apple/swift-protobuf "$src"
  (cd "$src" && swift build -c release --product protoc-gen-swift)
  plugin=$(cd "$src" && swift build -c release --show-bin-path)/protoc-gen-swift
fi
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public --swift_opt=FileNaming=DropPath \
  --proto_path=Sources/Export --swift_out=Sources/Export Sources/Export/onnx.proto
echo "wrote Sources/Export/onnx.pb.swift ($(protoc --version), $("$plugin" --version 2>&1 | head -1))"
