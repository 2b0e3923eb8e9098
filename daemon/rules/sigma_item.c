/* Sigma detection items: modifier chains, YAML value typing, compiled values and their
 * evaluation against an event view (see sigma_item.h).
 *
 * An item is a list of value groups. Each YAML value becomes one group; its
 * alternatives are what the transformation modifiers expanded it to (windash,
 * base64offset, expand), so a group matches when any alternative does. The groups are
 * OR-ed, or AND-ed with `all`; `neq` negates the result. Each event value the view
 * hands over (the field, and each element when it is an array) is tried against the
 * groups, so arrays match element-wise and an array's JSON text is tried too. */
#include "sigma_item.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigma_string.h"

#define AW_SIGMA_MAX_MODS	 16
#define AW_SIGMA_WINDASH_DEFAULT 1024
#define AW_SIGMA_REQ_MIN	 3
#define AW_SIGMA_REQ_MAX	 256

/* clang-format off */
enum mod {
	M_CONTAINS, M_STARTSWITH, M_ENDSWITH, M_ALL, M_BASE64, M_BASE64OFFSET, M_UTF16LE,
	M_UTF16BE, M_UTF16, M_WINDASH, M_RE, M_I, M_M, M_S, M_CIDR, M_EXISTS, M_CASED, M_GT,
	M_GTE, M_LT, M_LTE, M_NEQ, M_FIELDREF, M_EXPAND, M_TIME, M__COUNT
};

static const struct {
	const char *name;
	enum mod m;
} mod_names[] = {
	{"contains", M_CONTAINS}, {"startswith", M_STARTSWITH}, {"endswith", M_ENDSWITH},
	{"all", M_ALL}, {"base64", M_BASE64}, {"base64offset", M_BASE64OFFSET},
	{"utf16le", M_UTF16LE}, {"wide", M_UTF16LE}, {"utf16be", M_UTF16BE}, {"utf16", M_UTF16},
	{"windash", M_WINDASH}, {"re", M_RE}, {"i", M_I}, {"ignorecase", M_I}, {"m", M_M},
	{"multiline", M_M}, {"s", M_S}, {"dotall", M_S}, {"cidr", M_CIDR}, {"exists", M_EXISTS},
	{"cased", M_CASED}, {"gt", M_GT}, {"gte", M_GTE}, {"lt", M_LT}, {"lte", M_LTE},
	{"neq", M_NEQ}, {"fieldref", M_FIELDREF}, {"expand", M_EXPAND}, {"minute", M_TIME},
	{"hour", M_TIME}, {"day", M_TIME}, {"week", M_TIME}, {"month", M_TIME}, {"year", M_TIME},
};
/* clang-format on */

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
	enum mod op;		 /* A_CMP */
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
};

/* The modifier chain of one key. */
struct chain {
	enum mod m[AW_SIGMA_MAX_MODS];
	const char *name[AW_SIGMA_MAX_MODS];
	size_t n;
	bool has[M__COUNT];
	enum mod cmp; /* M_GT.. when a comparison is present, else M__COUNT */
};

/* A scalar typed the way PyYAML (YAML 1.1) types it. */
enum tkind { T_STR, T_INT, T_FLOAT, T_BOOL, T_NULL };

struct tval {
	enum tkind k;
	const char *text;
	long long i;
	double d;
	bool b;
};

/* --- modifier chain ------------------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[32];

	if (la >= 31 || lb >= 31)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t sub = prev + (tolower((unsigned char)a[i - 1]) != b[j - 1]);
			size_t best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
			row[j] = sub < best ? sub : best;
			prev = cur;
		}
	}
	return row[lb];
}

static int unknown_modifier(const char *name, struct aw_error *err)
{
	const char *best = NULL;
	size_t bestd = 3;

	for (size_t k = 0; k < sizeof mod_names / sizeof mod_names[0]; k++) {
		size_t d = edit_distance(name, mod_names[k].name);
		if (d < bestd && d * 2 < strlen(mod_names[k].name) + 1) {
			bestd = d;
			best = mod_names[k].name;
		}
	}
	if (best)
		return aw_error_set(err, "unknown modifier '%s' (did you mean '%s'?)", name, best);
	return aw_error_set(err, "unknown modifier '%s'", name);
}

static bool is_cmp(enum mod m)
{
	return m == M_GT || m == M_GTE || m == M_LT || m == M_LTE;
}

/* `primary` (re, cidr, exists, a comparison, fieldref) allows only the modifiers in
 * `ok`; the first other one is an error. */
