/* The poll cycle of the `loganalytics` input (see in_loganalytics.c for the procedure):
 * scheduling, the query through the limiter and the shared HTTP client, the answer's
 * rows handed to the pipeline, the cursor moved forward or the range read again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "la.h"

#define LA_EMIT_BATCH	  512				      /* rows per loop turn */
#define LA_FUTURE	  (25LL * 3600 * AW_LA_TICKS_PER_SEC) /* TimeGenerated up to 1 d ahead */
#define LA_MIN_SPAN	  AW_LA_TICKS_PER_SEC /* PartialError halving stops at 1 s ... */
#define LA_MIN_TAKE	  1		      /* ... and at one row per query */
#define LA_MAX_BACKOFF_MS (5 * 60 * 1000)
#define LA_LOG_FIRST	  10
#define LA_LOG_EVERY	  1000

static void ask_slot(struct aw_la_input *in);

/* --- scheduling -------------------------------------------------------------------------- */

static void poll_cb(uv_timer_t *t)
{
	aw_la_begin_cycle(t->data);
}

void aw_la_schedule_poll(struct aw_la_input *in, uint64_t delay_ms)
{
	if (in->stopped || in->closing)
		return;
	in->phase = AW_LA_IDLE;
	uv_timer_start(&in->poll, poll_cb, delay_ms, 0);
}

/* The cycle ends without reaching its end: the next one starts from the watermark. */
static void poll_failed(struct aw_la_input *in, const char *why, const char *detail,
			int64_t retry_after_ms)
{
	uint64_t delay = in->conf->interval_ms, cap = in->conf->interval_ms > LA_MAX_BACKOFF_MS
							  ? in->conf->interval_ms
							  : LA_MAX_BACKOFF_MS;

	aw_la_answer_free(&in->ans);
	in->fails++;
	aw_metric_inc(in->m_failed);
	for (unsigned i = 1; i < in->fails && delay < cap; i++)
		delay *= 2;
	if (delay > cap)
		delay = cap;
	if (retry_after_ms >= 0 && (uint64_t)retry_after_ms > delay)
		delay = (uint64_t)retry_after_ms;
	snprintf(in->why, sizeof in->why, "last query failed: %s%s", why, detail);
	in->ready_ok = false;
	/* First failure of a run, then every tenth: an outage must not flood the log. */
	if (in->fails == 1 || in->fails % 10 == 0)
		aw_log(AW_LOG_WARN, AW_LA_COMPONENT, "query failed; polling again later",
		       AW_S("input", aw_la_name(in)), AW_S("workspace", in->conf->workspace_id),
		       AW_S("error", in->why), AW_U("failures", in->fails),
		       AW_U("retry_in_ms", delay));
	aw_la_schedule_poll(in, delay);
}

static void cycle_done(struct aw_la_input *in)
{
	uint64_t elapsed = uv_now(in->loop) - in->cycle_start_ms;
	int64_t keep = (in->w < in->ck_w ? in->w : in->ck_w) -
		       (int64_t)in->conf->overlap_ms * AW_LA_TICKS_PER_MS;

	if (in->fails)
		aw_log(AW_LOG_INFO, AW_LA_COMPONENT, "queries succeed again",
		       AW_S("input", aw_la_name(in)), AW_U("after_failures", in->fails));
	in->fails = 0;
	in->first_done = true;
	in->ready_ok = true;
	in->why[0] = '\0';
	aw_la_seen_prune(in->seen, keep);
	aw_la_schedule_poll(in,
			    elapsed >= in->conf->interval_ms ? 0 : in->conf->interval_ms - elapsed);
}

void aw_la_begin_cycle(struct aw_la_input *in)
{
	int64_t now = aw_la_now_ticks();

	if (in->stopped || in->closing || in->phase != AW_LA_IDLE)
		return;
	if (in->paused) {
		in->want_cycle = true;
		return;
	}
	in->want_cycle = false;
	in->cycle_start_ms = uv_now(in->loop);
	in->cycle_hi = now - (int64_t)in->conf->settle_delay_ms * AW_LA_TICKS_PER_MS;
	if (in->cycle_hi <= in->w) {
		/* Nothing settled since the watermark (or the clock went back). */
		cycle_done(in);
		return;
	}
	in->range = (struct aw_la_range){
	    .lo = in->w - (int64_t)in->conf->overlap_ms * AW_LA_TICKS_PER_MS,
	    .hi = in->cycle_hi,
	    .take = in->take_now,
	};
	if (in->span_now && in->range.hi - in->range.lo > in->span_now)
		in->range.hi = in->range.lo + in->span_now;
	in->have_prev_cap = false;
	ask_slot(in);
}

