/* The `posture` input: the hardening of the AI resources, checked on every pass, and an
 * AIWatchPosture event for each finding that appears, changes or is resolved.
 *
 * A pass reads the estate (posture_collect.c: Resource Graph, then ARM for children,
 * diagnostic settings and Defender plans), runs every check on each element
 * (aw_posture_evaluate, posture_checks.c) and compares each result with what was
 * reported before (posture_known.c): a failure not reported yet Appeared, a reported
 * failure whose value changed Changed, a reported failure now passing Resolved. When the
 * inventory is complete, a reported failure whose resource is gone (or whose check no
 * longer applies) is Resolved too; an incomplete one resolves nothing that way. A check
 * that could not be evaluated (a read failed) changes nothing: counted, logged once.
 *
 * What was reported advances only in durable(): the state file in the instance's state
 * directory is written from durable changes only, so a crash re-reports a change after
 * the restart, with the same _ItemId (a digest of check, resource, change, value and the
 * finding's change count). Evaluation stops between resources while the pipeline asks
 * to pause or too many changes wait to be durable. /readyz follows the last pass. */
#include <ctype.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../daemon/auth.h"
#include "plugin.h"
#include "posture.h"
#include "posture_conf.h"
#include "posture_known.h"

#define PO_STATE_FILE	 "findings"
#define PO_SAVE_EVERY_MS 1000
#define PO_PENDING_HIGH	 (AW_PK_MAX_PENDING - 4096) /* room for one resource's changes */
#define PO_LOGGED_MAX	 1024			    /* unknown results remembered as logged */
#define PO_LOG_FIRST	 10			    /* new unknown results logged per pass */
#define PO_GONE		 "resource no longer exists"
#define PO_NOT_APPLIES	 "check no longer applies"

static const char *const po_changes[] = {"", "Appeared", "Changed", "Resolved"};
static const char *const po_change_labels[] = {"", "appeared", "changed", "resolved"};
static const char *const po_severities[] = {"High", "Medium", "Low"};

enum po_phase { PO_IDLE, PO_COLLECTING, PO_DIFF, PO_GONE_PHASE };

struct in_posture {
	struct aw_plugin_ctx *ctx;
	const struct aw_posture_conf *conf;
	uv_loop_t *loop;
	char component[160];
	struct aw_auth *own_auth;
	const struct aw_http_bearer *bearer;
	struct aw_posture_collector *collector;
	struct aw_posture_known *known;
	uv_timer_t poll_timer, save_timer;
	/* the pass in progress */
	enum po_phase phase;
	bool paused, stopped, closing, started, processing;
	uint32_t gen;
	struct aw_posture_inventory *inv;
	size_t cursor;
	struct aw_pk_entry **gone;
	size_t ngone;
	uint64_t *ids; /* hashes of the inventory's resource ids, sorted (the gone phase) */
	size_t nids;
	uint64_t poll_start_ms, last_save_ms;
	char poll_time[32];
	size_t results[3], failing[3], untracked, unknown_logged, unknown_unlogged;
	uint64_t logged[PO_LOGGED_MAX];
	size_t nlogged;
	/* the last finished pass: -1 none yet, 0 failed, 1 succeeded */
	int last_ok;
	char last_error[AW_ERROR_MAX];
	unsigned close_pending;
	void (*closed)(struct aw_plugin_ctx *ctx);
	struct aw_metric *m_resources, *m_findings[3], *m_results[3], *m_events[4], *m_polls[2],
	    *m_duration, *m_untracked, *m_failed_reads;
};

static void poll_begin(struct in_posture *in);
static void process_steps(struct in_posture *in);

static void poll_timer_cb(uv_timer_t *t)
{
	poll_begin(t->data);
}

static const char *in_name(const struct in_posture *in)
{
	return aw_ctx_name(in->ctx);
}

/* --- the findings table ---------------------------------------------------------------- */

static void save_now(struct in_posture *in)
{
	struct aw_error err;

	in->last_save_ms = uv_now(in->loop);
	if (aw_posture_known_save(in->known, aw_ctx_state_dir(in->ctx), PO_STATE_FILE, &err) != 0)
		aw_log(AW_LOG_WARN, "in_posture", "cannot write the findings table",
		       AW_S("input", in_name(in)), AW_S("error", err.msg));
}

