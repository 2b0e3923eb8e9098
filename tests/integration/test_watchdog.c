/* systemd's watchdog really fires when the loop stalls: aiwatchd is started as systemd
 * starts a Type=notify service with WatchdogSec= (NOTIFY_SOCKET, WATCHDOG_USEC,
 * WATCHDOG_PID), the test plays systemd's side of the socket, and the daemon's test
 * hook (AIWATCH_DEBUG_STALL_SIGNAL=1, then SIGUSR2) blocks the loop for 3 s. During
 * the stall no WATCHDOG=1 arrives for longer than WATCHDOG_USEC, which is exactly when
 * systemd kills and restarts a service; afterwards the pings resume on their own. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../unit/testutil.h"

#define WATCHDOG_USEC 1000000 /* systemd's WatchdogSec=1s; the daemon pings every 500 ms */
#define STALL_MS      3000
#define MAX_PINGS     256

struct notify_log {
	int fd;
	char *path;
	int64_t pings[MAX_PINGS]; /* CLOCK_MONOTONIC ms of each WATCHDOG=1 */
	size_t npings;
	bool ready;
	bool stopping;
	char last[512]; /* the last datagram, for messages */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void notify_open(struct notify_log *n, const char *dir)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(n, 0, sizeof *n);
	ck_assert_int_ge(asprintf(&n->path, "%s/notify.sock", dir), 0);
	ck_assert_uint_lt(strlen(n->path), sizeof sa.sun_path);
	memcpy(sa.sun_path, n->path, strlen(n->path) + 1);
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(n->fd, 0);
	ck_assert_msg(bind(n->fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind %s: %s", n->path,
		      strerror(errno));
}

static void notify_close(struct notify_log *n)
{
	if (n->fd >= 0)
		close(n->fd);
	free(n->path);
}

/* Read datagrams until `until` (CLOCK_MONOTONIC ms), or until READY=1 when
 * stop_at_ready. Each message may hold several newline-separated assignments. */
static void notify_collect(struct notify_log *n, int64_t until, bool stop_at_ready)
{
	for (int64_t t = now_ms(); t < until; t = now_ms()) {
		struct pollfd pfd = {.fd = n->fd, .events = POLLIN};
		char buf[512];
		ssize_t r;

		if (poll(&pfd, 1, (int)(until - t)) <= 0)
			continue;
		r = recv(n->fd, buf, sizeof buf - 1, 0);
		if (r < 0)
			continue;
		buf[r] = '\0';
		memcpy(n->last, buf, (size_t)r + 1);
		if (strstr(buf, "WATCHDOG=1") && n->npings < MAX_PINGS)
			n->pings[n->npings++] = now_ms();
		if (strstr(buf, "STOPPING=1"))
			n->stopping = true;
		if (strstr(buf, "READY=1")) {
			n->ready = true;
			if (stop_at_ready)
				return;
		}
	}
}

/* Longest time between consecutive pings i-1, i for i in (from, npings). */
static int64_t longest_gap(const struct notify_log *n, size_t from, size_t *at)
{
	int64_t gap = 0;

	for (size_t i = from + 1; i < n->npings; i++) {
		if (n->pings[i] - n->pings[i - 1] > gap) {
			gap = n->pings[i] - n->pings[i - 1];
			*at = i;
		}
	}
	return gap;
}

/* Start $AIWATCHD as systemd would: WATCHDOG_PID is the daemon's own pid. */
static void spawn(struct aw_test_daemon *d, const char *log, const char *config, const char *notify,
		  bool hook)
{
	const char *bin = getenv("AIWATCHD");

	ck_assert_msg(bin && *bin, "AIWATCHD is not set (run through meson test)");
	memset(d, 0, sizeof *d);
	d->log_path = strdup(log);
	ck_assert_ptr_nonnull(d->log_path);
	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid == 0) {
		char pid[32];
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDWR);

		if (fd < 0 || nul < 0)
			_exit(127);
		dup2(fd, 2);
		dup2(nul, 0);
		dup2(nul, 1);
		snprintf(pid, sizeof pid, "%ld", (long)getpid());
		setenv("NOTIFY_SOCKET", notify, 1);
		setenv("WATCHDOG_PID", pid, 1);
		setenv("WATCHDOG_USEC", "1000000", 1);
		if (hook) {
			setenv("AIWATCH_DEBUG_STALL_SIGNAL", "1", 1);
			setenv("AIWATCH_DEBUG_STALL_MS", "3000", 1);
		} else {
			unsetenv("AIWATCH_DEBUG_STALL_SIGNAL");
			unsetenv("AIWATCH_DEBUG_STALL_MS");
		}
		execl(bin, bin, "--config", config, (char *)NULL);
		_exit(127);
	}
}

struct env {
	char *dir;
	char *config;
	char *log;
};

static void env_init(struct env *e)
{
	char *yaml;

	e->dir = aw_test_tmpdir();
	ck_assert_int_ge(asprintf(&e->config, "%s/aiwatchd.yaml", e->dir), 0);
	ck_assert_int_ge(asprintf(&e->log, "%s/daemon.log", e->dir), 0);
	free(aw_test_write(e->dir, "input.jsonl", "", 0600));
	ck_assert_int_ge(asprintf(&yaml,
				  "state_directory: %s/state\n"
				  "http_listen: 127.0.0.1:0\n"
				  "shutdown_timeout: 5s\n"
				  "rules:\n  paths: []\n"
				  "inputs:\n"
				  "  - type: file\n    name: in\n    paths: [%s/input.jsonl]\n"
				  "outputs:\n"
				  "  - type: file\n    name: out\n    path: %s/alerts.jsonl\n",
				  e->dir, e->dir, e->dir),
			 0);
	free(aw_test_write(NULL, e->config, yaml, 0600));
	free(yaml);
}

