/* Correlation state: per-group windows over event time. See correlation.h.
 * This file holds the group table and the window engine of the six Sigma types;
 * first_seen and baseline live in corr_extensions.c, save and load in corr_store.c.
 *
 * What a rule author can rely on
 * ------------------------------
 * Time. Each correlation keeps `newest`, the latest event time it has accepted. A match
 * with time t < newest - allowed_lateness is dropped and counted in budget->too_late
 * (t == newest - allowed_lateness is still accepted), as is a time further than 2^53 ms
 * from the epoch. Everything else is event time; arrival order only matters through
 * that bound (design.md invariant 2).
 *
 * Windows. Matches are in one window when their times differ by at most timespan: the
 * window is the closed interval [s, s + timespan]. Per group key the matches of the
 * current episode are kept sorted by time; a late match is inserted in its place.
 * Two evaluation modes, chosen from the condition when the correlation is created:
 *
 * - Sliding: event_count, value_count, temporal, temporal_ordered and value_sum whose
 *   condition has only gt/gte. These aggregates only grow when a window gains a match,
 *   so a window that satisfies the condition now still does once complete, and it fires
 *   at once. After inserting a match at t, the windows [tau - timespan, tau] ending at
 *   each match time tau in [t, t + timespan] (exactly the windows that gained t) are
 *   checked in time order and the first that satisfies fires; in-order traffic checks
 *   one window, the trailing one ending at t. Matches older than
 *   newest - lateness - timespan cannot share a window with any acceptable match and
 *   are pruned; a group left empty is freed (that is not an eviction).
 *
 * - Episodes: every condition with lt, lte, eq or neq, and value_avg always. "Fewer
 *   than 3" or "between 10 and 20" can only be judged on a complete window, and a
 *   sliding window would always find a small one at the edge of a burst (a burst of 100
 *   would satisfy "lte 20" on its last 20 events). An episode starts at the group's
 *   first match and covers [t0, t0 + timespan]; it closes when newest - lateness passes
 *   its end (no acceptable match can fall into it any more) and is then evaluated on all
 *   its matches, firing if the condition holds. Fire or not, its matches are discarded
 *   and the next episode starts at the next match. So an episode always holds at least
 *   one match, and the outcome is the same as if the matches had arrived in time order.
 *   Closed episodes are evaluated on the next call (feed or aw_corr_next), oldest first;
 *   one feed can close episodes of many groups, hence aw_corr_next. value_avg is judged
 *   this way whatever its operators: the running average of a partial window (one large
 *   value on its own) is not the window's average. Alerts come timespan + lateness after
 *   the episode's first event.
 *
 * Aggregates: event_count counts matches; value_count counts distinct values among the
 * window's matches (never any outside it; a match without a value counts as an event
 * but not as a value); value_sum / value_avg add the numbers (non-finite ones count as
 * 0; value_sum is taken as growing, so with negative numbers a sliding window fires on
 * its running sum); temporal counts the distinct referenced rules; temporal_ordered is
 * the length of the longest prefix r0, r1, ... of the rules list found as matches with
 * non-decreasing times, one per rule, inside the window - the full order is checked,
 * not only the position relative to r0 (Hayabusa #1810); matches of equal time may
 * serve in any arrival order. Every operator set in the condition must hold (a range is
 * the AND of its operators).
 *
 * Re-alert policy: one alert per group per window episode, as Hayabusa. After a fire the
 * group's matches up to and including the firing window's last event are discarded, so
 * the next window starts after it and overlapping windows never fire again on the same
 * events: a burst of 2 x threshold fires twice, not once per event past the threshold.
 * A late match older than that last event starts the next episode normally.
 *
 * A fire reports the first and last event time of the window, the number of matches,
 * the aggregate, the group key, the window's non-empty event ids (beyond 16: the first 8
 * and the last 8, so the last id is the window's last event) and, for value_count, up to
 * 16 distinct values in time order (as C strings: a value with a NUL byte shows up to
 * it). The pointers live in a per-correlation scratch buffer until the next call.
 *
 * first_seen: per group the set of values seen, at most 1024. During learning_ms after
 * the group's earliest match, values only teach (learning_ms 0: every new value fires,
 * the first too). Afterwards a value not in the set fires once and joins it. With the
 * set full, a new value during learning is not learnt; after learning it still fires and
 * the least recently seen value is forgotten to make room (both counted in
 * budget->dropped). A match without a value is ignored. Groups are only ever evicted
 * (LRU); an evicted group learns again from scratch, so eviction never causes alerts.
 *
 * baseline: buckets of timespan_ms aligned to multiples of it since the epoch. Per group
 * the counts of the last history_buckets completed buckets are kept; buckets without a
 * match count as zero. When the current bucket's count exceeds factor x mean(history)
 * and is at least min_count, and the group has at least history_buckets / 2 completed
 * buckets (since its first match, empty ones included), it fires once for that bucket.
 * A late match for a completed bucket still in the history adds to that bucket's count
 * and never fires. The fire carries the bucket's first and last event times and the
 * firing event's id (no per-match evidence is kept).
 *
 * Bounds. max_groups per correlation and budget->max_groups_total across correlations: a
 * new group that would exceed either evicts this correlation's least recently used
 * group (budget->evicted; an episode still open in it is lost). When this correlation
 * has no group to give up, the new group's match is dropped and counted as evicted. A
 * group keeps at most 4096 matches; beyond that the oldest is dropped
 * (budget->dropped), so an event_count threshold above 4096 under-counts. Group keys
 * are cut at 4096 bytes, values at 4096, event ids at 255.
 *
 * Memory. A window group is one allocation (links, key inline) plus one "page" holding
 * its 16-byte match entries from the front and their bytes (number, value, id) from the
 * back, so a match costs 16 bytes plus its strings and a group two mallocs however many
 * matches it has: about 420 bytes for an event_count group of 5 matches with 36-byte
 * ids and a 21-byte key, 210 with one match (measured with 100,000 groups).
 *
 * Persistence: aw_corr_save writes JSON Lines - a header
 * {"v":1,"type":"event_count","span":ms,"newest":ms|null,"groups":N} and then one object
 * per group, least recently used first (loading in order rebuilds the LRU list):
 *   window:     {"k":KEY,"m":[[t,rule,(value,)(num,)id],...]}  value for value_count,
 *               num for value_sum/value_avg, in time order
 *   first_seen: {"k":KEY,"f":first_time,"s":[values, least recently seen first]}
 *   baseline:   {"k":KEY,"b":bucket,"c":count,"t0":ms,"t1":ms,"x":fired,"h":[oldest..]}
 * Each object is built and freed on its own, so neither side ever holds a JSON tree of
 * the whole state. Byte strings (keys, values, ids) are JSON strings when they are valid
 * UTF-8 without NUL, and {"b":"<base64>"} otherwise. aw_corr_load builds the new state
 * aside and swaps it in only when every line validated. */