static void save_cb(uv_timer_t *t)
{
	save_now(t->data);
}

/* At most one write per PO_SAVE_EVERY_MS; close writes the last one. */
static void schedule_save(struct in_posture *in)
{
	uint64_t now = uv_now(in->loop), due = in->last_save_ms + PO_SAVE_EVERY_MS;

	if (in->closing || uv_is_active((uv_handle_t *)&in->save_timer))
		return;
	uv_timer_start(&in->save_timer, save_cb, due > now ? due - now : 0, 0);
}

static void load_table(struct in_posture *in)
{
	struct aw_error err;
	int rc = aw_posture_known_load(in->known, aw_ctx_state_dir(in->ctx), PO_STATE_FILE, &err);

	if (rc == 1)
		aw_log(AW_LOG_INFO, "in_posture",
		       "no findings table yet: every current failure is reported once",
		       AW_S("input", in_name(in)));
	else if (rc < 0)
		aw_log(AW_LOG_WARN, "in_posture",
		       "ignoring the findings table; every current failure is reported once",
		       AW_S("input", in_name(in)), AW_S("error", err.msg));
}

/* --- events ------------------------------------------------------------------------------ */

static void now_iso(char out[32])
{
	struct timespec ts;
	struct tm tm;
	char base[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03uZ", base, (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

/* Hex SHA-256 prefix of check|resource|change|actual|n (the resource lower-cased: ARM
 * ids compare case-insensitively). The change count n keeps a failure that comes back
 * after it was resolved from reusing its first event's id; a crash re-reports with the
 * same n, so under the same id. */
static void item_id(const char *check, const char *resource, const char *change, const char *actual,
		    uint32_t n, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE] = {0};
	unsigned int len = 0;
	char num[16], low[256];
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	snprintf(num, sizeof num, "%u", (unsigned)n);
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(c, check, strlen(check));
		EVP_DigestUpdate(c, "|", 1);
		for (const char *p = resource; *p;) {
			size_t k = 0;
			for (; *p && k < sizeof low; p++)
				low[k++] = (char)tolower((unsigned char)*p);
			EVP_DigestUpdate(c, low, k);
		}
		EVP_DigestUpdate(c, "|", 1);
		EVP_DigestUpdate(c, change, strlen(change));
		EVP_DigestUpdate(c, "|", 1);
		EVP_DigestUpdate(c, actual, strlen(actual));
		EVP_DigestUpdate(c, "|", 1);
		EVP_DigestUpdate(c, num, strlen(num));
		EVP_DigestFinal_ex(c, md, &len);
	}
	EVP_MD_CTX_free(c);
	for (size_t i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
}

static const char *str_member(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The subscription of an ARM id ("/subscriptions/S/...") into out. */
static const char *id_subscription(const char *id, char *out, size_t sz)
{
	size_t n;

	out[0] = '\0';
	if (strncasecmp(id, "/subscriptions/", 15) == 0) {
		n = strcspn(id + 15, "/");
		snprintf(out, sz, "%.*s", (int)n, id + 15);
	}
	return out;
}

static int add_str(json_object *o, const char *k, const char *v)
{
	return json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

static json_object *controls_of(const struct aw_posture_check *chk)
{
	json_object *o = json_object_new_object();

	for (int fw = 0; o && fw < AW_FW_COUNT; fw++) {
		const char *const *list =
		    aw_posture_check_controls(chk, (enum aw_posture_framework)fw);
		json_object *a = json_object_new_array();

		for (size_t i = 0; a && list && list[i]; i++)
			json_object_array_add(a, json_object_new_string(list[i]));
		if (!a ||
		    json_object_object_add(
			o, aw_posture_framework_name((enum aw_posture_framework)fw), a) != 0) {
			json_object_put(a);
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

/* The event's text (malloc'd), or NULL when out of memory. resource may be NULL (gone). */
static char *event_json(const struct in_posture *in, const struct aw_posture_check *chk,
			const char *resource_id, json_object *resource, enum aw_pk_change change,
			const char *actual, const char *previous, uint32_t n, size_t *len)
{
	json_object *ev = json_object_new_object(), *ctl = controls_of(chk);
	const char *name = str_member(resource, "name"),
		   *sub = str_member(resource, "subscriptionId");
	const char *slash = strrchr(resource_id, '/'), *txt;
	char id[33], subbuf[64];
	char *out = NULL;
	int bad = 0;

	if (!ev || !ctl)
		goto out;
	if (!name)
		name = slash ? slash + 1 : resource_id;
	if (!sub)
		sub = id_subscription(resource_id, subbuf, sizeof subbuf);
	item_id(aw_posture_check_id(chk), resource_id, po_changes[change], actual, n, id);
	bad |= add_str(ev, "TimeGenerated", in->poll_time);
	bad |= add_str(ev, "Type", AW_POSTURE_TABLE);
	bad |= add_str(ev, "_ItemId", id);
	bad |= add_str(ev, "CheckId", aw_posture_check_id(chk));
	bad |= add_str(ev, "CheckTitle", aw_posture_check_title(chk));
	bad |= add_str(ev, "Area", aw_posture_check_area(chk));
	bad |= add_str(ev, "Severity", aw_posture_check_severity(chk));
	bad |= add_str(ev, "ResourceId", resource_id);
	bad |= add_str(ev, "_ResourceId", resource_id);
	bad |= add_str(ev, "ResourceType", aw_posture_check_type(chk));
	bad |= add_str(ev, "ResourceName", name);
	bad |= add_str(ev, "SubscriptionId", sub);
	bad |= add_str(ev, "PropertyPath", aw_posture_check_path(chk));
	bad |= add_str(ev, "Expected", aw_posture_check_expected(chk));
	bad |= add_str(ev, "Actual", actual);
	bad |= add_str(ev, "PreviousActual", change == AW_PK_CHANGED ? previous : "");
	bad |= add_str(ev, "Status", change == AW_PK_RESOLVED ? "Passed" : "Failed");
	bad |= add_str(ev, "Change", po_changes[change]);
	bad |= add_str(ev, "Baseline", aw_posture_check_baseline(chk));
	bad |= add_str(ev, "Remediation", aw_posture_check_remediation(chk));
	bad |= json_object_object_add(ev, "Controls", ctl);
	ctl = NULL;
	if (bad)
		goto out;
	txt = json_object_to_json_string_length(
	    ev, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
	if (txt)
		out = strdup(txt);
out:
	json_object_put(ctl);
	json_object_put(ev);
	return out;
}

static int severity_index(const struct aw_posture_check *chk)
{
	const char *s = aw_posture_check_severity(chk);

	for (int i = 0; i < 3; i++)
		if (s && strcasecmp(s, po_severities[i]) == 0)
			return i;
	return 1;
}

/* Emit the event for a verdict and remember it (pending until durable). */
static void report(struct in_posture *in, const struct aw_posture_check *chk,
		   const char *resource_id, json_object *resource, const struct aw_pk_verdict *v,
		   const char *actual)
{
	struct aw_event ev = {.table = AW_POSTURE_TABLE, .origin = resource_id};
	const char *check = aw_posture_check_id(chk);
	bool pause = false;
	uint64_t seq;
	char *json;

	json = event_json(in, chk, resource_id, resource, v->change, actual, v->previous, v->n,
			  &ev.len);
	if (!json) {
		/* Not remembered: the next pass reports it. */
		aw_log(AW_LOG_ERR, "in_posture", "out of memory building an event",
		       AW_S("input", in_name(in)), AW_S("resource_id", resource_id));
		return;
	}
	ev.json = json;
	seq = aw_input_emit(in->ctx, &ev, &pause);
	free(json);
	aw_metric_inc(in->m_events[v->change]);
	if (v->untracked) {
		in->untracked++;
		aw_metric_inc(in->m_untracked);
	} else if (aw_posture_known_emitted(in->known, check, resource_id,
					    v->change == AW_PK_RESOLVED ? NULL : actual, v->n,
					    in->gen, seq) < 0) {
		aw_log(AW_LOG_ERR, "in_posture",
		       "cannot remember a reported change (out of memory); it is reported again",
		       AW_S("input", in_name(in)), AW_S("resource_id", resource_id),
		       AW_S("check", check));
	}
	if (pause)
		in->paused = true;
}

/* Logged once per resource and reason at warning level (the read usually fails again
 * next pass), at most PO_LOG_FIRST new ones a pass. */
static void note_unknown(struct in_posture *in, const struct aw_posture_result *r,
			 const char *resource_id)
{
	json_object *meta = NULL;
	const char *why = NULL;
	uint64_t h = 1469598103934665603ull;
	size_t n = in->nlogged < PO_LOGGED_MAX ? in->nlogged : PO_LOGGED_MAX;
	bool seen = false;

	if (json_object_object_get_ex(r->resource, AW_POSTURE_META, &meta))
		why = str_member(meta, "error");
	if (!why)
		why = r->actual;
	for (const char *p = resource_id; *p; p++)
		h = (h ^ (unsigned char)tolower((unsigned char)*p)) * 1099511628211ull;
	for (const char *p = why; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (size_t i = 0; i < n && !seen; i++)
		seen = in->logged[i] == h;
	if (seen)
		return;
	if (in->unknown_logged >= PO_LOG_FIRST) {
		in->unknown_unlogged++;
		return;
	}
	in->logged[in->nlogged++ % PO_LOGGED_MAX] = h;
	in->unknown_logged++;
	aw_log(AW_LOG_WARN, "in_posture", "checks not evaluated: what they read could not be read",
	       AW_S("input", in_name(in)), AW_S("resource_id", resource_id), AW_S("reason", why));
}

static void on_result(void *ud, const struct aw_posture_result *r)
{
	struct in_posture *in = ud;
	const char *resource_id = str_member(r->resource, "id");
	const char *check = aw_posture_check_id(r->check);
	struct aw_pk_verdict v;

	if (!resource_id)
		return;
	switch (r->status) {
	case AW_POSTURE_UNKNOWN:
		in->results[2]++;
		aw_posture_known_touch(in->known, check, resource_id, in->gen);
		/* Turned off on purpose: counted, not worth a warning on every pass. */
		if (in->conf->diagnostics ||
		    strncmp(aw_posture_check_path(r->check), AW_POSTURE_META ".diagnosticSettings",
			    sizeof AW_POSTURE_META ".diagnosticSettings" - 1) != 0)
			note_unknown(in, r, resource_id);
		return;
	case AW_POSTURE_FAIL:
		in->results[1]++;
		in->failing[severity_index(r->check)]++;
		aw_posture_known_check(in->known, check, resource_id, r->actual, in->gen, &v);
		break;
	default:
		in->results[0]++;
		aw_posture_known_check(in->known, check, resource_id, NULL, in->gen, &v);
		break;
	}
	if (v.change != AW_PK_NONE)
		report(in, r->check, resource_id, r->resource, &v, r->actual);
}

/* --- passes ---------------------------------------------------------------------------------- */

static bool blocked(const struct in_posture *in)
{
	return in->paused || aw_posture_known_pending(in->known) >= PO_PENDING_HIGH;
}

static uint64_t id_hash(const char *id)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)tolower((unsigned char)*p)) * 1099511628211ull;
	return h;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The resource ids of the inventory, to tell a gone resource from a check that no
 * longer applies to one still there. */
static void index_ids(struct in_posture *in)
{
	size_t n = json_object_array_length(in->inv->resources);

	in->nids = 0;
	if (!n || !(in->ids = malloc(n * sizeof *in->ids)))
		return;
	for (size_t i = 0; i < n; i++) {
		const char *id = str_member(json_object_array_get_idx(in->inv->resources, i), "id");
		if (id)
			in->ids[in->nids++] = id_hash(id);
	}
	qsort(in->ids, in->nids, sizeof *in->ids, cmp_u64);
}

static bool id_present(const struct in_posture *in, const char *id)
{
	uint64_t h = id_hash(id);

	return in->ids && bsearch(&h, in->ids, in->nids, sizeof *in->ids, cmp_u64) != NULL;
}

static void resolve_gone(struct in_posture *in, struct aw_pk_entry *e)
{
	const struct aw_posture_check *chk = aw_posture_check_find(aw_pk_entry_check(e));
	const char *resource_id = aw_pk_entry_resource(e);
	struct aw_pk_verdict v = {.change = AW_PK_RESOLVED, .n = aw_pk_entry_changes(e) + 1};
	char rid[AW_ERROR_MAX];

	if (!aw_pk_entry_actual(e))
		return;
	if (!chk) {
		/* A check this version no longer has: nothing to say in an event. */
		aw_posture_known_forget(in->known, e);
		return;
	}
	snprintf(rid, sizeof rid, "%s", resource_id); /* emitted() may replace the entry's text */
	report(in, chk, rid, NULL, &v, id_present(in, rid) ? PO_NOT_APPLIES : PO_GONE);
}

static void poll_end(struct in_posture *in)
{
	uint64_t now = uv_now(in->loop), due = in->poll_start_ms + in->conf->interval_ms;
	struct aw_posture_inventory *inv = in->inv;
	bool ok = inv->complete;
	size_t dropped = 0;

	in->phase = PO_IDLE;
	in->last_ok = ok ? 1 : 0;
	if (!ok)
		snprintf(in->last_error, sizeof in->last_error, "%s",
			 inv->error[0] ? inv->error : "the estate was not read completely");
	aw_metric_inc(in->m_polls[ok ? 0 : 1]);
	aw_metric_add(in->m_failed_reads, (double)inv->failed_reads);
	aw_metric_set(in->m_duration, (double)(now - in->poll_start_ms) / 1000.0);
	aw_metric_set(in->m_resources, (double)json_object_array_length(inv->resources));
	for (int i = 0; i < 3; i++) {
		aw_metric_add(in->m_results[i], (double)in->results[i]);
		aw_metric_set(in->m_findings[i], (double)in->failing[i]);
	}
	if (in->unknown_unlogged)
		aw_log(AW_LOG_WARN, "in_posture", "more resources had checks not evaluated",
		       AW_S("input", in_name(in)), AW_U("resources", in->unknown_unlogged));
	if (in->untracked)
		aw_log(AW_LOG_WARN, "in_posture",
		       "findings table full (max_findings): new failures are reported on every "
		       "pass until it has room",
		       AW_S("input", in_name(in)), AW_U("untracked", in->untracked));
	/* Only a pass that saw everything there is may forget what it did not see. */
	if (ok)
		dropped = aw_posture_known_prune(in->known, in->gen);
	if (aw_posture_known_dirty(in->known))
		schedule_save(in);
	aw_log(ok ? AW_LOG_INFO : AW_LOG_WARN, "in_posture", "pass finished",
	       AW_S("input", in_name(in)), AW_S("result", ok ? "ok" : "failed"),
	       AW_U("resources", json_object_array_length(inv->resources)),
	       AW_U("failing", in->results[1]), AW_U("unknown", in->results[2]),
	       AW_U("failed_reads", inv->failed_reads), AW_U("forgotten", dropped),
	       AW_S("error", ok ? "" : in->last_error));
	aw_posture_inventory_free(inv);
	in->inv = NULL;
	free(in->gone);
	in->gone = NULL;
	in->ngone = 0;
	free(in->ids);
	in->ids = NULL;
	if (!in->stopped && !in->closing)
		uv_timer_start(&in->poll_timer, poll_timer_cb, due > now ? due - now : 0, 0);
}

/* Evaluate from the cursor on until the pass is done or the pipeline asks to wait.
 * Not re-entrant: a durable() or resume() that came from inside an emit would find the
 * loop below still running, which goes on by itself. */
static void process(struct in_posture *in)
{
	if (in->processing)
		return;
	in->processing = true;
	process_steps(in);
	in->processing = false;
}

static void process_steps(struct in_posture *in)
{
	if (in->phase == PO_DIFF) {
		size_t n = json_object_array_length(in->inv->resources);

		while (in->cursor < n && !blocked(in) && !in->stopped)
			aw_posture_evaluate(
			    json_object_array_get_idx(in->inv->resources, in->cursor++), on_result,
			    in);
		if (in->cursor < n)
			return; /* resume() or durable() continue */
		in->phase = PO_GONE_PHASE;
		in->cursor = 0;
		in->ngone = 0;
		if (in->inv->complete) {
			index_ids(in);
			in->ngone = aw_posture_known_unseen(in->known, in->gen, &in->gone);
		}
	}
	if (in->phase == PO_GONE_PHASE) {
		while (in->cursor < in->ngone && !blocked(in) && !in->stopped)
			resolve_gone(in, in->gone[in->cursor++]);
		if (in->cursor < in->ngone)
			return;
		poll_end(in);
	}
}

static void on_inventory(void *ud, struct aw_posture_inventory *inv)
{
	struct in_posture *in = ud;

	if (in->stopped || in->closing) {
		aw_posture_inventory_free(inv);
		in->phase = PO_IDLE;
		return;
	}
	in->inv = inv;
	in->phase = PO_DIFF;
	in->cursor = 0;
	process(in);
}

static void poll_begin(struct in_posture *in)
{
	struct aw_error err = {{0}};

	if (in->phase != PO_IDLE || in->stopped || in->closing)
		return;
	in->gen = in->gen == UINT32_MAX ? 1 : in->gen + 1;
	memset(in->results, 0, sizeof in->results);
	memset(in->failing, 0, sizeof in->failing);
	in->untracked = in->unknown_logged = in->unknown_unlogged = 0;
	in->poll_start_ms = uv_now(in->loop);
	now_iso(in->poll_time);
	in->phase = PO_COLLECTING;
	if (aw_posture_collect(in->collector, on_inventory, in, &err) < 0) {
		in->phase = PO_IDLE;
		in->last_ok = 0;
		snprintf(in->last_error, sizeof in->last_error, "%s", err.msg);
		aw_metric_inc(in->m_polls[1]);
		aw_log(AW_LOG_ERR, "in_posture", "cannot start a pass", AW_S("input", in_name(in)),
		       AW_S("error", err.msg));
		uv_timer_start(&in->poll_timer, poll_timer_cb, in->conf->interval_ms, 0);
	}
}

/* --- plugin callbacks ------------------------------------------------------------------------ */

static void free_state(struct in_posture *in)
{
	aw_posture_inventory_free(in->inv);
	free(in->gone);
	free(in->ids);
	aw_posture_known_free(in->known);
	if (in->own_auth)
		aw_auth_free(in->own_auth);
	free(in);
}

static void make_metrics(struct in_posture *in)
{
	static const char *const results[] = {"pass", "fail", "unknown"};
	struct aw_metrics *m = aw_ctx_metrics(in->ctx);
	const char *n = in_name(in);

	in->m_resources = aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_posture_resources",
					"Resources and children in the last inventory read",
					"input", n, (const char *)NULL);
	for (int i = 0; i < 3; i++) {
		in->m_findings[i] =
		    aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_posture_findings",
				  "Checks failing in the last pass, by severity", "input", n,
				  "severity", po_severities[i], (const char *)NULL);
		in->m_results[i] = aw_metric_get(
		    m, AW_METRIC_COUNTER, "aiwatch_posture_results_total",
		    "Check results, by result (unknown: what the check reads could not be read)",
		    "input", n, "result", results[i], (const char *)NULL);
	}
	for (int i = 1; i < 4; i++)
		in->m_events[i] =
		    aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_posture_events_total",
				  "AIWatchPosture events emitted, by change", "input", n, "change",
				  po_change_labels[i], (const char *)NULL);
	in->m_polls[0] = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_posture_polls_total",
				       "Passes finished, by result (failed: the inventory is "
				       "incomplete)",
				       "input", n, "result", "ok", (const char *)NULL);
	in->m_polls[1] = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_posture_polls_total",
				       "Passes finished, by result (failed: the inventory is "
				       "incomplete)",
				       "input", n, "result", "failed", (const char *)NULL);
	in->m_duration =
	    aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_posture_poll_duration_seconds",
			  "How long the last pass took", "input", n, (const char *)NULL);
	in->m_untracked =
	    aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_posture_untracked_findings_total",
			  "Failures reported without being remembered (max_findings reached)",
			  "input", n, (const char *)NULL);
	in->m_failed_reads = aw_metric_get(
	    m, AW_METRIC_COUNTER, "aiwatch_posture_failed_reads_total",
	    "Reads of children, diagnostic settings or Defender plans that failed (their checks "
	    "report unknown)",
	    "input", n, (const char *)NULL);
}

