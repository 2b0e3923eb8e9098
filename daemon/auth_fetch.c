/* Token requests: one struct aw_fetch per request the cache asked for, walking the
 * credential's sources (several only for `default`) until one answers.
 *
 * Entra ID (client secret, certificate, workload identity) is a form POST through the
 * shared policy: 429, 5xx and network errors are retried there, any 4xx is a
 * configuration error and ends the request. Managed identity is a GET with its own
 * extra rule: IMDS answers 404 and 410 while it is updating, and 410 may last 70 s, so
 * those are sent again on a timer (the shared policy treats them as final).
 *
 * A fetch owns its HTTP request and its timer. When the cache abandons it (shutdown)
 * it is unlinked from its credential, the request is cancelled or the timer closed, and
 * it frees itself from the last callback; the credential may be gone by then. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth_int.h"
#include "log.h"

#define AW_FEDERATED_TOKEN_MAX ((size_t)64 << 10)
#define AW_ENTRA_ATTEMPTS 4
#define AW_ENTRA_CAP_MS 8000
#define AW_AUTH_MAX_RETRY_AFTER_MS 60000
#define AW_MI_API_VERSION "2018-02-01"
#define AW_APPSVC_API_VERSION "2019-08-01"
#define AW_JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

struct aw_fetch {
	struct aw_credential *cr; /* NULL once abandoned */
	char *scope;
	size_t si;                /* index of the source being tried */
	aw_token_fetch_done done;
	void *cbud;
	struct aw_http_req *req;  /* the request in flight, or NULL */
	uv_timer_t timer;
	bool timer_init;          /* timer initialised: closed before the fetch is freed */
	bool probing;             /* the request in flight is the chain's probe */
	unsigned resends;         /* managed identity: 404/410 and probe resends */
	int64_t first_ms;         /* monotonic, first request to the current source */
	char notes[384];          /* sources of the chain that were not there, and why */
	struct aw_fetch *prev, *next;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- fetch lifetime -------------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void fetch_release(struct aw_fetch *f)
{
	free(f->scope);
	f->scope = NULL;
	if (f->timer_init) {
		f->timer.data = f;
		uv_close((uv_handle_t *)&f->timer, on_timer_closed);
	} else {
		free(f);
	}
}

static void fetch_unlink(struct aw_fetch *f)
{
	if (!f->cr)
		return;
	if (f->prev)
		f->prev->next = f->next;
	else
		f->cr->fetches = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->prev = f->next = NULL;
}

/* The end of a fetch: the cache hears once, after the fetch is gone (its callback may
 * start the next fetch or close everything). */
static void fetch_finish(struct aw_fetch *f, struct aw_token_answer *ans, const struct aw_error *err)
{
	aw_token_fetch_done done = f->done;
	void *cbud = f->cbud;

	fetch_unlink(f);
	f->cr = NULL;
	fetch_release(f);
	done(cbud, ans, err);
}

void aw_cred_abandon(void *ud, void *handle)
{
	struct aw_fetch *f = handle;

	if (!f)
		return;
	fetch_unlink(f);
	f->cr = NULL;
	if (f->req) {
		/* its callback comes later, sees cr == NULL and frees the fetch */
		aw_http_cancel(f->req);
		return;
	}
	if (f->timer_init)
		uv_timer_stop(&f->timer);
	fetch_release(f);
}

/* --- building requests ----------------------------------------------------------- */

static const struct aw_cred_src *cur_src(const struct aw_fetch *f)
{
	return &f->cr->src[f->si];
}

static int fail(struct aw_fetch *f, struct aw_error *err, const char *what, const char *detail)
{
	const struct aw_cred_src *s = cur_src(f);

	return aw_error_set(err, "credential '%s' (%s): %s: %s", f->cr->name,
			    aw_src_label(s->kind), what, detail);
}

/* The federated token, trimmed: read again for every request because the kubelet
 * rotates the file. */
