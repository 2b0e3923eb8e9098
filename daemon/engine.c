/* The engine: route, match, correlate, alert. See engine.h.
 *
 * Per event: one tokenization (event view), one log-source classification, then only
 * the rules routed to that source. A rule whose condition requires a literal is
 * skipped with one substring search over the event's folded text before any field is
 * read. Nothing is allocated per event once the view and the scratch buffers are warm,
 * except for alerts, which are rare by nature. */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"
#include "event_view.h"
#include "log.h"
#include "metrics.h"
#include "rules/rule_index.h"
#include "rules/ruleset.h"
#include "state.h"

#define ENGINE_MAX_TOKENS 65536
#define ENGINE_DEFAULT_ALERT_BYTES (60 * 1024)
#define GROUP_SEP '\x1f' /* between group-by values in a correlation key */
#define ENGINE_MAX_CLOCK_SKEW_MS (15 * 60 * 1000)

struct aw_engine {
	bool forward_events;
	struct aw_ruleset *rs;
	struct aw_event_view *view;
	size_t alert_max_bytes;
	char host[256];
	char *folded;              /* the event text, lower-cased, for literal pre-filters */
	size_t folded_cap;
	uint64_t *cand; /* candidate rules of the event's route (rule_index.h) */
	size_t cand_cap;
	char keybuf[4096];         /* correlation group key */
	struct aw_field_ref f_time, f_item, f_sysalert;
	struct aw_metrics *metrics;
	uint64_t future_clamped;   /* records stamped too far in the future */
	int64_t now_ms;            /* wall clock when last read: never ahead of it */
	struct aw_class_memo cls;  /* the last event's log source (ruleset.h) */
	/* compile context: parsed from the configuration's strings; the rules keep
	 * pointers into these until the engine is freed */
	struct aw_sigma_field_map *fmap;
	size_t nfmap;
	struct aw_sigma_placeholder *ph;
	size_t nph;
	char **phvals;             /* one allocation per placeholder: its split values */
	/* per-event */
	const struct aw_event *ev;
	aw_engine_emit_fn emit;
	void *emit_ud;
	int yielded;
	bool emit_failed;
};

static void collect_engine(void *ud);

/* --- helpers ---------------------------------------------------------------------- */

struct copy_first {
	char *buf;
	size_t sz;
	bool found;
};

static int copy_first_cb(void *ud, const struct aw_val *v)
{
	struct copy_first *c = ud;
	size_t n;

	if (v->kind == AW_VAL_NULL)
		return 0;
	n = v->len < c->sz - 1 ? v->len : c->sz - 1;
	memcpy(c->buf, v->s, n);
	c->buf[n] = '\0';
	c->found = true;
	return 1;
}

/* Call fn with the value(s) of f: a plain string column straight from the view
 * (aw_event_view_peek_string), to plain_fn when given, anything else through
 * aw_event_view_get. For fields read once per event, where the lookup's memo would not
 * be used again. Inlined, so the callbacks are direct calls. */
static inline __attribute__((always_inline)) void
get_value(struct aw_event_view *view, const struct aw_field_ref *f, aw_val_fn fn,
	  aw_val_fn plain_fn, void *ud)
{
	struct aw_val v = {.kind = AW_VAL_STRING};

	switch (aw_event_view_peek_string(view, f, &v.s, &v.len)) {
	case 1:
		(plain_fn ? plain_fn : fn)(ud, &v);
		break;
	case 0:
		break;
	default:
		aw_event_view_get(view, f, fn, ud, NULL);
		break;
	}
}

/* The first non-null value of f as text into buf. */
static bool first_value(struct aw_event_view *view, const struct aw_field_ref *f, char *buf,
			size_t sz)
{
	struct copy_first c = {.buf = buf, .sz = sz};

	buf[0] = '\0';
	get_value(view, f, copy_first_cb, NULL, &c);
	return c.found;
}

