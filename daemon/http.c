/* The HTTP client: libcurl's multi interface driven by the libuv loop.
 *
 * curl tells us which sockets to watch (socket callback) and when to call it back
 * (timer callback); uv_poll and one uv_timer call curl_multi_socket_action, and every
 * action is followed by draining curl_multi_info_read, so no completion is missed
 * (not even the last transfer's). A second timer, `wake`, runs work that must not run
 * inside the caller's stack: cancelled completions, backoff deadlines and shutdown.
 *
 * Shutdown: aw_http_close cancels everything; the wake timer runs the cancelled
 * callbacks, then curl_multi_cleanup (curl may still touch sockets, so the loop and
 * the poll handles are alive), then closes every handle; closed() runs from the last
 * close callback. */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- sockets ---------------------------------------------------------------------- */

static struct aw_http_sock *sock_find(struct aw_http *h, curl_socket_t fd)
{
	for (struct aw_http_sock *s = h->socks; s; s = s->next)
		if (s->fd == fd)
			return s;
	return NULL;
}

static void maybe_freed(struct aw_http *h);

static void on_handle_closed(uv_handle_t *hd)
{
	struct aw_http *h = hd->data;

	h->open_handles--;
	maybe_freed(h);
}

static void on_sock_closed(uv_handle_t *hd)
{
	struct aw_http_sock *s = hd->data;
	struct aw_http *h = s->h;

	free(s);
	h->open_handles--;
	maybe_freed(h);
}

static void sock_close(struct aw_http *h, struct aw_http_sock *s)
{
	struct aw_http_sock **pp = &h->socks;

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void drain(struct aw_http *h)
{
	CURLMsg *msg;
	int left;

	while (h->multi && (msg = curl_multi_info_read(h->multi, &left))) {
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		struct aw_http_xfer *x = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		/* msg is invalid once the handle is removed. */
		curl_multi_remove_handle(h->multi, easy);
		aw_http_inflight(h, -1);
		if (x)
			aw_http_xfer_done(x, rc);
	}
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct aw_http_sock *s = p->data;
	struct aw_http *h = s->h;
	int flags = 0, running = 0;

	/* An error (the peer reset, the fd went bad) must reach curl as CURL_CSELECT_ERR:
	 * ignored, the transfer would wait for readiness that never comes. libuv has
	 * stopped the handle; curl re-arms it through the socket callback if needed. */
	if (status < 0) {
		flags = CURL_CSELECT_ERR;
		s->events = 0;
	} else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	if (!h->multi)
		return;
	curl_multi_socket_action(h->multi, s->fd, flags, &running);
	drain(h);
}

static void sock_watch(struct aw_http_sock *s, int events)
{
	if (uv_poll_start(&s->poll, events, on_poll) == 0)
		s->events = events;
}

static void sock_stop(struct aw_http *h, struct aw_http_sock *s)
{
	size_t idle = 0;

	uv_poll_stop(&s->poll);
	s->events = 0;
	for (struct aw_http_sock *t = h->socks; t; t = t->next)
		idle += t->events == 0;
	if (idle > AW_HTTP_IDLE_SOCKS_MAX)
		sock_close(h, s);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct aw_http *h = userp;
	struct aw_http_sock *s = socketp ? socketp : sock_find(h, fd);
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s)
			sock_stop(h, s);
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s)
			return -1;
		if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->poll.data = s;
		s->h = h;
		s->fd = fd;
		s->next = h->socks;
		h->socks = s;
		h->open_handles++;
	}
	curl_multi_assign(h->multi, fd, s);
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	sock_watch(s, events);
	return 0;
}

/* curl closes its sockets through us so the poll stops before the fd is gone: a poll
 * left on a closed fd makes epoll fail with EBADF, or watch whatever reuses the fd. */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
	struct aw_http *h = clientp;
	struct aw_http_sock *s = sock_find(h, fd);

	if (s && s->events) {
		uv_poll_stop(&s->poll);
		s->events = 0;
	}
	return close(fd) == 0 ? 0 : 1;
}

int aw_http_close_socket_cb(void *clientp, curl_socket_t fd)
{
	return on_close_socket(clientp, fd);
}

/* --- curl's timer ------------------------------------------------------------------ */

