/* The real aiwatchd binary, driven as an operator would: start it on a config, feed a
 * file, read what comes out, reload it with SIGHUP, stop it with SIGTERM, ask
 * /metrics and /healthz, run `aiwatchd check`. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit/testutil.h"

/* A Log Analytics record: enough for the file input and forward mode. */
static char *la_line(unsigned i)
{
	char *s;

	ck_assert_int_ge(asprintf(&s,
				  "{\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":"
				  "\"2026-11-29T04:00:%02u.000Z\",\"_ItemId\":\"item-%u\","
				  "\"Category\":\"RequestResponse\",\"ResultSignature\":\"200\"}\n",
				  i % 60, i),
			 0);
	return s;
}

static void append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static void append_records(const char *path, unsigned from, unsigned n)
{
	for (unsigned i = from; i < from + n; i++) {
		char *l = la_line(i);
		append(path, l);
		free(l);
	}
}

struct env {
	char *dir;
	char *input;
	char *out_a;
	char *out_b;
	char *config;
	char *log;
};

static void env_init(struct env *e)
{
	e->dir = aw_test_tmpdir();
	ck_assert_int_ge(asprintf(&e->input, "%s/input.jsonl", e->dir), 0);
	ck_assert_int_ge(asprintf(&e->out_a, "%s/out-a.jsonl", e->dir), 0);
	ck_assert_int_ge(asprintf(&e->out_b, "%s/out-b.jsonl", e->dir), 0);
	ck_assert_int_ge(asprintf(&e->config, "%s/aiwatchd.yaml", e->dir), 0);
	ck_assert_int_ge(asprintf(&e->log, "%s/daemon.log", e->dir), 0);
	free(aw_test_write(NULL, e->input, "", 0600));
}

static void env_free(struct env *e)
{
	aw_test_rmtree(e->dir);
	free(e->dir);
	free(e->input);
	free(e->out_a);
	free(e->out_b);
	free(e->config);
	free(e->log);
}

/* The config used by most tests: one file input following `input`, one file output. */
static void write_config(const struct env *e, const char *out_path, const char *extra)
{
	char *yaml;

	ck_assert_int_ge(asprintf(&yaml,
				  "log:\n  level: debug\n"
				  "state_directory: %s/state\n"
				  "http_listen: 127.0.0.1:0\n"
				  "shutdown_timeout: 5s\n"
				  "pipeline:\n  forward_events: true\n"
				  "rules:\n  paths: []\n"
				  "inputs:\n"
				  "  - type: file\n    name: in\n    paths: [%s]\n"
				  "    poll_interval: 50ms\n"
				  "outputs:\n"
				  "  - type: file\n    name: out\n    path: %s\n%s",
				  e->dir, e->input, out_path, extra ? extra : ""),
			 0);
	free(aw_test_write(NULL, e->config, yaml, 0600));
	free(yaml);
}

static void start(struct aw_test_daemon *d, const struct env *e)
{
	const char *args[] = {"--config", e->config, NULL};

	aw_test_daemon_start(d, e->log, args);
	aw_test_daemon_port(d);
}

static char *log_text(const struct env *e)
{
	char *s = aw_test_read(e->log, NULL);
	return s ? s : strdup("");
}

START_TEST(sigterm_drains_and_exits_zero)
{
	struct env e;
	struct aw_test_daemon d;

	env_init(&e);
	append_records(e.input, 0, 200);
	write_config(&e, e.out_a, NULL);
	start(&d, &e);
	ck_assert_uint_eq(aw_test_wait_lines(e.out_a, 200, 10000), 200);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 10000), 0);
	char *log = log_text(&e);
	ck_assert_msg(strstr(log, "stopping: draining outputs"), "%s", log);
	ck_assert_msg(strstr(log, "aiwatchd stopped"), "%s", log);
	free(log);
	/* Each record arrives once, as the event it was. */
	char *out = aw_test_read(e.out_a, NULL);
	ck_assert_ptr_nonnull(strstr(out, "\"_ItemId\":\"item-0\""));
	ck_assert_ptr_nonnull(strstr(out, "\"_ItemId\":\"item-199\""));
	free(out);
	aw_test_daemon_free(&d);
	env_free(&e);
}
END_TEST

