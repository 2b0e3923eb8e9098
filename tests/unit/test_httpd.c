/* Metrics and health server: routes, status codes, readiness, binding and shutdown.
 *
 * The server runs on a real libuv loop in the test's main thread; a client thread
 * makes blocking libcurl requests, records what it got, and wakes the loop through a
 * uv_async to close the server. Assertions happen after the loop has ended. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "testutil.h"

#define MAX_REQS 8

struct result {
	long status;
	char body[8192];
	size_t len;
	char ctype[128];
	char allow[64];
	int curl_rc;
};

struct harness;
typedef void (*client_fn)(struct harness *hz);

struct harness {
	uv_loop_t loop;
	uv_async_t done;
	uv_thread_t thread;
	struct aw_httpd *h;
	struct aw_metrics *metrics;
	const char *host; /* "127.0.0.1" or "[::1]" */
	unsigned port;
	client_fn client;
	struct result res[MAX_REQS];
	int ready_calls;
	int stalled_fd;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct result *r = ud;
	size_t len = sz * n;
	size_t room = sizeof r->body - 1 - r->len;
	size_t take = len < room ? len : room;

	memcpy(r->body + r->len, p, take);
	r->len += take;
	r->body[r->len] = '\0';
	return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct result *r = ud;
	size_t len = sz * n;

	if (len > 6 && strncasecmp(p, "Allow:", 6) == 0) {
		size_t vl = len - 6;
		const char *v = p + 6;
		while (vl && (*v == ' '))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
			vl--;
		if (vl >= sizeof r->allow)
			vl = sizeof r->allow - 1;
		memcpy(r->allow, v, vl);
		r->allow[vl] = '\0';
	}
	return len;
}

/* One blocking request from the client thread. */
static void request(struct harness *hz, const char *method, const char *path, struct result *r)
{
	char url[128];
	CURL *c = curl_easy_init();
	char *ct = NULL;

	memset(r, 0, sizeof *r);
	if (!c) {
		r->curl_rc = -1;
		return;
	}
	snprintf(url, sizeof url, "http://%s:%u%s", hz->host, hz->port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "a=1");
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	r->curl_rc = (int)curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(r->ctype, sizeof r->ctype, "%s", ct);
	curl_easy_cleanup(c);
}

static void client_main(void *arg)
{
	struct harness *hz = arg;

	hz->client(hz);
	uv_async_send(&hz->done);
}

static void on_async_closed(uv_handle_t *h)
{
	(void)h;
}

static void on_done(uv_async_t *a)
{
	struct harness *hz = a->data;

	aw_httpd_close(hz->h);
	hz->h = NULL;
	uv_close((uv_handle_t *)a, on_async_closed);
}

/* Not ready on the first probe, ready on the second. */
static int ready_cb(void *ud, char *why, size_t whysz)
{
	struct harness *hz = ud;

	if (hz->ready_calls++ == 0) {
		snprintf(why, whysz, "input loganalytics: waiting for a token");
		return 0;
	}
	return 1;
}

static void harness_init(struct harness *hz)
{
	memset(hz, 0, sizeof *hz);
	hz->host = "127.0.0.1";
	hz->stalled_fd = -1;
	ck_assert_int_eq(uv_loop_init(&hz->loop), 0);
	hz->metrics = aw_metrics_new();
	ck_assert_ptr_nonnull(hz->metrics);
	ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), 0);
}

static void harness_start(struct harness *hz, const char *listen)
{
	struct aw_error err = {{0}};

	ck_assert_msg(aw_httpd_start(&hz->loop, listen, hz->metrics, ready_cb, hz, &hz->h, &err) ==
			  0,
		      "start %s: %s", listen, err.msg);
	ck_assert_ptr_nonnull(hz->h);
	hz->port = aw_httpd_port(hz->h);
	ck_assert_uint_ne(hz->port, 0);
}

