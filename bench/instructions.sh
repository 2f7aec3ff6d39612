#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind (cachegrind), for
# tollgate (plain route, and key_auth + rate_limit), a bare fasthttp proxy
# (bench/fastbaseline -timeouts) and nginx. Wall-clock benchmarks on a shared
# machine drift by ±10% from minute to minute; an instruction count does not
# (about ±1% here), so this is how a change to the request path is measured.
# It counts user-space work only: the read/write syscalls, the same count
# per request for every proxy here, are not in it.
#
# The window is 100,000 requests: a Go target runs a GC cycle every ~28,000
# requests, and a window of 20,000 holds zero or one of them, which moved a
# count by ±500. Timer-driven work (the usage drain, the store poll) is
# counted per wall-clock second, so run it on an otherwise idle machine:
# a parallel build or test slows valgrind and adds to the Go targets' counts.
#
#   bench/instructions.sh            # 5,000 and 105,000 requests per target (~10 min)
#   N1=2000 N2=12000 bench/instructions.sh
#   TOLLGATE=/tmp/tollgate-old bench/instructions.sh   # another build, same harness
#
# Each target runs twice under cachegrind, with N1 and N2 requests after a
# warm-up; (I2 - I1) / (N2 - N1) cancels start-up and warm-up exactly.
# Go targets run with GOMAXPROCS=1 and GODEBUG=asyncpreemptoff=1 (valgrind
# handles Go's preemption signals badly) and cpu.rdtscp=off (valgrind cannot
# decode RDTSCP, which the runtime's cputicks uses where the CPU has it). Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
N1=${N1:-5000}
N2=${N2:-105000}
OUT=bench/out/instructions
mkdir -p "$OUT"

. bench/lib.sh
need_debian valgrind nginx

# TOLLGATE=path measures another build (an older commit, say) with the same
# harness; by default this checkout is built.
if [ -n "${TOLLGATE:-}" ]; then cp "$TOLLGATE" "$OUT/tollgate"; else build_gateway "$OUT/tollgate"; fi
for cmd in upstream fastbaseline fixedload seedkeys; do go build -o "$OUT/$cmd" ./bench/$cmd; done

"$OUT/upstream" -addr 127.0.0.1:9201 & pids+=($!)

rm -rf "$OUT/data"
KEY=$("$OUT/seedkeys" -store "sqlite://$PWD/$OUT/data/tollgate.db" -keys 1)
tollgate_yaml "$OUT/tollgate.yaml" 9202 9203 9201 "$OUT/data"
cat >> "$OUT/tollgate.yaml" <<YAML
  - name: keyrl
    service: origin
    match: { paths: ["/keyrl/{rest...}"] }
    policies:
      key_auth: {}
      rate_limit: { limit: 1000000000, window: 1s, by: consumer }
YAML
nginx_conf "$OUT/nginx.conf" 9205 9201 'master_process off;' 'keepalive_requests 1000000;'

# count NAME PORT N PATH [HEADER] -- CMD... -> total instructions of CMD
# after a 2,000-request warm-up and N requests.
count() {
  local name=$1 port=$2 n=$3 path=$4 header=$5; shift 6
  local file="$OUT/cachegrind.$name.$n"
  rm -f "$file"
  GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=cachegrind --cache-sim=no \
    --cachegrind-out-file="$file" "$@" >"$OUT/$name.log" 2>&1 &
  local vg=$!
  for _ in $(seq 120); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
    kill -0 "$vg" 2>/dev/null || break
    sleep 0.5
  done
  "$OUT/fixedload" -addr "127.0.0.1:$port" -n 2000 -path "$path" -H "$header" >/dev/null
  "$OUT/fixedload" -addr "127.0.0.1:$port" -n "$n" -path "$path" -H "$header" >/dev/null
  kill -TERM "$vg" # not INT: background jobs of a script ignore SIGINT
  wait "$vg" || true
  awk '/^summary:/ {print $2}' "$file"
}

# per NAME PORT PATH HEADER -- CMD... -> instructions per request
per() {
  local name=$1 port=$2 path=$3 header=$4 i1 i2
  shift 5
  i1=$(count "$name" "$port" "$N1" "$path" "$header" -- "$@")
  i2=$(count "$name" "$port" "$N2" "$path" "$header" -- "$@")
  if [ -z "$i1" ] || [ -z "$i2" ]; then
    echo "instructions: no cachegrind summary for $name; see $OUT/$name.log" >&2
    exit 1
  fi
  echo $(( (i2 - i1) / (N2 - N1) ))
}

TG=("$OUT/tollgate" serve -c "$OUT/tollgate.yaml")
nginx_i=$(per nginx 9205 /items/1 "" -- "$NGINX" -c "$PWD/$OUT/nginx.conf" -p "$PWD/$OUT")
bare_i=$(per bare 9204 /items/1 "" -- "$OUT/fastbaseline" -addr 127.0.0.1:9204 -upstream 127.0.0.1:9201 -timeouts)
plain_i=$(per plain 9202 /items/1 "" -- "${TG[@]}")
keyrl_i=$(per keyrl 9202 /keyrl/items/1 "X-API-Key: $KEY" -- "${TG[@]}")

printf '\n%-40s %14s %10s %10s\n' "instructions per request ($N1 vs $N2)" instructions "vs nginx" "vs bare"
row() { printf '%-40s %14d %10.2f %10.2f\n' "$1" "$2" "$(echo "$2 / $nginx_i" | bc -l)" "$(echo "$2 / $bare_i" | bc -l)"; }
row "nginx (plain reverse proxy)" "$nginx_i"
row "bare fasthttp proxy (-timeouts)" "$bare_i"
row "tollgate, plain route" "$plain_i"
row "tollgate, key_auth + rate_limit" "$keyrl_i"
printf '%-40s %14d\n' "key_auth + rate_limit over plain" $((keyrl_i - plain_i))
echo "(key_auth hashes a key once; its later requests compare the remembered secret: no SHA-256 in the window)"
