/* The two aiwatch extensions to Sigma correlations: first_seen (a value new for its group
 * after a learning period) and baseline (a bucket count far above the group's own history).
 * Their semantics are described at the top of correlation.c. */
#include "rules/corr_int.h"

#include <stdlib.h>
#include <string.h>

#include "bytes_eq.h"

/* Report a fire whose evidence is the one event that caused it: neither extension keeps
 * per-match ids. aggregate is the count (1 for first_seen, the bucket's for baseline). */
static int fire_event(struct aw_corr *c, const struct aw_corr_group *g, struct aw_corr_fire *f,
		      int64_t t0, int64_t t1, uint32_t count, const char *id,
		      const struct aw_corr_piece *value)
{
	struct aw_corr_piece idp = {id, id ? strnlen(id, AW_CORR_ID_MAX) : 0};

	memset(f, 0, sizeof *f);
	f->window_start_ms = t0;
	f->window_end_ms = t1;
	f->count = count;
	f->aggregate = count;
	if (aw_corr_fire_set(c, f, g, &idp, idp.n ? 1 : 0, value, value ? 1 : 0) != 0)
		return -1;
	return 1;
}

/* --- first_seen ---------------------------------------------------------------------- */

void aw_corr_seen_clear(struct aw_corr_seen *s)
{
	if (!s || !s->t)
		return;
	for (uint32_t i = 0; i <= s->mask; i++)
		if (s->t[i].len != AW_CORR_SEEN_EMPTY && s->t[i].len >= AW_CORR_SEEN_INLINE)
			free(s->t[i].u.p);
	free(s->t);
	s->t = NULL;
	s->n = s->mask = 0;
}

/* The slot holding v (hash h), or the free slot where it would go. The table always
 * has a free slot: it is kept at most three quarters full. */
static struct aw_corr_seen_v *seen_slot(const struct aw_corr_seen *s, const char *v, size_t vlen,
					uint32_t h)
{
	for (uint32_t i = h & s->mask;; i = (i + 1) & s->mask) {
		struct aw_corr_seen_v *e = &s->t[i];
		if (e->len == AW_CORR_SEEN_EMPTY)
			return e;
		if (e->hash == h && e->len == vlen && aw_bytes_eq(aw_corr_seen_str(e), v, vlen))
			return e;
	}
}

/* Whether v is in the set; h is its hash under the correlation's seed. */
bool aw_corr_seen_has(const struct aw_corr_seen *s, const char *v, size_t vlen, uint32_t h)
{
	return s->n && seen_slot(s, v, vlen, h)->len != AW_CORR_SEEN_EMPTY;
}

/* Move every value to a table of `slots` slots (a power of two above 4 * n / 3). */
static int seen_resize(struct aw_corr_seen *s, uint32_t slots)
{
	struct aw_corr_seen_v *old = s->t;
	uint32_t omask = s->mask;
	struct aw_corr_seen_v *t = malloc((size_t)slots * sizeof *t);

	if (!t)
		return -1;
	for (uint32_t i = 0; i < slots; i++)
		t[i].len = AW_CORR_SEEN_EMPTY;
	s->t = t;
	s->mask = slots - 1;
	if (old) {
		for (uint32_t i = 0; i <= omask; i++) {
			if (old[i].len == AW_CORR_SEEN_EMPTY)
				continue;
			uint32_t k = old[i].hash & s->mask;
			while (t[k].len != AW_CORR_SEEN_EMPTY)
				k = (k + 1) & s->mask;
			t[k] = old[i];
		}
		free(old);
	}
	return 0;
}

int aw_corr_seen_add(struct aw_corr_seen *s, const char *v, size_t vlen, uint32_t h)
{
	struct aw_corr_seen_v e = {.hash = h, .len = (uint16_t)vlen};
	char *copy = e.u.in;

	if (!s->t || 4 * ((size_t)s->n + 1) > 3 * ((size_t)s->mask + 1)) {
		uint32_t slots = s->t ? 2 * (s->mask + 1) : 4;
		if (seen_resize(s, slots) != 0)
			return -1;
	}
	if (vlen >= AW_CORR_SEEN_INLINE && !(copy = e.u.p = malloc(vlen + 1)))
		return -1;
	if (vlen)
		memcpy(copy, v, vlen);
	copy[vlen] = '\0';
	e.last = ++s->stamp;
	*seen_slot(s, v, vlen, h) = e;
	s->n++;
	return 0;
}

/* Forget the least recently seen value. Linear probing has no tombstones: the values
 * after the hole in its run move back into it when their home is not between the
 * hole and where they sit. */
