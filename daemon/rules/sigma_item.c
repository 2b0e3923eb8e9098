/* Sigma detection items: values compiled into matchers, and their evaluation against
 * an event view (see sigma_item.h). The modifier chain of a key, YAML typing and the
 * modifiers that rewrite values are in sigma_modifiers.c.
 *
 * An item is a list of value groups. Each YAML value becomes one group; its
 * alternatives are what the transformation modifiers expanded it to (windash,
 * base64offset, expand), so a group matches when any alternative does. The groups are
 * OR-ed, or AND-ed with `all`; `neq` negates the result. Each event value the view
 * hands over (the field, and each element when it is an array) is tried against the
 * groups, so arrays match element-wise and an array's JSON text is tried too. */
#include "sigma_item.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field_id.h"
#include "sigma_item_int.h"
#include "sigma_string.h"

#define AW_SIGMA_WINDASH_DEFAULT 1024
#define AW_SIGMA_REQ_MIN	 3
#define AW_SIGMA_REQ_MAX	 256
/* Past this many values an item costs more than one substring search of the record. */
#define AW_SIGMA_COSTLY_VALUES	 16
#define AW_SIGMA_ITEM_ID_MAX	 2048 /* longest item text given an id */

enum alt_kind { A_STR, A_NUM, A_BOOL, A_CIDR, A_CMP, A_FIELDREF };
enum fr_how { FR_EQ, FR_CONTAINS, FR_PREFIX, FR_SUFFIX };

struct alt {
	enum alt_kind kind;
	struct aw_sigma_str *str; /* A_STR */
	double num;		  /* A_NUM, A_CMP */
	long long ival;		  /* A_NUM when is_int */
	bool is_int;
	char *text; /* A_NUM: the value as written */
	bool b;	    /* A_BOOL */
	int family; /* A_CIDR: 4 or 6 */
	unsigned char net[16];
	unsigned bits;
	enum aw_sigma_mod op;	 /* A_CMP */
	struct aw_field_ref ref; /* A_FIELDREF */
	enum fr_how how;
};

struct group {
	struct alt *alts;
	size_t n;
};

enum item_mode { IM_VALUES, IM_NULL, IM_EXISTS, IM_KEYWORDS };

struct aw_sigma_item {
	enum item_mode mode;
	char *field; /* NULL for keywords */
	struct aw_field_ref ref;
	bool all, neq, cased, want; /* want: exists true/false */
	struct group *groups;
	size_t ngroups;
	char *req; /* required literal, folded */
	size_t reqlen;
	unsigned id; /* shared by items written alike (item_id); 0: none */
};

/* --- building values ------------------------------------------------------------------ */

static int parse_cidr(const char *text, struct alt *a, struct aw_error *err)
{
	char buf[64];
	const char *slash = strchr(text, '/');
	size_t al = slash ? (size_t)(slash - text) : strlen(text);
	unsigned max;

	if (al == 0 || al >= sizeof buf)
		goto bad;
	memcpy(buf, text, al);
	buf[al] = '\0';
	if (inet_pton(AF_INET, buf, a->net) == 1) {
		a->family = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, a->net) == 1) {
		a->family = 6;
		max = 128;
	} else {
		goto bad;
	}
	a->bits = max;
	if (slash) {
		const char *d = slash + 1;
		if (!*d || strlen(d) > 3 || d[strspn(d, "0123456789")] != '\0')
			goto bad;
		a->bits = (unsigned)strtoul(d, NULL, 10);
		if (a->bits > max)
			goto bad;
	}
	for (unsigned bit = a->bits; bit < max; bit++) {
		if (a->net[bit / 8] & (0x80 >> (bit % 8))) {
			return aw_error_set(err, "'cidr' value '%s' has host bits set after /%u",
					    text, a->bits);
		}
	}
	a->kind = A_CIDR;
	return 0;
bad:
	return aw_error_set(err, "'cidr' value '%s' is not an IPv4 or IPv6 network", text);
}

