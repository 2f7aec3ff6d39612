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