static int in_posture_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
			   struct aw_error *err)
{
	const struct aw_posture_conf *c = conf;
	struct in_posture *in = calloc(1, sizeof *in);
	struct aw_http *http = aw_ctx_http(ctx);
	struct aw_posture_collect_conf cc = {0};

	if (!in)
		return aw_error_set(err, "out of memory");
	in->ctx = ctx;
	in->conf = c;
	in->loop = aw_ctx_loop(ctx);
	in->last_ok = -1;
	snprintf(in->component, sizeof in->component, "in_posture/%s", aw_ctx_name(ctx));
	if (!http) {
		aw_error_set(err, "the daemon's Azure services are not running");
		goto fail;
	}
	if (strncmp(c->arm_endpoint, "http://", 7) == 0 && !aw_ctx_insecure_http(ctx)) {
		aw_error_set(err,
			     "arm_endpoint %s: plain http is only for the test emulator "
			     "(azure.insecure_http_for_tests)",
			     c->arm_endpoint);
		goto fail;
	}
	if (!(in->known = aw_posture_known_new((size_t)c->max_findings))) {
		aw_error_set(err, "out of memory");
		goto fail;
	}
	if (aw_posture_bearer(c, aw_ctx_name(ctx), in->loop, http, aw_ctx_metrics(ctx),
			      aw_ctx_credential(ctx), &in->own_auth, &in->bearer, err) != 0)
		goto fail;
	aw_posture_collect_conf_from(c, &cc);
	cc.loop = in->loop;
	cc.http = http;
	cc.bearer = in->bearer;
	cc.component = in->component;
	if (aw_posture_collector_new(&cc, &in->collector, err) != 0)
		goto fail;
	make_metrics(in);
	uv_timer_init(in->loop, &in->poll_timer);
	uv_timer_init(in->loop, &in->save_timer);
	in->poll_timer.data = in;
	in->save_timer.data = in;
	*state = in;
	return 0;
fail:
	free_state(in);
	return -1;
}

