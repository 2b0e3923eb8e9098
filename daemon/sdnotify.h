/* systemd notify protocol without libsystemd: one datagram to $NOTIFY_SOCKET
 * ("@name" is the abstract namespace). All calls are no-ops returning 0 when the
 * variable is unset, so the daemon runs the same outside systemd. */
#ifndef AW_SDNOTIFY_H
#define AW_SDNOTIFY_H

#include <stdint.h>

/* Send `state` ("READY=1", "STOPPING=1", "STATUS=...", ...). 0 or -1. */
int aw_sdnotify(const char *state);
/* "RELOADING=1\nMONOTONIC_USEC=<CLOCK_MONOTONIC in µs>", as Type=notify-reload needs. */
int aw_sdnotify_reloading(void);
/* The watchdog interval systemd asked for ($WATCHDOG_USEC, honouring $WATCHDOG_PID),
 * or 0 when the watchdog is off. */
uint64_t aw_sdnotify_watchdog_usec(void);

#endif
