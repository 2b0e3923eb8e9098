/* systemd notify protocol: one datagram per state change to $NOTIFY_SOCKET. */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Fill sa from $NOTIFY_SOCKET: an absolute path, or "@name" for the abstract
 * namespace (leading NUL, no terminator counted). 1 when set, 0 when unset, -1 when
 * unusable. */
static int notify_addr(struct sockaddr_un *sa, socklen_t *salen)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	if (!path || !*path)
		return 0;
	n = strlen(path);
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (path[0] == '@') {
		/* '@' becomes the NUL: the name takes n bytes of sun_path. */
		if (n < 2 || n > sizeof sa->sun_path)
			return -1;
		memcpy(sa->sun_path, path, n);
		sa->sun_path[0] = '\0';
		*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else if (path[0] == '/') {
		if (n >= sizeof sa->sun_path)
			return -1;
		memcpy(sa->sun_path, path, n + 1);
		*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	} else {
		return -1;
	}
	return 1;
}

int aw_sdnotify(const char *state)
{
	struct sockaddr_un sa;
	socklen_t salen = 0;
	size_t len;
	ssize_t sent;
	int fd, rc;

	rc = notify_addr(&sa, &salen);
	if (rc <= 0)
		return rc;
	if (!state)
		return -1;
	len = strlen(state);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	do {
		sent = sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen);
	} while (sent < 0 && errno == EINTR);
	close(fd);
	return sent == (ssize_t)len ? 0 : -1;
}

int aw_sdnotify_reloading(void)
{
	struct timespec ts;
	char msg[96];

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return -1;
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
		     (unsigned long long)ts.tv_nsec / 1000ULL);
	return aw_sdnotify(msg);
}

/* Decimal digits only: strtoull alone would accept "-1", " 5" and "+5". */
static int parse_u64(const char *s, unsigned long long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || *end != '\0')
		return -1;
	return 0;
}

uint64_t aw_sdnotify_watchdog_usec(void)
{
	const char *pid_s = getenv("WATCHDOG_PID");
	unsigned long long usec, pid;

	/* The watchdog belongs to the process systemd named, not to its children. */
	if (pid_s && *pid_s) {
		if (parse_u64(pid_s, &pid) != 0 || pid != (unsigned long long)getpid())
			return 0;
	}
	if (parse_u64(getenv("WATCHDOG_USEC"), &usec) != 0)
		return 0;
	return (uint64_t)usec;
}
