#!/usr/bin/env bash
# moonproxy against HAProxy 2.6 on the same configurations, behind the same backend, on
# loopback. Prints a markdown table: requests/s, the proxy's CPU time per request and its RSS
# per idle connection, with moonproxy/HAProxy ratios. Method: doc/performance.md.
#
# usage: bench/run.sh [-m tcp|http|lua|all] [-t THREADS] [-s SCENARIO] [-d SECONDS] [-r ROUNDS] [-c CONNECTIONS] [-n IDLE_CONNECTIONS] [--no-build]
#   -m: tcp (default): bench/tcp.cfg, GET of 64-byte and 16-KiB responses forwarded in mode tcp;
#       http: bench/http*.cfg, proxied GET (64 B, 16 KiB), `http-request return`, 20 ACLs and
#       header rewrites; lua: bench/http-lua-*.cfg with bench/lua/bench.lua, a Lua action
#       setting a header, a Lua fetch, a Lua service answering 64 B, an action opening a
#       core.tcp connection per request; all: every group. lua-cpu (alone, not in lua/all): a
#       Lua service computing ~20,000 loop iterations per answer, so the proxy, not wrk, is
#       what limits the rate: the thread-scaling scenario of issue 8 (run it with -t 1 and -t 2).
#       h2 (alone, not in all): bench/http.cfg and http-return.cfg over HTTP/2 with prior
#       knowledge, driven by h2load (-c CONNECTIONS, 20 streams each) instead of wrk.
#   -t: `nbthread` of both proxies (default 1); wrk runs as many threads. -s: only this
#       scenario of the groups (e.g. http-64, lua-action).
#   defaults: 10 s per run, 3 rounds (interleaved), 50 connections, 2000 idle connections.
# environment: MOONPROXY=<binary> (skips the moonproxy build), HAPROXY=<binary>, WRK=<binary>.
#
# Bounded: at most 2 proxies x 6 scenarios x ROUNDS runs of SECONDS each (wrk itself under a
# timeout), plus start-up, checks and the idle-connection measurements, each under a timeout.
set -euo pipefail

mode=tcp duration=10 rounds=3 conns=50 idle=2000 build=1 threads=1 only=
while [ $# -gt 0 ]; do
    case "$1" in
        -m) mode="$2"; shift 2 ;;
        -t) threads="$2"; shift 2 ;;
        -s) only="$2"; shift 2 ;;
        -d) duration="$2"; shift 2 ;;
        -r) rounds="$2"; shift 2 ;;
        -c) conns="$2"; shift 2 ;;
        -n) idle="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done

[[ "$threads" =~ ^[1-9][0-9]?$ ]] || { echo "bench/run.sh: -t expects a thread count, not $threads" >&2; exit 2; }
case "$mode" in
    tcp|http|lua|lua-action|lua-fetch|lua-service|lua-socket|lua-cpu|h2|all) ;;
    *) echo "bench/run.sh: -m expects tcp, http, lua, h2 or all, not $mode" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "[bench] $*" >&2; }
die() { log "$*"; exit 1; }

wrk=${WRK:-wrk}
haproxy=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
command -v "$wrk" >/dev/null || die "wrk not found (apt-get install wrk)"
[ -x "$haproxy" ] || die "haproxy not found (apt-get install haproxy)"

# Each idle connection costs a proxy two descriptors (HAProxy wants 2 x maxconn plus a few at
# start-up) and the idle client one.
maxconn=$((idle + conns + 500))
want_fds=$((maxconn * 2 + 200))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
    ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    [ "$(ulimit -n)" -ge "$want_fds" ] || die "ulimit -n is $(ulimit -n), $want_fds needed for -n $idle"
fi

# --- build ---------------------------------------------------------------------------------
benchtool="$root/target/bench/release/benchtool"
if [ "$build" = 1 ]; then
    log "building benchtool and moonproxy (release)"
    cargo build --quiet --release --manifest-path "$root/bench/Cargo.toml" --target-dir "$root/target/bench"
    if [ -z "${MOONPROXY:-}" ]; then
        cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin moonproxy
    fi
fi
moonproxy=${MOONPROXY:-$root/target/release/moonproxy}
[ -x "$benchtool" ] || die "$benchtool missing (run without --no-build)"

