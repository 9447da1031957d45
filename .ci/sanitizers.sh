#!/usr/bin/env bash
# ipc-core's unit and integration tests under AddressSanitizer and ThreadSanitizer
# (nightly). ASan: out-of-bounds or use-after-free accesses to queue memory, leaks.
# TSan: data races between the threads of the tests (payload bytes are plain memory,
# ordered only by the slot words' Acquire/Release pairs), so a missing ordering shows
# up here. The standard library is rebuilt instrumented (-Zbuild-std), which TSan
# needs to see std's own synchronisation (thread spawn/join, Arc, channels).
#
# Doctests are skipped (--lib --tests): rustdoc does not take -Zbuild-std reliably.
# Env: SANITIZER_TOOLCHAIN (default nightly), SANITIZERS (default "address thread").
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain="${SANITIZER_TOOLCHAIN:-nightly}"
sanitizers="${SANITIZERS:-address thread}"
host="$(rustc +"$toolchain" -vV | sed -n 's/^host: //p')"

rustup component add rust-src --toolchain "$toolchain" >/dev/null
# The caller's RUSTFLAGS (e.g. --cfg loom) must not leak into these builds.
unset RUSTFLAGS RUSTDOCFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS

# Stop at the first report, with a non-zero exit; never hide reports as warnings.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

for sanitizer in $sanitizers; do
    printf '\n=== ipc-core tests under -Zsanitizer=%s\n' "$sanitizer"
    # One target dir per sanitizer: instrumented std and crates never mix, and a
    # second run reuses its build.
    RUSTFLAGS="-Zsanitizer=$sanitizer" \
        cargo +"$toolchain" test -Zbuild-std --target "$host" \
        --target-dir "target/sanitizers/$sanitizer" \
        -p ipc-core --lib --tests
done