/* --- the query ----------------------------------------------------------------------------- */

static void on_answer(void *ud, const struct aw_http_response *resp);

void aw_la_grant(struct aw_la_slot *s)
{
	struct aw_la_input *in =
	    (struct aw_la_input *)((char *)s - offsetof(struct aw_la_input, slot));
	struct aw_error err;
	char *body;

	if (in->stopped || in->closing) {
		aw_la_limit_release(&in->slot);
		return;
	}
	body =
	    aw_la_request_body(in->source, &in->range,
			       (int64_t)in->conf->max_lateness_ms * AW_LA_TICKS_PER_MS, LA_FUTURE);
	const char *headers[] = {"Content-Type: application/json", "Accept: application/json",
				 in->prefer, NULL};
	struct aw_http_request rq = {
	    .method = "POST",
	    .url = in->url,
	    .headers = headers,
	    .body = body,
	    .body_len = body ? strlen(body) : 0,
	    .timeout_ms = (long)(in->conf->query_timeout_ms + 30000),
	    .max_response_bytes = (size_t)in->conf->max_response_bytes,
	    .component = in->component,
	};
	const struct aw_http_policy policy = {.bearer = in->bearer};

	in->phase = AW_LA_QUERY;
	in->query_start_ns = uv_hrtime();
	if (!body) {
		aw_la_limit_release(&in->slot);
		poll_failed(in, "out of memory building the query", "", -1);
		return;
	}
	if (aw_http_call(in->http, &rq, &policy, on_answer, in, &in->req, &err) != 0) {
		free(body);
		aw_la_limit_release(&in->slot);
		poll_failed(in, "cannot send: ", err.msg, -1);
		return;
	}
	free(body);
	if (aw_log_threshold() >= AW_LOG_DEBUG) {
		char lo[AW_LA_TIME_LEN], hi[AW_LA_TIME_LEN];
		aw_la_time_format(in->range.lo, lo);
		aw_la_time_format(in->range.hi, hi);
		aw_log(AW_LOG_DEBUG, AW_LA_COMPONENT, "query sent", AW_S("input", aw_la_name(in)),
		       AW_S("from", lo), AW_S("to", hi), AW_S("after_id", in->range.lo_id),
		       AW_U("take", in->range.take));
	}
}

static void ask_slot(struct aw_la_input *in)
{
	in->phase = AW_LA_WAIT_SLOT;
	aw_la_limit_request(&in->slot);
}

/* A key KQL can compare as is (keyset follow-ups); others fall back to ">= time". */
static bool plain_key(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_' || *s == '.' || *s == ':'))
			return false;
	return true;
}

/* Every row of the answer is handled: move the cursor and ask for what comes next. */
static void answer_done(struct aw_la_input *in)
{
	bool capped = in->ans.nrows >= in->range.take;

	aw_la_answer_free(&in->ans);
	aw_metric_inc(in->m_ok);
	if (capped) {
		if (!in->have_last) {
			poll_failed(in, "a full answer without ingestion times", "", -1);
			return;
		}
		/* All rows before the last one's ingestion time are handled. */
		aw_la_advance(in, in->last_ing - 1);
		if (in->have_prev_cap && in->prev_cap_ing == in->last_ing &&
		    !strcmp(in->prev_cap_id, in->last_id)) {
			/* No progress: more rows share one key than a query returns. */
			in->take_now =
			    in->take_now * 2 > AW_LA_TAKE_MAX ? AW_LA_TAKE_MAX : in->take_now * 2;
		}
		in->have_prev_cap = true;
		in->prev_cap_ing = in->last_ing;
		memcpy(in->prev_cap_id, in->last_id, sizeof in->prev_cap_id);
		in->range.keyset = in->last_has_id && plain_key(in->last_id);
		in->range.lo = in->range.keyset ? in->last_ing : in->last_ing - 1;
		snprintf(in->range.lo_id, sizeof in->range.lo_id, "%s",
			 in->range.keyset ? in->last_id : "");
		in->range.take = in->take_now;
		ask_slot(in);
		return;
	}
	aw_la_advance(in, in->range.hi);
	/* A complete answer: let the step grow back after a PartialError. */
	if (in->take_now < (size_t)in->conf->row_cap)
		in->take_now = in->take_now * 2 > (size_t)in->conf->row_cap
				   ? (size_t)in->conf->row_cap
				   : in->take_now * 2;
	if (in->span_now)
		in->span_now = in->span_now > INT64_MAX / 4 ? 0 : in->span_now * 2;
	if (in->range.hi < in->cycle_hi) {
		in->range = (struct aw_la_range){
		    .lo = in->range.hi, .hi = in->cycle_hi, .take = in->take_now};
		if (in->span_now && in->range.hi - in->range.lo > in->span_now)
			in->range.hi = in->range.lo + in->span_now;
		ask_slot(in);
		return;
	}
	cycle_done(in);
}

