/* Key Vault secret references (see keyvault.h): parsing and a blocking, bounded fetch
 * of every referenced secret on a private loop with its own HTTP client and
 * credential. A private loop keeps configuration loading one synchronous step in
 * every caller (start, reload, check) without touching the daemon's loop state. */
#include "keyvault.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http.h"
#include "log.h"
#include "metrics.h"

#define KV_API_VERSION	 "7.4"
#define KV_SCHEME	 "keyvault://"
#define KV_DEFAULT_TO_MS 20000
#define KV_MAX_BODY	 ((size_t)1 << 20) /* a Key Vault secret is at most 25 KB */

/* --- references ------------------------------------------------------------------- */

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

/* Copy the run of name characters at s into out; returns its length (0 when empty or
 * too long). */
static size_t take(const char *s, char *out, size_t cap, bool dots)
{
	size_t n = 0;

	while (name_char(s[n]) || (dots && s[n] == '.'))
		n++;
	if (n == 0 || n >= cap)
		return 0;
	memcpy(out, s, n);
	out[n] = '\0';
	return n;
}

/* "NAME[/VERSION]" at p, to the end of the string. */
static int name_version(const char *p, struct aw_kv_ref *ref, char *why, size_t whysz)
{
	size_t n = take(p, ref->name, sizeof ref->name, false);

	if (!n) {
		snprintf(why, whysz, "a secret name (letters, digits, '-', up to %d) is missing",
			 AW_KV_NAME_MAX - 1);
		return -1;
	}
	p += n;
	if (*p == '/' && p[1] != '\0') {
		n = take(p + 1, ref->version, sizeof ref->version, false);
		if (!n) {
			snprintf(why, whysz, "the version after the secret name is not valid");
			return -1;
		}
		p += 1 + n;
	}
	if (*p == '/' && p[1] == '\0')
		p++;
	if (*p) {
		snprintf(why, whysz, "unexpected text after the secret name");
		return -1;
	}
	return 1;
}

int aw_kv_ref_parse(const char *text, struct aw_kv_ref *ref, char *why, size_t whysz)
{
	memset(ref, 0, sizeof *ref);
	if (strncmp(text, KV_SCHEME, strlen(KV_SCHEME)) == 0) {
		const char *p = text + strlen(KV_SCHEME);
		size_t n = take(p, ref->vault, sizeof ref->vault, false);
		if (!n || n < 3 || n > 24) {
			snprintf(why, whysz, "expected keyvault://VAULT/NAME with a vault name of "
					     "3 to 24 letters, digits or '-'");
			return -1;
		}
		if (p[n] != '/') {
			snprintf(why, whysz, "expected keyvault://VAULT/NAME");
			return -1;
		}
		return name_version(p + n + 1, ref, why, whysz);
	}
	if (strncmp(text, "https://", 8) == 0) {
		const char *p = text + 8;
		size_t n = take(p, ref->vault, sizeof ref->vault, true);
		/* only a Key Vault host makes a URL a reference; any other https text is a
		 * secret that happens to look like a URL */
		if (!n || !strstr(ref->vault, ".vault.") || strncmp(p + n, "/secrets/", 9) != 0)
			return 0;
		ref->url = true;
		return name_version(p + n + 9, ref, why, whysz);
	}
	return 0;
}

static int ref_url(const struct aw_kv_conf *conf, const struct aw_kv_ref *ref, char *out,
		   size_t cap)
{
	char base[512];
	const char *tpl = conf->endpoint ? conf->endpoint : "https://{vault}.vault.azure.net";
	const char *at = strstr(tpl, "{vault}");
	int n;

	if (ref->url)
		n = snprintf(base, sizeof base, "https://%s", ref->vault);
	else if (at)
		n = snprintf(base, sizeof base, "%.*s%s%s", (int)(at - tpl), tpl, ref->vault,
			     at + strlen("{vault}"));
	else
		n = snprintf(base, sizeof base, "%s", tpl);
	if (n < 0 || (size_t)n >= sizeof base)
		return -1;
	if (n > 0 && base[n - 1] == '/')
		base[n - 1] = '\0';
	n = snprintf(out, cap, "%s/secrets/%s%s%s?api-version=" KV_API_VERSION, base, ref->name,
		     ref->version[0] ? "/" : "", ref->version);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* --- fetching -------------------------------------------------------------------- */

struct kv_fetch;

struct kv_req {
	struct kv_fetch *f;
	struct aw_kv_item *item;
	struct aw_http_req *http;
	bool done;
};

struct kv_fetch {
	uv_loop_t loop;
	uv_timer_t timer;
	struct aw_http *http;
	struct aw_auth *auth;
	struct aw_metrics *metrics;
	struct aw_error_list *errs;
	size_t pending;
	bool timed_out;
	bool http_closed;
};

static void describe_ref(const struct aw_kv_ref *r, char *out, size_t cap)
{
	if (r->url)
		snprintf(out, cap, "https://%s/secrets/%s%s%s", r->vault, r->name,
			 r->version[0] ? "/" : "", r->version);
	else
		snprintf(out, cap, KV_SCHEME "%s/%s%s%s", r->vault, r->name, r->version[0] ? "/" : "",
			 r->version);
}

static void fail(struct kv_req *q, const char *fmt, const char *detail)
{
	char ref[512];

	describe_ref(&q->item->ref, ref, sizeof ref);
	aw_error_list_add(q->f->errs, "%s: %s: %s%s", q->item->key, ref, fmt, detail ? detail : "");
}

static void fetched(void *ud, const struct aw_http_response *r)
{
	struct kv_req *q = ud;
	char detail[700];

	q->done = true;
	q->http = NULL;
	q->f->pending--;
	if (r->cancelled) {
		fail(q, q->f->timed_out ? "Key Vault did not answer in time" : "cancelled", NULL);
	} else if (r->status == 0) {
		fail(q, "cannot reach Key Vault: ", r->error);
	} else if (r->status != 200) {
		struct aw_azure_error ae;
		if (aw_azure_error_parse(r->body, r->body_len, &ae) == 0)
			snprintf(detail, sizeof detail, "%ld %s: %s", r->status, ae.code,
				 ae.message);
		else
			snprintf(detail, sizeof detail, "%ld", r->status);
		fail(q, "Key Vault answered HTTP ", detail);
	} else {
		json_object *doc = json_tokener_parse(r->body), *v;
		if (!doc || !json_object_object_get_ex(doc, "value", &v) ||
		    !json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) == 0) {
			fail(q, "Key Vault's answer has no secret value", NULL);
		} else if (memchr(json_object_get_string(v), '\0',
				  (size_t)json_object_get_string_len(v))) {
			fail(q, "the secret holds a NUL byte", NULL);
		} else if (!(q->item->value = strdup(json_object_get_string(v)))) {
			fail(q, "out of memory", NULL);
		}
		json_object_put(doc);
	}
	if (q->f->pending == 0)
		uv_timer_stop(&q->f->timer);
}