static int only_with(const struct chain *c, size_t primary, const enum mod *ok, size_t nok,
		     struct aw_error *err)
{
	for (size_t k = 0; k < c->n; k++) {
		if (k == primary)
			continue;
		bool allowed = false;
		for (size_t j = 0; j < nok; j++)
			allowed |= c->m[k] == ok[j];
		if (!allowed)
			return aw_error_set(err, "'%s' cannot be combined with '%s'", c->name[k],
					    c->name[primary]);
	}
	return 0;
}

static size_t find_mod(const struct chain *c, enum mod m)
{
	for (size_t k = 0; k < c->n; k++)
		if (c->m[k] == m)
			return k;
	return SIZE_MAX;
}

/* Split "field|m1|m2" and check the chain (sigma.md §1.5 composition rules). *field is
 * malloc'd (NULL when empty: keywords). */
static int parse_key(const char *key, char **field, struct chain *c, struct aw_error *err)
{
	const char *bar = strchr(key, '|');
	size_t flen = bar ? (size_t)(bar - key) : strlen(key);

	memset(c, 0, sizeof *c);
	c->cmp = M__COUNT;
	*field = NULL;
	while (bar) {
		const char *name = bar + 1;
		const char *next = strchr(name, '|');
		size_t nl = next ? (size_t)(next - name) : strlen(name);
		char buf[64];
		size_t k;
		if (nl == 0)
			return aw_error_set(err, "empty modifier in '%s'", key);
		if (c->n == AW_SIGMA_MAX_MODS)
			return aw_error_set(err, "more than %d modifiers in '%s'",
					    AW_SIGMA_MAX_MODS, key);
		snprintf(buf, sizeof buf, "%.*s", (int)nl, name);
		for (k = 0; k < sizeof mod_names / sizeof mod_names[0]; k++)
			if (nl == strlen(mod_names[k].name) &&
			    memcmp(name, mod_names[k].name, nl) == 0)
				break;
		if (k == sizeof mod_names / sizeof mod_names[0])
			return unknown_modifier(buf, err);
		enum mod m = mod_names[k].m;
		if (m == M_TIME)
			return aw_error_set(err, "modifier '%s' is not supported", buf);
		if (c->has[m])
			return aw_error_set(err, "modifier '%s' is given twice", buf);
		if (is_cmp(m)) {
			if (c->cmp != M__COUNT)
				return aw_error_set(err, "'%s' cannot be combined with '%s'", buf,
						    c->name[find_mod(c, c->cmp)]);
			c->cmp = m;
		}
		c->has[m] = true;
		c->m[c->n] = m;
		c->name[c->n] = mod_names[k].name;
		c->n++;
		bar = next;
	}
	for (size_t k = 0; k < c->n; k++) {
		enum mod m = c->m[k];
		if ((m == M_RE || m == M_CIDR || m == M_EXISTS) && k != 0)
			return aw_error_set(err, "'%s' must be the first modifier", c->name[k]);
		if ((m == M_I || m == M_M || m == M_S) && !c->has[M_RE])
			return aw_error_set(err, "'%s' is only valid after 're'", c->name[k]);
	}
	if (c->has[M_RE]) {
		static const enum mod ok[] = {M_I, M_M, M_S, M_ALL, M_NEQ};
		if (only_with(c, 0, ok, 5, err) < 0)
			return -1;
	}
	if (c->has[M_CIDR]) {
		static const enum mod ok[] = {M_ALL, M_NEQ};
		if (only_with(c, 0, ok, 2, err) < 0)
			return -1;
	}
	if (c->has[M_EXISTS] && only_with(c, 0, NULL, 0, err) < 0)
		return -1;
	if (c->cmp != M__COUNT) {
		static const enum mod ok[] = {M_ALL, M_NEQ};
		if (only_with(c, find_mod(c, c->cmp), ok, 2, err) < 0)
			return -1;
	}
	if (c->has[M_FIELDREF]) {
		static const enum mod ok[] = {M_CONTAINS, M_STARTSWITH, M_ENDSWITH,
					      M_NEQ,	  M_CASED,	M_ALL};
		if (only_with(c, find_mod(c, M_FIELDREF), ok, 6, err) < 0)
			return -1;
	}
	if (flen == 0) {
		static const enum mod need_field[] = {M_EXISTS, M_CIDR, M_GT,  M_GTE,
						      M_LT,	M_LTE,	M_NEQ, M_FIELDREF};
		for (size_t j = 0; j < sizeof need_field / sizeof need_field[0]; j++)
			if (c->has[need_field[j]])
				return aw_error_set(err, "'%s' needs a field name",
						    c->name[find_mod(c, need_field[j])]);
		return 0;
	}
	*field = strndup(key, flen);
	return *field ? 0 : aw_error_set(err, "out of memory");
}

