#!/usr/bin/env bash
# Builds moonproxy and runs it on examples/quickstart.cfg, with the backend it needs: a web
# server for examples/www/ (python3 -m http.server on 127.0.0.1:8000). Nothing else is
# required. Open http://127.0.0.1:8080/ and press Ctrl-C to stop both.
#
#   examples/quickstart.sh                 # moonproxy
#   PROXY=haproxy examples/quickstart.sh   # the same configuration under HAProxy, to compare
set -euo pipefail
cd "$(dirname "$0")/.."

frontend_port=8080 backend_port=8000
# True if something accepts connections on 127.0.0.1:$1.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for port in "$frontend_port" "$backend_port"; do
    if listening "$port"; then
        echo "quickstart: port $port on 127.0.0.1 is already in use; stop what uses it and retry." >&2
        exit 1
    fi
done
command -v python3 >/dev/null || { echo "quickstart: python3 is needed for the example backend" >&2; exit 1; }

if [ -n "${PROXY:-}" ]; then
    proxy=$PROXY
else
    cargo build --bin moonproxy
    proxy=target/debug/moonproxy
fi

python3 -m http.server "$backend_port" --bind 127.0.0.1 --directory examples/www >/dev/null 2>&1 &
backend=$!
trap 'kill "$backend" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    listening "$backend_port" && break
    kill -0 "$backend" 2>/dev/null || { echo "quickstart: the backend failed to start" >&2; exit 1; }
    sleep 0.1
done

echo "quickstart: backend on 127.0.0.1:$backend_port; open http://127.0.0.1:$frontend_port/ (Ctrl-C to stop)"
status=0
"$proxy" -db -f examples/quickstart.cfg || status=$?
echo "quickstart: $proxy exited with status $status"
exit "$status"