#include "rules/correlation.h"
#include "rules/corr_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "bytes_eq.h"

#define AW_CORR_MAX_RULES   1024
#define AW_CORR_MAX_HISTORY 10000
#define AW_CORR_NOHEAP	    UINT32_MAX

/* clang-format off */
const char *const aw_corr_type_names[] = {
	[AW_CORR_EVENT_COUNT] = "event_count",
	[AW_CORR_VALUE_COUNT] = "value_count",
	[AW_CORR_TEMPORAL] = "temporal",
	[AW_CORR_TEMPORAL_ORDERED] = "temporal_ordered",
	[AW_CORR_VALUE_SUM] = "value_sum",
	[AW_CORR_VALUE_AVG] = "value_avg",
	[AW_CORR_FIRST_SEEN] = "first_seen",
	[AW_CORR_BASELINE] = "baseline",
};
/* clang-format on */

/* --- hashing ------------------------------------------------------------------------- */

/* A seeded multiply-xorshift hash: group keys come from log data, so bucket positions
 * should not be predictable across processes. */
uint64_t aw_corr_hash(uint64_t seed, const void *data, size_t n)
{
	const unsigned char *p = data;
	const uint64_t k = 0x9E3779B97F4A7C15ull, k2 = 0xC2B2AE3D27D4EB4Full;
	uint64_t h = seed ^ (n * k), g = seed ^ k2, w, x;

	/* two lanes of eight bytes: one lane's multiplications do not wait for the
	 * other's, which halves the latency of long keys (an _ResourceId is ~130 bytes) */
	if (n >= 16) {
		for (; n >= 16; p += 16, n -= 16) {
			memcpy(&w, p, 8);
			memcpy(&x, p + 8, 8);
			h = (h ^ w) * k;
			h ^= h >> 32;
			g = (g ^ x) * k2;
			g ^= g >> 32;
		}
		h = (h ^ g) * k;
	}
	if (n >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * k;
		h ^= h >> 32;
		p += 8;
		n -= 8;
	}
	/* the last 0..7 bytes without a variable-length memcpy call (two overlapping
	 * loads from four bytes up): any fixed function of them will do */
	w = 0;
	if (n >= 4) {
		uint32_t lo, hi;
		memcpy(&lo, p, 4);
		memcpy(&hi, p + n - 4, 4);
		w = (uint64_t)hi << 32 | lo;
	} else {
		for (size_t i = 0; i < n; i++)
			w |= (uint64_t)p[i] << (8 * i);
	}
	h = (h ^ w) * k;
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 32;
	return h;
}

static uint64_t new_seed(void)
{
	uint64_t s = 0;
	struct timespec ts;

	if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s)
		return s;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^
	       (uint64_t)(uintptr_t)&s;
}

/* --- helpers ------------------------------------------------------------------------- */

static uint64_t lateness(const struct aw_corr *c)
{
	uint64_t l = c->budget->allowed_lateness_ms;
	return l > AW_CORR_SPAN_MAX ? AW_CORR_SPAN_MAX : l;
}

static bool cond_holds(const struct aw_corr_cond *k, double x)
{
	return (!k->has_gt || x > k->gt) && (!k->has_gte || x >= k->gte) &&
	       (!k->has_lt || x < k->lt) && (!k->has_lte || x <= k->lte) &&
	       (!k->has_eq || x == k->eq) && (!k->has_neq || x != k->neq);
}

static size_t m_datalen(const struct aw_corr *c, const struct aw_corr_group *g,
			const struct aw_corr_m *m)
{
	const char *id = aw_corr_m_id(c, g, m);
	return (size_t)(id - (const char *)aw_corr_mdata(g, m)) + strlen(id) + 1;
}

/* First match with time >= t (lower) or > t (upper), searching from `from`. */
static size_t bound(const struct aw_corr_group *g, size_t from, int64_t t, bool upper)
{
	const struct aw_corr_m *m = aw_corr_entries(g);
	size_t lo = from, hi = g->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m[mid].t < t || (upper && m[mid].t == t))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* --- groups: hash table, LRU list, heap ---------------------------------------------- */

