/* Rule set: loading, reference resolution, filters and routing. See ruleset.h. */
#include "ruleset.h"
#include "rule_index.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* The columns classification reads. */
enum class_col { COL_NONE = -1, COL_PROVIDER, COL_CATEGORY, COL_CATEGORY_VALUE, NCOLS };

/* Which events a `logsource: {product: azure, service: X}` rule sees (design.md). One
 * table: a table name, optionally narrowed by the record's ResourceProvider. */
static const struct {
	const char *table;
	const char *provider;   /* NULL: any */
	const char *service;
	enum class_col category; /* the column that holds the category */
} logsource_map[] = {
	{"AzureDiagnostics", "MICROSOFT.COGNITIVESERVICES", "openai", COL_CATEGORY},
	{"AzureDiagnostics", "MICROSOFT.KEYVAULT", "keyvault", COL_CATEGORY},
	{"AZKVAuditLogs", NULL, "keyvault", COL_CATEGORY},
	{"AzureActivity", NULL, "activitylogs", COL_CATEGORY_VALUE},
	{"AmlOnlineEndpointTrafficLog", NULL, "ml_endpoint", COL_NONE},
	{"SecurityAlert", NULL, "defender_alerts", COL_NONE},
	{"SecurityRecommendation", NULL, "defender_recommendations", COL_NONE},
	{"AIWatchPosture", NULL, "posture", COL_NONE},
};

/* Field references for those columns, made once per process; each has its field id,
 * so the view remembers the column like a rule's field: the rules that follow often
 * read the same one. */
static const char *const class_names[NCOLS] = {"ResourceProvider", "Category", "CategoryValue"};
static struct aw_field_ref class_refs[NCOLS];
static pthread_once_t class_once = PTHREAD_ONCE_INIT;

static void class_refs_init(void)
{
	struct aw_error err;

	/* kept for the life of the process; without memory, a plain ref still works */
	for (size_t i = 0; i < NCOLS; i++)
		if (aw_field_ref_init(&class_refs[i], class_names[i], &err) < 0)
			class_refs[i] = (struct aw_field_ref){
			    .name = (char *)class_names[i], .len = strlen(class_names[i])};
}

struct first_string {
	const char *s;
	size_t len;
};

static int take_string(void *ud, const struct aw_val *v)
{
	struct first_string *f = ud;

	if (v->kind != AW_VAL_STRING)
		return 0;
	f->s = v->s;
	f->len = v->len;
	return 1;
}

/* The first string value of a column as the classifier reads it: at most max bytes
 * (the buffer it is compared in), "" when absent. The bytes stay valid until the view's
 * next reset. */
static struct first_string column_text(struct aw_event_view *ev, enum class_col col, size_t max)
{
	struct first_string fs = {.s = "", .len = 0};

	pthread_once(&class_once, class_refs_init);
	/* a plain string column, as these are, without the general lookup */
	switch (aw_event_view_peek_string(ev, &class_refs[col], &fs.s, &fs.len)) {
	case 1:
		break;
	case 0:
		fs.s = "";
		fs.len = 0;
		break;
	default:
		aw_event_view_get(ev, &class_refs[col], take_string, &fs, NULL);
		break;
	}
	if (fs.len > max)
		fs.len = max;
	return fs;
}

static void put_text(char *buf, size_t *len, struct first_string t)
{
	memcpy(buf, t.s, t.len);
	buf[t.len] = '\0';
	*len = t.len;
}

static bool same_text(const char *buf, size_t len, struct first_string t)
{
	return len == t.len && memcmp(buf, t.s, len) == 0;
}

/* Classify from the columns' text held in memo (provider read or not). */
static void classify_memo(struct aw_class_memo *m, const char *table)
{
	m->entry = -1;
	for (size_t i = 0; table && i < sizeof logsource_map / sizeof logsource_map[0]; i++) {
		if (strcmp(logsource_map[i].table, table) != 0)
			continue;
		if (logsource_map[i].provider &&
		    strcasecmp(m->provider, logsource_map[i].provider) != 0)
			continue;
		m->entry = (int)i;
		return;
	}
}

/* Records of one table and category usually come in runs: the last answer is kept, and
 * reused when the table and the columns classification read are byte for byte the
 * same (so the answer is too). */
