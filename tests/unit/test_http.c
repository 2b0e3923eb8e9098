/* HTTP client: requests against a real server, the retry policy, and the parsers.
 *
 * The server is libmicrohttpd on a loopback port with its own threads (one per
 * connection, so a handler may sleep to play a slow server). It answers from a script
 * of responses keyed by path and records what it received. The client runs on a real
 * libuv loop in the test's thread; the last completion closes the client, uv_run
 * returns once every handle is closed, and uv_loop_close must then succeed. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "testutil.h"

/* --- the server ------------------------------------------------------------------- */

#define MAX_SCRIPT 32
#define MAX_SEEN   256

struct script {
	const char *path;
	int status;
	const char *body;
	size_t body_len;
	const char *hdr[4][2];
	int delay_ms;
	bool cut;  /* promise 1000 bytes, send 10, drop the connection */
	bool gzip; /* the gzip body below, with Content-Encoding: gzip */
	bool used;
};

struct seen {
	char method[16];
	char path[256];
	char crid[80];
	char auth[128];
	char ctype[64];
	char accept_enc[64];
	char xtest[64];
	char ua[64];
	char body[256];
	size_t body_len;
	double t_ms;
	unsigned client_port; /* the same port twice: the connection was reused */
};

static struct {
	struct MHD_Daemon *d;
	unsigned port;
	pthread_mutex_t mu;
	struct script script[MAX_SCRIPT];
	size_t nscript;
	struct seen seen[MAX_SEEN];
	size_t nseen;
	bool close_all; /* Connection: close on every answer */
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* gzip of {"value":"compressed hello"}, made with Python's gzip.compress(mtime=0). */
static const unsigned char gz_body[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0x2a, 0x4b, 0xcc, 0x29,
    0x4d, 0x55, 0xb2, 0x52, 0x4a, 0xce, 0xcf, 0x2d, 0x28, 0x4a, 0x2d, 0x2e, 0x4e, 0x4d, 0x51, 0xc8,
    0x48, 0xcd, 0xc9, 0xc9, 0x57, 0xaa, 0x05, 0x00, 0x75, 0x07, 0x00, 0xcf, 0x1c, 0x00, 0x00, 0x00};
static const char gz_plain[] = "{\"value\":\"compressed hello\"}";

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void script_add(struct script s)
{
	pthread_mutex_lock(&srv.mu);
	ck_assert_uint_lt(srv.nscript, MAX_SCRIPT);
	if (s.body && !s.body_len)
		s.body_len = strlen(s.body);
	if (!s.status)
		s.status = 200;
	srv.script[srv.nscript++] = s;
	pthread_mutex_unlock(&srv.mu);
}

struct upload {
	char buf[4096];
	size_t len;
};

static void copy_hdr(struct MHD_Connection *c, const char *name, char *dst, size_t cap)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

	snprintf(dst, cap, "%s", v ? v : "");
}

