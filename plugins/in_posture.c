/* The `posture` input: the hardening of the AI resources, checked on every pass, and an
 * AIWatchPosture event for each finding that appears, changes or is resolved.
 *
 * A pass reads the estate (posture_collect.c: Resource Graph, then ARM for children,
 * diagnostic settings and Defender plans), runs every check on each element
 * (aw_posture_evaluate, posture_eval.c) and compares each result with what was
 * reported before (posture_known.c): a failure not reported yet Appeared, a reported
 * failure whose value changed Changed, a reported failure now passing Resolved. When the
 * inventory is complete, a reported failure whose resource is gone (or whose check no
 * longer applies) is Resolved too; an incomplete one resolves nothing that way. A check
 * that could not be evaluated (a read failed) changes nothing: counted, logged once.
 *
 * What was reported advances only in durable(): the state file in the instance's state
 * directory is written from durable changes only, so a crash re-reports a change after
 * the restart, with the same _ItemId (a digest of check, resource, change, value and the
 * finding's change count: posture_event.c). Evaluation stops between resources while
 * the pipeline asks to pause or too many changes wait to be durable. /readyz follows
 * the last pass. The pass timer, the table's writes, /readyz, stop and close are
 * poll_input.c's, as for in_defender. */
#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../daemon/auth.h"
#include "arm_conf.h"
#include "poll_input.h"
#include "warn_once.h"
#include "plugin.h"
#include "posture.h"
#include "posture_conf.h"
#include "posture_event.h"
#include "posture_json.h"
#include "posture_known.h"

#define PO_STATE_FILE	"findings"
#define PO_PENDING_HIGH (AW_PK_MAX_PENDING - 4096) /* room for one resource's changes */
#define PO_LOG_FIRST	10			   /* new unknown results logged per pass */
#define PO_GONE		"resource no longer exists"
#define PO_NOT_APPLIES	"check no longer applies"

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
	struct aw_poll_input life; /* timers, table writes, readiness, close */
	/* the pass in progress */
	enum po_phase phase;
	bool paused, processing;
	uint32_t gen;
	struct aw_posture_inventory *inv;
	size_t cursor;
	struct aw_pk_entry **gone;
	size_t ngone;
	uint64_t *ids; /* hashes of the inventory's resource ids, sorted (the gone phase) */
	size_t nids;
	uint64_t poll_start_ms;
	char poll_time[AW_POLL_ISO_MAX];
	size_t results[3], failing[3], untracked;
	struct aw_warn_once unknown; /* (resource, reason) of unknown results logged */
	struct aw_metric *m_resources, *m_findings[3], *m_results[3], *m_events[4], *m_polls[2],
	    *m_duration, *m_untracked, *m_failed_reads;
};

static void poll_begin(void *ud);
static void close_collector(void *ud);
static void process_steps(struct in_posture *in);

static const char *in_name(const struct in_posture *in)
{
	return aw_ctx_name(in->ctx);
}

/* --- the findings table ---------------------------------------------------------------- */

static int load_table(void *ud, struct aw_error *err)
{
	struct in_posture *in = ud;

	return aw_posture_known_load(in->known, aw_ctx_state_dir(in->ctx), PO_STATE_FILE, err);
}

static int save_table(void *ud, struct aw_error *err)
{
	struct in_posture *in = ud;

	return aw_posture_known_save(in->known, aw_ctx_state_dir(in->ctx), PO_STATE_FILE, err);
}

static bool table_dirty(void *ud)
{
	const struct in_posture *in = ud;

	return aw_posture_known_dirty(in->known);
}

/* --- events ------------------------------------------------------------------------------ */

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
	const struct aw_posture_change change = {
	    .check = chk,
	    .resource_id = resource_id,
	    .resource = resource,
	    .change = v->change,
	    .actual = actual,
	    .previous = v->previous,
	    .n = v->n,
	};
	const char *check = aw_posture_check_id(chk);
	bool pause = false;
	uint64_t seq;
	char *json;

	json = aw_posture_event_json(&change, in->poll_time, &ev.len);
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

	if (json_object_object_get_ex(r->resource, AW_POSTURE_META, &meta))
		why = aw_posture_str(meta, "error");
	if (!why)
		why = r->actual;
	if (aw_warn_once_note(&in->unknown, resource_id, why) != AW_WARN_NEW)
		return;
	aw_log(AW_LOG_WARN, "in_posture", "checks not evaluated: what they read could not be read",
	       AW_S("input", in_name(in)), AW_S("resource_id", resource_id), AW_S("reason", why));
}

