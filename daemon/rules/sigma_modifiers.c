/* Sigma modifiers: the chain of a key ("field|base64offset|contains"), YAML typing of
 * the values, and the modifiers that rewrite a value before it is compiled (contains,
 * startswith, endswith, base64, base64offset, utf16le/utf16be/utf16/wide, windash,
 * expand), sigma.md §1.5 / §6.1. See sigma_item_int.h.
 *
 * A chain is checked whole before any value is compiled, so a contradiction is reported
 * once per key. Transforms that multiply a value (base64offset, windash, expand) are
 * capped at the compile context's variant limit: over it, the rule is refused, never
 * cut short. */
#include "sigma_item_int.h"
#include "strutil.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
static const struct {
	const char *name;
	enum aw_sigma_mod m;
} mod_names[] = {
	{"contains", AW_MOD_CONTAINS}, {"startswith", AW_MOD_STARTSWITH}, {"endswith", AW_MOD_ENDSWITH},
	{"all", AW_MOD_ALL}, {"base64", AW_MOD_BASE64}, {"base64offset", AW_MOD_BASE64OFFSET},
	{"utf16le", AW_MOD_UTF16LE}, {"wide", AW_MOD_UTF16LE}, {"utf16be", AW_MOD_UTF16BE}, {"utf16", AW_MOD_UTF16},
	{"windash", AW_MOD_WINDASH}, {"re", AW_MOD_RE}, {"i", AW_MOD_I}, {"ignorecase", AW_MOD_I}, {"m", AW_MOD_M},
	{"multiline", AW_MOD_M}, {"s", AW_MOD_S}, {"dotall", AW_MOD_S}, {"cidr", AW_MOD_CIDR}, {"exists", AW_MOD_EXISTS},
	{"cased", AW_MOD_CASED}, {"gt", AW_MOD_GT}, {"gte", AW_MOD_GTE}, {"lt", AW_MOD_LT}, {"lte", AW_MOD_LTE},
	{"neq", AW_MOD_NEQ}, {"fieldref", AW_MOD_FIELDREF}, {"expand", AW_MOD_EXPAND}, {"minute", AW_MOD_TIME},
	{"hour", AW_MOD_TIME}, {"day", AW_MOD_TIME}, {"week", AW_MOD_TIME}, {"month", AW_MOD_TIME}, {"year", AW_MOD_TIME},
};
/* clang-format on */

/* --- modifier chain ------------------------------------------------------------- */

static int unknown_modifier(const char *name, struct aw_error *err)
{
	const char *best = NULL;
	size_t bestd = 3;

	for (size_t k = 0; k < sizeof mod_names / sizeof mod_names[0]; k++) {
		size_t d = aw_edit_distance(name, mod_names[k].name, true);
		if (d < bestd && d * 2 < strlen(mod_names[k].name) + 1) {
			bestd = d;
			best = mod_names[k].name;
		}
	}
	if (best)
		return aw_error_set(err, "unknown modifier '%s' (did you mean '%s'?)", name, best);
	return aw_error_set(err, "unknown modifier '%s'", name);
}

/* The modifiers that decide what a value is (a regex, a network, a presence test, a
 * comparison, a field name), each with the only modifiers that may go with it. */
static const struct {
	enum aw_sigma_mod primary;
	enum aw_sigma_mod ok[6];
	size_t nok;
} companions[] = {
    {AW_MOD_RE, {AW_MOD_I, AW_MOD_M, AW_MOD_S, AW_MOD_ALL, AW_MOD_NEQ}, 5},
    {AW_MOD_CIDR, {AW_MOD_ALL, AW_MOD_NEQ}, 2},
    {AW_MOD_EXISTS, {AW_MOD_COUNT}, 0},
    {AW_MOD_GT, {AW_MOD_ALL, AW_MOD_NEQ}, 2},
    {AW_MOD_GTE, {AW_MOD_ALL, AW_MOD_NEQ}, 2},
    {AW_MOD_LT, {AW_MOD_ALL, AW_MOD_NEQ}, 2},
    {AW_MOD_LTE, {AW_MOD_ALL, AW_MOD_NEQ}, 2},
    {AW_MOD_FIELDREF,
     {AW_MOD_CONTAINS, AW_MOD_STARTSWITH, AW_MOD_ENDSWITH, AW_MOD_NEQ, AW_MOD_CASED, AW_MOD_ALL},
     6},
};

