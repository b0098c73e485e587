#!/usr/bin/env bash
# The totals route against nginx serving the same bytes from a file: one worker each, pinned to
# one core, wrk pinned to the other, 64 keep-alive connections, rounds alternating.
# Usage: bench/totals.sh   (ROUNDS, DURATION, CONNECTIONS override the defaults)
source "$(dirname "$0")/common.sh"
need nginx nginx-light

start_api "sqlite:$WORK/bench.db"
TOTALS="http://127.0.0.1:$API_PORT/api/v1/campaigns/clean-water/totals"
mkdir -p "$WORK/www"
chmod 755 "$WORK" "$WORK/www"  # nginx workers run as an unprivileged user
curl -fs "$TOTALS" >"$WORK/www/totals.json"
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity $(printf '%0*d' $((SERVER_CORE + 1)) 1);
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile off;
    keepalive_requests 1000000;
    types { application/json json; }
    server {
        listen 127.0.0.1:18081;
        root $WORK/www;
    }
}
CONF
nginx -c "$WORK/nginx.conf"

for round in $(seq "$ROUNDS"); do
    bench nginx "http://127.0.0.1:18081/totals.json" | tee -a "$WORK/results"
    bench api "$TOTALS" | tee -a "$WORK/results"
done
echo
printf '%-6s %12s %8s %8s\n' "" "req/s" "p50 ms" "p99 ms"
for name in nginx api; do
    printf '%-6s %12.0f %8.3f %8.3f\n' "$name" "$(median "$WORK/results" "$name" 2)" \
        "$(median "$WORK/results" "$name" 3)" "$(median "$WORK/results" "$name" 4)"
done
echo "api / nginx: $(awk -v a="$(median "$WORK/results" api 2)" -v n="$(median "$WORK/results" nginx 2)" 'BEGIN {printf "%.2f", a / n}')"
