/* out_sentinel: alerts to Microsoft Sentinel / Log Analytics through the Logs Ingestion
 * API (contract §3): POST {endpoint}/dataCollectionRules/{dcr}/streams/{stream}, a JSON
 * array of the alerts as they are (the table's columns are the alert's fields; see
 * conf/sentinel/), gzipped when that helps.
 *
 * One request per batch, one attempt: the core owns the timing (backoff, Retry-After,
 * splitting, dead-letter). The only resend here is the one after a 401, with a token
 * fetched anew, because a refused token is ours to fix, not the server's. How each
 * answer maps (contract §3 retry policy, §8 pitfalls 1-5):
 *   2xx              done
 *   401              drop the token, fetch another, send once more; then retry later
 *   403              retry after forbidden_retry (the Monitoring Metrics Publisher role
 *                    is missing or has not propagated yet: it fixes itself), one clear
 *                    error logged, /readyz says why
 *   404              as 403: a wrong DCR id or stream, or a DCR too new to be served
 *   413              "too large": the core halves the batch
 *   408, 429, 5xx,   retry, with the server's Retry-After
 *   network
 *   other 4xx        reject with status and body: the core dead-letters the batch
 * Batches are sized by the core against max_batch_bytes, chosen so the array, envelope
 * included, stays under AW_SENTINEL_BATCH_TARGET; a body that still comes out over the
 * 1 MiB cap is answered "too large" before it is sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/auth.h"
#include "../daemon/http.h"
#include "plugin.h"
#include "sentinel_body.h"

#define SEN_MAX_RECORDS 10000
/* The core fills a batch up to max_batch_bytes of records; the array adds a bracket
 * each side and a comma between records. */
#define SEN_MAX_BATCH_BYTES (AW_SENTINEL_BATCH_TARGET - SEN_MAX_RECORDS - 1)
#define SEN_REASON_MAX	    1024

enum sen_compression { SEN_GZIP, SEN_NONE };
static const char *const compression_choices[] = {"gzip", "none", NULL};

struct out_sentinel_conf {
	char *endpoint;
	char *dcr_immutable_id;
	char *stream;
	char *api_version;
	char *scope;
	int compression;
	uint64_t timeout_ms;
	uint64_t forbidden_retry_ms;
	struct aw_credential_conf credential;
};

static const struct aw_option out_sentinel_options[] = {
    AW_OPT_STR("endpoint", struct out_sentinel_conf, endpoint, NULL, AW_OPT_REQUIRED,
	       "logs ingestion endpoint: the DCR's own (properties.endpoints.logsIngestion of a "
	       "DCR of kind Direct) or a data collection endpoint's, e.g. "
	       "https://my-dce-a1b2.eastus-1.ingest.monitor.azure.com"),
    AW_OPT_STR("dcr_immutable_id", struct out_sentinel_conf, dcr_immutable_id, NULL,
	       AW_OPT_REQUIRED,
	       "the data collection rule's immutable id (dcr-0123...; properties.immutableId)"),
    AW_OPT_STR("stream", struct out_sentinel_conf, stream, "Custom-AIWatchAlerts_CL", 0,
	       "a stream the DCR declares: Custom-<name> (conf/sentinel deploys "
	       "Custom-AIWatchAlerts_CL) or a built-in Microsoft-<Table>"),
    AW_OPT_STR("api_version", struct out_sentinel_conf, api_version, "2023-01-01", 0,
	       "Logs Ingestion API version"),
    AW_OPT_STR("scope", struct out_sentinel_conf, scope, "https://monitor.azure.com/.default", 0,
	       "token scope (sovereign clouds: https://monitor.azure.us/.default, "
	       "https://monitor.azure.cn/.default)"),
    AW_OPT_CHOICE("compression", struct out_sentinel_conf, compression, "gzip", compression_choices,
		  "gzip: bodies of 1 KiB or more are sent gzipped when that is smaller; none"),
    AW_OPT_DUR("timeout", struct out_sentinel_conf, timeout_ms, "60s", 1000, 600000,
	       "one request, connection to last byte"),
    AW_OPT_DUR("forbidden_retry", struct out_sentinel_conf, forbidden_retry_ms, "5m", 1000, 3600000,
	       "after 403 (role missing or not yet propagated) or 404 (unknown DCR or stream), "
	       "wait this long before the next try"),
    AW_OPT_SUB("credential", struct out_sentinel_conf, credential, aw_credential_options,
	       "an identity for this output only; when absent (or all defaults) the "
	       "daemon's azure.credential is used"),
    AW_OPT_END,
};