/* The modifiers that only make sense on a field. */
static const enum aw_sigma_mod need_field[] = {AW_MOD_EXISTS, AW_MOD_CIDR,    AW_MOD_GT,
					       AW_MOD_GTE,    AW_MOD_LT,      AW_MOD_LTE,
					       AW_MOD_NEQ,    AW_MOD_FIELDREF};

static bool is_cmp(enum aw_sigma_mod m)
{
	return m == AW_MOD_GT || m == AW_MOD_GTE || m == AW_MOD_LT || m == AW_MOD_LTE;
}

size_t aw_sigma_chain_find(const struct aw_sigma_chain *c, enum aw_sigma_mod m)
{
	for (size_t k = 0; k < c->n; k++)
		if (c->m[k] == m)
			return k;
	return SIZE_MAX;
}

void aw_sigma_chain_init(struct aw_sigma_chain *c)
{
	memset(c, 0, sizeof *c);
	c->cmp = AW_MOD_COUNT;
}

/* Append modifier `name` (nl bytes, from key) to the chain. */
static int chain_add(struct aw_sigma_chain *c, const char *key, const char *name, size_t nl,
		     struct aw_error *err)
{
	char buf[64];
	size_t k;

	if (nl == 0)
		return aw_error_set(err, "empty modifier in '%s'", key);
	if (c->n == AW_SIGMA_MAX_MODS)
		return aw_error_set(err, "more than %d modifiers in '%s'", AW_SIGMA_MAX_MODS, key);
	snprintf(buf, sizeof buf, "%.*s", (int)nl, name);
	for (k = 0; k < sizeof mod_names / sizeof mod_names[0]; k++)
		if (nl == strlen(mod_names[k].name) && memcmp(name, mod_names[k].name, nl) == 0)
			break;
	if (k == sizeof mod_names / sizeof mod_names[0])
		return unknown_modifier(buf, err);
	enum aw_sigma_mod m = mod_names[k].m;
	if (m == AW_MOD_TIME)
		return aw_error_set(err, "modifier '%s' is not supported", buf);
	if (c->has[m])
		return aw_error_set(err, "modifier '%s' is given twice", buf);
	if (is_cmp(m)) {
		if (c->cmp != AW_MOD_COUNT)
			return aw_error_set(err, "'%s' cannot be combined with '%s'", buf,
					    c->name[aw_sigma_chain_find(c, c->cmp)]);
		c->cmp = m;
	}
	c->has[m] = true;
	c->m[c->n] = m;
	c->name[c->n] = mod_names[k].name;
	c->n++;
	return 0;
}

/* The composition rules over the whole chain (has_field: the key names a field). */
static int chain_check(const struct aw_sigma_chain *c, bool has_field, struct aw_error *err)
{
	for (size_t k = 0; k < c->n; k++) {
		enum aw_sigma_mod m = c->m[k];
		if ((m == AW_MOD_RE || m == AW_MOD_CIDR || m == AW_MOD_EXISTS) && k != 0)
			return aw_error_set(err, "'%s' must be the first modifier", c->name[k]);
		if ((m == AW_MOD_I || m == AW_MOD_M || m == AW_MOD_S) && !c->has[AW_MOD_RE])
			return aw_error_set(err, "'%s' is only valid after 're'", c->name[k]);
	}
	for (size_t p = 0; p < sizeof companions / sizeof companions[0]; p++) {
		size_t at = aw_sigma_chain_find(c, companions[p].primary);
		if (at == SIZE_MAX)
			continue;
		for (size_t k = 0; k < c->n; k++) {
			bool allowed = k == at;
			for (size_t j = 0; j < companions[p].nok; j++)
				allowed |= c->m[k] == companions[p].ok[j];
			if (!allowed)
				return aw_error_set(err, "'%s' cannot be combined with '%s'",
						    c->name[k], c->name[at]);
		}
	}
	for (size_t j = 0; !has_field && j < sizeof need_field / sizeof need_field[0]; j++)
		if (c->has[need_field[j]])
			return aw_error_set(err, "'%s' needs a field name",
					    c->name[aw_sigma_chain_find(c, need_field[j])]);
	return 0;
}

int aw_sigma_chain_parse(const char *key, char **field, struct aw_sigma_chain *c,
			 struct aw_error *err)
{
	const char *bar = strchr(key, '|');
	size_t flen = bar ? (size_t)(bar - key) : strlen(key);

