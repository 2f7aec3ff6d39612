#!/usr/bin/env bash
# Load benchmark: the upstream directly, nginx as a plain reverse proxy, and
# tollgate on the same route, in one run, on pinned cores: the proxy under
# test on CPU 0, the load generator and the upstream on CPU 1. Prints req/s,
# p50, p99 and each as a ratio to nginx measured in this run.
#
#   bench/run.sh                 # 10 s per target, 64 connections
#   DURATION=30s CONNS=64 bench/run.sh
#   POLICIES=0 bench/run.sh      # skip the policy scenarios (1M-key seeding takes a minute)
#   ROUNDS=5 bench/run.sh        # nginx/tollgate alternations (medians are reported)
#
# Not run in CI: it needs quiet cores to mean anything.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
MEMCONNS=${MEMCONNS:-1000}
ROUNDS=${ROUNDS:-5}
POLROUNDS=${POLROUNDS:-3}
OUT=bench/out
mkdir -p "$OUT"

. bench/lib.sh
need_debian wrk nginx

build_gateway "$OUT/tollgate"
go build -o "$OUT/upstream" ./bench/upstream

taskset -c 1 "$OUT/upstream" -addr 127.0.0.1:9101 & pids+=($!)

nginx_conf "$OUT/nginx.conf" 9102 9101
taskset -c 0 "$NGINX" -c "$PWD/$OUT/nginx.conf" -p "$PWD/$OUT" 2>/dev/null & NG=$!; pids+=($NG)

rm -rf "$OUT/data" "$OUT/data-redis"
tollgate_yaml "$OUT/tollgate.yaml" 9103 9104 9101 "$OUT/data" "${TOLLGATE_EXTRA:-}"
cat >> "$OUT/tollgate.yaml" <<YAML
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
if [ "${POLICIES:-1}" = 1 ]; then
  echo "seeding $KEYS API keys into the SQLite store"
  go build -o "$OUT/seedkeys" ./bench/seedkeys
  KEY=$("$OUT/seedkeys" -store "sqlite://$PWD/$OUT/data/tollgate.db" -keys "$KEYS")
fi
GOMAXPROCS=1 taskset -c 0 "$OUT/tollgate" serve -c "$OUT/tollgate.yaml" 2>"$OUT/tollgate.log" & TG=$!; pids+=($TG)

# (loading a million keys takes tollgate a while on a slow machine)
for port in 9101 9102 9103; do
  wait_http 60 "http://127.0.0.1:$port/"
done

