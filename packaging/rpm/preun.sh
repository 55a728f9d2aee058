# onside-agent %preun: erasing the package (not upgrading it) stops and disables the service.
if [ "$1" -eq 0 ]; then
	systemctl --no-reload disable onside-agent.service >/dev/null 2>&1 || :
	if [ -d /run/systemd/system ]; then
		systemctl stop onside-agent.service >/dev/null 2>&1 || :
	fi
fi
exit 0
