# Shared by bench/lua-accounting.sh and bench/instructions.sh (sourced, not run): builds what
# is missing, starts the benchtool backend, and counts a proxy's instructions under
# valgrind's callgrind for a number of requests in sequence on one keep-alive connection.
# Expects `root`, `build` (1 or 0) and `log` from the sourcing script; sets `benchtool`,
# `moonproxy`, `work`, `backend_port` and defines `instructions BIN CFG PATH N`.

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

# One run under callgrind of `bin` on the bench configuration `cfg` (its @...@ placeholders
# filled) answering `n` requests for `path`; prints the proxy's instruction count. With a
# fifth argument `h2`, the requests are HTTP/2 (prior knowledge), one stream at a time on
# one connection, sent by h2load.
instructions() {
    local bin=$1 cfg=$2 path=$3 n=$4 proto=${5:-h1} out=$work/cg.out port
    port=$("$benchtool" free-port)
    sed -e "s/@PROXY_PORT@/$port/" -e "s/@BACKEND_PORT@/$backend_port/g" -e "s/@MAXCONN@/1000/" \
        -e "s|@BENCH_DIR@|$root/bench|" "$cfg" > "$work/run.cfg"
    rm -f "$out"
    timeout 300 valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" -db -q -f "$work/run.cfg" \
        2> "$work/valgrind.log" &
    local vg=$!
    "$benchtool" wait-port "$port" 60000
    if [ "$proto" = h2 ]; then
        timeout 300 h2load -n "$n" -c 1 -m 1 "http://127.0.0.1:$port$path" > "$work/h2load.log" 2>&1
    else
        timeout 300 "$benchtool" requests "$port" "$path" "$n"
    fi
    kill -TERM "$vg"
    wait "$vg" || true
    grep -m1 '^summary:' "$out" | awk '{print $2}'
}