static void env_free(struct env *e)
{
	aw_test_rmtree(e->dir);
	free(e->dir);
	free(e->config);
	free(e->log);
}

static char *log_text(const struct env *e)
{
	char *s = aw_test_read(e->log, NULL);
	return s ? s : strdup("");
}

START_TEST(watchdog_pings_stop_while_the_loop_stalls)
{
	struct env e;
	struct notify_log n;
	struct aw_test_daemon d;
	size_t before, at = 0;
	int64_t t, gap;
	char *log;

	env_init(&e);
	notify_open(&n, e.dir);
	spawn(&d, e.log, e.config, n.path, true);

	/* Healthy: READY=1, then a ping at least every WATCHDOG_USEC. */
	notify_collect(&n, now_ms() + 10000, true);
	log = log_text(&e);
	ck_assert_msg(n.ready, "no READY=1 from the daemon; log:\n%s", log);
	ck_assert_msg(strstr(log, "test hook on (AIWATCH_DEBUG_STALL_SIGNAL=1)"),
		      "the daemon does not announce its test hook; log:\n%s", log);
	free(log);
	notify_collect(&n, now_ms() + 2500, false);
	ck_assert_msg(n.npings >= 4, "%zu WATCHDOG=1 pings in 2.5 s (want one per 500 ms)",
		      n.npings);
	gap = longest_gap(&n, 0, &at);
	ck_assert_msg(gap < WATCHDOG_USEC / 1000,
		      "before the stall, pings %zu and %zu are %lld ms apart (over WatchdogSec)",
		      at - 1, at, (long long)gap);

	/* Stall the loop for 3 s and keep listening through it and 2.5 s beyond. */
	before = n.npings;
	t = now_ms();
	ck_assert_int_eq(kill(d.pid, SIGUSR2), 0);
	notify_collect(&n, t + STALL_MS + 2500, false);
	log = log_text(&e);
	ck_assert_msg(strstr(log, "test hook: stalling the event loop"), "log:\n%s", log);
	ck_assert_msg(strstr(log, "test hook: event loop running again"), "log:\n%s", log);
	free(log);
	/* From the last ping before SIGUSR2: the silence covers the stall (less the
	 * time the signal took to reach the loop) and is far over WATCHDOG_USEC, so
	 * systemd would have declared the service hung. */
	gap = longest_gap(&n, before - 1, &at);
	ck_assert_msg(gap >= STALL_MS - 300,
		      "longest silence after SIGUSR2 is %lld ms; a %d ms stall must stop the "
		      "pings",
		      (long long)gap, STALL_MS);
	ck_assert_msg(gap > WATCHDOG_USEC / 1000 * 2,
		      "silence %lld ms would not trip a %d ms watchdog", (long long)gap,
		      WATCHDOG_USEC / 1000);
	ck_assert_msg(n.pings[at] - t >= STALL_MS - 300,
		      "a ping arrived %lld ms after SIGUSR2, inside the %d ms stall",
		      (long long)(n.pings[at] - t), STALL_MS);
	/* ...and the pings come back at their usual rate without any help. */
	ck_assert_msg(n.npings - at >= 3, "only %zu pings after the stall ended", n.npings - at);
	for (size_t i = at + 1; i < n.npings; i++)
		ck_assert_msg(n.pings[i] - n.pings[i - 1] < WATCHDOG_USEC / 1000,
			      "after the stall, pings %zu and %zu are %lld ms apart", i - 1, i,
			      (long long)(n.pings[i] - n.pings[i - 1]));

	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 15000), 0);
	notify_collect(&n, now_ms() + 200, false);
	ck_assert_msg(n.stopping, "no STOPPING=1; last datagram: %s", n.last);
	aw_test_daemon_free(&d);
	notify_close(&n);
	env_free(&e);
}
END_TEST

/* Without the variable the hook does not exist: no announcement, and SIGUSR2 keeps its
 * default action (the daemon dies of it rather than freezing under systemd). */
START_TEST(hook_is_off_by_default)
{
	struct env e;
	struct notify_log n;
	struct aw_test_daemon d;
	char *log;

	env_init(&e);
	notify_open(&n, e.dir);
	spawn(&d, e.log, e.config, n.path, false);
	notify_collect(&n, now_ms() + 10000, true);
	ck_assert(n.ready);
	ck_assert_int_eq(kill(d.pid, SIGUSR2), 0);
	ck_assert_int_eq(aw_test_daemon_stop(&d, 0, 5000), 128 + SIGUSR2);
	log = log_text(&e);
	ck_assert_msg(strstr(log, "test hook") == NULL, "log:\n%s", log);
	free(log);
	aw_test_daemon_free(&d);
	notify_close(&n);
	env_free(&e);
}
END_TEST

static Suite *watchdog_suite(void)
{
	Suite *s = suite_create("watchdog");
	TCase *tc = tcase_create("stall");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, watchdog_pings_stop_while_the_loop_stalls);
	tcase_add_test(tc, hook_is_off_by_default);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(watchdog_suite)