static void seen_forget_oldest(struct aw_corr_seen *s)
{
	uint32_t old = UINT32_MAX, hole, j;

	for (uint32_t i = 0; i <= s->mask; i++)
		if (s->t[i].len != AW_CORR_SEEN_EMPTY &&
		    (old == UINT32_MAX || s->t[i].last < s->t[old].last))
			old = i;
	if (old == UINT32_MAX)
		return;
	if (s->t[old].len >= AW_CORR_SEEN_INLINE)
		free(s->t[old].u.p);
	s->t[old].len = AW_CORR_SEEN_EMPTY;
	s->n--;
	for (hole = old, j = (old + 1) & s->mask; s->t[j].len != AW_CORR_SEEN_EMPTY;
	     j = (j + 1) & s->mask) {
		uint32_t home = s->t[j].hash & s->mask;
		/* does the home lie cyclically in (hole, j]? then j stays */
		bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
		if (stays)
			continue;
		s->t[hole] = s->t[j];
		s->t[j].len = AW_CORR_SEEN_EMPTY;
		hole = j;
	}
}

int aw_corr_feed_seen(struct aw_corr *c, int64_t t, const char *key, size_t klen, const char *value,
		      size_t vlen, const char *id, struct aw_corr_fire *f)
{
	struct aw_corr_group *g;
	struct aw_corr_seen *s;
	bool oom, learning;
	uint32_t h;

	if (!value)
		return 0;
	if (vlen > AW_CORR_VALUE_MAX)
		vlen = AW_CORR_VALUE_MAX;
	if (!(g = aw_corr_group_get(c, key, klen, &oom)))
		return oom ? -1 : 0;
	s = g->u.seen;
	if (!s->started || t < s->first)
		s->first = t;
	s->started = true;
	h = (uint32_t)aw_corr_hash(c->seed, value, vlen);
	if (s->n) {
		struct aw_corr_seen_v *e = seen_slot(s, value, vlen, h);
		if (e->len != AW_CORR_SEEN_EMPTY) {
			e->last = ++s->stamp;
			return 0;
		}
	}
	learning = t < s->first + (int64_t)c->spec.learning_ms;
	if (s->n >= AW_CORR_MAX_VALUES) {
		c->budget->dropped++;
		if (learning)
			return 0;
		seen_forget_oldest(s);
	}
	if (aw_corr_seen_add(s, value, vlen, h) != 0)
		return -1;
	if (learning)
		return 0;
	struct aw_corr_piece vp = {value, vlen};
	return fire_event(c, g, f, t, t, 1, id, &vp);
}

/* --- baseline ------------------------------------------------------------------------ */

void aw_corr_base_push(struct aw_corr_base *b, size_t hn, uint32_t v)
{
	if (b->nhist == hn)
		b->sum -= b->hist[b->hpos];
	else
		b->nhist++;
	b->hist[b->hpos] = v;
	b->sum += v;
	b->hpos = (uint32_t)((b->hpos + 1) % hn);
}

int aw_corr_feed_base(struct aw_corr *c, int64_t t, const char *key, size_t klen, const char *id,
		      struct aw_corr_fire *f)
{
	size_t hn = c->spec.history_buckets;
	int64_t bucket = aw_corr_floor_div(t, (int64_t)c->spec.timespan_ms);
	struct aw_corr_group *g;
	struct aw_corr_base *b;
	bool oom;

	if (!(g = aw_corr_group_get(c, key, klen, &oom)))
		return oom ? -1 : 0;
	b = g->u.base;
	if (!b->started) {
		b->started = true;
		b->bucket = bucket;
		b->t0 = b->t1 = t;
	}
	if (bucket < b->bucket) {
		/* Late: count it in its completed bucket while that is in the history. */
		uint64_t k = (uint64_t)(b->bucket - bucket);
		if (k <= b->nhist) {
			size_t slot = (b->hpos + hn - k) % hn;
			if (b->hist[slot] < UINT32_MAX) {
				b->hist[slot]++;
				b->sum++;
			}
		}
		return 0;
	}
	if (bucket > b->bucket) {
		uint64_t zeros = (uint64_t)(bucket - b->bucket) - 1;
		aw_corr_base_push(b, hn, b->count);
		for (uint64_t z = 0; z < zeros && z < hn; z++)
			aw_corr_base_push(b, hn, 0);
		b->bucket = bucket;
		b->count = 0;
		b->fired = false;
		b->t0 = b->t1 = t;
	}
	if (b->count < UINT32_MAX)
		b->count++;
	if (t < b->t0)
		b->t0 = t;
	if (t > b->t1)
		b->t1 = t;
	if (b->fired || b->nhist == 0 || (size_t)b->nhist * 2 < hn)
		return 0;
	double mean = (double)b->sum / (double)b->nhist;
	if (!((double)b->count > c->spec.factor * mean && (double)b->count >= c->spec.min_count))
		return 0;
	b->fired = true;
	return fire_event(c, g, f, b->t0, b->t1, b->count, id, NULL);
}
