/* Metrics and health server: libmicrohttpd in external-epoll mode on the loop thread.
 *
 * MHD gathers its sockets in one epoll fd; a uv_poll on that fd tells us when to call
 * MHD_run(), and a uv_timer armed from MHD_get_timeout() after every run makes MHD
 * time out idle connections and finish work it left pending. We bind the listening
 * socket ourselves so bind errors carry errno and the configured address. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define AW_HTTPD_CONN_TIMEOUT_S 10u
#define AW_HTTPD_CONN_LIMIT	64u
#define AW_HTTPD_BACKLOG	64
#define AW_HTTPD_WHY_MAX	256

struct aw_httpd {
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	int open_handles; /* freed when the last close callback runs */
	bool polling;	  /* poll handle initialised */
	struct aw_metrics *metrics;
	aw_ready_fn ready;
	void *ud;
	unsigned port;
	bool starting;
	char start_err[256]; /* MHD's own message while starting, for the aw_error */
};

/* --- address parsing and the listening socket ------------------------------------ */

union aw_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

static int parse_port(const char *s, unsigned *port)
{
	char *end;
	long v;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < 0 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

/* "a.b.c.d:port", "[v6]:port" or "localhost:port". localhost is taken as 127.0.0.1
 * rather than resolved: no resolver call at start, and the answer does not depend on
 * /etc/hosts ordering. */
static int parse_listen(const char *spec, union aw_sockaddr *addr, socklen_t *alen,
			struct aw_error *err)
{
	char host[64];
	const char *colon, *hs;
	size_t hl;
	unsigned port;
	bool v6 = false;

	memset(addr, 0, sizeof *addr);
	if (!spec || !*spec)
		return aw_error_set(err, "http_listen is empty");
	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');
		if (!rb || rb[1] != ':')
			goto bad;
		hs = spec + 1;
		hl = (size_t)(rb - hs);
		colon = rb + 1;
		v6 = true;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			goto bad;
		hs = spec;
		hl = (size_t)(colon - spec);
	}
	if (hl == 0 || hl >= sizeof host || parse_port(colon + 1, &port) != 0)
		goto bad;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	if (v6) {
		addr->in6.sin6_family = AF_INET6;
		addr->in6.sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &addr->in6.sin6_addr) != 1)
			goto bad;
		*alen = sizeof addr->in6;
		return 0;
	}
	addr->in.sin_family = AF_INET;
	addr->in.sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		addr->in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &addr->in.sin_addr) != 1)
		goto bad;
	*alen = sizeof addr->in;
	return 0;
bad:
	return aw_error_set(err,
			    "http_listen \"%s\": expected host:port with an IPv4 address, "
			    "[IPv6 address] or localhost and a port 0-65535",
			    spec);
}

static int open_listener(const char *spec, unsigned *port, struct aw_error *err)
{
	union aw_sockaddr addr, bound = {0};
	socklen_t alen = 0, blen = sizeof bound;
	int one = 1;
	int fd;

	if (parse_listen(spec, &addr, &alen, err) != 0)
		return -1;
	fd = socket(addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return aw_error_set(err, "http_listen %s: socket: %s", spec, strerror(errno));
	/* A restart (or a reload moving the server back) must not wait for TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
		aw_error_set(err, "http_listen %s: SO_REUSEADDR: %s", spec, strerror(errno));
		goto fail;
	}
	if (bind(fd, &addr.sa, alen) != 0) {
		aw_error_set(err, "http_listen %s: %s", spec, strerror(errno));
		goto fail;
	}
	if (listen(fd, AW_HTTPD_BACKLOG) != 0) {
		aw_error_set(err, "http_listen %s: listen: %s", spec, strerror(errno));
		goto fail;
	}
	if (getsockname(fd, &bound.sa, &blen) != 0) {
		aw_error_set(err, "http_listen %s: getsockname: %s", spec, strerror(errno));
		goto fail;
	}
	*port = ntohs(bound.sa.sa_family == AF_INET6 ? bound.in6.sin6_port : bound.in.sin_port);
	return fd;
fail:
	close(fd);
	return -1;
}

/* --- requests -------------------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *ctype,
			       char *body, size_t len, enum MHD_ResponseMemoryMode mode,
			       bool allow_hdr)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO; /* MHD closes the connection */
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
	    (allow_hdr &&
	     MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text,
				    bool allow_hdr)
{
	return respond(c, status, "text/plain; charset=utf-8", (char *)text, strlen(text),
		       MHD_RESPMEM_PERSISTENT, allow_hdr);
}

static enum MHD_Result on_readyz(struct aw_httpd *h, struct MHD_Connection *c)
{
	char why[AW_HTTPD_WHY_MAX] = "";
	char *body;
	int n;

	if (!h->ready || h->ready(h->ud, why, sizeof why))
		return respond_text(c, MHD_HTTP_OK, "ready\n", false);
	why[sizeof why - 1] = '\0';
	n = asprintf(&body, "not ready: %s\n", why[0] ? why : "unknown");
	if (n < 0)
		return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n", false);
	return respond(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", body,
		       (size_t)n, MHD_RESPMEM_MUST_FREE, false);
}

static enum MHD_Result on_metrics(struct aw_httpd *h, struct MHD_Connection *c)
{
	char *text = NULL;
	size_t len = 0;

	if (aw_metrics_render(h->metrics, &text, &len) != 0) {
		aw_log(AW_LOG_WARN, "httpd", "cannot render metrics (out of memory or too large)");
		return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render metrics\n",
				    false);
	}
	return respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len,
		       MHD_RESPMEM_MUST_FREE, false);
}