/* --- YAML typing ------------------------------------------------------------------- */

static bool all_of(const char *s, const char *set)
{
	if (!*s)
		return false;
	return s[strspn(s, set)] == '\0';
}

/* Parse [-+]?<digits in base> with '_' separators. */
static int parse_int(const char *s, int base, long long *out)
{
	char buf[96];
	size_t o = 0;
	bool neg = false;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (base == 16 || base == 2)
		s += 2;
	for (; *s; s++) {
		if (*s == '_')
			continue;
		if (o + 1 >= sizeof buf)
			return -1;
		buf[o++] = *s;
	}
	if (o == 0)
		return -1;
	buf[o] = '\0';
	errno = 0;
	char *end;
	unsigned long long v = strtoull(buf, &end, base);
	if (errno || *end || v > (unsigned long long)LLONG_MAX + (neg ? 1u : 0u))
		return -1;
	*out = neg ? (long long)(0 - v) : (long long)v;
	return 0;
}

static int type_scalar(const struct aw_node *n, struct tval *tv, struct aw_error *err)
{
	const char *s = n->value;
	const char *body = s + (*s == '-' || *s == '+');

	memset(tv, 0, sizeof *tv);
	tv->text = s;
	tv->k = T_STR;
	if (n->quoted)
		return 0;
	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	    !strcmp(s, "NULL")) {
		tv->k = T_NULL;
		return 0;
	}
	static const char *const truthy[] = {"true", "True", "TRUE", "yes", "Yes",
					     "YES",  "on",   "On",   "ON"};
	static const char *const falsy[] = {"false", "False", "FALSE", "no", "No",
					    "NO",    "off",   "Off",   "OFF"};
	for (size_t k = 0; k < 9; k++) {
		if (!strcmp(s, truthy[k]) || !strcmp(s, falsy[k])) {
			tv->k = T_BOOL;
			tv->b = !strcmp(s, truthy[k]);
			return 0;
		}
	}
	if (strchr("-+0123456789.", *s) == NULL)
		return 0;
	/* Forms YAML 1.1 and YAML 1.2 read differently: refuse to guess. */
	if ((body[0] == '0' && all_of(body + 1, "01234567_")) ||
	    (body[0] == '0' && body[1] == 'o' && all_of(body + 2, "01234567")) ||
	    (body[0] >= '1' && body[0] <= '9' && strchr(body, ':') &&
	     all_of(body, "0123456789_:.")))
		return aw_error_set(err,
				    "ambiguous number '%s' (YAML 1.1 and 1.2 read it differently): "
				    "quote it, or write it in plain decimal",
				    s);
	int base = 0;
	if (!strcmp(body, "0") || (body[0] >= '1' && body[0] <= '9' && all_of(body, "0123456789_")))
		base = 10;
	else if (body[0] == '0' && body[1] == 'x' && all_of(body + 2, "0123456789abcdefABCDEF_"))
		base = 16;
	else if (body[0] == '0' && body[1] == 'b' && all_of(body + 2, "01_"))
		base = 2;
	if (base) {
		if (parse_int(s, base, &tv->i) < 0)
			return aw_error_set(err, "number '%s' is out of range", s);
		tv->k = T_INT;
		tv->d = (double)tv->i;
		return 0;
	}
	if (!strcmp(body, ".inf") || !strcmp(body, ".Inf") || !strcmp(body, ".INF") ||
	    !strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))
		return aw_error_set(err, "'%s' is not a usable number", s);
	/* PyYAML float: [-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)? or \.[0-9_]+(...)? */
	const char *p = body;
	bool lead = *p >= '0' && *p <= '9';
	if (!lead && (p != s || *p != '.'))
		return 0;
	p += strspn(p, "0123456789_");
	if (*p != '.')
		return 0;
	p++;
	size_t frac = strspn(p, "0123456789_");
	if (!lead && frac == 0)
		return 0;
	p += frac;
	if (*p == 'e' || *p == 'E') {
		if (p[1] != '-' && p[1] != '+')
			return 0;
		if (!all_of(p + 2, "0123456789"))
			return 0;
	} else if (*p) {
		return 0;
	}
	char buf[128];
	size_t o = 0;
	for (const char *q = s; *q && o + 1 < sizeof buf; q++)
		if (*q != '_')
			buf[o++] = *q;
	buf[o] = '\0';
	tv->d = strtod(buf, NULL);
	if (!isfinite(tv->d))
		return aw_error_set(err, "number '%s' is out of range", s);
	tv->k = T_FLOAT;
	return 0;
}