# run NAME URL [PID [wrk args]] -> prints "rps p50_ms p99_ms cpu_us_per_request".
# The CPU time the proxy process (PID) used per request is the figure the
# shared machine disturbs least: a neighbour steals wall-clock time from a
# run, not CPU time from the process, so the req/s one pinned core could
# serve is about 1e6 / cpu_us.
run() {
  local name=$1 url=$2 pid=${3:-} t0=0 t1=0
  shift $(($# < 3 ? $# : 3))
  [ -n "$pid" ] && t0=$(cputicks "$pid")
  taskset -c 1 wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url" > "$OUT/$name.txt"
  [ -n "$pid" ] && t1=$(cputicks "$pid")
  awk -v ticks=$((t1 - t0)) -v tick_us="$TICK_US" '
    /Requests\/sec/ {rps=$2} / requests in / {n=$1}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    END { printf "%s %.3f %.3f %.2f\n", rps, ms(p50), ms(p99), (n > 0 ? ticks*tick_us/n : 0) }' "$OUT/$name.txt"
}

taskset -c 1 wrk -t1 -c8 -d2s http://127.0.0.1:9103/ >/dev/null  # warm up
read -r up_rps up_p50 up_p99 _ <<<"$(run upstream http://127.0.0.1:9101/)"
# nginx and tollgate alternate ROUNDS times, so a noisy neighbour hits both;
# each round's ratios come from back-to-back runs, and the medians are the figures.
printf '\n%-6s %12s %12s %10s %12s %12s %10s %12s %12s %10s\n' round "nginx req/s" "tg req/s" "rps ratio" "nginx p99" "tg p99" "p99 ratio" \
  "nginx us/req" "tg us/req" "cpu ratio"
rps_ratios=() p99_ratios=() cpu_ratios=()
for round in $(seq "$ROUNDS"); do
  read -r ng_rps ng_p50 ng_p99 ng_cpu <<<"$(run nginx http://127.0.0.1:9102/ "$NG")"
  read -r tg_rps tg_p50 tg_p99 tg_cpu <<<"$(run tollgate http://127.0.0.1:9103/ "$TG")"
  rr=$(echo "$tg_rps / $ng_rps" | bc -l) pr=$(echo "$tg_p99 / $ng_p99" | bc -l) cr=$(echo "$ng_cpu / $tg_cpu" | bc -l)
  rps_ratios+=("$rr") p99_ratios+=("$pr") cpu_ratios+=("$cr")
  printf '%-6s %12.0f %12.0f %10.2f %10.3fms %10.3fms %10.2f %12.1f %12.1f %10.2f\n' "$round" "$ng_rps" "$tg_rps" "$rr" "$ng_p99" "$tg_p99" "$pr" \
    "$ng_cpu" "$tg_cpu" "$cr"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf 'median over %d rounds: req/s %.2fx nginx, p99 %.2fx nginx, CPU per request: nginx/tollgate %.2f (upstream alone: %.0f req/s, p99 %.3f ms)\n' \
  "$ROUNDS" "$(median "${rps_ratios[@]}")" "$(median "${p99_ratios[@]}")" "$(median "${cpu_ratios[@]}")" "$up_rps" "$up_p99"

if [ "${POLICIES:-1}" = 1 ]; then
  # Each scenario alternates with the plain route POLROUNDS times; the ratio
  # is the median of back-to-back pairs (req/s and p99 shown are the last pair's).
  # The cpu ratio is the plain route's CPU per request over the scenario's
  # (same pairs), the figure a neighbour on the shared machine disturbs least.
  printf '\n%-34s %12s %10s %10s %12s %10s %10s\n' "tollgate scenario (same run)" "req/s" "p50 ms" "p99 ms" "rps/plain" "us/req" "cpu ratio"
  scen() { # NAME URL PID [wrk header]: PID serves URL
    local name=$1 url=$2 pid=$3; shift 3
    local ratios=() cratios=() r p50 p99 cpu pl_rps pl_p50 pl_p99 pl_cpu
    for _ in $(seq "$POLROUNDS"); do
      read -r pl_rps pl_p50 pl_p99 pl_cpu <<<"$(run tg-plain http://127.0.0.1:9103/items/1 "$TG")"
      read -r r p50 p99 cpu <<<"$(run scenario "$url" "$pid" "$@")"
      ratios+=("$(echo "$r / $pl_rps" | bc -l)") cratios+=("$(echo "$pl_cpu / $cpu" | bc -l)")
    done
    scen_med=$(median "${ratios[@]}") # this scenario's rps/plain median, for comparisons below
    printf '%-34s %12.0f %10.3f %10.3f %12.2f %10.1f %10.2f  (pairs: %s/ cpu: %s)\n' "$name" "$r" "$p50" "$p99" "$scen_med" \
      "$cpu" "$(median "${cratios[@]}")" "$(printf '%.2f ' "${ratios[@]}")" "$(printf '%.2f ' "${cratios[@]}")"
  }
  scen "key_auth ($KEYS keys in the store)" http://127.0.0.1:9103/keyauth/items/1 "$TG" -H "X-API-Key: $KEY"
  scen "key_auth + rate_limit (memory)" http://127.0.0.1:9103/keyrl/items/1 "$TG" -H "X-API-Key: $KEY"
  scen "cache hit (fast upstream)" http://127.0.0.1:9103/cached/items/1 "$TG"
  scen "uncached, upstream takes 5 ms" http://127.0.0.1:9103/items/slow "$TG"
  uncached_med=$scen_med
  scen "cache hit, upstream takes 5 ms" http://127.0.0.1:9103/cached/items/slow "$TG"
  # Both medians are req/s over the plain route in the same pairs, so their
  # quotient is cache hit over uncached with the plain route's drift divided out.
  printf 'cache hit vs uncached (5 ms upstream): %.1fx req/s (target 3x)\n' "$(echo "$scen_med / $uncached_med" | bc -l)"

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
    GOMAXPROCS=1 taskset -c 0 "$OUT/tollgate" serve -c "$OUT/tollgate-redis.yaml" 2>"$OUT/tollgate-redis.log" & TGR=$!; pids+=($TGR)
    wait_http 10 http://127.0.0.1:9105/strict/x -H "X-API-Key: $RKEY"
    scen "key_auth + rate_limit (Redis strict)" http://127.0.0.1:9105/strict/items/1 "$TGR" -H "X-API-Key: $RKEY"
    scen "key_auth + rate_limit (Redis local)" http://127.0.0.1:9105/local/items/1 "$TGR" -H "X-API-Key: $RKEY"
  fi
fi

# Memory at many connections, on a fresh gateway (RSS only grows over a
# process's life, so the earlier runs would hide the figure): first with
# MEMCONNS idle keep-alive connections (each has served one request), then
# with MEMCONNS connections busy under wrk, then again after two more busy
# rounds (steady state: recycled buffers are resident). RSS counts the
# binary's mapped pages too, so the anonymous part is printed beside it.
go build -o "$OUT/holdconns" ./bench/holdconns
rm -rf "$OUT/data-mem"
tollgate_yaml "$OUT/tollgate-mem.yaml" 9108 9109 9101 "$OUT/data-mem"
GOMAXPROCS=1 taskset -c 0 "$OUT/tollgate" serve -c "$OUT/tollgate-mem.yaml" 2>"$OUT/tollgate-mem.log" & TGM=$!; pids+=($TGM)
wait_http 10 http://127.0.0.1:9108/
# FilePmdMapped: the binary's pages mapped as 2 MiB huge pages, which the
# kernel does when the page cache holds the file in 2 MiB folios (a file
# written in large chunks, e.g. dd bs=4M; docs/performance.md): RSS then
# counts each touched 2 MiB of it whole.
mem() {
  local thp
  thp=$(awk '/FilePmdMapped/ {print $2}' "/proc/$TGM/smaps_rollup" 2>/dev/null)
  awk -v thp="${thp:-0}" '/VmRSS/ {r=$2} /RssAnon/ {a=$2} END {printf "RSS %.1f MiB (anonymous %.1f MiB, file huge pages %.1f MiB)", r/1024, a/1024, thp/1024}' "/proc/$TGM/status"
}
printf '
tollgate memory with %d connections
' "$MEMCONNS"
taskset -c 1 "$OUT/holdconns" -addr 127.0.0.1:9108 -n "$MEMCONNS" -hold 3s > "$OUT/hold.txt" &
sleep 2.5
printf '  idle:              %s   (%s)\n' "$(mem)" "$(head -1 "$OUT/hold.txt")"
wait $! || true
for round in 1 2 3; do
  taskset -c 1 wrk -t2 -c"$MEMCONNS" -d5s http://127.0.0.1:9108/ > "$OUT/mem.txt" &
  sleep 4
  printf '  busy, round %d:     %s\n' "$round" "$(mem)"
  wait $! || true
done
