#!/usr/bin/env bash
# The stack as infra/ runs it: nginx with infra/nginx/pledge.conf in front of the built site and
# of N `pledge api` processes on one PostgreSQL. For each N: the launch scenario through nginx
# (goose, from idle to USERS in a few seconds), then how long after a gift paid on one node the
# other nodes' totals agree.
#
#   bench/stack.sh             # N = 1 2 3
#   NODES="2" USERS=3000 HOLD=60s bench/stack.sh
#
# Needs a release build (`cargo build --release -p pledge -p loadtests`), nginx with
# libnginx-mod-http-brotli-static, and PostgreSQL on 127.0.0.1:5432 (user postgres).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
NODES="${NODES:-1 2 3}"
USERS="${USERS:-2000}"
RAMP="${RAMP:-5s}"
HOLD="${HOLD:-30s}"
GIFTS="${GIFTS:-10}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
export PGOPTIONS="--client-min-messages=warning"
NGINX_PORT=18000
WORK="$(mktemp -d)"
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS pledge_stack WITH (FORCE)" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in nginx psql curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
[[ -x "$TARGET/pledge" && -x "$TARGET/loadtests" ]] || {
    echo "build first: cargo build --release -p pledge -p loadtests" >&2
    exit 2
}

SITE_URL="http://127.0.0.1:$NGINX_PORT"
"$TARGET/pledge" build --root "$ROOT" --output-dir "$WORK/site/releases/r1" --base-url "$SITE_URL" >/dev/null
ln -s releases/r1 "$WORK/site/current"

# The repository's nginx site, pointed at this folder, this port and these nodes.
nginx_config() {
    local nodes="$1" upstream=""
    for i in $(seq "$nodes"); do upstream+="    server 127.0.0.1:$((18080 + i));\n"; done
    sed -e "s#/srv/pledge/site/current#$WORK/site/current#g" \
        -e "s#listen 80;#listen $NGINX_PORT;#" \
        -e "s#^    server 127.0.0.1:8080;#$upstream#" \
        "$ROOT/infra/nginx/pledge.conf" >"$WORK/pledge.conf"
    local brotli=/usr/lib/nginx/modules/ngx_http_brotli_static_module.so
    {
        [[ -f "$brotli" ]] && echo "load_module $brotli;"
        cat <<EOF
daemon on;
user root;
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx.error.log warn;
events { worker_connections 8192; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path $WORK/body;
    proxy_temp_path $WORK/proxy;
    include $WORK/pledge.conf;
}
EOF
    } >"$WORK/nginx.conf"
    grep -q "127.0.0.1:18081" "$WORK/pledge.conf" || { echo "the upstream was not rewritten" >&2; exit 1; }
}

start_nodes() {
    local nodes="$1"
    for i in $(seq "$nodes"); do
        local port=$((18080 + i))
        env PLEDGE_DATABASE_URL="$PG/pledge_stack" PLEDGE_SITE_CONFIG="$ROOT/site/config.toml" \
            PLEDGE_BIND="127.0.0.1:$port" PLEDGE_PUBLIC_URL="$SITE_URL/" PLEDGE_SITE_URL="$SITE_URL/" \
            PLEDGE_SANDBOX_SECRET=bench PLEDGE_SERVE_SANDBOX_PAGE=true \
            PLEDGE_SANDBOX_PAY_URL="http://127.0.0.1:$port/sandbox/pay" \
            PLEDGE_REFERRAL_CREATIONS_PER_HOUR=1000000 RUST_LOG=warn \
            PLEDGE_DONATION_LIMIT=1000000000 PLEDGE_CLICK_LIMIT_PER_MINUTE=1000000000 \
            "$TARGET/pledge" api >"$WORK/api-$i.log" 2>&1 &
        PIDS+=($!)
    done
    for i in $(seq "$nodes"); do
        for _ in $(seq 100); do
            curl -fs "http://127.0.0.1:$((18080 + i))/readyz" >/dev/null && break
            sleep 0.1
        done
    done
}

stop_all() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
}

raised_on() { curl -fs "http://127.0.0.1:$1/api/v1/campaigns/clean-water/totals" | sed -E 's/.*"raised_minor":([0-9]+).*/\1/'; }

# One gift paid through node 1 (the donor's return lands there); prints the milliseconds until
# the last of the other nodes shows the new total.
convergence_ms() {
    local nodes="$1" first=18081
    local before
    before=$(raised_on $first)
    local pay
    pay=$(curl -fs -o /dev/null -w '%{redirect_url}' -d 'campaign=clean-water&amount=25&lang=en' \
        "http://127.0.0.1:$first/api/v1/donations")
    local fields="${pay#*\?}&choice=paid"
    local back
    back=$(curl -fs -o /dev/null -w '%{redirect_url}' -d "$fields" "http://127.0.0.1:$first/sandbox/pay")
    back="${back/$SITE_URL/http://127.0.0.1:$first}"
    local paid_at
    paid_at=$(date +%s%N)
    curl -fs -o /dev/null "$back"
    local slowest=0
    for i in $(seq 2 "$nodes"); do
        while [[ "$(raised_on $((18080 + i)))" == "$before" ]]; do sleep 0.005; done
        local took=$((($(date +%s%N) - paid_at) / 1000000))
        ((took > slowest)) && slowest=$took
    done
    echo "$slowest"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "nodes  launch: users  req/s  failures  p99-ms(worst)  | totals agree after a gift: median ms (max)"
for nodes in $NODES; do
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS pledge_stack WITH (FORCE)" -c "CREATE DATABASE pledge_stack"
    start_nodes "$nodes"
    nginx_config "$nodes"
    nginx -t -c "$WORK/nginx.conf" -q
    nginx -c "$WORK/nginx.conf"
    # The master daemonises; its pid file lets cleanup stop it.
    sleep 0.3
    PIDS+=("$(cat "$WORK/nginx.pid")")

    started=$(date +%s%N)
    "$TARGET/loadtests" --host "$SITE_URL" --test-plan "$USERS,$RAMP;$USERS,$HOLD;0,2s" \
        --report-file "$WORK/report-$nodes.html" --max-error-rate 0 --no-print-metrics \
        >"$WORK/load-$nodes.txt" 2>&1 || true
    seconds=$(( ($(date +%s%N) - started) / 1000000000 ))
    mkdir -p "$ROOT/target"
    cp "$WORK/load-$nodes.txt" "$ROOT/target/stack-load-$nodes.txt"
    requests=$(sed -nE 's/^requests: ([0-9]+), failed: ([0-9]+).*/\1/p' "$WORK/load-$nodes.txt")
    failed=$(sed -nE 's/^requests: ([0-9]+), failed: ([0-9]+).*/\2/p' "$WORK/load-$nodes.txt")
    worst=$(sed -nE 's/.* p99 ([0-9.]+) ms$/\1/p' "$WORK/load-$nodes.txt" | sort -n | tail -1)
    rps=$(( ${requests:-0} / (seconds > 0 ? seconds : 1) ))
    spread="-"
    if ((nodes > 1)); then
        samples=()
        for _ in $(seq "$GIFTS"); do samples+=("$(convergence_ms "$nodes")"); sleep 0.2; done
        spread="$(printf '%s\n' "${samples[@]}" | median) ($(printf '%s\n' "${samples[@]}" | sort -n | tail -1))"
    fi
    echo "$nodes      $USERS  $rps  ${failed:-?}/${requests:-?}  ${worst:-?}  | $spread"
    stop_all
done
