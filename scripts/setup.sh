#!/usr/bin/env bash
# Install what crust and its tests need on a Debian machine: crit (package
# criu), a C compiler with 32-bit support, and the programs the end-to-end
# tests checkpoint. Idempotent and quiet: installs only what is missing,
# prints nothing unless something fails. Needs root to install.
set -euo pipefail

packages=(criu gcc gcc-multilib python3 bash sqlite3 redis-server tmux iproute2 util-linux time)

fail() {
    echo "setup.sh: $*" >&2
    exit 1
}

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]} > 0)); then
    [[ $(id -u) -eq 0 ]] || fail "missing packages (${missing[*]}): run as root to install them"
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
        >"$log" 2>&1 </dev/null; then
        cat "$log" >&2
        fail "apt-get could not install: ${missing[*]}"
    fi
fi

for tool in cargo rustc; do
    command -v "$tool" >/dev/null || fail "$tool not found: install a Rust toolchain (https://rustup.rs)"
done
cargo fmt --version >/dev/null 2>&1 || fail "cargo fmt not found: rustup component add rustfmt"
cargo clippy --version >/dev/null 2>&1 || fail "cargo clippy not found: rustup component add clippy"
command -v crit >/dev/null || fail "crit not found after installing criu"

# The ordinary user the unprivileged end-to-end tests run crust as
# (tests/src/user.rs makes it too, when missing; exit status 9: it exists).
if ! id crust-test >/dev/null 2>&1; then
    [[ $(id -u) -eq 0 ]] || fail "user crust-test is missing: run as root to create it"
    useradd --system --no-create-home --shell /usr/sbin/nologin crust-test || [[ $? -eq 9 ]] ||
        fail "useradd crust-test failed"
fi
