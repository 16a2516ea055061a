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
command -v valgrind >/dev/null || { log "valgrind not found (apt-get install valgrind)"; exit 1; }
haproxy=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
[ -x "$haproxy" ] || { log "haproxy not found (apt-get install haproxy)"; exit 1; }

benchtool="$root/target/bench/release/benchtool"
if [ "$build" = 1 ]; then
    log "building benchtool and moonproxy (release)"
    cargo build --quiet --release --manifest-path "$root/bench/Cargo.toml" --target-dir "$root/target/bench"
    [ -n "${MOONPROXY:-}" ] || cargo build --quiet --release --manifest-path "$root/Cargo.toml"
fi
moonproxy=${MOONPROXY:-$root/target/release/moonproxy}

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

"$benchtool" serve --port-file "$work/backend.port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/backend.port" ] && break; sleep 0.1; done
backend_port=$(cat "$work/backend.port")

# One run under callgrind of `bin` on `cfg` answering `n` requests for `path`; prints the
# instruction count of the proxy process.
instructions() {
    local bin=$1 cfg=$2 path=$3 n=$4 out=$work/cg.out port
    port=$("$benchtool" free-port)
    sed -e "s/@PROXY_PORT@/$port/" -e "s/@BACKEND_PORT@/$backend_port/g" -e "s/@MAXCONN@/1000/" \
        -e "s|@BENCH_DIR@|$root/bench|" "$cfg" > "$work/run.cfg"
    rm -f "$out"
    timeout 300 valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" -db -q -f "$work/run.cfg" \
        2> "$work/valgrind.log" &
    local vg=$!
    "$benchtool" wait-port "$port" 60000
    timeout 300 "$benchtool" requests "$port" "$path" "$n"
    kill -TERM "$vg"
    wait "$vg" || true
    grep -m1 '^summary:' "$out" | awk '{print $2}'
}

printf '| scenario | moonproxy instructions/request | HAProxy | moonproxy / HAProxy |\n|---|---:|---:|---:|\n'
for s in "http.cfg /64" "http.cfg /16k" "http-return.cfg /" "http-rules.cfg /api/64" \
         "http-lua-action.cfg /64" "http-lua-fetch.cfg /64" "http-lua-service.cfg /"; do
    set -- $s
    cfg="$root/bench/$1" path=$2
    declare -A per=()
    for name in moonproxy haproxy; do
        bin=$moonproxy
        [ "$name" = haproxy ] && bin=$haproxy
        i1=$(instructions "$bin" "$cfg" "$path" "$n1")
        i2=$(instructions "$bin" "$cfg" "$path" "$n2")
        per[$name]=$(( (i2 - i1) / (n2 - n1) ))
        log "$1 $path, $name: $i1 for $n1 requests, $i2 for $n2: ${per[$name]} per request"
    done
    ratio=$(awk -v a="${per[moonproxy]}" -v b="${per[haproxy]}" 'BEGIN { printf "%.2f", a / b }')
    printf '| %s %s | %s | %s | %s |\n' "$1" "$path" "${per[moonproxy]}" "${per[haproxy]}" "$ratio"
    unset per
done
