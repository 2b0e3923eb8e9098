/* One transfer: a curl easy handle set up from a request (headers, method, timeouts,
 * TLS, proxy, protocols), its bounded body and header stores, and the response built
 * from it when curl is done. */
#include "http_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* --- transfers -------------------------------------------------------------------- */

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct aw_http_xfer *x = ud;
	size_t len = sz * n;

	if (len > x->max_body - x->body_len) {
		/* Anything but len aborts the transfer (CURLE_WRITE_ERROR). */
		x->too_large = true;
		return 0;
	}
	if (x->body_len + len + 1 > x->body_cap) {
		size_t cap = x->body_cap ? x->body_cap : 4096;
		char *nb;

		while (cap < x->body_len + len + 1)
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		if (cap > x->max_body + 1)
			cap = x->max_body + 1;
		nb = realloc(x->body, cap);
		if (!nb)
			return 0;
		x->body = nb;
		x->body_cap = cap;
	}
	memcpy(x->body + x->body_len, p, len);
	x->body_len += len;
	x->body[x->body_len] = '\0';
	return len;
}

static void headers_reset(struct aw_http_headers *hs)
{
	hs->len = 0;
	hs->count = 0;
	hs->dropped = 0;
}

static void headers_add(struct aw_http_headers *hs, const char *name, size_t nl, const char *val,
			size_t vl)
{
	size_t need = nl + vl + 2;

	if (hs->count >= AW_HTTP_HEADERS_MAX_COUNT || need > AW_HTTP_HEADERS_MAX_BYTES - hs->len) {
		hs->dropped++;
		return;
	}
	if (hs->len + need > hs->cap) {
		size_t cap = hs->cap ? hs->cap : 1024;
		char *nb;

		while (cap < hs->len + need)
			cap *= 2;
		if (cap > AW_HTTP_HEADERS_MAX_BYTES)
			cap = AW_HTTP_HEADERS_MAX_BYTES;
		nb = realloc(hs->buf, cap);
		if (!nb) {
			hs->dropped++;
			return;
		}
		hs->buf = nb;
		hs->cap = cap;
	}
	memcpy(hs->buf + hs->len, name, nl);
	hs->buf[hs->len + nl] = '\0';
	memcpy(hs->buf + hs->len + nl + 1, val, vl);
	hs->buf[hs->len + nl + 1 + vl] = '\0';
	hs->len += need;
	hs->count++;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct aw_http_xfer *x = ud;
	size_t len = sz * n, l = len, nl;
	const char *colon, *v;

	/* A new status line starts a new header block (after 100 Continue, say). */
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		headers_reset(&x->rh);
		return len;
	}
	while (l && (p[l - 1] == '\r' || p[l - 1] == '\n'))
		l--;
	/* Empty line ends the block; a folded continuation line is ignored. */
	if (!l || p[0] == ' ' || p[0] == '\t')
		return len;
	colon = memchr(p, ':', l);
	if (!colon || colon == p || memchr(p, '\0', l))
		return len;
	nl = (size_t)(colon - p);
	while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
		nl--;
	v = colon + 1;
	while (v < p + l && (*v == ' ' || *v == '\t'))
		v++;
	while (l && (p[l - 1] == ' ' || p[l - 1] == '\t'))
		l--;
	headers_add(&x->rh, p, nl, v, v < p + l ? (size_t)(p + l - v) : 0);
	return len;
}

const char *aw_http_header(const struct aw_http_response *r, const char *name)
{
	const struct aw_http_headers *hs;
	size_t off = 0;

	if (!r || !r->headers || !name)
		return NULL;
	hs = r->headers;
	while (off < hs->len) {
		const char *k = hs->buf + off;
		const char *v = k + strlen(k) + 1;

		if (strcasecmp(k, name) == 0)
			return v;
		off = (size_t)(v - hs->buf) + strlen(v) + 1;
	}
	return NULL;
}

static int add_header(struct curl_slist **l, const char *s)
{
	struct curl_slist *n = curl_slist_append(*l, s);

	if (!n)
		return -1;
	*l = n;
	return 0;
}

