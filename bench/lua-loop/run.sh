#!/usr/bin/env bash
# The forced-yield table: loops per second of a tight Lua loop in a task (loop.lua) at several
# `tune.lua.forced-yield` settings, in HAProxy 2.6 and moonproxy running the same script, next to
# plain lua5.4 running the same loop; and, while the task spins, the latency of TCP round trips
# served by the same process (a `listen` in front of an echo backend). Prints a markdown table.
# Method: doc/performance.md, section "Lua".
#
# usage: bench/lua-loop/run.sh [-d SECONDS] [-r ROUNDS] [-n REQUESTS] [-y "FY FY ..."] [--no-build]
#   defaults: 5 s of loop per run, 3 rounds, 50 round trips per run, forced-yield settings
#   "default 10 500 1000 10000 1000000" ("default": no tune.lua.forced-yield line, which is
#   10000 in HAProxy and moonproxy's timer-based preemption).
# environment: MOONPROXY=<binary> (skips the moonproxy build), MOONPROXY_PREEMPT=timer|count
#   (tune.lua.preempt for moonproxy), HAPROXY=<binary>, LUA=<lua5.4>,
#   LUA53=<lua5.3> (optional: HAProxy 2.6 as packaged by Debian runs Lua 5.3).
#
# Bounded: every step has a timeout (a proxy run at most 4 x SECONDS + 100 s, a plain run
# SECONDS + 30 s); about ROUNDS x 6 settings x 4 runs x SECONDS when everything works (eight
# minutes with the defaults). Loopback only.
set -euo pipefail

duration=5 rounds=3 requests=50 settings="default 10 500 1000 10000 1000000" build=1
while [ $# -gt 0 ]; do
    case "$1" in
        -d) duration="$2"; shift 2 ;;
        -r) rounds="$2"; shift 2 ;;
        -n) requests="$2"; shift 2 ;;
        -y) settings="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/lua-loop/run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
