/* Recent records' top-level key sequences (see key_layout.h). */
#include "key_layout.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "field_id.h"

#define AW_KEY_RES_MIN 64

void aw_key_layouts_free(struct aw_key_layouts *ls)
{
	if (!ls)
		return;
	for (size_t s = 0; s < AW_KEY_LAYOUTS; s++)
		free(ls->slot[s].res);
	free(ls);
}

/* Whether the record's keys are l's, byte for byte. */
static bool same_keys(const struct aw_key_layout *l, const char *js, const jsmntok_t *t,
		      const int *ktok, size_t n)
{
	size_t off = 0;

	if (l->nkeys != n || l->used == 0)
		return false;
	for (size_t k = 0; k < n; k++) {
		const jsmntok_t *tk = &t[ktok[k]];
		if (!aw_key_layout_key_is(l, k, &off, js + tk->start, (size_t)(tk->end - tk->start)))
			return false;
	}
	return true;
}

/* Make slot l hold the record's keys; false when they do not fit. Its old answers
 * become stale by the epoch, without touching them. */
static bool take_keys(struct aw_key_layout *l, const char *js, const jsmntok_t *t,
		      const int *ktok, size_t n)
{
	size_t off = 0;

	if (n > AW_KEY_LAYOUT_MAX_KEYS)
		return false;
	for (size_t k = 0; k < n; k++) {
		const jsmntok_t *tk = &t[ktok[k]];
		size_t rl = (size_t)(tk->end - tk->start);
		if (rl > AW_KEY_LAYOUT_MAX_BYTES - off) {
			l->used = 0; /* part written: no record may match it */
			return false;
		}
		memcpy(l->bytes + off, js + tk->start, rl);
		l->len[k] = (uint16_t)rl;
		off += rl;
	}
	l->nkeys = (uint32_t)n;
	if (++l->epoch == 0) {
		/* after 2^32 sequences an old entry could carry the new epoch */
		if (l->res)
			memset(l->res, 0, l->rcap * sizeof *l->res);
		l->epoch = 1;
	}
	return true;
}

struct aw_key_layout *aw_key_layout_of(struct aw_key_layouts *ls, const char *js,
				       const jsmntok_t *t, const int *ktok, size_t n)
{
	struct aw_key_layout *l = ls->last, *lru = &ls->slot[0];

	if (n > AW_KEY_LAYOUT_MAX_KEYS)
		return NULL;
	/* mostly the last record's table again */
	if (l && same_keys(l, js, t, ktok, n))
		goto found;
	for (size_t s = 0; s < AW_KEY_LAYOUTS; s++) {
		l = &ls->slot[s];
		if (l != ls->last && same_keys(l, js, t, ktok, n))
			goto found;
		if (l->used < lru->used)
			lru = l;
	}
	if (!take_keys(lru, js, t, ktok, n))
		return NULL;
	l = lru;
found:
	return aw_key_layout_hit(ls, l);
}

void aw_key_layout_remember(struct aw_key_layout *l, unsigned id, int exact, int folded)
{
	if (id == 0)
		return;
	if (id >= l->rcap) {
		size_t ncap = l->rcap ? l->rcap : AW_KEY_RES_MIN;
		while (ncap <= id)
			ncap *= 2;
		if (ncap > AW_FIELD_ID_MAX)
			return;
		struct aw_key_res *r = realloc(l->res, ncap * sizeof *r);
		if (!r)
			return;
		memset(r + l->rcap, 0, (ncap - l->rcap) * sizeof *r);
		l->res = r;
		l->rcap = ncap;
	}
	l->res[id] = (struct aw_key_res){.epoch = l->epoch, .exact = (int16_t)exact,
					 .folded = (int16_t)folded};
}
