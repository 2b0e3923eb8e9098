/* One request: what the caller asked for (checked and copied), its lifetime (send,
 * cancel, the one call of done()), and the one log line a failed attempt gets. Its
 * transfers are in http_xfer.c.
 *
 * What a log line may hold: the method, the URL without userinfo, query or fragment
 * (SAS tokens and codes live there), status, request ids, curl's error text and the
 * code/message of an Azure error body. Never a header, never a body. */
#include "http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "log.h"

/* --- small helpers ---------------------------------------------------------------- */

void aw_http_wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

static void wipe_free(char *s)
{
	if (s) {
		aw_http_wipe(s, strlen(s));
		free(s);
	}
}

void aw_http_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t k = getrandom(p + got, n - got, 0);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)k;
	}
	/* No getrandom (old kernel, seccomp): these values are ids and jitter, not keys,
	 * so a clock-seeded mix is acceptable. */
	if (got < n) {
		static uint64_t ctr;
		uint64_t x = uv_hrtime() ^ ((uint64_t)(uintptr_t)buf << 17) ^ ++ctr;

		for (size_t i = got; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[i] = (unsigned char)x;
		}
	}
}

/* A random (version 4) GUID, lower case. */
static void guid_v4(char out[AW_HTTP_GUID_LEN + 1])
{
	unsigned char b[16];

	aw_http_random(b, sizeof b);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, AW_HTTP_GUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
}

static bool is_loopback_host(const char *host)
{
	char buf[64];
	size_t n = strlen(host);
	unsigned char a[16];

	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (n > 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
		struct in6_addr in6;

		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		if (inet_pton(AF_INET6, buf, &in6) != 1)
			return false;
		if (IN6_IS_ADDR_LOOPBACK(&in6))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6) && in6.s6_addr[12] == 127;
	}
	return false;
}

/* Parse with curl's own URL parser (so the decision is made on what curl will use),
 * refuse anything but https -- or http when allowed -- and keep the normalised URL,
 * a loggable form and the host. */
