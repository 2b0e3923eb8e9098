/* Internals of the HTTP client, shared by http.c (the client, curl on the loop),
 * http_request.c (one request: copies, lifetime, the failure log line), http_xfer.c
 * (one transfer: the curl easy handle and the response) and http_retry.c
 * (aw_http_call's policy). Nothing else includes this.
 *
 * A request (struct aw_http_req, the caller's handle) lives from aw_http_send/_call
 * until its done() has run and no token answer is outstanding. Each attempt is one
 * transfer (struct aw_http_xfer, one curl easy handle) owned by the request. */
#ifndef AW_HTTP_INT_H
#define AW_HTTP_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http.h"

#define AW_HTTP_DEFAULT_CONNECT_MS 10000L
#define AW_HTTP_DEFAULT_TIMEOUT_MS 60000L
#define AW_HTTP_DEFAULT_MAX_BYTES  ((size_t)64 << 20)
/* Requests alive at once (in flight, waiting for a token or backing off): past this a
 * caller is looping, and aw_http_send refuses. */
#define AW_HTTP_MAX_REQS 4096
/* Response headers kept per response; later ones are dropped (curl itself refuses a
 * header block over 100 KiB). */
#define AW_HTTP_HEADERS_MAX_BYTES ((size_t)64 << 10)
#define AW_HTTP_HEADERS_MAX_COUNT 256
/* Stopped poll contexts kept for fds curl may soon reuse; beyond this they are closed. */
#define AW_HTTP_IDLE_SOCKS_MAX 16
/* Caller's headers per request. */
#define AW_HTTP_REQ_HEADERS_MAX 64
#define AW_HTTP_GUID_LEN	36

/* "name\0value\0" pairs, names as received. */
struct aw_http_headers {
	char *buf;
	size_t len, cap;
	size_t count;
	size_t dropped;
};

/* One uv_poll per fd, found by fd. When curl drops a socket its context is stopped and
 * kept, and reused if curl opens a new socket on the same fd number; a context that is
 * closed is unlinked at once (uv_close stops it before returning), so an fd never has
 * two active poll handles, even while an old one is still closing. */
struct aw_http_sock {
	uv_poll_t poll;
	struct aw_http *h;
	curl_socket_t fd;
	int events; /* UV_READABLE | UV_WRITABLE being watched; 0 when stopped */
	struct aw_http_sock *next;
};

struct aw_http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t curl_timer; /* curl's one timeout */
	uv_timer_t wake;       /* deferred completions and backoff deadlines */
	long connect_timeout_ms, timeout_ms;
	size_t max_response_bytes;
	bool insecure_http_for_tests;
	char *user_agent;
	struct aw_metrics *metrics;
	struct aw_metric *m_inflight;
	struct aw_http_sock *socks;
	struct aw_http_req *reqs; /* every live request (doubly linked) */
	size_t nreqs;
	struct aw_http_req *deferred; /* cancelled, done() not yet run (FIFO) */
	struct aw_http_req *deferred_tail;
	struct aw_http_req *waiting; /* backing off, sorted by due_ms */
	size_t inflight;	     /* transfers in the multi handle */
	int open_handles;	     /* uv handles not yet closed */
	bool in_curl_timer;
	bool closing;	/* aw_http_close called */
	bool finalized; /* curl cleaned up, handles closing */
	void (*closed)(void *ud);
	void *closed_ud;
};

enum aw_http_state {
	AW_HS_NEW,	/* being set up */
	AW_HS_TOKEN,	/* waiting for bearer->get to answer */
	AW_HS_XFER,	/* a transfer is in the multi handle */
	AW_HS_BACKOFF,	/* in h->waiting until due_ms */
	AW_HS_DEFERRED, /* in h->deferred: done() runs from the wake timer */
	AW_HS_DONE,	/* done() has run (or is running) */
};

struct aw_http_xfer {
	struct aw_http *h;
	struct aw_http_req *req;
	CURL *easy;
	bool added;		 /* in the multi handle */
	struct curl_slist *hdrs; /* may hold Authorization: wiped before it is freed */
	char *body;
	size_t body_len, body_cap;
	size_t max_body;
	bool too_large;
	struct aw_http_headers rh;
	char errbuf[CURL_ERROR_SIZE];
};

struct aw_http_req {
	struct aw_http *h; /* NULL once the client is gone (only a token answer is awaited) */
	struct aw_http_req *prev, *next; /* h->reqs */
	struct aw_http_req *qnext;	 /* h->deferred or h->waiting */
	enum aw_http_state state;
	aw_http_done_fn done;
	void *ud;

