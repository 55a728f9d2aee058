# onside-agent %post: systemd reads the new unit. A first install does not enable or start the
# service (it needs credentials first); "systemctl preset" applies the distribution's policy.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ]; then
	systemctl --no-reload preset onside-agent.service >/dev/null 2>&1 || :
fi
exit 0
