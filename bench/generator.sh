#!/usr/bin/env bash
# `pledge build` on the team's Zola-format benchmark corpus (make_corpus.py --flavor zola: 20
# sections, a tags taxonomy, pagination by 10): full builds of each size, ROUNDS times, output
# on tmpfs; prints wall seconds, CPU seconds and peak memory of each round, then the medians,
# and the number of HTML files written.
#
#   bench/generator.sh                       # SIZES="1000 10000" ROUNDS=5
#   MAKE_CORPUS=path/to/make_corpus.py SIZES=10000 BUILD_OPTIONS=--no-precompress bench/generator.sh
#
# Needs a release build (`cargo build --release -p pledge`), python3 and GNU time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PLEDGE="${CARGO_TARGET_DIR:-$ROOT/target}/release/pledge"
MAKE_CORPUS="${MAKE_CORPUS:-$ROOT/../shared/bench/make_corpus.py}"
SIZES="${SIZES:-1000 10000}"
ROUNDS="${ROUNDS:-5}"
# Extra `pledge build` options: `--no-precompress` for the work Zola does (no .br/.gz files).
BUILD_OPTIONS="${BUILD_OPTIONS:-}"
OUTPUT_ROOT="${OUTPUT_ROOT:-/dev/shm}"
WORK="$(mktemp -d)"
OUT="$(mktemp -d -p "$OUTPUT_ROOT")"
trap 'rm -rf "$WORK" "$OUT"' EXIT

[[ -x "$PLEDGE" ]] || { echo "build first: cargo build --release -p pledge" >&2; exit 2; }
[[ -f "$MAKE_CORPUS" ]] || { echo "set MAKE_CORPUS to make_corpus.py" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }

median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

printf '%-7s %-6s %8s %8s %9s\n' pages round wall-s cpu-s peak-MiB
for size in $SIZES; do
    site="$WORK/site-$size"
    python3 "$MAKE_CORPUS" --pages "$size" --out "$site" --flavor zola --force >/dev/null
    : >"$WORK/rounds-$size"
    for round in $(seq "$ROUNDS"); do
        rm -rf "$OUT/public"  # a cold build: nothing to take from a previous output
        /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" \
            "$PLEDGE" build --root "$site" --output-dir "$OUT/public" $BUILD_OPTIONS >"$WORK/printed"
        read -r wall user system peak_kib <"$WORK/time"
        cpu=$(awk -v u="$user" -v s="$system" 'BEGIN {printf "%.2f", u + s}')
        peak=$(awk -v k="$peak_kib" 'BEGIN {printf "%.0f", k / 1024}')
        printf '%-7s %-6s %8s %8s %9s\n' "$size" "$round" "$wall" "$cpu" "$peak"
        echo "$wall $cpu $peak" >>"$WORK/rounds-$size"
    done
    # Where the last round's time went, as `pledge build` summarises it.
    printf '%-7s stages %s\n' "$size" "$(tail -n 1 "$WORK/printed")"
    html=$(find "$OUT/public" -name '*.html' | wc -l)
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" \
        "$PLEDGE" build --root "$site" --output-dir "$OUT/public" $BUILD_OPTIONS >/dev/null
    read -r wall user system peak_kib <"$WORK/time"
    printf '%-7s again  %8s %8s %9s   (unchanged sources, over the last output)\n' "$size" "$wall" \
        "$(awk -v u="$user" -v s="$system" 'BEGIN {printf "%.2f", u + s}')" "$((peak_kib / 1024))"
    printf '%-7s median %8s %8s %9s   (%s HTML files)\n' "$size" \
        "$(cut -d' ' -f1 "$WORK/rounds-$size" | median)" "$(cut -d' ' -f2 "$WORK/rounds-$size" | median)" \
        "$(cut -d' ' -f3 "$WORK/rounds-$size" | median)" "$html"
done
