#!/usr/bin/env bash
# moonproxy against HAProxy 2.6 on the same TCP configuration, behind the same backend, on
# loopback. Prints a markdown table: requests/s, the proxy's CPU time per request (64-byte and
# 16-KiB responses) and its RSS per idle proxied connection, with moonproxy/HAProxy ratios.
# Method: doc/performance.md.
#
# usage: bench/run.sh [-d SECONDS] [-r ROUNDS] [-c CONNECTIONS] [-n IDLE_CONNECTIONS] [--no-build]
#   defaults: 10 s per run, 3 rounds (interleaved), 50 connections, 2000 idle connections.
# environment: MOONPROXY=<binary> (skips the moonproxy build), HAPROXY=<binary>, WRK=<binary>.
#
# Bounded: at most 2 proxies x 2 sizes x ROUNDS runs of SECONDS each, plus start-up and the
# idle-connection measurement (each step has its own timeout).
set -euo pipefail

duration=10 rounds=3 conns=50 idle=2000 build=1
while [ $# -gt 0 ]; do
    case "$1" in
        -d) duration="$2"; shift 2 ;;
        -r) rounds="$2"; shift 2 ;;
        -c) conns="$2"; shift 2 ;;
        -n) idle="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done

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

# --- processes -----------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/moonproxy-bench.XXXXXX")
pids=()
cleanup() {
    # SIGTERM, then SIGKILL for whatever is still there a second later.
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 10); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
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

declare -A port pid ok
names=(moonproxy haproxy)
declare -A bin=([moonproxy]="$moonproxy" [haproxy]="$haproxy")
for name in "${names[@]}"; do
    port[$name]=$("$benchtool" free-port)
    sed -e "s/@PROXY_PORT@/${port[$name]}/" -e "s/@BACKEND_PORT@/$backend_port/" -e "s/@MAXCONN@/$maxconn/" \
        "$root/bench/tcp.cfg" > "$work/$name.cfg"
    ok[$name]=0
    if [ ! -x "${bin[$name]}" ]; then
        log "$name: ${bin[$name]} is not executable: n/a"
        continue
    fi
    "${bin[$name]}" -db -f "$work/$name.cfg" > "$work/$name.log" 2>&1 &
    pid[$name]=$!
    pids+=($!)
    if wait_listening "${pid[$name]}" "${port[$name]}" && "$benchtool" check "${port[$name]}" /64 64 && "$benchtool" check "${port[$name]}" /16k 16384; then
        ok[$name]=1
        log "$name (pid ${pid[$name]}) proxies 127.0.0.1:${port[$name]} -> 127.0.0.1:$backend_port"
    else
        if kill -0 "${pid[$name]}" 2>/dev/null; then
            log "$name does not proxy: n/a. Its output so far:"
        else
            wait "${pid[$name]}" && status=0 || status=$?
            log "$name exited (status $status) instead of proxying: n/a. Its output:"
        fi
        if [ -s "$work/$name.log" ]; then sed 's/^/    /' "$work/$name.log" >&2; else log "    (none)"; fi
    fi
done
[ "${ok[haproxy]}" = 1 ] || die "HAProxy does not proxy on bench/tcp.cfg: no reference, stopping"

# --- measurements --------------------------------------------------------------------------
clk_tck=$(getconf CLK_TCK)
# utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat; the
# command name in field 2 may hold spaces, so count from the closing parenthesis).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

declare -A rss
for name in "${names[@]}"; do
    [ "${ok[$name]}" = 1 ] || continue
    log "$name: RSS with $idle idle connections"
    if out=$(timeout 120 "$benchtool" idle-rss "${port[$name]}" "${pid[$name]}" "$idle"); then
        read -r before after per_conn <<< "$out"
        rss[$name]=$per_conn
        log "$name: VmRSS ${before} kB -> ${after} kB, ${per_conn} bytes per connection"
    else
        log "$name: idle-connection measurement failed"
    fi
done

# One line per run: name size requests seconds requests/s cpu_us_per_request errors
results="$work/results"
: > "$results"
run_wrk() { # name size_path
    local name=$1 path=$2 t0 t1 out reqs rps errors
    t0=$(cpu_ticks "${pid[$name]}")
    out=$("$wrk" -t1 -c"$conns" -d"${duration}s" --timeout 5s "http://127.0.0.1:${port[$name]}$path" 2>&1) || true
    t1=$(cpu_ticks "${pid[$name]}")
    reqs=$(awk '/requests in/ { print $1 }' <<< "$out")
    rps=$(awk '/^Requests\/sec/ { print $2 }' <<< "$out")
    errors=$(awk '/Socket errors|Non-2xx/ { printf "%s; ", $0 }' <<< "$out")
    if [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
        log "$name $path: wrk failed: $out"
        return
    fi
    awk -v n="$name" -v p="$path" -v r="$reqs" -v s="$rps" -v d=$((t1 - t0)) -v hz="$clk_tck" -v e="$errors" \
        'BEGIN { printf "%s %s %d %.1f %.3f %s\n", n, p, r, s, d / hz * 1e6 / r, (e == "" ? "-" : "errors") }' >> "$results"
    log "$(tail -n1 "$results")${errors:+ ($errors)}"
}

for round in $(seq "$rounds"); do
    # Alternate which proxy goes first so that neither always runs on a warmer machine.
    if [ $((round % 2)) = 1 ]; then order=(moonproxy haproxy); else order=(haproxy moonproxy); fi
    for path in /64 /16k; do
        for name in "${order[@]}"; do
            [ "${ok[$name]}" = 1 ] || continue
            log "round $round/$rounds: $name GET $path, $conns connections, ${duration}s"
            run_wrk "$name" "$path"
        done
    done
done

# --- report --------------------------------------------------------------------------------
median() { # name path column -> median over rounds, or empty
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
echo "moonproxy ($rev) vs HAProxy $hv: TCP mode, nbthread 1, loopback; $(nproc) CPUs; $(date -u +%Y-%m-%d)."
echo "wrk -t1 -c$conns, ${duration} s per run, median of $rounds interleaved rounds; idle RSS over $idle connections."
echo
echo "| metric | moonproxy | HAProxy | moonproxy / HAProxy |"
echo "|---|---:|---:|---:|"
row "requests/s, 64 B responses" %.0f "$(median moonproxy /64 4)" "$(median haproxy /64 4)"
row "CPU µs per request, 64 B responses" %.1f "$(median moonproxy /64 5)" "$(median haproxy /64 5)"
row "requests/s, 16 KiB responses" %.0f "$(median moonproxy /16k 4)" "$(median haproxy /16k 4)"
row "CPU µs per request, 16 KiB responses" %.1f "$(median moonproxy /16k 5)" "$(median haproxy /16k 5)"
row "RSS bytes per idle connection" %.0f "${rss[moonproxy]:-}" "${rss[haproxy]:-}"
echo
if grep -q ' errors$' "$results"; then
    echo "Some runs reported socket errors or non-2xx responses (see the [bench] lines above)."
fi