const struct aw_rs_route *aw_ruleset_classify(const struct aw_ruleset *rs, const char *table,
					      struct aw_event_view *ev, struct aw_class_memo *m,
					      uint64_t *catmask)
{
	bool provider = false;
	struct first_string p = {0}, c = {0};

	if (!table)
		table = "";
	if (m->have && strcmp(m->table, table) == 0) {
		/* whether the table's entries tell providers apart: known for the last table */
		provider = m->by_provider;
		if (provider)
			p = column_text(ev, COL_PROVIDER, sizeof m->provider - 1);
		if (!provider || same_text(m->provider, m->plen, p)) {
			if (m->entry < 0 || logsource_map[m->entry].category == COL_NONE)
				goto hit;
			c = column_text(ev, logsource_map[m->entry].category,
					sizeof m->category - 1);
			if (same_text(m->category, m->clen, c))
				goto hit;
		}
	} else {
		for (size_t i = 0; i < sizeof logsource_map / sizeof logsource_map[0]; i++)
			if (logsource_map[i].provider && strcmp(logsource_map[i].table, table) == 0)
				provider = true;
		if (provider)
			p = column_text(ev, COL_PROVIDER, sizeof m->provider - 1);
	}
	/* a miss: classify anew from the columns' text */
	m->have = false;
	m->plen = m->clen = 0;
	m->provider[0] = m->category[0] = '\0';
	if (provider)
		put_text(m->provider, &m->plen, p);
	classify_memo(m, table);
	m->service = m->entry >= 0 ? logsource_map[m->entry].service : NULL;
	if (m->entry >= 0 && logsource_map[m->entry].category != COL_NONE)
		put_text(m->category, &m->clen,
			 column_text(ev, logsource_map[m->entry].category, sizeof m->category - 1));
	m->route = aw_ruleset_route(rs, m->service);
	m->catmask = m->route ? aw_ruleset_category_mask(m->route, m->category) : 0;
	/* a table name too long to keep is classified every time */
	if (strlen(table) < sizeof m->table) {
		memcpy(m->table, table, strlen(table) + 1);
		m->by_provider = provider;
		m->have = true;
	}
hit:
	if (catmask)
		*catmask = m->catmask;
	return m->route;
}

static bool service_known(const char *service)
{
	for (size_t i = 0; i < sizeof logsource_map / sizeof logsource_map[0]; i++)
		if (strcmp(logsource_map[i].service, service) == 0)
			return true;
	return false;
}

/* --- references ---------------------------------------------------------------- */

static bool rule_named(const struct aw_sigma_rule *r, const char *ref)
{
	return (r->id && strcmp(r->id, ref) == 0) || (r->name && strcmp(r->name, ref) == 0);
}

static long find_rule(const struct aw_ruleset *rs, const char *ref)
{
	for (size_t i = 0; i < rs->nrules; i++)
		if (rule_named(rs->rules[i].rule, ref))
			return (long)i;
	return -1;
}

static long find_corr(const struct aw_ruleset *rs, const char *ref)
{
	for (size_t i = 0; i < rs->ncorrs; i++)
		if (rule_named(rs->corrs[i].rule, ref))
			return (long)i;
	return -1;
}

static int add_feed(struct aw_rs_feed **v, size_t *n, size_t corr, size_t pos)
{
	struct aw_rs_feed *nv = realloc(*v, (*n + 1) * sizeof *nv);

	if (!nv)
		return -1;
	nv[*n] = (struct aw_rs_feed){.corr = corr, .pos = pos};
	*v = nv;
	(*n)++;
	return 0;
}

/* The field a referenced rule's events hold for group-by name `g`: an alias maps it per
 * rule (by the rule's name), otherwise it is the field of that name. */
static const char *group_field_for(const struct aw_sigma_rule *corr, const char *g,
				   const struct aw_sigma_rule *ref)
{
	for (size_t a = 0; a < corr->naliases; a++) {
		if (strcmp(corr->aliases[a].alias, g) != 0)
			continue;
		for (size_t k = 0; k < corr->aliases[a].n; k++)
			if (rule_named(ref, corr->aliases[a].rule[k]))
				return corr->aliases[a].field[k];
	}
	return g;
}

