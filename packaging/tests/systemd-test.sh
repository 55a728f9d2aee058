#!/bin/sh
# The unit under a real systemd: boots a Debian 12 root with systemd-nspawn (this host's PID 1 need not
# be systemd), installs the portable .deb (build-portable/, from scripts/build-portable.sh; or the
# .deb given as argument) and checks, driving the container with nsenter:
#   1. a valid configuration starts (Type=notify, the whole sandbox of the unit) and delivers to the
#      API stand-in on 127.0.0.1 (the container shares this host's network);
#   2. `systemctl reload` with an invalid configuration fails (exit status not 0), the journal holds
#      check's FILE:LINE:COLUMN message, and the agent keeps running, same PID, on the old one;
#      a valid one then reloads (exit 0, "reloaded" in the journal);
#   3. a start with an invalid configuration fails once: exit status 2, unit failed, no restart
#      (NRestarts stays 0 for more than two RestartSec periods).
# Needs root, debootstrap and systemd-container (systemd-nspawn, nsenter from util-linux):
#   packaging/tests/systemd-test.sh [PACKAGE.deb]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

deb=${1:-$(ls "$top"/build-portable/onside-agent_*_amd64.deb 2>/dev/null | head -n1)}
[ -n "$deb" ] && [ -f "$deb" ] || die "no .deb: run scripts/build-portable.sh (or name one)"
command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing (apt-get install systemd-container)"
work=$(mktemp -d /tmp/onside-systemd-test.XXXXXX)
password="systemd-test-$$"
nspawn_pid="" standin_pid="" pid1=""
cleanup() {
	if [ -n "$pid1" ]; then
		nsenter -t "$pid1" -a systemctl poweroff >/dev/null 2>&1 || true
	fi
	if [ -n "$nspawn_pid" ]; then
		i=0
		while kill -0 "$nspawn_pid" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill "$nspawn_pid" 2>/dev/null || true
		wait "$nspawn_pid" 2>/dev/null || true
	fi
	if [ -n "$standin_pid" ]; then
		kill "$standin_pid" 2>/dev/null || true
		wait "$standin_pid" 2>/dev/null || true
	fi
	umount_all
}
trap cleanup EXIT
trap 'exit 130' INT TERM
need_host_tools

# ---- the root: Debian 12 with systemd and the package ----
ensure_base_root bookworm
r=$(fresh_root bookworm base systemd)
mount_root "$r"
cp "$deb" "$r/tmp/"
say "installing systemd and $(basename "$deb") into $r"
in_root "$r" sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends systemd dbus \
	/tmp/$(basename "$deb")" >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log"; die "apt-get install failed"; }
umount_root "$r"
in_root "$r" systemctl --version | head -n1 | sed 's/^/   /'

# ---- the API stand-in on the host's loopback ----
python3 "$top/tests/standin/standin.py" --port 0 --port-file "$work/port" --user acme --password "$password" \
	--record "$work/record.jsonl" --log "$work/standin.log" &
standin_pid=$!
i=0
while [ ! -s "$work/port" ]; do
	i=$((i + 1))
	[ $i -le 100 ] || die "the stand-in did not start"
	sleep 0.1
done
port=$(cat "$work/port")

# ---- configuration and a log file, written from outside ----
conf=$r/etc/onside-agent/agent.yaml
write_config() { # $1: an extra line under the input (or nothing)
	cat >"$conf" <<YAML
endpoint:
  url: http://127.0.0.1:$port/attribution-api/v1/events
  allow_insecure_http: true
  username: acme
  password_file: /etc/onside-agent/password
batch:
  flush_interval: 100ms
inputs:
  - name: purchases
    paths: [/var/log/shop/purchases.log]
    parser:
      type: json
    event:
      event_name: \${event}
      event_datetime: \${ts}
      installation_id: \${install_id}
      payload: [order_id]
$1
YAML
}
write_config ""
printf '%s\n' "$password" >"$r/etc/onside-agent/password"
in_root "$r" chown root:onside-agent /etc/onside-agent/password /etc/onside-agent/agent.yaml
chmod 0640 "$r/etc/onside-agent/password" "$conf"
mkdir -p "$r/var/log/shop"
line() {
	printf '{"ts":"2026-05-05T12:00:0%sZ","event":"purchase_completed","install_id":"0b5e3c1a-6a8e-4c55-9f3e-2d7c8a1b4e6%s","order_id":"A-%s"}\n' "$1" "$1" "$1" >>"$r/var/log/shop/purchases.log"
}
line 1
line 2
in_root "$r" chown root:adm /var/log/shop/purchases.log
chmod 0640 "$r/var/log/shop/purchases.log"

