#!/usr/bin/env bash
# Two moonproxy binaries (before, after) and HAProxy 2.6 serve one bench configuration at the
# same time behind one benchtool backend; each round runs wrk against the three in a rotating
# order and prints their CPU µs per request (/proc utime+stime, as bench/run.sh) and the
# ratios within the round. On a shared, noisy machine only such side-by-side ratios mean
# something (doc/performance.md, "Lua in the stream").
#
# usage: bench/interleave.sh OLD_BINARY NEW_BINARY [-g lua-action|lua-fetch|lua-service] [-d SECONDS] [-r ROUNDS] [-c CONNECTIONS] [-p PATH]
# needs: target/bench/release/benchtool (bench/run.sh builds it), wrk, haproxy.
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
old=$1 new=$2; shift 2
group=lua-action duration=3 rounds=6 conns=50 path=""
while [ $# -gt 0 ]; do
    case "$1" in
        -g) group="$2"; shift 2 ;;
        -d) duration="$2"; shift 2 ;;
        -r) rounds="$2"; shift 2 ;;
        -c) conns="$2"; shift 2 ;;
        -p) path="$2"; shift 2 ;;
        *) echo "bench/interleave.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$group" in
    lua-service) path=${path:-/} ;;
    *) path=${path:-/64} ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
benchtool="$root/target/bench/release/benchtool"
haproxy=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
[ -x "$benchtool" ] || { echo "$benchtool missing (run bench/run.sh once)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/moonproxy-interleave.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

"$benchtool" serve --port-file "$work/backend.port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/backend.port" ] && break; sleep 0.05; done
backend=$(cat "$work/backend.port")

names=(old new haproxy)
declare -A bin=([old]="$old" [new]="$new" [haproxy]="$haproxy") port pid
for n in "${names[@]}"; do
    port[$n]=$("$benchtool" free-port)
    sed -e "s/@PROXY_PORT@/${port[$n]}/" -e "s/@BACKEND_PORT@/$backend/g" -e "s/@MAXCONN@/1000/" \
        -e "s|@BENCH_DIR@|$root/bench|" "$root/bench/http-$group.cfg" > "$work/$n.cfg"
    "${bin[$n]}" -db -f "$work/$n.cfg" > "$work/$n.log" 2>&1 &
    pid[$n]=$!
    pids+=($!)
    "$benchtool" wait-port "${port[$n]}" 5000 || { echo "$n did not start:" >&2; cat "$work/$n.log" >&2; exit 1; }
done
echo "[interleave] pids: old ${pid[old]}, new ${pid[new]}, haproxy ${pid[haproxy]}" >&2

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
# CPU µs per request of proxy $1 over one wrk run.
measure() {
    local n=$1 before after reqs
    before=$(ticks "${pid[$n]}")
    reqs=$(timeout $((duration + 10)) wrk -t1 -c"$conns" -d"${duration}s" "http://127.0.0.1:${port[$n]}$path" \
        | awk '/requests in/ {print $1}')
    after=$(ticks "${pid[$n]}")
    awk -v t=$((after - before)) -v r="$reqs" -v h="$tck" 'BEGIN { printf "%.1f", t * 1e6 / h / r }'
}

printf '| round | old µs | new µs | haproxy µs | old/hap | new/hap | new/old |\n|---|---:|---:|---:|---:|---:|---:|\n'
for r in $(seq "$rounds"); do
    declare -A us=()
    rot=$(( (r - 1) % 3 ))
    for i in 0 1 2; do
        n=${names[$(( (i + rot) % 3 ))]}
        us[$n]=$(measure "$n")
    done
    awk -v r="$r" -v o="${us[old]}" -v n="${us[new]}" -v h="${us[haproxy]}" \
        'BEGIN { printf "| %d | %s | %s | %s | %.2f | %.2f | %.2f |\n", r, o, n, h, o / h, n / h, n / o }'
done
