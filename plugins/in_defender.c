/* The `defender` input: Microsoft Defender for Cloud recommendations (assessments, with
 * $expand=metadata) and security alerts, polled over ARM for a list of subscriptions, or
 * through Azure Resource Graph (`securityresources`) for many subscriptions at once
 * (contract §4). Events are Log Analytics rows (SecurityRecommendation, SecurityAlert:
 * defender_event.c), so the rules written for Defender's export to a workspace serve
 * this path too.
 *
 * A poll walks its lists one after another, one request in flight (arm_pager.c:
 * nextLink / $skipToken paging, loop guards, throttling). A finding produces an event
 * only when it is new or its state changed (assessment status Healthy / Unhealthy /
 * NotApplicable, alert status), keyed by its ARM id and resource: the known states
 * live in the instance's state directory and advance only in durable()
 * (defender_known.c), so a crash re-reports a change rather than losing it, under the
 * same _ItemId. A poll that read every list to its end forgets findings it no longer
 * saw. /readyz follows the last poll. The poll timer, the table's writes, /readyz, stop
 * and close are poll_input.c's, as for in_posture. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../daemon/auth.h"
#include "arm_pager.h"
#include "arm_conf.h"
#include "poll_input.h"
#include "warn_once.h"
#include "defender_conf.h"
#include "defender_event.h"
#include "defender_known.h"
#include "plugin.h"

#define DEF_STATE_FILE	 "findings"
#define DEF_LOG_FIRST	 20 /* new malformed items logged per poll; the rest are summed up */
#define DEF_PENDING_HIGH (AW_DEF_MAX_PENDING - 4096) /* leaves room for a page's changes */

enum def_list { DEF_LIST_ASSESSMENTS, DEF_LIST_ALERTS, DEF_LIST_GRAPH };

struct in_defender {
	struct aw_plugin_ctx *ctx;
	const struct aw_def_conf *conf;
	uv_loop_t *loop;
	char component[160];
	struct aw_auth *own_auth;
	const struct aw_http_bearer *bearer;
	struct aw_arm_pager *pager;
	struct aw_def_known *known;
	struct aw_poll_input life; /* timers, table writes, readiness, close */
	char *endpoint;		   /* arm_endpoint without a trailing '/' */
	/* the poll in progress */
	bool polling, poll_due, paused, reading_paused;
	uint32_t gen;
	size_t next, nlists;
	enum def_list cur;
	bool complete, failed;
	uint64_t poll_start_ms;
	size_t bad, untracked;
	struct aw_warn_once malformed; /* (id, reason) of malformed items logged */
	unsigned warned;	       /* arm ends already logged at warning level (bit per enum) */
	struct aw_metric *m_items[2], *m_changes[2], *m_pages, *m_polls[2], *m_findings,
	    *m_untracked, *m_duration, *m_throttled[3], *m_stops[AW_ARM_END_CANCELLED];
};

static void poll_begin(void *ud);
static void stop_reading(void *ud);
static void close_pager(void *ud);
static void next_list(struct in_defender *in);

static const char *in_name(const struct in_defender *in)
{
	return aw_ctx_name(in->ctx);
}

/* --- the findings table -------------------------------------------------------------- */

static int load_table(void *ud, struct aw_error *err)
{
	struct in_defender *in = ud;
	int rc = aw_def_known_load(in->known, aw_ctx_state_dir(in->ctx), DEF_STATE_FILE, err);

	aw_metric_set(in->m_findings, (double)aw_def_known_count(in->known));
	return rc;
}

static int save_table(void *ud, struct aw_error *err)
{
	struct in_defender *in = ud;

	return aw_def_known_save(in->known, aw_ctx_state_dir(in->ctx), DEF_STATE_FILE, err);
}

static bool table_dirty(void *ud)
{
	const struct in_defender *in = ud;

	return aw_def_known_dirty(in->known);
}

/* --- back-pressure ------------------------------------------------------------------------ */

static bool blocked(const struct in_defender *in)
{
	return in->paused || aw_def_known_pending(in->known) >= DEF_PENDING_HIGH;
}

static void update_reading(struct in_defender *in)
{
	bool b = blocked(in);

	if (b && !in->reading_paused)
		aw_arm_pager_pause(in->pager);
	else if (!b && in->reading_paused)
		aw_arm_pager_resume(in->pager);
	in->reading_paused = b;
	if (!b && in->poll_due)
		poll_begin(in);
}