/* --- building values ------------------------------------------------------------------ */

struct patvec {
	struct aw_sigma_pat *v;
	size_t n, cap;
};

static void patvec_free(struct patvec *pv)
{
	for (size_t k = 0; k < pv->n; k++)
		aw_sigma_pat_free(&pv->v[k]);
	free(pv->v);
	memset(pv, 0, sizeof *pv);
}

/* A new empty pattern at the end (NULL on OOM). */
static struct aw_sigma_pat *patvec_push(struct patvec *pv)
{
	if (pv->n == pv->cap) {
		size_t ncap = pv->cap ? pv->cap * 2 : 4;
		struct aw_sigma_pat *nv = realloc(pv->v, ncap * sizeof *nv);
		if (!nv)
			return NULL;
		pv->v = nv;
		pv->cap = ncap;
	}
	struct aw_sigma_pat *p = &pv->v[pv->n++];
	memset(p, 0, sizeof *p);
	if (aw_sigma_pat_add(p, "", 0, AW_SIGMA_LIT) < 0) {
		pv->n--;
		return NULL;
	}
	return p;
}

struct build {
	const struct aw_sigma_compile_ctx *ctx;
	size_t max_variants;
	const char *vtext; /* the YAML value, for messages */
	struct aw_error *err;
};

static int oom(struct build *bd)
{
	return aw_error_set(bd->err, "out of memory");
}

static int wrap(struct aw_sigma_pat *p, bool front, bool back, struct build *bd)
{
	struct aw_sigma_pat np = {0};

	if (front && (p->len == 0 || p->w[0] != AW_SIGMA_ANY))
		if (aw_sigma_pat_add(&np, "*", 1, AW_SIGMA_ANY) < 0)
			goto fail;
	if (aw_sigma_pat_add_pat(&np, p) < 0)
		goto fail;
	if (back && (np.len == 0 || np.w[np.len - 1] != AW_SIGMA_ANY))
		if (aw_sigma_pat_add(&np, "*", 1, AW_SIGMA_ANY) < 0)
			goto fail;
	if (!np.b && aw_sigma_pat_add(&np, "", 0, AW_SIGMA_LIT) < 0)
		goto fail;
	aw_sigma_pat_free(p);
	*p = np;
	return 0;
fail:
	aw_sigma_pat_free(&np);
	return oom(bd);
}