static int link_correlation(struct aw_ruleset *rs, size_t ci,
			    const struct aw_sigma_compile_ctx *cctx, struct aw_error_list *errs)
{
	struct aw_rs_corr *c = &rs->corrs[ci];
	const struct aw_sigma_rule *r = c->rule;
	struct aw_error err;

	c->group_fields = calloc(r->nrefs, sizeof *c->group_fields);
	if (!c->group_fields)
		return -1;
	for (size_t p = 0; p < r->nrefs; p++) {
		long di = find_rule(rs, r->refs[p]);
		long cj = di < 0 ? find_corr(rs, r->refs[p]) : -1;
		const struct aw_sigma_rule *ref;
		if (di < 0 && cj < 0)
			return aw_error_list_add(errs, "%s:%u: correlation %s: names rule '%s', "
						       "which is not loaded",
						 r->file, r->line, r->id ? r->id : r->title,
						 r->refs[p]);
		if (cj == (long)ci)
			return aw_error_list_add(errs, "%s:%u: correlation %s references itself",
						 r->file, r->line, r->id ? r->id : r->title);
		if (di >= 0) {
			ref = rs->rules[di].rule;
			if (add_feed(&rs->rules[di].feeds, &rs->rules[di].nfeeds, ci, p) != 0)
				return -1;
			if (!r->generate)
				rs->rules[di].silent = true;
		} else {
			ref = rs->corrs[cj].rule;
			if (add_feed(&rs->corrs[cj].feeds, &rs->corrs[cj].nfeeds, ci, p) != 0)
				return -1;
			rs->corrs[cj].silent = true;
		}
		c->group_fields[p] = calloc(r->ngroup_by ? r->ngroup_by : 1,
					    sizeof *c->group_fields[p]);
		if (!c->group_fields[p])
			return -1;
		for (size_t g = 0; g < r->ngroup_by; g++) {
			if (aw_field_ref_init(&c->group_fields[p][g],
					      aw_sigma_map_field(cctx, group_field_for(r, r->group_by[g],
										  ref)),
					      &err) != 0)
				return aw_error_list_add(errs, "%s:%u: correlation %s: %s", r->file,
							 r->line, r->id ? r->id : r->title, err.msg);
		}
	}
	if (r->corr_field) {
		if (aw_field_ref_init(&c->value_field, aw_sigma_map_field(cctx, r->corr_field),
				      &err) != 0)
			return aw_error_list_add(errs, "%s:%u: correlation %s: %s", r->file, r->line,
						 r->id ? r->id : r->title, err.msg);
		c->has_value_field = true;
	}
	return 0;
}

/* --- filters and literals ---------------------------------------------------------- */

static bool logsource_covers(const struct aw_sigma_rule *f, const struct aw_sigma_rule *r)
{
	return (!f->product || (r->product && strcmp(f->product, r->product) == 0)) &&
	       (!f->service || (r->service && strcmp(f->service, r->service) == 0)) &&
	       (!f->category || (r->category && strcmp(f->category, r->category) == 0));
}

static int attach_filter(struct aw_ruleset *rs, struct aw_sigma_rule *f,
			 struct aw_error_list *errs)
{
	size_t matched = 0;

	for (size_t i = 0; i < rs->nrules; i++) {
		struct aw_rs_rule *rr = &rs->rules[i];
		bool named = f->refs_any;
		for (size_t k = 0; k < f->nrefs && !named; k++)
			named = rule_named(rr->rule, f->refs[k]);
		if (!named || !logsource_covers(f, rr->rule))
			continue;
		struct aw_sigma_rule **nv = realloc(rr->filters, (rr->nfilters + 1) * sizeof *nv);
		if (!nv)
			return -1;
		nv[rr->nfilters++] = f;
		rr->filters = nv;
		matched++;
	}
	for (size_t k = 0; k < f->nrefs; k++)
		if (find_rule(rs, f->refs[k]) < 0)
			aw_error_list_add(errs, "%s:%u: filter %s: names rule '%s', which is not "
						"loaded",
					  f->file, f->line, f->id ? f->id : f->title, f->refs[k]);
	(void)matched;
	return 0;
}

/* The longest literal among the items the condition requires, and whether the rule
 * is costly enough that searching for it first pays. */
