/* The HTTP client: libcurl's multi interface on the libuv loop, and the retry policy
 * every Azure caller shares.
 *
 * One struct aw_http per loop (one CURLM, one uv_timer, one uv_poll per socket). A
 * request is sent with aw_http_send() (one attempt) or aw_http_call() (the shared
 * policy: bearer token per attempt, classify, Retry-After, full-jitter backoff, one
 * token refresh on 401). Completion callbacks run on the loop thread, exactly once per
 * request, including when the request is cancelled or the client is closed.
 *
 * TLS verification is always on. Plain http:// is refused unless the URL's host is a
 * loopback address and insecure_http_for_tests is set, or the request is to the
 * managed-identity endpoints (IMDS, App Service), which are http by contract. */
#ifndef AW_HTTP_H
#define AW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "error.h"
#include "metrics.h"

struct aw_http;
struct aw_http_req;

struct aw_http_conf {
	long connect_timeout_ms;      /* 0 = 10 s */
	long timeout_ms;              /* whole transfer default; 0 = 60 s */
	size_t max_response_bytes;    /* default ceiling; 0 = 64 MiB */
	bool insecure_http_for_tests; /* allow http:// to loopback hosts (the emulator) */
	const char *user_agent;       /* NULL = "aiwatchd/<version>" */
};

/* One request. Strings are copied by aw_http_send/aw_http_call; the caller may free
 * them as soon as the call returns. */
struct aw_http_request {
	const char *method;           /* "GET", "POST", "PUT", ... */
	const char *url;
	const char *const *headers;   /* "Name: value" strings, NULL-terminated, or NULL */
	const void *body;             /* copied; NULL for none */
	size_t body_len;
	long timeout_ms;              /* 0 = the client's default */
	size_t max_response_bytes;    /* 0 = the client's default; larger bodies fail */
	bool no_proxy;                /* never use a proxy (IMDS, App Service identity) */
	bool allow_http;              /* plain http allowed (managed-identity endpoints) */
	const char *component;        /* for log lines, e.g. "in_loganalytics/prod" */
};

/* What came back. Valid only during the completion callback. */
struct aw_http_response {
	long status;                  /* HTTP status; 0 when no response (transport error) */
	int transport_error;          /* CURLcode, 0 when a response arrived */
	const char *error;            /* transport error text or "" */
	const char *body;             /* NUL-terminated (body_len bytes before the NUL) */
	size_t body_len;
	const char *request_id;       /* x-ms-request-id, or "" */
	const char *client_request_id;/* the x-ms-client-request-id sent */
	int64_t retry_after_ms;       /* Retry-After (seconds or HTTP-date), -1 if absent */
	unsigned attempts;            /* attempts made (aw_http_call), 1 for aw_http_send */
	bool cancelled;               /* aw_http_cancel() or client closed */
	const struct aw_http_headers *headers;
};

/* Response header by name (case-insensitive), or NULL. */
const char *aw_http_header(const struct aw_http_response *r, const char *name);

typedef void (*aw_http_done_fn)(void *ud, const struct aw_http_response *resp);

int aw_http_new(uv_loop_t *loop, const struct aw_http_conf *conf, struct aw_metrics *m,
		struct aw_http **out, struct aw_error *err);
/* Cancel every request (their callbacks run with cancelled = true), clean up curl,
 * close the uv handles; closed(ud) runs when everything is freed. */
void aw_http_close(struct aw_http *h, void (*closed)(void *ud), void *ud);

/* One attempt. On success *out (if not NULL) is a handle valid until done() runs. */
int aw_http_send(struct aw_http *h, const struct aw_http_request *req, aw_http_done_fn done,
		 void *ud, struct aw_http_req **out, struct aw_error *err);
/* Cancel a pending request: its done() runs (from the loop, not from inside this call)
 * with cancelled = true. */
void aw_http_cancel(struct aw_http_req *r);

/* --- the shared retry policy ----------------------------------------------------- */

enum aw_http_class {
	AW_HTTP_SUCCESS,   /* 2xx */
	AW_HTTP_RETRY,     /* 408, 429, 5xx, transport errors: back off and retry */
	AW_HTTP_AUTH,      /* 401: refresh the token and retry once */
	AW_HTTP_FAIL,      /* other 4xx (and cancelled): do not retry */
};
enum aw_http_class aw_http_classify(const struct aw_http_response *r);

/* Retry-After: delta seconds or an HTTP-date, relative to now (seconds since epoch).
 * Returns 0 and *ms (>= 0) or -1 when the value is not valid. */
int aw_http_parse_retry_after(const char *value, int64_t now, int64_t *ms);

/* Full jitter: a uniform delay in [0, min(cap, initial * 2^(attempt-1))], but at least
 * retry_after_ms when the server gave one (>= 0). attempt starts at 1. */
uint64_t aw_http_backoff_ms(unsigned attempt, uint64_t initial_ms, uint64_t cap_ms,
			    int64_t retry_after_ms);

/* A bearer-token source (auth.h provides one per credential and scope). get() answers
 * exactly once through cb, possibly synchronously; invalidate() drops a token a
 * resource refused. */
typedef void (*aw_token_cb)(void *cbud, const char *token, const struct aw_error *err);
struct aw_http_bearer {
	int (*get)(void *ud, aw_token_cb cb, void *cbud);
	void (*invalidate)(void *ud, const char *token);
	void *ud;
};

struct aw_http_policy {
	unsigned max_attempts;        /* 0 = 6 */
	uint64_t initial_ms;          /* 0 = 500 ms */
	uint64_t cap_ms;              /* 0 = 60 s */
	uint64_t max_retry_after_ms;  /* a longer Retry-After ends the call; 0 = 15 min */
	const struct aw_http_bearer *bearer; /* NULL: no Authorization header */
};

/* Send with the policy: before each attempt take a token from bearer and add
 * "Authorization: Bearer ..."; on AW_HTTP_RETRY wait aw_http_backoff_ms (Retry-After
 * honoured) and retry up to max_attempts; on 401 invalidate the token and retry once;
 * other failures end the call. done() gets the last response (attempts filled in).
 * Every failed attempt is logged once with its status and x-ms-request-id. */
int aw_http_call(struct aw_http *h, const struct aw_http_request *req,
		 const struct aw_http_policy *policy, aw_http_done_fn done, void *ud,
		 struct aw_http_req **out, struct aw_error *err);

/* --- Azure error bodies ------------------------------------------------------------ */

/* Code and message from an error body: the OneAPI envelope {"error":{"code","message",
 * "innererror":{"code"}}} (the innermost code wins only for code_inner) or the OAuth2
 * one {"error":"...","error_description":"..."}. Returns 0 when one was found; the
 * strings are truncated to fit and always NUL-terminated. Never reads past len. */
struct aw_azure_error {
	char code[96];
	char inner_code[96];
	char message[512];
};
int aw_azure_error_parse(const char *body, size_t len, struct aw_azure_error *out);

#endif
