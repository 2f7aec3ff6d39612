# Shared by the bench scripts (sourced, not run): tools from Debian, and the
# background processes a script starts, killed when it exits.

need() { command -v "$1" >/dev/null 2>&1; }

# need_debian TOOL... installs the Debian packages of the missing tools
# (nginx as nginx-light, falling back to nginx) and sets NGINX.
need_debian() {
  local missing=()
  for tool in "$@"; do need "$tool" || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    local light=("${@/#nginx/nginx-light}")
    apt-get update -qq && apt-get install -y -qq "${light[@]}" >/dev/null || apt-get install -y -qq "$@" >/dev/null
  fi
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

# build_gateway FILE builds the gateway as the README's "Building the
# binary" says (static, no cgo), so the benches measure what is shipped.
build_gateway() { CGO_ENABLED=0 go build -trimpath -o "$1" ./cmd/tollgate; }

# pids collects background processes; they are killed when the script exits.
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# wait_http SECONDS URL [CURL_ARGS...] polls URL every 0.2 s until it
# answers 2xx or SECONDS pass (the run then goes on and fails where it
# needs the server).
wait_http() {
  local tries=$(($1 * 5)) url=$2
  shift 2
  for _ in $(seq "$tries"); do curl -fs -o /dev/null "$@" "$url" && return 0; sleep 0.2; done
  return 0
}

# cputicks PID... prints the CPU time (user + system, in clock ticks) that
# the processes and their children have used so far.
cputicks() {
  local p t=0 f
  for p in "$@" $(for p in "$@"; do pgrep -P "$p"; done); do
    # fields after the ")" that closes the command name: utime is the 12th, stime the 13th
    f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    set -- $f
    t=$((t + ${12} + ${13}))
  done
  echo "$t"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# nginx_conf FILE LISTEN_PORT UPSTREAM_PORT [MAIN] [HTTP] writes the plain
# reverse proxy every bench compares against: one worker, keepalive to the
# upstream, X-Forwarded-For as tollgate sets it. MAIN and HTTP are extra
# directives for the main and http blocks.
nginx_conf() {
  local file=$1 listen=$2 upstream=$3 main=${4:-} http=${5:-} dir
  dir=$(cd "$(dirname "$file")" && pwd)
  cat > "$file" <<NGX
worker_processes 1;
daemon off;
$main
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  $http
  upstream origin { server 127.0.0.1:$upstream; keepalive 256; }
  server {
    listen 127.0.0.1:$listen;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGX
}

# tollgate_yaml FILE PROXY_PORT ADMIN_PORT UPSTREAM_PORT DATA_DIR [TOP] writes
# the gateway config the benches share: an SQLite store in DATA_DIR, one
# service "origin" on the upstream, and the plain route "/". TOP is extra
# top-level config; a bench appends its own routes after the plain one.
tollgate_yaml() {
  local file=$1 proxy=$2 admin=$3 upstream=$4 data=$5 top=${6:-} dir
  mkdir -p "$data"
  dir=$(cd "$data" && pwd)
  cat > "$file" <<YAML
listen: { proxy: "127.0.0.1:$proxy", admin: "127.0.0.1:$admin", portal: "" }
store: "sqlite://$dir/tollgate.db"
services:
  - name: origin
    targets: ["http://127.0.0.1:$upstream"]
$top
routes:
  - name: plain
    service: origin
    match: { paths: ["/"] }
YAML
}
