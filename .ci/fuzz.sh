#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/, see fuzz/README.md: ipc-core's, and host-runtime's queue_hostile and inspect) for a bounded
# time, one at a time with a single worker, and fails if any of them finds a crash,
# a failed check, a leak or a hang.
#
# Env:
#   FUZZ_SECONDS    time per target (default 60)
#   FUZZ_TARGETS    targets to run (default: all of `cargo fuzz list`)
#   FUZZ_TOOLCHAIN  nightly toolchain to build with (default nightly)
#
# Crashing inputs land in fuzz/artifacts/<target>/; reproduce one with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-60}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# cargo-fuzz builds into fuzz/target; a workspace-wide target dir would mix
# instrumented and plain builds.
unset CARGO_TARGET_DIR RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS

targets="${FUZZ_TARGETS:-$(cargo +"$toolchain" fuzz list | tr '\n' ' ')}"

printf '=== building fuzz targets (AddressSanitizer)\n'
cargo +"$toolchain" fuzz build

failed=()
for target in $targets; do
    printf '\n=== fuzz %s for %ss\n' "$target" "$seconds"
    # The corpus directory starts with the checked-in seeds (seed-*) and collects
    # what the run finds (ignored by git).
    mkdir -p "corpus/$target"
    # -timeout: any single input running this long is a hang (every operation must
    # return); -rss_limit_mb: a runaway allocation is a failure too.
    if ! cargo +"$toolchain" fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        failed+=("$target")
    fi
done

if ((${#failed[@]})); then
    printf '\nfuzzing FAILED for: %s (inputs in fuzz/artifacts/)\n' "${failed[*]}" >&2
    exit 1
fi
printf '\nfuzzing: no failure in %s\n' "$targets"