static bool has_wildcard(const char *s)
{
	struct aw_sigma_pat p = {0};
	bool wild;

	if (aw_sigma_pat_parse(&p, s, strlen(s), NULL) < 0)
		return true;
	wild = aw_sigma_pat_has_wild(&p);
	aw_sigma_pat_free(&p);
	return wild;
}

static int add_alt(struct group *g, struct alt *a)
{
	struct alt *na = realloc(g->alts, (g->n + 1) * sizeof *na);

	if (!na)
		return -1;
	g->alts = na;
	g->alts[g->n++] = *a;
	return 0;
}

static void alt_free(struct alt *a)
{
	aw_sigma_str_free(a->str);
	free(a->text);
	aw_field_ref_free(&a->ref);
}

/* Keep the longest required literal seen (for `all`, any value's literal will do). */
static void note_required(struct aw_sigma_item *it, const struct aw_sigma_pat *p)
{
	char buf[AW_SIGMA_REQ_MAX];
	size_t n = aw_sigma_pat_required(p, buf, sizeof buf);

	if (n < AW_SIGMA_REQ_MIN || n <= it->reqlen)
		return;
	char *r = malloc(n + 1);
	if (!r)
		return;
	memcpy(r, buf, n);
	r[n] = '\0';
	free(it->req);
	it->req = r;
	it->reqlen = n;
}

/* Compile one YAML value into group g. */
static int build_value(struct aw_sigma_item *it, const struct aw_sigma_chain *c,
		       const struct aw_sigma_scalar *tv, struct group *g, struct aw_sigma_build *bd)
{
	struct alt a = {0};
	struct aw_sigma_patvec pv = {0};
	int rc = -1;
	bool keyword = it->mode == IM_KEYWORDS;

	if (c->has[AW_MOD_RE]) {
		struct aw_sigma_re_opts o = {.icase = c->has[AW_MOD_I],
					     .multiline = c->has[AW_MOD_M],
					     .dotall = c->has[AW_MOD_S],
					     .match_limit =
						 bd->ctx ? bd->ctx->regex_match_limit : 0};
		a.kind = A_STR;
		if (aw_sigma_str_compile_regex(tv->text, strlen(tv->text), &o, &a.str, bd->err) < 0)
			goto out;
		goto add;
	}
	if (c->has[AW_MOD_CIDR]) {
		if (parse_cidr(tv->text, &a, bd->err) < 0)
			goto out;
		goto add;
	}
	if (c->cmp != AW_MOD_COUNT) {
		if (tv->k != AW_SCALAR_INT && tv->k != AW_SCALAR_FLOAT) {
			aw_error_set(bd->err, "'%s' needs a number, got '%s'",
				     c->name[aw_sigma_chain_find(c, c->cmp)], tv->text);
			goto out;
		}
		a.kind = A_CMP;
		a.op = c->cmp;
		a.num = tv->d;
		goto add;
	}
	if (c->has[AW_MOD_FIELDREF]) {
		if (has_wildcard(tv->text)) {
			aw_error_set(bd->err,
				     "'fieldref' value '%s' must be a field name, not a pattern",
				     tv->text);
			goto out;
		}
		a.kind = A_FIELDREF;
		a.how = c->has[AW_MOD_CONTAINS]	    ? FR_CONTAINS
			: c->has[AW_MOD_STARTSWITH] ? FR_PREFIX
			: c->has[AW_MOD_ENDSWITH]   ? FR_SUFFIX
						    : FR_EQ;
		if (c->has[AW_MOD_STARTSWITH] && c->has[AW_MOD_ENDSWITH])
			a.how = FR_CONTAINS;
		if (aw_field_ref_init(&a.ref, tv->text, bd->err) < 0)
			goto out;
		goto add;
	}
	bool stringy = keyword || c->has[AW_MOD_CASED];
	for (size_t k = 0; k < c->n; k++)
		stringy |= aw_sigma_mod_is_transform(c->m[k]);
	if (!stringy && (tv->k == AW_SCALAR_INT || tv->k == AW_SCALAR_FLOAT)) {
		a.kind = A_NUM;
		a.num = tv->d;
		a.is_int = tv->k == AW_SCALAR_INT;
		a.ival = tv->i;
		a.text = strdup(tv->text);
		if (!a.text)
			goto oom;
		goto add;
	}
	if (!stringy && tv->k == AW_SCALAR_BOOL) {
		a.kind = A_BOOL;
		a.b = tv->b;
		goto add;
	}
	const char *text = tv->k == AW_SCALAR_BOOL ? (tv->b ? "true" : "false") : tv->text;
	struct aw_sigma_pat *p0 = aw_sigma_patvec_push(&pv);
	if (!p0 || aw_sigma_pat_parse(p0, text, strlen(text), bd->err) < 0)
		goto oom;
	for (size_t k = 0; k < c->n; k++)
		if (aw_sigma_mod_is_transform(c->m[k]) &&
		    aw_sigma_transform(c->m[k], c->name[k], &pv, bd) < 0)
			goto out;
	/* A keyword is a substring of some string in the event (sigma.md §1.6). */
	if (keyword && !c->has[AW_MOD_CONTAINS] && !c->has[AW_MOD_STARTSWITH] &&
	    !c->has[AW_MOD_ENDSWITH] &&
	    aw_sigma_transform(AW_MOD_CONTAINS, "contains", &pv, bd) < 0)
		goto out;
	for (size_t k = 0; k < pv.n; k++) {
		struct alt s = {.kind = A_STR};
		if (aw_sigma_str_compile(&pv.v[k], c->has[AW_MOD_CASED], &s.str, bd->err) < 0)
			goto out;
		if (add_alt(g, &s) < 0) {
			alt_free(&s);
			goto oom;
		}
	}
	if (pv.n == 1 && !it->neq)
		note_required(it, &pv.v[0]);
	rc = 0;
	goto out;
add:
	if (add_alt(g, &a) < 0)
		goto oom;
	memset(&a, 0, sizeof a);
	rc = 0;
	goto out;
oom:
	if (bd->err && !bd->err->msg[0])
		aw_error_set(bd->err, "out of memory");
out:
	alt_free(&a);
	aw_sigma_patvec_free(&pv);
	return rc;
}