static void lru_unlink(struct aw_corr *c, struct aw_corr_group *g)
{
	if (g->lprev)
		g->lprev->lnext = g->lnext;
	else
		c->lru_head = g->lnext;
	if (g->lnext)
		g->lnext->lprev = g->lprev;
	else
		c->lru_tail = g->lprev;
	g->lprev = g->lnext = NULL;
}

static void lru_push(struct aw_corr *c, struct aw_corr_group *g)
{
	g->lprev = NULL;
	g->lnext = c->lru_head;
	if (c->lru_head)
		c->lru_head->lprev = g;
	else
		c->lru_tail = g;
	c->lru_head = g;
}

static int64_t heap_key(const struct aw_corr_group *g)
{
	return aw_corr_entries(g)[0].t;
}

static void heap_set(struct aw_corr *c, size_t i, struct aw_corr_group *g)
{
	c->heap[i] = g;
	g->heap = (uint32_t)i;
}

static void heap_up(struct aw_corr *c, size_t i)
{
	struct aw_corr_group *g = c->heap[i];
	int64_t k = heap_key(g);

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (heap_key(c->heap[p]) <= k)
			break;
		heap_set(c, i, c->heap[p]);
		i = p;
	}
	heap_set(c, i, g);
}

static void heap_down(struct aw_corr *c, size_t i)
{
	struct aw_corr_group *g = c->heap[i];
	int64_t k = heap_key(g);

	for (;;) {
		size_t l = 2 * i + 1, ch;
		if (l >= c->heap_n)
			break;
		ch = (l + 1 < c->heap_n && heap_key(c->heap[l + 1]) < heap_key(c->heap[l])) ? l + 1
											    : l;
		if (heap_key(c->heap[ch]) >= k)
			break;
		heap_set(c, i, c->heap[ch]);
		i = ch;
	}
	heap_set(c, i, g);
}

static void heap_fix(struct aw_corr *c, struct aw_corr_group *g)
{
	heap_up(c, g->heap);
	heap_down(c, g->heap);
}

static int heap_reserve(struct aw_corr *c)
{
	if (c->heap_n < c->heap_cap)
		return 0;
	size_t cap = c->heap_cap ? c->heap_cap * 2 : 16;
	struct aw_corr_group **h = realloc(c->heap, cap * sizeof *h);
	if (!h)
		return -1;
	c->heap = h;
	c->heap_cap = cap;
	return 0;
}

static void heap_remove(struct aw_corr *c, struct aw_corr_group *g)
{
	size_t i = g->heap;
	struct aw_corr_group *last = c->heap[--c->heap_n];

	g->heap = AW_CORR_NOHEAP;
	if (i < c->heap_n) {
		heap_set(c, i, last);
		heap_fix(c, last);
	}
}

void aw_corr_group_free(struct aw_corr *c, struct aw_corr_group *g)
{
	struct aw_corr_group **pp = &c->buckets[g->hash & (c->nbuckets - 1)];

	while (*pp != g)
		pp = &(*pp)->hnext;
	*pp = g->hnext;
	lru_unlink(c, g);
	if (g->heap != AW_CORR_NOHEAP)
		heap_remove(c, g);
	if (c->spec.type == AW_CORR_FIRST_SEEN)
		aw_corr_seen_clear(g->u.seen);
	else if (c->spec.type == AW_CORR_BASELINE)
		free(g->u.base);
	else
		free(g->u.page);
	free(g);
	c->ngroups--;
	c->budget->groups--;
}

struct aw_corr_group *aw_corr_group_find(const struct aw_corr *c, const char *key, size_t klen,
					 uint32_t h)
{
	for (struct aw_corr_group *g = c->buckets[h & (c->nbuckets - 1)]; g; g = g->hnext)
		if (g->hash == h && g->klen == klen && aw_bytes_eq(g->key, key, klen))
			return g;
	return NULL;
}