# --- scenarios -----------------------------------------------------------------------------
# A group is one configuration both proxies run at the same time; its scenarios are the paths
# wrk asks for. g_checks: "path length [header]" requests a proxy must answer right (';'
# between them) before it is measured; g_rss: measure RSS per idle connection on it.
declare -A g_cfg g_checks g_scen g_rss
g_cfg[tcp]=tcp.cfg          g_checks[tcp]="/64 64;/16k 16384"           g_scen[tcp]="tcp-64=/64 tcp-16k=/16k"      g_rss[tcp]=1
g_cfg[http]=http.cfg        g_checks[http]="/64 64;/16k 16384"          g_scen[http]="http-64=/64 http-16k=/16k"   g_rss[http]=1
g_cfg[return]=http-return.cfg g_checks[return]="/ 2"                    g_scen[return]="http-return=/"             g_rss[return]=0
g_cfg[rules]=http-rules.cfg g_checks[rules]="/api/64 64 x-rules:applied" g_scen[rules]="http-rules=/api/64"         g_rss[rules]=0
g_cfg[lua-action]=http-lua-action.cfg   g_checks[lua-action]="/64 64 x-lua:action"   g_scen[lua-action]="lua-action=/64"   g_rss[lua-action]=0
g_cfg[lua-fetch]=http-lua-fetch.cfg     g_checks[lua-fetch]="/64 64 x-lua:fetched"   g_scen[lua-fetch]="lua-fetch=/64"     g_rss[lua-fetch]=0
g_cfg[lua-service]=http-lua-service.cfg g_checks[lua-service]="/ 64"                 g_scen[lua-service]="lua-service=/"   g_rss[lua-service]=0
g_cfg[lua-socket]=http-lua-socket.cfg   g_checks[lua-socket]="/64 64 x-lua:200"      g_scen[lua-socket]="lua-socket=/64"   g_rss[lua-socket]=0
g_cfg[lua-cpu]=http-lua-cpu.cfg         g_checks[lua-cpu]="/ 64"                     g_scen[lua-cpu]="lua-cpu=/"           g_rss[lua-cpu]=0
# HTTP/2 (prior knowledge): a scenario named h2-* is run by h2load, not wrk.
g_cfg[h2]=http.cfg                 g_checks[h2]="/64 64"            g_scen[h2]="h2-64=/64"                 g_rss[h2]=0
g_cfg[h2-return]=http-return.cfg   g_checks[h2-return]="/ 2"        g_scen[h2-return]="h2-return=/"        g_rss[h2-return]=0
declare -A label=(
    [tcp-64]="64 B responses"
    [tcp-16k]="16 KiB responses"
    [http-64]="HTTP proxied GET, 64 B"
    [http-16k]="HTTP proxied GET, 16 KiB"
    [http-return]="HTTP \`http-request return\`"
    [http-rules]="HTTP 20 ACLs + rewrites, 64 B"
    [lua-action]="Lua \`http-request\` action setting a header, 64 B"
    [lua-fetch]="Lua fetch in a rule, 64 B"
    [lua-service]="Lua HTTP service answering 64 B"
    [lua-socket]="Lua action with a \`core.tcp\` sub-request, 64 B"
    [lua-cpu]="Lua service computing 20,000 iterations, 64 B"
    [h2-64]="HTTP/2 proxied GET, 64 B (h2load, 20 streams per connection)"
    [h2-return]="HTTP/2 \`http-request return\` (h2load, 20 streams per connection)"
)
case "$mode" in
    tcp) groups=(tcp) ;;
    http) groups=(http return rules) ;;
    lua) groups=(lua-action lua-fetch lua-service lua-socket) ;;
    lua-action|lua-fetch|lua-service|lua-socket|lua-cpu) groups=("$mode") ;;
    h2) groups=(h2 h2-return) ;;
    all) groups=(tcp http return rules lua-action lua-fetch lua-service lua-socket) ;;
esac

