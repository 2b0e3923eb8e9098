/* Internals of the correlation module, shared by correlation.c (groups, windows, fires),
 * corr_extensions.c (first_seen, baseline) and corr_store.c (save, load). Everything else
 * uses correlation.h; the semantics are described at the top of correlation.c. */
#ifndef AW_CORR_INT_H
#define AW_CORR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "correlation.h"

#define AW_CORR_MAX_MATCHES 4096	       /* per group */
#define AW_CORR_MAX_VALUES  1024	       /* first_seen: values remembered per group */
#define AW_CORR_KEY_MAX	    4096	       /* bytes of a group key kept */
#define AW_CORR_VALUE_MAX   4096	       /* bytes of a value kept */
#define AW_CORR_ID_MAX	    255		       /* bytes of an event id kept */
#define AW_CORR_FIRE_MAX    16		       /* ids / values in a fire */
#define AW_CORR_TIME_MAX    ((int64_t)1 << 53) /* |event time| in ms, ~285,000 years */
#define AW_CORR_SPAN_MAX    ((uint64_t)1 << 53)
#define AW_CORR_NOVALUE	    0xFFFFu

/* Indexed by enum aw_corr_type; the names used in messages and saved state. */
extern const char *const aw_corr_type_names[];

/* One match of a window correlation. Its bytes live `off` bytes before the end of the
 * group's page: [double num (sum/avg)][value, NUL (value_count)][id, NUL]. */
struct aw_corr_m {
	int64_t t;
	uint32_t off;
	uint16_t rule;
	uint16_t vlen; /* AW_CORR_NOVALUE: the match has no value */
};

#define AW_CORR_SEEN_INLINE 16	   /* values shorter than this live in their entry */
#define AW_CORR_SEEN_EMPTY  0xFFFFu /* the len of a free slot (values are shorter) */

/* One value a first_seen group has seen, in a slot of its open-addressing table. A
 * short value (most are addresses, ids and names) sits in the slot itself, so checking
 * a value already seen reads one cache line: with thousands of groups the sets live
 * beyond the core's caches, and a separate index cost a second miss per event. */
struct aw_corr_seen_v {
	uint64_t last; /* recency stamp */
	uint32_t hash;
	uint16_t len; /* AW_CORR_SEEN_EMPTY: a free slot */
	union {
		char in[AW_CORR_SEEN_INLINE]; /* len < AW_CORR_SEEN_INLINE: the bytes + NUL */
		char *p;		      /* else: len bytes + NUL, allocated */
	} u;
};

static inline const char *aw_corr_seen_str(const struct aw_corr_seen_v *e)
{
	return e->len < AW_CORR_SEEN_INLINE ? e->u.in : e->u.p;
}

/* Lives in its group's allocation, after the key: one miss less per event. */
struct aw_corr_seen {
	int64_t first; /* earliest match time: learning ends at first + learning_ms */
	uint64_t stamp;
	bool started;
	uint32_t n;    /* values */
	uint32_t mask; /* slots - 1, a power of two above 4 * n / 3; with t NULL, 0 */
	struct aw_corr_seen_v *t; /* linear probing from hash & mask */
};

struct aw_corr_base {
	int64_t bucket;	      /* current bucket: floor(t / span) */
	int64_t t0, t1;	      /* first and last event time in it */
	uint64_t sum;	      /* of hist */
	uint32_t count;	      /* matches in the current bucket */
	uint32_t nhist, hpos; /* completed buckets kept; next ring slot */
	bool fired, started;
	uint32_t hist[]; /* history_buckets counts, a ring */
};

struct aw_corr_group {
	struct aw_corr_group *hnext;	     /* hash chain */
	struct aw_corr_group *lprev, *lnext; /* LRU: lprev is more recent */
	uint32_t hash;
	uint32_t heap; /* index in c->heap */
	uint16_t klen;
	uint16_t n;		     /* matches */
	uint32_t size, sused, sdead; /* page bytes; bytes at its end, dead ones */
	union {
		unsigned char *page; /* window types */
		struct aw_corr_seen *seen;
		struct aw_corr_base *base;
	} u;
	char key[];
};

struct aw_corr {
	struct aw_corr_spec spec;
	struct aw_corr_budget *budget;
	struct aw_corr_budget own_budget; /* when the caller gives none */
	size_t max_groups;
	bool window;		 /* one of the six Sigma types */
	bool sliding;		 /* else: episodes */
	bool has_num, has_value; /* what a match stores */
	bool per_match;		 /* aggregate needs every match added */
	uint64_t seed;
	bool has_newest;
	int64_t newest;

