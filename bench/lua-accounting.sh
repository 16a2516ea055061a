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
. "$root/bench/callgrind-lib.sh"

printf '| scenario | instructions/request, accounting on | off | on/off |\n|---|---|---|---|\n'
for scenario in action fetch service; do
    base="$root/bench/http-lua-$scenario.cfg"
    sed -e 's/^\(    lua-load .*\)$/\1\n    tune.lua.stats off/' "$base" > "$work/off.cfg"
    grep -q 'tune.lua.stats off' "$work/off.cfg" || { log "no lua-load line in $base"; exit 1; }
    declare -A per=()
    for setting in on off; do
        cfg=$base
        [ "$setting" = off ] && cfg=$work/off.cfg
        i1=$(instructions "$moonproxy" "$cfg" /64 "$n1")
        i2=$(instructions "$moonproxy" "$cfg" /64 "$n2")
        per[$setting]=$(( (i2 - i1) / (n2 - n1) ))
        log "$scenario, accounting $setting: $i1 for $n1 requests, $i2 for $n2: ${per[$setting]} per request"
    done
    ratio=$(awk -v a="${per[on]}" -v b="${per[off]}" 'BEGIN { printf "%.4f", a / b }')
    printf '| %s | %s | %s | %s |\n' "$scenario" "${per[on]}" "${per[off]}" "$ratio"
    unset per
done