static void on_result(void *ud, const struct aw_posture_result *r)
{
	struct in_posture *in = ud;
	const char *resource_id = aw_posture_str(r->resource, "id");
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
		const char *id =
		    aw_posture_str(json_object_array_get_idx(in->inv->resources, i), "id");
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
	uint64_t now = uv_now(in->loop);
	struct aw_posture_inventory *inv = in->inv;
	bool ok = inv->complete;
	size_t dropped = 0;

	in->phase = PO_IDLE;
	in->life.last_ok = ok ? 1 : 0;
	if (!ok)
		snprintf(in->life.last_error, sizeof in->life.last_error, "%s",
			 inv->error[0] ? inv->error : "the estate was not read completely");
	aw_metric_inc(in->m_polls[ok ? 0 : 1]);
	aw_metric_add(in->m_failed_reads, (double)inv->failed_reads);
	aw_metric_set(in->m_duration, (double)(now - in->poll_start_ms) / 1000.0);
	aw_metric_set(in->m_resources, (double)json_object_array_length(inv->resources));
	for (int i = 0; i < 3; i++) {
		aw_metric_add(in->m_results[i], (double)in->results[i]);
		aw_metric_set(in->m_findings[i], (double)in->failing[i]);
	}
	if (in->unknown.unlogged)
		aw_log(AW_LOG_WARN, "in_posture", "more resources had checks not evaluated",
		       AW_S("input", in_name(in)), AW_U("resources", in->unknown.unlogged));
	if (in->untracked)
		aw_log(AW_LOG_WARN, "in_posture",
		       "findings table full (max_findings): new failures are reported on every "
		       "pass until it has room",
		       AW_S("input", in_name(in)), AW_U("untracked", in->untracked));
	/* Only a pass that saw everything there is may forget what it did not see. */
	if (ok)
		dropped = aw_posture_known_prune(in->known, in->gen);
	if (aw_posture_known_dirty(in->known))
		aw_poll_input_save_soon(&in->life);
	aw_log(ok ? AW_LOG_INFO : AW_LOG_WARN, "in_posture", "pass finished",
	       AW_S("input", in_name(in)), AW_S("result", ok ? "ok" : "failed"),
	       AW_U("resources", json_object_array_length(inv->resources)),
	       AW_U("failing", in->results[1]), AW_U("unknown", in->results[2]),
	       AW_U("failed_reads", inv->failed_reads), AW_U("forgotten", dropped),
	       AW_S("error", ok ? "" : in->life.last_error));
	aw_posture_inventory_free(inv);
	in->inv = NULL;
	free(in->gone);
	in->gone = NULL;
	in->ngone = 0;
	free(in->ids);
	in->ids = NULL;
	if (!in->life.stopped && !in->life.closing)
		aw_poll_input_next(&in->life, in->poll_start_ms + in->conf->interval_ms);
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

		while (in->cursor < n && !blocked(in) && !in->life.stopped)
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
		while (in->cursor < in->ngone && !blocked(in) && !in->life.stopped)
			resolve_gone(in, in->gone[in->cursor++]);
		if (in->cursor < in->ngone)
			return;
		poll_end(in);
	}
}

static void on_inventory(void *ud, struct aw_posture_inventory *inv)
{
	struct in_posture *in = ud;

	if (in->life.stopped || in->life.closing) {
		aw_posture_inventory_free(inv);
		in->phase = PO_IDLE;
		return;
	}
	in->inv = inv;
	in->phase = PO_DIFF;
	in->cursor = 0;
	process(in);
}

static void poll_begin(void *ud)
{
	struct in_posture *in = ud;
	struct aw_error err = {{0}};

	if (in->phase != PO_IDLE || in->life.stopped || in->life.closing)
		return;
	in->gen = in->gen == UINT32_MAX ? 1 : in->gen + 1;
	memset(in->results, 0, sizeof in->results);
	memset(in->failing, 0, sizeof in->failing);
	in->untracked = 0;
	aw_warn_once_poll(&in->unknown);
	in->poll_start_ms = uv_now(in->loop);
	aw_poll_input_now_iso(in->poll_time);
	in->phase = PO_COLLECTING;
	if (aw_posture_collect(in->collector, on_inventory, in, &err) < 0) {
		in->phase = PO_IDLE;
		in->life.last_ok = 0;
		snprintf(in->life.last_error, sizeof in->life.last_error, "%s", err.msg);
		aw_metric_inc(in->m_polls[1]);
		aw_log(AW_LOG_ERR, "in_posture", "cannot start a pass", AW_S("input", in_name(in)),
		       AW_S("error", err.msg));
		aw_poll_input_next(&in->life, uv_now(in->loop) + in->conf->interval_ms);
	}
}

/* --- plugin callbacks ------------------------------------------------------------------------ */

/* Also the descriptor's free: the input was made by init. */
static void free_state(void *ud)
{
	struct in_posture *in = ud;

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

static const struct aw_poll_input_desc life_desc = {
    .log_group = "in_posture",
    .noun = "pass",
    .reported = "failure",
    .readers = 1,
    .poll = poll_begin,
    .close_readers = close_collector,
    .load = load_table,
    .save = save_table,
    .dirty = table_dirty,
    .free = free_state,
};

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
	aw_warn_once_init(&in->unknown, PO_LOG_FIRST, true);
	snprintf(in->component, sizeof in->component, "in_posture/%s", aw_ctx_name(ctx));
	if (!http) {
		aw_error_set(err, "the daemon's Azure services are not running");
		goto fail;
	}
	if (aw_arm_endpoint_usable(c->arm_endpoint, aw_ctx_insecure_http(ctx), err) != 0)
		goto fail;
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
	aw_poll_input_init(&in->life, &life_desc, ctx, in);
	*state = &in->life;
	return 0;
fail:
	free_state(in);
	return -1;
}

static void continue_pass(struct in_posture *in)
{
	if (in->life.closing || in->life.stopped || blocked(in))
		return;
	if (in->phase == PO_DIFF || in->phase == PO_GONE_PHASE)
		process(in);
}

static void in_posture_durable(void *state, uint64_t seq)
{
	struct aw_poll_input *life = state;
	struct in_posture *in = life->ud;

	if (aw_posture_known_durable(in->known, seq))
		aw_poll_input_save_soon(life);
	continue_pass(in);
}

static void in_posture_resume(void *state)
{
	struct aw_poll_input *life = state;
	struct in_posture *in = life->ud;

	in->paused = false;
	continue_pass(in);
}

static void close_collector(void *ud)
{
	struct in_posture *in = ud;

	aw_posture_collector_close(in->collector, aw_poll_input_part_closed, &in->life);
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
    .start = aw_poll_input_start,
    .durable = in_posture_durable,
    .resume = in_posture_resume,
    .stop = aw_poll_input_stop,
    .ready = aw_poll_input_ready,
    .close = aw_poll_input_close,
};