# --- processes -----------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/moonproxy-bench.XXXXXX")
pids=()
# SIGTERM, then SIGKILL for whatever is still there a second later.
stop_pids() {
    for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 10); do
        alive=0
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "$@"; do kill -9 "$pid" 2>/dev/null || true; done
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
cleanup() {
    stop_pids "${pids[@]}"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$benchtool" serve --port-file "$work/backend.port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/backend.port" ] && break; sleep 0.05; done
backend_port=$(cat "$work/backend.port" 2>/dev/null) || die "the backend did not start"

# Waits (at most 5 s) until port $2 accepts connections, or process $1 has exited.
wait_listening() {
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || return 1
        "$benchtool" wait-port "$2" 100 2>/dev/null && return 0
    done
    return 1
}

# The requests of group $2 answered right by the proxy on port $1.
checks_pass() {
    local port=$1 group=$2 spec path len header
    IFS=';' read -ra specs <<< "${g_checks[$group]}"
    for spec in "${specs[@]}"; do
        read -r path len header <<< "$spec"
        timeout 15 "$benchtool" check "$port" "$path" "$len" ${header:+"$header"} >> "$work/check.err" 2>&1 || return 1
    done
}

names=(moonproxy haproxy)
declare -A bin=([moonproxy]="$moonproxy" [haproxy]="$haproxy")
declare -A port pid ok
# status[name.scenario]: why a proxy has no figure for a scenario, or what its figures mean.
declare -A status

# The first line of proxy $1's output on group $2 matching $3, without the log prefix and
# with the generated file's path replaced by the configuration's name.
first_line() {
    grep -m1 -E "$3" "$work/$1.$2.log" | sed -e 's/^.*) : //' -e "s|$work/$1.$2.cfg|bench/${g_cfg[$2]}|g"
}

# Starts proxy $1 on group $2's configuration and checks it; sets ok[$1] and, when it
# cannot be measured, status for each scenario of the group.
start_proxy() {
    local name=$1 group=$2 why="" s
    port[$name]=$("$benchtool" free-port)
    sed -e "s/@PROXY_PORT@/${port[$name]}/" -e "s/@BACKEND_PORT@/$backend_port/g" -e "s/@MAXCONN@/$maxconn/" \
        -e "s/^\( *nbthread\) 1\$/\1 $threads/" \
        -e "s|@BENCH_DIR@|$root/bench|" \
        "$root/bench/${g_cfg[$group]}" > "$work/$name.$group.cfg"
    ok[$name]=0
    if [ ! -x "${bin[$name]}" ]; then
        why="${bin[$name]} is not executable"
    else
        "${bin[$name]}" -db -f "$work/$name.$group.cfg" > "$work/$name.$group.log" 2>&1 &
        pid[$name]=$!
        pids+=($!)
        : > "$work/check.err"
        if wait_listening "${pid[$name]}" "${port[$name]}" && checks_pass "${port[$name]}" "$group"; then
            ok[$name]=1
            log "$name (pid ${pid[$name]}) serves ${g_cfg[$group]} on 127.0.0.1:${port[$name]} -> 127.0.0.1:$backend_port"
            # A proxy that accepts the configuration but says it does not implement part of
            # it (moonproxy before HTTP mode) is measured, and the table says so.
            if grep -q 'not supported yet' "$work/$name.$group.log"; then
                why=$(first_line "$name" "$group" 'not supported yet')
                for s in ${g_scen[$group]}; do status[$name.${s%%=*}]="measured, but it warned: $why"; done
                why=""
            fi
            return
        elif kill -0 "${pid[$name]}" 2>/dev/null; then
            why="wrong answer: $(tail -n1 "$work/check.err")"
        else
            why="refused the configuration: $(first_line "$name" "$group" 'ALERT|rror')"
        fi
        log "$name on ${g_cfg[$group]}: n/a. Its output:"
        if [ -s "$work/$name.$group.log" ]; then sed 's/^/    /' "$work/$name.$group.log" | head -n 20 >&2; else log "    (none)"; fi
    fi
    log "$name on ${g_cfg[$group]}: n/a ($why)"
    for s in ${g_scen[$group]}; do status[$name.${s%%=*}]="n/a: $why"; done
}

# --- measurements --------------------------------------------------------------------------
clk_tck=$(getconf CLK_TCK)
# utime and stime of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat; the
# command name in field 2 may hold spaces, so count from the closing parenthesis). The user
# part is reported on its own: on loopback the kernel's TCP, the same for both proxies (the
# same system calls), is most of the total (doc/performance.md).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12, $13 }'; }

declare -A rss
# One line per run: name scenario requests requests/s cpu_us_per_request user_us_per_request errors
results="$work/results"
: > "$results"
run_wrk() { # name scenario path
    local name=$1 scen=$2 path=$3 u0 s0 u1 s1 out reqs rps errors
    if [[ "$scen" == h2-* ]]; then run_h2load "$@"; return; fi
    read -r u0 s0 < <(cpu_ticks "${pid[$name]}")
    out=$(timeout $((duration + 20)) "$wrk" -t"$threads" -c"$conns" -d"${duration}s" --timeout 5s "http://127.0.0.1:${port[$name]}$path" 2>&1) || true
    read -r u1 s1 < <(cpu_ticks "${pid[$name]}")
    reqs=$(awk '/requests in/ { print $1 }' <<< "$out")
    rps=$(awk '/^Requests\/sec/ { print $2 }' <<< "$out")
    errors=$(awk '/Socket errors|Non-2xx/ { printf "%s; ", $0 }' <<< "$out")
    record "$name" "$scen" wrk "$out" "$reqs" "$rps" $((u1 + s1 - u0 - s0)) $((u1 - u0)) "$errors"
}

# The same for an HTTP/2 scenario, with h2load (prior knowledge, 20 streams per connection).
run_h2load() { # name scenario path
    local name=$1 scen=$2 path=$3 u0 s0 u1 s1 out reqs rps errors
    command -v h2load >/dev/null || { status[$name.$scen]="n/a: h2load not found (apt-get install nghttp2-client)"; return; }
    read -r u0 s0 < <(cpu_ticks "${pid[$name]}")
    out=$(timeout $((duration + 20)) h2load -t"$threads" -c"$conns" -m 20 -D "$duration" "http://127.0.0.1:${port[$name]}$path" 2>&1) || true
    read -r u1 s1 < <(cpu_ticks "${pid[$name]}")
    reqs=$(awk '/^requests:/ { print $8 }' <<< "$out")
    rps=$(awk '/^finished in/ { print $4 }' <<< "$out")
    errors=$(awk '/^requests:/ && ($10 != 0 || $12 != 0) { printf "%s; ", $0 }' <<< "$out")
    record "$name" "$scen" h2load "$out" "$reqs" "$rps" $((u1 + s1 - u0 - s0)) $((u1 - u0)) "$errors"
}

# One run's line in the results: requests, requests/s, CPU µs per request and its user-space
# part (from the proxy's clock ticks), and whether the load generator saw errors.
record() { # name scenario tool output requests rps ticks user_ticks errors
    local name=$1 scen=$2 tool=$3 out=$4 reqs=$5 rps=$6 ticks=$7 uticks=$8 errors=$9
    if [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
        log "$name $scen: $tool failed: $out"
        status[$name.$scen]="n/a: $tool completed no request"
        return
    fi
    awk -v n="$name" -v p="$scen" -v r="$reqs" -v s="$rps" -v d="$ticks" -v u="$uticks" -v hz="$clk_tck" -v e="$errors" \
        'BEGIN { printf "%s %s %d %.1f %.3f %.3f %s\n", n, p, r, s, d / hz * 1e6 / r, u / hz * 1e6 / r, (e == "" ? "-" : "errors") }' >> "$results"
    log "$(tail -n1 "$results")${errors:+ ($errors)}"
}

# The groups with a scenario to run (all of them without -s).
selected=()
for group in "${groups[@]}"; do
    [ -z "$only" ] || [[ " ${g_scen[$group]} " == *" $only="* ]] && selected+=("$group")
done
[ "${#selected[@]}" -gt 0 ] || die "no scenario $only in -m $mode"
groups=("${selected[@]}")

for group in "${groups[@]}"; do
    log "=== ${g_cfg[$group]}"
    group_pids=()
    for name in "${names[@]}"; do
        start_proxy "$name" "$group"
        [ -n "${pid[$name]:-}" ] && group_pids+=("${pid[$name]}")
    done
    [ "${ok[haproxy]}" = 1 ] || log "HAProxy does not serve ${g_cfg[$group]}: no reference for its scenarios"
    if [ "${g_rss[$group]}" = 1 ] && [ -z "$only" ]; then
        for name in "${names[@]}"; do
            [ "${ok[$name]}" = 1 ] || continue
            log "$name: RSS with $idle idle connections"
            if out=$(timeout 120 "$benchtool" idle-rss "${port[$name]}" "${pid[$name]}" "$idle"); then
                read -r before after per_conn <<< "$out"
                rss[$name.$group]=$per_conn
                log "$name: VmRSS ${before} kB -> ${after} kB, ${per_conn} bytes per connection"
            else
                log "$name: idle-connection measurement failed"
            fi
        done
    fi
    for round in $(seq "$rounds"); do
        # Alternate which proxy goes first so that neither always runs on a warmer machine.
        if [ $((round % 2)) = 1 ]; then order=(moonproxy haproxy); else order=(haproxy moonproxy); fi
        for sp in ${g_scen[$group]}; do
            [ -z "$only" ] || [ "${sp%%=*}" = "$only" ] || continue
            for name in "${order[@]}"; do
                [ "${ok[$name]}" = 1 ] || continue
                log "round $round/$rounds: $name ${sp%%=*} (GET ${sp#*=}), $conns connections, ${duration}s"
                run_wrk "$name" "${sp%%=*}" "${sp#*=}"
            done
        done
    done
    stop_pids "${group_pids[@]}"
    unset 'pid[moonproxy]' 'pid[haproxy]'
done

# --- report --------------------------------------------------------------------------------
median() { # name scenario column -> median over rounds, or empty
    awk -v n="$1" -v p="$2" -v c="$3" '$1 == n && $2 == p { print $c }' "$results" | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
fmt() { [ -n "$2" ] && printf "$1" "$2" || printf "n/a"; } # format value
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
row() { # label format moonproxy haproxy
    printf "| %s | %s | %s | %s |\n" "$1" "$(fmt "$2" "$3")" "$(fmt "$2" "$4")" "$(ratio "$3" "$4")"
}

hv=$("$haproxy" -v | awk 'NR == 1 { print $3 }')
echo
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD 2>/dev/null || rev="$rev+changes"
[ -z "${MOONPROXY:-}" ] || rev="$rev, binary $moonproxy"
case "$mode" in tcp) what="TCP mode" ;; http) what="HTTP mode" ;; h2) what="HTTP/2 to clients (prior knowledge)" ;; *) what="TCP and HTTP modes" ;; esac
echo "moonproxy ($rev) vs HAProxy $hv: $what, nbthread $threads, loopback; $(nproc) CPUs; $(date -u +%Y-%m-%d)."
if [ "$mode" = h2 ]; then client="h2load -t$threads -c$conns -m 20"; else client="wrk -t$threads -c$conns"; fi
echo "$client, ${duration} s per run, median of $rounds interleaved rounds; idle RSS over $idle connections."
echo
echo "| metric | moonproxy | HAProxy | moonproxy / HAProxy |"
echo "|---|---:|---:|---:|"
for group in "${groups[@]}"; do
    for sp in ${g_scen[$group]}; do
        s=${sp%%=*}
        [ -z "$only" ] || [ "$s" = "$only" ] || continue
        row "requests/s, ${label[$s]}" %.0f "$(median moonproxy "$s" 4)" "$(median haproxy "$s" 4)"
        row "CPU µs per request, ${label[$s]}" %.1f "$(median moonproxy "$s" 5)" "$(median haproxy "$s" 5)"
        row "of which user space, ${label[$s]}" %.1f "$(median moonproxy "$s" 6)" "$(median haproxy "$s" 6)"
    done
    if [ "${g_rss[$group]}" = 1 ] && [ -z "$only" ]; then
        case "$group" in tcp) l="RSS bytes per idle connection" ;; *) l="RSS bytes per idle keep-alive client connection (HTTP)" ;; esac
        row "$l" %.0f "${rss[moonproxy.$group]:-}" "${rss[haproxy.$group]:-}"
    fi
done
echo
# Per scenario, whatever makes a figure missing or not what the row says.
for group in "${groups[@]}"; do
    for sp in ${g_scen[$group]}; do
        s=${sp%%=*}
        for name in "${names[@]}"; do
            [ -n "${status[$name.$s]:-}" ] && echo "- ${label[$s]}: $name ${status[$name.$s]}"
        done
    done
done
if grep -q ' errors$' "$results"; then
    echo "- Some runs reported socket errors or non-2xx responses (see the [bench] lines above)."
fi