/* Why the output is not ready; each is logged once when it begins. */
enum sen_trouble { SEN_OK, SEN_NO_TOKEN, SEN_UNAUTHORIZED, SEN_FORBIDDEN, SEN_NOT_FOUND };

enum sen_result {
	SEN_R_DONE,
	SEN_R_RETRY,
	SEN_R_THROTTLED,
	SEN_R_TOO_LARGE,
	SEN_R_UNAUTHORIZED,
	SEN_R_FORBIDDEN,
	SEN_R_NOT_FOUND,
	SEN_R_REJECTED,
	SEN_R_COUNT
};
static const char *const result_names[SEN_R_COUNT] = {"done",	   "retry",	   "throttled",
						      "too_large", "unauthorized", "forbidden",
						      "not_found", "rejected"};

struct out_sentinel;

/* One batch on its way. It outlives the output when a close comes while a token or a
 * response is pending: o is then NULL and the callback only frees it. */
struct sen_send {
	struct out_sentinel *o;
	struct aw_batch *batch;
	struct aw_http_req *req;
	char *token; /* the bearer sent, to drop it if the service refuses it */
	bool token_wait;
	bool auth_retried;
	uv_work_t work; /* gzip on the thread pool */
	bool working;
	int gz_rc;
};

struct out_sentinel {
	struct aw_plugin_ctx *ctx;
	const struct out_sentinel_conf *conf;
	char *url;
	struct aw_http *http;
	struct aw_auth *auth; /* own credential only */
	struct aw_credential *cred;
	struct aw_sentinel_body body;
	struct sen_send *send;
	bool closing; /* closed while gzip ran: the work's callback finishes it */
	void (*closed)(struct aw_plugin_ctx *ctx);
	enum sen_trouble trouble;
	char why[256];
	struct aw_metric *m_records, *m_json_bytes, *m_wire_bytes, *m_trimmed;
	struct aw_metric *m_batches[SEN_R_COUNT];
};

static void send_free(struct sen_send *s)
{
	if (s->token) {
		explicit_bzero(s->token, strlen(s->token));
		free(s->token);
	}
	free(s);
}

/* --- readiness and its log lines ---------------------------------------------------- */

static void trouble_begin(struct out_sentinel *o, enum sen_trouble t, const char *why,
			  const char *msg, const char *detail, const char *request_id)
{
	bool first = o->trouble != t;

	o->trouble = t;
	snprintf(o->why, sizeof o->why, "%.255s", why);
	if (!first)
		return;
	aw_log(AW_LOG_ERR, "out_sentinel", msg, AW_S("output", aw_ctx_name(o->ctx)),
	       AW_S("dcr", o->conf->dcr_immutable_id), AW_S("stream", o->conf->stream),
	       AW_S("detail", detail ? detail : ""),
	       AW_S("request_id", request_id ? request_id : ""));
}

static void trouble_end(struct out_sentinel *o)
{
	if (o->trouble == SEN_OK)
		return;
	o->trouble = SEN_OK;
	o->why[0] = '\0';
	aw_log(AW_LOG_INFO, "out_sentinel", "delivering again",
	       AW_S("output", aw_ctx_name(o->ctx)));
}

static int out_sentinel_ready(void *state, char *why, size_t whysz)
{
	struct out_sentinel *o = state;

	if (o->trouble == SEN_OK)
		return 1;
	snprintf(why, whysz, "%s", o->why);
	return 0;
}

/* --- answering the core --------------------------------------------------------------- */

static void finish(struct sen_send *s, enum sen_result res, enum aw_result r,
		   uint64_t retry_after_ms, const char *reason)
{
	struct out_sentinel *o = s->o;

	o->send = NULL;
	aw_metric_inc(o->m_batches[res]);
	if (r == AW_DONE) {
		aw_metric_add(o->m_records, (double)s->batch->n);
		aw_metric_add(o->m_trimmed, (double)o->body.trimmed);
	}
	aw_output_done(o->ctx, s->batch, r, retry_after_ms, reason);
	send_free(s);
}

/* "HTTP 400: <body>" (what the dead-letter file splits into status and body), the body
 * on one line and cut to fit. */
static void status_reason(char *out, size_t sz, const struct aw_http_response *resp)
{
	int n = snprintf(out, sz, "HTTP %ld: ", resp->status);

	if (n < 0 || (size_t)n >= sz)
		return;
	for (size_t i = 0; i < resp->body_len && (size_t)n + 1 < sz; i++) {
		char c = resp->body[i];
		out[n++] = c == '\r' || c == '\n' ? ' ' : c;
	}
	out[n] = '\0';
}