	aw_sigma_chain_init(c);
	*field = NULL;
	while (bar) {
		const char *name = bar + 1;
		const char *next = strchr(name, '|');
		if (chain_add(c, key, name, next ? (size_t)(next - name) : strlen(name), err) < 0)
			return -1;
		bar = next;
	}
	if (chain_check(c, flen > 0, err) < 0)
		return -1;
	if (flen == 0)
		return 0;
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

int aw_sigma_scalar_type(const struct aw_node *n, struct aw_sigma_scalar *tv, struct aw_error *err)
{
	const char *s = n->value;
	const char *body = s + (*s == '-' || *s == '+');

	memset(tv, 0, sizeof *tv);
	tv->text = s;
	tv->k = AW_SCALAR_STR;
	if (n->quoted)
		return 0;
	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	    !strcmp(s, "NULL")) {
		tv->k = AW_SCALAR_NULL;
		return 0;
	}
	static const char *const truthy[] = {"true", "True", "TRUE", "yes", "Yes",
					     "YES",  "on",   "On",   "ON"};
	static const char *const falsy[] = {"false", "False", "FALSE", "no", "No",
					    "NO",    "off",   "Off",   "OFF"};
	for (size_t k = 0; k < 9; k++) {
		if (!strcmp(s, truthy[k]) || !strcmp(s, falsy[k])) {
			tv->k = AW_SCALAR_BOOL;
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
		tv->k = AW_SCALAR_INT;
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
	tv->k = AW_SCALAR_FLOAT;
	return 0;
}

/* --- the patterns of one value ---------------------------------------------------- */

void aw_sigma_patvec_free(struct aw_sigma_patvec *pv)
{
	for (size_t k = 0; k < pv->n; k++)
		aw_sigma_pat_free(&pv->v[k]);
	free(pv->v);
	memset(pv, 0, sizeof *pv);
}

/* A new empty pattern at the end (NULL on OOM). */
struct aw_sigma_pat *aw_sigma_patvec_push(struct aw_sigma_patvec *pv)
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

/* --- pattern encoders (sigma_string.h) ----------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_append(struct aw_sigma_pat *out, const unsigned char *in, size_t n)
{
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		q[0] = b64chars[(v >> 18) & 63];
		q[1] = b64chars[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64chars[v & 63] : '=';
		if (aw_sigma_pat_add(out, q, 4, AW_SIGMA_LIT) < 0)
			return -1;
	}
	return 0;
}

int aw_sigma_pat_base64(const struct aw_sigma_pat *in, int variant, struct aw_sigma_pat *out)
{
	static const size_t start_cut[3] = {0, 2, 3};
	static const size_t end_cut[3] = {0, 3, 2};
	struct aw_sigma_pat enc = {0};
	unsigned char *buf;
	size_t shift = variant < 0 ? 0 : (size_t)variant;

	out->len = 0;
	if (aw_sigma_pat_has_wild(in) || variant > 2 || in->len > AW_SIGMA_PAT_MAX / 2)
		return -1;
	buf = malloc(in->len + 3);
	if (!buf)
		return -1;
	memset(buf, ' ', shift);
	if (in->len)
		memcpy(buf + shift, in->b, in->len);
	if (b64_append(&enc, buf, in->len + shift) < 0) {
		free(buf);
		aw_sigma_pat_free(&enc);
		return -1;
	}
	free(buf);
	size_t from = 0, to = enc.len;
	if (variant >= 0) {
		/* pySigma SigmaBase64OffsetModifier: start offsets (0, 2, 3), end offsets
		 * (none, -3, -2) chosen by (len + shift) % 3 */
		from = start_cut[shift];
		size_t cut = end_cut[(in->len + shift) % 3];
		to = enc.len >= cut ? enc.len - cut : 0;
		if (from > to)
			from = to;
	}
	int rc = aw_sigma_pat_add(out, enc.b ? enc.b + from : "", to - from, AW_SIGMA_LIT);
	aw_sigma_pat_free(&enc);
	return rc;
}

