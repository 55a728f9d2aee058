/* systemd readiness (Type=notify) without libsystemd: a datagram to $NOTIFY_SOCKET. No-ops when the
 * variable is not set. */
#ifndef ONSIDE_NOTIFY_H
#define ONSIDE_NOTIFY_H

int notify_send(const char *state);
static inline int notify_ready(void) { return notify_send("READY=1"); }
static inline int notify_stopping(void) { return notify_send("STOPPING=1"); }

#endif