START_TEST(restart_resumes_from_checkpoint)
{
	struct env e;
	struct aw_test_daemon d;

	env_init(&e);
	append_records(e.input, 0, 50);
	write_config(&e, e.out_a, NULL);
	start(&d, &e);
	ck_assert_uint_eq(aw_test_wait_lines(e.out_a, 50, 10000), 50);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 10000), 0);
	aw_test_daemon_free(&d);

	/* Restart with 10 more lines: only those are read. */
	append_records(e.input, 50, 10);
	start(&d, &e);
	ck_assert_uint_eq(aw_test_wait_lines(e.out_a, 60, 10000), 60);
	aw_test_sleep_ms(500);
	ck_assert_uint_eq(aw_test_count_lines(e.out_a), 60);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 10000), 0);
	aw_test_daemon_free(&d);
	env_free(&e);
}
END_TEST

START_TEST(sighup_valid_config_changes_behaviour)
{
	struct env e;
	struct aw_test_daemon d;

	env_init(&e);
	append_records(e.input, 0, 5);
	write_config(&e, e.out_a, NULL);
	start(&d, &e);
	ck_assert_uint_eq(aw_test_wait_lines(e.out_a, 5, 10000), 5);

	/* Point the output elsewhere; the input is unchanged and keeps its position. */
	write_config(&e, e.out_b, NULL);
	kill(d.pid, SIGHUP);
	ck_assert_msg(aw_test_wait_log(&d, "configuration reloaded", 10000), "no reload");
	append_records(e.input, 5, 3);
	ck_assert_uint_eq(aw_test_wait_lines(e.out_b, 3, 10000), 3);
	ck_assert_uint_eq(aw_test_count_lines(e.out_a), 5);
	ck_assert_double_eq(aw_test_metric(d.port, "aiwatch_reloads_total{result=\"success\"}"), 1);
	char *log = log_text(&e);
	/* The unchanged input was not restarted. */
	ck_assert_msg(!strstr(log, "instance changed; replacing it name=in"), "%s", log);
	free(log);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 10000), 0);
	aw_test_daemon_free(&d);
	env_free(&e);
}
END_TEST

START_TEST(sighup_invalid_config_keeps_old)
{
	struct env e;
	struct aw_test_daemon d;

	env_init(&e);
	write_config(&e, e.out_a, NULL);
	start(&d, &e);

	/* An unknown key on line 3 and a bad duration on line 5. */
	free(aw_test_write(NULL, e.config,
			   "log:\n  level: info\nbogus_key: 1\nhttp_listen: 127.0.0.1:0\n"
			   "shutdown_timeout: soon\n",
			   0600));
	kill(d.pid, SIGHUP);
	ck_assert_msg(aw_test_wait_log(&d, "reload rejected", 10000), "no rejection logged");
	char *log = log_text(&e);
	ck_assert_msg(strstr(log, "aiwatchd.yaml:3:1"), "line of the unknown key missing:\n%s", log);
	ck_assert_msg(strstr(log, "bogus_key"), "%s", log);
	ck_assert_msg(strstr(log, "aiwatchd.yaml:5:"), "line of the bad duration missing:\n%s", log);
	free(log);

	/* Still serving on the old configuration. */
	append_records(e.input, 0, 4);
	ck_assert_uint_eq(aw_test_wait_lines(e.out_a, 4, 10000), 4);
	ck_assert_int_eq(aw_test_http_get(d.port, "/healthz", NULL), 200);
	ck_assert_double_eq(aw_test_metric(d.port, "aiwatch_reloads_total{result=\"failure\"}"), 1);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 10000), 0);
	aw_test_daemon_free(&d);
	env_free(&e);
}
END_TEST

START_TEST(sighups_are_coalesced_not_lost)
{
	struct env e;
	struct aw_test_daemon d;

	env_init(&e);
	write_config(&e, e.out_a, NULL);
	start(&d, &e);
	/* A burst of SIGHUPs ending with the new config in place: the last state wins. */
	write_config(&e, e.out_b, NULL);
	for (int i = 0; i < 20; i++)
		kill(d.pid, SIGHUP);
	ck_assert_msg(aw_test_wait_log(&d, "configuration reloaded", 10000), "no reload");
	aw_test_sleep_ms(300);
	append_records(e.input, 0, 2);
	ck_assert_uint_eq(aw_test_wait_lines(e.out_b, 2, 10000), 2);
	double reloads = aw_test_metric(d.port, "aiwatch_reloads_total{result=\"success\"}");
	ck_assert_msg(reloads >= 1 && reloads < 20, "reloads=%g", reloads);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 10000), 0);
	aw_test_daemon_free(&d);
	env_free(&e);
}
END_TEST

