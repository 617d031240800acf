#!/usr/bin/env bash
# Install what the tests need (Debian packages, crit), then lint and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --workspace