[ "$duration" -ge 2 ] || { echo "-d must be at least 2 (seconds)" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
log() { echo "[lua-loop] $*" >&2; }
die() { log "$*"; exit 1; }

haproxy=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
lua=${LUA:-lua5.4}
lua53=${LUA53:-$(command -v lua5.3 || true)}
[ -x "$haproxy" ] || die "haproxy not found (apt-get install haproxy)"
command -v "$lua" >/dev/null || die "$lua not found (apt-get install lua5.4)"
command -v rustc >/dev/null || die "rustc not found"

work=$(mktemp -d "${TMPDIR:-/tmp}/moonproxy-lua-loop.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.2
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ---------------------------------------------------------------------------------
# The probe is one std-only file: rustc alone builds it in a second, outside any workspace.
rustc -O --edition 2021 -o "$work/probe" "$here/probe.rs" || die "cannot build probe.rs"
probe="$work/probe"
if [ -z "${MOONPROXY:-}" ] && [ "$build" = 1 ]; then
    # Release: the Lua VM is C compiled with the profile's optimisation level.
    log "building moonproxy (release)"
    cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin moonproxy
fi
moonproxy=${MOONPROXY:-$root/target/release/moonproxy}

"$probe" echo --port-file "$work/echo.port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/echo.port" ] && break; sleep 0.05; done
echo_port=$(cat "$work/echo.port" 2>/dev/null) || die "the echo backend did not start"

# --- one run of a proxy --------------------------------------------------------------------
# Results, one line per run:
#   engine setting loops cpu_ms now_ms lat_median_us lat_max_us lat_ok note...
# (now_ms: how far core.now() moved during the loop; "-" where not measured).
results="$work/results"
: > "$results"
# One line per proxy run: engine setting ratio-to-the-lua5.4-run-just-before. The table's
# ratios are the medians of these: a machine shared with other work drifts by ±25% over
# minutes, and a pair of runs a few seconds apart shares most of that drift.
pairs="$work/pairs"
: > "$pairs"
last_plain_rate=""
declare -A usable=([haproxy]=1 [moonproxy]=1)
declare -A bin=([haproxy]="$haproxy" [moonproxy]="$moonproxy")

# Waits at most $3 seconds for a line matching $2 in file $1; fails early if process $4 exits.
wait_line() {
    local i
    for i in $(seq $(($3 * 20))); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        kill -0 "$4" 2>/dev/null || { grep -q -- "$2" "$1" 2>/dev/null; return; }
        sleep 0.05
    done
    return 1
}

show_output() { # file
    if [ -s "$1" ]; then head -n 20 "$1" | sed 's/^/    /' >&2; else log "    (no output)"; fi
}

# run_proxy ENGINE SETTING: SETTING is a forced-yield value, "default" for no forced-yield line,
# or "none" for the baseline without Lua (the same listen, no lua-load).
run_proxy() {
    local name=$1 fy=$2 cfg="$work/$1-$2.cfg" out="$work/$1-$2.log" port pid lat line budget interval note=""
    port=$("$probe" free-port)
    if [ "$fy" = none ]; then
        sed -e 's/@LUA_FORCED_YIELD@/# (no Lua)/' -e 's/@LUA_LOAD@//' "$here/loop.cfg"
    elif [ "$fy" = default ]; then
        sed -e 's/@LUA_FORCED_YIELD@/# (default forced-yield)/' -e "s|@LUA_LOAD@|lua-load $here/loop.lua|" "$here/loop.cfg"
    else
        sed -e "s|@LUA_FORCED_YIELD@|tune.lua.forced-yield $fy|" -e "s|@LUA_LOAD@|lua-load $here/loop.lua|" "$here/loop.cfg"
    fi | sed -e "s/@PROXY_PORT@/$port/" -e "s/@BACKEND_PORT@/$echo_port/" > "$cfg"
    # MOONPROXY_PREEMPT=count measures moonproxy with HAProxy's count hook (tune.lua.preempt).
    if [ "$name" = moonproxy ] && [ -n "${MOONPROXY_PREEMPT:-}" ] && [ "$fy" != none ]; then
        sed -i "s|^global$|global\n    tune.lua.preempt $MOONPROXY_PREEMPT|" "$cfg"
    fi

    LUA_LOOP_SECONDS=$duration "${bin[$name]}" -db -f "$cfg" > "$out" 2>&1 &
    pid=$!
    pids+=($pid)
    if ! "$probe" wait-port "$port" 5000 2>/dev/null || ! kill -0 "$pid" 2>/dev/null; then
        log "$name (forced-yield $fy) does not listen: n/a for every setting. Its output:"
        show_output "$out"
        kill "$pid" 2>/dev/null || true
        usable[$name]=0
        return 1
    fi
    if [ "$fy" != none ] && ! wait_line "$out" "lua-loop: start" 10 "$pid"; then
        log "$name (forced-yield $fy) did not start the loop task: n/a for every setting. Its output:"
        show_output "$out"
        kill "$pid" 2>/dev/null || true
        usable[$name]=0
        return 1
    fi
    # Spread the round trips over the first 70% of the loop, so that they all meet it.
    budget=$((duration * 700))
    interval=$((budget * 9 / 10 / requests))
    sleep 0.2
    if ! lat=$(timeout $((duration + 60)) "$probe" latency "$port" "$requests" "$interval" "$budget" 2>"$work/probe.err"); then
        log "$name (forced-yield $fy): no round trip succeeded: $(tail -n1 "$work/probe.err")"
        lat="- - 0 ?"
    fi
    read -r lat_median lat_max lat_ok lat_failed <<< "$lat"
    [ "$lat_failed" = 0 ] || note="$lat_failed round trips failed"
    # Round trips that ended after the loop did not meet it: say so rather than hide it.
    if [ "$fy" != none ] && grep -q "lua-loop: done" "$out"; then
        note="${note:+$note, }some round trips after the loop ended"
    fi
    if [ "$fy" = none ]; then
        echo "$name none - - - $lat_median $lat_max $lat_ok ${note:--}" >> "$results"
    elif wait_line "$out" "lua-loop: done" $((duration * 3 + 30)) "$pid"; then
        line=$(grep -o 'lua-loop: done.*' "$out" | head -n1)
        read -r loops cpu now <<< "$(sed -E 's/.*loops=([0-9]+) cpu_ms=([0-9]+) now_ms=([0-9]+).*/\1 \2 \3/' <<< "$line")"
        echo "$name $fy $loops $cpu $now $lat_median $lat_max $lat_ok ${note:--}" >> "$results"
        # The ratio to the plain lua5.4 run just before, on the machine of the same moment.
        [ -z "$last_plain_rate" ] || [ "$cpu" = 0 ] \
            || awk -v n="$name" -v s="$fy" -v l="$loops" -v c="$cpu" -v p="$last_plain_rate" \
                'BEGIN { printf "%s %s %.4f\n", n, s, l / (c / 1000) / p }' >> "$pairs"
        log "$name forced-yield $fy: $loops loops in ${cpu} ms CPU (core.now() moved ${now} ms); $lat_ok round trips, median ${lat_median} µs, max ${lat_max} µs${note:+ ($note)}"
    else
        log "$name (forced-yield $fy): the loop did not report within $((duration * 3 + 30)) s. Its output:"
        show_output "$out"
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

run_plain() { # name interpreter setting
    local out line
    out=$(cd "$here" && LUA_LOOP_SECONDS=$duration timeout $((duration + 30)) "$2" plain.lua loop.lua 2>&1) || true
    line=$(grep -o 'lua-loop: done.*' <<< "$out" | head -n1)
    if [ -z "$line" ]; then
        log "$1 failed: $out"
        return
    fi
    read -r loops cpu <<< "$(sed -E 's/.*loops=([0-9]+) cpu_ms=([0-9]+).*/\1 \2/' <<< "$line")"
    echo "$1 $3 $loops $cpu - - - - -" >> "$results"
    [ "$1" != lua5.4 ] || [ "$cpu" = 0 ] || last_plain_rate=$(awk -v l="$loops" -v c="$cpu" 'BEGIN { print l / (c / 1000) }')
    log "$1: $loops loops in ${cpu} ms CPU"
}

# --- measurements --------------------------------------------------------------------------
lat=$("$probe" latency "$echo_port" "$requests" 5 10000) || die "the echo backend does not answer"
read -r direct_median direct_max _ _ <<< "$lat"
log "echo backend directly: round trips median ${direct_median} µs, max ${direct_max} µs"
for name in haproxy moonproxy; do
    if [ ! -x "${bin[$name]}" ]; then
        log "$name: ${bin[$name]} is not executable: n/a"
        usable[$name]=0
    elif ! run_proxy "$name" none; then
        usable[$name]=0
    fi
done
[ "${usable[haproxy]}" = 1 ] || die "HAProxy does not proxy on loop.cfg: no reference, stopping"

for round in $(seq "$rounds"); do
    # Alternate which proxy goes first so that neither always runs on a warmer machine.
    if [ $((round % 2)) = 1 ]; then order=(moonproxy haproxy); else order=(haproxy moonproxy); fi
    for fy in $settings; do
        # The plain interpreters do not depend on the setting; running them at every setting,
        # between the proxies, samples the machine at the same moments.
        run_plain lua5.4 "$lua" "$fy"
        for name in "${order[@]}"; do
            [ "${usable[$name]}" = 1 ] || continue
            log "round $round/$rounds: $name, forced-yield $fy, ${duration} s"
            run_proxy "$name" "$fy" || true
        done
        [ -z "$lua53" ] || run_plain lua5.3 "$lua53" "$fy"
    done
done

# --- report --------------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.0f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
# Median over the rounds of the loops per CPU second of (engine, setting); "all" for every setting.
rate() { awk -v n="$1" -v s="$2" '$1 == n && (s == "all" || $2 == s) && $4 > 0 { print $3 / ($4 / 1000) }' "$results" | median; }
# The numeric values of column $3 over the runs of (engine, setting), one a line.
column() { awk -v n="$1" -v s="$2" -v c="$3" '$1 == n && $2 == s && $c ~ /^[0-9.]+$/ { print $c }' "$results"; }
millions() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf "%.1f", v / 1e6 }' || printf "n/a"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
# Median over the rounds of (engine, setting)'s ratio to the lua5.4 run just before it.
paired() {
    local v
    v=$(awk -v n="$1" -v s="$2" '$1 == n && $2 == s { print $3 }' "$pairs" | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
    echo "${v:-n/a}"
}
ms() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf "%.2f", v / 1000 }' || printf "n/a"; }
# "median / max" of the round trips of (engine, setting) in ms: the median of the runs' medians
# and the largest maximum, with how many round trips were done when fewer than planned, and
# the runs' notes.
latency_cell() {
    local runs ok planned notes
    runs=$(awk -v n="$1" -v s="$2" '$1 == n && $2 == s' "$results" | wc -l)
    [ "$runs" -gt 0 ] || { printf "n/a"; return; }
    ok=$(column "$1" "$2" 8 | awk '{ t += $1 } END { print t + 0 }')
    planned=$((runs * requests))
    # A note is the rest of its line (it holds spaces).
    notes=$(awk -v n="$1" -v s="$2" '$1 == n && $2 == s { $1 = $2 = $3 = $4 = $5 = $6 = $7 = $8 = ""; sub(/^ +/, ""); if ($0 != "-") print }' "$results" \
        | sort -u | paste -sd ';' | sed 's/;/; /g')
    [ "$ok" = "$planned" ] || notes="$ok of $planned round trips done${notes:+; $notes}"
    printf "%s / %s%s" "$(ms "$(column "$1" "$2" 6 | median)")" "$(ms "$(column "$1" "$2" 7 | sort -g | tail -n1)")" "${notes:+ ($notes)}"
}

p54=$(rate lua5.4 all)
p53=$(rate lua5.3 all)
hv=$("$haproxy" -v | awk 'NR == 1 { print $3 }')
if [ -n "${MOONPROXY:-}" ]; then
    # Built elsewhere: this tree's commit says nothing about it.
    rev="binary $moonproxy"
else
    rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$root" diff --quiet HEAD 2>/dev/null || rev="$rev+changes"
fi

echo
echo "Tight Lua loop in a task (bench/lua-loop/loop.lua), ${duration} s per run, median of $rounds rounds, nbthread 1; $(nproc) CPUs; $(date -u +%Y-%m-%d)."
echo "HAProxy $hv ($("$haproxy" -vv | sed -n 's/^Built with Lua version : //p')), moonproxy ($rev), $("$lua" -v 2>&1 | awk '{ print $1, $2 }')."
echo "Loops per CPU second of the process (os.clock()), in millions (M); ratios against plain lua5.4:"
echo "the median over the rounds of each run's rate over the lua5.4 run just before it"
echo "(median of its ${duration}-second runs: $(millions "$p54") M/s$([ -z "$p53" ] || echo "; plain lua5.3: $(millions "$p53") M/s"))."
echo "Round trips: connect + 32 bytes echoed + close through the proxy while the task spins,"
echo "up to $requests per run over the first 70% of the loop, median / max in ms over the rounds (echo backend directly: $(ms "$direct_median") / $(ms "$direct_max"))."
echo
echo "| forced-yield | HAProxy M loops/s | HAProxy / lua5.4 | HAProxy round trip ms | moonproxy M loops/s | moonproxy / lua5.4 | moonproxy round trip ms |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
printf "| no Lua | | | %s | | | %s |\n" "$(latency_cell haproxy none)" "$(latency_cell moonproxy none)"
for fy in $settings; do
    h=$(rate haproxy "$fy") m=$(rate moonproxy "$fy")
    printf "| %s | %s | %s | %s | %s | %s | %s |\n" "$fy" \
        "$(millions "$h")" "$(paired haproxy "$fy")" "$(latency_cell haproxy "$fy")" \
        "$(millions "$m")" "$(paired moonproxy "$fy")" "$(latency_cell moonproxy "$fy")"
done
echo
if [ -n "$p53" ]; then
    echo "HAProxy against its own Lua (5.3):$(for fy in $settings; do printf " %s: %s;" "$fy" "$(ratio "$(rate haproxy "$fy")" "$p53")"; done)"
fi
now_line=""
for name in haproxy moonproxy; do
    for fy in $settings; do
        v=$(awk -v n="$name" -v s="$fy" '$1 == n && $2 == s && $4 > 0 { print 1000 * $5 / $4 }' "$results" | median)
        [ -z "$v" ] || now_line="$now_line${now_line:+; }$name $fy: $(ms "$v") s"
    done
done
[ -z "$now_line" ] || echo "How far core.now() moved per CPU second of the loop (median): $now_line."
