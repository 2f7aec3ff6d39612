#!/usr/bin/env bash
# Load benchmark: the upstream directly, nginx as a plain reverse proxy, and
# tollgate on the same route, in one run, on pinned cores: the proxy under
# test on CPU 0, the load generator and the upstream on CPU 1. Prints req/s,
# p50, p99 and each as a ratio to nginx measured in this run.
#
#   bench/run.sh                 # 10 s per target, 64 connections
#   DURATION=30s CONNS=64 bench/run.sh
#   POLICIES=0 bench/run.sh      # skip the policy scenarios (1M-key seeding takes a minute)
#
# Not run in CI: it needs quiet cores to mean anything.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
MEMCONNS=${MEMCONNS:-1000}
OUT=bench/out
mkdir -p "$OUT"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx; then
  echo "installing wrk and nginx from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq wrk nginx-light >/dev/null || apt-get install -y -qq wrk nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

go build -o "$OUT/tollgate" ./cmd/tollgate
go build -o "$OUT/upstream" ./bench/upstream

taskset -c 1 "$OUT/upstream" -addr 127.0.0.1:9101 & pids+=($!)

cat > "$OUT/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $PWD/$OUT/nginx.pid;
error_log $PWD/$OUT/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream origin { server 127.0.0.1:9101; keepalive 256; }
  server {
    listen 127.0.0.1:9102;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGX
taskset -c 0 "$NGINX" -c "$PWD/$OUT/nginx.conf" -p "$PWD/$OUT" 2>/dev/null & pids+=($!)

cat > "$OUT/tollgate.yaml" <<YAML
listen: { proxy: "127.0.0.1:9103", admin: "127.0.0.1:9104", portal: "" }
store: "sqlite://$PWD/$OUT/data/tollgate.db"
services:
  - name: origin
    targets: ["http://127.0.0.1:9101"]
${TOLLGATE_EXTRA:-}
routes:
  - name: plain
    service: origin
    match: { paths: ["/"] }
  - name: keyauth
    service: origin
    match: { paths: ["/keyauth/{rest...}"] }
    policies: { key_auth: {} }
  - name: keyrl
    service: origin
    match: { paths: ["/keyrl/{rest...}"] }
    policies:
      key_auth: {}
      rate_limit: { limit: 1000000000, window: 1s, by: consumer }
  - name: cached
    service: origin
    match: { paths: ["/cached/{rest...}"] }
    policies: { cache: { ttl: 60s } }
YAML
KEYS=${KEYS:-1000000}
KEY=""
rm -rf "$OUT/data" "$OUT/data-redis"
if [ "${POLICIES:-1}" = 1 ]; then
  echo "seeding $KEYS API keys into the SQLite store"
  go build -o "$OUT/seedkeys" ./bench/seedkeys
  KEY=$("$OUT/seedkeys" -store "sqlite://$PWD/$OUT/data/tollgate.db" -keys "$KEYS")
fi
GOMAXPROCS=1 taskset -c 0 "$OUT/tollgate" serve -c "$OUT/tollgate.yaml" 2>"$OUT/tollgate.log" & TG=$!; pids+=($TG)

for port in 9101 9102 9103; do
  for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
done

# run NAME URL -> prints "rps p50_ms p99_ms"
run() {
  taskset -c 1 wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$2" > "$OUT/$1.txt"
  awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    END { printf "%s %.3f %.3f\n", rps, ms(p50), ms(p99) }' "$OUT/$1.txt"
}

taskset -c 1 wrk -t1 -c8 -d2s http://127.0.0.1:9103/ >/dev/null  # warm up
read -r up_rps up_p50 up_p99 <<<"$(run upstream http://127.0.0.1:9101/)"
read -r ng_rps ng_p50 ng_p99 <<<"$(run nginx http://127.0.0.1:9102/)"
read -r tg_rps tg_p50 tg_p99 <<<"$(run tollgate http://127.0.0.1:9103/)"

printf '\n%-10s %12s %10s %10s %10s %10s\n' target "req/s" "p50 ms" "p99 ms" "rps/nginx" "p99/nginx"
for t in up ng tg; do
  rps=${t}_rps p50=${t}_p50 p99=${t}_p99
  name=$([ $t = up ] && echo upstream || ([ $t = ng ] && echo nginx || echo tollgate))
  printf '%-10s %12.0f %10.3f %10.3f %10.2f %10.2f\n' "$name" "${!rps}" "${!p50}" "${!p99}" \
    "$(echo "${!rps} / $ng_rps" | bc -l)" "$(echo "${!p99} / $ng_p99" | bc -l)"
done

if [ "${POLICIES:-1}" = 1 ]; then
  printf '\n%-34s %12s %10s %10s %12s\n' "tollgate scenario (same run)" "req/s" "p50 ms" "p99 ms" "rps/plain"
  read -r pl_rps pl_p50 pl_p99 <<<"$(run tg-plain http://127.0.0.1:9103/items/1)"
  scen() { # NAME URL [wrk header]
    local name=$1 url=$2; shift 2
    taskset -c 1 wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url" > "$OUT/$name.txt"
    read -r r p50 p99 <<<"$(awk '
      /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
      function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
      END { printf "%s %.3f %.3f\n", rps, ms(p50), ms(p99) }' "$OUT/$name.txt")"
    printf '%-34s %12.0f %10.3f %10.3f %12.2f\n' "$name" "$r" "$p50" "$p99" "$(echo "$r / $pl_rps" | bc -l)"
  }
  printf '%-34s %12.0f %10.3f %10.3f %12.2f\n' "plain" "$pl_rps" "$pl_p50" "$pl_p99" 1
  scen "key_auth ($KEYS keys in the store)" http://127.0.0.1:9103/keyauth/items/1 -H "X-API-Key: $KEY"
  scen "key_auth + rate_limit (memory)" http://127.0.0.1:9103/keyrl/items/1 -H "X-API-Key: $KEY"
  scen "cache hit (fast upstream)" http://127.0.0.1:9103/cached/items/1
  scen "uncached, upstream takes 5 ms" http://127.0.0.1:9103/items/slow
  scen "cache hit, upstream takes 5 ms" http://127.0.0.1:9103/cached/items/slow

  # Redis-backed limits need a second gateway (counters are a node setting).
  if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    RKEY=$("$OUT/seedkeys" -store "sqlite://$PWD/$OUT/data-redis/tollgate.db" -keys 1)
    cat > "$OUT/tollgate-redis.yaml" <<YAML
listen: { proxy: "127.0.0.1:9105", admin: "127.0.0.1:9106", portal: "" }
store: "sqlite://$PWD/$OUT/data-redis/tollgate.db"
counters: "redis://127.0.0.1:6379/0?prefix=tg-bench-$$:"
services:
  - name: origin
    targets: ["http://127.0.0.1:9101"]
routes:
  - name: strict
    service: origin
    match: { paths: ["/strict/{rest...}"] }
    policies:
      key_auth: {}
      rate_limit: { limit: 1000000000, window: 1s, by: consumer, mode: strict }
  - name: local
    service: origin
    match: { paths: ["/local/{rest...}"] }
    policies:
      key_auth: {}
      rate_limit: { limit: 1000000000, window: 1s, by: consumer, mode: local }
YAML
    GOMAXPROCS=1 taskset -c 0 "$OUT/tollgate" serve -c "$OUT/tollgate-redis.yaml" 2>"$OUT/tollgate-redis.log" & pids+=($!)
    for _ in $(seq 50); do curl -fsS -o /dev/null -H "X-API-Key: $RKEY" http://127.0.0.1:9105/strict/x && break; sleep 0.2; done
    scen "key_auth + rate_limit (Redis strict)" http://127.0.0.1:9105/strict/items/1 -H "X-API-Key: $RKEY"
    scen "key_auth + rate_limit (Redis local)" http://127.0.0.1:9105/local/items/1 -H "X-API-Key: $RKEY"
  fi
fi

# Memory at many connections: RSS of the gateway while MEMCONNS connections are open.
taskset -c 1 wrk -t2 -c"$MEMCONNS" -d5s http://127.0.0.1:9103/ > "$OUT/mem.txt" &
sleep 4
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$TG/status")
wait $! || true
printf '\ntollgate RSS with %d open connections: %.1f MiB\n' "$MEMCONNS" "$(echo "$rss_kb / 1024" | bc -l)"
