#!/bin/sh
# The demo: builds onside-agent, starts the local stand-in of the Onside API on 127.0.0.1, delivers
# the bundled example log with the bundled example configuration (pointed at the stand-in), and shows
# what arrived, what was skipped and what went to the dead-letter file.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DONSIDE_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target onside-agent >/dev/null
work=$(mktemp -d /tmp/onside-demo.XXXXXX)
standin_pid=
cleanup() {
	[ -n "$standin_pid" ] && kill "$standin_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

mkdir -p "$work/state" "$work/log"
cp tests/data/example/purchases.log "$work/log/purchases.log"
python3 tests/standin/standin.py --port 0 --port-file "$work/port" --user acme --password demo-secret \
	--record "$work/received.jsonl" --log "$work/standin.log" &
standin_pid=$!
i=0
while [ ! -s "$work/port" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && { echo "the stand-in did not start" >&2; exit 1; }
	sleep 0.1
done
port=$(cat "$work/port")

# The bundled example configuration, pointed at the stand-in, the demo log and a scratch state dir.
sed -e "s|url: https://onside.io/attribution-api/v1/events|url: http://127.0.0.1:$port/attribution-api/v1/events|" \
	-e "s|password_file: /etc/onside-agent/password|password_env: ONSIDE_DEMO_PASSWORD|" \
	-e "s|allow_insecure_http: false|allow_insecure_http: true|" \
	-e "s|state_dir: /var/lib/onside-agent|state_dir: $work/state|" \
	-e "s|paths: \[/var/log/shop/purchases.log\]|paths: [$work/log/purchases.log]|" \
	config/agent.yaml >"$work/agent.yaml"

echo "== onside-agent check"
ONSIDE_DEMO_PASSWORD=demo-secret build/onside-agent check -c "$work/agent.yaml"
echo "== onside-agent run --once (the example log: $(wc -l <"$work/log/purchases.log") lines)"
ONSIDE_DEMO_PASSWORD=demo-secret build/onside-agent run --once -c "$work/agent.yaml"
echo "== events received by the stand-in ($(wc -l <"$work/received.jsonl"))"
cat "$work/received.jsonl"
echo "== dead-letter file"
cat "$work/state/dead-letter.jsonl" 2>/dev/null || echo "(empty)"
echo "== checkpoint"
cat "$work/state/checkpoint.json"
echo "== status"
ONSIDE_DEMO_PASSWORD=demo-secret build/onside-agent status -c "$work/agent.yaml" || true
echo "(demo files in $work)"
