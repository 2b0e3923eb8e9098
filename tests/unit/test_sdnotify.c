/* systemd notify: datagrams to a path or abstract socket, RELOADING timestamps,
 * no-op without $NOTIFY_SOCKET, watchdog settings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sdnotify.h"
#include "testutil.h"

static char *dir;
static int rx = -1;

static void setup(void)
{
	dir = aw_test_tmpdir();
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

static void teardown(void)
{
	if (rx >= 0)
		close(rx);
	rx = -1;
	aw_test_rmtree(dir);
	free(dir);
}

/* A receiving socket, as systemd would hold; `name` starting with '@' is abstract. */
static void listen_on(const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len;
	size_t n = strlen(name);
	struct timeval tv = {.tv_sec = 5};

	rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(rx, 0);
	ck_assert_uint_lt(n, sizeof sa.sun_path);
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@') {
		sa.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		len = (socklen_t)sizeof sa;
	}
	ck_assert_int_eq(bind(rx, (struct sockaddr *)&sa, len), 0);
	ck_assert_int_eq(setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
}

static void expect(const char *msg)
{
	char buf[256];
	ssize_t n = recv(rx, buf, sizeof buf - 1, 0);

	ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
	buf[n] = '\0';
	ck_assert_str_eq(buf, msg);
}

static unsigned long long mono_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}

static void lifecycle(void)
{
	ck_assert_int_eq(aw_sdnotify("READY=1\nSTATUS=running"), 0);
	expect("READY=1\nSTATUS=running");

	unsigned long long before = mono_usec();
	ck_assert_int_eq(aw_sdnotify_reloading(), 0);
	unsigned long long after = mono_usec();
	char buf[256];
	ssize_t n = recv(rx, buf, sizeof buf - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	unsigned long long usec = 0;
	int used = 0;
	ck_assert_int_eq(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu%n", &usec, &used), 1);
	ck_assert_int_eq(used, (int)n);
	ck_assert_uint_ge(usec, before);
	ck_assert_uint_le(usec, after);

	ck_assert_int_eq(aw_sdnotify("STOPPING=1"), 0);
	expect("STOPPING=1");
}

START_TEST(path_socket)
{
	char *p;
	ck_assert_int_ge(asprintf(&p, "%s/notify", dir), 0);
	listen_on(p);
	lifecycle();
	free(p);
}
END_TEST

START_TEST(abstract_socket)
{
	char name[64];
	snprintf(name, sizeof name, "@aiwatch-test-%d-%ld", (int)getpid(), (long)time(NULL));
	listen_on(name);
	lifecycle();
}
END_TEST

START_TEST(unset_is_a_noop)
{
	ck_assert_int_eq(aw_sdnotify("READY=1"), 0);
	ck_assert_int_eq(aw_sdnotify_reloading(), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	ck_assert_int_eq(aw_sdnotify("READY=1"), 0);
}
END_TEST

START_TEST(unusable_socket_fails)
{
	char *p;
	char longp[200];

	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	ck_assert_int_eq(aw_sdnotify("READY=1"), -1);
	memset(longp, 'a', sizeof longp - 1);
	longp[0] = '/';
	longp[sizeof longp - 1] = '\0';
	setenv("NOTIFY_SOCKET", longp, 1);
	ck_assert_int_eq(aw_sdnotify("READY=1"), -1);
	longp[0] = '@';
	setenv("NOTIFY_SOCKET", longp, 1);
	ck_assert_int_eq(aw_sdnotify("READY=1"), -1);
	setenv("NOTIFY_SOCKET", "@", 1);
	ck_assert_int_eq(aw_sdnotify("READY=1"), -1);
	ck_assert_int_ge(asprintf(&p, "%s/nobody-listens", dir), 0);
	setenv("NOTIFY_SOCKET", p, 1);
	ck_assert_int_eq(aw_sdnotify("READY=1"), -1);
	free(p);
}
END_TEST

START_TEST(watchdog_settings)
{
	char pid[32];

	ck_assert_uint_eq(aw_sdnotify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	ck_assert_uint_eq(aw_sdnotify_watchdog_usec(), 30000000);

	snprintf(pid, sizeof pid, "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	ck_assert_uint_eq(aw_sdnotify_watchdog_usec(), 30000000);
	/* Meant for another process (our parent, say): not ours to feed. */
	snprintf(pid, sizeof pid, "%d", (int)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	ck_assert_uint_eq(aw_sdnotify_watchdog_usec(), 0);
	setenv("WATCHDOG_PID", "garbage", 1);
	ck_assert_uint_eq(aw_sdnotify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");

	const char *bad[] = {"", "abc", "-5", " 5", "+5", "12x", "99999999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("WATCHDOG_USEC", bad[i], 1);
		ck_assert_msg(aw_sdnotify_watchdog_usec() == 0, "accepted \"%s\"", bad[i]);
	}
}
END_TEST

static Suite *sdnotify_suite(void)
{
	Suite *s = suite_create("sdnotify");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, path_socket);
	tcase_add_test(tc, abstract_socket);
	tcase_add_test(tc, unset_is_a_noop);
	tcase_add_test(tc, unusable_socket_fails);
	tcase_add_test(tc, watchdog_settings);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(sdnotify_suite)
