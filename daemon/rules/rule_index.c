/* The value index of a route's rules (see rule_index.h). */
#include "rule_index.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ruleset.h"
#include "sigma_cond.h"
#include "sigma_item.h"
#include "sigma_string.h"

#define RI_MAX_VALUES 64  /* a rule listing more values is not filed */
#define RI_MAX_LEN    256 /* nor one whose value is longer */
#define RI_MAX_FIELDS 32  /* distinct fields looked up per event */
#define RI_MAX_ITEMS  8   /* filed units per rule */
#define RI_MAX_ALTS   AW_COND_ANY_MAX /* alternatives per unit */
#define RI_MAX_PATS   4096 /* distinct substrings (and non-ASCII patterns) per field */
#define RI_HASH_LEN   255  /* longest prefix / suffix looked up by hash */
#define RI_LC_MAX     4096 /* longest value searched for substrings in one lower-cased copy */

/* What a slot's hash was made from: a whole value, or the first or last bytes. */
enum ri_kind { RI_EXACT, RI_PREFIX, RI_SUFFIX };

struct slot {
	uint64_t h;   /* 0: empty */
	uint32_t pos; /* route position of the rule */
};

/* A substring some rules require of a field (or a prefix or suffix that is not plain
 * ASCII or too long to hash), and those rules. */
struct pat {
	const struct aw_sigma_str *str; /* the first filing rule's matcher */
	bool ascii_sub;			/* a plain ASCII substring: memmem in lower case */
	uint32_t *pos;			/* route positions of the rules filed under it */
	size_t npos, cap;
};

struct field {
	const struct aw_field_ref *ref; /* the first filed item's (rules outlive the index) */
	size_t maxlen;                  /* longest exact value filed under it */
	struct pat *pats;		/* distinct patterns, each tested once per value */
	size_t npats, patcap;
	/* lengths of the ASCII prefixes [0] and suffixes [1] filed by hash: one lookup
	 * per distinct length, whatever the number of rules */
	uint64_t lens[2][4];
	unsigned affixes; /* bit 0: prefixes filed, bit 1: suffixes (lens not all zero) */
	struct pat nulls; /* rules filed under "absent or null" (str NULL) */
};

struct aw_rule_index {
	size_t n, words, filed;
	uint64_t *always; /* rules evaluated whatever the values */
	uint8_t *need;    /* per rule: filed items that must all hold (0: always) */
	uint8_t *count;   /* per event: filed items seen to hold (scratch) */
	struct field fields[RI_MAX_FIELDS];
	size_t nfields;
	struct slot *slots;
	size_t cap; /* a power of two */
};

/* The next (up to) eight bytes of a value as a word, without a call to memcpy for the
 * last few: two overlapping loads for four to seven, byte by byte below that. Any fixed
 * function of the bytes will do, as long as filing and lookup use the same one. */
static inline uint64_t tail_word(const char *s, size_t r)
{
	uint64_t w = 0;
	uint32_t lo, hi;

	if (r >= 8) {
		memcpy(&w, s, 8);
	} else if (r >= 4) {
		memcpy(&lo, s, 4);
		memcpy(&hi, s + r - 4, 4);
		w = (uint64_t)hi << 32 | lo;
	} else {
		for (size_t k = 0; k < r; k++)
			w |= (uint64_t)(unsigned char)s[k] << (8 * k);
	}
	return w;
}

/* A value's hash, eight bytes at a time; with fold, ASCII letters are lowered on the way
 * (aw_sigma_lower8), which is what folding makes of ASCII text, so an event's value is
 * looked up without a folded copy. false (fold only) when the value is not all ASCII:
 * the caller folds it in full then. */
static inline bool value_hash_as(const char *s, size_t n, size_t field, enum ri_kind kind,
				 bool fold, uint64_t *out)
{
	const uint64_t k = 0x9E3779B97F4A7C15ull, highs = 0x8080808080808080ull;
	uint64_t h = 1469598103934665603ull ^ ((uint64_t)n * 0xC2B2AE3D27D4EB4Full) ^
		     (((uint64_t)field * 4 + (uint64_t)kind) * k);
	uint64_t w;
	size_t i = 0;

	for (;; i += 8) {
		w = tail_word(s + i, n - i);
		if (fold) {
			if (w & highs)
				return false;
			w = aw_sigma_lower8(w);
		}
		h = (h ^ w) * k;
		h ^= h >> 29;
		if (n - i <= 8)
			break;
	}
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 32;
	*out = h ? h : 1; /* 0 marks an empty slot */
	return true;
}