int aw_sigma_pat_utf16(const struct aw_sigma_pat *in, enum aw_sigma_utf16 how,
		       struct aw_sigma_pat *out)
{
	out->len = 0;
	if (aw_sigma_pat_add(out, "\xFF\xFE", how == AW_SIGMA_UTF16BOM ? 2 : 0, AW_SIGMA_LIT) < 0)
		return -1;
	for (size_t i = 0; i < in->len;) {
		if (in->w[i] != AW_SIGMA_LIT) {
			if (aw_sigma_pat_add(out, in->b + i, 1, (enum aw_sigma_wild)in->w[i]) < 0)
				return -1;
			i++;
			continue;
		}
		size_t run = 0;
		while (i + run < in->len && in->w[i + run] == AW_SIGMA_LIT)
			run++;
		size_t k;
		uint32_t cp = aw_sigma_utf8_decode(in->b + i, run, &k);
		if (k == 0)
			return -1;
		uint16_t units[2];
		size_t nu = 1;
		if (cp >= 0x10000) {
			units[0] = (uint16_t)(0xD800 + ((cp - 0x10000) >> 10));
			units[1] = (uint16_t)(0xDC00 + ((cp - 0x10000) & 0x3FF));
			nu = 2;
		} else {
			units[0] = (uint16_t)cp;
		}
		for (size_t u = 0; u < nu; u++) {
			char two[2];
			if (how == AW_SIGMA_UTF16BE) {
				two[0] = (char)(units[u] >> 8);
				two[1] = (char)(units[u] & 0xFF);
			} else {
				two[0] = (char)(units[u] & 0xFF);
				two[1] = (char)(units[u] >> 8);
			}
			if (aw_sigma_pat_add(out, two, 2, AW_SIGMA_LIT) < 0)
				return -1;
		}
		i += k;
	}
	return 0;
}

static bool word_byte(const struct aw_sigma_pat *p, size_t i)
{
	unsigned char c = (unsigned char)p->b[i];

	/* Python's \w is Unicode-aware: count any non-ASCII byte as part of a word. */
	return p->w[i] == AW_SIGMA_LIT && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					   (c >= '0' && c <= '9') || c == '_' || c >= 0x80);
}

static bool windash_at(const struct aw_sigma_pat *p, size_t i)
{
	if (p->w[i] != AW_SIGMA_LIT || (p->b[i] != '-' && p->b[i] != '/'))
		return false;
	/* \B before: start of the run or a non-word character; \b after: a word char */
	bool before = i == 0 || p->w[i - 1] != AW_SIGMA_LIT || !word_byte(p, i - 1);
	return before && i + 1 < p->len && word_byte(p, i + 1);
}

size_t aw_sigma_pat_windash_count(const struct aw_sigma_pat *in)
{
	size_t n = 0;

	for (size_t i = 0; i < in->len; i++)
		n += windash_at(in, i);
	return n;
}