static int in_posture_start(void *state, struct aw_error *err)
{
	struct in_posture *in = state;

	in->started = true;
	in->last_save_ms = uv_now(in->loop) - PO_SAVE_EVERY_MS;
	load_table(in);
	uv_timer_start(&in->poll_timer, poll_timer_cb, 0, 0);
	return 0;
}

static void continue_pass(struct in_posture *in)
{
	if (in->closing || in->stopped || blocked(in))
		return;
	if (in->phase == PO_DIFF || in->phase == PO_GONE_PHASE)
		process(in);
}

static void in_posture_durable(void *state, uint64_t seq)
{
	struct in_posture *in = state;

	if (aw_posture_known_durable(in->known, seq))
		schedule_save(in);
	continue_pass(in);
}

static void in_posture_resume(void *state)
{
	struct in_posture *in = state;

	in->paused = false;
	continue_pass(in);
}

static void in_posture_stop(void *state)
{
	struct in_posture *in = state;

	in->stopped = true;
	uv_timer_stop(&in->poll_timer);
}

static int in_posture_ready(void *state, char *why, size_t whysz)
{
	struct in_posture *in = state;

	if (in->last_ok == 1)
		return 1;
	if (in->last_ok < 0)
		snprintf(why, whysz, "first pass not finished");
	else
		snprintf(why, whysz, "last pass failed: %s", in->last_error);
	return 0;
}