/* --- items ---------------------------------------------------------------------------- */

/* Counted every time; logged at warning level once per item and reason (a malformed
 * item is usually still there next poll), at most DEF_LOG_FIRST new ones a poll. */
static void skip_item(struct in_defender *in, json_object *item, const char *kind, const char *why)
{
	const char *id = aw_def_item_name(item);
	enum aw_warn_once_verdict v = aw_warn_once_note(&in->malformed, id, why);

	aw_input_skipped(in->ctx, "malformed");
	in->bad++;
	if (v == AW_WARN_OVER)
		return;
	aw_log(v == AW_WARN_SEEN ? AW_LOG_DEBUG : AW_LOG_WARN, "in_defender",
	       "malformed item skipped", AW_S("input", in_name(in)), AW_S("kind", kind),
	       AW_S("resource_id", id), AW_S("reason", why));
}

static void report(struct in_defender *in, json_object *item, const struct aw_def_finding *f)
{
	struct aw_def_key key;
	enum aw_def_verdict v;
	struct aw_event ev = {.table = aw_def_table(f->kind), .origin = f->id};
	char item_id[37], now[AW_POLL_ISO_MAX];
	uint32_t n = 0;
	uint64_t seq;
	bool pause = false;
	char *json;

	aw_def_key_make(f->id, f->resource, &key);
	if (aw_def_known_check(in->known, &key, f->state, in->gen, &n, &v) < 0) {
		skip_item(in, item, aw_def_kind_name(f->kind),
			  "one status value too many (the table keeps 64 distinct ones)");
		return;
	}
	if (v == AW_DEF_SAME)
		return;
	aw_def_item_id(&key, f->state, n, f->time, item_id);
	aw_poll_input_now_iso(now);
	json = aw_def_event_json(item, f, item_id, now, &ev.len);
	if (!json) {
		/* Not remembered: the next poll reports it. */
		aw_log(AW_LOG_ERR, "in_defender", "out of memory building an event",
		       AW_S("input", in_name(in)), AW_S("resource_id", f->id));
		in->complete = false;
		return;
	}
	ev.json = json;
	seq = aw_input_emit(in->ctx, &ev, &pause);
	free(json);
	aw_metric_inc(in->m_changes[f->kind]);
	if (v == AW_DEF_UNTRACKED) {
		in->untracked++;
		aw_metric_inc(in->m_untracked);
	} else if (aw_def_known_emitted(in->known, &key, f->state, n, in->gen, seq) < 0) {
		aw_log(AW_LOG_ERR, "in_defender",
		       "cannot remember a reported change (out of memory); it is reported again",
		       AW_S("input", in_name(in)), AW_S("resource_id", f->id));
	}
	if (pause)
		in->paused = true;
}

static void on_page(void *ud, json_object *items)
{
	struct in_defender *in = ud;
	size_t n = json_object_array_length(items);
	char why[160];

	aw_metric_inc(in->m_pages);
	for (size_t i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(items, i);
		struct aw_def_finding f;
		int kind = (int)in->cur;

		if (in->cur == DEF_LIST_GRAPH) {
			json_object *t = NULL;
			json_object_object_get_ex(item, "type", &t);
			kind = aw_def_kind_of_type(json_object_is_type(t, json_type_string)
						       ? json_object_get_string(t)
						       : NULL);
			if (kind < 0) {
				skip_item(in, item, "row",
					  "type is neither an assessment nor an alert");
				continue;
			}
		}
		aw_metric_inc(in->m_items[kind]);
		if (aw_def_finding_read(item, (enum aw_def_kind)kind, &f, why, sizeof why) < 0) {
			skip_item(in, item, aw_def_kind_name((enum aw_def_kind)kind), why);
			continue;
		}
		report(in, item, &f);
	}
	update_reading(in);
}

/* --- polls ----------------------------------------------------------------------------- */

static void on_throttled(void *ud, enum aw_arm_throttle kind, unsigned n)
{
	struct in_defender *in = ud;

	if ((unsigned)kind < 3)
		aw_metric_add(in->m_throttled[kind], (double)n);
}

/* Paging guards that fired: counted always, logged at warning level once per reason,
 * since a misbehaving list tends to misbehave on every poll. */