# ---- boot ----
say "booting $r with systemd-nspawn"
systemd-nspawn -D "$r" -b --register=no --keep-unit --console=pipe -q >"$work/console.log" 2>&1 </dev/null &
nspawn_pid=$!
i=0
while [ -z "$pid1" ]; do
	# the container's init is nspawn's child
	pid1=$(pgrep -P "$nspawn_pid" 2>/dev/null | head -n1 || true)
	i=$((i + 1))
	[ $i -le 300 ] || { cat "$work/console.log"; die "the container's systemd did not come up"; }
	[ -n "$pid1" ] || sleep 0.1
done
ct() { nsenter -t "$pid1" -a "$@"; }
# systemctl needs the manager's socket, which appears a moment after PID 1 starts
i=0
until ct test -S /run/systemd/private 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 300 ] || die "no /run/systemd/private in the container"
	sleep 0.1
done
state=$(ct systemctl is-system-running --wait 2>/dev/null || true)
say "container systemd (pid $pid1 on the host) is $state"
wait_count() { # events expected at the stand-in
	i=0
	while [ "$(cat "$work/record.jsonl" 2>/dev/null | wc -l)" -lt "$1" ]; do
		i=$((i + 1))
		[ $i -le 300 ] || die "the stand-in has $(wc -l <"$work/record.jsonl") events, expected $1"
		sleep 0.1
	done
}
show() { ct systemctl show -p "$1" --value onside-agent; }
ok() { echo "ok: $*"; }

# 1. a valid configuration starts and delivers
say "1. systemctl start with a valid configuration"
ct systemctl start onside-agent || { ct journalctl -u onside-agent --no-pager | tail -n 20; die "start failed"; }
[ "$(show ActiveState)" = active ] || die "not active after start: $(show ActiveState)"
wait_count 2
pid=$(show MainPID)
ok "active (pid $pid), 2 events delivered, as user $(ct ps -o user= -p "$pid" 2>/dev/null || show User)"

# 2. reload: refused visibly, then accepted
say "2. systemctl reload with an invalid configuration"
write_config "    frobnicate: yes"
set +e
ct systemctl reload onside-agent 2>"$work/reload.err"
rc=$?
set -e
sed 's/^/   /' "$work/reload.err"
[ "$rc" != 0 ] || die "systemctl reload returned 0 for a configuration the agent refuses"
ok "systemctl reload exited $rc"
ct journalctl -u onside-agent --no-pager -o cat | grep -E '^/etc/onside-agent/agent.yaml:18:5: .*frobnicate' |
	sed 's/^/   journal: /' | grep . || die "the journal has no FILE:LINE:COLUMN message of the refused configuration"
[ "$(show ActiveState)" = active ] && [ "$(show MainPID)" = "$pid" ] || die "the agent did not keep running"
line 3
wait_count 3
ok "still active, same pid $pid, still delivering on the old configuration"
write_config ""
ct systemctl reload onside-agent || die "systemctl reload of a valid configuration failed"
i=0
until ct journalctl -u onside-agent --no-pager -o cat | grep -q 'reloaded /etc/onside-agent/agent.yaml'; do
	i=$((i + 1))
	[ $i -le 100 ] || die "no \"reloaded\" in the journal"
	sleep 0.1
done
ok "a valid configuration reloads: exit 0, \"reloaded\" in the journal"

# 3. a start with an invalid configuration fails once, no restart loop
say "3. systemctl start with an invalid configuration"
ct systemctl stop onside-agent
ct systemctl reset-failed onside-agent 2>/dev/null || true
write_config "    frobnicate: yes"
set +e
ct systemctl start onside-agent 2>"$work/start.err"
rc=$?
set -e
sed 's/^/   /' "$work/start.err"
[ "$rc" != 0 ] || die "systemctl start returned 0 for an invalid configuration"
[ "$(show ExecMainStatus)" = 2 ] || die "main process exit status $(show ExecMainStatus), expected 2"
restart_sec=$(show RestartUSec)
sleep 12 # more than two RestartSec=5s periods: a restart would have happened by now
[ "$(show ActiveState)" = failed ] || die "state $(show ActiveState) after 12 s, expected failed"
[ "$(show NRestarts)" = 0 ] || die "restarted $(show NRestarts) times"
starts=$(ct journalctl -u onside-agent --no-pager -o cat | grep -c 'Starting onside-agent' || true)
ok "start failed (exit $rc), main process exit status 2, unit failed, NRestarts 0 after 12 s (RestartSec $restart_sec); $starts starts in the journal in all"
ct journalctl -u onside-agent --no-pager -o short-monotonic | tail -n 8 | sed 's/^/   /'
say "PASS: systemd $(ct systemctl --version | head -n1 | cut -d' ' -f2): start, reload refused and accepted, no restart loop"