static void log_bad_row(struct aw_la_input *in, const struct aw_la_row *r)
{
	in->bad++;
	if (in->bad <= LA_LOG_FIRST || in->bad % LA_LOG_EVERY == 0)
		aw_log(AW_LOG_WARN, AW_LA_COMPONENT, "malformed row skipped",
		       AW_S("input", aw_la_name(in)),
		       AW_S("table", r->table[0] ? r->table : "unknown"),
		       AW_S("_ItemId", r->item_id), AW_S("reason", r->reason),
		       AW_S("error", r->why), AW_U("skipped", in->bad));
}

/* One row: dropped as a duplicate, skipped as malformed, or emitted. -1 when the answer
 * cannot go on (out of memory). */
static int handle_row(struct aw_la_input *in, size_t i)
{
	struct aw_la_row r;
	char origin[160];
	bool pause = false;
	int rc;

	aw_metric_inc(in->m_rows);
	aw_la_row_key(&in->ans, i, &r);
	if (r.has_ing) {
		in->have_last = true;
		in->last_ing = r.ing;
		in->last_has_id = r.has_id;
		memcpy(in->last_id, r.key, sizeof in->last_id);
		if (r.ing > in->newest_ing)
			in->newest_ing = r.ing;
	}
	if (aw_la_seen_has(in->seen, r.key)) {
		aw_metric_inc(in->m_dups);
		return 0;
	}
	rc = aw_la_row_event(&in->ans, i, in->conf->type, &r);
	if (rc == -2)
		return -1;
	if (rc == 0) {
		snprintf(origin, sizeof origin, "%s:%s", aw_la_name(in), r.item_id);
		struct aw_event ev = {
		    .json = r.json, .len = r.len, .table = r.table, .origin = origin};
		in->last_seq = aw_input_emit(in->ctx, &ev, &pause);
		free(r.json);
		if (pause)
			in->paused = true;
	} else {
		aw_input_skipped(in->ctx, r.reason);
		log_bad_row(in, &r);
	}
	/* A malformed row is remembered too: counted and logged once, not per re-read
	 * (without an ingestion time, the range's end bounds it). */
	if (aw_la_seen_add(in->seen, r.key, r.has_ing ? r.ing : in->range.hi, in->last_seq) == 1)
		aw_metric_inc(in->m_evicted);
	return 0;
}

static void step_cb(uv_timer_t *t);

/* Hand rows to the pipeline, a batch per loop turn, stopping when it asks to pause. */
void aw_la_emit_some(struct aw_la_input *in)
{
	size_t n = 0;

	while (in->next_row < in->ans.nrows && n < LA_EMIT_BATCH) {
		if (in->paused || in->stopped)
			return;
		if (handle_row(in, in->next_row) != 0) {
			poll_failed(in, "out of memory handling a row", "", -1);
			return;
		}
		in->next_row++;
		n++;
	}
	if (in->paused || in->stopped)
		return;
	if (in->next_row < in->ans.nrows) {
		uv_timer_start(&in->step, step_cb, 0, 0);
		return;
	}
	answer_done(in);
}

static void step_cb(uv_timer_t *t)
{
	aw_la_emit_some(t->data);
}

