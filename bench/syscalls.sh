#!/usr/bin/env bash
# Syscalls per proxied request for nginx and tollgate (plain route), counted
# by perf's syscall tracepoints on the proxy process while wrk drives it
# (64 connections, pinned as in bench/run.sh). Instruction counts
# (bench/instructions.sh) leave the kernel out; this is the other half.
#
#   bench/syscalls.sh              # 5 s per proxy
#   DURATION=10 bench/syscalls.sh
#
# Needs perf (Debian linux-perf) and a kernel that lets root read
# tracepoints. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
DURATION=${DURATION:-5}
OUT=bench/out/syscalls
mkdir -p "$OUT"

. bench/lib.sh
need_debian wrk nginx
if ! need perf; then
  echo "installing linux-perf from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
fi

build_gateway "$OUT/tollgate"
go build -o "$OUT/upstream" ./bench/upstream

nginx_conf "$OUT/nginx.conf" 9302 9301
rm -rf "$OUT/data"
tollgate_yaml "$OUT/tollgate.yaml" 9303 9304 9301 "$OUT/data"

taskset -c 1 "$OUT/upstream" -addr 127.0.0.1:9301 & pids+=($!)
taskset -c 0 "$NGINX" -c "$PWD/$OUT/nginx.conf" -p "$PWD/$OUT" 2>/dev/null & NG=$!; pids+=($NG)
GOMAXPROCS=1 taskset -c 0 "$OUT/tollgate" serve -c "$OUT/tollgate.yaml" 2>"$OUT/tollgate.log" & TG=$!; pids+=($TG)
for port in 9301 9302 9303; do
  wait_http 20 "http://127.0.0.1:$port/"
done

EVENTS=raw_syscalls:sys_enter
for s in read write recvfrom writev epoll_wait epoll_pwait futex nanosleep; do
  EVENTS+=",syscalls:sys_enter_$s"
done

printf '%-10s %10s %10s  %s\n' proxy requests "syscalls" "per request, by call"
for target in "nginx 9302 $NG" "tollgate 9303 $TG"; do
  read -r name port pid <<<"$target"
  # nginx serves from its worker, a child of the process started here.
  procs=$pid; for c in $(pgrep -P "$pid" || true); do procs+=",$c"; done
  taskset -c 1 wrk -t2 -c64 -d2s "http://127.0.0.1:$port/" >/dev/null # warm-up
  perf stat -x, -e "$EVENTS" -p "$procs" -o "$OUT/perf.$name" -- sleep "$DURATION" &
  perf_pid=$!
  taskset -c 1 wrk -t2 -c64 -d"${DURATION}s" "http://127.0.0.1:$port/" > "$OUT/wrk.$name"
  wait "$perf_pid"
  n=$(awk '/requests in/ {print $1}' "$OUT/wrk.$name")
  awk -F, -v n="$n" -v name="$name" '
    $3 == "raw_syscalls:sys_enter" { total = $1 }
    $3 ~ /^syscalls:sys_enter_/ && $1 > 0 { sub("syscalls:sys_enter_", "", $3); by = by sprintf(" %s %.2f", $3, $1 / n) }
    END { printf "%-10s %10d %10.2f  %s\n", name, n, total / n, by }' "$OUT/perf.$name"
done
echo "(the run overlaps wrk's by a few ms at either end; counts are per request wrk completed)"