static void on_response(void *ud, const struct aw_http_response *resp);
static void on_token(void *ud, const char *token, const struct aw_error *err);

/* --- sending ------------------------------------------------------------------------ */

static void post(struct sen_send *s)
{
	struct out_sentinel *o = s->o;
	bool gz = o->body.gz_len > 0;
	char *auth = NULL;
	const char *headers[4];
	size_t nh = 0, alen = strlen(s->token) + sizeof "Authorization: Bearer ";
	struct aw_error err;
	char reason[SEN_REASON_MAX];

	auth = malloc(alen);
	if (!auth) {
		finish(s, SEN_R_RETRY, AW_RETRY, 0, "out of memory");
		return;
	}
	snprintf(auth, alen, "Authorization: Bearer %s", s->token);
	headers[nh++] = "Content-Type: application/json";
	if (gz)
		headers[nh++] = "Content-Encoding: gzip";
	headers[nh++] = auth;
	headers[nh] = NULL;
	struct aw_http_request req = {
	    .method = "POST",
	    .url = o->url,
	    .headers = headers,
	    .body = gz ? (const void *)o->body.gz : o->body.json,
	    .body_len = gz ? o->body.gz_len : o->body.len,
	    .timeout_ms = (long)o->conf->timeout_ms,
	    .max_response_bytes = 1024 * 1024, /* an error body; 204 has none */
	    .component = "out_sentinel",
	};
	int rc = aw_http_send(o->http, &req, on_response, s, &s->req, &err);
	explicit_bzero(auth, alen);
	free(auth);
	if (rc != 0) {
		snprintf(reason, sizeof reason, "cannot send: %.900s", err.msg);
		finish(s, SEN_R_RETRY, AW_RETRY, 0, reason);
		return;
	}
	aw_metric_add(o->m_json_bytes, (double)o->body.len);
	aw_metric_add(o->m_wire_bytes, (double)req.body_len);
}

/* Ask for a token; the answer may come before this returns. */
static void fetch_token(struct sen_send *s)
{
	struct out_sentinel *o = s->o;

	s->token_wait = true;
	/* Answers exactly once given a callback (auth.h), so s is not touched after. */
	(void)aw_credential_get_token(o->cred, o->conf->scope, on_token, s);
}

static void on_token(void *ud, const char *token, const struct aw_error *err)
{
	struct sen_send *s = ud;
	struct out_sentinel *o = s->o;
	char reason[SEN_REASON_MAX];

	if (!s->token_wait)
		return;
	s->token_wait = false;
	if (!o) { /* the output closed meanwhile */
		send_free(s);
		return;
	}
	if (!token || !*token) {
		snprintf(reason, sizeof reason, "no token for %.200s: %.700s", o->conf->scope,
			 err && err->msg[0] ? err->msg : "the credential gave none");
		trouble_begin(o, SEN_NO_TOKEN, reason,
			      "cannot get a token for the Logs Ingestion API", reason, NULL);
		finish(s, SEN_R_UNAUTHORIZED, AW_RETRY, 0, reason);
		return;
	}
	if (s->token) {
		explicit_bzero(s->token, strlen(s->token));
		free(s->token);
	}
	s->token = strdup(token);
	if (!s->token) {
		finish(s, SEN_R_RETRY, AW_RETRY, 0, "out of memory");
		return;
	}
	post(s);
}