static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	if (pos == 0 && max >= 10) {
		memset(buf, 'x', 10);
		return 10;
	}
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *data,
			       size_t *data_size, void **con_cls)
{
	struct upload *up = *con_cls;
	struct script s = {.status = 200};
	struct MHD_Response *resp;
	char defbody[300];
	bool scripted = false;
	enum MHD_Result rc;

	if (!up) {
		up = calloc(1, sizeof *up);
		*con_cls = up;
		return up ? MHD_YES : MHD_NO;
	}
	if (*data_size) {
		size_t take =
		    *data_size < sizeof up->buf - up->len ? *data_size : sizeof up->buf - up->len;
		memcpy(up->buf + up->len, data, take);
		up->len += take;
		*data_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&srv.mu);
	if (srv.nseen < MAX_SEEN) {
		struct seen *w = &srv.seen[srv.nseen++];

		snprintf(w->method, sizeof w->method, "%s", method);
		snprintf(w->path, sizeof w->path, "%s", url);
		copy_hdr(c, "x-ms-client-request-id", w->crid, sizeof w->crid);
		copy_hdr(c, "Authorization", w->auth, sizeof w->auth);
		copy_hdr(c, "Content-Type", w->ctype, sizeof w->ctype);
		copy_hdr(c, "Accept-Encoding", w->accept_enc, sizeof w->accept_enc);
		copy_hdr(c, "X-Test", w->xtest, sizeof w->xtest);
		copy_hdr(c, "User-Agent", w->ua, sizeof w->ua);
		w->body_len = up->len < sizeof w->body - 1 ? up->len : sizeof w->body - 1;
		memcpy(w->body, up->buf, w->body_len);
		w->body[w->body_len] = '\0';
		w->t_ms = mono_ms();
		{
			const union MHD_ConnectionInfo *ci =
			    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

			if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
				w->client_port = ntohs(
				    ((const struct sockaddr_in *)(const void *)ci->client_addr)
					->sin_port);
		}
	}
	for (size_t i = 0; i < srv.nscript; i++)
		if (!srv.script[i].used && strcmp(srv.script[i].path, url) == 0) {
			srv.script[i].used = true;
			s = srv.script[i];
			scripted = true;
			break;
		}
	pthread_mutex_unlock(&srv.mu);
	if (!scripted) {
		snprintf(defbody, sizeof defbody, "ok:%s", url);
		s.body = defbody;
		s.body_len = strlen(defbody);
	}
	if (s.delay_ms)
		usleep((useconds_t)s.delay_ms * 1000);
	if (s.cut)
		resp = MHD_create_response_from_callback(1000, 64, cut_reader, NULL, NULL);
	else if (s.gzip)
		resp = MHD_create_response_from_buffer(sizeof gz_body, (void *)gz_body,
						       MHD_RESPMEM_PERSISTENT);
	else
		resp = MHD_create_response_from_buffer(s.body_len, (void *)(s.body ? s.body : ""),
						       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (s.gzip)
		MHD_add_response_header(resp, "Content-Encoding", "gzip");
	for (int i = 0; i < 4 && s.hdr[i][0]; i++)
		MHD_add_response_header(resp, s.hdr[i][0], s.hdr[i][1]);
	if (srv.close_all)
		MHD_add_response_header(resp, "Connection", "close");
	rc = MHD_queue_response(c, (unsigned)s.status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	free(*con_cls);
	*con_cls = NULL;
}

static void server_start(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	const union MHD_DaemonInfo *info;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv.nscript = 0;
	srv.nseen = 0;
	srv.close_all = false;
	srv.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
				     MHD_USE_POLL,
				 0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
				 (struct sockaddr *)&sin, MHD_OPTION_NOTIFY_COMPLETED, completed,
				 NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	ck_assert_ptr_nonnull(srv.d);
	info = MHD_get_daemon_info(srv.d, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert_ptr_nonnull(info);
	srv.port = info->port;
	ck_assert_uint_ne(srv.port, 0);
}

static void server_stop(void)
{
	if (srv.d)
		MHD_stop_daemon(srv.d);
	srv.d = NULL;
}

static size_t seen_count(void)
{
	size_t n;

	pthread_mutex_lock(&srv.mu);
	n = srv.nseen;
	pthread_mutex_unlock(&srv.mu);
	return n;
}

static const struct seen *seen_path(const char *path, int nth)
{
	const struct seen *r = NULL;

	pthread_mutex_lock(&srv.mu);
	for (size_t i = 0; i < srv.nseen; i++)
		if (strcmp(srv.seen[i].path, path) == 0 && nth-- == 0) {
			r = &srv.seen[i];
			break;
		}
	pthread_mutex_unlock(&srv.mu);
	return r;
}

/* --- the client harness ----------------------------------------------------------- */

#define MAX_RES 128

struct result {
	int calls;
	long status;
	int transport_error;
	char error[512];
	char body[4096];
	size_t body_len;
	char request_id[64];
	char crid[64];
	char hdr_probe[64];
	int64_t retry_after_ms;
	unsigned attempts;
	bool cancelled;
	enum aw_http_class cls;
	double t_ms;
};

static struct {
	uv_loop_t loop;
	struct aw_http *h;
	struct aw_metrics *m;
	int expected, completed, closed;
	bool in_cancel;
	struct result res[MAX_RES];
	char urls[MAX_RES][128];
	double t0;
} C;

static const char *url_of(const char *path)
{
	static char buf[8][160];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof buf[i], "http://127.0.0.1:%u%s", srv.port, path);
	return buf[i];
}

static void on_closed(void *ud)
{
	ck_assert_ptr_eq(ud, &C);
	C.closed++;
}

static void on_done(void *ud, const struct aw_http_response *r)
{
	struct result *res = ud;
	const char *probe = aw_http_header(r, "X-PROBE");

	ck_assert(!C.in_cancel); /* never from inside aw_http_cancel */
	res->calls++;
	res->status = r->status;
	res->transport_error = r->transport_error;
	snprintf(res->error, sizeof res->error, "%s", r->error ? r->error : "(null)");
	ck_assert_uint_eq(strlen(r->body), r->body_len);
	res->body_len = r->body_len < sizeof res->body - 1 ? r->body_len : sizeof res->body - 1;
	memcpy(res->body, r->body, res->body_len);
	res->body[res->body_len] = '\0';
	snprintf(res->request_id, sizeof res->request_id, "%s", r->request_id);
	snprintf(res->crid, sizeof res->crid, "%s", r->client_request_id);
	snprintf(res->hdr_probe, sizeof res->hdr_probe, "%s", probe ? probe : "");
	res->retry_after_ms = r->retry_after_ms;
	res->attempts = r->attempts;
	res->cancelled = r->cancelled;
	res->cls = aw_http_classify(r);
	res->t_ms = mono_ms();
	if (++C.completed == C.expected)
		aw_http_close(C.h, on_closed, &C);
}

static void client_new(const struct aw_http_conf *conf)
{
	struct aw_error err;
	struct aw_http_conf def = {.insecure_http_for_tests = true};

	memset(&C, 0, sizeof C);
	ck_assert_int_eq(uv_loop_init(&C.loop), 0);
	C.m = aw_metrics_new();
	ck_assert_int_eq(aw_http_new(&C.loop, conf ? conf : &def, C.m, &C.h, &err), 0);
	C.t0 = mono_ms();
}

/* Run until the client is closed (the last completion closes it), then check that
 * nothing is left on the loop. */
static void client_run(void)
{
	uv_run(&C.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(C.closed, 1);
	ck_assert_int_eq(C.completed, C.expected);
	ck_assert_int_eq(uv_loop_close(&C.loop), 0);
}

static void client_free(void)
{
	aw_metrics_free(C.m);
	C.m = NULL;
}

static void send_req(const struct aw_http_request *req, struct result *res)
{
	struct aw_error err;

	if (aw_http_send(C.h, req, on_done, res, NULL, &err) != 0)
		ck_abort_msg("aw_http_send: %s", err.msg);
}

static bool is_guid_v4(const char *s)
{
	static const char form[] = "xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx";

	if (strlen(s) != sizeof form - 1)
		return false;
	for (size_t i = 0; form[i]; i++) {
		bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');

		if (form[i] == '-' || form[i] == '4') {
			if (s[i] != form[i])
				return false;
		} else if (form[i] == 'V') {
			if (!strchr("89ab", s[i]))
				return false;
		} else if (!hex) {
			return false;
		}
	}
	return true;
}

static double metric(const char *name, const char *status_class)
{
	struct aw_metric *s;

	if (status_class)
		s = aw_metric_get(C.m, AW_METRIC_COUNTER, name, "", "host", "127.0.0.1",
				  "status_class", status_class, NULL);
	else
		s = aw_metric_get(C.m, AW_METRIC_COUNTER, name, "", "host", "127.0.0.1", NULL);
	return aw_metric_value(s);
}

/* --- requests against the server -------------------------------------------------- */

START_TEST(test_get_post_headers)
{
	const char *hdrs[] = {"Content-Type: application/json", "X-Test: one", NULL};
	struct aw_http_request get = {.method = "GET", .url = NULL};
	struct aw_http_request post = {
	    .method = "POST", .headers = hdrs, .body = "hello", .body_len = 5};
	const struct seen *sg, *sp;
	struct aw_metric *inflight;

	server_start();
	script_add((struct script){.path = "/get",
				   .status = 200,
				   .body = "first",
				   .hdr = {{"x-ms-request-id", "rid-1"}, {"X-Probe", "probed"}}});
	client_new(NULL);
	get.url = url_of("/get");
	post.url = url_of("/post");
	C.expected = 4;
	send_req(&get, &C.res[0]);
	send_req(&post, &C.res[1]);
	{
		struct aw_http_request put = {
		    .method = "PUT", .url = url_of("/put"), .body = "{\"a\":1}", .body_len = 7};
		struct aw_http_request del = {.method = "DELETE", .url = url_of("/del")};

		send_req(&put, &C.res[2]);
		send_req(&del, &C.res[3]);
	}
	client_run();
	ck_assert_str_eq(seen_path("/put", 0)->method, "PUT");
	ck_assert_str_eq(seen_path("/put", 0)->body, "{\"a\":1}");
	ck_assert_str_eq(seen_path("/del", 0)->method, "DELETE");
	ck_assert_int_eq(C.res[3].status, 200);

	ck_assert_int_eq(C.res[0].calls, 1);
	ck_assert_int_eq(C.res[0].status, 200);
	ck_assert_str_eq(C.res[0].body, "first");
	ck_assert_str_eq(C.res[0].request_id, "rid-1");
	ck_assert_str_eq(C.res[0].hdr_probe, "probed"); /* looked up case-insensitively */
	ck_assert_int_eq(C.res[0].retry_after_ms, -1);
	ck_assert_uint_eq(C.res[0].attempts, 1);
	ck_assert_int_eq(C.res[0].cls, AW_HTTP_SUCCESS);
	ck_assert_int_eq(C.res[1].status, 200);
	ck_assert_str_eq(C.res[1].body, "ok:/post");
	ck_assert_str_eq(C.res[1].request_id, "");

	sg = seen_path("/get", 0);
	sp = seen_path("/post", 0);
	ck_assert_ptr_nonnull(sg);
	ck_assert_ptr_nonnull(sp);
	ck_assert_str_eq(sg->method, "GET");
	ck_assert_str_eq(sp->method, "POST");
	ck_assert_str_eq(sp->body, "hello");
	ck_assert_str_eq(sp->xtest, "one");
	ck_assert_str_eq(sp->ctype, "application/json");
	ck_assert_str_eq(sg->auth, "");
	ck_assert_msg(is_guid_v4(sg->crid), "client request id %s", sg->crid);
	ck_assert_msg(is_guid_v4(sp->crid), "client request id %s", sp->crid);
	ck_assert_str_ne(sg->crid, sp->crid);
	ck_assert_str_eq(C.res[0].crid, sg->crid);
	ck_assert_str_eq(C.res[1].crid, sp->crid);
	ck_assert_ptr_nonnull(strstr(sg->accept_enc, "gzip"));
	ck_assert_ptr_nonnull(strstr(sg->ua, "aiwatchd/"));

	ck_assert_double_eq(metric("aiwatch_http_requests_total", "2xx"), 4);
	inflight = aw_metric_get(C.m, AW_METRIC_GAUGE, "aiwatch_http_requests_in_flight", "", NULL);
	ck_assert_double_eq(aw_metric_value(inflight), 0);
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_concurrent_50)
{
	char paths[50][32];

	server_start();
	client_new(NULL);
	C.expected = 50;
	for (int i = 0; i < 50; i++) {
		struct aw_http_request req = {.method = "GET"};

		snprintf(paths[i], sizeof paths[i], "/c/%d", i);
		req.url = url_of(paths[i]);
		send_req(&req, &C.res[i]);
	}
	client_run();
	for (int i = 0; i < 50; i++) {
		char want[48];

		snprintf(want, sizeof want, "ok:/c/%d", i);
		ck_assert_int_eq(C.res[i].calls, 1);
		ck_assert_int_eq(C.res[i].status, 200);
		ck_assert_str_eq(C.res[i].body, want);
	}
	ck_assert_uint_eq(seen_count(), 50);
	ck_assert_double_eq(metric("aiwatch_http_requests_total", "2xx"), 50);
	client_free();
	server_stop();
}
END_TEST

/* Each answer closes its connection, so the next request's socket usually gets the fd
 * number the last one had, often while that fd's poll context is being retired. */
static int seq_next;

static void on_seq_done(void *ud, const struct aw_http_response *r)
{
	struct aw_error err;
	struct aw_http_request req = {.method = "GET"};

	seq_next++;
	on_done(ud, r);
	if (seq_next < 60) {
		char url[96];

		/* Every third by name: the threaded resolver's own fd joins the churn. */
		snprintf(url, sizeof url, "http://%s:%u/seq",
			 seq_next % 3 ? "127.0.0.1" : "localhost", srv.port);
		req.url = url;
		ck_assert_int_eq(aw_http_send(C.h, &req, on_seq_done, &C.res[seq_next], NULL, &err),
				 0);
	}
}

START_TEST(test_fd_reuse_sequential)
{
	struct aw_http_request req = {.method = "GET"};
	struct aw_error err;

	server_start();
	srv.close_all = true;
	client_new(NULL);
	C.expected = 60;
	seq_next = 0;
	req.url = url_of("/seq");
	/* Two chains at once, so one socket closes while the other's opens. */
	ck_assert_int_eq(aw_http_send(C.h, &req, on_done, &C.res[100], NULL, &err), 0);
	C.expected++;
	ck_assert_int_eq(aw_http_send(C.h, &req, on_seq_done, &C.res[0], NULL, &err), 0);
	client_run();
	for (int i = 0; i < 60; i++)
		ck_assert_int_eq(C.res[i].status, 200);
	ck_assert_int_eq(C.res[100].status, 200);
	client_free();
	server_stop();
}
END_TEST

/* One multi handle keeps connections: requests one after another to one server share
 * a connection. */
static void on_chain_done(void *ud, const struct aw_http_response *r)
{
	struct aw_error err;
	struct aw_http_request req = {.method = "GET", .url = url_of("/chain")};

	on_done(ud, r);
	if (C.completed < C.expected)
		ck_assert_int_eq(
		    aw_http_send(C.h, &req, on_chain_done, &C.res[C.completed], NULL, &err), 0);
}

START_TEST(test_connection_reuse)
{
	struct aw_http_request req = {.method = "GET"};
	struct aw_error err;

	server_start();
	client_new(NULL);
	C.expected = 3;
	req.url = url_of("/chain");
	ck_assert_int_eq(aw_http_send(C.h, &req, on_chain_done, &C.res[0], NULL, &err), 0);
	client_run();
	ck_assert_uint_eq(seen_count(), 3);
	ck_assert_uint_ne(seen_path("/chain", 0)->client_port, 0);
	ck_assert_uint_eq(seen_path("/chain", 0)->client_port, seen_path("/chain", 1)->client_port);
	ck_assert_uint_eq(seen_path("/chain", 1)->client_port, seen_path("/chain", 2)->client_port);
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_gzip)
{
	struct aw_http_request req = {.method = "GET"};

	server_start();
	script_add((struct script){.path = "/gz", .gzip = true});
	client_new(NULL);
	req.url = url_of("/gz");
	C.expected = 1;
	send_req(&req, &C.res[0]);
	client_run();
	ck_assert_int_eq(C.res[0].status, 200);
	ck_assert_str_eq(C.res[0].body, gz_plain);
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_body_ceiling)
{
	static char big[1001];
	struct aw_http_request req = {.method = "GET", .max_response_bytes = 100};
	struct aw_http_request fits = {.method = "GET", .max_response_bytes = 1000};

	memset(big, 'b', 1000);
	server_start();
	script_add((struct script){.path = "/big", .body = big});
	script_add((struct script){.path = "/exact", .body = big});
	client_new(NULL);
	req.url = url_of("/big");
	fits.url = url_of("/exact");
	C.expected = 2;
	send_req(&req, &C.res[0]);
	send_req(&fits, &C.res[1]);
	client_run();
	ck_assert_int_eq(C.res[0].status, 0);
	ck_assert_int_ne(C.res[0].transport_error, 0);
	ck_assert_str_eq(C.res[0].error, "response larger than 100 bytes");
	ck_assert_uint_eq(C.res[0].body_len, 0);
	ck_assert_int_eq(C.res[0].cls, AW_HTTP_FAIL);
	ck_assert_int_eq(C.res[1].status, 200);
	ck_assert_uint_eq(C.res[1].body_len, 1000);
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_client_default_ceiling)
{
	struct aw_http_conf conf = {.insecure_http_for_tests = true, .max_response_bytes = 4};
	struct aw_http_request req = {.method = "GET"};

	server_start();
	client_new(&conf);
	req.url = url_of("/long");
	C.expected = 1;
	send_req(&req, &C.res[0]);
	client_run();
	ck_assert_str_eq(C.res[0].error, "response larger than 4 bytes");
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_timeout)
{
	struct aw_http_request req = {.method = "GET", .timeout_ms = 200};

	server_start();
	script_add((struct script){.path = "/slow", .delay_ms = 1500, .body = "late"});
	client_new(NULL);
	req.url = url_of("/slow");
	C.expected = 1;
	send_req(&req, &C.res[0]);
	client_run();
	ck_assert_int_eq(C.res[0].status, 0);
	ck_assert_int_eq(C.res[0].transport_error, CURLE_OPERATION_TIMEDOUT);
	ck_assert_int_eq(C.res[0].cls, AW_HTTP_RETRY);
	ck_assert_double_eq(metric("aiwatch_http_failures_total", NULL), 1);
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_plain_http_refused)
{
	struct aw_http_conf strict = {0};
	struct aw_http_conf testing = {.insecure_http_for_tests = true};
	struct aw_http_request req = {.method = "GET"};
	struct aw_http *h;
	struct aw_error err;
	uv_loop_t loop;

	memset(&C, 0, sizeof C);
	uv_loop_init(&loop);
	ck_assert_int_eq(aw_http_new(&loop, &strict, NULL, &h, &err), 0);
	req.url = "http://127.0.0.1:1/x?sig=SECRET";
	ck_assert_int_eq(aw_http_send(h, &req, on_done, &C.res[0], NULL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "plain http is refused"));
	ck_assert_ptr_null(strstr(err.msg, "SECRET"));
	req.url = "ftp://127.0.0.1/file";
	ck_assert_int_eq(aw_http_send(h, &req, on_done, &C.res[0], NULL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "scheme ftp"));
	req.url = "file:///etc/passwd";
	ck_assert_int_eq(aw_http_send(h, &req, on_done, &C.res[0], NULL, &err), -1);
	req.url = "not a url";
	ck_assert_int_eq(aw_http_send(h, &req, on_done, &C.res[0], NULL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a valid absolute URL"));
	/* The managed-identity endpoints are http by contract. */
	req.url = "http://169.254.169.254/metadata/identity/oauth2/token";
	ck_assert_int_eq(aw_http_send(h, &req, on_done, &C.res[0], NULL, &err), -1);
	req.allow_http = true;
	ck_assert_int_eq(aw_http_call(h, &req, NULL, on_done, &C.res[0], NULL, &err), 0);
	req.allow_http = false;
	/* Bad headers and methods are refused before anything is sent. */
	{
		const char *bad[] = {"X-Evil: a\r\nInjected: b", NULL};
		const char *noname[] = {": v", NULL};
		struct aw_http_request r2 = {
		    .method = "GET", .url = "https://example.com/", .headers = bad};

		ck_assert_int_eq(aw_http_send(h, &r2, on_done, &C.res[0], NULL, &err), -1);
		r2.headers = noname;
		ck_assert_int_eq(aw_http_send(h, &r2, on_done, &C.res[0], NULL, &err), -1);
		r2.headers = NULL;
		r2.method = "GET /x";
		ck_assert_int_eq(aw_http_send(h, &r2, on_done, &C.res[0], NULL, &err), -1);
	}
	C.h = h;
	aw_http_close(h, on_closed, &C);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(C.closed, 1);
	ck_assert_int_eq(C.res[0].calls, 1); /* the accepted call, cancelled by close */
	ck_assert(C.res[0].cancelled);
	ck_assert_int_eq(uv_loop_close(&loop), 0);

	/* With the test flag: loopback only. */
	memset(&C, 0, sizeof C);
	uv_loop_init(&loop);
	ck_assert_int_eq(aw_http_new(&loop, &testing, NULL, &h, &err), 0);
	req.url = "http://example.com/";
	ck_assert_int_eq(aw_http_send(h, &req, on_done, &C.res[0], NULL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "plain http is refused"));
	req.url = "http://10.0.0.1:8080/";
	ck_assert_int_eq(aw_http_send(h, &req, on_done, &C.res[0], NULL, &err), -1);
	req.url = "http://127.0.0.1.example.com/";
	ck_assert_int_eq(aw_http_send(h, &req, on_done, &C.res[0], NULL, &err), -1);
	req.url = "http://[::1]:1/";
	ck_assert_int_eq(aw_http_send(h, &req, on_done, &C.res[0], NULL, &err), 0);
	req.url = "http://localhost:1/";
	ck_assert_int_eq(aw_http_send(h, &req, on_done, &C.res[1], NULL, &err), 0);
	C.h = h;
	aw_http_close(h, on_closed, &C);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(C.closed, 1);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static unsigned refused_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd); /* nothing listens there now */
	return ntohs(sin.sin_port);
}

START_TEST(test_connection_refused)
{
	struct aw_http_request req = {.method = "GET"};
	char url[64];

	snprintf(url, sizeof url, "http://127.0.0.1:%u/x", refused_port());
	client_new(NULL);
	req.url = url;
	C.expected = 1;
	send_req(&req, &C.res[0]);
	client_run();
	ck_assert_int_eq(C.res[0].status, 0);
	ck_assert_int_eq(C.res[0].transport_error, CURLE_COULDNT_CONNECT);
	ck_assert_str_ne(C.res[0].error, "");
	ck_assert_int_eq(C.res[0].cls, AW_HTTP_RETRY);
	client_free();
}
END_TEST

START_TEST(test_cut_mid_response)
{
	struct aw_http_request req = {.method = "GET"};

	server_start();
	script_add((struct script){.path = "/cut", .cut = true});
	client_new(NULL);
	req.url = url_of("/cut");
	C.expected = 1;
	send_req(&req, &C.res[0]);
	client_run();
	ck_assert_int_eq(C.res[0].status, 0);
	ck_assert_int_eq(C.res[0].transport_error, CURLE_PARTIAL_FILE);
	ck_assert_uint_eq(C.res[0].body_len, 0);
	ck_assert_int_eq(C.res[0].cls, AW_HTTP_RETRY);
	ck_assert_msg(C.res[0].t_ms - C.t0 < 10000, "took %.0f ms", C.res[0].t_ms - C.t0);
	client_free();
	server_stop();
}
END_TEST

/* A proxy from the environment is used, except for requests marked no_proxy. */
START_TEST(test_no_proxy)
{
	struct aw_http_request via = {.method = "GET"};
	struct aw_http_request direct = {.method = "GET", .no_proxy = true};
	char proxy[64];

	server_start();
	snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", refused_port());
	setenv("http_proxy", proxy, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	client_new(NULL);
	via.url = url_of("/via");
	direct.url = url_of("/direct");
	C.expected = 2;
	send_req(&via, &C.res[0]);
	send_req(&direct, &C.res[1]);
	client_run();
	ck_assert_int_eq(C.res[0].transport_error, CURLE_COULDNT_CONNECT);
	ck_assert_int_eq(C.res[1].status, 200);
	ck_assert_ptr_null(seen_path("/via", 0));
	unsetenv("http_proxy");
	client_free();
	server_stop();
}
END_TEST

/* --- the policy ------------------------------------------------------------------- */

struct fake_bearer {
	const char *tokens[4];
	int next;
	int gets, invalidates;
	char invalidated[64];
	bool hold;
	aw_token_cb held_cb;
	void *held_ud;
	const char *fail;
};

static int fb_get(void *ud, aw_token_cb cb, void *cbud)
{
	struct fake_bearer *fb = ud;
	struct aw_error err;

	fb->gets++;
	if (fb->hold) {
		fb->held_cb = cb;
		fb->held_ud = cbud;
		return 0;
	}
	if (fb->fail) {
		aw_error_set(&err, "%s", fb->fail);
		cb(cbud, NULL, &err);
		return 0;
	}
	cb(cbud, fb->tokens[fb->next], NULL);
	return 0;
}

static void fb_invalidate(void *ud, const char *token)
{
	struct fake_bearer *fb = ud;

	fb->invalidates++;
	snprintf(fb->invalidated, sizeof fb->invalidated, "%s", token);
	if (fb->tokens[fb->next] && strcmp(token, fb->tokens[fb->next]) == 0 &&
	    fb->tokens[fb->next + 1])
		fb->next++;
}

static void call(const struct aw_http_request *req, const struct aw_http_policy *p,
		 struct result *res, struct aw_http_req **out)
{
	struct aw_error err;

	if (aw_http_call(C.h, req, p, on_done, res, out, &err) != 0)
		ck_abort_msg("aw_http_call: %s", err.msg);
}

START_TEST(test_call_429_retry_after)
{
	struct aw_http_request req = {.method = "GET"};
	struct aw_http_policy p = {.initial_ms = 10, .cap_ms = 20};
	const struct seen *a, *b;

	server_start();
	script_add((struct script){
	    .path = "/ra", .status = 429, .body = "slow down", .hdr = {{"Retry-After", "1"}}});
	client_new(NULL);
	req.url = url_of("/ra");
	C.expected = 1;
	call(&req, &p, &C.res[0], NULL);
	client_run();
	ck_assert_int_eq(C.res[0].status, 200);
	ck_assert_uint_eq(C.res[0].attempts, 2);
	a = seen_path("/ra", 0);
	b = seen_path("/ra", 1);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_msg(b->t_ms - a->t_ms >= 1000.0, "second attempt after %.1f ms",
		      b->t_ms - a->t_ms);
	/* the same client request id on every attempt, so they can be correlated */
	ck_assert_str_eq(a->crid, b->crid);
	ck_assert_double_eq(metric("aiwatch_http_requests_total", "4xx"), 1);
	ck_assert_double_eq(metric("aiwatch_http_retries_total", NULL), 1);
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_call_503_twice)
{
	struct aw_http_request req = {.method = "POST", .body = "{}", .body_len = 2};
	struct aw_http_policy p = {.initial_ms = 5, .cap_ms = 20};

	server_start();
	script_add((struct script){.path = "/u", .status = 503, .body = "busy"});
	script_add((struct script){.path = "/u", .status = 503, .body = "busy"});
	client_new(NULL);
	req.url = url_of("/u");
	C.expected = 1;
	call(&req, &p, &C.res[0], NULL);
	client_run();
	ck_assert_int_eq(C.res[0].status, 200);
	ck_assert_uint_eq(C.res[0].attempts, 3);
	ck_assert_uint_eq(seen_count(), 3);
	ck_assert_str_eq(seen_path("/u", 2)->body, "{}");
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_call_gives_up)
{
	struct aw_http_request req = {.method = "GET"};
	struct aw_http_policy p = {.max_attempts = 3, .initial_ms = 1, .cap_ms = 2};

	server_start();
	for (int i = 0; i < 4; i++)
		script_add((struct script){.path = "/down", .status = 500, .body = "no"});
	client_new(NULL);
	req.url = url_of("/down");
	C.expected = 1;
	call(&req, &p, &C.res[0], NULL);
	client_run();
	ck_assert_int_eq(C.res[0].status, 500);
	ck_assert_str_eq(C.res[0].body, "no");
	ck_assert_uint_eq(C.res[0].attempts, 3);
	ck_assert_uint_eq(seen_count(), 3);
	client_free();
	server_stop();
}
END_TEST

static char *read_log(int fd)
{
	static char buf[16384];
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

START_TEST(test_call_400_no_retry_logged)
{
	const char *hdrs[] = {"Authorization: Bearer SECRET-TOKEN-VALUE", NULL};
	struct aw_http_request req = {
	    .method = "GET", .headers = hdrs, .component = "in_test/prod"};
	struct aw_http_policy p = {.initial_ms = 1};
	char tmpl[] = "/tmp/aw_http_logXXXXXX";
	int fd = mkstemp(tmpl);
	char want[128];
	const char *log;

	ck_assert_int_ge(fd, 0);
	unlink(tmpl);
	aw_log_set_fd(fd);
	server_start();
	script_add((struct script){
	    .path = "/bad",
	    .status = 400,
	    .body = "{\"error\":{\"code\":\"InvalidArgument\",\"message\":\"The query is bad\","
		    "\"innererror\":{\"code\":\"SyntaxError\"}}}",
	    .hdr = {{"x-ms-request-id", "rid-400"}, {"Content-Type", "application/json"}}});
	client_new(NULL);
	req.url = url_of("/bad?sig=SECRET-SAS&api-version=1");
	C.expected = 1;
	call(&req, &p, &C.res[0], NULL);
	client_run();
	ck_assert_int_eq(C.res[0].status, 400);
	ck_assert_uint_eq(C.res[0].attempts, 1);
	ck_assert_int_eq(C.res[0].cls, AW_HTTP_FAIL);
	ck_assert_uint_eq(seen_count(), 1);

	log = read_log(fd);
	ck_assert_msg(count_lines(log) == 1, "log:\n%s", log);
	ck_assert_ptr_nonnull(strstr(log, "level=warning"));
	ck_assert_ptr_nonnull(strstr(log, "component=in_test/prod"));
	ck_assert_ptr_nonnull(strstr(log, "method=GET"));
	snprintf(want, sizeof want, "url=http://127.0.0.1:%u/bad ", srv.port);
	ck_assert_msg(strstr(log, want), "log:\n%s", log);
	ck_assert_ptr_nonnull(strstr(log, "status=400"));
	ck_assert_ptr_nonnull(strstr(log, "request_id=rid-400"));
	ck_assert_ptr_nonnull(strstr(log, C.res[0].crid));
	ck_assert_ptr_nonnull(strstr(log, "code=InvalidArgument"));
	ck_assert_ptr_nonnull(strstr(log, "inner_code=SyntaxError"));
	ck_assert_ptr_nonnull(strstr(log, "The query is bad"));
	ck_assert_ptr_null(strstr(log, "SECRET"));
	ck_assert_ptr_null(strstr(log, "api-version"));
	aw_log_set_fd(-1);
	close(fd);
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_call_retry_logged_at_notice)
{
	struct aw_http_request req = {.method = "GET"};
	struct aw_http_policy p = {.initial_ms = 1, .cap_ms = 2};
	char tmpl[] = "/tmp/aw_http_logXXXXXX";
	int fd = mkstemp(tmpl);
	const char *log;

	unlink(tmpl);
	aw_log_set_fd(fd);
	server_start();
	script_add((struct script){.path = "/r", .status = 503, .body = "x"});
	client_new(NULL);
	req.url = url_of("/r");
	C.expected = 1;
	call(&req, &p, &C.res[0], NULL);
	client_run();
	ck_assert_int_eq(C.res[0].status, 200);
	log = read_log(fd);
	ck_assert_msg(count_lines(log) == 1, "log:\n%s", log);
	ck_assert_ptr_nonnull(strstr(log, "level=notice"));
	ck_assert_ptr_nonnull(strstr(log, "status=503"));
	ck_assert_ptr_nonnull(strstr(log, "retry_in_ms="));
	aw_log_set_fd(-1);
	close(fd);
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_call_401_refresh)
{
	struct fake_bearer fb = {.tokens = {"tok-1", "tok-2"}};
	struct aw_http_bearer b = {.get = fb_get, .invalidate = fb_invalidate, .ud = &fb};
	struct aw_http_request req = {.method = "GET"};
	struct aw_http_policy p = {.initial_ms = 1, .bearer = &b};

	server_start();
	script_add(
	    (struct script){.path = "/auth",
			    .status = 401,
			    .body = "{\"error\":{\"code\":\"InvalidAuthenticationToken\"}}"});
	client_new(NULL);
	req.url = url_of("/auth");
	C.expected = 1;
	call(&req, &p, &C.res[0], NULL);
	client_run();
	ck_assert_int_eq(C.res[0].status, 200);
	ck_assert_uint_eq(C.res[0].attempts, 2);
	ck_assert_int_eq(fb.invalidates, 1);
	ck_assert_str_eq(fb.invalidated, "tok-1");
	ck_assert_int_eq(fb.gets, 2);
	ck_assert_str_eq(seen_path("/auth", 0)->auth, "Bearer tok-1");
	ck_assert_str_eq(seen_path("/auth", 1)->auth, "Bearer tok-2");
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_call_401_twice)
{
	struct fake_bearer fb = {.tokens = {"tok-1", "tok-2"}};
	struct aw_http_bearer b = {.get = fb_get, .invalidate = fb_invalidate, .ud = &fb};
	struct aw_http_request req = {.method = "GET"};
	struct aw_http_policy p = {.initial_ms = 1, .bearer = &b};

	server_start();
	script_add((struct script){.path = "/auth", .status = 401, .body = "no"});
	script_add((struct script){.path = "/auth", .status = 401, .body = "still no"});
	client_new(NULL);
	req.url = url_of("/auth");
	C.expected = 1;
	call(&req, &p, &C.res[0], NULL);
	client_run();
	ck_assert_int_eq(C.res[0].status, 401);
	ck_assert_str_eq(C.res[0].body, "still no");
	ck_assert_uint_eq(C.res[0].attempts, 2);
	ck_assert_int_eq(fb.invalidates, 1);
	ck_assert_uint_eq(seen_count(), 2);
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_call_token_error)
{
	struct fake_bearer fb = {.fail = "managed identity: IMDS unreachable"};
	struct aw_http_bearer b = {.get = fb_get, .invalidate = fb_invalidate, .ud = &fb};
	struct aw_http_request req = {.method = "GET"};
	struct aw_http_policy p = {.initial_ms = 1, .bearer = &b};

	server_start();
	client_new(NULL);
	req.url = url_of("/t");
	C.expected = 1;
	call(&req, &p, &C.res[0], NULL);
	client_run();
	ck_assert_int_eq(C.res[0].status, 0);
	ck_assert_str_eq(C.res[0].error, "no token: managed identity: IMDS unreachable");
	ck_assert(!C.res[0].cancelled);
	ck_assert_uint_eq(seen_count(), 0);
	client_free();
	server_stop();
}
END_TEST

START_TEST(test_call_retry_after_too_long)
{
	struct aw_http_request req = {.method = "GET"};
	struct aw_http_policy p = {.initial_ms = 1, .max_retry_after_ms = 5000};

	server_start();
	script_add((struct script){
	    .path = "/long", .status = 503, .body = "later", .hdr = {{"Retry-After", "100"}}});
	client_new(NULL);
	req.url = url_of("/long");
	C.expected = 1;
	call(&req, &p, &C.res[0], NULL);
	client_run();
	ck_assert_int_eq(C.res[0].status, 503);
	ck_assert_int_eq(C.res[0].retry_after_ms, 100000);
	ck_assert_uint_eq(C.res[0].attempts, 1);
	client_free();
	server_stop();
}
END_TEST

static struct aw_http_req *to_cancel;

static void cancel_timer_cb(uv_timer_t *t)
{
	C.in_cancel = true;
	aw_http_cancel(to_cancel);
	aw_http_cancel(to_cancel); /* twice: still one callback */
	C.in_cancel = false;
	uv_close((uv_handle_t *)t, NULL);
}

START_TEST(test_cancel_during_backoff)
{
	struct aw_http_request req = {.method = "GET"};
	struct aw_http_policy p = {.initial_ms = 1};
	uv_timer_t t;

	server_start();
	script_add((struct script){
	    .path = "/b", .status = 503, .body = "x", .hdr = {{"Retry-After", "5"}}});
	client_new(NULL);
	req.url = url_of("/b");
	C.expected = 1;
	call(&req, &p, &C.res[0], &to_cancel);
	uv_timer_init(&C.loop, &t);
	uv_timer_start(&t, cancel_timer_cb, 400, 0);
	client_run();
	ck_assert_int_eq(C.res[0].calls, 1);
	ck_assert(C.res[0].cancelled);
	ck_assert_int_eq(C.res[0].cls, AW_HTTP_FAIL);
	ck_assert_uint_eq(C.res[0].attempts, 1);
	ck_assert_uint_eq(seen_count(), 1);
	ck_assert_msg(C.res[0].t_ms - C.t0 < 3000, "took %.0f ms", C.res[0].t_ms - C.t0);
	client_free();
	server_stop();
}
END_TEST

static struct fake_bearer *answer_fb;
static int calls_before_answer;

static void answer_timer_cb(uv_timer_t *t)
{
	calls_before_answer = C.res[0].calls;
	ck_assert_ptr_nonnull(answer_fb->held_cb);
	answer_fb->held_cb(answer_fb->held_ud, "late-token", NULL);
	answer_fb->held_cb = NULL;
	uv_close((uv_handle_t *)t, NULL);
}

START_TEST(test_cancel_during_token_fetch)
{
	struct fake_bearer fb = {.hold = true};
	struct aw_http_bearer b = {.get = fb_get, .invalidate = fb_invalidate, .ud = &fb};
	struct aw_http_request req = {.method = "GET"};
	struct aw_http_policy p = {.initial_ms = 1, .bearer = &b};
	uv_timer_t t1, t2;

	server_start();
	client_new(NULL);
	req.url = url_of("/tok");
	C.expected = 2; /* the cancelled call, and a probe that closes the client */
	call(&req, &p, &C.res[0], &to_cancel);
	uv_timer_init(&C.loop, &t1);
	uv_timer_start(&t1, cancel_timer_cb, 50, 0);
	answer_fb = &fb;
	uv_timer_init(&C.loop, &t2);
	uv_timer_start(&t2, answer_timer_cb, 150, 0);
	{
		struct aw_http_request probe = {.method = "GET", .url = url_of("/probe")};
		struct script s = {.path = "/probe", .delay_ms = 300, .body = "p"};

		script_add(s);
		send_req(&probe, &C.res[1]);
	}
	client_run();
	ck_assert_int_eq(fb.gets, 1);
	ck_assert_int_eq(C.res[0].calls, 1);
	ck_assert(C.res[0].cancelled);
	/* answered at cancel time, not when the token finally came */
	ck_assert_int_eq(calls_before_answer, 1);
	ck_assert_ptr_null(seen_path("/tok", 0)); /* the late token was never used */
	client_free();
	server_stop();
}
END_TEST

/* Close with transfers in flight, a call backing off and one waiting for a token: every
 * callback runs once with cancelled, closed() runs, and the late token answer after
 * the client is gone frees what is left (ASan would report a leak otherwise). */
static void close_timer_cb(uv_timer_t *t)
{
	struct aw_http_request req = {.method = "GET", .url = url_of("/after")};
	struct aw_error err;

	aw_http_close(C.h, on_closed, &C);
	ck_assert_int_eq(aw_http_send(C.h, &req, on_done, &C.res[20], NULL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "shutting down"));
	uv_close((uv_handle_t *)t, NULL);
}

START_TEST(test_close_in_flight)
{
	struct fake_bearer fb = {.hold = true};
	struct aw_http_bearer b = {.get = fb_get, .invalidate = fb_invalidate, .ud = &fb};
	struct aw_http_policy p = {.initial_ms = 1, .bearer = &b};
	struct aw_http_policy plain = {.initial_ms = 1};
	struct aw_http_request req = {.method = "GET"};
	uv_timer_t t;

	server_start();
	script_add((struct script){
	    .path = "/backoff", .status = 503, .body = "x", .hdr = {{"Retry-After", "10"}}});
	for (int i = 0; i < 5; i++)
		script_add((struct script){.path = "/slow", .delay_ms = 800, .body = "late"});
	client_new(NULL);
	C.expected = 1000; /* never reached: close_timer_cb closes */
	req.url = url_of("/slow");
	for (int i = 0; i < 5; i++)
		send_req(&req, &C.res[i]);
	req.url = url_of("/backoff");
	call(&req, &plain, &C.res[5], NULL);
	req.url = url_of("/token");
	call(&req, &p, &C.res[6], NULL);
	uv_timer_init(&C.loop, &t);
	uv_timer_start(&t, close_timer_cb, 300, 0);
	uv_run(&C.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(C.closed, 1);
	ck_assert_int_eq(uv_loop_close(&C.loop), 0);
	for (int i = 0; i < 7; i++) {
		ck_assert_int_eq(C.res[i].calls, 1);
		ck_assert(C.res[i].cancelled);
	}
	ck_assert_int_eq(C.res[20].calls, 0);
	ck_assert_int_eq(fb.gets, 1);
	ck_assert_ptr_nonnull(fb.held_cb);
	fb.held_cb(fb.held_ud, "too-late", NULL);
	client_free();
	server_stop();
}
END_TEST

/* The first completion closes the client from inside the wake timer's work, while
 * another request is in flight: that one still gets its cancelled callback. */
START_TEST(test_close_from_callback)
{
	struct fake_bearer fb = {.fail = "no credential"};
	struct aw_http_bearer b = {.get = fb_get, .invalidate = fb_invalidate, .ud = &fb};
	struct aw_http_policy p = {.initial_ms = 1, .bearer = &b};
	struct aw_http_request req = {.method = "GET"};

	server_start();
	script_add((struct script){.path = "/slow", .delay_ms = 500, .body = "late"});
	client_new(NULL);
	C.expected = 1;
	req.url = url_of("/slow");
	send_req(&req, &C.res[1]);
	req.url = url_of("/tok");
	call(&req, &p, &C.res[0], NULL);
	uv_run(&C.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(C.closed, 1);
	ck_assert_int_eq(uv_loop_close(&C.loop), 0);
	ck_assert_int_eq(C.res[0].calls, 1);
	ck_assert(!C.res[0].cancelled);
	ck_assert_int_eq(C.res[1].calls, 1);
	ck_assert(C.res[1].cancelled);
	client_free();
	server_stop();
}
END_TEST

/* --- parsers and policy parts ----------------------------------------------------- */

START_TEST(test_classify)
{
	static const struct {
		long status;
		int te;
		bool cancelled;
		enum aw_http_class want;
	} cases[] = {
	    {200, 0, false, AW_HTTP_SUCCESS},
	    {201, 0, false, AW_HTTP_SUCCESS},
	    {204, 0, false, AW_HTTP_SUCCESS},
	    {401, 0, false, AW_HTTP_AUTH},
	    {408, 0, false, AW_HTTP_RETRY},
	    {429, 0, false, AW_HTTP_RETRY},
	    {500, 0, false, AW_HTTP_RETRY},
	    {502, 0, false, AW_HTTP_RETRY},
	    {503, 0, false, AW_HTTP_RETRY},
	    {504, 0, false, AW_HTTP_RETRY},
	    {400, 0, false, AW_HTTP_FAIL},
	    {403, 0, false, AW_HTTP_FAIL},
	    {404, 0, false, AW_HTTP_FAIL},
	    {409, 0, false, AW_HTTP_FAIL},
	    {413, 0, false, AW_HTTP_FAIL},
	    {301, 0, false, AW_HTTP_FAIL},
	    {0, CURLE_COULDNT_CONNECT, false, AW_HTTP_RETRY},
	    {0, CURLE_OPERATION_TIMEDOUT, false, AW_HTTP_RETRY},
	    {0, CURLE_PARTIAL_FILE, false, AW_HTTP_RETRY},
	    {0, CURLE_FILESIZE_EXCEEDED, false, AW_HTTP_FAIL},
	    {0, 0, false, AW_HTTP_RETRY},
	    {200, 0, true, AW_HTTP_FAIL},
	    {0, 0, true, AW_HTTP_FAIL},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct aw_http_response r = {.status = cases[i].status,
					     .transport_error = cases[i].te,
					     .cancelled = cases[i].cancelled};

		ck_assert_msg(aw_http_classify(&r) == cases[i].want, "case %zu (status %ld)", i,
			      cases[i].status);
	}
	ck_assert_int_eq(aw_http_classify(NULL), AW_HTTP_FAIL);
}
END_TEST

START_TEST(test_retry_after_parse)
{
	/* 1994-11-06 08:49:37 UTC */
	const int64_t when = 784111777;
	int64_t ms = -5;

	ck_assert_int_eq(aw_http_parse_retry_after("120", when, &ms), 0);
	ck_assert_int_eq(ms, 120000);
	ck_assert_int_eq(aw_http_parse_retry_after(" 0 ", when, &ms), 0);
	ck_assert_int_eq(ms, 0);
	ck_assert_int_eq(aw_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", when - 30, &ms),
			 0);
	ck_assert_int_eq(ms, 30000);
	ck_assert_int_eq(aw_http_parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", when - 2, &ms),
			 0);
	ck_assert_int_eq(ms, 2000);
	ck_assert_int_eq(aw_http_parse_retry_after("Sun Nov  6 08:49:37 1994", when - 1, &ms), 0);
	ck_assert_int_eq(ms, 1000);
	ck_assert_int_eq(
	    aw_http_parse_retry_after("Thu, 01 Jan 2099 00:00:00 GMT", 4070908800 - 5, &ms), 0);
	ck_assert_int_eq(ms, 5000);
	/* a date in the past means now */
	ck_assert_int_eq(
	    aw_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", when + 100, &ms), 0);
	ck_assert_int_eq(ms, 0);
	/* leap day */
	ck_assert_int_eq(aw_http_parse_retry_after("Thu, 29 Feb 2024 12:00:00 GMT", 0, &ms), 0);
	ck_assert_int_eq(ms, (int64_t)1709208000 * 1000);

	static const char *const junk[] = {
	    "",
	    "   ",
	    "-1",
	    "1.5",
	    "10s",
	    "0x10",
	    "99999999999999999999",
	    "9223372036854775807",
	    "soon",
	    "Sun, 06 Nov 1994 08:49:37",
	    "Sun, 06 Nov 1994 08:49:37 UTC",
	    "Sun, 31 Nov 1994 08:49:37 GMT",
	    "Sun, 29 Feb 2023 08:49:37 GMT",
	    "Sun, 06 Nov 1994 24:00:00 GMT",
	    "Sun, 06 Foo 1994 08:49:37 GMT",
	    "Sun, 6 Nov 1994 08:49:37 GMT",
	    "Sun, 06 Nov 1994 08:49:37 GMT x",
	    "Sun Nov 6 08:49:37 1994",
	    "Sunday, 06-Nov-1994 08:49:37 GMT",
	    NULL,
	};
	for (size_t i = 0; junk[i]; i++)
		ck_assert_msg(aw_http_parse_retry_after(junk[i], when, &ms) == -1, "accepted '%s'",
			      junk[i]);
	ck_assert_int_eq(aw_http_parse_retry_after(NULL, when, &ms), -1);
}
END_TEST

START_TEST(test_backoff_bounds)
{
	uint64_t max_seen = 0;

	for (int i = 0; i < 2000; i++) {
		uint64_t d1 = aw_http_backoff_ms(1, 100, 1000, -1);
		uint64_t d3 = aw_http_backoff_ms(3, 100, 1000, -1);
		uint64_t d9 = aw_http_backoff_ms(9, 100, 1000, -1);

		ck_assert_uint_le(d1, 100);
		ck_assert_uint_le(d3, 400);
		ck_assert_uint_le(d9, 1000);
		if (d9 > max_seen)
			max_seen = d9;
		/* the server's delay is a floor */
		ck_assert_uint_ge(aw_http_backoff_ms(1, 100, 1000, 5000), 5000);
		ck_assert_uint_ge(aw_http_backoff_ms(2, 100, 1000, 150), 150);
	}
	/* jitter spreads over the range, not stuck at one end */
	ck_assert_uint_gt(max_seen, 500);
	ck_assert_uint_eq(aw_http_backoff_ms(1, 0, 1000, -1), 0);
	ck_assert_uint_eq(aw_http_backoff_ms(1, 0, 0, 0), 0);
	ck_assert_uint_eq(aw_http_backoff_ms(1, 0, 0, 7), 7);
	/* huge attempt numbers neither overflow nor pass the cap */
	ck_assert_uint_le(aw_http_backoff_ms(4000000000u, 500, 60000, -1), 60000);
	ck_assert_uint_le(aw_http_backoff_ms(200, UINT64_MAX / 2, UINT64_MAX - 1, -1),
			  UINT64_MAX - 1);
}
END_TEST

START_TEST(test_azure_error_parse)
{
	struct aw_azure_error e;
	const char *oneapi =
	    "{\"error\":{\"code\":\"AuthorizationFailed\",\"message\":\"The client "
	    "'x' does not have authorization\",\"innererror\":{\"code\":\"A\","
	    "\"innererror\":{\"code\":\"B\"}}}}";
	const char *oauth = "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: "
			    "Invalid client secret provided.\",\"error_codes\":[7000215]}";
	const char *bare = "{\"code\":\"ResourceNotFound\",\"message\":\"gone\"}";
	char longmsg[2000];

	ck_assert_int_eq(aw_azure_error_parse(oneapi, strlen(oneapi), &e), 0);
	ck_assert_str_eq(e.code, "AuthorizationFailed");
	ck_assert_str_eq(e.inner_code, "B");
	ck_assert_str_eq(e.message, "The client 'x' does not have authorization");

	ck_assert_int_eq(aw_azure_error_parse(oauth, strlen(oauth), &e), 0);
	ck_assert_str_eq(e.code, "invalid_client");
	ck_assert_str_eq(e.inner_code, "");
	ck_assert_str_eq(e.message, "AADSTS7000215: Invalid client secret provided.");

	ck_assert_int_eq(aw_azure_error_parse(bare, strlen(bare), &e), 0);
	ck_assert_str_eq(e.code, "ResourceNotFound");

	/* only len bytes are read: the prefix here is not a complete document */
	ck_assert_int_eq(aw_azure_error_parse(oneapi, 20, &e), -1);
	ck_assert_str_eq(e.code, "");

	static const char *const junk[] = {"",
					   "null",
					   "[]",
					   "\"error\"",
					   "{}",
					   "{\"error\":1}",
					   "{\"error\":{}}",
					   "<html>502 Bad Gateway</html>",
					   "{\"error\":{\"code\":5}}",
					   NULL};
	for (size_t i = 0; junk[i]; i++)
		ck_assert_msg(aw_azure_error_parse(junk[i], strlen(junk[i]), &e) == -1,
			      "accepted '%s'", junk[i]);
	ck_assert_int_eq(aw_azure_error_parse(NULL, 10, &e), -1);

	/* truncated to fit, on a character boundary */
	{
		size_t n = (size_t)snprintf(longmsg, sizeof longmsg,
					    "{\"error\":{\"code\":\"C\",\"message\":\"");

		for (; n < 1501; n += 2)
			memcpy(longmsg + n, "\xc3\xa9", 2); /* two-byte characters */
		snprintf(longmsg + n, sizeof longmsg - n, "\"}}");
	}
	ck_assert_int_eq(aw_azure_error_parse(longmsg, strlen(longmsg), &e), 0);
	ck_assert_uint_lt(strlen(e.message), sizeof e.message);
	ck_assert_uint_eq(strlen(e.message) % 2, 0);
	/* an embedded NUL ends the copy */
	{
		const char nul[] = "{\"error\":\"a\\u0000b\"}";

		ck_assert_int_eq(aw_azure_error_parse(nul, sizeof nul - 1, &e), 0);
		ck_assert_str_eq(e.code, "a");
	}
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("client");
	TCase *tp = tcase_create("policy");
	TCase *tu = tcase_create("parsers");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_get_post_headers);
	tcase_add_test(tc, test_concurrent_50);
	tcase_add_test(tc, test_fd_reuse_sequential);
	tcase_add_test(tc, test_connection_reuse);
	tcase_add_test(tc, test_gzip);
	tcase_add_test(tc, test_body_ceiling);
	tcase_add_test(tc, test_client_default_ceiling);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_plain_http_refused);
	tcase_add_test(tc, test_connection_refused);
	tcase_add_test(tc, test_cut_mid_response);
	tcase_add_test(tc, test_no_proxy);
	suite_add_tcase(s, tc);

	tcase_set_timeout(tp, 60);
	tcase_add_test(tp, test_call_429_retry_after);
	tcase_add_test(tp, test_call_503_twice);
	tcase_add_test(tp, test_call_gives_up);
	tcase_add_test(tp, test_call_400_no_retry_logged);
	tcase_add_test(tp, test_call_retry_logged_at_notice);
	tcase_add_test(tp, test_call_401_refresh);
	tcase_add_test(tp, test_call_401_twice);
	tcase_add_test(tp, test_call_token_error);
	tcase_add_test(tp, test_call_retry_after_too_long);
	tcase_add_test(tp, test_cancel_during_backoff);
	tcase_add_test(tp, test_cancel_during_token_fetch);
	tcase_add_test(tp, test_close_in_flight);
	tcase_add_test(tp, test_close_from_callback);
	suite_add_tcase(s, tp);

	tcase_add_test(tu, test_classify);
	tcase_add_test(tu, test_retry_after_parse);
	tcase_add_test(tu, test_backoff_bounds);
	tcase_add_test(tu, test_azure_error_parse);
	suite_add_tcase(s, tu);
	return s;
}

AW_TEST_MAIN(http_suite)