/* `expand`: %name% in literal runs becomes each value of the placeholder (values
 * are Sigma strings themselves); `\%` is a literal percent sign. */
static int expand_one(const struct aw_sigma_pat *in, struct patvec *out, struct build *bd)
{
	const struct aw_sigma_compile_ctx *ctx = bd->ctx;
	/* pieces: [start, end) of literal input, or a placeholder */
	struct piece {
		size_t from, to;
		const struct aw_sigma_placeholder *ph;
	} pieces[64];
	size_t np = 0, from = 0, total = 1;
	struct aw_sigma_pat val = {0};
	int rc = -1;

	for (size_t i = 0; i < in->len; i++) {
		if (in->w[i] != AW_SIGMA_LIT || in->b[i] != '%')
			continue;
		if (i > 0 && in->w[i - 1] == AW_SIGMA_LIT && in->b[i - 1] == '\\')
			continue;
		size_t j = i + 1;
		while (j < in->len && in->w[j] == AW_SIGMA_LIT &&
		       (isalnum((unsigned char)in->b[j]) || in->b[j] == '_' || in->b[j] == '-'))
			j++;
		if (j == i + 1 || j >= in->len || in->w[j] != AW_SIGMA_LIT || in->b[j] != '%')
			continue;
		const struct aw_sigma_placeholder *ph = NULL;
		size_t nl = j - i - 1;
		for (size_t k = 0; ctx && k < ctx->nplaceholders; k++)
			if (strlen(ctx->placeholders[k].name) == nl &&
			    memcmp(ctx->placeholders[k].name, in->b + i + 1, nl) == 0)
				ph = &ctx->placeholders[k];
		if (!ph)
			return aw_error_set(bd->err, "unknown placeholder '%.*s' in '%s' (expand)",
					    (int)(nl + 2), in->b + i, bd->vtext);
		if (ph->nvalues == 0)
			return aw_error_set(bd->err, "placeholder '%%%s%%' has no values",
					    ph->name);
		if (np + 2 > sizeof pieces / sizeof pieces[0])
			return aw_error_set(bd->err, "too many placeholders in '%s'", bd->vtext);
		pieces[np++] = (struct piece){from, i, NULL};
		pieces[np++] = (struct piece){0, 0, ph};
		if (total > bd->max_variants / ph->nvalues)
			return aw_error_set(bd->err,
					    "'expand' of '%s' gives more than %zu variants",
					    bd->vtext, bd->max_variants);
		total *= ph->nvalues;
		from = j + 1;
		i = j;
	}
	pieces[np++] = (struct piece){from, in->len, NULL};
	if (out->n + total > bd->max_variants)
		return aw_error_set(bd->err, "'expand' of '%s' gives more than %zu variants",
				    bd->vtext, bd->max_variants);
	for (size_t idx = 0; idx < total; idx++) {
		struct aw_sigma_pat *p = patvec_push(out);
		size_t rest = idx;
		if (!p)
			goto oom;
		for (size_t k = 0; k < np; k++) {
			if (pieces[k].ph) {
				const struct aw_sigma_placeholder *ph = pieces[k].ph;
				const char *v = ph->values[rest % ph->nvalues];
				rest /= ph->nvalues;
				if (aw_sigma_pat_parse(&val, v, strlen(v), bd->err) < 0)
					goto out;
				if (aw_sigma_pat_add_pat(p, &val) < 0)
					goto oom;
				continue;
			}
			for (size_t i = pieces[k].from; i < pieces[k].to; i++) {
				if (in->w[i] == AW_SIGMA_LIT && in->b[i] == '\\' &&
				    i + 1 < pieces[k].to && in->w[i + 1] == AW_SIGMA_LIT &&
				    in->b[i + 1] == '%')
					continue; /* `\%` */
				if (aw_sigma_pat_add(p, in->b + i, 1,
						     (enum aw_sigma_wild)in->w[i]) < 0)
					goto oom;
			}
		}
	}
	rc = 0;
	goto out;
oom:
	oom(bd);
out:
	aw_sigma_pat_free(&val);
	return rc;
}