static void note_stop(struct in_defender *in, enum aw_arm_end end)
{
	static const char *const what[] = {
	    [AW_ARM_END_REPEATED] = "a nextLink or $skipToken came back that was already "
				    "followed; the list ends there",
	    [AW_ARM_END_EMPTY_RUN] = "empty pages that still carry a nextLink; the list ends "
				     "there (max_empty_pages)",
	    [AW_ARM_END_PAGE_CAP] = "the list still had pages after max_pages; findings past "
				    "them are not read (raise max_pages)",
	    [AW_ARM_END_TRUNCATED] = "Resource Graph truncated the result without a "
				     "$skipToken; some rows were not read",
	};
	bool first = !(in->warned & (1u << end));

	aw_metric_inc(in->m_stops[end]);
	in->warned |= 1u << end;
	aw_log(first ? AW_LOG_WARN : AW_LOG_DEBUG, "in_defender", what[end],
	       AW_S("input", in_name(in)), AW_S("reason", aw_arm_end_name(end)),
	       AW_S("list", in->cur == DEF_LIST_GRAPH	 ? "resource_graph"
			    : in->cur == DEF_LIST_ALERTS ? "alerts"
							 : "assessments"));
}

static void on_list_done(void *ud, enum aw_arm_end end, const char *why)
{
	struct in_defender *in = ud;

	switch (end) {
	case AW_ARM_END_COMPLETE:
		break;
	case AW_ARM_END_CANCELLED:
		in->polling = false;
		return;
	case AW_ARM_END_FAILED:
		in->failed = true;
		in->complete = false;
		snprintf(in->life.last_error, sizeof in->life.last_error, "%s", why);
		aw_log(AW_LOG_WARN, "in_defender", "list failed; it is read again next poll",
		       AW_S("input", in_name(in)), AW_S("error", why));
		break;
	default:
		in->complete = false;
		note_stop(in, end);
		break;
	}
	next_list(in);
}

static void poll_end(struct in_defender *in)
{
	uint64_t now = uv_now(in->loop);
	size_t dropped = 0;

	in->polling = false;
	in->life.last_ok = in->failed ? 0 : 1;
	aw_metric_inc(in->m_polls[in->failed ? 1 : 0]);
	aw_metric_set(in->m_duration, (double)(now - in->poll_start_ms) / 1000.0);
	if (in->malformed.unlogged)
		aw_log(AW_LOG_WARN, "in_defender", "more malformed items skipped this poll",
		       AW_S("input", in_name(in)), AW_U("skipped", in->malformed.unlogged));
	if (in->untracked)
		aw_log(AW_LOG_WARN, "in_defender",
		       "findings table full (max_findings): new findings are reported on every "
		       "poll until it has room",
		       AW_S("input", in_name(in)), AW_U("untracked", in->untracked));
	/* Only a poll that saw every finding there is may forget the ones it did not see. */
	if (in->complete && !in->failed && !in->bad)
		dropped = aw_def_known_prune(in->known, in->gen);
	if (aw_def_known_dirty(in->known))
		aw_poll_input_save_soon(&in->life);
	aw_metric_set(in->m_findings, (double)aw_def_known_count(in->known));
	aw_log(AW_LOG_DEBUG, "in_defender", "poll finished", AW_S("input", in_name(in)),
	       AW_S("result", in->failed ? "failed" : "ok"), AW_U("forgotten", dropped),
	       AW_U("findings", aw_def_known_count(in->known)));
	if (!in->life.stopped)
		aw_poll_input_next(&in->life, in->poll_start_ms + in->conf->interval_ms);
}

/* Start the next list of this poll; the poll ends after the last. */
static void next_list(struct in_defender *in)
{
	struct aw_error err = {{0}};
	char url[2048];

	while (in->next < in->nlists && !in->life.stopped) {
		json_object *req = NULL;
		bool graph, alerts;
		int rc;

		if (aw_def_list_request(in->conf, in->endpoint, in->next++, &graph, &alerts, url,
					sizeof url, &req) < 0) {
			rc = aw_error_set(&err,
					  "cannot build the request (out of memory, or a "
					  "URL over %zu bytes)",
					  sizeof url);
		} else if (graph) {
			in->cur = DEF_LIST_GRAPH;
			rc = aw_arm_pager_query(in->pager, url, req, &err);
		} else {
			in->cur = alerts ? DEF_LIST_ALERTS : DEF_LIST_ASSESSMENTS;
			rc = aw_arm_pager_get(in->pager, url, &err);
		}
		if (rc == 0)
			return; /* on_list_done continues (maybe already has) */
		in->failed = true;
		in->complete = false;
		snprintf(in->life.last_error, sizeof in->life.last_error, "%s", err.msg);
	}
	if (in->life.stopped) {
		in->polling = false;
		return;
	}
	poll_end(in);
}

