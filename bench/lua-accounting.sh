#!/usr/bin/env bash
# What the `show lua stats` accounting costs, in instructions rather than seconds: the Lua
# scenarios of bench/run.sh (-m lua: an action, a fetch, a service) run under valgrind's
# callgrind with the accounting on (the default) and off (`tune.lua.stats off`), the same
# binary, the same requests. Instruction counts do not depend on what else the machine is
# doing, so a difference of a fraction of a percent is measurable where wall-clock CPU time
# on a shared machine varies by 20% (doc/performance.md). Issue 7 asks for less than 2%.
#
# Each run: start the proxy under callgrind, send N1 then, in a second run, N2 requests in
# sequence on one keep-alive connection (bench/src/main.rs `requests`), stop it; the
# instructions per request are (I(N2) - I(N1)) / (N2 - N1), which cancels start-up, Lua
# loading and shutdown. Bounded: 3 scenarios x 2 settings x 2 runs, each under a timeout.
#
# usage: bench/lua-accounting.sh [--no-build] [N1 N2]   (default 500 2500)
# environment: MOONPROXY=<binary> (skips the build).
set -euo pipefail

build=1
if [ "${1:-}" = --no-build ]; then build=0; shift; fi
n1=${1:-500} n2=${2:-2500}
root=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "[accounting] $*" >&2; }
command -v valgrind >/dev/null || { log "valgrind not found (apt-get install valgrind)"; exit 1; }

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

# One proxy run under callgrind answering `n` requests for `path`; prints its instruction count.
instructions() {
    local cfg=$1 path=$2 n=$3 out=$work/cg.out port
    port=$("$benchtool" free-port)
    sed -e "s/@PROXY_PORT@/$port/" -e "s/@BACKEND_PORT@/$backend_port/g" -e "s/@MAXCONN@/1000/" \
        -e "s|@BENCH_DIR@|$root/bench|" "$cfg" > "$work/run.cfg"
    rm -f "$out"
    timeout 300 valgrind --tool=callgrind --callgrind-out-file="$out" "$moonproxy" -db -q -f "$work/run.cfg" \
        2> "$work/valgrind.log" &
    local vg=$!
    "$benchtool" wait-port "$port" 60000
    timeout 300 "$benchtool" requests "$port" "$path" "$n"
    kill -TERM "$vg"
    wait "$vg" || true
    grep -m1 '^summary:' "$out" | awk '{print $2}'
}

printf '| scenario | instructions/request, accounting on | off | on/off |\n|---|---|---|---|\n'
for scenario in action fetch service; do
    base="$root/bench/http-lua-$scenario.cfg"
    sed -e 's/^\(    lua-load .*\)$/\1\n    tune.lua.stats off/' "$base" > "$work/off.cfg"
    grep -q 'tune.lua.stats off' "$work/off.cfg" || { log "no lua-load line in $base"; exit 1; }
    declare -A per=()
    for setting in on off; do
        cfg=$base
        [ "$setting" = off ] && cfg=$work/off.cfg
        i1=$(instructions "$cfg" /64 "$n1")
        i2=$(instructions "$cfg" /64 "$n2")
        per[$setting]=$(( (i2 - i1) / (n2 - n1) ))
        log "$scenario, accounting $setting: $i1 for $n1 requests, $i2 for $n2: ${per[$setting]} per request"
    done
    ratio=$(awk -v a="${per[on]}" -v b="${per[off]}" 'BEGIN { printf "%.4f", a / b }')
    printf '| %s | %s | %s | %s |\n' "$scenario" "${per[on]}" "${per[off]}" "$ratio"
    unset per
done