static uint64_t value_hash(const char *s, size_t n, size_t field, enum ri_kind kind)
{
	uint64_t h = 1;

	value_hash_as(s, n, field, kind, false, &h);
	return h;
}

/* An item filed under its values, or under "absent or null" (n == 0). */
struct filed_item {
	const struct aw_sigma_item *it;
	const struct aw_sigma_str *vals[RI_MAX_VALUES];
	size_t n;
	long pats[RI_MAX_VALUES]; /* while filing: each value's pattern entry, or -1 */
	size_t field;		  /* while filing */
};

/* What a rule is filed under: units that must all hold, each a set of items of which
 * one must. A required item is a unit of one; a required `1 of` (`1 of key_auth_* and
 * not filter`) is a unit of one item from each of its identifiers. */
struct filed_unit {
	struct filed_item alt[RI_MAX_ALTS];
	size_t nalt;
};

/* Whether item it can be filed: "field is / starts with / ends with / contains one of
 * these strings", or "field is absent or null"; fills fi. */
static bool item_fileable(const struct aw_sigma_item *it, struct filed_item *fi)
{
	if (!aw_sigma_item_ref(it))
		return false;
	fi->it = it;
	if (aw_sigma_item_is_null(it)) {
		fi->n = 0;
		return true;
	}
	fi->n = aw_sigma_item_literal_matchers(it, fi->vals, RI_MAX_VALUES);
	if (fi->n == 0)
		return false;
	for (size_t j = 0; j < fi->n; j++) {
		size_t len;
		aw_sigma_str_literal(fi->vals[j], &len);
		if (len > RI_MAX_LEN)
			return false;
	}
	return true;
}

static bool unit_plain(const struct filed_unit *u)
{
	for (size_t a = 0; a < u->nalt; a++)
		if (aw_sigma_item_ref(u->alt[a].it)->nseg > 1)
			return false;
	return true;
}

struct any_ctx {
	const struct aw_sigma_detection *d;
	const bool *req;
	struct filed_unit *units;
	size_t n;
};

/* A required `1 of`: one item from each identifier (a plain column when there is
 * one), or nothing when one of them has none or is required on its own anyway. */
static void any_unit(void *ud, const uint32_t *ids, size_t n)
{
	struct any_ctx *c = ud;
	struct filed_unit *u = &c->units[c->n];

	if (c->n == RI_MAX_ITEMS || n > RI_MAX_ALTS)
		return;
	u->nalt = 0;
	for (size_t j = 0; j < n; j++) {
		const struct aw_sigma_detection *d = c->d;
		if (ids[j] >= d->nidents || c->req[ids[j]] || d->idents[ids[j]].ngroups != 1)
			return;
		const struct aw_sigma_group *g = &d->idents[ids[j]].groups[0];
		bool found = false;
		for (int pass = 0; pass < 2 && !found; pass++)
			for (size_t k = 0; k < g->nitems && !found; k++) {
				const struct aw_field_ref *ref = aw_sigma_item_ref(g->items[k]);
				if (pass == 0 && (!ref || ref->nseg > 1))
					continue;
				found = item_fileable(g->items[k], &u->alt[u->nalt]);
			}
		if (!found)
			return;
		u->nalt++;
	}
	c->n++;
}

/* The units of rule r (up to RI_MAX_ITEMS into out). A rule is a candidate only when
 * all of them hold, which is what keeps rules that share a common value (OperationName:
 * ChatCompletions_Create) from all being candidates for every such event, and rules
 * that differ only in a substring (Resource|contains: -HR-) from all being evaluated
 * in full. */
static size_t pick_units(const struct aw_sigma_rule *r, struct filed_unit *out)
{
	const struct aw_sigma_detection *d = &r->det;
	size_t n = 0;
	bool *req;

	if (d->nidents == 0 || !(req = calloc(d->nidents, sizeof *req)))
		return 0;
	aw_cond_required(d->cond, req, d->nidents);
	for (size_t i = 0; i < d->nidents && n < RI_MAX_ITEMS; i++) {
		/* a list of maps is an OR: none of its items is required on its own */
		if (!req[i] || d->idents[i].ngroups != 1)
			continue;
		const struct aw_sigma_group *g = &d->idents[i].groups[0];
		for (size_t k = 0; k < g->nitems && n < RI_MAX_ITEMS; k++) {
			if (item_fileable(g->items[k], &out[n].alt[0])) {
				out[n].nalt = 1;
				n++;
			}
		}
	}
	struct any_ctx ctx = {.d = d, .req = req, .units = out, .n = n};
	aw_cond_required_any(d->cond, any_unit, &ctx);
	n = ctx.n;
	free(req);
	/* A field inside JSON text (properties_s.x) costs a parse of that text on every
	 * event of the route once it is indexed: file such units only when the rule
	 * has no plain column to be filed under. */
	size_t plain = 0;
	for (size_t k = 0; k < n; k++)
		if (unit_plain(&out[k])) {
			if (plain != k)
				out[plain] = out[k];
			plain++;
		}
	return plain ? plain : n;
}