static int read_token_file(const char *path, char **out, char *why, size_t whysz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	char *buf = NULL;
	size_t n = 0, start = 0;
	struct stat st;
	int rc = -1;

	if (fd < 0) {
		snprintf(why, whysz, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > AW_FEDERATED_TOKEN_MAX) {
		snprintf(why, whysz, "%s is not a regular file of at most %zu KiB", path,
			 AW_FEDERATED_TOKEN_MAX >> 10);
		goto out;
	}
	buf = malloc(AW_FEDERATED_TOKEN_MAX + 1);
	if (!buf) {
		snprintf(why, whysz, "out of memory reading %s", path);
		goto out;
	}
	while (n < AW_FEDERATED_TOKEN_MAX) {
		ssize_t r = read(fd, buf + n, AW_FEDERATED_TOKEN_MAX - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whysz, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t'))
		buf[--n] = '\0';
	while (start < n && (buf[start] == ' ' || buf[start] == '\t' || buf[start] == '\n'))
		start++;
	if (start == n || strlen(buf + start) != n - start) {
		snprintf(why, whysz, "%s is empty or holds a NUL byte", path);
		goto out;
	}
	*out = strdup(buf + start);
	if (!*out) {
		snprintf(why, whysz, "out of memory reading %s", path);
		goto out;
	}
	rc = 0;
out:
	if (buf) {
		explicit_bzero(buf, n);
		free(buf);
	}
	close(fd);
	return rc;
}

static void on_entra_done(void *ud, const struct aw_http_response *resp);
static void on_mi_done(void *ud, const struct aw_http_response *resp);

static int send_entra(struct aw_fetch *f, struct aw_error *err)
{
	const struct aw_cred_src *s = cur_src(f);
	struct aw_auth *a = f->cr->auth;
	static const char *const headers[] = {
	    "Content-Type: application/x-www-form-urlencoded", "Accept: application/json", NULL};
	struct aw_form form = {0};
	struct aw_jwt_key *key = NULL;
	char *assertion = NULL, why[512], component[128];
	int rc = -1;

	if (aw_form_add(&form, "grant_type", "client_credentials") < 0 ||
	    aw_form_add(&form, "client_id", s->client_id) < 0 ||
	    aw_form_add(&form, "scope", f->scope) < 0)
		goto oom;
	switch (s->kind) {
	case AW_SRC_SECRET:
		if (aw_form_add(&form, "client_secret", s->secret) < 0)
			goto oom;
		break;
	case AW_SRC_CERT:
		if (aw_jwt_key_load(s->path, &key, err) < 0 ||
		    aw_jwt_client_assertion(key, s->endpoint, s->client_id, (int64_t)time(NULL),
					    &assertion, err) < 0) {
			aw_error_prefix(err, "credential '%s' (client_certificate)", f->cr->name);
			goto out;
		}
		break;
	default:
		if (read_token_file(s->path, &assertion, why, sizeof why) < 0) {
			fail(f, err, "federated token file", why);
			goto out;
		}
		break;
	}
	if (assertion && (aw_form_add(&form, "client_assertion_type", AW_JWT_BEARER) < 0 ||
			  aw_form_add(&form, "client_assertion", assertion) < 0))
		goto oom;
	snprintf(component, sizeof component, "auth/%s", f->cr->name);
	struct aw_http_request req = {
	    .method = "POST",
	    .url = s->endpoint,
	    .headers = headers,
	    .body = form.buf,
	    .body_len = form.len,
	    .max_response_bytes = (size_t)1 << 20,
	    .component = component,
	};
	struct aw_http_policy pol = {
	    .max_attempts = AW_ENTRA_ATTEMPTS,
	    .initial_ms = a->tuning.entra_initial_ms,
	    .cap_ms = AW_ENTRA_CAP_MS,
	    .max_retry_after_ms = AW_AUTH_MAX_RETRY_AFTER_MS,
	};
	if (aw_http_call(a->http, &req, &pol, on_entra_done, f, &f->req, err) < 0) {
		aw_error_prefix(err, "credential '%s' (%s): POST %s", f->cr->name,
				aw_src_label(s->kind), s->endpoint);
		f->req = NULL;
		goto out;
	}
	rc = 0;
	goto out;
oom:
	fail(f, err, "building the request", "out of memory or the body is too large");
out:
	aw_form_free(&form);
	if (assertion) {
		explicit_bzero(assertion, strlen(assertion));
		free(assertion);
	}
	aw_jwt_key_free(key);
	return rc;
}

/* The resource a managed-identity endpoint wants: the scope without "/.default". */
static int mi_url(const struct aw_fetch *f, char **out)
{
	const struct aw_cred_src *s = cur_src(f);
	const char *suffix = "/.default";
	size_t n = strlen(f->scope), sl = strlen(suffix);
	struct aw_form q = {0};
	char *res;
	int rc = -1;

	if (n > sl && strcmp(f->scope + n - sl, suffix) == 0)
		n -= sl;
	res = strndup(f->scope, n);
	if (!res)
		return -1;
	if (aw_form_add(&q, "api-version",
			s->kind == AW_SRC_APPSVC ? AW_APPSVC_API_VERSION : AW_MI_API_VERSION) < 0 ||
	    aw_form_add(&q, "resource", res) < 0 ||
	    (s->sel_key && aw_form_add(&q, s->sel_key, s->sel_val) < 0))
		goto out;
	if (asprintf(out, "%s?%s", s->endpoint, q.buf) < 0) {
		*out = NULL;
		goto out;
	}
	rc = 0;
out:
	free(res);
	aw_form_free(&q);
	return rc;
}

static int send_mi(struct aw_fetch *f, struct aw_error *err)
{
	struct aw_cred_src *s = &f->cr->src[f->si];
	struct aw_auth *a = f->cr->auth;
	const char *headers[2] = {NULL, NULL};
	char *url = NULL, *hdr = NULL, component[128];
	int rc = -1;

	if (mi_url(f, &url) < 0)
		return fail(f, err, "building the request", "out of memory");
	if (s->kind == AW_SRC_APPSVC) {
		if (asprintf(&hdr, "X-IDENTITY-HEADER: %s", s->secret) < 0) {
			hdr = NULL;
			fail(f, err, "building the request", "out of memory");
			goto out;
		}
		headers[0] = hdr;
	} else {
		headers[0] = "Metadata: true";
	}
	/* Until the endpoint has answered once, the chain's managed identity is only a
	 * guess: one short try, and silence means "not on Azure". */
	f->probing = s->probe && !s->answered;
	snprintf(component, sizeof component, "auth/%s", f->cr->name);
	struct aw_http_request req = {
	    .method = "GET",
	    .url = url,
	    .headers = headers,
	    .timeout_ms = f->probing ? a->tuning.mi_probe_timeout_ms : 0,
	    .max_response_bytes = (size_t)1 << 20,
	    .no_proxy = true,
	    .allow_http = true,
	    .component = component,
	};
	struct aw_http_policy pol = {
	    .max_attempts = f->probing ? 1 : a->tuning.mi_attempts,
	    .initial_ms = a->tuning.mi_initial_ms,
	    .cap_ms = a->tuning.mi_cap_ms,
	    .max_retry_after_ms = AW_AUTH_MAX_RETRY_AFTER_MS,
	};
	if (!f->first_ms)
		f->first_ms = mono_ms();
	if (aw_http_call(a->http, &req, &pol, on_mi_done, f, &f->req, err) < 0) {
		aw_error_prefix(err, "credential '%s' (%s): GET %s", f->cr->name,
				aw_src_label(s->kind), s->endpoint);
		f->req = NULL;
		goto out;
	}
	rc = 0;
out:
	free(url);
	if (hdr) {
		explicit_bzero(hdr, strlen(hdr));
		free(hdr);
	}
	return rc;
}

static int send_src(struct aw_fetch *f, struct aw_error *err)
{
	f->resends = 0;
	f->first_ms = 0;
	switch (cur_src(f)->kind) {
	case AW_SRC_IMDS:
	case AW_SRC_APPSVC:
		return send_mi(f, err);
	default:
		return send_entra(f, err);
	}
}

int aw_cred_fetch(void *ud, const char *scope, aw_token_fetch_done done, void *cbud,
		  void **handle, struct aw_error *err)
{
	struct aw_credential *cr = ud;
	struct aw_fetch *f = calloc(1, sizeof *f);

	*handle = NULL;
	if (!f || !(f->scope = strdup(scope))) {
		free(f);
		return aw_error_set(err, "credential '%s': out of memory", cr->name);
	}
	f->cr = cr;
	f->done = done;
	f->cbud = cbud;
	f->si = cr->chosen >= 0 ? (size_t)cr->chosen : 0;
	f->next = cr->fetches;
	if (cr->fetches)
		cr->fetches->prev = f;
	cr->fetches = f;
	if (send_src(f, err) < 0) {
		fetch_unlink(f);
		f->cr = NULL;
		fetch_release(f);
		return -1;
	}
	*handle = f;
	return 0;
}

/* --- answers --------------------------------------------------------------------- */

/* "HTTP 401: invalid_client: AADSTS7000215: ... (x-ms-request-id R)" or the transport
 * error: what the endpoint said, never what was sent. */
static void describe(const struct aw_http_response *r, char *buf, size_t sz)
{
	char said[600];
	int n;

	if (r->cancelled) {
		snprintf(buf, sz, "cancelled");
		return;
	}
	if (!r->status) {
		snprintf(buf, sz, "no answer: %s", r->error && *r->error ? r->error : "network error");
		return;
	}
	if (aw_token_error_describe(r->body, r->body_len, said, sizeof said) < 0)
		snprintf(said, sizeof said, "(no error details in the answer)");
	n = snprintf(buf, sz, "HTTP %ld: %s", r->status, said);
	if (n > 0 && (size_t)n < sz && r->request_id && *r->request_id)
		snprintf(buf + n, sz - (size_t)n, " (x-ms-request-id %.64s)", r->request_id);
}

/* A token, or -1 with err. */
static int take_answer(struct aw_fetch *f, const struct aw_http_response *r,
		       struct aw_token_answer *ans, struct aw_error *err)
{
	const struct aw_cred_src *s = cur_src(f);
	struct aw_error perr;

	if (aw_token_answer_parse(r->body, r->body_len, (int64_t)time(NULL), ans, &perr) < 0)
		return aw_error_set(err, "credential '%s' (%s): %s answered %ld but %s", f->cr->name,
				    aw_src_label(s->kind), s->endpoint, r->status, perr.msg);
	return 0;
}

static void succeed(struct aw_fetch *f, struct aw_token_answer *ans)
{
	struct aw_credential *cr = f->cr;

	if (cr->chosen < 0) {
		cr->chosen = (int)f->si;
		aw_log(AW_LOG_INFO, "auth", "credential chain settled", AW_S("credential", cr->name),
		       AW_S("uses", aw_src_label(cr->src[f->si].kind)));
	}
	fetch_finish(f, ans, NULL);
	if (ans->token) {
		explicit_bzero(ans->token, strlen(ans->token));
		free(ans->token);
	}
}

/* The current source failed with err. In a chain that has not settled, a source that
 * "is not there" passes the request on to the next one; anything else is the answer. */
static void source_failed(struct aw_fetch *f, struct aw_error *err, bool unavailable)
{
	struct aw_credential *cr = f->cr;
	size_t used = strlen(f->notes);

	if (unavailable && cr->chosen < 0 && f->si + 1 < cr->nsrc) {
		snprintf(f->notes + used, sizeof f->notes - used, "%s%s", used ? "; " : "",
			 err->msg);
		f->si++;
		if (send_src(f, err) == 0)
			return;
	}
	if (f->notes[0])
		aw_error_prefix(err, "(after: %s) ", f->notes);
	fetch_finish(f, NULL, err);
}

static void on_entra_done(void *ud, const struct aw_http_response *resp)
{
	struct aw_fetch *f = ud;
	struct aw_token_answer ans = {0};
	struct aw_error err;
	char why[800];

	f->req = NULL;
	if (!f->cr) {
		fetch_release(f);
		return;
	}
	if (resp->status >= 200 && resp->status < 300) {
		if (take_answer(f, resp, &ans, &err) == 0) {
			succeed(f, &ans);
			return;
		}
		source_failed(f, &err, false);
		return;
	}
	describe(resp, why, sizeof why);
	aw_error_set(&err, "credential '%s' (%s): POST %s: %s", f->cr->name,
		     aw_src_label(cur_src(f)->kind), cur_src(f)->endpoint, why);
	source_failed(f, &err, false);
}

static void on_timer(uv_timer_t *t)
{
	struct aw_fetch *f = t->data;
	struct aw_error err;

	if (!f->cr)
		return;
	if (send_mi(f, &err) < 0)
		fetch_finish(f, NULL, &err);
}

/* Equal jitter: half the exponential step fixed, half random, so a 410 streak is
 * neither hammered nor left idle. */
static uint64_t mi_delay(const struct aw_auth *a, unsigned n, int64_t retry_after_ms)
{
	uint64_t d = a->tuning.mi_initial_ms;

	for (unsigned i = 1; i < n && d < a->tuning.mi_cap_ms; i++)
		d *= 2;
	if (d > a->tuning.mi_cap_ms)
		d = a->tuning.mi_cap_ms;
	d = d / 2 + (d > 1 ? (uint64_t)random() % (d / 2 + 1) : 0);
	if (retry_after_ms >= 0 && (uint64_t)retry_after_ms > d)
		d = (uint64_t)retry_after_ms < AW_AUTH_MAX_RETRY_AFTER_MS
			? (uint64_t)retry_after_ms
			: AW_AUTH_MAX_RETRY_AFTER_MS;
	return d;
}

/* Should a managed-identity answer be sent again after a delay? 404/410 are IMDS
 * updating (410 for up to 70 s); after a probe that reached the endpoint, any answer
 * the policy would have retried gets its full retries now. */
static bool mi_resend(struct aw_fetch *f, const struct aw_http_response *r, bool was_probe)
{
	struct aw_auth *a = f->cr->auth;
	int64_t elapsed = mono_ms() - f->first_ms;

	if (!a->loop || r->cancelled || !r->status)
		return false;
	if (r->status == 410)
		return elapsed + (int64_t)mi_delay(a, f->resends + 1, -1) < (int64_t)a->tuning.mi_410_ms;
	if (r->status == 404)
		return f->resends < a->tuning.mi_attempts;
	return was_probe && aw_http_classify(r) == AW_HTTP_RETRY &&
	       f->resends < a->tuning.mi_attempts;
}

static void on_mi_done(void *ud, const struct aw_http_response *resp)
{
	struct aw_fetch *f = ud;
	struct aw_cred_src *s;
	struct aw_token_answer ans = {0};
	struct aw_error err;
	char why[800];
	bool was_probe = f->probing;

	f->req = NULL;
	if (!f->cr) {
		fetch_release(f);
		return;
	}
	s = &f->cr->src[f->si];
	if (resp->status)
		s->answered = true;
	if (resp->status >= 200 && resp->status < 300) {
		if (take_answer(f, resp, &ans, &err) == 0) {
			succeed(f, &ans);
			return;
		}
		source_failed(f, &err, false);
		return;
	}
	if (mi_resend(f, resp, was_probe)) {
		struct aw_auth *a = f->cr->auth;
		uint64_t delay = mi_delay(a, ++f->resends, resp->retry_after_ms);
		if (!f->timer_init) {
			uv_timer_init(a->loop, &f->timer);
			f->timer.data = f;
			f->timer_init = true;
		}
		aw_log(AW_LOG_INFO, "auth", "managed identity endpoint busy; asking again",
		       AW_S("credential", f->cr->name), AW_S("endpoint", s->endpoint),
		       AW_I("status", resp->status), AW_U("delay_ms", delay));
		uv_timer_start(&f->timer, on_timer, delay, 0);
		return;
	}
	describe(resp, why, sizeof why);
	if (was_probe && !resp->status && !resp->cancelled) {
		if (f->si + 1 >= f->cr->nsrc)
			aw_error_set(&err,
				     "credential '%s': no credential found: the environment has no "
				     "AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or "
				     "AZURE_FEDERATED_TOKEN_FILE, and %s at %s did not answer (not "
				     "on Azure?): %s",
				     f->cr->name, aw_src_label(s->kind), s->endpoint, why);
		else
			aw_error_set(&err, "%s: %s did not answer: %s", aw_src_label(s->kind),
				     s->endpoint, why);
		source_failed(f, &err, true);
		return;
	}
	aw_error_set(&err, "credential '%s' (%s): GET %s: %s%s%s%s", f->cr->name,
		     aw_src_label(s->kind), s->endpoint, why,
		     resp->status == 400 && s->sel_key ? "; is the user-assigned identity " : "",
		     resp->status == 400 && s->sel_key ? s->sel_key : "",
		     resp->status == 400 && s->sel_key ? " right?" : "");
	source_failed(f, &err, false);
}