/* Run the loop while the client thread works; returns when every handle is closed. */
static void harness_run(struct harness *hz, client_fn fn)
{
	hz->client = fn;
	ck_assert_int_eq(uv_async_init(&hz->loop, &hz->done, on_done), 0);
	hz->done.data = hz;
	ck_assert_int_eq(uv_thread_create(&hz->thread, client_main, hz), 0);
	ck_assert_int_eq(uv_run(&hz->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_thread_join(&hz->thread), 0);
}

static void harness_free(struct harness *hz)
{
	/* Every handle the server opened is closed and its memory freed by now. */
	ck_assert_int_eq(uv_loop_close(&hz->loop), 0);
	aw_metrics_free(hz->metrics);
	curl_global_cleanup();
}

/* --- routes ---------------------------------------------------------------------- */

static void routes_client(struct harness *hz)
{
	request(hz, "GET", "/metrics", &hz->res[0]);
	request(hz, "GET", "/healthz", &hz->res[1]);
	request(hz, "GET", "/readyz", &hz->res[2]);
	request(hz, "GET", "/readyz", &hz->res[3]);
	request(hz, "GET", "/nope", &hz->res[4]);
	request(hz, "POST", "/metrics", &hz->res[5]);
	request(hz, "HEAD", "/healthz", &hz->res[6]);
	request(hz, "GET", "/healthz?verbose=1", &hz->res[7]);
}

START_TEST(routes)
{
	struct harness hz;

	harness_init(&hz);
	aw_metric_add(aw_metric_get(hz.metrics, AW_METRIC_COUNTER, "aiwatch_events_total",
				    "Events read", "input", "file", NULL),
		      42);
	harness_start(&hz, "127.0.0.1:0");
	harness_run(&hz, routes_client);

	for (int i = 0; i < MAX_REQS; i++)
		ck_assert_msg(hz.res[i].curl_rc == 0, "request %d: curl error %d", i,
			      hz.res[i].curl_rc);
	ck_assert_int_eq(hz.res[0].status, 200);
	ck_assert_str_eq(hz.res[0].ctype, "text/plain; version=0.0.4; charset=utf-8");
	ck_assert_str_eq(hz.res[0].body, "# HELP aiwatch_events_total Events read\n"
					 "# TYPE aiwatch_events_total counter\n"
					 "aiwatch_events_total{input=\"file\"} 42\n");
	ck_assert_int_eq(hz.res[1].status, 200);
	ck_assert_str_eq(hz.res[1].body, "ok\n");
	ck_assert_int_eq(hz.res[2].status, 503);
	ck_assert_str_eq(hz.res[2].body, "not ready: input loganalytics: waiting for a token\n");
	ck_assert_int_eq(hz.res[3].status, 200);
	ck_assert_str_eq(hz.res[3].body, "ready\n");
	ck_assert_int_eq(hz.res[4].status, 404);
	ck_assert_int_eq(hz.res[5].status, 405);
	ck_assert_str_eq(hz.res[5].allow, "GET, HEAD");
	ck_assert_int_eq(hz.res[6].status, 200);
	ck_assert_uint_eq(hz.res[6].len, 0);
	ck_assert_int_eq(hz.res[7].status, 200);
	ck_assert_int_eq(hz.ready_calls, 2);
	harness_free(&hz);
}
END_TEST

/* Each scrape runs the collectors, so the numbers are fresh every time. */
struct scrapes {
	struct aw_metric *g;
	double n;
};

static void count_scrape(void *ud)
{
	struct scrapes *s = ud;
	aw_metric_set(s->g, ++s->n);
}

static void two_scrapes(struct harness *hz)
{
	request(hz, "GET", "/metrics", &hz->res[0]);
	request(hz, "GET", "/metrics", &hz->res[1]);
}

START_TEST(metrics_fresh_per_scrape)
{
	struct harness hz;
	struct scrapes s = {0};

	harness_init(&hz);
	s.g = aw_metric_get(hz.metrics, AW_METRIC_GAUGE, "aiwatch_scrapes", "Scrapes", NULL);
	ck_assert_int_eq(aw_metrics_add_collector(hz.metrics, count_scrape, &s), 0);
	harness_start(&hz, "localhost:0");
	harness_run(&hz, two_scrapes);
	ck_assert_ptr_nonnull(strstr(hz.res[0].body, "\naiwatch_scrapes 1\n"));
	ck_assert_ptr_nonnull(strstr(hz.res[1].body, "\naiwatch_scrapes 2\n"));
	harness_free(&hz);
}
END_TEST

/* A client that sends half a request and goes quiet does not hold up others: the
 * loop keeps serving. */
static void stalled_client(struct harness *hz)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)hz->port)};

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	hz->stalled_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (hz->stalled_fd >= 0 && connect(hz->stalled_fd, (struct sockaddr *)&sa, sizeof sa) == 0)
		(void)!write(hz->stalled_fd, "GET /hea", 8);
	request(hz, "GET", "/healthz", &hz->res[0]);
	request(hz, "GET", "/metrics", &hz->res[1]);
}

START_TEST(stalled_client_does_not_block)
{
	struct harness hz;

	harness_init(&hz);
	harness_start(&hz, "127.0.0.1:0");
	/* The half-open connection is still there when the server closes. */
	harness_run(&hz, stalled_client);
	ck_assert_int_ge(hz.stalled_fd, 0);
	ck_assert_int_eq(hz.res[0].status, 200);
	ck_assert_int_eq(hz.res[1].status, 200);
	/* The server closed it on shutdown: the client sees end of stream. */
	char c;
	ck_assert_int_le(read(hz.stalled_fd, &c, 1), 0);
	close(hz.stalled_fd);
	harness_free(&hz);
}
END_TEST

/* Connection timeouts come from the uv_timer armed with MHD_get_timeout(): without it
 * an idle client would hold its connection (and a slot of the limit) forever. */