static size_t field_slot(struct aw_rule_index *ix, const struct aw_field_ref *ref)
{
	for (size_t f = 0; f < ix->nfields; f++)
		if (strcmp(ix->fields[f].ref->name, ref->name) == 0)
			return f;
	if (ix->nfields == RI_MAX_FIELDS)
		return RI_MAX_FIELDS;
	ix->fields[ix->nfields] = (struct field){.ref = ref, .maxlen = 0};
	return ix->nfields++;
}

static bool plain_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* ASCII letters lower-cased, every other byte as it is. For a pattern of plain ASCII
 * (folded already) this is exactly the matcher's folding: no two-byte character folds
 * to ASCII (sigma_string.c folds only within two-byte forms). */
static void lower_ascii(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
	}
}

/* How a filed value is looked up per event. */
static enum ri_kind hash_kind(const struct aw_sigma_str *str, bool *hashed)
{
	size_t len;
	const char *lit = aw_sigma_str_literal(str, &len);
	enum aw_sigma_match_kind k = aw_sigma_str_kind(str);

	*hashed = k == AW_SIGMA_EXACT ||
		  ((k == AW_SIGMA_PREFIX || k == AW_SIGMA_SUFFIX) && len <= RI_HASH_LEN &&
		   plain_ascii(lit, len));
	return k == AW_SIGMA_PREFIX ? RI_PREFIX : k == AW_SIGMA_SUFFIX ? RI_SUFFIX : RI_EXACT;
}

/* The index of the field's entry for a pattern (same kind and folded literal: same
 * verdict), added when new; -1 when out of memory or the field has RI_MAX_PATS
 * already. */
static long pattern_slot(struct field *fd, const struct aw_sigma_str *str)
{
	enum aw_sigma_match_kind kind = aw_sigma_str_kind(str);
	size_t len, l;
	const char *lit = aw_sigma_str_literal(str, &len);

	for (size_t i = 0; i < fd->npats; i++) {
		const char *o = aw_sigma_str_literal(fd->pats[i].str, &l);
		if (aw_sigma_str_kind(fd->pats[i].str) == kind && l == len && memcmp(o, lit, len) == 0)
			return (long)i;
	}
	if (fd->npats == RI_MAX_PATS)
		return -1;
	if (fd->npats == fd->patcap) {
		size_t ncap = fd->patcap ? fd->patcap * 2 : 8;
		struct pat *np = realloc(fd->pats, ncap * sizeof *np);
		if (!np)
			return -1;
		fd->pats = np;
		fd->patcap = ncap;
	}
	fd->pats[fd->npats] = (struct pat){
	    .str = str, .ascii_sub = kind == AW_SIGMA_CONTAINS && plain_ascii(lit, len)};
	return (long)fd->npats++;
}

/* File rule pos under a pattern. Two values of one item that both hold count twice,
 * which only makes a spare candidate; counting an item once per pattern instead
 * would lose a rule that requires the same pattern in two items. */
static int pattern_add(struct pat *p, uint32_t pos)
{
	if (p->npos == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 4;
		uint32_t *np = realloc(p->pos, ncap * sizeof *np);
		if (!np)
			return -1;
		p->pos = np;
		p->cap = ncap;
	}
	p->pos[p->npos++] = pos;
	return 0;
}

static int grow(struct aw_rule_index *ix, size_t want)
{
	size_t cap = ix->cap ? ix->cap : 64;
	struct slot *old = ix->slots;
	size_t oldcap = ix->cap;

	/* a quarter full at most: a probe runs to the next empty slot (rules filed
	 * under one hash sit in one run), for every value of every event */
	while (cap < 4 * want)
		cap *= 2;
	if (cap == ix->cap)
		return 0;
	struct slot *s = calloc(cap, sizeof *s);
	if (!s)
		return -1;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i].h)
			continue;
		size_t j = old[i].h & (cap - 1);
		while (s[j].h)
			j = (j + 1) & (cap - 1);
		s[j] = old[i];
	}
	free(old);
	ix->slots = s;
	ix->cap = cap;
	return 0;
}

/* File rule pos under item fi's values (its pattern entries chosen already), or
 * under its field's "absent or null". *used counts the hash slots taken. */
