#!/usr/bin/env bash
# Session start time with and without the sandbox, and the allowlist proxy's overhead for
# 100 small HTTPS-CONNECT (tunnelled) requests, side by side in one run (docs/PERFORMANCE.md).
# Usage: session-host/sandbox/benches/start_and_proxy.sh [path/to/walkie] [N]
set -euo pipefail
W=${1:-target/release/walkie}
N=${2:-20}
ROOT=$(mktemp -d "${TMPDIR:-/var/tmp}/wkbench.XXXXXX")
trap 'kill $SRV 2>/dev/null; "$W" --no-spawn kill-all >/dev/null 2>&1 || true; kill $HOSTPID 2>/dev/null; rm -rf "$ROOT"' EXIT
export HOME=$ROOT WALKIE_SOCKET=$ROOT/run/host.sock WALKIE_STATE_DIR=$ROOT/state
mkdir -p "$ROOT/cwd"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$ROOT/cwd" >/dev/null 2>&1 & SRV=$!
cat > "$ROOT/walkie.toml" <<TOML
[sandbox.resolve]
"bench.test" = "127.0.0.1"
[sandbox.profiles.bench]
base = "workspace"
allow_domains = ["bench.test"]
TOML
export WALKIE_CONFIG=$ROOT/walkie.toml
"$W" host >"$ROOT/host.log" 2>&1 & HOSTPID=$!
for _ in $(seq 100); do [ -S "$WALKIE_SOCKET" ] && break; sleep 0.05; done
now() { date +%s%N; }
# Start: `walkie new` until the session's first output (a marker) is on its screen.
start_once() { # profile index
  local t0 t1 name="s$2-$1"
  t0=$(now)
  "$W" --no-spawn new "$name" --cwd "$ROOT/cwd" --sandbox "$1" -- sh -c 'echo READY; sleep 30' >/dev/null
  until "$W" --no-spawn screen "$name" | grep -q READY; do :; done
  t1=$(now)
  "$W" --no-spawn kill "$name" --force >/dev/null
  echo $(( (t1 - t0) / 1000 ))
}
declare -A sum=([off]=0 [workspace]=0)
for i in $(seq "$N"); do
  for p in off workspace; do sum[$p]=$(( ${sum[$p]} + $(start_once $p $i) )); done
done
off=$(( ${sum[off]} / N )); ws=$(( ${sum[workspace]} / N ))
echo "session start (new -> first output), mean of $N: off ${off} us, workspace ${ws} us, ratio $(python3 -c "print(round($ws/$off,2))")"
# Proxy: 100 tunnelled requests through the sandbox's proxy vs 100 direct ones on the host.
"$W" --no-spawn new px --cwd "$ROOT/cwd" --sandbox bench -- sh -c "
  t0=\$(date +%s%N); for i in \$(seq 100); do curl -s -o /dev/null --proxytunnel http://bench.test:$PORT/; done; t1=\$(date +%s%N);
  echo PROXY \$(( (t1 - t0) / 100000 )); sleep 30" >/dev/null
t0=$(now); for _ in $(seq 100); do curl -s -o /dev/null --noproxy '*' "http://127.0.0.1:$PORT/"; done; t1=$(now)
direct=$(( (t1 - t0) / 100000 ))
until "$W" --no-spawn screen px | grep -q "PROXY [0-9]"; do sleep 0.1; done
proxy=$("$W" --no-spawn screen px | grep -o "PROXY [0-9]*" | awk '{print $2}')
echo "100 small requests: direct ${direct} us each, through the sandbox's CONNECT proxy ${proxy} us each, ratio $(python3 -c "print(round($proxy/$direct,2))")"