/* --- compile ------------------------------------------------------------------------- */

void aw_sigma_item_free(struct aw_sigma_item *it)
{
	if (!it)
		return;
	for (size_t k = 0; k < it->ngroups; k++) {
		for (size_t j = 0; j < it->groups[k].n; j++)
			alt_free(&it->groups[k].alts[j]);
		free(it->groups[k].alts);
	}
	free(it->groups);
	free(it->field);
	aw_field_ref_free(&it->ref);
	free(it->req);
	free(it);
}

static int compile_item(char *field, const struct aw_sigma_chain *c, const struct aw_node *value,
			const struct aw_sigma_compile_ctx *ctx, struct aw_sigma_item **out,
			struct aw_error *err)
{
	struct aw_sigma_item *it = calloc(1, sizeof *it);
	const struct aw_node *const *nodes = &value;
	size_t n = 1;
	struct aw_sigma_scalar *tv = NULL;
	struct aw_sigma_build bd = {.ctx = ctx, .err = err};

	*out = NULL;
	aw_error_clear(err);
	if (!it) {
		free(field);
		return aw_error_set(err, "out of memory");
	}
	it->field = field;
	it->mode = field ? IM_VALUES : IM_KEYWORDS;
	it->all = c->has[AW_MOD_ALL];
	it->neq = c->has[AW_MOD_NEQ];
	it->cased = c->has[AW_MOD_CASED];
	bd.max_variants =
	    ctx && ctx->windash_max_variants ? ctx->windash_max_variants : AW_SIGMA_WINDASH_DEFAULT;
	if (field && aw_field_ref_init(&it->ref, field, err) < 0)
		goto fail;
	if (!value) {
		aw_error_set(err, "missing value");
		goto fail;
	}
	if (value->kind == AW_NODE_MAP) {
		aw_error_set(err, "a value must be a scalar or a list of scalars, not a map");
		goto fail;
	}
	if (value->kind == AW_NODE_SEQ) {
		nodes = (const struct aw_node *const *)value->items;
		n = value->n;
	}
	tv = calloc(n ? n : 1, sizeof *tv);
	if (!tv) {
		aw_error_set(err, "out of memory");
		goto fail;
	}
	if (n == 0) {
		/* pySigma: an empty list is null */
		tv[0].k = AW_SCALAR_NULL;
		tv[0].text = "";
	}
	for (size_t k = 0; k < n; k++) {
		if (nodes[k]->kind != AW_NODE_SCALAR) {
			aw_error_set(err, "a value list may only hold scalars (item %zu is a %s)",
				     k + 1, nodes[k]->kind == AW_NODE_MAP ? "map" : "list");
			goto fail;
		}
		if (aw_sigma_scalar_type(nodes[k], &tv[k], err) < 0)
			goto fail;
	}
	if (n == 0)
		n = 1;
	if (c->has[AW_MOD_EXISTS]) {
		if (n != 1 || tv[0].k != AW_SCALAR_BOOL) {
			aw_error_set(err, "'exists' needs true or false, got '%s'",
				     value->kind == AW_NODE_SCALAR ? tv[0].text : "a list");
			goto fail;
		}
		it->mode = IM_EXISTS;
		it->want = tv[0].b;
		*out = it;
		free(tv);
		return 0;
	}
	for (size_t k = 0; k < n; k++) {
		if (tv[k].k != AW_SCALAR_NULL)
			continue;
		if (n > 1) {
			aw_error_set(err, "null is not allowed in a value list "
					  "(match it in a selection of its own)");
			goto fail;
		}
		if (!field) {
			aw_error_set(err, "null is not a keyword");
			goto fail;
		}
		for (size_t j = 0; j < c->n; j++) {
			if (c->m[j] != AW_MOD_NEQ) {
				aw_error_set(err, "null cannot be combined with '%s'", c->name[j]);
				goto fail;
			}
		}
		it->mode = IM_NULL;
		*out = it;
		free(tv);
		return 0;
	}
	if (it->all && n < 2) {
		aw_error_set(err, "'all' needs a list of two or more values");
		goto fail;
	}
	it->groups = calloc(n, sizeof *it->groups);
	if (!it->groups) {
		aw_error_set(err, "out of memory");
		goto fail;
	}
	it->ngroups = n;
	for (size_t k = 0; k < n; k++) {
		bd.vtext = tv[k].text;
		if (build_value(it, c, &tv[k], &it->groups[k], &bd) < 0)
			goto fail;
	}
	/* OR of several values: no single literal is required */
	if (n > 1 && !it->all) {
		free(it->req);
		it->req = NULL;
		it->reqlen = 0;
	}
	free(tv);
	*out = it;
	return 0;
fail:
	free(tv);
	aw_sigma_item_free(it);
	return -1;
}