static int file_item(struct aw_rule_index *ix, const struct filed_item *fi, uint32_t pos,
		     size_t *used)
{
	struct field *fd = &ix->fields[fi->field];
	char buf[RI_MAX_LEN];

	if (fi->n == 0)
		return pattern_add(&fd->nulls, pos);
	if (grow(ix, *used + fi->n) < 0)
		return -1;
	for (size_t j = 0; j < fi->n; j++) {
		size_t len;
		const char *lit = aw_sigma_str_literal(fi->vals[j], &len);
		bool hashed;
		enum ri_kind kind = hash_kind(fi->vals[j], &hashed);
		if (fi->pats[j] >= 0) {
			if (pattern_add(&fd->pats[fi->pats[j]], pos) < 0)
				return -1;
			continue;
		}
		/* the item's literals are folded already; fold again so the event side
		 * and this side agree byte for byte */
		aw_sigma_fold(buf, lit, len);
		uint64_t h = value_hash(buf, len, fi->field, kind);
		size_t s = h & (ix->cap - 1);
		while (ix->slots[s].h)
			s = (s + 1) & (ix->cap - 1);
		ix->slots[s] = (struct slot){.h = h, .pos = pos};
		(*used)++;
		if (kind != RI_EXACT) {
			fd->lens[kind - 1][len / 64] |= (uint64_t)1 << (len % 64);
			fd->affixes |= kind == RI_PREFIX ? 1u : 2u;
		} else if (len > fd->maxlen) {
			fd->maxlen = len;
		}
	}
	return 0;
}

struct aw_rule_index *aw_rule_index_build(const struct aw_rs_rule *rules, const size_t *order,
					  size_t n)
{
	struct aw_rule_index *ix = calloc(1, sizeof *ix);
	struct filed_unit *units = NULL;
	size_t used = 0;

	if (!ix)
		return NULL;
	ix->n = n;
	ix->words = (n + 63) / 64;
	ix->always = calloc(ix->words ? ix->words : 1, sizeof *ix->always);
	if (!ix->always)
		goto fail;
	ix->need = calloc(n ? n : 1, 1);
	ix->count = calloc(n ? n : 1, 1);
	if (!ix->need || !ix->count)
		goto fail;
	if (!(units = calloc(RI_MAX_ITEMS, sizeof *units)))
		goto fail;
	for (size_t k = 0; k < n; k++) {
		size_t nu = pick_units(rules[order[k]].rule, units);

		for (size_t u = 0; u < nu; u++) {
			/* every field and pattern slot first: a unit is filed whole or not at
			 * all, since any of its items may be the one that holds */
			bool whole = true;
			for (size_t a = 0; a < units[u].nalt && whole; a++) {
				struct filed_item *fi = &units[u].alt[a];
				fi->field = field_slot(ix, aw_sigma_item_ref(fi->it));
				whole = fi->field < RI_MAX_FIELDS;
				for (size_t j = 0; j < fi->n && whole; j++) {
					bool hashed;
					fi->pats[j] = -1;
					hash_kind(fi->vals[j], &hashed);
					if (!hashed)
						whole = (fi->pats[j] = pattern_slot(
								 &ix->fields[fi->field],
								 fi->vals[j])) >= 0;
				}
			}
			if (!whole)
				continue;
			for (size_t a = 0; a < units[u].nalt; a++)
				if (file_item(ix, &units[u].alt[a], (uint32_t)k, &used) < 0)
					goto fail;
			ix->need[k]++;
		}
		if (ix->need[k])
			ix->filed++;
		else
			ix->always[k / 64] |= (uint64_t)1 << (k % 64);
	}
	free(units);
	return ix;
fail:
	free(units);
	aw_rule_index_free(ix);
	return NULL;
}

void aw_rule_index_free(struct aw_rule_index *ix)
{
	if (!ix)
		return;
	for (size_t f = 0; f < ix->nfields; f++) {
		for (size_t i = 0; i < ix->fields[f].npats; i++)
			free(ix->fields[f].pats[i].pos);
		free(ix->fields[f].pats);
		free(ix->fields[f].nulls.pos);
	}
	free(ix->always);
	free(ix->need);
	free(ix->count);
	free(ix->slots);
	free(ix);
}

size_t aw_rule_index_words(const struct aw_rule_index *ix)
{
	return ix->words;
}

size_t aw_rule_index_filed(const struct aw_rule_index *ix)
{
	return ix->filed;
}

struct lookup {
	struct aw_rule_index *ix;
	size_t field;
	uint64_t *out;
	bool null_seen; /* some value of the field was null */
};