static void on_curl_timeout(uv_timer_t *t)
{
	struct aw_http *h = t->data;
	int running = 0;

	if (!h->multi)
		return;
	h->in_curl_timer = true;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	h->in_curl_timer = false;
	drain(h);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct aw_http *h = userp;

	if (timeout_ms < 0) {
		uv_timer_stop(&h->curl_timer);
		return 0;
	}
	/* Never call curl from here; a 0 ms request asked from inside the timeout
	 * action waits 1 ms so the loop polls sockets in between instead of spinning
	 * in the timer phase. */
	if (timeout_ms == 0 && h->in_curl_timer)
		timeout_ms = 1;
	uv_timer_start(&h->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

/* --- the wake timer: deferred completions, backoff, shutdown ------------------------ */

static void finalize(struct aw_http *h);
static void on_wake(uv_timer_t *t);

static void wake_start(struct aw_http *h, uint64_t ms)
{
	uv_timer_start(&h->wake, on_wake, ms, 0);
}

/* The next thing the wake timer has to do: deferred work at once, else the earliest
 * backoff deadline. */
static void arm_wake(struct aw_http *h)
{
	uint64_t now;

	if (h->finalized)
		return;
	if (h->deferred || h->closing) {
		wake_start(h, 0);
		return;
	}
	if (!h->waiting) {
		uv_timer_stop(&h->wake);
		return;
	}
	now = uv_now(h->loop);
	wake_start(h, h->waiting->due_ms > now ? h->waiting->due_ms - now : 0);
}

/* Cancelled requests' callbacks, one at a time from the head: a callback may cancel
 * more, queue work or close the client. */
static void run_deferred(struct aw_http *h)
{
	while (h->deferred) {
		struct aw_http_req *r = h->deferred;

		h->deferred = r->qnext;
		if (!h->deferred)
			h->deferred_tail = NULL;
		r->qnext = NULL;
		aw_http_req_fail(r, "cancelled", true);
	}
}

static void on_wake(uv_timer_t *t)
{
	struct aw_http *h = t->data;

	run_deferred(h);
	if (!h->closing) {
		uv_update_time(h->loop);
		while (h->waiting && h->waiting->due_ms <= uv_now(h->loop) && !h->closing) {
			struct aw_http_req *r = h->waiting;

			h->waiting = r->qnext;
			r->qnext = NULL;
			aw_http_attempt(r);
		}
	}
	if (h->closing) {
		/* A callback above may have closed the client: its cancellations are
		 * answered before curl goes away. */
		run_deferred(h);
		finalize(h);
		return;
	}
	arm_wake(h);
}

void aw_http_defer(struct aw_http *h, struct aw_http_req *r)
{
	r->state = AW_HS_DEFERRED;
	r->qnext = NULL;
	if (h->deferred_tail)
		h->deferred_tail->qnext = r;
	else
		h->deferred = r;
	h->deferred_tail = r;
	if (!h->finalized)
		wake_start(h, 0);
}

void aw_http_wait(struct aw_http *h, struct aw_http_req *r, uint64_t delay_ms)
{
	struct aw_http_req **pp = &h->waiting;

	/* uv_now is cached at the start of the loop iteration; refresh it so a
	 * server-given delay is counted from now, not from earlier. */
	uv_update_time(h->loop);
	r->due_ms = uv_now(h->loop) + delay_ms;
	r->state = AW_HS_BACKOFF;
	while (*pp && (*pp)->due_ms <= r->due_ms)
		pp = &(*pp)->qnext;
	r->qnext = *pp;
	*pp = r;
	if (h->waiting == r && !h->deferred && !h->closing)
		wake_start(h, delay_ms);
}

void aw_http_unwait(struct aw_http *h, struct aw_http_req *r)
{
	struct aw_http_req **pp = &h->waiting;

	while (*pp && *pp != r)
		pp = &(*pp)->qnext;
	if (*pp)
		*pp = r->qnext;
	r->qnext = NULL;
}

/* --- metrics ---------------------------------------------------------------------- */

void aw_http_inflight(struct aw_http *h, int delta)
{
	if (delta > 0)
		h->inflight += (size_t)delta;
	else
		h->inflight -= h->inflight < (size_t)-delta ? h->inflight : (size_t)-delta;
	aw_metric_set(h->m_inflight, (double)h->inflight);
}

void aw_http_count(struct aw_http *h, const char *host, const char *status_class, bool failed)
{
	if (!h->metrics)
		return;
	aw_metric_inc(
	    aw_metric_get(h->metrics, AW_METRIC_COUNTER, "aiwatch_http_requests_total",
			  "HTTP requests sent (one per attempt), by host and status class", "host",
			  host, "status_class", status_class, NULL));
	if (failed)
		aw_metric_inc(
		    aw_metric_get(h->metrics, AW_METRIC_COUNTER, "aiwatch_http_failures_total",
				  "HTTP attempts that failed (transport error or status >= 400)",
				  "host", host, NULL));
}

void aw_http_count_retry(struct aw_http *h, const char *host)
{
	if (!h->metrics)
		return;
	aw_metric_inc(aw_metric_get(h->metrics, AW_METRIC_COUNTER, "aiwatch_http_retries_total",
				    "HTTP attempts repeated by the retry policy, by host", "host",
				    host, NULL));
}

/* --- lifecycle -------------------------------------------------------------------- */

int aw_http_new(uv_loop_t *loop, const struct aw_http_conf *conf, struct aw_metrics *m,
		struct aw_http **out, struct aw_error *err)
{
	struct aw_http *h = NULL;
	const char *ua = conf && conf->user_agent ? conf->user_agent : "aiwatchd/" AW_VERSION;
	bool global = false;

	*out = NULL;
	if (!loop)
		return aw_error_set(err, "http client: no event loop");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return aw_error_set(err, "http client: libcurl initialisation failed");
	global = true;
	h = calloc(1, sizeof *h);
	if (!h)
		goto nomem;
	h->loop = loop;
	h->connect_timeout_ms = conf && conf->connect_timeout_ms > 0 ? conf->connect_timeout_ms
								     : AW_HTTP_DEFAULT_CONNECT_MS;
	h->timeout_ms =
	    conf && conf->timeout_ms > 0 ? conf->timeout_ms : AW_HTTP_DEFAULT_TIMEOUT_MS;
	h->max_response_bytes =
	    conf && conf->max_response_bytes ? conf->max_response_bytes : AW_HTTP_DEFAULT_MAX_BYTES;
	h->insecure_http_for_tests = conf && conf->insecure_http_for_tests;
	h->metrics = m;
	h->user_agent = strdup(ua);
	if (!h->user_agent)
		goto nomem;
	h->multi = curl_multi_init();
	if (!h->multi)
		goto nomem;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	uv_timer_init(loop, &h->curl_timer);
	h->curl_timer.data = h;
	uv_timer_init(loop, &h->wake);
	h->wake.data = h;
	h->open_handles = 2;
	if (m)
		h->m_inflight = aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_http_requests_in_flight",
					      "HTTP transfers in progress", NULL);
	*out = h;
	return 0;
nomem:
	if (h) {
		if (h->multi)
			curl_multi_cleanup(h->multi);
		free(h->user_agent);
		free(h);
	}
	if (global)
		curl_global_cleanup();
	return aw_error_set(err, "http client: out of memory");
}

static void maybe_freed(struct aw_http *h)
{
	void (*closed)(void *ud);
	void *ud;

	if (!h->finalized || h->open_handles > 0)
		return;
	closed = h->closed;
	ud = h->closed_ud;
	free(h->user_agent);
	free(h);
	curl_global_cleanup();
	if (closed)
		closed(ud);
}

static void finalize(struct aw_http *h)
{
	struct aw_http_req *r, *next;

	if (h->finalized)
		return;
	h->finalized = true;
	/* curl may still close sockets (and call back) during cleanup: the poll handles
	 * and the loop are alive until it returns. */
	if (h->multi) {
		CURLM *multi = h->multi;

		h->multi = NULL;
		curl_multi_cleanup(multi);
	}
	/* What is left waits only for a token answer: it outlives the client. */
	for (r = h->reqs; r; r = next) {
		next = r->next;
		r->h = NULL;
		r->prev = r->next = NULL;
	}
	h->reqs = NULL;
	h->nreqs = 0;
	while (h->socks)
		sock_close(h, h->socks);
	uv_close((uv_handle_t *)&h->curl_timer, on_handle_closed);
	uv_close((uv_handle_t *)&h->wake, on_handle_closed);
}

void aw_http_close(struct aw_http *h, void (*closed)(void *ud), void *ud)
{
	struct aw_http_req *r, *next;

	if (!h || h->closing)
		return;
	h->closing = true;
	h->closed = closed;
	h->closed_ud = ud;
	for (r = h->reqs; r; r = next) {
		next = r->next;
		aw_http_cancel(r);
	}
	wake_start(h, 0);
}