START_TEST(malformed_line_skipped_and_counted)
{
	struct env e;
	struct aw_test_daemon d;

	env_init(&e);
	append_records(e.input, 0, 2);
	append(e.input, "{this is not json\n");
	append_records(e.input, 2, 2);
	write_config(&e, e.out_a, NULL);
	start(&d, &e);
	ck_assert_uint_eq(aw_test_wait_lines(e.out_a, 4, 10000), 4);
	ck_assert_double_eq(
		aw_test_metric(d.port,
			       "aiwatch_events_skipped_total{input=\"in\",reason=\"malformed\"}"),
		1);
	ck_assert_double_eq(aw_test_metric(d.port, "aiwatch_events_total{input=\"in\"}"), 4);
	char *log = log_text(&e);
	/* The warning names the file and the line. */
	ck_assert_msg(strstr(log, "input.jsonl") && strstr(log, "line=3"), "%s", log);
	free(log);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 10000), 0);
	aw_test_daemon_free(&d);
	env_free(&e);
}
END_TEST

START_TEST(metrics_and_health_answer)
{
	struct env e;
	struct aw_test_daemon d;
	char *body = NULL;

	env_init(&e);
	append_records(e.input, 0, 3);
	write_config(&e, e.out_a, NULL);
	start(&d, &e);
	ck_assert_uint_eq(aw_test_wait_lines(e.out_a, 3, 10000), 3);
	ck_assert_int_eq(aw_test_http_get(d.port, "/healthz", NULL), 200);
	ck_assert_int_eq(aw_test_http_get(d.port, "/readyz", NULL), 200);
	ck_assert_int_eq(aw_test_http_get(d.port, "/metrics", &body), 200);
	ck_assert_msg(strstr(body, "# TYPE aiwatch_events_total counter"), "%s", body);
	ck_assert_msg(strstr(body, "aiwatch_output_delivered_total{output=\"out\"} 3"), "%s", body);
	ck_assert_msg(strstr(body, "aiwatch_output_pending_bytes{output=\"out\"} 0"), "%s", body);
	free(body);
	ck_assert_int_eq(aw_test_http_get(d.port, "/nope", NULL), 404);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 10000), 0);
	aw_test_daemon_free(&d);
	env_free(&e);
}
END_TEST

START_TEST(check_reports_every_error)
{
	struct env e;
	char *out;

	env_init(&e);
	free(aw_test_write(NULL, e.config,
			   "state_directory: /tmp/x\n"
			   "shutdown_timeout: 30\n"
			   "inputs:\n"
			   "  - type: file\n"
			   "    pathz: [a]\n"
			   "outputs:\n"
			   "  - type: nosuch\n",
			   0600));
	const char *args[] = {"check", "--config", e.config, NULL};
	ck_assert_int_eq(aw_test_aiwatchd(args, &out), 1);
	ck_assert_msg(strstr(out, "aiwatchd.yaml:2:") && strstr(out, "shutdown_timeout"), "%s", out);
	ck_assert_msg(strstr(out, "aiwatchd.yaml:5:") && strstr(out, "pathz"), "%s", out);
	ck_assert_msg(strstr(out, "paths"), "missing required key not reported:\n%s", out);
	ck_assert_msg(strstr(out, "aiwatchd.yaml:7:") && strstr(out, "nosuch"), "%s", out);
	free(out);

	write_config(&e, e.out_a, NULL);
	ck_assert_int_eq(aw_test_aiwatchd(args, &out), 0);
	ck_assert_msg(strstr(out, "configuration OK"), "%s", out);
	free(out);
	env_free(&e);
}
END_TEST

