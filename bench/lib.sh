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

# pids collects background processes; they are killed when the script exits.
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

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