static void idle_client(struct harness *hz)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)hz->port)};
	struct timeval tv = {.tv_sec = 25};
	char c;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	hz->stalled_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (hz->stalled_fd < 0 || connect(hz->stalled_fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		return;
	setsockopt(hz->stalled_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	/* 0: the server closed the idle connection; -1/EAGAIN: nobody did. */
	hz->res[0].status = (long)read(hz->stalled_fd, &c, 1);
	hz->res[0].curl_rc = errno;
	close(hz->stalled_fd);
}

START_TEST(idle_connection_times_out)
{
	struct harness hz;

	harness_init(&hz);
	harness_start(&hz, "127.0.0.1:0");
	harness_run(&hz, idle_client);
	ck_assert_msg(hz.res[0].status == 0, "idle connection not closed by the server: %s",
		      strerror(hz.res[0].curl_rc));
	harness_free(&hz);
}
END_TEST

static void one_health(struct harness *hz)
{
	request(hz, "GET", "/healthz", &hz->res[0]);
}

START_TEST(ipv6_loopback)
{
	struct harness hz;
	struct aw_error err = {{0}};
	int probe = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};

	if (probe < 0 || bind(probe, (struct sockaddr *)&sa, sizeof sa) != 0) {
		if (probe >= 0)
			close(probe);
		return; /* no IPv6 loopback in this environment */
	}
	close(probe);
	harness_init(&hz);
	hz.host = "[::1]";
	ck_assert_msg(aw_httpd_start(&hz.loop, "[::1]:0", hz.metrics, NULL, NULL, &hz.h, &err) == 0,
		      "%s", err.msg);
	hz.port = aw_httpd_port(hz.h);
	ck_assert_uint_ne(hz.port, 0);
	harness_run(&hz, one_health);
	ck_assert_int_eq(hz.res[0].status, 200);
	ck_assert_str_eq(hz.res[0].body, "ok\n");
	harness_free(&hz);
}
END_TEST

/* --- binding --------------------------------------------------------------------- */

START_TEST(address_in_use)
{
	struct harness hz;
	struct aw_error err = {{0}};
	struct aw_httpd *h = (struct aw_httpd *)&err; /* must be reset to NULL */
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof sa;
	char listen_s[64], want[128];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	harness_init(&hz);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(listen_s, sizeof listen_s, "127.0.0.1:%u", ntohs(sa.sin_port));

	ck_assert_int_eq(aw_httpd_start(&hz.loop, listen_s, hz.metrics, NULL, NULL, &h, &err), -1);
	ck_assert_ptr_null(h);
	snprintf(want, sizeof want, "http_listen %s: Address already in use", listen_s);
	ck_assert_str_eq(err.msg, want);
	close(fd);
	ck_assert_int_eq(uv_run(&hz.loop, UV_RUN_DEFAULT), 0);
	harness_free(&hz);
}
END_TEST

START_TEST(bad_listen_addresses)
{
	const char *bad[] = {"",
			     "nonsense",
			     "127.0.0.1",
			     "127.0.0.1:",
			     "127.0.0.1:70000",
			     "127.0.0.1:-1",
			     "127.0.0.1:80x",
			     "[::1",
			     "[::1]9464",
			     "[::1]:",
			     "[nope]:80",
			     "host.example:80",
			     ":9464",
			     "999.1.1.1:80"};
	uv_loop_t loop;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct aw_error err = {{0}};
		struct aw_httpd *h = NULL;

		ck_assert_msg(aw_httpd_start(&loop, bad[i], NULL, NULL, NULL, &h, &err) == -1,
			      "accepted \"%s\"", bad[i]);
		ck_assert_ptr_null(h);
		ck_assert_msg(strncmp(err.msg, "http_listen", 11) == 0, "%s: %s", bad[i], err.msg);
	}
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* A reload moves the server by closing it and starting again right away, possibly on
 * the same port: the old socket must be gone when aw_httpd_close returns. */
START_TEST(restart_on_same_port)
{
	struct harness hz;
	char listen_s[64];
	unsigned first;

	harness_init(&hz);
	harness_start(&hz, "127.0.0.1:0");
	first = hz.port;
	snprintf(listen_s, sizeof listen_s, "127.0.0.1:%u", first);
	aw_httpd_close(hz.h);
	hz.h = NULL;
	harness_start(&hz, listen_s);
	ck_assert_uint_eq(hz.port, first);
	harness_run(&hz, one_health);
	ck_assert_int_eq(hz.res[0].status, 200);
	harness_free(&hz);
}
END_TEST

/* Closing with no loop iteration in between frees everything (ASan checks). */
START_TEST(close_without_traffic)
{
	struct harness hz;

	harness_init(&hz);
	harness_start(&hz, "0.0.0.0:0");
	aw_httpd_close(hz.h);
	ck_assert_int_eq(uv_run(&hz.loop, UV_RUN_DEFAULT), 0);
	harness_free(&hz);
}
END_TEST

static Suite *httpd_suite(void)
{
	Suite *s = suite_create("httpd");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, routes);
	tcase_add_test(tc, metrics_fresh_per_scrape);
	tcase_add_test(tc, stalled_client_does_not_block);
	tcase_add_test(tc, ipv6_loopback);
	tcase_add_test(tc, idle_connection_times_out);
	tcase_add_test(tc, address_in_use);
	tcase_add_test(tc, bad_listen_addresses);
	tcase_add_test(tc, restart_on_same_port);
	tcase_add_test(tc, close_without_traffic);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(httpd_suite)
