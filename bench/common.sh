# Shared by the benchmark scripts: start and stop `pledge api` pinned to one core, run wrk
# pinned to the other, and take medians. Sourced, not run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PLEDGE="${CARGO_TARGET_DIR:-$ROOT/target}/release/pledge"
WORK="$(mktemp -d)"
SERVER_CORE="${SERVER_CORE:-0}"
CLIENT_CORE="${CLIENT_CORE:-1}"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
API_PORT=18080

cleanup() {
    [[ -n "${API_PID:-}" ]] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
    [[ -f "$WORK/nginx.pid" ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

need() {
    command -v "$1" >/dev/null || { echo "needs $1 (apt-get install $2)" >&2; exit 2; }
}
need wrk wrk
need taskset util-linux
[[ -x "$PLEDGE" ]] || { echo "build first: cargo build --release" >&2; exit 2; }

# start_api DATABASE_URL [extra env…]: one worker, pinned, production logging.
start_api() {
    local database_url="$1"
    shift
    env PLEDGE_DATABASE_URL="$database_url" PLEDGE_SITE_CONFIG="$ROOT/site/config.toml" \
        PLEDGE_BIND="127.0.0.1:$API_PORT" PLEDGE_PUBLIC_URL="http://127.0.0.1:$API_PORT/" \
        PLEDGE_SITE_URL="http://127.0.0.1:$API_PORT/" PLEDGE_SANDBOX_SECRET=bench PLEDGE_WORKERS=1 \
        PLEDGE_RECONCILE_INTERVAL_SECONDS=0 PLEDGE_DONATION_LIMIT=1000000000 \
        PLEDGE_CLICK_LIMIT_PER_MINUTE=1000000000 "$@" \
        taskset -c "$SERVER_CORE" "$PLEDGE" api >"$WORK/api.log" 2>&1 &
    API_PID=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$WORK/api.log" >&2
    exit 1
}

stop_api() {
    kill "$API_PID" && wait "$API_PID" 2>/dev/null || true
    API_PID=
}

# bench NAME URL [wrk args…]: prints "NAME req/s p50_ms p99_ms" for one wrk run.
bench() {
    local name="$1" url="$2"
    shift 2
    taskset -c "$CLIENT_CORE" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" >"$WORK/wrk.out"
    local rps p50 p99 errors
    rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.out")
    p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk.out")
    p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.out")
    errors=$(awk '/Non-2xx or 3xx/ {print $5}' "$WORK/wrk.out")
    echo "$name $rps $(ms "$p50") $(ms "$p99") ${errors:-0}"
}

# wrk prints 812.00us, 1.20ms or 1.02s.
ms() {
    awk -v t="$1" 'BEGIN {
        if (t ~ /us$/) { sub(/us$/, "", t); printf "%.3f", t / 1000 }
        else if (t ~ /ms$/) { sub(/ms$/, "", t); printf "%.3f", t }
        else if (t ~ /s$/) { sub(/s$/, "", t); printf "%.3f", t * 1000 }
    }'
}

# median FILE NAME COLUMN: the median of a column over the rows named NAME.
median() {
    awk -v n="$2" -v c="$3" '$1 == n {print $c}' "$1" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