static void poll_begin(void *ud)
{
	struct in_defender *in = ud;
	if (in->polling || in->life.stopped || in->life.closing)
		return;
	if (blocked(in)) {
		in->poll_due = true; /* update_reading starts it */
		return;
	}
	in->poll_due = false;
	in->polling = true;
	in->gen = in->gen == UINT32_MAX ? 1 : in->gen + 1;
	in->next = 0;
	in->nlists = aw_def_list_count(in->conf);
	in->complete = true;
	in->failed = false;
	in->bad = in->untracked = 0;
	aw_warn_once_poll(&in->malformed);
	in->poll_start_ms = uv_now(in->loop);
	next_list(in);
}

/* --- plugin callbacks ---------------------------------------------------------------------- */

/* Also the descriptor's free: the input was made by init. */
static void free_state(void *ud)
{
	struct in_defender *in = ud;

	aw_def_known_free(in->known);
	if (in->own_auth)
		aw_auth_free(in->own_auth);
	free(in->endpoint);
	free(in);
}

static void make_metrics(struct in_defender *in)
{
	struct aw_metrics *m = aw_ctx_metrics(in->ctx);
	const char *n = in_name(in);

	for (int k = 0; k < 2; k++) {
		const char *kind = aw_def_kind_name((enum aw_def_kind)k);
		in->m_items[k] = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_defender_items_total",
					       "Defender findings read, by input and kind", "input",
					       n, "kind", kind, (const char *)NULL);
		in->m_changes[k] =
		    aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_defender_changes_total",
				  "Events emitted for findings that were new or changed state",
				  "input", n, "kind", kind, (const char *)NULL);
	}
	in->m_pages =
	    aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_defender_pages_total",
			  "Pages read from ARM and Resource Graph", "input", n, (const char *)NULL);
	in->m_polls[0] = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_defender_polls_total",
				       "Polls finished, by result", "input", n, "result", "ok",
				       (const char *)NULL);
	in->m_polls[1] = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_defender_polls_total",
				       "Polls finished, by result", "input", n, "result", "failed",
				       (const char *)NULL);
	in->m_findings =
	    aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_defender_findings",
			  "Findings whose state is remembered", "input", n, (const char *)NULL);
	in->m_untracked =
	    aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_defender_untracked_findings_total",
			  "Findings reported without being remembered (max_findings reached)",
			  "input", n, (const char *)NULL);
	in->m_duration =
	    aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_defender_poll_duration_seconds",
			  "How long the last poll took", "input", n, (const char *)NULL);
	for (int k = 0; k < 3; k++)
		in->m_throttled[k] = aw_metric_get(
		    m, AW_METRIC_COUNTER, "aiwatch_defender_throttled_total",
		    "Throttling met: retried (attempts the HTTP policy repeated), status_429 (a "
		    "429 outlasted them; waited), quota_low (a remaining-requests header was low; "
		    "paused)",
		    "input", n, "reason", aw_arm_throttle_name((enum aw_arm_throttle)k),
		    (const char *)NULL);
	for (int e = AW_ARM_END_REPEATED; e <= AW_ARM_END_TRUNCATED; e++)
		in->m_stops[e] = aw_metric_get(
		    m, AW_METRIC_COUNTER, "aiwatch_defender_paging_stops_total",
		    "Lists cut short by a paging guard, by reason", "input", n, "reason",
		    aw_arm_end_name((enum aw_arm_end)e), (const char *)NULL);
}

static const struct aw_arm_pager_ops pager_ops = {
    .page = on_page,
    .done = on_list_done,
    .throttled = on_throttled,
};

