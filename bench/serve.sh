#!/usr/bin/env bash
# `pledge serve`'s rebuild after a one-page edit, on the team's Zola-format corpus
# (make_corpus.py --flavor zola), sources and output on tmpfs. Starts the dev server, waits for
# its first (full) build, then ROUNDS times rewrites the body of one page and reads the time
# the server logs for the rebuild ("site updated … ms=…": from the changed file to the files
# written; the 150 ms the watcher waits for an editor's save to settle comes before it); then
# ROUNDS times its title, and once its date, which builds in full. Prints each round and the
# medians.
#
#   bench/serve.sh                      # PAGES=10000 ROUNDS=5
#   PAGES=1000 ROUNDS=9 bench/serve.sh
#
# Needs a release build (`cargo build --release -p pledge`) and python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PLEDGE="${CARGO_TARGET_DIR:-$ROOT/target}/release/pledge"
MAKE_CORPUS="${MAKE_CORPUS:-$ROOT/../shared/bench/make_corpus.py}"
PAGES="${PAGES:-10000}"
ROUNDS="${ROUNDS:-5}"
PORT="${PORT:-18090}"
WORK="$(mktemp -d -p "${OUTPUT_ROOT:-/dev/shm}")"
cleanup() {
    [[ -n "${SERVE_PID:-}" ]] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

[[ -x "$PLEDGE" ]] || { echo "build first: cargo build --release -p pledge" >&2; exit 2; }
[[ -f "$MAKE_CORPUS" ]] || { echo "set MAKE_CORPUS to make_corpus.py" >&2; exit 2; }

median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# log_after LINES PATTERN: waits (up to a minute) for a log line past the first LINES that
# matches PATTERN, and prints it.
log_after() {
    for _ in $(seq 600); do
        if line=$(tail -n "+$(($1 + 1))" "$WORK/serve.log" | grep -m 1 -E "$2"); then
            echo "$line"
            return
        fi
        sleep 0.1
    done
    echo "no \"$2\" in the server's log:" >&2
    cat "$WORK/serve.log" >&2
    exit 1
}

python3 "$MAKE_CORPUS" --pages "$PAGES" --out "$WORK/site" --flavor zola --force >/dev/null
RUST_LOG=info NO_COLOR=1 "$PLEDGE" serve --root "$WORK/site" --bind "127.0.0.1:$PORT" \
    --output-dir "$WORK/public" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
first=$(log_after 0 'site built')
echo "first build: ${first##*ms=} ms"
sleep 1  # let the watcher settle after the first build

page=$(find "$WORK/site/content" -name '*.md' ! -name '_index.md' | sort | sed -n "$((PAGES / 2))p")
echo "editing ${page#"$WORK/site/"}"

# measure LABEL COMMAND…: ROUNDS times runs the edit (given the round) and prints the time of
# the rebuild it caused, then the median.
measure() {
    local label="$1" line ms
    shift
    : >"$WORK/rounds"
    for round in $(seq "$ROUNDS"); do
        local lines
        lines=$(wc -l <"$WORK/serve.log")
        "$@" "$round"
        line=$(log_after "$lines" 'site (updated|built)')
        ms=$(sed -E 's/.*ms=([0-9.]+).*/\1/' <<<"$line")
        printf '  round %s %8.1f ms   %s\n' "$round" "$ms" \
            "$(grep -oE 'rendered=[0-9]+ written=[0-9]+' <<<"$line" || echo 'full build')"
        echo "$ms" >>"$WORK/rounds"
        sleep 0.5
    done
    printf '%-24s median %8.1f ms   (%s pages)\n' "$label" "$(median <"$WORK/rounds")" "$PAGES"
}

edit_body() { printf '\nEdited in round %s.\n' "$1" >>"$page"; }
edit_title() { sed -i -E "0,/^title = /s/^title = \"(Retitled [0-9]+: )?/title = \"Retitled $1: /" "$page"; }
# A new date moves the page in its section, its terms and the feeds: a full build.
edit_date() { sed -i -E "0,/^date = /s/^date = [0-9]{4}/date = 2030/" "$page"; }

measure "body edit" edit_body
measure "title edit" edit_title
ROUNDS=1 measure "date edit (full build)" edit_date
echo "server's peak memory: $(awk '/VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$SERVE_PID/status")"