/* ISO-8601 UTC ("2026-11-29T04:35:20.1234567Z", offsets allowed) to ms since the epoch.
 * By hand: strptime and timegm cost more than the rest of an event's evaluation. */
static inline bool digit(char c)
{
	return (unsigned char)(c - '0') < 10; /* not isdigit: no locale table per byte */
}

static bool num2(const char *p, int *out)
{
	if (!digit(p[0]) || !digit(p[1]))
		return false;
	*out = (p[0] - '0') * 10 + (p[1] - '0');
	return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool parse_time_ms(const char *s, int64_t *out)
{
	int c1, c2, mo, d, h, mi, sec, oh = 0, om = 0;
	const char *p = s + 19;
	long frac_ms = 0;

	/* the tests below read s[0..18] in order and each fails on a NUL, so a shorter
	 * string stops at its end without a strlen */
	if (!num2(s, &c1) || !num2(s + 2, &c2) || s[4] != '-' ||
	    !num2(s + 5, &mo) || s[7] != '-' || !num2(s + 8, &d) || (s[10] != 'T' && s[10] != ' ') ||
	    !num2(s + 11, &h) || s[13] != ':' || !num2(s + 14, &mi) || s[16] != ':' ||
	    !num2(s + 17, &sec) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return false;
	if (*p == '.') {
		int digits = 0;
		for (p++; digit(*p); p++, digits++)
			if (digits < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
		for (; digits < 3; digits++)
			frac_ms *= 10;
	}
	if (*p == '+' || *p == '-') {
		if (!num2(p + 1, &oh) || p[3] != ':' || !num2(p + 4, &om))
			return false;
		if (*p == '-') {
			oh = -oh;
			om = -om;
		}
	} else if (*p != 'Z' && *p != '\0') {
		return false;
	}
	int64_t days = days_from_civil(c1 * 100 + c2, mo, d);
	*out = ((days * 86400 + h * 3600 + mi * 60 + sec) - (oh * 3600 + om * 60)) * 1000 + frac_ms;
	return true;
}

static const char *fold_text(struct aw_engine *e, const char *s, size_t len)
{
	if (len + 1 > e->folded_cap) {
		size_t cap = len + 1 > 4096 ? len + 1 : 4096;
		char *n = realloc(e->folded, cap);
		if (!n)
			return NULL;
		e->folded = n;
		e->folded_cap = cap;
	}
	for (size_t i = 0; i < len; i++)
		e->folded[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
	e->folded[len] = '\0';
	return e->folded;
}

/* --- alerts ---------------------------------------------------------------------- */

static void emit_alert(struct aw_engine *e, const struct aw_sigma_rule *r, int64_t start,
		       int64_t end, uint64_t count, const char *const *gf, const char *const *gv,
		       size_t ng, const char *const *ids, size_t nids, bool single,
		       const char *dedup_key)
{
	struct aw_alert_rule ar = {
		.id = r->id ? r->id : r->title,
		.title = r->title,
		.description = r->description,
		.level = r->level ? r->level : "medium",
		.tags = (const char *const *)r->tags,
		.ntags = r->ntags,
	};
	const char *sample = e->ev->json;
	struct aw_alert_input in = {
		.rule = &ar,
		.window_start_ms = start,
		.window_end_ms = end,
		.event_count = count,
		.group_fields = gf,
		.group_values = gv,
		.ngroup = ng,
		.event = e->view,
		.source_table = e->ev->table,
		.item_ids = ids,
		.nitem_ids = nids,
		.samples = &sample,
		.nsamples = 1,
		.single_event = single,
		.dedup_key = dedup_key,
		.host = e->host,
		.now_ms = (int64_t)time(NULL) * 1000,
	};
	struct aw_record rec = {0};
	struct aw_error err;

	if (aw_alert_build(&in, e->alert_max_bytes, &rec, &err) != 0) {
		aw_log(AW_LOG_ERR, "engine", "cannot build an alert", AW_S("rule", ar.id),
		       AW_S("origin", e->ev->origin), AW_S("error", err.msg));
		return;
	}
	if (e->emit(e->emit_ud, &rec) != 0) {
		e->emit_failed = true;
	} else {
		e->yielded++;
		if (e->metrics)
			aw_metric_inc(aw_metric_get(e->metrics, AW_METRIC_COUNTER,
						    "aiwatch_alerts_total",
						    "Alerts raised, by rule and severity", "rule", ar.id,
						    "severity", aw_alert_severity(ar.level), NULL));
	}
	aw_alert_record_free(&rec);
}

/* --- correlations ------------------------------------------------------------------ */

static void feed_corr(struct aw_engine *e, size_t ci, size_t pos, int64_t t_ms,
		      const char *item_id, unsigned depth);

static void corr_fired(struct aw_engine *e, size_t ci, const struct aw_corr_fire *f,
		       unsigned depth)
{
	struct aw_rs_corr *c = &e->rs->corrs[ci];
	const struct aw_sigma_rule *r = c->rule;
	const char *gv[32];
	char keycopy[sizeof e->keybuf];
	size_t ng = r->ngroup_by < 32 ? r->ngroup_by : 32;
	size_t klen = f->group_key_len < sizeof keycopy - 1 ? f->group_key_len : sizeof keycopy - 1;
	char *p = keycopy;

	/* Split the key back into the group-by values. */
	memcpy(keycopy, f->group_key, klen);
	keycopy[klen] = '\0';
	for (size_t g = 0; g < ng; g++) {
		gv[g] = p;
		char *sep = strchr(p, GROUP_SEP);
		if (sep) {
			*sep = '\0';
			p = sep + 1;
		} else {
			p += strlen(p);
		}
	}
	if (!c->silent)
		emit_alert(e, r, f->window_start_ms, f->window_end_ms, f->count,
			   (const char *const *)r->group_by, gv, ng, f->event_ids, f->nevent_ids,
			   false, NULL);
	for (size_t k = 0; k < c->nfeeds; k++)
		feed_corr(e, c->feeds[k].corr, c->feeds[k].pos, f->window_end_ms,
			  f->nevent_ids ? f->event_ids[f->nevent_ids - 1] : NULL, depth + 1);
}

/* The first non-null value of a field, appended to buf (at most max bytes of it, up to
 * a NUL it may hold, as a C string would be): how group keys are built, without a
 * copy per value. */
struct key_part {
	char *buf;
	size_t len, cap, max;
	bool sep;      /* put GROUP_SEP before the value */
	bool want_num; /* the correlated value: value_sum and value_avg need its number */
	bool found, fits;
	double num;
};

/* Append a value to the key (or value) being built; may_nul when it may hold a NUL
 * byte, where it is cut (an unescaped \u0000). */
static inline __attribute__((always_inline)) int part_add(struct key_part *p,
							 const struct aw_val *v, bool may_nul)
{
	size_t n = v->len < p->max ? v->len : p->max;
	const char *nul;

	if (v->kind == AW_VAL_NULL)
		return 0;
	if (may_nul && (nul = memchr(v->s, '\0', n)))
		n = (size_t)(nul - v->s);
	p->found = true;
	p->fits = p->len + n + 2 <= p->cap;
	if (p->fits) {
		if (p->sep)
			p->buf[p->len++] = GROUP_SEP;
		memcpy(p->buf + p->len, v->s, n);
		p->len += n;
		if (p->want_num && !aw_val_number(v, &p->num))
			p->num = 0;
	}
	return 1;
}

static int key_part_cb(void *ud, const struct aw_val *v)
{
	return part_add(ud, v, true);
}

/* A key part read as it is in the record holds no NUL (JSON text has no raw control
 * bytes): only values the general lookup may have unescaped are searched for one. */
static int plain_part_cb(void *ud, const struct aw_val *v)
{
	return part_add(ud, v, false);
}

static void feed_corr(struct aw_engine *e, size_t ci, size_t pos, int64_t t_ms,
		      const char *item_id, unsigned depth)
{
	struct aw_rs_corr *c = &e->rs->corrs[ci];
	const struct aw_sigma_rule *r = c->rule;
	struct aw_corr_fire fire;
	char value[1024];
	struct key_part key = {.buf = e->keybuf, .cap = sizeof e->keybuf, .max = 511};
	/* only value_sum and value_avg add the values up: the others never read a number,
	 * and telling one from an address costs more than the rest of the feed */
	struct key_part val = {.buf = value,
			       .cap = sizeof value,
			       .max = sizeof value - 1,
			       .want_num = r->corr.type == AW_CORR_VALUE_SUM ||
					   r->corr.type == AW_CORR_VALUE_AVG};

	if (!c->state || depth > 8)
		return;
	/* The group key: the group-by values joined. An event without one of the fields
	 * does not take part (documented in the README's rule section). */
	for (size_t g = 0; g < r->ngroup_by; g++) {
		key.sep = g > 0;
		key.found = false;
		get_value(e->view, &c->group_fields[pos][g], key_part_cb, plain_part_cb, &key);
		if (!key.found || !key.fits)
			return;
	}
	e->keybuf[key.len] = '\0';
	if (c->has_value_field) {
		get_value(e->view, &c->value_field, key_part_cb, plain_part_cb, &val);
		if (!val.found)
			return;
	}
	value[val.len] = '\0';
	int rc = aw_corr_feed(c->state, pos, t_ms, e->keybuf, key.len,
			      c->has_value_field ? value : NULL, val.len, val.num, item_id, &fire);
	if (rc < 0) {
		aw_log(AW_LOG_ERR, "engine", "correlation out of memory",
		       AW_S("rule", r->id ? r->id : r->title));
		return;
	}
	/* One feed can close several groups' windows (conditions judged when a window
	 * ends): collect every fire it produced. */
	for (unsigned n = 0; rc == 1 && n < 10000; n++) {
		corr_fired(e, ci, &fire, depth);
		rc = aw_corr_next(c->state, &fire);
	}
}

/* --- evaluation ------------------------------------------------------------------ */

/* What every alert and correlation needs from the event: read only once a rule has
 * matched, since most events match nothing. */
struct event_ids {
	bool ready;
	int64_t t_ms;
	char item_id[128];
	char dedup[128];
};

static void read_event_ids(struct aw_engine *e, struct event_ids *ids)
{
	char tbuf[64];

	ids->ready = true;
	ids->t_ms = 0;
	if (first_value(e->view, &e->f_time, tbuf, sizeof tbuf))
		parse_time_ms(tbuf, &ids->t_ms);
	/* A record stamped far in the future (a broken clock upstream) would make every
	 * later record "too late" for correlation windows: treat it as arriving now. The
	 * clock is read only for a record that looks future against its last reading,
	 * which can only lag: a record within that is within the real clock too. */
	if (ids->t_ms > e->now_ms + ENGINE_MAX_CLOCK_SKEW_MS) {
		e->now_ms = (int64_t)time(NULL) * 1000;
		if (ids->t_ms > e->now_ms + ENGINE_MAX_CLOCK_SKEW_MS) {
			ids->t_ms = e->now_ms;
			e->future_clamped++;
		}
	}
	first_value(e->view, &e->f_item, ids->item_id, sizeof ids->item_id);
	/* Defender re-exports an alert on every status change, each row with a new
	 * _ItemId: its own SystemAlertId is what makes two rows the same finding. */
	ids->dedup[0] = '\0';
	if (e->ev->table && e->ev->table[0] == 'S' && strcmp(e->ev->table, "SecurityAlert") == 0)
		first_value(e->view, &e->f_sysalert, ids->dedup, sizeof ids->dedup);
}

static void rule_matched(struct aw_engine *e, struct aw_rs_rule *rr, struct event_ids *ids)
{
	if (!ids->ready)
		read_event_ids(e, ids);
	if (!rr->silent) {
		const char *evidence[1] = {ids->item_id};
		emit_alert(e, rr->rule, ids->t_ms, ids->t_ms, 1, NULL, NULL, 0, evidence,
			   ids->item_id[0] ? 1 : 0, true, ids->dedup[0] ? ids->dedup : NULL);
	}
	for (size_t k = 0; k < rr->nfeeds; k++)
		feed_corr(e, rr->feeds[k].corr, rr->feeds[k].pos, ids->t_ms, ids->item_id, 0);
}

/* Rule i of the event's route: category, costly rules' literal, detection, filters.
 * -1 only when out of memory. */
static int eval_rule(struct aw_engine *e, const struct aw_rs_route *route, size_t i,
		     uint64_t catmask, const char *category, const char **folded,
		     struct event_ids *ids)
{
	struct aw_rs_rule *rr = &e->rs->rules[route->rules[i]];
	bool pass = true;

	if (rr->cat >= 0 && (rr->cat < AW_RS_MAX_CATS ? !(catmask >> rr->cat & 1)
						       : strcasecmp(rr->rule->category, category) != 0))
		return 0;
	if (rr->literal && rr->costly) {
		if (!*folded && !(*folded = fold_text(e, e->ev->json, e->ev->len)))
			return -1;
		if (!memmem(*folded, e->ev->len, rr->literal, rr->literal_len))
			return 0;
	}
	if (!aw_sigma_detection_match(&rr->rule->det, e->view))
		return 0;
	/* A filter's condition says what may pass (usually `not selection`). */
	for (size_t f = 0; f < rr->nfilters && pass; f++)
		pass = aw_sigma_detection_match(&rr->filters[f]->det, e->view);
	if (pass)
		rule_matched(e, rr, ids);
	return 0;
}

int aw_engine_eval(struct aw_engine *e, const struct aw_event *ev, aw_engine_emit_fn emit,
		   void *ud, struct aw_error *err)
{
	const struct aw_rs_route *route;
	const char *folded = NULL;
	const char *category = e->cls.category;
	uint64_t catmask;
	struct event_ids ids; /* filled on a first match (read_event_ids) */

	ids.ready = false;
	e->ev = ev;
	e->emit = emit;
	e->emit_ud = ud;
	e->yielded = 0;
	e->emit_failed = false;
	if (e->forward_events) {
		struct aw_record rec = {.data = (char *)ev->json, .len = ev->len};
		if (emit(ud, &rec) != 0)
			return aw_error_set(err, "%s: record could not be queued", ev->origin);
		e->yielded++;
	}
	if (!e->rs || e->rs->nroutes == 0)
		return e->yielded;
	if (aw_event_view_reset_tokens(e->view, ev->json, ev->len, ev->tokens, err) != 0)
		return aw_error_prefix(err, "%s", ev->origin);
	route = aw_ruleset_classify(e->rs, ev->table, e->view, &e->cls, &catmask);
	if (!route)
		return e->yielded;
	if (route->index) {
		size_t words = aw_rule_index_words(route->index);
		if (words > e->cand_cap) {
			uint64_t *c = realloc(e->cand, words * sizeof *c);
			if (!c)
				return aw_error_set(err, "%s: out of memory", ev->origin);
			e->cand = c;
			e->cand_cap = words;
		}
		aw_rule_index_candidates(route->index, e->view, e->cand);
		/* only the candidates' bits, in rule order */
		for (size_t w = 0; w < words; w++)
			for (uint64_t bits = e->cand[w]; bits; bits &= bits - 1)
				if (eval_rule(e, route, w * 64 + (size_t)__builtin_ctzll(bits),
					      catmask, category, &folded, &ids) < 0)
					return aw_error_set(err, "%s: out of memory", ev->origin);
	} else {
		for (size_t i = 0; i < route->n; i++)
			if (eval_rule(e, route, i, catmask, category, &folded, &ids) < 0)
				return aw_error_set(err, "%s: out of memory", ev->origin);
	}
	if (e->emit_failed)
		return aw_error_set(err, "%s: an alert could not be queued", ev->origin);
	return e->yielded;
}

/* --- life cycle --------------------------------------------------------------------- */

/* "From=To" field mappings and "name=v1,v2" placeholders from the configuration,
 * copied: a reload frees the old configuration while the engine built from it may
 * still be running. */
static int parse_compile_tables(struct aw_engine *e, const struct aw_engine_conf *conf,
				struct aw_error_list *errs)
{
	int rc = 0;

	e->fmap = calloc(conf->nfield_mappings + 1, sizeof *e->fmap);
	e->ph = calloc(conf->nplaceholders + 1, sizeof *e->ph);
	e->phvals = calloc(conf->nplaceholders + 1, sizeof *e->phvals);
	if (!e->fmap || !e->ph || !e->phvals)
		return aw_error_list_add(errs, "engine: out of memory");
	for (size_t i = 0; i < conf->nfield_mappings; i++) {
		const char *m = conf->field_mappings[i], *eq = strchr(m, '=');
		char *copy;
		if (!eq || eq == m || !eq[1]) {
			rc = aw_error_list_add(errs, "rules.field_mappings[%zu]: '%s' is not "
						     "RuleField=Column",
					       i, m);
			continue;
		}
		if (!(copy = strdup(m)))
			return aw_error_list_add(errs, "engine: out of memory");
		copy[eq - m] = '\0';
		e->fmap[e->nfmap++] = (struct aw_sigma_field_map){.from = copy, .to = copy + (eq - m) + 1};
	}
	for (size_t i = 0; i < conf->nplaceholders; i++) {
		const char *m = conf->placeholders[i], *eq = strchr(m, '=');
		char *copy, **vals;
		size_t nv = 1;
		if (!eq || eq == m) {
			rc = aw_error_list_add(errs, "rules.placeholders[%zu]: '%s' is not "
						     "name=value1,value2",
					       i, m);
			continue;
		}
		for (const char *p = eq; *p; p++)
			nv += *p == ',';
		copy = strdup(m);
		vals = calloc(nv + 1, sizeof *vals);
		if (!copy || !vals) {
			free(copy);
			free(vals);
			return aw_error_list_add(errs, "engine: out of memory");
		}
		copy[eq - m] = '\0';
		nv = 0;
		for (char *p = copy + (eq - m) + 1, *next; p; p = next) {
			next = strchr(p, ',');
			if (next)
				*next++ = '\0';
			vals[nv++] = p;
		}
		e->phvals[e->nph] = (char *)vals;
		e->ph[e->nph++] = (struct aw_sigma_placeholder){
			.name = copy, .values = (const char *const *)vals, .nvalues = nv};
	}
	return rc;
}

struct aw_engine *aw_engine_new(const struct aw_engine_conf *conf, struct aw_error_list *errs)
{
	struct aw_engine *e = calloc(1, sizeof *e);
	struct aw_error err;

	if (!e) {
		aw_error_list_add(errs, "engine: out of memory");
		return NULL;
	}
	e->forward_events = conf->forward_events;
	e->alert_max_bytes = conf->alert_max_bytes ? conf->alert_max_bytes
						   : ENGINE_DEFAULT_ALERT_BYTES;
	if (conf->host)
		snprintf(e->host, sizeof e->host, "%s", conf->host);
	else if (gethostname(e->host, sizeof e->host - 1) != 0)
		snprintf(e->host, sizeof e->host, "unknown");
	e->view = aw_event_view_new(ENGINE_MAX_TOKENS);
	if (!e->view || aw_field_ref_init(&e->f_time, "TimeGenerated", &err) != 0 ||
	    aw_field_ref_init(&e->f_item, "_ItemId", &err) != 0 ||
	    aw_field_ref_init(&e->f_sysalert, "SystemAlertId", &err) != 0) {
		aw_error_list_add(errs, "engine: out of memory");
		aw_engine_free(e);
		return NULL;
	}
	if (parse_compile_tables(e, conf, errs) != 0) {
		aw_engine_free(e);
		return NULL;
	}
	if (conf->nrule_paths) {
		struct aw_ruleset_conf rc = {
			.paths = conf->rule_paths,
			.npaths = conf->nrule_paths,
			.allowed_lateness_ms = conf->allowed_lateness_ms,
			.max_groups_per_rule = conf->max_groups_per_rule,
			.max_groups_total = conf->max_groups_total,
			.compile = {.field_map = e->fmap,
				    .nfield_map = e->nfmap,
				    .placeholders = e->ph,
				    .nplaceholders = e->nph},
		};
		e->rs = aw_ruleset_load(&rc, errs);
		if (!e->rs) {
			aw_engine_free(e);
			return NULL;
		}
	}
	return e;
}

void aw_engine_free(struct aw_engine *e)
{
	if (!e)
		return;
	if (e->metrics)
		aw_metrics_remove_collector(e->metrics, collect_engine, e);
	aw_ruleset_free(e->rs);
	for (size_t i = 0; i < e->nfmap; i++)
		free((char *)e->fmap[i].from);
	free(e->fmap);
	for (size_t i = 0; i < e->nph; i++) {
		free((char *)e->ph[i].name);
		free(e->phvals[i]);
	}
	free(e->ph);
	free(e->phvals);
	aw_event_view_free(e->view);
	aw_field_ref_free(&e->f_time);
	aw_field_ref_free(&e->f_item);
	aw_field_ref_free(&e->f_sysalert);
	free(e->folded);
	free(e->cand);
	free(e);
}

static void collect_engine(void *ud)
{
	struct aw_engine *e = ud;
	struct aw_engine_stats st;

	aw_engine_stats(e, &st);
	const struct {
		const char *name, *help;
		double value;
	} gauges[] = {
		{"aiwatch_rules_loaded", "Detection and correlation rules loaded",
		 (double)(st.detection_rules + st.correlation_rules)},
		{"aiwatch_correlation_groups", "Live correlation groups",
		 (double)st.correlation_groups},
		{"aiwatch_correlation_evicted_groups",
		 "Correlation groups evicted by the group bounds (since the rules were loaded)",
		 (double)st.evicted_groups},
		{"aiwatch_correlation_late_records",
		 "Matches dropped as later than rules.allowed_lateness (since the rules were "
		 "loaded)",
		 (double)st.too_late},
		{"aiwatch_correlation_dropped_matches",
		 "Matches or learned values dropped by the per-group bounds (since the rules "
		 "were loaded)",
		 (double)st.dropped},
		{"aiwatch_future_records",
		 "Records stamped more than 15 minutes in the future, evaluated as arriving now",
		 (double)e->future_clamped},
	};

	for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++)
		aw_metric_set(aw_metric_get(e->metrics, AW_METRIC_GAUGE, gauges[i].name,
					    gauges[i].help, NULL),
			      gauges[i].value);
}

void aw_engine_set_metrics(struct aw_engine *e, struct aw_metrics *m)
{
	e->metrics = m;
	if (m)
		aw_metrics_add_collector(m, collect_engine, e);
}

void aw_engine_stats(const struct aw_engine *e, struct aw_engine_stats *st)
{
	memset(st, 0, sizeof *st);
	if (!e->rs)
		return;
	st->detection_rules = e->rs->nrules;
	st->correlation_rules = e->rs->ncorrs;
	for (size_t i = 0; i < e->rs->all.n; i++)
		st->filters += e->rs->all.v[i]->kind == AW_SIGMA_FILTER;
	st->unrouted = e->rs->unrouted;
	for (size_t i = 0; i < e->rs->ncorrs; i++)
		if (e->rs->corrs[i].state)
			st->correlation_groups += aw_corr_groups(e->rs->corrs[i].state);
	st->evicted_groups = e->rs->budget.evicted;
	st->too_late = e->rs->budget.too_late;
	st->dropped = e->rs->budget.dropped;
}

void aw_engine_describe(const struct aw_engine *e, FILE *out)
{
	const struct aw_ruleset *rs = e->rs;

	if (!rs) {
		fprintf(out, "no rules loaded\n");
		return;
	}
	fprintf(out, "%-38s %-13s %-30s %-14s %s\n", "ID", "LEVEL", "SOURCE", "KIND", "TITLE");
	for (size_t i = 0; i < rs->nrules; i++) {
		const struct aw_sigma_rule *r = rs->rules[i].rule;
		char src[64];
		snprintf(src, sizeof src, "%s/%s%s%s", r->product ? r->product : "-",
			 r->service ? r->service : "-", r->category ? "/" : "",
			 r->category ? r->category : "");
		fprintf(out, "%-38s %-13s %-30s %-14s %s%s\n", r->id ? r->id : "-",
			r->level ? r->level : "-", src,
			rs->rules[i].silent ? "detection*" : "detection", r->title,
			aw_ruleset_route(rs, r->service) ? "" : "  (no input produces this source)");
	}
	for (size_t i = 0; i < rs->ncorrs; i++) {
		const struct aw_sigma_rule *r = rs->corrs[i].rule;
		fprintf(out, "%-38s %-13s %-30s %-14s %s%s\n", r->id ? r->id : "-",
			r->level ? r->level : "-", "(correlation)",
			rs->corrs[i].silent ? "correlation*" : "correlation", r->title,
			rs->corrs[i].state ? "" : "  (disabled: see load errors)");
	}
	fprintf(out, "* silent: feeds a correlation and raises no alert of its own\n");
}

/* The state file of one correlation: "corr-" + a hash of its id, so any id (UUIDs,
 * titles with spaces or slashes) makes a safe file name. */
static void corr_file(const struct aw_sigma_rule *r, char out[64])
{
	const char *id = r->id ? r->id : r->title;
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	snprintf(out, 64, "corr-%016llx", (unsigned long long)h);
}

int aw_engine_save_state(const struct aw_engine *e, const char *dir, struct aw_error *err)
{
	/* One file per correlation, each written atomically: a crash leaves the previous
	 * snapshot, and one large correlation never holds the others' state in memory. */
	if (!e->rs)
		return 0;
	for (size_t i = 0; i < e->rs->ncorrs; i++) {
		const struct aw_rs_corr *c = &e->rs->corrs[i];
		char name[64], *buf = NULL;
		size_t blen = 0;
		int rc;
		if (!c->state)
			continue;
		corr_file(c->rule, name);
		if (aw_corr_save(c->state, &buf, &blen, err) != 0)
			return aw_error_prefix(err, "correlation %s", c->rule->id ? c->rule->id
										: c->rule->title);
		rc = aw_state_write(dir, name, buf, blen, err);
		free(buf);
		if (rc != 0)
			return -1;
	}
	return 0;
}

int aw_engine_load_state(struct aw_engine *e, const char *dir, struct aw_error *err)
{
	if (!e->rs)
		return 0;
	for (size_t i = 0; i < e->rs->ncorrs; i++) {
		struct aw_rs_corr *c = &e->rs->corrs[i];
		const char *cid = c->rule->id ? c->rule->id : c->rule->title;
		char name[64], *data = NULL;
		size_t len = 0;
		struct aw_error lerr;
		int rc;
		if (!c->state)
			continue;
		corr_file(c->rule, name);
		rc = aw_state_read(dir, name, &data, &len, &lerr);
		if (rc == 0 && aw_corr_load(c->state, data, len, &lerr) != 0)
			rc = -1;
		if (rc < 0)
			aw_log(AW_LOG_WARN, "engine",
			       "saved correlation state not restored; this rule starts empty",
			       AW_S("rule", cid), AW_S("error", lerr.msg));
		free(data);
	}
	(void)err;
	return 0;
}
