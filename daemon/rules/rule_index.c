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
#define RI_MAX_ITEMS  8   /* filed items per rule */

struct slot {
	uint64_t h;   /* 0: empty */
	uint32_t pos; /* route position of the rule */
};

struct field {
	const struct aw_field_ref *ref; /* the first filed item's (rules outlive the index) */
	size_t maxlen;                  /* longest value filed under it */
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

static uint64_t value_hash(const char *s, size_t n, size_t field)
{
	uint64_t h = 1469598103934665603ull ^ ((uint64_t)field * 0x9E3779B97F4A7C15ull);

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h ? h : 1; /* 0 marks an empty slot */
}

/* A required item filed under its values. */
struct filed_item {
	const struct aw_sigma_item *it;
	const char *vals[RI_MAX_VALUES];
	size_t lens[RI_MAX_VALUES];
	size_t n;
};

/* Every required item of r that says "field equals one of these strings" (up to
 * RI_MAX_ITEMS): a rule is a candidate only when all of them hold, which is what
 * keeps rules that share a common value (OperationName: ChatCompletions_Create)
 * from all being candidates for every such event. */
static size_t pick_items(const struct aw_sigma_rule *r, struct filed_item *out)
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
			struct filed_item *fi = &out[n];
			fi->n = aw_sigma_item_exact_values(g->items[k], fi->vals, fi->lens,
							   RI_MAX_VALUES);
			bool fits = fi->n > 0 && aw_sigma_item_ref(g->items[k]);
			for (size_t j = 0; fits && j < fi->n; j++)
				fits = fi->lens[j] <= RI_MAX_LEN;
			if (fits) {
				fi->it = g->items[k];
				n++;
			}
		}
	}
	free(req);
	/* A field inside JSON text (properties_s.x) costs a parse of that text on every
	 * event of the route once it is indexed: file such items only when the rule
	 * has no plain column to be filed under. */
	size_t plain = 0;
	for (size_t k = 0; k < n; k++)
		if (aw_sigma_item_ref(out[k].it)->nseg <= 1)
			out[plain++] = out[k];
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

static int grow(struct aw_rule_index *ix, size_t want)
{
	size_t cap = ix->cap ? ix->cap : 64;
	struct slot *old = ix->slots;
	size_t oldcap = ix->cap;

	while (cap < 2 * want)
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

struct aw_rule_index *aw_rule_index_build(const struct aw_rs_rule *rules, const size_t *order,
					  size_t n)
{
	struct aw_rule_index *ix = calloc(1, sizeof *ix);
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
	for (size_t k = 0; k < n; k++) {
		struct filed_item items[RI_MAX_ITEMS];
		size_t ni = pick_items(rules[order[k]].rule, items);
		char buf[RI_MAX_LEN];

		for (size_t m = 0; m < ni; m++) {
			size_t f = field_slot(ix, aw_sigma_item_ref(items[m].it));
			if (f == RI_MAX_FIELDS)
				continue;
			if (grow(ix, used + items[m].n) < 0)
				goto fail;
			for (size_t j = 0; j < items[m].n; j++) {
				/* the item's literals are folded already; fold again so the
				 * event side and this side agree byte for byte */
				aw_sigma_fold(buf, items[m].vals[j], items[m].lens[j]);
				uint64_t h = value_hash(buf, items[m].lens[j], f);
				size_t s = h & (ix->cap - 1);
				while (ix->slots[s].h)
					s = (s + 1) & (ix->cap - 1);
				ix->slots[s] = (struct slot){.h = h, .pos = (uint32_t)k};
				used++;
				if (items[m].lens[j] > ix->fields[f].maxlen)
					ix->fields[f].maxlen = items[m].lens[j];
			}
			ix->need[k]++;
		}
		if (ix->need[k])
			ix->filed++;
		else
			ix->always[k / 64] |= (uint64_t)1 << (k % 64);
	}
	return ix;
fail:
	aw_rule_index_free(ix);
	return NULL;
}

void aw_rule_index_free(struct aw_rule_index *ix)
{
	if (!ix)
		return;
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
};

static int value_cb(void *ud, const struct aw_val *v)
{
	struct lookup *l = ud;
	struct aw_rule_index *ix = l->ix;
	char buf[RI_MAX_LEN];

	if (v->kind == AW_VAL_NULL || v->len > ix->fields[l->field].maxlen)
		return 0;
	aw_sigma_fold(buf, v->s, v->len);
	uint64_t h = value_hash(buf, v->len, l->field);
	/* every rule filed under this value sits in the probe run from its slot */
	/* every rule filed under this value sits in the probe run from its slot; a rule
	 * is a candidate once as many of its items held as it has filed (an array
	 * value may count one item twice: a spare candidate, never a missed one) */
	for (size_t s = h & (ix->cap - 1); ix->slots[s].h; s = (s + 1) & (ix->cap - 1)) {
		uint32_t pos = ix->slots[s].pos;
		if (ix->slots[s].h == h && ix->count[pos] < 255 &&
		    ++ix->count[pos] == ix->need[pos])
			l->out[pos / 64] |= (uint64_t)1 << (pos % 64);
	}
	return 0; /* an array field: every element may file rules */
}

void aw_rule_index_candidates(struct aw_rule_index *ix, struct aw_event_view *ev, uint64_t *out)
{
	memcpy(out, ix->always, ix->words * sizeof *out);
	memset(ix->count, 0, ix->n);
	for (size_t f = 0; f < ix->nfields; f++) {
		struct lookup l = {.ix = ix, .field = f, .out = out};
		aw_event_view_get(ev, ix->fields[f].ref, value_cb, &l, NULL);
	}
}