static void choose_literal(struct aw_rs_rule *rr)
{
	const struct aw_sigma_detection *d = &rr->rule->det;
	bool *req = calloc(d->nidents ? d->nidents : 1, sizeof *req);
	const char *best = NULL;
	size_t best_len = 0;

	if (!req)
		return;
	aw_cond_required(d->cond, req, d->nidents);
	for (size_t i = 0; i < d->nidents; i++)
		for (size_t g = 0; g < d->idents[i].ngroups; g++)
			for (size_t k = 0; k < d->idents[i].groups[g].nitems; k++)
				rr->costly |= aw_sigma_item_costly(d->idents[i].groups[g].items[k]);
	for (size_t i = 0; i < d->nidents; i++) {
		if (!req[i] || d->idents[i].ngroups != 1)
			continue;
		for (size_t k = 0; k < d->idents[i].groups[0].nitems; k++) {
			size_t len = 0;
			const char *lit =
				aw_sigma_item_required_literal(d->idents[i].groups[0].items[k], &len);
			if (lit && len > best_len) {
				best = lit;
				best_len = len;
			}
		}
	}
	free(req);
	if (best && (rr->literal = malloc(best_len + 1))) {
		memcpy(rr->literal, best, best_len);
		rr->literal[best_len] = '\0';
		rr->literal_len = best_len;
	}
}

/* --- routing ---------------------------------------------------------------------- */

static struct aw_rs_route *route_for(struct aw_ruleset *rs, const char *service)
{
	for (size_t i = 0; i < rs->nroutes; i++)
		if (strcmp(rs->routes[i].service, service) == 0)
			return &rs->routes[i];
	struct aw_rs_route *nv = realloc(rs->routes, (rs->nroutes + 1) * sizeof *nv);
	if (!nv)
		return NULL;
	rs->routes = nv;
	nv = &rs->routes[rs->nroutes];
	memset(nv, 0, sizeof *nv);
	if (!(nv->service = strdup(service)))
		return NULL;
	rs->nroutes++;
	return nv;
}

const struct aw_rs_route *aw_ruleset_route(const struct aw_ruleset *rs, const char *service)
{
	for (size_t i = 0; service && i < rs->nroutes; i++)
		if (strcmp(rs->routes[i].service, service) == 0)
			return &rs->routes[i];
	return NULL;
}

static int route_rule(struct aw_ruleset *rs, size_t idx)
{
	const struct aw_sigma_rule *r = rs->rules[idx].rule;
	struct aw_rs_route *rt;
	size_t *nv;

	if (!r->product || strcmp(r->product, "azure") != 0 || !r->service ||
	    !service_known(r->service)) {
		rs->unrouted++;
		return 0;
	}
	rt = route_for(rs, r->service);
	if (!rt || !(nv = realloc(rt->rules, (rt->n + 1) * sizeof *nv)))
		return -1;
	nv[rt->n++] = idx;
	rt->rules = nv;
	rs->rules[idx].cat = -1;
	if (!r->category)
		return 0;
	for (size_t c = 0; c < rt->ncats; c++) {
		if (strcasecmp(rt->cats[c], r->category) == 0) {
			rs->rules[idx].cat = (int)c;
			return 0;
		}
	}
	char **nc = realloc(rt->cats, (rt->ncats + 1) * sizeof *nc);
	if (!nc)
		return -1;
	rt->cats = nc;
	if (!(nc[rt->ncats] = strdup(r->category)))
		return -1;
	rs->rules[idx].cat = (int)rt->ncats++;
	return 0;
}

uint64_t aw_ruleset_category_mask(const struct aw_rs_route *rt, const char *category)
{
	uint64_t m = 0;

	for (size_t c = 0; c < rt->ncats && c < AW_RS_MAX_CATS; c++)
		if (strcasecmp(rt->cats[c], category) == 0)
			m |= (uint64_t)1 << c;
	return m;
}

/* --- load ---------------------------------------------------------------------------- */

struct aw_ruleset *aw_ruleset_load(const struct aw_ruleset_conf *conf, struct aw_error_list *errs)
{
	struct aw_ruleset *rs = calloc(1, sizeof *rs);
	struct aw_error err;

