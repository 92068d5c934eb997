#!/usr/bin/env bash
# The whole test suite, as README.md gives it: formatting, lints, unit and integration tests of
# every workspace crate (the gateway and the demo authorization server), a short run of every fuzz
# target (fuzz/run installs cargo-fuzz), the release build, and the end-to-end test (real
# oidc-provider + headless Chromium; tests/e2e/run installs Chromium, Node.js and its npm
# packages when they are missing). Needs a Rust toolchain and a C++ compiler (libFuzzer).
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

if command -v rustup >/dev/null 2>&1; then
  for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
      step "installing rustup component ${component}"
      rustup component add "${component}"
    fi
  done
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "cargo test (unit + integration)"
cargo test --locked --workspace --all-targets

# Every fuzz target for 20 s (a short smoke run; `fuzz/run 600` is the long one, see README).
# fuzz/run installs cargo-fuzz when it is missing and builds with RUSTC_BOOTSTRAP=1.
step "fuzz targets, 20 s each (fuzz/run 20)"
fuzz/run 20

# The gateway on its own, with exactly the Dockerfile's command: built together with the demo,
# the dev-dependencies would change the feature set, and the binary tested below would not be the
# one the image ships (deploy/check fails when the two commands differ).
step "release build (the Dockerfile's command), and the demo"
cargo build --locked --release --bin bff-gateway
cargo build --locked --release --example demo

step "deploy lint: hadolint, kubernetes-validate, the ConfigMap's gateway.yaml passes check (deploy/check)"
BFF_GATEWAY_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/bff-gateway" deploy/check

step "end to end: real oidc-provider + headless Chromium, and the demo (tests/e2e/run)"
BFF_GATEWAY_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/bff-gateway" \
  BFF_DEMO_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/examples/demo" tests/e2e/run

printf '\nall tests passed\n'