static const struct aw_poll_input_desc life_desc = {
    .log_group = "in_defender",
    .noun = "poll",
    .reported = "finding",
    .readers = 1,
    .poll = poll_begin,
    .stop = stop_reading,
    .close_readers = close_pager,
    .load = load_table,
    .save = save_table,
    .dirty = table_dirty,
    .free = free_state,
};

static int in_defender_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
			    struct aw_error *err)
{
	const struct aw_def_conf *c = conf;
	struct in_defender *in = calloc(1, sizeof *in);
	struct aw_http *http = aw_ctx_http(ctx);
	struct aw_arm_pager_conf pc = {0};
	struct aw_arm_identity id = {
	    .credential = &c->credential,
	    .scope = c->scope,
	    .kind = "defender",
	    .name = aw_ctx_name(ctx),
	    .loop = aw_ctx_loop(ctx),
	    .http = http,
	    .metrics = aw_ctx_metrics(ctx),
	    .fallback = aw_ctx_credential(ctx),
	};
	size_t elen;

	if (!in)
		return aw_error_set(err, "out of memory");
	in->ctx = ctx;
	in->conf = c;
	in->loop = aw_ctx_loop(ctx);
	aw_warn_once_init(&in->malformed, DEF_LOG_FIRST, false);
	snprintf(in->component, sizeof in->component, "in_defender/%s", aw_ctx_name(ctx));
	if (!http || !aw_ctx_credential(ctx)) {
		aw_error_set(err, "the daemon's Azure services are not running");
		goto fail;
	}
	if (aw_arm_endpoint_usable(c->arm_endpoint, aw_ctx_insecure_http(ctx), err) != 0)
		goto fail;
	in->endpoint = strdup(c->arm_endpoint);
	in->known = aw_def_known_new((size_t)c->max_findings);
	if (!in->endpoint || !in->known) {
		aw_error_set(err, "out of memory");
		goto fail;
	}
	elen = strlen(in->endpoint);
	while (elen && in->endpoint[elen - 1] == '/')
		in->endpoint[--elen] = '\0';
	if (aw_arm_bearer(&id, &in->own_auth, &in->bearer, err) != 0)
		goto fail;
	pc = (struct aw_arm_pager_conf){
	    .loop = in->loop,
	    .http = http,
	    .bearer = in->bearer,
	    .component = in->component,
	    .max_pages = (unsigned)c->max_pages,
	    .max_empty_pages = (unsigned)c->max_empty_pages,
	    .max_page_bytes = (size_t)c->max_page_bytes,
	    .timeout_ms = (long)c->request_timeout_ms,
	    .min_remaining_reads = c->min_remaining_reads,
	};
	if (aw_arm_pager_new(&pc, &pager_ops, in, &in->pager, err) != 0)
		goto fail;
	make_metrics(in);
	aw_poll_input_init(&in->life, &life_desc, ctx, in);
	*state = &in->life;
	return 0;
fail:
	free_state(in);
	return -1;
}

static void in_defender_durable(void *state, uint64_t seq)
{
	struct aw_poll_input *life = state;
	struct in_defender *in = life->ud;

	if (aw_def_known_durable(in->known, seq))
		aw_poll_input_save_soon(life);
	if (!life->closing)
		update_reading(in);
}

static void in_defender_resume(void *state)
{
	struct aw_poll_input *life = state;
	struct in_defender *in = life->ud;

	in->paused = false;
	update_reading(in);
}

static void stop_reading(void *ud)
{
	struct in_defender *in = ud;

	aw_arm_pager_cancel(in->pager);
}

static void close_pager(void *ud)
{
	struct in_defender *in = ud;

	aw_arm_pager_close(in->pager, aw_poll_input_part_closed, &in->life);
}

const struct aw_plugin_desc aw_in_defender = {
    .abi = AW_PLUGIN_ABI,
    .name = "defender",
    .kind = AW_PLUGIN_INPUT,
    .summary = "poll Defender for Cloud recommendations and alerts (ARM or Resource Graph)",
    .options = aw_def_options,
    .conf_size = sizeof(struct aw_def_conf),
    .validate = aw_def_conf_validate,
    .init = in_defender_init,
    .start = aw_poll_input_start,
    .durable = in_defender_durable,
    .resume = in_defender_resume,
    .stop = aw_poll_input_stop,
    .ready = aw_poll_input_ready,
    .close = aw_poll_input_close,
};
