#!/usr/bin/env bash
# Builds every fuzz target once, then runs each for SECONDS_PER_TARGET (default 20) on the
# stable toolchain (libFuzzer without a sanitizer, which is what needs nightly), starting from
# its corpus so far plus the hand-written seeds. Prints how many inputs each target tried and
# exits non-zero if any target crashed, naming the input that did it.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]
#
# A crash is reproduced with `fuzz/target/x86_64-unknown-linux-gnu/release/<target> <input>`.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:-20}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: fuzz/run.sh [SECONDS_PER_TARGET]" >&2; exit 2; }
# Built with 16 codegen units (cargo-fuzz's default of 1 makes the build several minutes longer
# than CI can spend) and the release profile of fuzz/Cargo.toml.
flags=(--sanitizer none --codegen-units 16)

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 2; }
echo "== building the fuzz targets"
cargo fuzz build "${flags[@]}"
# cargo builds into CARGO_TARGET_DIR when it is set (CI may share one), else fuzz/target.
bin_dir="${CARGO_TARGET_DIR:-target}/$(rustc -vV | sed -n 's/^host: //p')/release"

failed=()
summary=()
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target" "artifacts/$target"
    corpora=("corpus/$target")
    [ -d "seeds/$target" ] && corpora+=("seeds/$target")
    log="artifacts/$target/last-run.log"
    echo "== $target for ${seconds}s"
    status=0
    # New inputs go to the first corpus folder only, so seeds/ is never written to.
    "$bin_dir/$target" "${corpora[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$target/" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ "$status" -ne 0 ]; then
        # The panic message and the input that caused it, for the CI log.
        grep -E -A 12 "panicked at|ERROR: libFuzzer|deadly signal|timeout" "$log" | head -n 40 || tail -n 40 "$log"
        grep -E "Test unit written to" "$log" || true
        failed+=("$target")
        summary+=("$(printf '%-18s %12s inputs  CRASHED (exit %s, log %s)' "$target" "${runs:-?}" "$status" "fuzz/$log")")
    else
        summary+=("$(printf '%-18s %12s inputs  ok' "$target" "${runs:-?}")")
    fi
done

echo
echo "== inputs tried per target in ${seconds}s"
printf '%s\n' "${summary[@]}"
echo "fuzz: $((${#summary[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ] || { echo "fuzz targets that crashed: ${failed[*]}" >&2; exit 1; }
