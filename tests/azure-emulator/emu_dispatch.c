/* Dispatch: from MHD's callbacks to a module's handler and back to the wire.
 *
 * For every request outside /_emulator/: log it, take the first queued fault that
 * matches, sleep its delay, then either reset the connection, answer the fault's
 * status, or run the route (checking its bearer token first); add the fault's
 * headers, then send the answer whole or cut. MHD runs one thread per connection, so
 * a delay only holds up its own connection. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "emu.h"
#include "emu_estate.h"
#include "emu_state.h"

/* Every service the emulator speaks. A new one is a file exporting its module and a
 * line here (and in meson.build). Earlier modules win when patterns overlap. */
const struct aw_emu_module *const aw_emu_modules[] = {
    &aw_emu_control_module,
    &aw_emu_mi_module,
    &aw_emu_keyvault_module,
    &aw_emu_loganalytics_module,
    &aw_emu_ingestion_module,
    &aw_emu_arm_module,
    &aw_emu_estate_module, /* after arm: both serve /subscriptions/ paths */
    &aw_emu_entra_module, /* after the others: its first segment is a capture */
    NULL,
};

/* What MHD keeps for one request between calls. */
struct aw_emu_conn_req {
	char *uri; /* the request target as sent, with the query */
	char *body;
	size_t len, cap;
	size_t received; /* bytes sent by the client, counted past the cap too */
	bool seen;	 /* the header-only first call has happened */
};

void *aw_emu_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct aw_emu_conn_req *cr = aw_emu_need(calloc(1, sizeof(*cr)));

	cr->uri = aw_emu_strdup(uri);
	return cr;
}

void aw_emu_on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct aw_emu_conn_req *cr = *req_cls;

	if (!cr)
		return;
	free(cr->uri);
	free(cr->body);
	free(cr);
	*req_cls = NULL;
}

/* --- routes ---------------------------------------------------------------------------- */

static void params_clear(struct aw_emu_request *rq)
{
	size_t i;

	for (i = 0; i < rq->n_params; i++)
		free(rq->params[i].value);
	rq->n_params = 0;
}

static bool capture(struct aw_emu_request *rq, const char *name, size_t name_len, const char *value,
		    size_t len)
{
	if (rq->n_params == AW_EMU_MAX_PARAMS || len == 0)
		return false;
	rq->params[rq->n_params].name = name;
	rq->params[rq->n_params].name_len = name_len;
	rq->params[rq->n_params].value = aw_emu_need(strndup(value, len));
	rq->n_params++;
	return true;
}

/* Segment-wise match of path against pattern, capturing {name} and {name*}. */
static bool route_match(const char *p, const char *s, struct aw_emu_request *rq)
{
	params_clear(rq);
	while (*p && *s) {
		const char *pe, *se;

		if (*p != '/' || *s != '/')
			return false;
		p++;
		s++;
		pe = strchrnul(p, '/');
		se = strchrnul(s, '/');
		if (*p == '{' && pe - p >= 3 && pe[-1] == '}') {
			bool rest = pe[-2] == '*';
			size_t name_len = (size_t)(pe - p) - 2 - (rest ? 1 : 0);

			if (rest)
				se = s + strlen(s);
			if (!capture(rq, p + 1, name_len, s, (size_t)(se - s)))
				return false;
		} else if (pe - p != se - s || strncmp(p, s, (size_t)(pe - p)) != 0) {
			return false;
		}
		p = pe;
		s = se;
	}
	return !*p && !*s;
}

static const struct aw_emu_route *find_route(struct aw_emu_request *rq, bool *path_known)
{
	size_t m;
	const struct aw_emu_route *r;

	*path_known = false;
	for (m = 0; aw_emu_modules[m]; m++) {
		for (r = aw_emu_modules[m]->routes; r->method; r++) {
			if (!route_match(r->pattern, rq->path, rq))
				continue;
			*path_known = true;
			if (!strcmp(r->method, rq->method))
				return r;
		}
	}
	params_clear(rq);
	return NULL;
}

/* --- the request log --------------------------------------------------------------------- */

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	json_object *h = cls, *old;
	char *joined;
	size_t n;

	if (!key)
		return MHD_YES;
	if (!value)
		value = "";
	/* A repeated header reads as its values joined, as HTTP allows. */
	if (json_object_object_get_ex(h, key, &old)) {
		n = strlen(json_object_get_string(old)) + strlen(value) + 3;
		joined = aw_emu_need(malloc(n));
		snprintf(joined, n, "%s, %s", json_object_get_string(old), value);
		json_object_object_add(h, key, json_object_new_string(joined));
		free(joined);
	} else {
		json_object_object_add(h, key, json_object_new_string(value));
	}
	return MHD_YES;
}