/* Apply transformation m to every pattern of pv (some expand one into several). */
static int transform(enum mod m, const char *mname, struct patvec *pv, struct build *bd)
{
	struct patvec out = {0};
	int rc = -1;

	if (m == M_CONTAINS || m == M_STARTSWITH || m == M_ENDSWITH) {
		for (size_t k = 0; k < pv->n; k++)
			if (wrap(&pv->v[k], m != M_STARTSWITH, m != M_ENDSWITH, bd) < 0)
				return -1;
		return 0;
	}
	for (size_t k = 0; k < pv->n; k++) {
		const struct aw_sigma_pat *in = &pv->v[k];
		struct aw_sigma_pat *p;
		if ((m == M_BASE64 || m == M_BASE64OFFSET) && aw_sigma_pat_has_wild(in)) {
			aw_error_set(bd->err, "'%s' cannot encode wildcards in '%s'", mname,
				     bd->vtext);
			goto out;
		}
		switch (m) {
		case M_BASE64:
			if (!(p = patvec_push(&out)) || aw_sigma_pat_base64(in, -1, p) < 0)
				goto oom;
			break;
		case M_BASE64OFFSET:
			if (out.n + 3 > bd->max_variants) {
				aw_error_set(bd->err, "'%s' of '%s' gives more than %zu variants",
					     mname, bd->vtext, bd->max_variants);
				goto out;
			}
			for (int v = 0; v < 3; v++)
				if (!(p = patvec_push(&out)) || aw_sigma_pat_base64(in, v, p) < 0)
					goto oom;
			break;
		case M_UTF16LE:
		case M_UTF16BE:
		case M_UTF16:
			if (!(p = patvec_push(&out)))
				goto oom;
			if (aw_sigma_pat_utf16(in,
					       m == M_UTF16LE	? AW_SIGMA_UTF16LE
					       : m == M_UTF16BE ? AW_SIGMA_UTF16BE
								: AW_SIGMA_UTF16BOM,
					       p) < 0) {
				aw_error_set(bd->err, "'%s' needs valid UTF-8 in '%s'", mname,
					     bd->vtext);
				goto out;
			}
			break;
		case M_WINDASH: {
			size_t nd = aw_sigma_pat_windash_count(in), total = 1;
			for (size_t d = 0; d < nd; d++) {
				if (total > bd->max_variants / 5) {
					total = SIZE_MAX;
					break;
				}
				total *= 5;
			}
			if (total == SIZE_MAX || out.n + total > bd->max_variants) {
				aw_error_set(bd->err,
					     "'windash' of '%s' gives more than %zu variants "
					     "(%zu dashes)",
					     bd->vtext, bd->max_variants, nd);
				goto out;
			}
			for (size_t idx = 0; idx < total; idx++)
				if (!(p = patvec_push(&out)) ||
				    aw_sigma_pat_windash(in, idx, p) < 0)
					goto oom;
			break;
		}
		case M_EXPAND:
			if (expand_one(in, &out, bd) < 0)
				goto out;
			break;
		default:
			break;
		}
	}
	patvec_free(pv);
	*pv = out;
	return 0;
oom:
	oom(bd);
out:
	patvec_free(&out);
	return rc;
}

static bool is_transform(enum mod m)
{
	return m == M_CONTAINS || m == M_STARTSWITH || m == M_ENDSWITH || m == M_BASE64 ||
	       m == M_BASE64OFFSET || m == M_UTF16LE || m == M_UTF16BE || m == M_UTF16 ||
	       m == M_WINDASH || m == M_EXPAND;
}

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
		if (!*d || strlen(d) > 3 || !all_of(d, "0123456789"))
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
static int build_value(struct aw_sigma_item *it, const struct chain *c, const struct tval *tv,
		       struct group *g, struct build *bd)
{
	struct alt a = {0};
	struct patvec pv = {0};
	int rc = -1;
	bool keyword = it->mode == IM_KEYWORDS;