static int check_url(struct aw_http *h, struct aw_http_req *r, const char *url, bool allow_http,
		     struct aw_error *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *full = NULL;
	int rc = -1;
	size_t n;

	if (!u)
		return aw_error_set(err, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		aw_error_set(err, "not a valid absolute URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		path = NULL;
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		port = NULL;
	n = strlen(scheme) + strlen(host) + (port ? strlen(port) + 1 : 0) +
	    (path ? strlen(path) : 1) + 4;
	r->log_url = malloc(n);
	r->host = strdup(host);
	if (!r->log_url || !r->host) {
		aw_error_set(err, "out of memory");
		goto out;
	}
	snprintf(r->log_url, n, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "",
		 path ? path : "/");
	if (strcmp(scheme, "https") == 0) {
		r->plain_http = false;
	} else if (strcmp(scheme, "http") == 0) {
		if (!allow_http && !(h->insecure_http_for_tests && is_loopback_host(host))) {
			aw_error_set(err,
				     "%s: plain http is refused (https only; http is allowed "
				     "for managed-identity endpoints and, with "
				     "insecure_http_for_tests, loopback hosts)",
				     r->log_url);
			goto out;
		}
		r->plain_http = true;
	} else {
		aw_error_set(err, "%s: scheme %s is not supported (https only)", r->log_url,
			     scheme);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
		aw_error_set(err, "%s: cannot rebuild the URL", r->log_url);
		goto out;
	}
	r->url = strdup(full);
	if (!r->url) {
		aw_error_set(err, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (full) {
		aw_http_wipe(full, strlen(full));
		curl_free(full);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

/* "Name: value": a token name, no CR or LF anywhere (they would split the header). */
static bool header_ok(const char *s)
{
	const char *colon = strchr(s, ':');

	if (!colon || colon == s || strpbrk(s, "\r\n"))
		return false;
	for (const char *p = s; p < colon; p++)
		if (*p <= ' ' || *p >= 127 || strchr("\"(),/;<=>?@[\\]{}", *p))
			return false;
	return true;
}

static bool header_is(const char *s, const char *name)
{
	size_t n = strlen(name);

	return strncasecmp(s, name, n) == 0 && s[n] == ':';
}

static bool method_ok(const char *m)
{
	if (!m || !*m || strlen(m) > 16)
		return false;
	for (; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return false;
	return true;
}

/* --- requests --------------------------------------------------------------------- */

int aw_http_req_new(struct aw_http *h, const struct aw_http_request *req, aw_http_done_fn done,
		    void *ud, struct aw_http_req **out, struct aw_error *err)
{
	struct aw_http_req *r = NULL;
	const char *what = req && req->url ? req->url : "(no URL)";
	size_t n = 0;

	*out = NULL;
	if (!h || !req || !req->url)
		return aw_error_set(err, "http request: no URL");
	if (h->closing)
		return aw_error_set(err, "http request: the client is shutting down");
	if (h->nreqs >= AW_HTTP_MAX_REQS)
		return aw_error_set(err, "http request: %u requests already pending",
				    AW_HTTP_MAX_REQS);
	if (!method_ok(req->method ? req->method : "GET"))
		return aw_error_set(err, "http request: invalid method");
	if (req->body_len && !req->body)
		return aw_error_set(err, "http request: body_len without a body");
	if (req->headers)
		while (req->headers[n])
			n++;
	if (n > AW_HTTP_REQ_HEADERS_MAX)
		return aw_error_set(err, "http request: more than %d headers",
				    AW_HTTP_REQ_HEADERS_MAX);
	r = calloc(1, sizeof *r);
	if (!r)
		goto nomem;
	r->h = h;
	if (check_url(h, r, what, req->allow_http, err) < 0) {
		aw_error_prefix(err, "http request");
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		if (!header_ok(req->headers[i])) {
			aw_error_set(err, "http request %s: header %zu is not \"Name: value\"",
				     r->log_url, i + 1);
			goto fail;
		}
	r->method = strdup(req->method ? req->method : "GET");
	r->component = strdup(req->component ? req->component : "http");
	r->headers = calloc(n + 1, sizeof *r->headers);
	if (!r->method || !r->component || !r->headers)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		r->headers[i] = strdup(req->headers[i]);
		if (!r->headers[i])
			goto nomem;
		r->nheaders++;
		r->caller_expect |= header_is(req->headers[i], "Expect");
		if (header_is(req->headers[i], "x-ms-client-request-id")) {
			const char *v = strchr(req->headers[i], ':') + 1;

			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(r->client_request_id, sizeof r->client_request_id, "%s", v);
			r->caller_crid = true;
		}
	}
	if (!r->caller_crid)
		guid_v4(r->client_request_id);
	if (req->body ||
	    (req->method && (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 ||
			     strcmp(req->method, "PATCH") == 0))) {
		r->has_body = true;
		r->body = malloc(req->body_len ? req->body_len : 1);
		if (!r->body)
			goto nomem;
		if (req->body_len)
			memcpy(r->body, req->body, req->body_len);
		r->body_len = req->body_len;
	}
	r->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : h->timeout_ms;
	r->max_response_bytes =
	    req->max_response_bytes ? req->max_response_bytes : h->max_response_bytes;
	if (r->max_response_bytes > SIZE_MAX / 4)
		r->max_response_bytes = SIZE_MAX / 4; /* the buffer arithmetic stays in range */
	r->no_proxy = req->no_proxy;
	r->done = done;
	r->ud = ud;
	r->state = AW_HS_NEW;
	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	h->nreqs++;
	*out = r;
	return 0;
nomem:
	aw_error_set(err, "http request: out of memory");
fail:
	if (r) {
		r->h = NULL; /* not linked yet */
		aw_http_req_free(r);
	}
	return -1;
}

void aw_http_req_free(struct aw_http_req *r)
{
	struct aw_http *h = r->h;

	if (h) {
		if (r->prev)
			r->prev->next = r->next;
		else if (h->reqs == r)
			h->reqs = r->next;
		if (r->next)
			r->next->prev = r->prev;
		h->nreqs--;
	}
	if (r->xfer)
		aw_http_xfer_free(r->xfer);
	free(r->method);
	wipe_free(r->url);
	free(r->log_url);
	free(r->host);
	free(r->component);
	for (size_t i = 0; i < r->nheaders; i++)
		wipe_free(r->headers[i]);
	free(r->headers);
	if (r->body) {
		/* Token requests carry client secrets and assertions in their bodies. */
		aw_http_wipe(r->body, r->body_len);
		free(r->body);
	}
	wipe_free(r->token);
	free(r);
}

void aw_http_req_release(struct aw_http_req *r)
{
	if (r->hold == 0 && r->state == AW_HS_DONE && !r->token_wait)
		aw_http_req_free(r);
}

void aw_http_req_finish(struct aw_http_req *r, const struct aw_http_response *resp)
{
	r->state = AW_HS_DONE;
	r->hold++;
	if (r->done)
		r->done(r->ud, resp);
	r->hold--;
	aw_http_req_release(r);
}

void aw_http_req_fail(struct aw_http_req *r, const char *error, bool cancelled)
{
	struct aw_http_response resp = {
	    .status = 0,
	    .error = error ? error : "",
	    .body = "",
	    .request_id = "",
	    .client_request_id = r->client_request_id,
	    .retry_after_ms = -1,
	    .attempts = r->attempts,
	    .cancelled = cancelled,
	};

	aw_http_req_finish(r, &resp);
}

int aw_http_send(struct aw_http *h, const struct aw_http_request *req, aw_http_done_fn done,
		 void *ud, struct aw_http_req **out, struct aw_error *err)
{
	struct aw_http_req *r;

	if (out)
		*out = NULL;
	if (aw_http_req_new(h, req, done, ud, &r, err) < 0)
		return -1;
	r->attempts = 1;
	r->policy.max_attempts = 1;
	if (aw_http_xfer_start(r, err) < 0) {
		aw_http_req_free(r);
		return -1;
	}
	if (out)
		*out = r;
	return 0;
}

void aw_http_cancel(struct aw_http_req *r)
{
	struct aw_http *h;

	if (!r || !r->h)
		return;
	h = r->h;
	switch (r->state) {
	case AW_HS_TOKEN:
		/* The token source still answers later; r waits for that (token_wait). */
		break;
	case AW_HS_XFER:
		if (r->xfer) {
			aw_http_xfer_free(r->xfer);
			r->xfer = NULL;
		}
		break;
	case AW_HS_BACKOFF:
		aw_http_unwait(h, r);
		break;
	default:
		return;
	}
	aw_http_defer(h, r);
}

/* --- the failure line ------------------------------------------------------------- */

bool aw_http_failed(const struct aw_http_response *resp)
{
	return !resp->cancelled &&
	       (resp->transport_error || resp->status == 0 || resp->status >= 400);
}

void aw_http_log_failure(const struct aw_http_req *r, const struct aw_http_response *resp,
			 int64_t retry_in_ms, const char *why)
{
	enum aw_log_level lvl = retry_in_ms >= 0 ? AW_LOG_NOTICE : AW_LOG_WARN;
	struct aw_log_field f[14];
	struct aw_azure_error ae;
	size_t n = 0;

	if ((int)lvl > (int)aw_log_threshold())
		return;
	f[n++] = AW_S("method", r->method);
	f[n++] = AW_S("url", r->log_url);
	f[n++] = AW_I("status", resp->status);
	if (resp->request_id && *resp->request_id)
		f[n++] = AW_S("request_id", resp->request_id);
	f[n++] = AW_S("client_request_id", r->client_request_id);
	f[n++] = AW_U("attempt", resp->attempts);
	if (resp->error && *resp->error)
		f[n++] = AW_S("error", resp->error);
	if (resp->status >= 400 && resp->body_len &&
	    aw_azure_error_parse(resp->body, resp->body_len, &ae) == 0) {
		if (ae.code[0])
			f[n++] = AW_S("code", ae.code);
		if (ae.inner_code[0])
			f[n++] = AW_S("inner_code", ae.inner_code);
		if (ae.message[0])
			f[n++] = AW_S("message", ae.message);
	}
	if (retry_in_ms >= 0)
		f[n++] = AW_I("retry_in_ms", retry_in_ms);
	if (why)
		f[n++] = AW_S("reason", why);
	aw_log_fields(lvl, r->component,
		      retry_in_ms >= 0 ? "http request failed; retrying" : "http request failed", n,
		      f);
}