static void timeout_cb(uv_timer_t *t)
{
	struct kv_fetch *f = t->data;

	f->timed_out = true;
}

static void http_closed(void *ud)
{
	struct kv_fetch *f = ud;

	f->http_closed = true;
}

static void close_walk(uv_handle_t *h, void *ud)
{
	(void)ud;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int aw_kv_fetch_all(const struct aw_kv_conf *conf, struct aw_kv_item *items, size_t n,
		    struct aw_error_list *errs)
{
	struct kv_fetch f = {.errs = errs};
	struct kv_req *reqs = NULL;
	struct aw_credential *cred = NULL;
	struct aw_error err;
	size_t before = aw_error_list_count(errs);
	const char *scope = conf->scope ? conf->scope : "https://vault.azure.net/.default";

	if (n == 0)
		return 0;
	if (uv_loop_init(&f.loop) != 0)
		return aw_error_list_add(errs, "keyvault: cannot create an event loop");
	uv_timer_init(&f.loop, &f.timer);
	f.timer.data = &f;
	reqs = calloc(n, sizeof *reqs);
	f.metrics = aw_metrics_new();
	if (!reqs || !f.metrics) {
		aw_error_list_add(errs, "keyvault: out of memory");
		goto out;
	}
	struct aw_http_conf hc = {.insecure_http_for_tests = conf->insecure_http_for_tests};
	if (aw_http_new(&f.loop, &hc, f.metrics, &f.http, &err) != 0 ||
	    aw_auth_new(f.http, f.metrics, &f.auth, &err) != 0) {
		aw_error_list_add(errs, "keyvault: %s", err.msg);
		goto out;
	}
	aw_auth_set_loop(f.auth, &f.loop);
	if (aw_auth_add(f.auth, "azure.credential", conf->credential, &cred, &err) != 0) {
		aw_error_list_add(errs, "azure.credential: %s", err.msg);
		goto out;
	}
	const struct aw_http_policy policy = {
		.max_attempts = 4,
		.initial_ms = 250,
		.cap_ms = 4000,
		.max_retry_after_ms = 10000,
		.bearer = aw_credential_bearer(cred, scope),
	};
	for (size_t i = 0; i < n; i++) {
		char url[1024];
		const char *headers[] = {"Accept: application/json", NULL};
		reqs[i] = (struct kv_req){.f = &f, .item = &items[i]};
		if (ref_url(conf, &items[i].ref, url, sizeof url) != 0) {
			fail(&reqs[i], "the Key Vault URL is too long", NULL);
			continue;
		}
		struct aw_http_request rq = {.method = "GET",
					     .url = url,
					     .headers = headers,
					     .max_response_bytes = KV_MAX_BODY,
					     .component = "keyvault"};
		/* counted first: the answer may come before aw_http_call returns */
		f.pending++;
		if (aw_http_call(f.http, &rq, &policy, fetched, &reqs[i], &reqs[i].http, &err) !=
		    0) {
			f.pending--;
			reqs[i].done = true;
			fail(&reqs[i], "cannot send the request: ", err.msg);
		}
	}
	if (f.pending) {
		uv_timer_start(&f.timer, timeout_cb,
			       conf->timeout_ms > 0 ? (uint64_t)conf->timeout_ms : KV_DEFAULT_TO_MS,
			       0);
		/* one iteration at a time: the client's idle connections keep the loop
		 * alive after the last answer */
		while (f.pending && !f.timed_out && uv_run(&f.loop, UV_RUN_ONCE))
			;
		/* timed out: cancel what is left; each answers once, from the loop */
		for (size_t i = 0; i < n; i++)
			if (!reqs[i].done && reqs[i].http)
				aw_http_cancel(reqs[i].http);
		while (f.pending && uv_run(&f.loop, UV_RUN_ONCE))
			;
	}
out:
	if (f.auth)
		aw_auth_free(f.auth);
	if (f.http) {
		aw_http_close(f.http, http_closed, &f);
		while (!f.http_closed && uv_run(&f.loop, UV_RUN_ONCE))
			;
	}
	uv_walk(&f.loop, close_walk, NULL);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&f.loop) != 0)
		aw_log(AW_LOG_WARN, "keyvault", "private event loop closed with handles open");
	aw_metrics_free(f.metrics);
	free(reqs);
	return aw_error_list_count(errs) == before ? 0 : -1;
}