	if (!rs)
		return NULL;
	rs->budget.max_groups_total = conf->max_groups_total ? conf->max_groups_total : 1000000;
	rs->budget.allowed_lateness_ms = conf->allowed_lateness_ms;
	for (size_t i = 0; i < conf->npaths; i++)
		aw_sigma_load_path(conf->paths[i], &conf->compile, &rs->all, errs);

	rs->rules = calloc(rs->all.n ? rs->all.n : 1, sizeof *rs->rules);
	rs->corrs = calloc(rs->all.n ? rs->all.n : 1, sizeof *rs->corrs);
	if (!rs->rules || !rs->corrs)
		goto oom;
	for (size_t i = 0; i < rs->all.n; i++) {
		struct aw_sigma_rule *r = rs->all.v[i];
		bool dup = false;
		for (size_t j = 0; j < i && r->id; j++)
			dup |= rs->all.v[j]->id && strcmp(rs->all.v[j]->id, r->id) == 0;
		if (dup) {
			aw_error_list_add(errs, "%s:%u: rule %s: the id is already used by another "
						"rule; this one is not loaded",
					  r->file, r->line, r->id);
			continue;
		}
		if (r->kind == AW_SIGMA_DETECTION)
			rs->rules[rs->nrules++].rule = r;
		else if (r->kind == AW_SIGMA_CORRELATION)
			rs->corrs[rs->ncorrs++].rule = r;
	}
	for (size_t i = 0; i < rs->ncorrs; i++) {
		struct aw_rs_corr *c = &rs->corrs[i];
		size_t maxg = conf->max_groups_per_rule ? conf->max_groups_per_rule : 100000;
		c->state = aw_corr_new(&c->rule->corr, maxg, &rs->budget, &err);
		if (!c->state) {
			aw_error_list_add(errs, "%s:%u: correlation %s: %s", c->rule->file,
					  c->rule->line, c->rule->id ? c->rule->id : c->rule->title,
					  err.msg);
			continue;
		}
		if (link_correlation(rs, i, &conf->compile, errs) != 0) {
			/* A broken correlation is taken out: its state never receives a match. */
			aw_corr_free(c->state);
			c->state = NULL;
		}
	}
	for (size_t i = 0; i < rs->all.n; i++)
		if (rs->all.v[i]->kind == AW_SIGMA_FILTER && attach_filter(rs, rs->all.v[i], errs) != 0)
			goto oom;
	for (size_t i = 0; i < rs->nrules; i++) {
		choose_literal(&rs->rules[i]);
		if (route_rule(rs, i) != 0)
			goto oom;
	}
	/* without an index every routed rule is evaluated: slower, still correct */
	for (size_t i = 0; i < rs->nroutes; i++)
		rs->routes[i].index =
			aw_rule_index_build(rs->rules, rs->routes[i].rules, rs->routes[i].n);
	return rs;
oom:
	aw_error_list_add(errs, "rules: out of memory");
	aw_ruleset_free(rs);
	return NULL;
}

void aw_ruleset_free(struct aw_ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->nrules; i++) {
		free(rs->rules[i].filters);
		free(rs->rules[i].feeds);
		free(rs->rules[i].literal);
	}
	for (size_t i = 0; i < rs->ncorrs; i++) {
		struct aw_rs_corr *c = &rs->corrs[i];
		aw_corr_free(c->state);
		free(c->feeds);
		for (size_t p = 0; c->group_fields && p < c->rule->nrefs; p++) {
			for (size_t g = 0; c->group_fields[p] && g < c->rule->ngroup_by; g++)
				aw_field_ref_free(&c->group_fields[p][g]);
			free(c->group_fields[p]);
		}
		free(c->group_fields);
		if (c->has_value_field)
			aw_field_ref_free(&c->value_field);
	}
	for (size_t i = 0; i < rs->nroutes; i++) {
		free(rs->routes[i].service);
		free(rs->routes[i].rules);
		for (size_t c = 0; c < rs->routes[i].ncats; c++)
			free(rs->routes[i].cats[c]);
		free(rs->routes[i].cats);
		aw_rule_index_free(rs->routes[i].index);
	}
	free(rs->routes);
	free(rs->rules);
	free(rs->corrs);
	aw_sigma_rules_free(&rs->all);
	free(rs);
}