static bool is_utf8_text(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n, k;

		if (c == 0)
			return false;
		n = c < 0x80		 ? 0
		    : (c & 0xe0) == 0xc0 ? 1
		    : (c & 0xf0) == 0xe0 ? 2
		    : (c & 0xf8) == 0xf0 ? 3
					 : 9;
		if (n == 9 || i + n >= len)
			return false;
		for (k = 1; k <= n; k++) {
			if (((unsigned char)s[i + k] & 0xc0) != 0x80)
				return false;
		}
		i += n + 1;
	}
	return true;
}

static void log_request(struct aw_emu_request *rq, const struct aw_emu_conn_req *cr)
{
	json_object *e = aw_emu_need(json_object_new_object());
	json_object *h = aw_emu_need(json_object_new_object());

	json_object_object_add(e, "time_ms", json_object_new_int64(aw_emu_now_ms()));
	json_object_object_add(e, "method", json_object_new_string(rq->method));
	json_object_object_add(e, "path", json_object_new_string(rq->path));
	json_object_object_add(e, "query", json_object_new_string(rq->query));
	MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, add_header, h);
	json_object_object_add(e, "headers", h);
	if (cr->received > cr->len) {
		json_object_object_add(e, "body", NULL);
		json_object_object_add(e, "body_truncated", json_object_new_boolean(1));
	} else if (is_utf8_text(rq->body, rq->body_len)) {
		json_object_object_add(e, "body",
				       json_object_new_string_len(rq->body, (int)rq->body_len));
	} else {
		/* Binary (gzip) bodies: base64, so the log stays valid JSON. */
		char *b64 = aw_emu_need(malloc(rq->body_len / 3 * 4 + 5));

		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)rq->body,
				(int)rq->body_len);
		json_object_object_add(e, "body", NULL);
		json_object_object_add(e, "body_base64", json_object_new_string(b64));
		free(b64);
	}
	json_object_object_add(e, "body_bytes", json_object_new_int64((int64_t)cr->received));
	aw_emu_log_add(rq->st, e, rq->body_len);
}

/* --- the wire ------------------------------------------------------------------------------- */

struct aw_emu_cut {
	char *data;
	size_t limit; /* bytes sent before the connection is dropped */
};

static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct aw_emu_cut *c = cls;
	size_t n;

	if (pos >= c->limit)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = c->limit - (size_t)pos < max ? c->limit - (size_t)pos : max;
	memcpy(buf, c->data + pos, n);
	return (ssize_t)n;
}