static bool id_append(char *buf, size_t *n, const char *s, size_t len)
{
	if (*n + len > AW_SIGMA_ITEM_ID_MAX)
		return false;
	memcpy(buf + *n, s, len);
	*n += len;
	return true;
}

/* Rules repeat items (`ResultSignature: ['401', '403']` in a filter of several rules,
 * `OperationName` in every completion rule); items with the same key and the same
 * values match the same events. They get one id (field_id.h's result table's, for
 * their text), under which the event view keeps the result, so an event evaluates
 * each such item once. The key is already field-mapped; what else of the compile
 * context changes a result is in the text too (the regex match limit), or the item
 * gets no id (expand: its values come from the placeholders). 0 also when the text is
 * too long. */
static unsigned item_id(const char *key, const struct aw_node *value,
			const struct aw_sigma_chain *c, const struct aw_sigma_compile_ctx *ctx)
{
	char buf[AW_SIGMA_ITEM_ID_MAX];
	const struct aw_node *const *nodes = &value;
	size_t n = 0, nn = 1;

	if (c->has[AW_MOD_EXPAND])
		return 0;
	if (c->has[AW_MOD_RE]) {
		char lim[32];
		int l = snprintf(lim, sizeof lim, "re%u\x1d", ctx ? ctx->regex_match_limit : 0);
		if (l < 0 || !id_append(buf, &n, lim, (size_t)l))
			return 0;
	}

	/* '\x1f' and '\x1e' cannot be written in a rule's key, so no field name or
	 * other item's text reads the same */
	if (!id_append(buf, &n, key, strlen(key)) || !id_append(buf, &n, "\x1f", 1))
		return 0;
	if (value->kind == AW_NODE_SEQ) {
		nodes = (const struct aw_node *const *)value->items;
		nn = value->n;
		if (!id_append(buf, &n, "S", 1))
			return 0;
	}
	for (size_t k = 0; k < nn; k++) {
		const char *t = nodes[k]->value ? nodes[k]->value : "";
		if (nodes[k]->kind != AW_NODE_SCALAR ||
		    !id_append(buf, &n, nodes[k]->quoted ? "q" : "p", 1) ||
		    !id_append(buf, &n, t, strlen(t)) || !id_append(buf, &n, "\x1e", 1))
			return 0;
	}
	return aw_result_id(buf, n);
}