static void on_response(void *ud, const struct aw_http_response *resp)
{
	struct sen_send *s = ud;
	struct out_sentinel *o = s->o;
	char reason[SEN_REASON_MAX], why[256];
	struct aw_azure_error ae;
	uint64_t ra = resp->retry_after_ms > 0 ? (uint64_t)resp->retry_after_ms : 0;

	s->req = NULL;
	memset(&ae, 0, sizeof ae);
	if (!o) {
		send_free(s);
		return;
	}
	if (resp->cancelled) {
		finish(s, SEN_R_RETRY, AW_RETRY, 0, "request cancelled");
		return;
	}
	/* No whole answer (even a 2xx cut short): what the service did is unknown, so send
	 * again; a duplicate carries the same AlertId. */
	if (resp->status == 0 || resp->transport_error) {
		snprintf(reason, sizeof reason, "no response: %s", resp->error);
		finish(s, SEN_R_RETRY, AW_RETRY, 0, reason);
		return;
	}
	if (resp->status >= 200 && resp->status < 300) {
		trouble_end(o);
		finish(s, SEN_R_DONE, AW_DONE, 0, NULL);
		return;
	}
	status_reason(reason, sizeof reason, resp);
	aw_azure_error_parse(resp->body, resp->body_len, &ae);
	switch (resp->status) {
	case 401:
		if (!s->auth_retried) {
			/* The cached token was refused (expired early, revoked): the next one
			 * must be fetched anew, not taken from the cache again. */
			s->auth_retried = true;
			aw_credential_invalidate(o->cred, o->conf->scope, s->token);
			fetch_token(s);
			return;
		}
		snprintf(why, sizeof why, "the Logs Ingestion API refused a fresh token (401 %s)",
			 ae.code);
		trouble_begin(o, SEN_UNAUTHORIZED, why,
			      "the Logs Ingestion API refused a freshly fetched token; check the "
			      "credential's tenant and the scope",
			      ae.message, resp->request_id);
		finish(s, SEN_R_UNAUTHORIZED, AW_RETRY, ra, reason);
		return;
	case 403:
		snprintf(why, sizeof why,
			 "403 %s: the identity lacks Monitoring Metrics Publisher on DCR %s",
			 ae.code, o->conf->dcr_immutable_id);
		trouble_begin(
		    o, SEN_FORBIDDEN, why,
		    "the Logs Ingestion API refused the identity (403): assign it the "
		    "Monitoring Metrics Publisher role on the data collection rule "
		    "(a new assignment can take 30 minutes to apply); alerts stay spooled "
		    "and are retried every forbidden_retry",
		    ae.message, resp->request_id);
		finish(s, SEN_R_FORBIDDEN, AW_RETRY,
		       ra > o->conf->forbidden_retry_ms ? ra : o->conf->forbidden_retry_ms, reason);
		return;
	case 404:
		snprintf(why, sizeof why, "404 %s: DCR %s or stream %s not found at the endpoint",
			 ae.code, o->conf->dcr_immutable_id, o->conf->stream);
		trouble_begin(
		    o, SEN_NOT_FOUND, why,
		    "the Logs Ingestion API does not know this data collection rule or "
		    "stream (404): check endpoint, dcr_immutable_id and stream; alerts stay "
		    "spooled and are retried every forbidden_retry",
		    ae.message, resp->request_id);
		finish(s, SEN_R_NOT_FOUND, AW_RETRY,
		       ra > o->conf->forbidden_retry_ms ? ra : o->conf->forbidden_retry_ms, reason);
		return;
	case 413:
		finish(s, SEN_R_TOO_LARGE, AW_RETRY, 0, AW_REASON_TOO_LARGE);
		return;
	case 429:
		finish(s, SEN_R_THROTTLED, AW_RETRY, ra, reason);
		return;
	default:
		break;
	}
	if (resp->status == 408 || resp->status >= 500)
		finish(s, SEN_R_RETRY, AW_RETRY, ra, reason);
	else
		finish(s, SEN_R_REJECTED, AW_REJECT, 0, reason);
}

static void output_free(struct out_sentinel *o)
{
	void (*closed)(struct aw_plugin_ctx * ctx) = o->closed;
	struct aw_plugin_ctx *ctx = o->ctx;

	if (o->auth)
		aw_auth_free(o->auth); /* answers a pending token request */
	aw_sentinel_body_free(&o->body);
	free(o->url);
	free(o);
	closed(ctx);
}

/* Thread pool: only the body is touched, and nothing else uses it meanwhile. */
static void gzip_work(uv_work_t *w)
{
	struct sen_send *s = w->data;
	struct aw_error err;

	s->gz_rc = aw_sentinel_body_gzip(&s->o->body, &err);
}

static void gzip_done(uv_work_t *w, int status)
{
	struct sen_send *s = w->data;
	struct out_sentinel *o = s->o;

	s->working = false;
	if (o->closing) {
		o->send = NULL;
		send_free(s);
		output_free(o);
		return;
	}
	if (status != 0 || s->gz_rc != 0 || o->body.gz_len >= o->body.len)
		o->body.gz_len = 0; /* plain JSON is as good (or gzip failed): send that */
	fetch_token(s);
}