	/* the request, copied */
	char *method;
	char *url;
	char *log_url; /* scheme://host[:port]/path: no userinfo, query or fragment */
	char *host;    /* metrics label */
	char *component;
	char **headers;
	size_t nheaders;
	void *body;
	size_t body_len;
	bool has_body;
	long timeout_ms;
	size_t max_response_bytes;
	bool no_proxy;
	bool plain_http; /* http:// allowed for this request */
	char client_request_id[AW_HTTP_GUID_LEN + 1];
	bool caller_crid;   /* the caller sent its own x-ms-client-request-id */
	bool caller_expect; /* ... and its own Expect: (else 100-continue is turned off) */

	/* the policy (aw_http_call); aw_http_send is one attempt without a bearer */
	bool is_call;
	struct aw_http_policy policy;
	struct aw_http_bearer bearer;
	bool has_bearer;
	bool auth_retried;
	bool token_wait; /* bearer->get has not answered yet */
	char *token;	 /* the token of the current attempt (wiped when freed) */
	unsigned attempts;
	uint64_t due_ms;
	unsigned hold; /* > 0 while our own code is below a call that may finish r */

	struct aw_http_xfer *xfer;
};

/* --- http.c ------------------------------------------------------------------------ */

/* Queue r's cancelled completion and wake the loop. */
void aw_http_defer(struct aw_http *h, struct aw_http_req *r);
/* Put r in the backoff list; it starts its next attempt after delay_ms. */
void aw_http_wait(struct aw_http *h, struct aw_http_req *r, uint64_t delay_ms);
void aw_http_unwait(struct aw_http *h, struct aw_http_req *r);
/* The transfer count changed by delta (the in-flight gauge). */
void aw_http_inflight(struct aw_http *h, int delta);
/* Per-host counters after one transfer. */
void aw_http_count(struct aw_http *h, const char *host, const char *status_class, bool failed);
void aw_http_count_retry(struct aw_http *h, const char *host);
/* CURLOPT_CLOSESOCKETFUNCTION (clientp is the client): stops the fd's poll, closes. */
int aw_http_close_socket_cb(void *clientp, curl_socket_t fd);

/* --- http_request.c ---------------------------------------------------------------- */

/* Validate and copy req into a new request linked into h (state NEW). */
int aw_http_req_new(struct aw_http *h, const struct aw_http_request *req, aw_http_done_fn done,
		    void *ud, struct aw_http_req **out, struct aw_error *err);
/* Unlink from h (if any) and free everything, wiping the token. */
void aw_http_req_free(struct aw_http_req *r);
/* Free r if nothing needs it any more: done() has run, no token answer is due and no
 * caller up the stack holds it. */
void aw_http_req_release(struct aw_http_req *r);
/* Run done() once with resp, then release r. */
void aw_http_req_finish(struct aw_http_req *r, const struct aw_http_response *resp);
/* Finish r with a response that carries no HTTP exchange: an error before or instead of
 * a transfer (status 0), or a cancellation. */
void aw_http_req_fail(struct aw_http_req *r, const char *error, bool cancelled);
/* The one log line for a failed attempt; retry_in_ms >= 0 when it will be retried. */
void aw_http_log_failure(const struct aw_http_req *r, const struct aw_http_response *resp,
			 int64_t retry_in_ms, const char *why);
/* Whether a response counts as failed for logs and metrics. */
bool aw_http_failed(const struct aw_http_response *resp);
void aw_http_wipe(void *p, size_t n);
void aw_http_random(void *buf, size_t n);

/* --- http_xfer.c ------------------------------------------------------------------- */

/* Start one transfer (Authorization from r->token when set). 0, or -1 with err. */
int aw_http_xfer_start(struct aw_http_req *r, struct aw_error *err);
/* Remove a transfer from the multi handle (if there) and free it. */
void aw_http_xfer_free(struct aw_http_xfer *x);
/* curl finished the transfer (already removed from the multi handle). */
void aw_http_xfer_done(struct aw_http_xfer *x, CURLcode rc);

/* --- http_retry.c ------------------------------------------------------------------ */

/* Begin the next attempt of r: token (if any), then transfer. Failures finish r. */
void aw_http_attempt(struct aw_http_req *r);
/* An attempt ended with resp: retry, back off or finish. x is freed by the caller after
 * this returns (resp points into it). */
void aw_http_attempt_done(struct aw_http_req *r, const struct aw_http_response *resp);

#endif
