#!/usr/bin/env bash
# Fuzz every decoder that reads bytes off a socket or a file, for a bounded time each
# (issue 6, "Hostile input"). Not part of CI: it needs a nightly toolchain and cargo-fuzz.
#
#   bash scripts/fuzz.sh                 # every target, 60 s each
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh flight_value spill_file
#
# Environment:
#   FUZZ_SECONDS     seconds per target (default 60)
#   FUZZ_SANITIZER   address (default) or none (about twice the runs, no ASan checks)
#   FUZZ_KEEP_GOING  1: keep fuzzing past a crash (libFuzzer fork mode) and count them all
#
# Each target's corpus (fuzz/corpus/<target>) is seeded with valid encodings by the target
# itself; crashing inputs land in fuzz/artifacts/<target>/. Prints the runs and crashes of
# every target, and the distinct places where a library panicked inside a guarded decoder
# (the decoder caught it and returned an error: not a crash, but worth a look), and exits
# non-zero if any target crashed. Reproduce a crash with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-address}
keep_going=${FUZZ_KEEP_GOING:-0}

if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked || exit 1
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "== building ${#targets[@]} fuzz targets (sanitizer: $sanitizer)"
nice -n 15 cargo +nightly fuzz build -s "$sanitizer" || exit 1

logs=fuzz/logs
mkdir -p "$logs"
summary=()
failed=0
for t in "${targets[@]}"; do
    corpus=fuzz/corpus/$t
    artifacts=fuzz/artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    before=$(find "$artifacts" -type f | wc -l)
    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    if [ "$keep_going" = 1 ]; then
        args+=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
    fi
    echo "== $t: ${seconds}s"
    TESSERA_FUZZ_SEED_DIR=$corpus nice -n 15 \
        cargo +nightly fuzz run -s "$sanitizer" "$t" "$corpus" -- "${args[@]}" \
        >"$logs/$t.log" 2>&1
    status=$?
    after=$(find "$artifacts" -type f | wc -l)
    crashes=$((after - before))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1 # died without leaving an input (build or harness failure): count it
    fi
    # Plain mode prints stat::number_of_executed_units; fork mode prints "#<runs>: cov: ...".
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/$t.log" | tail -1 |
        grep -o '[0-9]*$')
    if [ -z "$runs" ]; then
        runs=$(grep -o '^#[0-9]*' "$logs/$t.log" | tail -1 | tr -d '#')
    fi
    # Panics a decoder caught and returned as an error (distinct places; not crashes).
    caught=$(grep -c '^tessera-fuzz: caught panic at' "$logs/$t.log")
    summary+=("$(printf '%-28s %12s %8s %14s' "$t" "${runs:-?}" "$crashes" "$caught")")
    if [ "$crashes" -ne 0 ]; then
        failed=1
        echo "   CRASH: see $logs/$t.log and $artifacts/"
        grep -m5 -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$logs/$t.log" | sed 's/^/   /'
    fi
done

echo
printf '%-28s %12s %8s %14s\n' target runs crashes caught-panics
printf '%s\n' "${summary[@]}"
exit $failed