static void out_sentinel_submit(void *state, struct aw_batch *b)
{
	struct out_sentinel *o = state;
	struct sen_send *s;
	struct aw_error err;
	int rc;

	rc = aw_sentinel_body_build(&o->body, b->records, b->n, &err);
	if (rc == 1) {
		aw_metric_inc(o->m_batches[SEN_R_TOO_LARGE]);
		aw_output_done(o->ctx, b, AW_RETRY, 0, AW_REASON_TOO_LARGE);
		return;
	}
	if (rc < 0) {
		aw_metric_inc(o->m_batches[SEN_R_RETRY]);
		aw_output_done(o->ctx, b, AW_RETRY, 0, err.msg);
		return;
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		aw_metric_inc(o->m_batches[SEN_R_RETRY]);
		aw_output_done(o->ctx, b, AW_RETRY, 0, "out of memory");
		return;
	}
	s->o = o;
	s->batch = b;
	o->send = s;
	if (o->conf->compression == SEN_GZIP && o->body.len >= AW_SENTINEL_GZIP_MIN) {
		/* Deflating a megabyte takes tens of milliseconds: not on the loop. */
		s->work.data = s;
		if (uv_queue_work(aw_ctx_loop(o->ctx), &s->work, gzip_work, gzip_done) == 0) {
			s->working = true;
			return;
		}
		gzip_work(&s->work);
		gzip_done(&s->work, 0);
		return;
	}
	fetch_token(s);
}

/* --- configuration ---------------------------------------------------------------------- */

/* A credential section with every value at its default means "not configured": the
 * output uses the daemon's identity. */
static bool own_credential(const struct aw_credential_conf *c)
{
	struct aw_credential_conf d;
	struct aw_error err;
	bool own;

	if (aw_options_defaults(aw_credential_options, &d, &err) != 0) {
		aw_options_free(aw_credential_options, &d);
		return true;
	}
	own = !aw_options_equal(aw_credential_options, &d, c);
	aw_options_free(aw_credential_options, &d);
	return own;
}

static bool chars_ok(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(extra, *s)))
			return false;
	return true;
}

static int out_sentinel_validate(const void *conf, const char *where, struct aw_error_list *errs)
{
	const struct out_sentinel_conf *c = conf;
	const char *e = c->endpoint;
	int rc = 0;

	if (e && strncmp(e, "https://", 8) != 0 && strncmp(e, "http://", 7) != 0)
		rc = aw_error_list_add(errs, "%s.endpoint: '%.80s' is not an https:// URL", where,
				       e);
	else if (e && (strchr(e, '?') || strchr(e, '#') || strstr(e, "/dataCollectionRules")))
		rc = aw_error_list_add(errs,
				       "%s.endpoint: give only the endpoint (scheme and host), "
				       "without /dataCollectionRules/..., query or fragment",
				       where);
	if (c->dcr_immutable_id &&
	    (strncmp(c->dcr_immutable_id, "dcr-", 4) != 0 || strlen(c->dcr_immutable_id) < 5 ||
	     strlen(c->dcr_immutable_id) > 68 || !chars_ok(c->dcr_immutable_id + 4, "")))
		rc = aw_error_list_add(
		    errs,
		    "%s.dcr_immutable_id: '%.80s' is not an immutable id such as "
		    "dcr-000a00a000a00000a000000aa000a0aa (properties.immutableId, "
		    "not the resource name)",
		    where, c->dcr_immutable_id);
	if (c->stream &&
	    ((strncmp(c->stream, "Custom-", 7) != 0 && strncmp(c->stream, "Microsoft-", 10) != 0) ||
	     strlen(c->stream) > 128 || !chars_ok(c->stream, "-_") || !strchr(c->stream, '-')[1]))
		rc = aw_error_list_add(errs,
				       "%s.stream: '%.80s' is not a stream name (Custom-<name> or "
				       "Microsoft-<Table>, letters, digits and _)",
				       where, c->stream);
	if (c->api_version && (!*c->api_version || !chars_ok(c->api_version, "-")))
		rc = aw_error_list_add(errs, "%s.api_version: '%.40s' is not an api-version", where,
				       c->api_version);
	if (c->scope && (strncmp(c->scope, "https://", 8) != 0 || strlen(c->scope) < 17 ||
			 strcmp(c->scope + strlen(c->scope) - 9, "/.default") != 0))
		rc = aw_error_list_add(errs,
				       "%s.scope: '%.80s' is not a scope such as "
				       "https://monitor.azure.com/.default",
				       where, c->scope);
	if (own_credential(&c->credential)) {
		char w[256];
		snprintf(w, sizeof w, "%s.credential", where);
		if (aw_credential_conf_check(&c->credential, w, errs) != 0)
			rc = -1;
	}
	return rc;
}

