/* Sigma documents → compiled rules. See sigma_rule.h.
 *
 * Unknown top-level keys are allowed (the specification permits custom fields) and
 * ignored; everything the engine acts on is validated, and anything it would have to
 * guess at (an obsolete `timeframe`, a correlation type it does not implement, a level
 * it does not know) is an error rather than a silent approximation (sigma.md §2.1,
 * "Compatibility"). */
#include "sigma_rule.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "field_id.h"

#define MAX_RULE_FILES 100000

static const char *scalar(const struct aw_node *n)
{
	return n && n->kind == AW_NODE_SCALAR ? n->value : NULL;
}

static char *dup_lower(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	for (char *p = d; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* A string or a list of strings into a vector. Returns 0, or -1 when the node has any
 * other shape. */
static int string_list(const struct aw_node *n, char ***out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	if (!n)
		return 0;
	if (n->kind == AW_NODE_SCALAR) {
		*out = calloc(1, sizeof **out);
		if (!*out || !((*out)[0] = strdup(n->value)))
			return -1;
		*nout = 1;
		return 0;
	}
	if (n->kind != AW_NODE_SEQ)
		return -1;
	*out = calloc(n->n ? n->n : 1, sizeof **out);
	if (!*out)
		return -1;
	for (size_t i = 0; i < n->n; i++) {
		if (n->items[i]->kind != AW_NODE_SCALAR || !((*out)[i] = strdup(n->items[i]->value))) {
			for (size_t j = 0; j < i; j++)
				free((*out)[j]);
			free(*out);
			*out = NULL;
			return -1;
		}
	}
	*nout = n->n;
	return 0;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* --- detection --------------------------------------------------------------------- */

static void free_detection(struct aw_sigma_detection *d)
{
	for (size_t i = 0; i < d->nidents; i++) {
		struct aw_sigma_ident *id = &d->idents[i];
		for (size_t g = 0; g < id->ngroups; g++) {
			for (size_t k = 0; k < id->groups[g].nitems; k++)
				aw_sigma_item_free(id->groups[g].items[k]);
			free(id->groups[g].items);
		}
		free(id->groups);
		free(id->name);
	}
	free(d->idents);
	aw_cond_free(d->cond);
	memset(d, 0, sizeof *d);
}

const char *aw_sigma_map_field(const struct aw_sigma_compile_ctx *ctx, const char *name)
{
	for (size_t i = 0; ctx && i < ctx->nfield_map; i++)
		if (strcmp(ctx->field_map[i].from, name) == 0)
			return ctx->field_map[i].to;
	return name;
}

/* "field|mods" with the field mapped through the configured table. */
static int map_key(const struct aw_sigma_compile_ctx *ctx, const char *key, char *out, size_t sz)
{
	const char *bar = strchr(key, '|');
	size_t flen = bar ? (size_t)(bar - key) : strlen(key);
	char field[512];
	int n;

	if (flen >= sizeof field)
		return -1;
	memcpy(field, key, flen);
	field[flen] = '\0';
	n = snprintf(out, sz, "%s%s", flen ? aw_sigma_map_field(ctx, field) : "", bar ? bar : "");
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/* A map of `field|mods: value` entries: one AND group. */
static int compile_group(const struct aw_node *map, const struct aw_sigma_compile_ctx *ctx,
			 struct aw_sigma_group *g, const char *ident, struct aw_error *err)
{
	g->items = calloc(map->n ? map->n : 1, sizeof *g->items);
	if (!g->items)
		return aw_error_set(err, "out of memory");
	for (size_t i = 0; i < map->n; i++) {
		char key[1024];
		if (map_key(ctx, map->keys[i], key, sizeof key) != 0)
			return aw_error_set(err, "line %u: detection.%s: field name too long",
					    map->keynodes[i]->line, ident);
		if (aw_sigma_item_compile(key, map->items[i], ctx, &g->items[i], err) != 0)
			return aw_error_prefix(err, "line %u: detection.%s.%s", map->keynodes[i]->line,
					       ident, map->keys[i]);
		g->nitems++;
	}
	if (map->n == 0)
		return aw_error_set(err, "line %u: detection.%s is an empty map", map->line, ident);
	return 0;
}

static int compile_ident(const char *name, const struct aw_node *def,
			 const struct aw_sigma_compile_ctx *ctx, struct aw_sigma_ident *id,
			 struct aw_error *err)
{
	bool all_scalars = true, all_maps = true;

	id->name = strdup(name);
	if (!id->name)
		return aw_error_set(err, "out of memory");
	if (def->kind == AW_NODE_MAP) {
		id->groups = calloc(1, sizeof *id->groups);
		if (!id->groups)
			return aw_error_set(err, "out of memory");
		id->ngroups = 1;
		return compile_group(def, ctx, &id->groups[0], name, err);
	}
	if (def->kind == AW_NODE_SCALAR) {
		/* A lone keyword: a one-item list. */
		struct aw_node *item = (struct aw_node *)def;
		struct aw_node seq = {.kind = AW_NODE_SEQ, .line = def->line, .col = def->col,
				      .file = def->file, .n = 1, .items = &item};
		id->groups = calloc(1, sizeof *id->groups);
		if (!id->groups || !(id->groups[0].items = calloc(1, sizeof(void *))))
			return aw_error_set(err, "out of memory");
		id->ngroups = 1;
		if (aw_sigma_keywords_compile(&seq, ctx, &id->groups[0].items[0], err) != 0)
			return aw_error_prefix(err, "line %u: detection.%s", def->line, name);
		id->groups[0].nitems = 1;
		return 0;
	}
	/* A sequence: keywords (all scalars) or an OR of maps. */
	for (size_t i = 0; i < def->n; i++) {
		all_scalars &= def->items[i]->kind == AW_NODE_SCALAR;
		all_maps &= def->items[i]->kind == AW_NODE_MAP;
	}
	if (def->n == 0)
		return aw_error_set(err, "line %u: detection.%s is an empty list", def->line, name);
	if (all_scalars) {
		id->groups = calloc(1, sizeof *id->groups);
		if (!id->groups || !(id->groups[0].items = calloc(1, sizeof(void *))))
			return aw_error_set(err, "out of memory");
		id->ngroups = 1;
		if (aw_sigma_keywords_compile(def, ctx, &id->groups[0].items[0], err) != 0)
			return aw_error_prefix(err, "line %u: detection.%s", def->line, name);
		id->groups[0].nitems = 1;
		return 0;
	}
	if (!all_maps)
		return aw_error_set(err,
				    "line %u: detection.%s mixes maps and plain values in one list",
				    def->line, name);
	id->groups = calloc(def->n, sizeof *id->groups);
	if (!id->groups)
		return aw_error_set(err, "out of memory");
	for (size_t i = 0; i < def->n; i++) {
		id->ngroups++;
		if (compile_group(def->items[i], ctx, &id->groups[i], name, err) != 0)
			return -1;
	}
	return 0;
}

/* The detection's id: its condition written out with each identifier replaced by its
 * items' ids ("{3,4|5}": groups are alternatives, items within one all hold). Two
 * rules written alike, such as the two inputs of the key-authentication correlations,
 * then share one result per event. */
static unsigned detection_id(const struct aw_sigma_detection *d)
{
	char **desc = calloc(d->nidents ? d->nidents : 1, sizeof *desc);
	char *cond = NULL, *text = NULL;
	unsigned id = 0;

	if (!desc)
		return 0;
	for (size_t i = 0; i < d->nidents; i++) {
		const struct aw_sigma_ident *idt = &d->idents[i];
		size_t cap = 3, len = 0;
		for (size_t g = 0; g < idt->ngroups; g++)
			cap += 1 + 11 * idt->groups[g].nitems;
		if (!(desc[i] = malloc(cap)))
			goto out;
		desc[i][len++] = '{';
		for (size_t g = 0; g < idt->ngroups; g++) {
			for (size_t k = 0; k < idt->groups[g].nitems; k++) {
				unsigned item = aw_sigma_item_id(idt->groups[g].items[k]);
				if (item == 0)
					goto out; /* a result that depends on more than its text */
				len += (size_t)snprintf(desc[i] + len, cap - len, "%s%u",
							k ? "," : "", item);
			}
			if (g + 1 < idt->ngroups)
				desc[i][len++] = '|';
		}
		desc[i][len++] = '}';
		desc[i][len] = '\0';
	}
	if (!(cond = aw_cond_describe(d->cond, (const char *const *)desc)))
		goto out;
	/* a prefix no item's text has: the two kinds of id never meet */
	size_t n = strlen(cond) + 2;
	if ((text = malloc(n))) {
		text[0] = '\x02';
		memcpy(text + 1, cond, n - 1);
		id = aw_result_id(text, n - 2);
	}
out:
	for (size_t i = 0; i < d->nidents; i++)
		free(desc[i]);
	free(desc);
	free(cond);
	free(text);
	return id;
}

static int compile_detection(const struct aw_node *det, const char *section,
			     const struct aw_sigma_compile_ctx *ctx, struct aw_sigma_detection *d,
			     struct aw_error *err)
{
	const struct aw_node *cond = NULL;
	const char **names = NULL;
	int rc = -1;

	if (!det || det->kind != AW_NODE_MAP)
		return aw_error_set(err, "'%s' must be a map of search identifiers and a condition",
				    section);
	d->idents = calloc(det->n ? det->n : 1, sizeof *d->idents);
	names = calloc(det->n ? det->n : 1, sizeof *names);
	if (!d->idents || !names) {
		aw_error_set(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < det->n; i++) {
		const char *key = det->keys[i];
		if (strcmp(key, "condition") == 0) {
			cond = det->items[i];
			continue;
		}
		if (strcmp(key, "timeframe") == 0) {
			aw_error_set(err, "line %u: %s.timeframe is obsolete Sigma; write a "
					  "correlation rule with a timespan",
				     det->keynodes[i]->line, section);
			goto out;
		}
		if (strcmp(key, "rules") == 0 && strcmp(section, "filter") == 0)
			continue;
		if (compile_ident(key, det->items[i], ctx, &d->idents[d->nidents], err) != 0) {
			d->nidents++;
			goto out;
		}
		names[d->nidents++] = key;
	}
	if (!cond) {
		aw_error_set(err, "line %u: %s has no condition", det->line, section);
		goto out;
	}
	if (cond->kind == AW_NODE_SCALAR) {
		if (aw_cond_compile(cond->value, names, d->nidents, &d->cond, err) != 0) {
			aw_error_prefix(err, "line %u: %s.condition", cond->line, section);
			goto out;
		}
	} else if (cond->kind == AW_NODE_SEQ && cond->n > 0) {
		struct aw_cond **parts = calloc(cond->n, sizeof *parts);
		if (!parts) {
			aw_error_set(err, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < cond->n; i++) {
			const char *text = scalar(cond->items[i]);
			if (!text || aw_cond_compile(text, names, d->nidents, &parts[i], err) != 0) {
				if (!text)
					aw_error_set(err, "each condition must be a string");
				aw_error_prefix(err, "line %u: %s.condition[%zu]", cond->items[i]->line,
						section, i);
				for (size_t j = 0; j < i; j++)
					aw_cond_free(parts[j]);
				free(parts);
				goto out;
			}
		}
		if (aw_cond_any(parts, cond->n, &d->cond, err) != 0)
			goto out;
	} else {
		aw_error_set(err, "line %u: %s.condition must be a string or a list of strings",
			     cond->line, section);
		goto out;
	}
	d->id = detection_id(d);
	rc = 0;
out:
	free(names);
	return rc;
}

struct match_ctx {
	const struct aw_sigma_detection *d;
	struct aw_event_view *ev;
	/* Per-evaluation memo: 0 unknown, 1 false, 2 true. Identifiers are few (a
	 * Sigma rule rarely has more than a dozen); larger rules fall back to no memo. */
	unsigned char memo[64];
};

static bool ident_value(void *ud, size_t idx)
{
	struct match_ctx *m = ud;
	const struct aw_sigma_ident *id = &m->d->idents[idx];
	bool any = false;

	if (idx < sizeof m->memo && m->memo[idx])
		return m->memo[idx] == 2;
	for (size_t g = 0; g < id->ngroups && !any; g++) {
		bool all = true;
		for (size_t k = 0; k < id->groups[g].nitems && all; k++)
			all = aw_sigma_item_match(id->groups[g].items[k], m->ev);
		any = all;
	}
	if (idx < sizeof m->memo)
		m->memo[idx] = any ? 2 : 1;
	return any;
}

bool aw_sigma_detection_match(const struct aw_sigma_detection *d, struct aw_event_view *ev)
{
	int known = d->id ? aw_event_view_result(ev, d->id) : -1;

	if (known >= 0)
		return known;
	struct match_ctx m = {.d = d, .ev = ev};
	bool r = d->cond && aw_cond_eval(d->cond, ident_value, &m);
	if (d->id)
		aw_event_view_set_result(ev, d->id, r);
	return r;
}

/* --- correlation ------------------------------------------------------------------- */

/* Sigma timespans: <int><unit>, unit s m h d (spec), w M y (pySigma). */
static int parse_timespan(const char *s, uint64_t *ms)
{
	char *end;
	unsigned long long v;
	uint64_t unit;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v == 0 || end[0] == '\0' || end[1] != '\0')
		return -1;
	switch (*end) {
	case 's': unit = 1000ULL; break;
	case 'm': unit = 60000ULL; break;
	case 'h': unit = 3600000ULL; break;
	case 'd': unit = 86400000ULL; break;
	case 'w': unit = 604800000ULL; break;
	case 'M': unit = 2629746000ULL; break;
	case 'y': unit = 31556952000ULL; break;
	default: return -1;
	}
	if (v > UINT64_MAX / unit)
		return -1;
	*ms = v * unit;
	return 0;
}

static int parse_number(const struct aw_node *n, double *out)
{
	const char *s = scalar(n);
	char *end;

	if (!s || !*s)
		return -1;
	errno = 0;
	*out = strtod(s, &end);
	return (errno || *end || !isfinite(*out)) ? -1 : 0;
}

static const struct {
	const char *name;
	enum aw_corr_type type;
} corr_types[] = {
	{"event_count", AW_CORR_EVENT_COUNT},
	{"value_count", AW_CORR_VALUE_COUNT},
	{"temporal", AW_CORR_TEMPORAL},
	{"temporal_ordered", AW_CORR_TEMPORAL_ORDERED},
	{"value_sum", AW_CORR_VALUE_SUM},
	{"value_avg", AW_CORR_VALUE_AVG},
	{"first_seen", AW_CORR_FIRST_SEEN},
	{"baseline", AW_CORR_BASELINE},
};

static int compile_condition(const struct aw_node *c, struct aw_sigma_rule *r,
			     struct aw_error *err)
{
	struct aw_corr_cond *cc = &r->corr.cond;
	int ops = 0;

	if (c->kind != AW_NODE_MAP)
		return aw_error_set(err, "line %u: correlation.condition must be a map such as "
					 "{gte: 10}",
				    c->line);
	for (size_t i = 0; i < c->n; i++) {
		const char *k = c->keys[i];
		double v;
		if (strcmp(k, "field") == 0) {
			const struct aw_node *f = c->items[i];
			if (f->kind == AW_NODE_SEQ && f->n == 1)
				f = f->items[0];
			if (!scalar(f))
				return aw_error_set(err, "line %u: correlation.condition.field must "
							 "name one field",
						    f->line);
			free(r->corr_field);
			r->corr_field = strdup(f->value);
			continue;
		}
		if (parse_number(c->items[i], &v) != 0)
			return aw_error_set(err, "line %u: correlation.condition.%s: '%s' is not a "
						 "number",
					    c->items[i]->line, k,
					    scalar(c->items[i]) ? scalar(c->items[i]) : "(not a scalar)");
		ops++;
		if (strcmp(k, "gt") == 0) {
			cc->has_gt = true;
			cc->gt = v;
		} else if (strcmp(k, "gte") == 0) {
			cc->has_gte = true;
			cc->gte = v;
		} else if (strcmp(k, "lt") == 0) {
			cc->has_lt = true;
			cc->lt = v;
		} else if (strcmp(k, "lte") == 0) {
			cc->has_lte = true;
			cc->lte = v;
		} else if (strcmp(k, "eq") == 0) {
			cc->has_eq = true;
			cc->eq = v;
		} else if (strcmp(k, "neq") == 0) {
			cc->has_neq = true;
			cc->neq = v;
		} else {
			return aw_error_set(err, "line %u: correlation.condition: unknown operator "
						 "'%s' (gt, gte, lt, lte, eq, neq)",
					    c->keynodes[i]->line, k);
		}
	}
	if (ops == 0)
		return aw_error_set(err, "line %u: correlation.condition has no operator", c->line);
	return 0;
}

static int compile_aliases(const struct aw_node *a, struct aw_sigma_rule *r, struct aw_error *err)
{
	if (a->kind != AW_NODE_MAP)
		return aw_error_set(err, "line %u: correlation.aliases must be a map", a->line);
	r->aliases = calloc(a->n ? a->n : 1, sizeof *r->aliases);
	if (!r->aliases)
		return aw_error_set(err, "out of memory");
	for (size_t i = 0; i < a->n; i++) {
		const struct aw_node *m = a->items[i];
		struct aw_sigma_alias *al = &r->aliases[r->naliases++];
		if (!(al->alias = strdup(a->keys[i])))
			return aw_error_set(err, "out of memory");
		if (m->kind != AW_NODE_MAP)
			return aw_error_set(err, "line %u: correlation.aliases.%s must map rule "
						 "names to fields",
					    m->line, a->keys[i]);
		al->rule = calloc(m->n ? m->n : 1, sizeof *al->rule);
		al->field = calloc(m->n ? m->n : 1, sizeof *al->field);
		if (!al->rule || !al->field)
			return aw_error_set(err, "out of memory");
		for (size_t j = 0; j < m->n; j++) {
			if (!scalar(m->items[j]))
				return aw_error_set(err, "line %u: correlation.aliases.%s.%s must be "
							 "a field name",
						    m->items[j]->line, a->keys[i], m->keys[j]);
			al->rule[j] = strdup(m->keys[j]);
			al->field[j] = strdup(m->items[j]->value);
			al->n++;
			if (!al->rule[j] || !al->field[j])
				return aw_error_set(err, "out of memory");
		}
	}
	return 0;
}

static int compile_correlation(const struct aw_node *c, struct aw_sigma_rule *r,
			       struct aw_error *err)
{
	const char *type = scalar(aw_node_get(c, "type"));
	const struct aw_node *n;
	bool found = false;

	if (c->kind != AW_NODE_MAP)
		return aw_error_set(err, "line %u: correlation must be a map", c->line);
	if (!type)
		return aw_error_set(err, "line %u: correlation.type is required", c->line);
	for (size_t i = 0; i < sizeof corr_types / sizeof corr_types[0]; i++) {
		if (strcmp(type, corr_types[i].name) == 0) {
			r->corr.type = corr_types[i].type;
			found = true;
		}
	}
	if (!found)
		return aw_error_set(err, "line %u: correlation.type '%s' is not supported "
					 "(event_count, value_count, temporal, temporal_ordered, "
					 "value_sum, value_avg; aiwatch: first_seen, baseline)",
				    c->line, type);
	if (string_list(aw_node_get(c, "rules"), &r->refs, &r->nrefs) != 0 || r->nrefs == 0)
		return aw_error_set(err, "line %u: correlation.rules must list rule ids or names",
				    c->line);
	r->corr.nrules = r->nrefs;
	if (string_list(aw_node_get(c, "group-by"), &r->group_by, &r->ngroup_by) != 0)
		return aw_error_set(err, "line %u: correlation.group-by must be a list of fields",
				    c->line);
	if (parse_timespan(scalar(aw_node_get(c, "timespan")), &r->corr.timespan_ms) != 0)
		return aw_error_set(err, "line %u: correlation.timespan must be <number><unit> "
					 "with unit s, m, h, d, w, M or y (e.g. 10m)",
				    c->line);
	if ((n = aw_node_get(c, "condition")) && compile_condition(n, r, err) != 0)
		return -1;
	if (!n) {
		switch (r->corr.type) {
		case AW_CORR_TEMPORAL:
		case AW_CORR_TEMPORAL_ORDERED:
			r->corr.cond.has_gte = true;
			r->corr.cond.gte = (double)r->nrefs;
			break;
		case AW_CORR_FIRST_SEEN:
		case AW_CORR_BASELINE:
			break;
		default:
			return aw_error_set(err, "line %u: correlation.condition is required for "
						 "%s",
					    c->line, type);
		}
	}
	switch (r->corr.type) {
	case AW_CORR_VALUE_COUNT:
	case AW_CORR_VALUE_SUM:
	case AW_CORR_VALUE_AVG:
		if (!r->corr_field)
			return aw_error_set(err, "line %u: correlation.condition.field is required "
						 "for %s",
					    c->line, type);
		break;
	case AW_CORR_FIRST_SEEN: {
		const char *f = scalar(aw_node_get(c, "field"));
		uint64_t learn = 0;
		if (!f && !r->corr_field)
			return aw_error_set(err, "line %u: first_seen needs `field:` (the value "
						 "to learn)",
					    c->line);
		if (f) {
			free(r->corr_field);
			r->corr_field = strdup(f);
		}
		if (parse_timespan(scalar(aw_node_get(c, "learning")), &learn) != 0)
			return aw_error_set(err, "line %u: first_seen needs `learning:` as "
						 "<number><unit> (e.g. 7d)",
					    c->line);
		r->corr.learning_ms = learn;
		break;
	}
	case AW_CORR_BASELINE: {
		double hist = 24, factor = 5, minc = 10;
		if ((n = aw_node_get(c, "history")) && (parse_number(n, &hist) != 0 || hist < 2 ||
							hist > 10000))
			return aw_error_set(err, "line %u: baseline history must be 2..10000 "
						 "buckets",
					    n->line);
		if ((n = aw_node_get(c, "factor")) && (parse_number(n, &factor) != 0 || factor <= 1))
			return aw_error_set(err, "line %u: baseline factor must be a number > 1",
					    n->line);
		if ((n = aw_node_get(c, "min_count")) && (parse_number(n, &minc) != 0 || minc < 1))
			return aw_error_set(err, "line %u: baseline min_count must be >= 1",
					    n->line);
		r->corr.history_buckets = (size_t)hist;
		r->corr.factor = factor;
		r->corr.min_count = minc;
		break;
	}
	default:
		break;
	}
	if ((n = aw_node_get(c, "aliases")) && compile_aliases(n, r, err) != 0)
		return -1;
	/* `generate` may sit inside correlation (spec 2.0) or at the top (2.1). */
	n = aw_node_get(c, "generate");
	if (n) {
		const char *g = scalar(n);
		if (!g || (strcmp(g, "true") != 0 && strcmp(g, "false") != 0))
			return aw_error_set(err, "line %u: generate must be true or false", n->line);
		r->generate = strcmp(g, "true") == 0;
	}
	return 0;
}

/* --- the document ---------------------------------------------------------------- */

static const char *const levels[] = {"informational", "low", "medium", "high", "critical", NULL};

int aw_sigma_rule_compile(const struct aw_node *root, const char *file,
			  const struct aw_sigma_compile_ctx *ctx, struct aw_sigma_rule **out,
			  struct aw_error *err)
{
	struct aw_sigma_rule *r;
	const struct aw_node *n, *ls;

	if (!root || root->kind != AW_NODE_MAP)
		return aw_error_set(err, "a rule must be a YAML map");
	r = calloc(1, sizeof *r);
	if (!r)
		return aw_error_set(err, "out of memory");
	r->line = root->line;
	r->file = strdup(file ? file : "");
	r->id = scalar(aw_node_get(root, "id")) ? strdup(scalar(aw_node_get(root, "id"))) : NULL;
	r->name = scalar(aw_node_get(root, "name")) ? strdup(scalar(aw_node_get(root, "name")))
						   : NULL;
	if (!scalar(aw_node_get(root, "title"))) {
		aw_error_set(err, "title is required");
		goto fail;
	}
	r->title = strdup(scalar(aw_node_get(root, "title")));
	if ((n = aw_node_get(root, "description")) && scalar(n))
		r->description = strdup(n->value);
	if ((n = aw_node_get(root, "status")) && scalar(n))
		r->status = dup_lower(n->value);
	if ((n = aw_node_get(root, "level"))) {
		bool ok = false;
		for (size_t i = 0; scalar(n) && levels[i]; i++)
			ok |= strcmp(n->value, levels[i]) == 0;
		if (!ok) {
			aw_error_set(err, "line %u: level must be informational, low, medium, high "
					  "or critical",
				     n->line);
			goto fail;
		}
		r->level = strdup(n->value);
	}
	if (string_list(aw_node_get(root, "tags"), &r->tags, &r->ntags) != 0) {
		aw_error_set(err, "tags must be a list of strings");
		goto fail;
	}
	if (string_list(aw_node_get(root, "falsepositives"), &r->falsepositives,
			&r->nfalsepositives) != 0) {
		aw_error_set(err, "falsepositives must be a string or a list of strings");
		goto fail;
	}
	if ((ls = aw_node_get(root, "logsource"))) {
		if (ls->kind != AW_NODE_MAP) {
			aw_error_set(err, "line %u: logsource must be a map", ls->line);
			goto fail;
		}
		r->product = dup_lower(scalar(aw_node_get(ls, "product")));
		r->service = dup_lower(scalar(aw_node_get(ls, "service")));
		r->category = dup_lower(scalar(aw_node_get(ls, "category")));
	}
	if ((n = aw_node_get(root, "generate"))) {
		const char *g = scalar(n);
		if (!g || (strcmp(g, "true") != 0 && strcmp(g, "false") != 0)) {
			aw_error_set(err, "line %u: generate must be true or false", n->line);
			goto fail;
		}
		r->generate = strcmp(g, "true") == 0;
	}

	if ((n = aw_node_get(root, "correlation"))) {
		r->kind = AW_SIGMA_CORRELATION;
		if (compile_correlation(n, r, err) != 0)
			goto fail;
	} else if ((n = aw_node_get(root, "filter"))) {
		const struct aw_node *rules = aw_node_get(n, "rules");
		r->kind = AW_SIGMA_FILTER;
		if (!ls) {
			aw_error_set(err, "a filter needs a logsource");
			goto fail;
		}
		if (scalar(rules) && strcmp(rules->value, "any") == 0) {
			r->refs_any = true;
		} else if (string_list(rules, &r->refs, &r->nrefs) != 0) {
			aw_error_set(err, "filter.rules must list rule ids or names, or be 'any'");
			goto fail;
		}
		if (r->nrefs == 0)
			r->refs_any = true;
		if (compile_detection(n, "filter", ctx, &r->det, err) != 0)
			goto fail;
	} else {
		r->kind = AW_SIGMA_DETECTION;
		if (!ls) {
			aw_error_set(err, "logsource is required");
			goto fail;
		}
		if (compile_detection(aw_node_get(root, "detection"), "detection", ctx, &r->det,
				      err) != 0)
			goto fail;
	}
	*out = r;
	return 0;
fail:
	aw_sigma_rule_free(r);
	return -1;
}

void aw_sigma_rule_free(struct aw_sigma_rule *r)
{
	if (!r)
		return;
	free_detection(&r->det);
	free(r->file);
	free(r->id);
	free(r->name);
	free(r->title);
	free(r->description);
	free(r->level);
	free(r->status);
	free_list(r->tags, r->ntags);
	free_list(r->falsepositives, r->nfalsepositives);
	free(r->product);
	free(r->service);
	free(r->category);
	free_list(r->refs, r->nrefs);
	free_list(r->group_by, r->ngroup_by);
	free(r->corr_field);
	for (size_t i = 0; i < r->naliases; i++) {
		free(r->aliases[i].alias);
		free_list(r->aliases[i].rule, r->aliases[i].n);
		free_list(r->aliases[i].field, r->aliases[i].n);
	}
	free(r->aliases);
	free(r);
}

void aw_sigma_rules_free(struct aw_sigma_rules *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		aw_sigma_rule_free(rs->v[i]);
	free(rs->v);
	memset(rs, 0, sizeof *rs);
}

/* --- files and directories ---------------------------------------------------------- */

static int push_rule(struct aw_sigma_rules *rs, struct aw_sigma_rule *r)
{
	if (rs->n == rs->cap) {
		size_t ncap = rs->cap ? rs->cap * 2 : 64;
		struct aw_sigma_rule **nv = realloc(rs->v, ncap * sizeof *nv);
		if (!nv)
			return -1;
		rs->v = nv;
		rs->cap = ncap;
	}
	rs->v[rs->n++] = r;
	return 0;
}

static int load_file(const char *path, const struct aw_sigma_compile_ctx *ctx,
		     struct aw_sigma_rules *out, struct aw_error_list *errs)
{
	struct aw_doc **docs = NULL;
	size_t ndocs = 0;
	int failed = 0;

	if (aw_doc_load_all_file(path, &docs, &ndocs, errs) != 0)
		return 1;
	for (size_t i = 0; i < ndocs; i++) {
		struct aw_sigma_rule *r = NULL;
		struct aw_error err;
		const struct aw_node *root = docs[i]->root;
		if (!root)
			continue;
		if (aw_sigma_rule_compile(root, path, ctx, &r, &err) != 0) {
			const char *id = scalar(aw_node_get(root, "id"));
			const char *title = scalar(aw_node_get(root, "title"));
			aw_error_list_add(errs, "%s:%u: rule %s: %s", path, root->line,
					  id ? id : title ? title : "(untitled)", err.msg);
			failed++;
			continue;
		}
		if (push_rule(out, r) != 0) {
			aw_sigma_rule_free(r);
			aw_error_list_add(errs, "%s: out of memory", path);
			failed++;
		}
	}
	aw_doc_free_all(docs, ndocs);
	return failed;
}

static int has_rule_suffix(const char *name)
{
	size_t n = strlen(name);

	return (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
	       (n > 5 && strcmp(name + n - 5, ".yaml") == 0);
}

static int load_dir(const char *dir, const struct aw_sigma_compile_ctx *ctx,
		    struct aw_sigma_rules *out, struct aw_error_list *errs, unsigned depth,
		    size_t *files)
{
	struct dirent **ents = NULL;
	int n, failed = 0;

	if (depth > 16) {
		aw_error_list_add(errs, "%s: rule directories nested deeper than 16 levels", dir);
		return 1;
	}
	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0) {
		aw_error_list_add(errs, "%s: cannot read rule directory: %s", dir, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		char *path = NULL;
		struct stat st;
		const char *name = ents[i]->d_name;
		if (name[0] == '.' || asprintf(&path, "%s/%s", dir, name) < 0) {
			free(ents[i]);
			continue;
		}
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			failed += load_dir(path, ctx, out, errs, depth + 1, files);
		} else if (S_ISREG(st.st_mode) && has_rule_suffix(name)) {
			if (++*files > MAX_RULE_FILES) {
				if (*files == MAX_RULE_FILES + 1)
					aw_error_list_add(errs, "%s: more than %d rule files; the rest "
								"are not loaded",
							  dir, MAX_RULE_FILES);
				failed++;
			} else {
				failed += load_file(path, ctx, out, errs);
			}
		}
		free(path);
		free(ents[i]);
	}
	free(ents);
	return failed;
}

int aw_sigma_load_path(const char *path, const struct aw_sigma_compile_ctx *ctx,
		       struct aw_sigma_rules *out, struct aw_error_list *errs)
{
	struct stat st;
	size_t files = 0;

	if (stat(path, &st) != 0) {
		aw_error_list_add(errs, "%s: cannot read rules: %s", path, strerror(errno));
		return 1;
	}
	if (S_ISDIR(st.st_mode))
		return load_dir(path, ctx, out, errs, 0, &files);
	return load_file(path, ctx, out, errs);
}