/* Double the bucket array; on failure the chains just get longer. */
static void buckets_grow(struct aw_corr *c)
{
	size_t n = c->nbuckets * 2;
	struct aw_corr_group **b = calloc(n, sizeof *b);

	if (!b)
		return;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct aw_corr_group *g = c->buckets[i], *next;
		for (; g; g = next) {
			next = g->hnext;
			g->hnext = b[g->hash & (n - 1)];
			b[g->hash & (n - 1)] = g;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

/* The group for key, most recently used; created when missing, after evicting the
 * least recently used group when a bound is reached. NULL with *oom false when this
 * correlation has no group left to give up. */
struct aw_corr_group *aw_corr_group_get(struct aw_corr *c, const char *key, size_t klen, bool *oom)
{
	uint32_t h = (uint32_t)aw_corr_hash(c->seed, key, klen);
	struct aw_corr_group *g = aw_corr_group_find(c, key, klen, h);

	*oom = false;
	if (g) {
		if (c->lru_head != g) {
			lru_unlink(c, g);
			lru_push(c, g);
		}
		return g;
	}
	while (c->ngroups >= c->max_groups || c->budget->groups >= c->budget->max_groups_total) {
		c->budget->evicted++;
		if (!c->lru_tail)
			return NULL;
		aw_corr_group_free(c, c->lru_tail);
	}
	if (c->window && heap_reserve(c) != 0)
		goto oom;
	/* a first_seen set follows the key in the group's allocation */
	size_t seen_at = (sizeof *g + klen + 7) & ~(size_t)7;
	g = calloc(1, c->spec.type == AW_CORR_FIRST_SEEN ? seen_at + sizeof *g->u.seen
							 : sizeof *g + klen);
	if (!g)
		goto oom;
	if (c->spec.type == AW_CORR_FIRST_SEEN)
		g->u.seen = (struct aw_corr_seen *)(void *)((char *)g + seen_at);
	else if (c->spec.type == AW_CORR_BASELINE)
		g->u.base = calloc(1, sizeof *g->u.base +
					  c->spec.history_buckets * sizeof g->u.base->hist[0]);
	if (!c->window && !g->u.page) {
		free(g);
		goto oom;
	}
	if (klen)
		memcpy(g->key, key, klen);
	g->klen = (uint16_t)klen;
	g->hash = h;
	g->heap = AW_CORR_NOHEAP;
	g->hnext = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = g;
	lru_push(c, g);
	c->ngroups++;
	c->budget->groups++;
	if (c->ngroups > c->nbuckets)
		buckets_grow(c);
	return g;
oom:
	*oom = true;
	return NULL;
}

/* --- window groups: the page ----------------------------------------------------------- */

/* Rebuild the page with room for `extra` more bytes: entries at the front, live bytes
 * packed at the back, dead bytes gone. Growing leaves a quarter of slack so adding one
 * match at a time does not copy the page every time. */
static int page_repack(const struct aw_corr *c, struct aw_corr_group *g, size_t extra, bool slack)
{
	size_t size = (size_t)g->n * sizeof(struct aw_corr_m) + (g->sused - g->sdead) + extra;
	struct aw_corr_m *om = aw_corr_entries(g), *nm;
	unsigned char *np;
	size_t used = 0;

	if (slack)
		size += size / 4 + 32;
	np = malloc(size);
	if (!np)
		return -1;
	nm = (struct aw_corr_m *)(void *)np;
	for (size_t i = 0; i < g->n; i++) {
		size_t dl = m_datalen(c, g, &om[i]);
		used += dl;
		memcpy(np + size - used, aw_corr_mdata(g, &om[i]), dl);
		nm[i] = om[i];
		nm[i].off = (uint32_t)used;
	}
	free(g->u.page);
	g->u.page = np;
	g->size = (uint32_t)size;
	g->sused = (uint32_t)used;
	g->sdead = 0;
	return 0;
}

/* Drop the k oldest matches. The caller fixes the heap or frees an emptied group. */
static void discard_prefix(const struct aw_corr *c, struct aw_corr_group *g, size_t k)
{
	struct aw_corr_m *m = aw_corr_entries(g);

	for (size_t i = 0; i < k; i++)
		g->sdead += (uint32_t)m_datalen(c, g, &m[i]);
	memmove(m, m + k, (g->n - k) * sizeof *m);
	g->n = (uint16_t)(g->n - k);
	if (g->n == 0) {
		free(g->u.page);
		g->u.page = NULL;
		g->size = g->sused = g->sdead = 0;
		return;
	}
	/* Give memory back once most of the bytes are dead; failing to is harmless. */
	if (g->sdead > 256 && g->sdead * 2 > g->sused)
		(void)page_repack(c, g, 0, false);
}

/* Drop the k oldest matches, then free the group when that emptied it (not an eviction)
 * or move it to its new place in the heap. */
static void group_trim(struct aw_corr *c, struct aw_corr_group *g, size_t k)
{
	discard_prefix(c, g, k);
	if (g->n == 0)
		aw_corr_group_free(c, g);
	else
		heap_fix(c, g);
}

/* Insert a match in time order, after those of the same time. Returns 0 (*pos set), 1
 * when the group is full and the match is older than all it keeps (dropped), -1 on
 * allocation failure. The caller fixes the heap. */
static int group_insert(struct aw_corr *c, struct aw_corr_group *g, int64_t t, size_t rule,
			const char *value, size_t vlen, double num, const char *id, size_t *pos)
{
	bool hasv = c->has_value && value;
	size_t idlen = id ? strnlen(id, AW_CORR_ID_MAX) : 0, dl, need;
	struct aw_corr_m *m;
	unsigned char *d;

	if (hasv && vlen > AW_CORR_VALUE_MAX)
		vlen = AW_CORR_VALUE_MAX;
	dl = (c->has_num ? sizeof(double) : 0) + (hasv ? vlen + 1 : 0) + idlen + 1;
	if (g->n >= AW_CORR_MAX_MATCHES) {
		c->budget->dropped++;
		if (t < aw_corr_entries(g)[0].t)
			return 1;
		discard_prefix(c, g, 1);
	}
	need = sizeof(struct aw_corr_m) + dl;
	if ((size_t)g->size - (size_t)g->n * sizeof *m - g->sused < need &&
	    page_repack(c, g, need, true) != 0)
		return -1;
	m = aw_corr_entries(g);
	*pos = bound(g, 0, t, true);
	memmove(&m[*pos + 1], &m[*pos], (g->n - *pos) * sizeof *m);
	g->sused += (uint32_t)dl;
	d = g->u.page + g->size - g->sused;
	if (c->has_num) {
		double x = isfinite(num) ? num : 0;
		memcpy(d, &x, sizeof x);
		d += sizeof x;
	}
	if (hasv) {
		if (vlen)
			memcpy(d, value, vlen);
		d[vlen] = '\0';
		d += vlen + 1;
	}
	if (idlen)
		memcpy(d, id, idlen);
	d[idlen] = '\0';
	m[*pos] = (struct aw_corr_m){
	    .t = t,
	    .off = g->sused,
	    .rule = (uint16_t)rule,
	    .vlen = hasv ? (uint16_t)vlen : AW_CORR_NOVALUE,
	};
	g->n++;
	return 0;
}

/* Add a match to a window group (as group_insert) and keep the heap in order. A group
 * that an allocation failure leaves empty is freed. */
int aw_corr_window_add(struct aw_corr *c, struct aw_corr_group *g, int64_t t, size_t rule,
		       const char *value, size_t vlen, double num, const char *id, size_t *pos)
{
	bool fresh = g->n == 0;
	int rc = group_insert(c, g, t, rule, value, vlen, num, id, pos);

	if (rc < 0) {
		if (fresh)
			aw_corr_group_free(c, g);
		return -1;
	}
	if (fresh)
		heap_set(c, c->heap_n++, g); /* reserved by aw_corr_group_get */
	heap_fix(c, g);
	return rc;
}

/* --- aggregates ---------------------------------------------------------------------- */

/* Running aggregate of the matches [lo, hi] of one group during one evaluation. */
struct aw_corr_acc {
	double sum;
	size_t distinct;
};

static int acc_begin(struct aw_corr *c, const struct aw_corr_group *g, struct aw_corr_acc *a)
{
	memset(a, 0, sizeof *a);
	if (c->spec.type == AW_CORR_TEMPORAL)
		memset(c->rcnt, 0, c->spec.nrules * sizeof *c->rcnt);
	if (c->spec.type != AW_CORR_VALUE_COUNT)
		return 0;
	size_t need = 16;
	while (need < 2 * (size_t)g->n)
		need *= 2;
	if (need > c->vcap) {
		uint32_t *s = realloc(c->vslot, need * sizeof *s);
		if (!s)
			return -1;
		c->vslot = s;
		uint32_t *k = realloc(c->vcnt, need * sizeof *k);
		if (!k)
			return -1;
		c->vcnt = k;
		c->vcap = need;
	}
	c->vmask = need - 1;
	memset(c->vslot, 0, need * sizeof *c->vslot);
	return 0;
}

/* The slot of match i's value in the distinct-value table (empty when new). Slots are
 * never emptied during an evaluation, and the table has twice as many slots as the
 * group has matches, so probing ends. */
static size_t vfind(const struct aw_corr *c, const struct aw_corr_group *g, size_t i)
{
	const struct aw_corr_m *m = aw_corr_entries(g);
	const char *v = aw_corr_m_value(c, g, &m[i]);
	size_t s = aw_corr_hash(c->seed, v, m[i].vlen) & c->vmask;

	for (;; s = (s + 1) & c->vmask) {
		uint32_t x = c->vslot[s];
		if (!x)
			return s;
		const struct aw_corr_m *o = &m[x - 1];
		if (o->vlen == m[i].vlen && memcmp(aw_corr_m_value(c, g, o), v, o->vlen) == 0)
			return s;
	}
}

static void acc_add(struct aw_corr *c, const struct aw_corr_group *g, struct aw_corr_acc *a,
		    size_t i)
{
	const struct aw_corr_m *m = &aw_corr_entries(g)[i];
	size_t s;

	switch (c->spec.type) {
	case AW_CORR_VALUE_COUNT:
		if (m->vlen == AW_CORR_NOVALUE)
			break;
		s = vfind(c, g, i);
		if (!c->vslot[s]) {
			c->vslot[s] = (uint32_t)i + 1;
			c->vcnt[s] = 0;
		}
		if (c->vcnt[s]++ == 0)
			a->distinct++;
		break;
	case AW_CORR_TEMPORAL:
		if (c->rcnt[m->rule]++ == 0)
			a->distinct++;
		break;
	case AW_CORR_VALUE_SUM:
	case AW_CORR_VALUE_AVG:
		a->sum += aw_corr_m_num(c, g, m);
		break;
	default:
		break;
	}
}

static void acc_del(struct aw_corr *c, const struct aw_corr_group *g, struct aw_corr_acc *a,
		    size_t i)
{
	const struct aw_corr_m *m = &aw_corr_entries(g)[i];

	switch (c->spec.type) {
	case AW_CORR_VALUE_COUNT:
		if (m->vlen != AW_CORR_NOVALUE && --c->vcnt[vfind(c, g, i)] == 0)
			a->distinct--;
		break;
	case AW_CORR_TEMPORAL:
		if (--c->rcnt[m->rule] == 0)
			a->distinct--;
		break;
	case AW_CORR_VALUE_SUM:
	case AW_CORR_VALUE_AVG:
		a->sum -= aw_corr_m_num(c, g, m);
		break;
	default:
		break;
	}
}

/* temporal_ordered: how long a prefix r0, r1, ... of the rules appears in [lo, hi] with
 * non-decreasing times. Taking each rule's earliest possible match is optimal (it
 * leaves the most room for the rest). Matches of one time form a block in which the
 * chain may advance several steps in any arrival order, since equal times are
 * non-decreasing both ways. */
static size_t ordered_chain(const struct aw_corr *c, const struct aw_corr_group *g, size_t lo,
			    size_t hi)
{
	const struct aw_corr_m *m = aw_corr_entries(g);
	size_t pos = 0;

	for (size_t i = lo; i <= hi && pos < c->spec.nrules;) {
		size_t j = i;
		bool progress = true;
		while (j <= hi && m[j].t == m[i].t)
			j++;
		while (progress && pos < c->spec.nrules) {
			progress = false;
			for (size_t k = i; k < j; k++) {
				if (m[k].rule == pos) {
					pos++;
					progress = true;
					break;
				}
			}
		}
		i = j;
	}
	return pos;
}

static double aggregate(const struct aw_corr *c, const struct aw_corr_group *g,
			const struct aw_corr_acc *a, size_t lo, size_t hi)
{
	switch (c->spec.type) {
	case AW_CORR_VALUE_COUNT:
	case AW_CORR_TEMPORAL:
		return (double)a->distinct;
	case AW_CORR_TEMPORAL_ORDERED:
		return (double)ordered_chain(c, g, lo, hi);
	case AW_CORR_VALUE_SUM:
		return a->sum;
	case AW_CORR_VALUE_AVG:
		return a->sum / (double)(hi - lo + 1);
	default:
		return (double)(hi - lo + 1);
	}
}

/* --- fires --------------------------------------------------------------------------- */

/* Copy the key, ids and values of a fire into the scratch buffer and point *f at them. */
int aw_corr_fire_set(struct aw_corr *c, struct aw_corr_fire *f, const struct aw_corr_group *g,
		     const struct aw_corr_piece *ids, size_t nids, const struct aw_corr_piece *vals,
		     size_t nvals)
{
	size_t need = (size_t)g->klen + 1, off = 0;
	char *p;

	for (size_t i = 0; i < nids; i++)
		need += ids[i].n + 1;
	for (size_t i = 0; i < nvals; i++)
		need += vals[i].n + 1;
	if (need > c->fcap) {
		p = realloc(c->fbuf, need);
		if (!p)
			return -1;
		c->fbuf = p;
		c->fcap = need;
	}
	p = c->fbuf;
	if (g->klen)
		memcpy(p, g->key, g->klen);
	p[g->klen] = '\0';
	f->group_key = p;
	f->group_key_len = g->klen;
	off = (size_t)g->klen + 1;
	for (size_t i = 0; i < nids; i++) {
		memcpy(p + off, ids[i].p, ids[i].n);
		p[off + ids[i].n] = '\0';
		c->fids[i] = p + off;
		off += ids[i].n + 1;
	}
	for (size_t i = 0; i < nvals; i++) {
		if (vals[i].n)
			memcpy(p + off, vals[i].p, vals[i].n);
		p[off + vals[i].n] = '\0';
		c->fvals[i] = p + off;
		off += vals[i].n + 1;
	}
	f->event_ids = c->fids;
	f->nevent_ids = nids;
	f->values = c->fvals;
	f->nvalues = nvals;
	return 0;
}

/* Report the window [lo, hi] of g, then discard the group's matches up to hi (the
 * re-alert policy). g may be freed. */
static int fire_window(struct aw_corr *c, struct aw_corr_group *g, size_t lo, size_t hi, double agg,
		       struct aw_corr_fire *f)
{
	const struct aw_corr_m *m = aw_corr_entries(g);
	struct aw_corr_piece ids[AW_CORR_FIRE_MAX], vals[AW_CORR_FIRE_MAX];
	size_t nids = 0, nvals = 0, nonempty = 0, k = 0;

	memset(f, 0, sizeof *f);
	for (size_t i = lo; i <= hi; i++)
		nonempty += *aw_corr_m_id(c, g, &m[i]) != '\0';
	for (size_t i = lo; i <= hi; i++) {
		const char *id = aw_corr_m_id(c, g, &m[i]);
		if (!*id)
			continue;
		if (nonempty <= AW_CORR_FIRE_MAX || k < AW_CORR_FIRE_MAX / 2 ||
		    k >= nonempty - AW_CORR_FIRE_MAX / 2)
			ids[nids++] = (struct aw_corr_piece){id, strlen(id)};
		k++;
	}
	for (size_t i = lo; c->has_value && i <= hi && nvals < AW_CORR_FIRE_MAX; i++) {
		const char *v = aw_corr_m_value(c, g, &m[i]);
		bool dup = false;
		if (m[i].vlen == AW_CORR_NOVALUE)
			continue;
		for (size_t j = 0; j < nvals && !dup; j++)
			dup = vals[j].n == m[i].vlen && memcmp(vals[j].p, v, vals[j].n) == 0;
		if (!dup)
			vals[nvals++] = (struct aw_corr_piece){v, m[i].vlen};
	}
	f->window_start_ms = m[lo].t;
	f->window_end_ms = m[hi].t;
	f->count = hi - lo + 1;
	f->aggregate = agg;
	if (aw_corr_fire_set(c, f, g, ids, nids, vals, nvals) != 0)
		return -1;
	group_trim(c, g, hi + 1);
	return 1;
}

/* --- evaluation ---------------------------------------------------------------------- */

/* Whether matches i and j carry the same value (value_count) or rule (temporal). */
static bool same_key(const struct aw_corr *c, const struct aw_corr_group *g, size_t i, size_t j)
{
	const struct aw_corr_m *m = aw_corr_entries(g);

	if (c->spec.type == AW_CORR_TEMPORAL)
		return m[i].rule == m[j].rule;
	return m[i].vlen == m[j].vlen && m[i].vlen != AW_CORR_NOVALUE &&
	       memcmp(aw_corr_m_value(c, g, &m[i]), aw_corr_m_value(c, g, &m[j]), m[i].vlen) == 0;
}

/* Sliding mode, match just inserted at pos: true when it cannot change the distinct
 * count of any window that contains it, because its value (value_count) or rule
 * (temporal) already appears there - an earlier occurrence a covers the windows ending
 * up to a + span, a later one b those ending at or after b. Each such window minus the
 * new match lies inside a window that existed before and did not satisfy the
 * condition, so none fires. A busy group with repeated values then costs two short
 * scans per match instead of a recount of up to 4096. */
static bool repeats_in_windows(const struct aw_corr *c, const struct aw_corr_group *g, size_t pos)
{
	const struct aw_corr_m *m = aw_corr_entries(g);
	int64_t t = m[pos].t, span = (int64_t)c->spec.timespan_ms, last = t;
	bool has_a = false;
	int64_t a = 0;

	if (c->spec.type != AW_CORR_TEMPORAL && c->spec.type != AW_CORR_VALUE_COUNT)
		return false;
	if (c->spec.type == AW_CORR_VALUE_COUNT && m[pos].vlen == AW_CORR_NOVALUE)
		return true;
	for (size_t i = pos; i-- > 0 && m[i].t >= t - span;) {
		if (same_key(c, g, i, pos)) {
			a = m[i].t;
			has_a = true;
			break;
		}
	}
	/* `last`: the latest window end not covered by b (an occurrence of equal time as
	 * the new match covers every window). */
	for (size_t j = pos + 1; j < g->n && m[j].t <= t + span; j++) {
		if (same_key(c, g, j, pos)) {
			if (m[j].t == t)
				return true;
			break;
		}
		if (m[j].t > last)
			last = m[j].t;
	}
	return has_a && last <= a + span;
}

/* Sliding mode, after inserting the match at pos: check the windows ending at each match
 * time in [t, t + span], in time order; the first that satisfies fires. Nothing else can
 * satisfy: every other window was checked when it last changed. */
static int eval_sliding(struct aw_corr *c, struct aw_corr_group *g, size_t pos,
			struct aw_corr_fire *f)
{
	const struct aw_corr_m *m = aw_corr_entries(g);
	int64_t t = m[pos].t, span = (int64_t)c->spec.timespan_ms;
	size_t lo = bound(g, 0, t - span, false), next = lo;
	struct aw_corr_acc a;

	if (repeats_in_windows(c, g, pos))
		return 0;
	if (acc_begin(c, g, &a) != 0)
		return -1;
	for (size_t j = pos; j < g->n && m[j].t <= t + span;) {
		size_t e = j;
		while (e + 1 < g->n && m[e + 1].t == m[j].t)
			e++;
		int64_t tau = m[e].t;
		if (c->per_match) {
			while (next <= e)
				acc_add(c, g, &a, next++);
			while (m[lo].t < tau - span)
				acc_del(c, g, &a, lo++);
		} else {
			lo = bound(g, lo, tau - span, false);
		}
		double agg = aggregate(c, g, &a, lo, e);
		if (cond_holds(&c->spec.cond, agg))
			return fire_window(c, g, lo, e, agg, f);
		j = e + 1;
	}
	return 0;
}

/* Sliding mode: drop matches that no acceptable match can share a window with. */
static void prune(struct aw_corr *c)
{
	int64_t horizon = c->newest - (int64_t)lateness(c), span = (int64_t)c->spec.timespan_ms;

	while (c->heap_n && heap_key(c->heap[0]) < horizon - span) {
		struct aw_corr_group *g = c->heap[0];
		group_trim(c, g, bound(g, 0, horizon - span, false));
	}
}

/* Episode mode: evaluate closed episodes, oldest first, until one fires (returns 1).
 * With peek, stop before one that would fire and leave it for the next call: used to
 * clear the ones that do not before a new match may force an eviction. */
static int drain(struct aw_corr *c, struct aw_corr_fire *f, bool peek)
{
	int64_t horizon, span = (int64_t)c->spec.timespan_ms;

	if (!c->has_newest)
		return 0;
	horizon = c->newest - (int64_t)lateness(c);
	while (c->heap_n && heap_key(c->heap[0]) + span < horizon) {
		struct aw_corr_group *g = c->heap[0];
		size_t e = bound(g, 0, heap_key(g) + span, true) - 1;
		struct aw_corr_acc a;
		if (acc_begin(c, g, &a) != 0)
			return -1;
		for (size_t i = 0; c->per_match && i <= e; i++)
			acc_add(c, g, &a, i);
		double agg = aggregate(c, g, &a, 0, e);
		if (cond_holds(&c->spec.cond, agg)) {
			if (peek)
				return 0;
			return fire_window(c, g, 0, e, agg, f);
		}
		group_trim(c, g, e + 1);
	}
	return 0;
}

/* --- the interface ------------------------------------------------------------------- */

static bool cond_finite(const struct aw_corr_cond *k)
{
	return (!k->has_gt || isfinite(k->gt)) && (!k->has_gte || isfinite(k->gte)) &&
	       (!k->has_lt || isfinite(k->lt)) && (!k->has_lte || isfinite(k->lte)) &&
	       (!k->has_eq || isfinite(k->eq)) && (!k->has_neq || isfinite(k->neq));
}

static int check_spec(const struct aw_corr_spec *s, size_t max_groups,
		      const struct aw_corr_budget *budget, struct aw_error *err)
{
	const struct aw_corr_cond *k = &s->cond;
	bool window;

	if ((unsigned)s->type > AW_CORR_BASELINE)
		return aw_error_set(err, "unknown correlation type %d", (int)s->type);
	window = s->type <= AW_CORR_VALUE_AVG;
	if (s->nrules == 0 || s->nrules > AW_CORR_MAX_RULES)
		return aw_error_set(err,
				    "%s: a correlation needs 1 to %d referenced rules, not %zu",
				    aw_corr_type_names[s->type], AW_CORR_MAX_RULES, s->nrules);
	if ((window || s->type == AW_CORR_BASELINE) &&
	    (s->timespan_ms == 0 || s->timespan_ms > AW_CORR_SPAN_MAX))
		return aw_error_set(err, "%s: timespan must be between 1 ms and 2^53 ms",
				    aw_corr_type_names[s->type]);
	if (window &&
	    !(k->has_gt || k->has_gte || k->has_lt || k->has_lte || k->has_eq || k->has_neq))
		return aw_error_set(err,
				    "%s: the condition has no operator (gt, gte, lt, lte, eq, "
				    "neq)",
				    aw_corr_type_names[s->type]);
	if (window && !cond_finite(k))
		return aw_error_set(err, "%s: a condition value is not a finite number",
				    aw_corr_type_names[s->type]);
	if (s->type == AW_CORR_FIRST_SEEN && s->learning_ms > AW_CORR_SPAN_MAX)
		return aw_error_set(err, "first_seen: learning period too long");
	if (s->type == AW_CORR_BASELINE &&
	    (s->history_buckets < 2 || s->history_buckets > AW_CORR_MAX_HISTORY ||
	     !isfinite(s->factor) || s->factor < 0 || !isfinite(s->min_count) || s->min_count < 0))
		return aw_error_set(err,
				    "baseline: history must be 2 to %d buckets, factor and "
				    "min_count finite and not negative",
				    AW_CORR_MAX_HISTORY);
	if (max_groups == 0)
		return aw_error_set(err, "%s: the group bound must be at least 1",
				    aw_corr_type_names[s->type]);
	if (budget && budget->max_groups_total == 0)
		return aw_error_set(err, "%s: the total group bound must be at least 1",
				    aw_corr_type_names[s->type]);
	return 0;
}

struct aw_corr *aw_corr_new(const struct aw_corr_spec *spec, size_t max_groups,
			    struct aw_corr_budget *budget, struct aw_error *err)
{
	struct aw_corr *c;
	const struct aw_corr_cond *k;

	if (!spec) {
		aw_error_set(err, "correlation: no specification");
		return NULL;
	}
	if (check_spec(spec, max_groups, budget, err) != 0)
		return NULL;
	c = calloc(1, sizeof *c);
	if (!c)
		goto oom;
	c->spec = *spec;
	k = &c->spec.cond;
	if (max_groups > UINT32_MAX - 1)
		max_groups = UINT32_MAX - 1; /* heap positions are 32-bit */
	c->max_groups = max_groups;
	c->own_budget.max_groups_total = max_groups;
	c->budget = budget ? budget : &c->own_budget;
	c->window = spec->type <= AW_CORR_VALUE_AVG;
	c->sliding = c->window && spec->type != AW_CORR_VALUE_AVG && !k->has_lt && !k->has_lte &&
		     !k->has_eq && !k->has_neq;
	c->has_num = spec->type == AW_CORR_VALUE_SUM || spec->type == AW_CORR_VALUE_AVG;
	c->has_value = spec->type == AW_CORR_VALUE_COUNT;
	c->per_match = c->has_num || c->has_value || spec->type == AW_CORR_TEMPORAL;
	c->seed = new_seed();
	c->nbuckets = 16;
	c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
	if (!c->buckets)
		goto oom;
	if (spec->type == AW_CORR_TEMPORAL && !(c->rcnt = calloc(spec->nrules, sizeof *c->rcnt)))
		goto oom;
	return c;
oom:
	aw_corr_free(c);
	aw_error_set(err, "%s: out of memory", aw_corr_type_names[spec->type]);
	return NULL;
}

void aw_corr_free(struct aw_corr *c)
{
	if (!c)
		return;
	while (c->lru_head)
		aw_corr_group_free(c, c->lru_head);
	free(c->buckets);
	free(c->heap);
	free(c->vslot);
	free(c->vcnt);
	free(c->rcnt);
	free(c->fbuf);
	free(c);
}

size_t aw_corr_groups(const struct aw_corr *c)
{
	return c ? c->ngroups : 0;
}

int aw_corr_next(struct aw_corr *c, struct aw_corr_fire *fire)
{
	if (!c || !c->window || c->sliding)
		return 0;
	return drain(c, fire, false);
}

int aw_corr_feed(struct aw_corr *c, size_t rule_idx, int64_t t_ms, const char *key, size_t keylen,
		 const char *value, size_t vlen, double num, const char *event_id,
		 struct aw_corr_fire *fire)
{
	struct aw_corr_group *g;
	bool oom;
	size_t pos = 0;
	int rc;

	if (!c || !fire)
		return -1;
	if (!key) {
		key = ""; /* no group-by: one group */
		keylen = 0;
	}
	if (keylen > AW_CORR_KEY_MAX)
		keylen = AW_CORR_KEY_MAX;
	if (rule_idx >= c->spec.nrules)
		return aw_corr_next(c, fire);
	if (t_ms < -AW_CORR_TIME_MAX || t_ms > AW_CORR_TIME_MAX ||
	    (c->has_newest && t_ms < c->newest - (int64_t)lateness(c))) {
		c->budget->too_late++;
		return aw_corr_next(c, fire);
	}
	if (!c->has_newest || t_ms > c->newest) {
		c->newest = t_ms;
		c->has_newest = true;
	}
	if (c->spec.type == AW_CORR_FIRST_SEEN)
		return aw_corr_feed_seen(c, t_ms, key, keylen, value, vlen, event_id, fire);
	if (c->spec.type == AW_CORR_BASELINE)
		return aw_corr_feed_base(c, t_ms, key, keylen, event_id, fire);

	if (c->sliding)
		prune(c);
	else if (drain(c, fire, true) < 0)
		return -1;
	if (!(g = aw_corr_group_get(c, key, keylen, &oom)))
		return oom ? -1 : aw_corr_next(c, fire);
	rc = aw_corr_window_add(c, g, t_ms, rule_idx, value, vlen, num, event_id, &pos);
	if (rc < 0)
		return -1;
	if (rc == 0 && c->sliding)
		return eval_sliding(c, g, pos, fire);
	return aw_corr_next(c, fire);
}
