# onside-agent %postun: after an upgrade, a running service is restarted on the new binary. The
# user and /var/lib/onside-agent (checkpoint, dead letters) are kept on erase, as the Fedora and
# RHEL packaging guidelines ask; remove them by hand if the agent is gone for good.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
	if [ "$1" -ge 1 ]; then
		systemctl try-restart onside-agent.service >/dev/null 2>&1 || :
	fi
fi
exit 0