static void close_step(struct in_posture *in)
{
	void (*closed)(struct aw_plugin_ctx *) = in->closed;
	struct aw_plugin_ctx *ctx = in->ctx;

	if (--in->close_pending > 0)
		return;
	if (in->started && aw_posture_known_dirty(in->known))
		save_now(in);
	free_state(in);
	closed(ctx);
}

static void handle_closed(uv_handle_t *h)
{
	close_step(h->data);
}

static void collector_closed(void *ud)
{
	close_step(ud);
}

static void in_posture_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	struct in_posture *in = state;

	in_posture_stop(in);
	in->closing = true;
	in->closed = closed;
	uv_timer_stop(&in->save_timer);
	in->close_pending = 3;
	aw_posture_collector_close(in->collector, collector_closed, in);
	uv_close((uv_handle_t *)&in->poll_timer, handle_closed);
	uv_close((uv_handle_t *)&in->save_timer, handle_closed);
}

const struct aw_plugin_desc aw_in_posture = {
    .abi = AW_PLUGIN_ABI,
    .name = "posture",
    .kind = AW_PLUGIN_INPUT,
    .summary = "check the hardening of the AI resources (Resource Graph and ARM) and report "
	       "each finding that appears, changes or is resolved",
    .options = aw_posture_options,
    .conf_size = sizeof(struct aw_posture_conf),
    .validate = aw_posture_conf_validate,
    .init = in_posture_init,
    .start = in_posture_start,
    .durable = in_posture_durable,
    .resume = in_posture_resume,
    .stop = in_posture_stop,
    .ready = in_posture_ready,
    .close = in_posture_close,
};
