#!/usr/bin/env bash
# Everything CI checks, in order: setup, format, lints (workspace and the
# parasite blob), then every test in release mode (the tests move GiBs of
# memory). The end-to-end tests run the crust binary, which cargo test does
# not build for them, so it is built first. Prints the time of each step.
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
    local name=$1
    shift
    local started=$SECONDS
    echo "==> $name"
    "$@"
    echo "==> $name: $((SECONDS - started)) s"
}

# The parasite is its own workspace, built by compel's build.rs with these flags.
clippy_parasite() {
    if [[ -d parasite/src ]]; then
        (cd parasite && RUSTFLAGS="-Crelocation-model=pie" cargo clippy --release -- -D warnings)
    else
        echo "no parasite/src yet"
    fi
}

step setup ./scripts/setup.sh
step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
step clippy-parasite clippy_parasite
step build-crust cargo build --release -p cli
step test cargo test --workspace --release
echo "==> all passed in $SECONDS s"
