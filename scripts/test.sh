#!/usr/bin/env bash
# Runs every test of the project from a fresh clone: formatting, lints, and the whole
# Rust test suite (unit, property and multi-process integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Python with numpy and zarr for the storage cross-checks (client/tests/array_storage.rs):
# a virtualenv inside the build directory, rebuilt only when the pinned versions change.
PY_REQS="client/tests/python/requirements.txt"
VENV="$CARGO_TARGET_DIR/test-venv"
if ! cmp -s "$PY_REQS" "$VENV/requirements.txt" || ! [ -x "$VENV/bin/python" ]; then
  echo "== python test environment ($VENV)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PY_REQS"
  cp "$PY_REQS" "$VENV/requirements.txt"
fi
export TESSERA_TEST_PYTHON="$VENV/bin/python"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

echo "== tests"
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
cargo nextest run --workspace --no-fail-fast