/* The answer was cut (PartialError): read the same range again with smaller steps. */
static void reread_smaller(struct aw_la_input *in)
{
	int64_t span = in->range.hi - in->range.lo, nspan = span / 2;
	size_t ntake = in->range.take / 2;
	char lo[AW_LA_TIME_LEN], hi[AW_LA_TIME_LEN];

	aw_metric_inc(in->m_partial);
	aw_la_time_format(in->range.lo, lo);
	aw_la_time_format(in->range.hi, hi);
	aw_log(AW_LOG_WARN, AW_LA_COMPONENT,
	       "partial answer; reading the range again in smaller steps",
	       AW_S("input", aw_la_name(in)), AW_S("code", in->ans.error_code),
	       AW_S("detail", in->ans.error_detail), AW_S("from", lo), AW_S("to", hi),
	       AW_U("take", in->range.take));
	if (nspan < LA_MIN_SPAN)
		nspan = LA_MIN_SPAN;
	if (ntake < LA_MIN_TAKE)
		ntake = LA_MIN_TAKE;
	if (nspan >= span && ntake >= in->range.take) {
		char d[160];
		snprintf(d, sizeof d, " (%s at the smallest step; the range is not skipped)",
			 in->ans.error_code);
		poll_failed(in, "partial answer", d, -1);
		return;
	}
	aw_la_answer_free(&in->ans);
	in->take_now = ntake;
	in->span_now = nspan;
	in->range.take = ntake;
	if (nspan < span)
		in->range.hi = in->range.lo + nspan;
	ask_slot(in);
}

static void on_answer(void *ud, const struct aw_http_response *resp)
{
	struct aw_la_input *in = ud;
	struct aw_error err;
	char detail[1024];

	in->req = NULL;
	aw_la_limit_release(&in->slot);
	aw_metric_set(in->m_qsec, (double)(uv_hrtime() - in->query_start_ns) / 1e9);
	if (resp->attempts > 1)
		aw_metric_add(in->m_retries, (double)(resp->attempts - 1));
	if (in->closing) {
		aw_la_close_step(in);
		return;
	}
	if (resp->cancelled || in->stopped) {
		in->phase = AW_LA_IDLE;
		return;
	}
	if (resp->status == 204 || resp->status == 200) {
		if (resp->status == 204 || resp->body_len == 0) {
			bool *logged = resp->status == 204 ? &in->logged_204 : &in->logged_empty;
			if (!*logged)
				aw_log(resp->status == 204 ? AW_LOG_INFO : AW_LOG_WARN,
				       AW_LA_COMPONENT,
				       resp->status == 204 ? "workspace has no data (204); no rows"
							   : "empty answer (200); no rows",
				       AW_S("input", aw_la_name(in)),
				       AW_S("workspace", in->conf->workspace_id),
				       AW_S("request_id", resp->request_id));
			*logged = true;
		}
		if (aw_la_answer_parse(resp->status == 204 ? "" : resp->body,
				       resp->status == 204 ? 0 : resp->body_len, &in->ans,
				       &err) != 0) {
			snprintf(detail, sizeof detail, " (x-ms-request-id %s)", resp->request_id);
			poll_failed(in, err.msg, detail, -1);
			return;
		}
		if (in->ans.has_error && !in->ans.warnings_only) {
			reread_smaller(in);
			return;
		}
		if (in->ans.has_error) {
			in->partial_warnings++;
			if (in->partial_warnings <= LA_LOG_FIRST || in->partial_warnings % 100 == 0)
				aw_log(AW_LOG_WARN, AW_LA_COMPONENT,
				       "answer carries warnings only; its rows are complete",
				       AW_S("input", aw_la_name(in)),
				       AW_S("code", in->ans.error_code),
				       AW_S("detail", in->ans.error_detail));
		}
		in->phase = AW_LA_EMIT;
		in->next_row = 0;
		in->have_last = false;
		aw_la_emit_some(in);
		return;
	}
	{
		struct aw_azure_error ae;
		char what[64];
		memset(&ae, 0, sizeof ae);
		aw_azure_error_parse(resp->body, resp->body_len, &ae);
		if (resp->status == 429 || resp->status == 504)
			aw_metric_inc(in->m_throttled);
		if (resp->status)
			snprintf(what, sizeof what, "HTTP %ld", resp->status);
		else
			snprintf(what, sizeof what, "%s",
				 resp->error[0] ? resp->error : "no answer");
		/* " Code/Inner: message (x-ms-request-id ...)", each part when present */
		snprintf(detail, sizeof detail, "%s%s%s%s%s%s (x-ms-request-id %s)",
			 ae.code[0] ? " " : "", ae.code, ae.inner_code[0] ? "/" : "", ae.inner_code,
			 ae.message[0] ? ": " : "", ae.message, resp->request_id);
		poll_failed(in, what, detail, resp->retry_after_ms);
	}
}