int aw_sigma_item_compile(const char *key, const struct aw_node *value,
			  const struct aw_sigma_compile_ctx *ctx, struct aw_sigma_item **out,
			  struct aw_error *err)
{
	struct aw_sigma_chain c;
	char *field = NULL;

	*out = NULL;
	aw_error_clear(err);
	if (aw_sigma_chain_parse(key ? key : "", &field, &c, err) < 0)
		return -1;
	if (compile_item(field, &c, value, ctx, out, err) < 0)
		return -1;
	(*out)->id = item_id(key ? key : "", value, &c, ctx);
	return 0;
}

int aw_sigma_keywords_compile(const struct aw_node *list, const struct aw_sigma_compile_ctx *ctx,
			      struct aw_sigma_item **out, struct aw_error *err)
{
	struct aw_sigma_chain c;

	aw_sigma_chain_init(&c);
	if (compile_item(NULL, &c, list, ctx, out, err) < 0)
		return -1;
	(*out)->id = item_id("", list, &c, ctx);
	return 0;
}

unsigned aw_sigma_item_id(const struct aw_sigma_item *it)
{
	return it->id;
}

/* --- matching ------------------------------------------------------------------------- */


/* The value's text as an exact int64 ("42", "-7"), for integers beyond 2^53. */
static bool val_int(const struct aw_val *v, long long *out)
{
	char buf[24];
	size_t i = 0;

	if (v->len == 0 || v->len >= sizeof buf)
		return false;
	if (v->s[0] == '-' || v->s[0] == '+')
		i++;
	if (i == v->len)
		return false;
	size_t first = i;
	uint64_t n = 0;
	for (; i < v->len; i++) {
		if (v->s[i] < '0' || v->s[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(v->s[i] - '0');
	}
	/* up to 18 digits cannot overflow: no strtoll, which costs more than the rest
	 * of the comparison */
	if (v->len - first <= 18) {
		*out = v->s[0] == '-' ? -(long long)n : (long long)n;
		return true;
	}
	memcpy(buf, v->s, v->len);
	buf[v->len] = '\0';
	errno = 0;
	long long x = strtoll(buf, NULL, 10);
	if (errno)
		return false;
	*out = x;
	return true;
}

static bool cidr_match(const struct alt *a, const struct aw_val *v)
{
	char buf[64];
	unsigned char addr[16];
	const unsigned char *cmp = addr;

	if (v->kind != AW_VAL_STRING || v->len == 0 || v->len >= sizeof buf)
		return false;
	memcpy(buf, v->s, v->len);
	buf[v->len] = '\0';
	if (a->family == 4) {
		if (inet_pton(AF_INET, buf, addr) != 1) {
			static const unsigned char mapped[12] = {0, 0, 0, 0, 0,	   0,
								 0, 0, 0, 0, 0xFF, 0xFF};
			if (inet_pton(AF_INET6, buf, addr) != 1 || memcmp(addr, mapped, 12) != 0)
				return false;
			cmp = addr + 12;
		}
	} else if (inet_pton(AF_INET6, buf, addr) != 1) {
		return false;
	}
	unsigned full = a->bits / 8, rest = a->bits % 8;
	if (memcmp(cmp, a->net, full) != 0)
		return false;
	if (rest) {
		unsigned char mask = (unsigned char)(0xFF << (8 - rest));
		return (cmp[full] & mask) == (a->net[full] & mask);
	}
	return true;
}

struct fr_state {
	const struct alt *a;
	const struct aw_val *left;
	bool cased;
	bool matched;
};

static int fr_cb(void *ud, const struct aw_val *b)
{
	struct fr_state *st = ud;
	const struct aw_val *a = st->left;

	if (b->kind == AW_VAL_NULL)
		return 0;
	switch (st->a->how) {
	case FR_EQ: {
		double x, y;
		if (aw_val_number(a, &x) && aw_val_number(b, &y))
			st->matched = x == y;
		else
			st->matched = aw_sigma_text_equal(a->s, a->len, b->s, b->len, st->cased);
		break;
	}
	case FR_CONTAINS:
		st->matched = aw_sigma_text_contains(a->s, a->len, b->s, b->len, st->cased);
		break;
	case FR_PREFIX:
		st->matched = aw_sigma_text_prefix(a->s, a->len, b->s, b->len, st->cased);
		break;
	case FR_SUFFIX:
		st->matched = aw_sigma_text_suffix(a->s, a->len, b->s, b->len, st->cased);
		break;
	}
	return st->matched;
}

static bool alt_match(const struct aw_sigma_item *it, const struct alt *a, const struct aw_val *v,
		      struct aw_event_view *ev)
{
	switch (a->kind) {
	case A_STR:
		return v->kind != AW_VAL_NULL && aw_sigma_str_match(a->str, v->s, v->len);
	case A_NUM: {
		double num;
		if (aw_val_number(v, &num)) {
			long long x;
			if (a->is_int && val_int(v, &x))
				return x == a->ival;
			if (num == a->num)
				return true;
		}
		return v->kind == AW_VAL_STRING &&
		       aw_sigma_text_equal(v->s, v->len, a->text, strlen(a->text), false);
	}
	case A_BOOL:
		if (v->kind == AW_VAL_BOOL)
			return v->b == a->b;
		return v->kind == AW_VAL_STRING &&
		       aw_sigma_text_equal(v->s, v->len, a->b ? "true" : "false", a->b ? 4 : 5,
					   false);
	case A_CIDR:
		return cidr_match(a, v);
	case A_CMP: {
		double num;
		if (!aw_val_number(v, &num))
			return false;
		if (a->op == AW_MOD_GT)
			return num > a->num;
		if (a->op == AW_MOD_GTE)
			return num >= a->num;
		if (a->op == AW_MOD_LT)
			return num < a->num;
		return num <= a->num;
	}
	case A_FIELDREF: {
		if (v->kind == AW_VAL_NULL)
			return false;
		struct fr_state st = {.a = a, .left = v, .cased = it->cased};
		aw_event_view_get(ev, &a->ref, fr_cb, &st, NULL);
		return st.matched;
	}
	}
	return false;
}

struct match_state {
	const struct aw_sigma_item *it;
	struct aw_event_view *ev;
	const struct group *g;
	size_t ng;
	bool matched;
};

static int groups_cb(void *ud, const struct aw_val *v)
{
	struct match_state *st = ud;

	for (size_t k = 0; k < st->ng; k++) {
		const struct group *g = &st->g[k];
		for (size_t j = 0; j < g->n; j++) {
			if (alt_match(st->it, &g->alts[j], v, st->ev)) {
				st->matched = true;
				return 1;
			}
		}
	}
	return 0;
}

static int null_cb(void *ud, const struct aw_val *v)
{
	bool *is_null = ud;

	*is_null = v->kind == AW_VAL_NULL;
	return *is_null;
}

static int stop_cb(void *ud, const struct aw_val *v)
{
	return 1;
}

/* Run the groups [from, from + ng) over the item's values (or all strings). */
static bool match_groups(const struct aw_sigma_item *it, struct aw_event_view *ev, size_t from,
			 size_t ng)
{
	struct match_state st = {.it = it, .ev = ev, .g = it->groups + from, .ng = ng};

	if (it->mode == IM_KEYWORDS)
		aw_event_view_each_string(ev, groups_cb, &st);
	else
		aw_event_view_get(ev, &it->ref, groups_cb, &st, NULL);
	return st.matched;
}

static bool item_match(const struct aw_sigma_item *it, struct aw_event_view *ev)
{
	bool r = true;

	switch (it->mode) {
	case IM_EXISTS:
		return (aw_event_view_get(ev, &it->ref, stop_cb, NULL, NULL) == 1) == it->want;
	case IM_NULL: {
		bool is_null = false;
		int present = aw_event_view_get(ev, &it->ref, null_cb, &is_null, NULL);
		r = !present || is_null;
		break;
	}
	default:
		if (!it->all) {
			r = match_groups(it, ev, 0, it->ngroups);
		} else {
			for (size_t k = 0; k < it->ngroups && r; k++)
				r = match_groups(it, ev, k, 1);
		}
		break;
	}
	return it->neq ? !r : r;
}

bool aw_sigma_item_match(const struct aw_sigma_item *it, struct aw_event_view *ev)
{
	int known = it->id ? aw_event_view_result(ev, it->id) : -1;
	bool r;

	if (known >= 0)
		return known;
	r = item_match(it, ev);
	if (it->id)
		aw_event_view_set_result(ev, it->id, r);
	return r;
}

const char *aw_sigma_item_required_literal(const struct aw_sigma_item *it, size_t *len)
{
	if (len)
		*len = it->req ? it->reqlen : 0;
	return it->req;
}

bool aw_sigma_item_costly(const struct aw_sigma_item *it)
{
	size_t nvals = 0;

	if (it->mode == IM_KEYWORDS)
		return true;
	for (size_t g = 0; g < it->ngroups; g++) {
		nvals += it->groups[g].n;
		for (size_t a = 0; a < it->groups[g].n; a++) {
			const struct alt *al = &it->groups[g].alts[a];
			if (al->kind == A_STR && aw_sigma_str_kind(al->str) == AW_SIGMA_REGEX)
				return true;
		}
	}
	return nvals > AW_SIGMA_COSTLY_VALUES;
}

size_t aw_sigma_item_literal_matchers(const struct aw_sigma_item *it,
				      const struct aw_sigma_str **out, size_t cap)
{
	size_t n = 0;

	/* one group per listed value, each with its alternatives (expand, windash...) */
	if (it->mode != IM_VALUES || it->all || it->neq || it->cased)
		return 0;
	for (size_t g = 0; g < it->ngroups; g++) {
		for (size_t a = 0; a < it->groups[g].n; a++) {
			const struct alt *al = &it->groups[g].alts[a];
			if (al->kind != A_STR || n == cap)
				return 0;
			switch (aw_sigma_str_kind(al->str)) {
			case AW_SIGMA_EXACT:
			case AW_SIGMA_PREFIX:
			case AW_SIGMA_SUFFIX:
			case AW_SIGMA_CONTAINS:
				break;
			default:
				return 0;
			}
			if (!aw_sigma_str_literal(al->str, NULL))
				return 0;
			out[n++] = al->str;
		}
	}
	return n;
}

bool aw_sigma_item_is_null(const struct aw_sigma_item *it)
{
	return it->mode == IM_NULL && !it->neq;
}

const struct aw_field_ref *aw_sigma_item_ref(const struct aw_sigma_item *it)
{
	return it->mode == IM_KEYWORDS ? NULL : &it->ref;
}

const char *aw_sigma_item_field(const struct aw_sigma_item *it)
{
	return it->field;
}