int aw_sigma_pat_windash(const struct aw_sigma_pat *in, size_t idx, struct aw_sigma_pat *out)
{
	static const char *const dash[5] = {"-", "/", "\xE2\x80\x93", "\xE2\x80\x94",
					    "\xE2\x80\x95"};

	out->len = 0;
	if (aw_sigma_pat_add(out, "", 0, AW_SIGMA_LIT) < 0)
		return -1;
	for (size_t i = 0; i < in->len; i++) {
		int rc;
		if (windash_at(in, i)) {
			const char *d = dash[idx % 5];
			idx /= 5;
			rc = aw_sigma_pat_add(out, d, strlen(d), AW_SIGMA_LIT);
		} else {
			rc = aw_sigma_pat_add(out, in->b + i, 1, (enum aw_sigma_wild)in->w[i]);
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* --- applying a modifier ----------------------------------------------------------- */

static int oom(struct aw_sigma_build *bd)
{
	return aw_error_set(bd->err, "out of memory");
}

static int too_many(const struct aw_sigma_build *bd, const char *mname)
{
	return aw_error_set(bd->err, "'%s' of '%s' gives more than %zu variants", mname, bd->vtext,
			    bd->max_variants);
}

bool aw_sigma_mod_is_transform(enum aw_sigma_mod m)
{
	return m == AW_MOD_CONTAINS || m == AW_MOD_STARTSWITH || m == AW_MOD_ENDSWITH ||
	       m == AW_MOD_BASE64 || m == AW_MOD_BASE64OFFSET || m == AW_MOD_UTF16LE ||
	       m == AW_MOD_UTF16BE || m == AW_MOD_UTF16 || m == AW_MOD_WINDASH ||
	       m == AW_MOD_EXPAND;
}

static int wrap(struct aw_sigma_pat *p, bool front, bool back, struct aw_sigma_build *bd)
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
static int expand_one(const struct aw_sigma_pat *in, struct aw_sigma_patvec *out,
		      struct aw_sigma_build *bd)
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
			return too_many(bd, "expand");
		total *= ph->nvalues;
		from = j + 1;
		i = j;
	}
	pieces[np++] = (struct piece){from, in->len, NULL};
	if (out->n + total > bd->max_variants)
		return too_many(bd, "expand");
	for (size_t idx = 0; idx < total; idx++) {
		struct aw_sigma_pat *p = aw_sigma_patvec_push(out);
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

/* Every windash variant of in, appended to out (5^dashes of them, within the cap). */
static int windash_all(const struct aw_sigma_pat *in, struct aw_sigma_patvec *out,
		       struct aw_sigma_build *bd)
{
	size_t nd = aw_sigma_pat_windash_count(in), total = 1;

	for (size_t d = 0; d < nd; d++) {
		if (total > bd->max_variants / 5) {
			total = SIZE_MAX;
			break;
		}
		total *= 5;
	}
	if (total == SIZE_MAX || out->n + total > bd->max_variants)
		return aw_error_set(bd->err,
				    "'windash' of '%s' gives more than %zu variants (%zu dashes)",
				    bd->vtext, bd->max_variants, nd);
	for (size_t idx = 0; idx < total; idx++) {
		struct aw_sigma_pat *p = aw_sigma_patvec_push(out);
		if (!p || aw_sigma_pat_windash(in, idx, p) < 0)
			return oom(bd);
	}
	return 0;
}

int aw_sigma_transform(enum aw_sigma_mod m, const char *mname, struct aw_sigma_patvec *pv,
		       struct aw_sigma_build *bd)
{
	struct aw_sigma_patvec out = {0};
	int rc = -1;

	if (m == AW_MOD_CONTAINS || m == AW_MOD_STARTSWITH || m == AW_MOD_ENDSWITH) {
		for (size_t k = 0; k < pv->n; k++)
			if (wrap(&pv->v[k], m != AW_MOD_STARTSWITH, m != AW_MOD_ENDSWITH, bd) < 0)
				return -1;
		return 0;
	}
	for (size_t k = 0; k < pv->n; k++) {
		const struct aw_sigma_pat *in = &pv->v[k];
		struct aw_sigma_pat *p;
		if ((m == AW_MOD_BASE64 || m == AW_MOD_BASE64OFFSET) && aw_sigma_pat_has_wild(in)) {
			aw_error_set(bd->err, "'%s' cannot encode wildcards in '%s'", mname,
				     bd->vtext);
			goto out;
		}
		switch (m) {
		case AW_MOD_BASE64:
			if (!(p = aw_sigma_patvec_push(&out)) || aw_sigma_pat_base64(in, -1, p) < 0)
				goto oom;
			break;
		case AW_MOD_BASE64OFFSET:
			if (out.n + 3 > bd->max_variants) {
				too_many(bd, mname);
				goto out;
			}
			for (int v = 0; v < 3; v++)
				if (!(p = aw_sigma_patvec_push(&out)) ||
				    aw_sigma_pat_base64(in, v, p) < 0)
					goto oom;
			break;
		case AW_MOD_UTF16LE:
		case AW_MOD_UTF16BE:
		case AW_MOD_UTF16:
			if (!(p = aw_sigma_patvec_push(&out)))
				goto oom;
			if (aw_sigma_pat_utf16(in,
					       m == AW_MOD_UTF16LE   ? AW_SIGMA_UTF16LE
					       : m == AW_MOD_UTF16BE ? AW_SIGMA_UTF16BE
								     : AW_SIGMA_UTF16BOM,
					       p) < 0) {
				aw_error_set(bd->err, "'%s' needs valid UTF-8 in '%s'", mname,
					     bd->vtext);
				goto out;
			}
			break;
		case AW_MOD_WINDASH:
			if (windash_all(in, &out, bd) < 0)
				goto out;
			break;
		case AW_MOD_EXPAND:
			if (expand_one(in, &out, bd) < 0)
				goto out;
			break;
		default:
			break;
		}
	}
	aw_sigma_patvec_free(pv);
	*pv = out;
	return 0;
oom:
	oom(bd);
out:
	aw_sigma_patvec_free(&out);
	return rc;
}
