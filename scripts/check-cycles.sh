#!/usr/bin/env bash
# No import cycles between the library's modules: cargo-modules reads the module graph the way
# rust-analyzer does, and scripts/check-cycles.py looks for strongly connected components.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo modules --version 2>/dev/null | grep -q '0\.27\.'; then
  # 0.27 is the last release that builds with this toolchain (0.28 wants rustc 1.98).
  cargo install cargo-modules --version 0.27.0 --locked
fi
cargo modules dependencies --lib --no-externs --no-sysroot --no-owns \
  | python3 scripts/check-cycles.py