	if (c->has[M_RE]) {
		struct aw_sigma_re_opts o = {.icase = c->has[M_I],
					     .multiline = c->has[M_M],
					     .dotall = c->has[M_S],
					     .match_limit =
						 bd->ctx ? bd->ctx->regex_match_limit : 0};
		a.kind = A_STR;
		if (aw_sigma_str_compile_regex(tv->text, strlen(tv->text), &o, &a.str, bd->err) < 0)
			goto out;
		goto add;
	}
	if (c->has[M_CIDR]) {
		if (parse_cidr(tv->text, &a, bd->err) < 0)
			goto out;
		goto add;
	}
	if (c->cmp != M__COUNT) {
		if (tv->k != T_INT && tv->k != T_FLOAT) {
			aw_error_set(bd->err, "'%s' needs a number, got '%s'",
				     c->name[find_mod(c, c->cmp)], tv->text);
			goto out;
		}
		a.kind = A_CMP;
		a.op = c->cmp;
		a.num = tv->d;
		goto add;
	}
	if (c->has[M_FIELDREF]) {
		if (has_wildcard(tv->text)) {
			aw_error_set(bd->err,
				     "'fieldref' value '%s' must be a field name, not a pattern",
				     tv->text);
			goto out;
		}
		a.kind = A_FIELDREF;
		a.how = c->has[M_CONTAINS]     ? FR_CONTAINS
			: c->has[M_STARTSWITH] ? FR_PREFIX
			: c->has[M_ENDSWITH]   ? FR_SUFFIX
					       : FR_EQ;
		if (c->has[M_STARTSWITH] && c->has[M_ENDSWITH])
			a.how = FR_CONTAINS;
		if (aw_field_ref_init(&a.ref, tv->text, bd->err) < 0)
			goto out;
		goto add;
	}
	bool stringy = keyword || c->has[M_CASED];
	for (size_t k = 0; k < c->n; k++)
		stringy |= is_transform(c->m[k]);
	if (!stringy && (tv->k == T_INT || tv->k == T_FLOAT)) {
		a.kind = A_NUM;
		a.num = tv->d;
		a.is_int = tv->k == T_INT;
		a.ival = tv->i;
		a.text = strdup(tv->text);
		if (!a.text)
			goto oom;
		goto add;
	}
	if (!stringy && tv->k == T_BOOL) {
		a.kind = A_BOOL;
		a.b = tv->b;
		goto add;
	}
	const char *text = tv->k == T_BOOL ? (tv->b ? "true" : "false") : tv->text;
	struct aw_sigma_pat *p0 = patvec_push(&pv);
	if (!p0 || aw_sigma_pat_parse(p0, text, strlen(text), bd->err) < 0)
		goto oom;
	for (size_t k = 0; k < c->n; k++)
		if (is_transform(c->m[k]) && transform(c->m[k], c->name[k], &pv, bd) < 0)
			goto out;
	/* A keyword is a substring of some string in the event (sigma.md §1.6). */
	if (keyword && !c->has[M_CONTAINS] && !c->has[M_STARTSWITH] && !c->has[M_ENDSWITH] &&
	    transform(M_CONTAINS, "contains", &pv, bd) < 0)
		goto out;
	for (size_t k = 0; k < pv.n; k++) {
		struct alt s = {.kind = A_STR};
		if (aw_sigma_str_compile(&pv.v[k], c->has[M_CASED], &s.str, bd->err) < 0)
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
		oom(bd);
out:
	alt_free(&a);
	patvec_free(&pv);
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

static int compile_item(char *field, const struct chain *c, const struct aw_node *value,
			const struct aw_sigma_compile_ctx *ctx, struct aw_sigma_item **out,
			struct aw_error *err)
{
	struct aw_sigma_item *it = calloc(1, sizeof *it);
	const struct aw_node *const *nodes = &value;
	size_t n = 1;
	struct tval *tv = NULL;
	struct build bd = {.ctx = ctx, .err = err};

	*out = NULL;
	aw_error_clear(err);
	if (!it) {
		free(field);
		return aw_error_set(err, "out of memory");
	}
	it->field = field;
	it->mode = field ? IM_VALUES : IM_KEYWORDS;
	it->all = c->has[M_ALL];
	it->neq = c->has[M_NEQ];
	it->cased = c->has[M_CASED];
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
		tv[0].k = T_NULL;
		tv[0].text = "";
	}
	for (size_t k = 0; k < n; k++) {
		if (nodes[k]->kind != AW_NODE_SCALAR) {
			aw_error_set(err, "a value list may only hold scalars (item %zu is a %s)",
				     k + 1, nodes[k]->kind == AW_NODE_MAP ? "map" : "list");
			goto fail;
		}
		if (type_scalar(nodes[k], &tv[k], err) < 0)
			goto fail;
	}
	if (n == 0)
		n = 1;
	if (c->has[M_EXISTS]) {
		if (n != 1 || tv[0].k != T_BOOL) {
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
		if (tv[k].k != T_NULL)
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
			if (c->m[j] != M_NEQ) {
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

int aw_sigma_item_compile(const char *key, const struct aw_node *value,
			  const struct aw_sigma_compile_ctx *ctx, struct aw_sigma_item **out,
			  struct aw_error *err)
{
	struct chain c;
	char *field = NULL;

	*out = NULL;
	aw_error_clear(err);
	if (parse_key(key ? key : "", &field, &c, err) < 0)
		return -1;
	return compile_item(field, &c, value, ctx, out, err);
}

int aw_sigma_keywords_compile(const struct aw_node *list, const struct aw_sigma_compile_ctx *ctx,
			      struct aw_sigma_item **out, struct aw_error *err)
{
	struct chain c;

	memset(&c, 0, sizeof c);
	c.cmp = M__COUNT;
	return compile_item(NULL, &c, list, ctx, out, err);
}

/* --- matching ------------------------------------------------------------------------- */

static bool val_numeric(const struct aw_val *v)
{
	return v->kind == AW_VAL_NUMBER || (v->kind == AW_VAL_STRING && v->has_num);
}

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
	for (; i < v->len; i++)
		if (v->s[i] < '0' || v->s[i] > '9')
			return false;
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
	case FR_EQ:
		if (val_numeric(a) && val_numeric(b))
			st->matched = a->num == b->num;
		else
			st->matched = aw_sigma_text_equal(a->s, a->len, b->s, b->len, st->cased);
		break;
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
	case A_NUM:
		if (val_numeric(v)) {
			long long x;
			if (a->is_int && val_int(v, &x))
				return x == a->ival;
			if (v->num == a->num)
				return true;
		}
		return v->kind == AW_VAL_STRING &&
		       aw_sigma_text_equal(v->s, v->len, a->text, strlen(a->text), false);
	case A_BOOL:
		if (v->kind == AW_VAL_BOOL)
			return v->b == a->b;
		return v->kind == AW_VAL_STRING &&
		       aw_sigma_text_equal(v->s, v->len, a->b ? "true" : "false", a->b ? 4 : 5,
					   false);
	case A_CIDR:
		return cidr_match(a, v);
	case A_CMP:
		if (!val_numeric(v))
			return false;
		if (a->op == M_GT)
			return v->num > a->num;
		if (a->op == M_GTE)
			return v->num >= a->num;
		if (a->op == M_LT)
			return v->num < a->num;
		return v->num <= a->num;
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

bool aw_sigma_item_match(const struct aw_sigma_item *it, struct aw_event_view *ev)
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

const char *aw_sigma_item_required_literal(const struct aw_sigma_item *it, size_t *len)
{
	if (len)
		*len = it->req ? it->reqlen : 0;
	return it->req;
}

const char *aw_sigma_item_field(const struct aw_sigma_item *it)
{
	return it->field;
}
