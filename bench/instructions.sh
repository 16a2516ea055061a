#!/usr/bin/env bash
# User-space instructions per request, moonproxy against HAProxy 2.6, counted by valgrind's
# callgrind: the same configurations as bench/run.sh (HTTP and Lua scenarios), each proxy
# alone under callgrind, N1 then N2 requests in sequence on one keep-alive connection
# (bench/src/main.rs `requests`); (I(N2) - I(N1)) / (N2 - N1) cancels start-up, Lua loading
# and shutdown. Instruction counts do not depend on the machine's load, unlike CPU time
# (doc/performance.md): they show where user-space work differs, not the kernel's share
# (the loopback TCP, ~75% of the CPU per request here), which callgrind does not see.
#
# usage: bench/instructions.sh [--no-build] [N1 N2]   (default 300 1300)
# environment: MOONPROXY=<binary>, HAPROXY=<binary>.
set -euo pipefail

build=1
if [ "${1:-}" = --no-build ]; then build=0; shift; fi
n1=${1:-300} n2=${2:-1300}
root=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "[instructions] $*" >&2; }
haproxy=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
[ -x "$haproxy" ] || { log "haproxy not found (apt-get install haproxy)"; exit 1; }

. "$root/bench/callgrind-lib.sh"

printf '| scenario | moonproxy instructions/request | HAProxy | moonproxy / HAProxy |\n|---|---:|---:|---:|\n'
scenarios=("http.cfg /64" "http.cfg /16k" "http-return.cfg /" "http-rules.cfg /api/64"
           "http-lua-action.cfg /64" "http-lua-fetch.cfg /64" "http-lua-service.cfg /")
# HTTP/2 (prior knowledge, one stream at a time) when h2load is there (nghttp2-client).
if command -v h2load >/dev/null; then
    scenarios+=("http.cfg /64 h2" "http-return.cfg / h2")
else
    log "h2load not found (apt-get install nghttp2-client): no HTTP/2 rows"
fi
for s in "${scenarios[@]}"; do
    set -- $s
    cfg="$root/bench/$1" path=$2 proto=${3:-h1}
    declare -A per=()
    for name in moonproxy haproxy; do
        bin=$moonproxy
        [ "$name" = haproxy ] && bin=$haproxy
        i1=$(instructions "$bin" "$cfg" "$path" "$n1" "$proto")
        i2=$(instructions "$bin" "$cfg" "$path" "$n2" "$proto")
        per[$name]=$(( (i2 - i1) / (n2 - n1) ))
        log "$1 $path, $name: $i1 for $n1 requests, $i2 for $n2: ${per[$name]} per request"
    done
    ratio=$(awk -v a="${per[moonproxy]}" -v b="${per[haproxy]}" 'BEGIN { printf "%.2f", a / b }')
    label="$1 $path"
    [ "$proto" = h2 ] && label="$label (HTTP/2)"
    printf '| %s | %s | %s | %s |\n' "$label" "${per[moonproxy]}" "${per[haproxy]}" "$ratio"
    unset per
done