/* Every route answers on the first call: GET and HEAD carry no body, and any other
 * method is refused before its body is read. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct aw_httpd *h = cls;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", true);
	if (strcmp(url, "/metrics") == 0)
		return on_metrics(h, c);
	if (strcmp(url, "/healthz") == 0)
		return respond_text(c, MHD_HTTP_OK, "ok\n", false);
	if (strcmp(url, "/readyz") == 0)
		return on_readyz(h, c);
	return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n", false);
}

/* MHD's messages: kept for the error while starting; afterwards debug only, since
 * any client can provoke them. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct aw_httpd *h = cls;
	char msg[256];
	size_t n;

	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (h->starting)
		memcpy(h->start_err, msg, n + 1);
	else
		aw_log(AW_LOG_DEBUG, "httpd", msg);
}

/* --- loop integration ------------------------------------------------------------ */

static void on_timer(uv_timer_t *t);

/* After every MHD_run: MHD may hold buffered work (timeout 0) or idle connections to
 * expire; with no timeout there is nothing until the epoll fd wakes us. */
static void rearm(struct aw_httpd *h)
{
	MHD_UNSIGNED_LONG_LONG to;

	if (MHD_get_timeout(h->mhd, &to) == MHD_YES)
		uv_timer_start(&h->timer, on_timer, (uint64_t)to, 0);
	else
		uv_timer_stop(&h->timer);
}

static void on_timer(uv_timer_t *t)
{
	struct aw_httpd *h = t->data;

	MHD_run(h->mhd);
	rearm(h);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct aw_httpd *h = p->data;

	(void)events;
	if (status < 0)
		aw_log(AW_LOG_WARN, "httpd", "poll on the server's epoll fd failed",
		       AW_S("error", uv_strerror(status)));
	MHD_run(h->mhd);
	rearm(h);
}

static void on_closed(uv_handle_t *hd)
{
	struct aw_httpd *h = hd->data;

	if (--h->open_handles == 0)
		free(h);
}

int aw_httpd_start(uv_loop_t *loop, const char *listen, struct aw_metrics *metrics,
		   aw_ready_fn ready, void *ud, struct aw_httpd **out, struct aw_error *err)
{
	const union MHD_DaemonInfo *info;
	struct aw_httpd *h;
	int fd, rc;

	*out = NULL;
	h = calloc(1, sizeof *h);
	if (!h)
		return aw_error_set(err, "http_listen %s: out of memory", listen ? listen : "");
	h->metrics = metrics;
	h->ready = ready;
	h->ud = ud;
	fd = open_listener(listen, &h->port, err);
	if (fd < 0) {
		free(h);
		return -1;
	}
	h->starting = true;
	h->mhd =
	    MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h,
			     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_LISTEN_SOCKET,
			     fd, MHD_OPTION_CONNECTION_TIMEOUT, AW_HTTPD_CONN_TIMEOUT_S,
			     MHD_OPTION_CONNECTION_LIMIT, AW_HTTPD_CONN_LIMIT, MHD_OPTION_END);
	h->starting = false;
	if (!h->mhd) {
		/* MHD 0.9.75 leaves a socket given with MHD_OPTION_LISTEN_SOCKET open when it
		 * fails to start (checked for option and epoll failures). */
		close(fd);
		aw_error_set(err, "http_listen %s: cannot start the HTTP server: %s", listen,
			     h->start_err[0] ? h->start_err : "unknown libmicrohttpd error");
		free(h);
		return -1;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		aw_error_set(err, "http_listen %s: libmicrohttpd has no epoll fd", listen);
		MHD_stop_daemon(h->mhd);
		free(h);
		return -1;
	}
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->open_handles = 1;
	rc = uv_poll_init(loop, &h->poll, info->epoll_fd);
	if (rc == 0) {
		h->poll.data = h;
		h->polling = true;
		h->open_handles++;
		rc = uv_poll_start(&h->poll, UV_READABLE, on_poll);
	}
	if (rc != 0) {
		aw_error_set(err, "http_listen %s: cannot watch the server's sockets: %s", listen,
			     uv_strerror(rc));
		aw_httpd_close(h);
		return -1;
	}
	rearm(h);
	*out = h;
	return 0;
}

unsigned aw_httpd_port(const struct aw_httpd *h)
{
	return h ? h->port : 0;
}

/* The poll handle goes first: libuv must stop watching the epoll fd before
 * MHD_stop_daemon closes it. MHD_stop_daemon also closes the listening socket at
 * once, so a new server may bind the same port right after this returns. Must not be
 * called from inside a request handler. */
void aw_httpd_close(struct aw_httpd *h)
{
	if (!h)
		return;
	if (h->polling)
		uv_close((uv_handle_t *)&h->poll, on_closed);
	uv_close((uv_handle_t *)&h->timer, on_closed);
	MHD_stop_daemon(h->mhd);
	h->mhd = NULL;
}