static void slist_wipe_free(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i; i = i->next)
		if (i->data)
			aw_http_wipe(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static int build_headers(struct aw_http_req *r, struct curl_slist **out)
{
	struct curl_slist *l = NULL;
	char line[64];

	for (size_t i = 0; i < r->nheaders; i++) {
		if (add_header(&l, r->headers[i]) < 0)
			goto fail;
	}
	if (!r->caller_crid) {
		snprintf(line, sizeof line, "x-ms-client-request-id: %s", r->client_request_id);
		if (add_header(&l, line) < 0)
			goto fail;
	}
	/* No 100-continue round trip before large bodies: Azure answers at once. */
	if (!r->caller_expect && add_header(&l, "Expect:") < 0)
		goto fail;
	if (r->token) {
		size_t n = strlen(r->token) + sizeof "Authorization: Bearer ";
		char *a = malloc(n);
		int rc;

		if (!a)
			goto fail;
		snprintf(a, n, "Authorization: Bearer %s", r->token);
		rc = add_header(&l, a);
		aw_http_wipe(a, n);
		free(a);
		if (rc < 0)
			goto fail;
	}
	*out = l;
	return 0;
fail:
	slist_wipe_free(l);
	return -1;
}

static void set_method(struct aw_http_req *r, CURL *e)
{
	if (r->has_body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
		if (strcmp(r->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	} else if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	}
}

int aw_http_xfer_start(struct aw_http_req *r, struct aw_error *err)
{
	struct aw_http *h = r->h;
	struct aw_http_xfer *x;
	CURL *e;

	if (!h || !h->multi || h->closing)
		return aw_error_set(err, "%s: the http client is shutting down", r->log_url);
	x = calloc(1, sizeof *x);
	if (!x)
		return aw_error_set(err, "%s: out of memory", r->log_url);
	x->h = h;
	x->req = r;
	x->max_body = r->max_response_bytes;
	x->easy = e = curl_easy_init();
	if (!e || build_headers(r, &x->hdrs) < 0) {
		aw_http_xfer_free(x);
		return aw_error_set(err, "%s: out of memory", r->log_url);
	}
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, r->plain_http ? "http,https" : "https");
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, aw_http_close_socket_cb);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/* Wait for a multiplexable HTTP/2 connection instead of opening another. */
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 h->connect_timeout_ms < r->timeout_ms ? h->connect_timeout_ms
							       : r->timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Verification is libcurl's default; said again so no one has to wonder. */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	/* Proxies come from HTTPS_PROXY / NO_PROXY as libcurl reads them; the
	 * managed-identity endpoints must never go through one. */
	if (r->no_proxy)
		curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	set_method(r, e);
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		aw_http_xfer_free(x);
		return aw_error_set(err, "%s: cannot start the transfer", r->log_url);
	}
	x->added = true;
	aw_http_inflight(h, 1);
	r->xfer = x;
	r->state = AW_HS_XFER;
	return 0;
}

void aw_http_xfer_free(struct aw_http_xfer *x)
{
	if (!x)
		return;
	if (x->added && x->h->multi) {
		curl_multi_remove_handle(x->h->multi, x->easy);
		aw_http_inflight(x->h, -1);
	}
	if (x->easy)
		curl_easy_cleanup(x->easy);
	slist_wipe_free(x->hdrs);
	free(x->body);
	free(x->rh.buf);
	free(x);
}

/* Retry-After, or the millisecond variants some Azure services send. */
static int64_t retry_after(const struct aw_http_response *resp)
{
	static const char *const ms_names[] = {"retry-after-ms", "x-ms-retry-after-ms"};
	const char *v;
	int64_t ms;

	for (size_t i = 0; i < sizeof ms_names / sizeof ms_names[0]; i++) {
		char *end;
		long long n;

		v = aw_http_header(resp, ms_names[i]);
		if (!v || *v < '0' || *v > '9')
			continue;
		errno = 0;
		n = strtoll(v, &end, 10);
		if (!errno && *end == '\0' && n >= 0)
			return n;
	}
	v = aw_http_header(resp, "Retry-After");
	if (v && aw_http_parse_retry_after(v, (int64_t)time(NULL), &ms) == 0)
		return ms;
	return -1;
}

static const char *status_class(const struct aw_http_response *resp)
{
	static const char *const names[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

	if (resp->transport_error || resp->status < 100 || resp->status > 599)
		return "error";
	return names[resp->status / 100 - 1];
}

void aw_http_xfer_done(struct aw_http_xfer *x, CURLcode rc)
{
	struct aw_http_req *r = x->req;
	struct aw_http_response resp = {0};
	char error[CURL_ERROR_SIZE + 64];
	long status = 0;

	x->added = false;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	error[0] = '\0';
	if (x->too_large) {
		resp.transport_error = CURLE_FILESIZE_EXCEEDED;
		snprintf(error, sizeof error, "response larger than %zu bytes", x->max_body);
	} else if (rc != CURLE_OK) {
		resp.transport_error = (int)rc;
		snprintf(error, sizeof error, "%s",
			 x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
	} else {
		resp.status = status;
	}
	resp.error = error;
	/* No body on a transport error: a partial one must not be mistaken for data. */
	if (resp.transport_error || !x->body) {
		resp.body = "";
		resp.body_len = 0;
	} else {
		resp.body = x->body;
		resp.body_len = x->body_len;
	}
	resp.headers = &x->rh;
	resp.request_id = aw_http_header(&resp, "x-ms-request-id");
	if (!resp.request_id)
		resp.request_id = "";
	resp.client_request_id = r->client_request_id;
	resp.retry_after_ms = resp.status ? retry_after(&resp) : -1;
	resp.attempts = r->attempts;
	aw_http_count(x->h, r->host, status_class(&resp), aw_http_failed(&resp));
	r->xfer = NULL;
	aw_http_attempt_done(r, &resp);
	aw_http_xfer_free(x);
}
