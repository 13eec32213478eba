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

# The Python package (python/): maturin (from PyPI) builds the extension in the dev
# profile (a release build of every dependency takes 15+ minutes) into a wheel that is
# installed into its own virtualenv; its pytest suite runs after the Rust tests.
PKG_REQS="python/tests/requirements.txt"
PKG_VENV="$CARGO_TARGET_DIR/python-venv"
if ! cmp -s "$PKG_REQS" "$PKG_VENV/requirements.txt" || ! [ -x "$PKG_VENV/bin/python" ]; then
  echo "== python package environment ($PKG_VENV)"
  rm -rf "$PKG_VENV"
  python3 -m venv "$PKG_VENV"
  "$PKG_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PKG_REQS"
  cp "$PKG_REQS" "$PKG_VENV/requirements.txt"
fi
# maturin builds the extension with these set, and pyo3's build scripts rerun when they
# change; arrow (with its pyarrow feature) and so all of DataFusion sit above pyo3. The
# same values for every cargo command below let the wheel build and the test build
# share one build of the dependencies instead of rebuilding DataFusion for each.
export PYO3_PYTHON="$PKG_VENV/bin/python"
export PYO3_BUILD_EXTENSION_MODULE=1
export PYO3_ENVIRONMENT_SIGNATURE="cpython-$("$PYO3_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-64bit"

echo "== python package (maturin build --profile dev)"
WHEELS="$CARGO_TARGET_DIR/python-wheels"
rm -rf "$WHEELS"
"$PKG_VENV/bin/maturin" build --profile dev --manifest-path python/Cargo.toml \
  --interpreter "$PKG_VENV/bin/python" --out "$WHEELS"
"$PKG_VENV/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps \
  "$WHEELS"/tessera-*.whl

# Debian's Chromium for the dashboard's browser test (client/tests/dashboard_browser.rs,
# which fails here when it is missing and skips with a message elsewhere).
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium for the dashboard browser test"
  (apt-get install -y chromium || (apt-get update && apt-get install -y chromium)) >/dev/null 2>&1 \
    || echo "chromium could not be installed; the browser test will fail"
fi
# Playwright (its core, which drives an installed Chromium) for the same test, from npm.
BROWSER_DIR="$CARGO_TARGET_DIR/browser-test"
PLAYWRIGHT=playwright-core@1.64.1
if ! [ -f "$BROWSER_DIR/installed-$PLAYWRIGHT" ]; then
  echo "== installing $PLAYWRIGHT for the dashboard browser test"
  rm -rf "$BROWSER_DIR" && mkdir -p "$BROWSER_DIR"
  if npm install --prefix "$BROWSER_DIR" --silent --no-audit --no-fund "$PLAYWRIGHT" >/dev/null 2>&1; then
    touch "$BROWSER_DIR/installed-$PLAYWRIGHT"
  else
    echo "$PLAYWRIGHT could not be installed; the browser test will fail"
  fi
fi
export NODE_PATH="$BROWSER_DIR/node_modules"
# Here the browser test fails instead of skipping when any of them is missing.
export TESSERA_REQUIRE_BROWSER=1

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

echo "== tests"
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
cargo nextest run --workspace --no-fail-fast

echo "== python tests (pytest + hypothesis against numpy, real clusters)"
"$PKG_VENV/bin/python" -m pytest python/tests -q -p no:cacheprovider