static void cut_free(void *cls)
{
	struct aw_emu_cut *c = cls;

	free(c->data);
	free(c);
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct aw_emu_response *resp,
				     bool cut)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char guid[37];
	size_t i;

	if (cut) {
		struct aw_emu_cut *c = aw_emu_need(calloc(1, sizeof(*c)));

		c->data = resp->body;
		c->limit = resp->len / 2;
		resp->body = NULL;
		r = MHD_create_response_from_callback(resp->len, 4096, cut_reader, c, cut_free);
		if (!r)
			cut_free(c);
	} else {
		r = MHD_create_response_from_buffer(resp->len, resp->body ? resp->body : (char *)"",
						    MHD_RESPMEM_MUST_COPY);
	}
	if (!r)
		return MHD_NO;
	aw_emu_guid(guid);
	if ((resp->content_type && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
							   resp->content_type) != MHD_YES) ||
	    MHD_add_response_header(r, "x-ms-request-id", guid) != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	for (i = 0; i < resp->n_headers; i++) {
		if (MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value) !=
		    MHD_YES) {
			MHD_destroy_response(r);
			return MHD_NO;
		}
	}
	ret = MHD_queue_response(conn, resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A TCP reset rather than an orderly close: linger 0, then MHD closes the socket. */
static void reset_connection(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (ci)
		(void)setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* Sleep in short steps so SIGTERM does not wait for a long injected delay. */
static void delay(struct aw_emu_state *st, int64_t ms)
{
	int64_t end = aw_emu_now_ms() + ms;

	while (!atomic_load(&st->stopping)) {
		int64_t left = end - aw_emu_now_ms();
		struct timespec ts;

		if (left <= 0)
			break;
		if (left > 50)
			left = 50;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
}

static void apply_fault_headers(const struct aw_emu_fault *f, struct aw_emu_response *resp)
{
	char date[64];
	size_t i;

	if (f->retry_after_s >= 0)
		aw_emu_resp_header(resp, "Retry-After", "%lld", (long long)f->retry_after_s);
	if (f->has_retry_after_date) {
		aw_emu_http_date(time(NULL) + (time_t)f->retry_after_date_s, date, sizeof(date));
		aw_emu_resp_header(resp, "Retry-After", "%s", date);
	}
	for (i = 0; i < f->n_headers; i++)
		aw_emu_resp_header(resp, f->headers[i].name, "%s", f->headers[i].value);
}

/* The answer to a non-control request (everything but the wire). */
static void answer(struct aw_emu_request *rq, const struct aw_emu_route *route, bool path_known,
		   const struct aw_emu_conn_req *cr, const struct aw_emu_fault *f,
		   struct aw_emu_response *resp)
{
	unsigned flags = route ? route->flags : 0;

	if (f && f->status) {
		if (f->body)
			aw_emu_resp_raw(resp, f->status, "application/json; charset=utf-8", f->body,
					strlen(f->body));
		else
			aw_emu_resp_default_error(resp, f->status, flags);
	} else if (cr->received > cr->len) {
		aw_emu_resp_default_error(resp, 413, flags);
	} else if (!route) {
		if (path_known)
			aw_emu_resp_oneapi(resp, 405, "MethodNotAllowed",
					   "The emulator does not answer %s on %s.", rq->method,
					   rq->path);
		else
			aw_emu_resp_oneapi(resp, 404, "NotFound",
					   "The emulator has no route for %s %s.", rq->method,
					   rq->path);
	} else if (!route->audience ||
		   aw_emu_require_token(rq, route->audience, route->flags, resp) == 0) {
		route->handler(rq, resp);
	}
	if (!resp->status)
		aw_emu_resp_oneapi(resp, 500, "InternalServerError",
				   "The emulator's handler for %s %s gave no answer.", rq->method,
				   rq->path);
	if (f)
		apply_fault_headers(f, resp);
}

static void append_body(struct aw_emu_conn_req *cr, const char *data, size_t n)
{
	cr->received += n;
	if (cr->received > AW_EMU_BODY_MAX)
		return; /* answered with 413 once the upload ends */
	if (cr->len + n + 1 > cr->cap) {
		size_t cap = cr->cap ? cr->cap : 4096;

		while (cap < cr->len + n + 1)
			cap *= 2;
		cr->body = aw_emu_need(realloc(cr->body, cap));
		cr->cap = cap;
	}
	memcpy(cr->body + cr->len, data, n);
	cr->len += n;
	cr->body[cr->len] = '\0';
}

enum MHD_Result aw_emu_on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **req_cls)
{
	struct aw_emu_state *st = cls;
	struct aw_emu_conn_req *cr = *req_cls;
	struct aw_emu_request rq = {0};
	struct aw_emu_response resp = {0};
	struct aw_emu_fault f = {0};
	const struct aw_emu_route *route;
	const char *q;
	bool path_known, has_fault = false;
	enum MHD_Result ret;
	int64_t t0 = aw_emu_now_ms();

	if (!cr)
		return MHD_NO;
	if (!cr->seen) {
		cr->seen = true;
		return MHD_YES;
	}
	if (*upload_data_size) {
		append_body(cr, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	q = strchr(cr->uri, '?');
	rq.st = st;
	rq.conn = conn;
	rq.method = method;
	rq.path = url;
	rq.query = q ? q + 1 : "";
	rq.body = cr->body ? cr->body : "";
	rq.body_len = cr->received > cr->len ? 0 : cr->len;
	route = find_route(&rq, &path_known);
	if (route && (route->flags & AW_EMU_F_CONTROL)) {
		if (cr->received > cr->len)
			aw_emu_resp_default_error(&resp, 413, route->flags);
		else
			route->handler(&rq, &resp);
		ret = send_response(conn, &resp, false);
		goto out;
	}
	log_request(&rq, cr);
	has_fault = aw_emu_faults_take(st, method, url, &f) == 1;
	if (has_fault && f.delay_ms)
		delay(st, f.delay_ms);
	if (has_fault && f.action == AW_EMU_ACT_RESET) {
		reset_connection(conn);
		ret = MHD_NO; /* MHD closes the connection without answering */
		goto out;
	}
	rq.action = has_fault ? f.action : AW_EMU_ACT_NONE;
	answer(&rq, route, path_known, cr, has_fault ? &f : NULL, &resp);
	ret = send_response(conn, &resp, has_fault && f.action == AW_EMU_ACT_CUT);
out:
	if (st->verbose) {
		char outcome[16];

		if (ret == MHD_NO && !resp.status)
			snprintf(outcome, sizeof(outcome), "reset");
		else
			snprintf(outcome, sizeof(outcome), "%u", resp.status);
		/* Never the query or headers: they can carry secrets and tokens. */
		fprintf(
		    stderr, "aw-azure-emulator: %s %s -> %s%s (%lld ms)\n", method, url, outcome,
		    has_fault ? (f.action == AW_EMU_ACT_CUT ? " [fault: cut]" : " [fault]") : "",
		    (long long)(aw_emu_now_ms() - t0));
	}
	params_clear(&rq);
	aw_emu_resp_free(&resp);
	aw_emu_fault_clear(&f);
	return ret;
}
