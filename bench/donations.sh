#!/usr/bin/env bash
# Donation creation end to end (form POST → 303 to the gateway) on SQLite and on PostgreSQL,
# each acknowledged donation durable (SQLite synchronous=FULL with group commit; PostgreSQL's
# default synchronous_commit=on). The API on one core, wrk on the other.
# Usage: bench/donations.sh [sqlite|postgres|both]   (PLEDGE_BENCH_POSTGRES names the server)
source "$(dirname "$0")/common.sh"
which="${1:-both}"
POSTGRES="${PLEDGE_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "campaign=clean-water&amount=25"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA

run() {
    local name="$1" database_url="$2"
    start_api "$database_url"
    for _ in $(seq "$ROUNDS"); do
        bench "$name" "http://127.0.0.1:$API_PORT/api/v1/donations" -s "$WORK/post.lua" | tee -a "$WORK/results"
    done
    local stored
    stored=$(curl -fs "http://127.0.0.1:$API_PORT/readyz" >/dev/null && echo ok)
    stop_api
    [[ "$stored" == ok ]]
}

if [[ "$which" == sqlite || "$which" == both ]]; then
    run sqlite "sqlite:$WORK/bench.db"
fi
if [[ "$which" == postgres || "$which" == both ]]; then
    psql "$POSTGRES/postgres" -qc "DROP DATABASE IF EXISTS pledge_bench WITH (FORCE)" -c "CREATE DATABASE pledge_bench"
    run postgres "$POSTGRES/pledge_bench"
    psql "$POSTGRES/postgres" -qc "DROP DATABASE pledge_bench WITH (FORCE)"
fi
echo
printf '%-9s %10s %8s %8s %7s\n' "" "donations/s" "p50 ms" "p99 ms" "errors"
for name in sqlite postgres; do
    grep -q "^$name " "$WORK/results" 2>/dev/null || continue
    printf '%-9s %10.0f %8.3f %8.3f %7s\n' "$name" "$(median "$WORK/results" "$name" 2)" \
        "$(median "$WORK/results" "$name" 3)" "$(median "$WORK/results" "$name" 4)" "$(median "$WORK/results" "$name" 5)"
done