/* One filed item of rule pos held. */
static void item_held(struct aw_rule_index *ix, uint32_t pos, uint64_t *out)
{
	if (ix->count[pos] < 255 && ++ix->count[pos] == ix->need[pos])
		out[pos / 64] |= (uint64_t)1 << (pos % 64);
}

/* Every rule filed under hash h sits in the probe run from its slot; a rule is a
 * candidate once as many of its items held as it has filed (an array value, or two
 * values of one item, may count an item twice: a spare candidate, never a missed
 * one). */
static void probe(struct aw_rule_index *ix, uint64_t h, uint64_t *out)
{
	for (size_t s = h & (ix->cap - 1); ix->slots[s].h; s = (s + 1) & (ix->cap - 1)) {
		if (ix->slots[s].h == h)
			item_held(ix, ix->slots[s].pos, out);
	}
}

/* The ASCII prefixes (or suffixes) filed under the field: one hash per distinct
 * length. tail: the value's last min(n, RI_HASH_LEN) bytes, lower-cased. */
static void affixes(struct aw_rule_index *ix, size_t f, enum ri_kind kind, const char *lc,
		    size_t n, uint64_t *out)
{
	const uint64_t *bits = ix->fields[f].lens[kind - 1];

	for (size_t w = 0; w < 4; w++) {
		for (uint64_t b = bits[w]; b; b &= b - 1) {
			size_t len = w * 64 + (size_t)__builtin_ctzll(b);
			if (len > n)
				return;
			probe(ix, value_hash(kind == RI_PREFIX ? lc : lc + n - len, len, f, kind),
			      out);
		}
	}
}

static int value_cb(void *ud, const struct aw_val *v)
{
	struct lookup *l = ud;
	struct aw_rule_index *ix = l->ix;
	const struct field *fd = &ix->fields[l->field];
	char buf[RI_MAX_LEN];
	char lc[RI_LC_MAX];
	bool whole = v->len <= sizeof lc;

	if (v->kind == AW_VAL_NULL) {
		l->null_seen = true;
		return 0;
	}
	if (fd->affixes & 1) {
		size_t k = v->len < RI_HASH_LEN ? v->len : RI_HASH_LEN;
		lower_ascii(lc, v->s, k);
		affixes(ix, l->field, RI_PREFIX, lc, k, l->out);
	}
	if (fd->affixes & 2) {
		size_t k = v->len < RI_HASH_LEN ? v->len : RI_HASH_LEN;
		lower_ascii(lc, v->s + v->len - k, k);
		affixes(ix, l->field, RI_SUFFIX, lc, k, l->out);
	}
	/* each distinct substring once per value: plain ASCII ones in one lower-cased
	 * copy, the rest (and very long values) with the rules' own matcher */
	if (fd->npats && whole)
		lower_ascii(lc, v->s, v->len);
	for (size_t i = 0; i < fd->npats; i++) {
		const struct pat *p = &fd->pats[i];
		bool held;
		if (whole && p->ascii_sub) {
			size_t len;
			const char *lit = aw_sigma_str_literal(p->str, &len);
			held = len == 0 || (len <= v->len && memmem(lc, v->len, lit, len));
		} else {
			held = aw_sigma_str_match(p->str, v->s, v->len);
		}
		if (!held)
			continue;
		for (size_t k = 0; k < p->npos; k++)
			item_held(ix, p->pos[k], l->out);
	}
	if (v->len > fd->maxlen)
		return 0;
	uint64_t h;
	if (!value_hash_as(v->s, v->len, l->field, RI_EXACT, true, &h)) {
		aw_sigma_fold(buf, v->s, v->len);
		h = value_hash(buf, v->len, l->field, RI_EXACT);
	}
	probe(ix, h, l->out);
	return 0; /* an array field: every element may file rules */
}

void aw_rule_index_candidates(struct aw_rule_index *ix, struct aw_event_view *ev, uint64_t *out)
{
	memcpy(out, ix->always, ix->words * sizeof *out);
	memset(ix->count, 0, ix->n);
	for (size_t f = 0; f < ix->nfields; f++) {
		struct lookup l = {.ix = ix, .field = f, .out = out};
		const struct pat *nulls = &ix->fields[f].nulls;
		/* `field: null` holds for an absent field and for a null value, as in
		 * sigma_item.c */
		if (aw_event_view_get(ev, ix->fields[f].ref, value_cb, &l, NULL) == 0 ||
		    l.null_seen)
			for (size_t k = 0; k < nulls->npos; k++)
				item_held(ix, nulls->pos[k], out);
	}
}
