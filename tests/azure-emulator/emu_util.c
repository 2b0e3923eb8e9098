/* Request accessors, response builders and encodings shared by the route modules. */
#include <ctype.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "emu_state.h"

void *aw_emu_need(void *p)
{
	if (!p) {
		fputs("aw-azure-emulator: out of memory\n", stderr);
		abort();
	}
	return p;
}

char *aw_emu_strdup(const char *s)
{
	return aw_emu_need(strdup(s));
}

bool aw_emu_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* --- requests ------------------------------------------------------------------------ */

const char *aw_emu_query(const struct aw_emu_request *rq, const char *key)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *aw_emu_header(const struct aw_emu_request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *aw_emu_param(const struct aw_emu_request *rq, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < rq->n_params; i++) {
		if (rq->params[i].name_len == n && !strncmp(rq->params[i].name, name, n))
			return rq->params[i].value;
	}
	return NULL;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Form decoding: '+' is a space, %XX a byte (a malformed escape stays as it is). */
static char *form_decode(const char *s, size_t len)
{
	char *out = aw_emu_need(malloc(len + 1));
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < len && hexval((unsigned char)s[i + 1]) >= 0 &&
			   hexval((unsigned char)s[i + 2]) >= 0) {
			out[o++] = (char)(hexval((unsigned char)s[i + 1]) * 16 +
					  hexval((unsigned char)s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

char *aw_emu_form_value(const char *body, size_t len, const char *key)
{
	size_t klen = strlen(key), pos = 0;

	while (pos < len) {
		const char *amp = memchr(body + pos, '&', len - pos);
		size_t end = amp ? (size_t)(amp - body) : len;
		const char *eq = memchr(body + pos, '=', end - pos);
		size_t nlen = eq ? (size_t)(eq - (body + pos)) : end - pos;
		char *name = form_decode(body + pos, nlen);
		bool match = strlen(name) == klen && !memcmp(name, key, klen);

		free(name);
		if (match)
			return eq ? form_decode(eq + 1, end - (size_t)(eq + 1 - body))
				  : aw_emu_strdup("");
		pos = end + 1;
	}
	return NULL;
}

/* --- responses ----------------------------------------------------------------------- */

const char *aw_emu_json_text(json_object *obj, size_t *len)
{
	size_t n = 0;
	const char *s = json_object_to_json_string_length(
	    obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);

	aw_emu_need((void *)s);
	if (len)
		*len = n;
	return s;
}

void aw_emu_resp_raw(struct aw_emu_response *resp, unsigned status, const char *ctype,
		     const char *body, size_t len)
{
	free(resp->body);
	resp->body = aw_emu_need(malloc(len + 1));
	memcpy(resp->body, body, len);
	resp->body[len] = '\0';
	resp->len = len;
	resp->status = status;
	resp->content_type = ctype;
}

void aw_emu_resp_json(struct aw_emu_response *resp, unsigned status, json_object *obj)
{
	size_t len;
	const char *text = aw_emu_json_text(obj, &len);

	aw_emu_resp_raw(resp, status, "application/json; charset=utf-8", text, len);
	json_object_put(obj);
}

static void vformat(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
	if (vsnprintf(buf, size, fmt, ap) < 0)
		buf[0] = '\0';
}

void aw_emu_resp_oneapi(struct aw_emu_response *resp, unsigned status, const char *code,
			const char *fmt, ...)
{
	json_object *o = aw_emu_need(json_object_new_object());
	json_object *e = aw_emu_need(json_object_new_object());
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(o, "error", e);
	aw_emu_resp_json(resp, status, o);
}

void aw_emu_resp_oauth(struct aw_emu_response *resp, unsigned status, const char *error,
		       const char *fmt, ...)
{
	json_object *o = aw_emu_need(json_object_new_object());
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "error", json_object_new_string(error));
	json_object_object_add(o, "error_description", json_object_new_string(msg));
	aw_emu_resp_json(resp, status, o);
}

void aw_emu_resp_header(struct aw_emu_response *resp, const char *name, const char *fmt, ...)
{
	char value[2048];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vformat(value, sizeof(value), fmt, ap);
	va_end(ap);
	for (i = 0; i < resp->n_headers; i++) {
		if (!strcasecmp(resp->headers[i].name, name)) {
			free(resp->headers[i].value);
			resp->headers[i].value = aw_emu_strdup(value);
			return;
		}
	}
	if (resp->n_headers == AW_EMU_MAX_HEADERS) {
		fprintf(stderr, "aw-azure-emulator: header %s dropped (more than %d)\n", name,
			AW_EMU_MAX_HEADERS);
		return;
	}
	resp->headers[resp->n_headers].name = aw_emu_strdup(name);
	resp->headers[resp->n_headers].value = aw_emu_strdup(value);
	resp->n_headers++;
}

struct aw_emu_status_name {
	unsigned status;
	const char *code;  /* OneAPI code */
	const char *oauth; /* OAuth error */
	const char *text;
};

static const struct aw_emu_status_name status_names[] = {
    {400, "BadRequest", "invalid_request", "The request is invalid."},
    {401, "Unauthorized", "invalid_client", "Authentication failed."},
    {403, "Forbidden", "unauthorized_client", "The client is not allowed to do this."},
    {404, "NotFound", "not_found", "The resource was not found."},
    {408, "RequestTimeout", "temporarily_unavailable", "The request timed out."},
    {409, "Conflict", "invalid_request", "The request conflicts with the resource's state."},
    {410, "Gone", "temporarily_unavailable", "The service is updating; try again later."},
    {413, "RequestEntityTooLarge", "invalid_request", "The request body is too large."},
    {429, "TooManyRequests", "temporarily_unavailable", "Rate limit is exceeded. Try again later."},
    {500, "InternalServerError", "server_error", "The server encountered an internal error."},
    {502, "BadGateway", "temporarily_unavailable", "The upstream service failed."},
    {503, "ServiceUnavailable", "temporarily_unavailable",
     "The service is temporarily unavailable."},
    {504, "GatewayTimeout", "temporarily_unavailable", "The operation timed out."},
};

void aw_emu_resp_default_error(struct aw_emu_response *resp, unsigned status, unsigned flags)
{
	const struct aw_emu_status_name *n = NULL;
	size_t i;

	for (i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++) {
		if (status_names[i].status == status)
			n = &status_names[i];
	}
	if (status < 400) { /* a fault asking for success: 204 and 304 carry no body */
		if (status == 204 || status == 304)
			aw_emu_resp_raw(resp, status, NULL, "", 0);
		else
			aw_emu_resp_raw(resp, status, "application/json; charset=utf-8", "{}", 2);
		return;
	}
	if (flags & AW_EMU_F_OAUTH)
		aw_emu_resp_oauth(resp, status,
				  n		 ? n->oauth
				  : status < 500 ? "invalid_request"
						 : "server_error",
				  "%s (injected fault)", n ? n->text : "Injected failure.");
	else
		aw_emu_resp_oneapi(resp, status,
				   n		  ? n->code
				   : status < 500 ? "BadRequest"
						  : "InternalServerError",
				   "%s (injected fault)", n ? n->text : "Injected failure.");
}

void aw_emu_resp_free(struct aw_emu_response *resp)
{
	size_t i;

	free(resp->body);
	for (i = 0; i < resp->n_headers; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	memset(resp, 0, sizeof(*resp));
}

/* --- encodings ----------------------------------------------------------------------- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *aw_emu_b64url_encode(const unsigned char *data, size_t len)
{
	char *out = aw_emu_need(malloc(len / 3 * 4 + 5));
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];

		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)data[i] << 16;

		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
	} else if (len - i == 2) {
		unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8;

		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
	}
	out[o] = '\0';
	return out;
}

static int b64url_val(int c)
{
	const char *p = c ? strchr(b64url, c) : NULL;

	return p ? (int)(p - b64url) : -1;
}

int aw_emu_b64url_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char *buf;
	unsigned acc = 0;
	size_t i, o = 0;
	int bits = 0;

	while (len > 0 && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	buf = aw_emu_need(malloc(len / 4 * 3 + 4));
	for (i = 0; i < len; i++) {
		int v = b64url_val((unsigned char)s[i]);

		if (v < 0) {
			free(buf);
			return -1;
		}
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 0;
}

void aw_emu_hex(const unsigned char *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = '\0';
}

void aw_emu_http_date(time_t t, char *buf, size_t size)
{
	struct tm tm;

	/* The C locale is never changed in the emulator, so %a and %b are English. */
	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		snprintf(buf, size, "Thu, 01 Jan 1970 00:00:00 GMT");
}

void aw_emu_guid(char out[37])
{
	unsigned char b[16];
	char hex[33];

	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0x5a, sizeof(b)); /* ids only need to look like GUIDs */
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	aw_emu_hex(b, sizeof(b), hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

int64_t aw_emu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool aw_emu_audience_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '/')
		la--;
	if (lb && b[lb - 1] == '/')
		lb--;
	return la == lb && !strncmp(a, b, la);
}
