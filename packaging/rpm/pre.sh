# onside-agent %pre: the system user and group exist before the files that they own are installed.
getent group onside-agent >/dev/null || groupadd -r onside-agent
getent passwd onside-agent >/dev/null || \
	useradd -r -g onside-agent -d /var/lib/onside-agent -M -s /sbin/nologin \
		-c "onside-agent log forwarder" onside-agent
exit 0