	struct aw_corr_group **buckets;
	size_t nbuckets, ngroups;
	struct aw_corr_group *lru_head, *lru_tail;
	struct aw_corr_group **heap; /* window groups by first match time */
	size_t heap_n, heap_cap;

	/* scratch for one evaluation */
	uint32_t *vslot, *vcnt; /* distinct values: match index + 1, count */
	size_t vcap, vmask;
	uint32_t *rcnt; /* temporal: matches per rule */
	/* what the last fire points into */
	char *fbuf;
	size_t fcap;
	const char *fids[AW_CORR_FIRE_MAX];
	const char *fvals[AW_CORR_FIRE_MAX];
};

/* A byte string a fire reports (not NUL-terminated). */
struct aw_corr_piece {
	const char *p;
	size_t n;
};

/* --- a window match's fields --------------------------------------------------------- */

static inline int64_t aw_corr_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && a < 0) ? q - 1 : q;
}

static inline struct aw_corr_m *aw_corr_entries(const struct aw_corr_group *g)
{
	return (struct aw_corr_m *)(void *)g->u.page;
}

static inline unsigned char *aw_corr_mdata(const struct aw_corr_group *g, const struct aw_corr_m *m)
{
	return g->u.page + g->size - m->off;
}

static inline double aw_corr_m_num(const struct aw_corr *c, const struct aw_corr_group *g,
				   const struct aw_corr_m *m)
{
	double d = 0;
	if (c->has_num)
		memcpy(&d, aw_corr_mdata(g, m), sizeof d);
	return d;
}

static inline const char *aw_corr_m_value(const struct aw_corr *c, const struct aw_corr_group *g,
					  const struct aw_corr_m *m)
{
	return (const char *)aw_corr_mdata(g, m) + (c->has_num ? sizeof(double) : 0);
}

static inline const char *aw_corr_m_id(const struct aw_corr *c, const struct aw_corr_group *g,
				       const struct aw_corr_m *m)
{
	const char *p = aw_corr_m_value(c, g, m);
	return m->vlen == AW_CORR_NOVALUE ? p : p + m->vlen + 1;
}

/* --- correlation.c ------------------------------------------------------------------- */

/* Seeded hash of n bytes (keys and values come from log data); callers keep 32 bits. */
uint64_t aw_corr_hash(uint64_t seed, const void *data, size_t n);
/* The group for key (h: its hash under c->seed), or NULL. */
struct aw_corr_group *aw_corr_group_find(const struct aw_corr *c, const char *key, size_t klen,
					 uint32_t h);
/* The group for key, made most recently used; created when missing, evicting the least
 * recently used under the bounds. NULL with *oom false when no group can be given up. */
struct aw_corr_group *aw_corr_group_get(struct aw_corr *c, const char *key, size_t klen, bool *oom);
/* Unlink and free g whatever its type; both group counts drop by one. */
void aw_corr_group_free(struct aw_corr *c, struct aw_corr_group *g);
/* Insert a window match in time order and fix the heap: 0 (*pos set), 1 when dropped at
 * the per-group bound, -1 out of memory (a group left empty is freed). */
int aw_corr_window_add(struct aw_corr *c, struct aw_corr_group *g, int64_t t, size_t rule,
		       const char *value, size_t vlen, double num, const char *id, size_t *pos);
/* Copy the key, ids and values into c's scratch buffer and point *f at them; valid until
 * the next call on c. */
int aw_corr_fire_set(struct aw_corr *c, struct aw_corr_fire *f, const struct aw_corr_group *g,
		     const struct aw_corr_piece *ids, size_t nids, const struct aw_corr_piece *vals,
		     size_t nvals);

/* --- corr_extensions.c --------------------------------------------------------------- */

/* first_seen value sets; the store uses has/add to rebuild one. clear frees what the
 * set holds (the set itself is part of its group). */
void aw_corr_seen_clear(struct aw_corr_seen *s);
bool aw_corr_seen_has(const struct aw_corr_seen *s, const char *v, size_t vlen, uint32_t h);
int aw_corr_seen_add(struct aw_corr_seen *s, const char *v, size_t vlen, uint32_t h);
/* Push a completed bucket count into a baseline ring of hn slots. */
void aw_corr_base_push(struct aw_corr_base *b, size_t hn, uint32_t v);
/* Feeds for the two extensions, called by aw_corr_feed after its time checks; they
 * return as aw_corr_feed. */
int aw_corr_feed_seen(struct aw_corr *c, int64_t t, const char *key, size_t klen, const char *value,
		      size_t vlen, const char *id, struct aw_corr_fire *f);
int aw_corr_feed_base(struct aw_corr *c, int64_t t, const char *key, size_t klen, const char *id,
		      struct aw_corr_fire *f);

#endif