START_TEST(version_and_help)
{
	char *out;
	const char *v[] = {"--version", NULL};
	const char *h[] = {"--help", NULL};
	const char *bad[] = {"--frobnicate", NULL};

	ck_assert_int_eq(aw_test_aiwatchd(v, &out), 0);
	ck_assert_msg(strncmp(out, "aiwatchd ", 9) == 0, "%s", out);
	free(out);
	ck_assert_int_eq(aw_test_aiwatchd(h, &out), 0);
	/* Help is generated from the option tables: core keys and plugin keys. */
	ck_assert_msg(strstr(out, "shutdown_timeout"), "%s", out);
	ck_assert_msg(strstr(out, "Input type: file"), "%s", out);
	ck_assert_msg(strstr(out, "poll_interval"), "%s", out);
	ck_assert_msg(strstr(out, "Exit codes"), "%s", out);
	free(out);
	ck_assert_int_eq(aw_test_aiwatchd(bad, &out), 2);
	free(out);
}
END_TEST

START_TEST(bad_config_at_start_exits_one)
{
	struct env e;
	struct aw_test_daemon d;

	env_init(&e);
	free(aw_test_write(NULL, e.config, "inputs: 3\n", 0600));
	const char *args[] = {"--config", e.config, NULL};
	aw_test_daemon_start(&d, e.log, args);
	ck_assert_int_eq(aw_test_daemon_stop(&d, 0, 10000), 1);
	char *log = log_text(&e);
	ck_assert_msg(strstr(log, "aiwatchd.yaml:1:"), "%s", log);
	free(log);
	aw_test_daemon_free(&d);
	env_free(&e);
}
END_TEST

/* Collect notify datagrams until `want` has been seen or the timeout passes. */
static int wait_notify(int fd, const char *want, char *all, size_t allsz, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		char buf[512];
		ssize_t n;
		while ((n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT)) > 0) {
			buf[n] = '\0';
			size_t used = strlen(all);
			snprintf(all + used, allsz - used, "%s|", buf);
		}
		if (strstr(all, want))
			return 1;
		aw_test_sleep_ms(20);
	}
	return 0;
}

START_TEST(systemd_notify_protocol)
{
	struct env e;
	struct aw_test_daemon d;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *sock, all[8192] = "";
	int fd;

	env_init(&e);
	write_config(&e, e.out_a, NULL);
	ck_assert_int_ge(asprintf(&sock, "%s/notify.sock", e.dir), 0);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	setenv("NOTIFY_SOCKET", sock, 1);
	setenv("WATCHDOG_USEC", "200000", 1); /* pings every 100 ms */
	start(&d, &e);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");

	ck_assert_msg(wait_notify(fd, "READY=1", all, sizeof all, 10000), "%s", all);
	ck_assert_msg(wait_notify(fd, "WATCHDOG=1", all, sizeof all, 5000), "%s", all);
	kill(d.pid, SIGHUP);
	ck_assert_msg(wait_notify(fd, "RELOADING=1\nMONOTONIC_USEC=", all, sizeof all, 10000),
		      "%s", all);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 10000), 0);
	ck_assert_msg(wait_notify(fd, "STOPPING=1", all, sizeof all, 1000), "%s", all);
	/* READY=1 again after the reload. */
	char *reload = strstr(all, "RELOADING=1");
	ck_assert_ptr_nonnull(reload);
	ck_assert_msg(strstr(reload, "READY=1"), "%s", all);
	close(fd);
	free(sock);
	aw_test_daemon_free(&d);
	env_free(&e);
}
END_TEST

static Suite *daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("lifecycle");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sigterm_drains_and_exits_zero);
	tcase_add_test(tc, restart_resumes_from_checkpoint);
	tcase_add_test(tc, sighup_valid_config_changes_behaviour);
	tcase_add_test(tc, sighup_invalid_config_keeps_old);
	tcase_add_test(tc, sighups_are_coalesced_not_lost);
	tcase_add_test(tc, malformed_line_skipped_and_counted);
	tcase_add_test(tc, metrics_and_health_answer);
	tcase_add_test(tc, check_reports_every_error);
	tcase_add_test(tc, version_and_help);
	tcase_add_test(tc, bad_config_at_start_exits_one);
	tcase_add_test(tc, systemd_notify_protocol);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(daemon_suite)