/* --- lifecycle ------------------------------------------------------------------------ */

static void metrics_init(struct out_sentinel *o)
{
	struct aw_metrics *m = aw_ctx_metrics(o->ctx);
	const char *name = aw_ctx_name(o->ctx);

	o->m_records =
	    aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_sentinel_records_total",
			  "Alerts the Logs Ingestion API accepted", "output", name, NULL);
	o->m_json_bytes = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_sentinel_sent_bytes_total",
					"Request bodies sent: json is the array before "
					"compression, wire what went out (gzip or not)",
					"output", name, "form", "json", NULL);
	o->m_wire_bytes = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_sentinel_sent_bytes_total",
					"", "output", name, "form", "wire", NULL);
	o->m_trimmed = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_sentinel_trimmed_records_total",
				     "Alerts whose Evidence was trimmed to the 64 KB column limit",
				     "output", name, NULL);
	for (int i = 0; i < SEN_R_COUNT; i++)
		o->m_batches[i] =
		    aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_sentinel_batches_total",
				  "Logs Ingestion API calls by outcome", "output", name, "result",
				  result_names[i], NULL);
}

static int build_url(struct out_sentinel *o, struct aw_error *err)
{
	const struct out_sentinel_conf *c = o->conf;
	size_t elen = strlen(c->endpoint), n;

	while (elen > 0 && c->endpoint[elen - 1] == '/')
		elen--;
	n = elen + strlen(c->dcr_immutable_id) + strlen(c->stream) + strlen(c->api_version) + 64;
	o->url = malloc(n);
	if (!o->url)
		return aw_error_set(err, "out of memory");
	snprintf(o->url, n, "%.*s/dataCollectionRules/%s/streams/%s?api-version=%s", (int)elen,
		 c->endpoint, c->dcr_immutable_id, c->stream, c->api_version);
	return 0;
}

static int out_sentinel_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
			     struct aw_error *err)
{
	struct out_sentinel *o = calloc(1, sizeof *o);
	char name[256];

	if (!o)
		return aw_error_set(err, "out of memory");
	o->ctx = ctx;
	o->conf = conf;
	o->http = aw_ctx_http(ctx);
	if (!o->http) {
		aw_error_set(err,
			     "the daemon's Azure services (the azure: section) are not running");
		goto fail;
	}
	if (build_url(o, err) != 0)
		goto fail;
	if (own_credential(&o->conf->credential)) {
		snprintf(name, sizeof name, "%s.credential", aw_ctx_name(ctx));
		if (aw_auth_new(o->http, aw_ctx_metrics(ctx), &o->auth, err) != 0)
			goto fail;
		aw_auth_set_loop(o->auth, aw_ctx_loop(ctx));
		if (aw_auth_add(o->auth, name, &o->conf->credential, &o->cred, err) != 0)
			goto fail;
	} else {
		o->cred = aw_ctx_credential(ctx);
		if (!o->cred) {
			aw_error_set(err, "no credential: set azure.credential or this output's "
					  "credential section");
			goto fail;
		}
	}
	metrics_init(o);
	*state = o;
	return 0;
fail:
	if (o->auth)
		aw_auth_free(o->auth);
	free(o->url);
	free(o);
	return -1;
}

static void out_sentinel_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	struct out_sentinel *o = state;
	struct sen_send *s = o->send;

	o->closed = closed;
	if (s && s->working) {
		/* The pool thread is using the body: finish when it is done. */
		o->closing = true;
		return;
	}
	/* A batch in flight is abandoned (the core keeps it): its pending callback frees
	 * it. Cancel runs that callback from the loop, never from here. */
	if (s) {
		s->o = NULL;
		if (s->req)
			aw_http_cancel(s->req);
	}
	output_free(o);
}

const struct aw_plugin_desc aw_out_sentinel = {
    .abi = AW_PLUGIN_ABI,
    .name = "sentinel",
    .kind = AW_PLUGIN_OUTPUT,
    .summary = "sends alerts to Microsoft Sentinel / Log Analytics (Logs Ingestion API)",
    .options = out_sentinel_options,
    .conf_size = sizeof(struct out_sentinel_conf),
    .validate = out_sentinel_validate,
    .init = out_sentinel_init,
    .submit = out_sentinel_submit,
    .ready = out_sentinel_ready,
    .close = out_sentinel_close,
    .max_batch_records = SEN_MAX_RECORDS,
    .max_batch_bytes = SEN_MAX_BATCH_BYTES,
};
