/* The known posture findings (see posture_known.h).
 *
 * A chained hash table over (check, lower-cased resource), so entries can be removed
 * one by one and keep their address while they live (the pending queue and the
 * caller's list of unseen findings point at them). Values are copied strings: a table
 * of 200,000 findings with ARM ids takes about 60 MB.
 * File payload: {"version":1,"findings":[["CHECK","RESOURCE","ACTUAL" or null,N],...]}. */
#include "posture_known.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "findings_file.h"
#include "pending_changes.h"

#define PK_MIN_BUCKETS 256
#define PK_FIRST_PEND  256

struct aw_pk_entry {
	struct aw_pk_entry *next; /* bucket chain */
	uint64_t hash;
	char *check, *resource;
	char *latest, *durable; /* failing values; NULL: passing */
	uint32_t latest_n, durable_n;
	uint32_t seen;	  /* the pass that last saw it */
	uint32_t pending; /* emitted changes not yet durable */
};

struct pk_pending {
	uint64_t seq; /* first: aw_pending_changes reads it */
	struct aw_pk_entry *e;
	char *actual; /* owned; NULL: passing */
	uint32_t n;
};
_Static_assert(offsetof(struct pk_pending, seq) == 0, "aw_pending_changes reads seq first");

struct aw_posture_known {
	size_t max;
	struct aw_pk_entry **buckets;
	size_t nbuckets, count, failing;
	struct aw_pending_changes pend; /* of struct pk_pending */
	bool dirty;
};

static uint64_t key_hash(const char *check, const char *resource)
{
	uint64_t h = 14695981039346656037ull;

	for (const char *p = check; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ '\n') * 1099511628211ull;
	for (const char *p = resource; *p; p++)
		h = (h ^ (unsigned char)tolower((unsigned char)*p)) * 1099511628211ull;
	return h;
}

struct aw_posture_known *aw_posture_known_new(size_t max)
{
	struct aw_posture_known *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->max = max ? max : 1;
	aw_pending_init(&t->pend, sizeof(struct pk_pending), PK_FIRST_PEND, AW_PK_MAX_PENDING);
	return t;
}

static void entry_free(struct aw_pk_entry *e)
{
	free(e->check);
	free(e->resource);
	free(e->latest);
	free(e->durable);
	free(e);
}

void aw_posture_known_free(struct aw_posture_known *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct aw_pk_entry *e = t->buckets[i], *nx; e; e = nx) {
			nx = e->next;
			entry_free(e);
		}
	for (size_t i = 0; i < aw_pending_len(&t->pend); i++)
		free(((struct pk_pending *)aw_pending_at(&t->pend, i))->actual);
	free(t->buckets);
	aw_pending_free(&t->pend);
	free(t);
}

static struct aw_pk_entry *find(const struct aw_posture_known *t, const char *check,
				const char *resource)
{
	uint64_t h;

	if (!t->nbuckets)
		return NULL;
	h = key_hash(check, resource);
	for (struct aw_pk_entry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->next)
		if (e->hash == h && strcmp(e->check, check) == 0 &&
		    strcasecmp(e->resource, resource) == 0)
			return e;
	return NULL;
}

/* Twice the buckets once there are more entries than buckets: chains stay short. */
static int grow_buckets(struct aw_posture_known *t)
{
	size_t n = t->nbuckets ? t->nbuckets * 2 : PK_MIN_BUCKETS;
	struct aw_pk_entry **b;

	if (t->count < t->nbuckets)
		return 0;
	if (!(b = calloc(n, sizeof *b)))
		return t->nbuckets ? 0 : -1; /* a longer chain still works */
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct aw_pk_entry *e = t->buckets[i], *nx; e; e = nx) {
			nx = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
	return 0;
}

static struct aw_pk_entry *insert(struct aw_posture_known *t, const char *check,
				  const char *resource)
{
	struct aw_pk_entry *e;

	if (t->count >= t->max || grow_buckets(t) < 0 || !(e = calloc(1, sizeof *e)))
		return NULL;
	e->check = strdup(check);
	e->resource = strdup(resource);
	if (!e->check || !e->resource) {
		entry_free(e);
		return NULL;
	}
	e->hash = key_hash(check, resource);
	e->next = t->buckets[e->hash & (t->nbuckets - 1)];
	t->buckets[e->hash & (t->nbuckets - 1)] = e;
	t->count++;
	return e;
}

static void unlink_entry(struct aw_posture_known *t, struct aw_pk_entry *e)
{
	struct aw_pk_entry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	t->count--;
	if (e->latest)
		t->failing--;
	entry_free(e);
}

void aw_posture_known_check(struct aw_posture_known *t, const char *check, const char *resource,
			    const char *actual, uint32_t gen, struct aw_pk_verdict *v)
{
	struct aw_pk_entry *e = find(t, check, resource);

	memset(v, 0, sizeof *v);
	if (e)
		e->seen = gen;
	if (actual) {
		if (!e || !e->latest) {
			v->change = AW_PK_APPEARED;
			v->n = e ? e->latest_n + 1 : 1;
			v->untracked = !e && t->count >= t->max;
		} else if (strcmp(e->latest, actual) != 0) {
			v->change = AW_PK_CHANGED;
			v->n = e->latest_n + 1;
			snprintf(v->previous, sizeof v->previous, "%s", e->latest);
		}
	} else if (e && e->latest) {
		v->change = AW_PK_RESOLVED;
		v->n = e->latest_n + 1;
	}
}

void aw_posture_known_touch(struct aw_posture_known *t, const char *check, const char *resource,
			    uint32_t gen)
{
	struct aw_pk_entry *e = find(t, check, resource);

	if (e)
		e->seen = gen;
}

int aw_posture_known_emitted(struct aw_posture_known *t, const char *check, const char *resource,
			     const char *actual, uint32_t n, uint32_t gen, uint64_t seq)
{
	struct aw_pk_entry *e = find(t, check, resource);
	struct pk_pending p = {.seq = seq, .n = n};
	char *latest = NULL;

	if (!e && !(e = insert(t, check, resource)))
		return -1;
	if (actual && (!(latest = strdup(actual)) || !(p.actual = strdup(actual))))
		goto fail;
	p.e = e;
	if (aw_pending_push(&t->pend, &p) < 0)
		goto fail;
	if (e->latest)
		t->failing--;
	if (latest)
		t->failing++;
	free(e->latest);
	e->latest = latest;
	e->latest_n = n;
	e->seen = gen;
	e->pending++;
	return 0;
fail:
	free(latest);
	free(p.actual);
	if (!e->latest && !e->durable && !e->durable_n && !e->pending)
		unlink_entry(t, e); /* just inserted: nothing to remember */
	return -1;
}

bool aw_posture_known_durable(struct aw_posture_known *t, uint64_t seq)
{
	struct pk_pending *p;
	bool changed = false;

	while ((p = aw_pending_due(&t->pend, seq))) {
		free(p->e->durable);
		p->e->durable = p->actual;
		p->e->durable_n = p->n;
		p->e->pending--;
		changed = true;
		aw_pending_pop(&t->pend);
	}
	if (changed)
		t->dirty = true;
	return changed;
}

size_t aw_posture_known_unseen(struct aw_posture_known *t, uint32_t gen, struct aw_pk_entry ***out)
{
	size_t n = 0;

	*out = NULL;
	if (!t->failing || !(*out = malloc(t->failing * sizeof **out)))
		return 0;
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct aw_pk_entry *e = t->buckets[i]; e; e = e->next)
			if (e->latest && e->seen != gen && n < t->failing)
				(*out)[n++] = e;
	return n;
}

const char *aw_pk_entry_check(const struct aw_pk_entry *e)
{
	return e->check;
}

const char *aw_pk_entry_resource(const struct aw_pk_entry *e)
{
	return e->resource;
}

const char *aw_pk_entry_actual(const struct aw_pk_entry *e)
{
	return e->latest;
}

uint32_t aw_pk_entry_changes(const struct aw_pk_entry *e)
{
	return e->latest_n;
}

void aw_posture_known_forget(struct aw_posture_known *t, struct aw_pk_entry *e)
{
	if (e->latest) {
		t->failing--;
		free(e->latest);
		e->latest = NULL;
	}
	if (e->pending)
		return;
	if (e->durable_n)
		t->dirty = true;
	unlink_entry(t, e);
}

size_t aw_posture_known_prune(struct aw_posture_known *t, uint32_t gen)
{
	size_t dropped = 0;

	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct aw_pk_entry *e = t->buckets[i], *nx; e; e = nx) {
			nx = e->next;
			if (e->seen == gen || e->latest || e->pending)
				continue;
			if (e->durable_n)
				t->dirty = true;
			unlink_entry(t, e);
			dropped++;
		}
	return dropped;
}

size_t aw_posture_known_count(const struct aw_posture_known *t)
{
	return t->count;
}

size_t aw_posture_known_failing(const struct aw_posture_known *t)
{
	return t->failing;
}

size_t aw_posture_known_pending(const struct aw_posture_known *t)
{
	return aw_pending_len(&t->pend);
}

bool aw_posture_known_dirty(const struct aw_posture_known *t)
{
	return t->dirty;
}

/* --- the state file ------------------------------------------------------------------------ */

static const struct aw_findings_file pk_file = {
    .what = "posture findings table",
    .row = "finding",
    .version = 1,
    .width = 4,
};

static void clear(void *ud)
{
	struct aw_posture_known *t = ud;

	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct aw_pk_entry *e = t->buckets[i], *nx; e; e = nx) {
			nx = e->next;
			entry_free(e);
		}
	if (t->nbuckets)
		memset(t->buckets, 0, t->nbuckets * sizeof *t->buckets);
	t->count = t->failing = 0;
}

/* 0, 1 when over a bound (not remembered: reported again when seen), -1 corrupt. */
static int load_row(void *ud, json_object *a)
{
	struct aw_posture_known *t = ud;
	json_object *c = json_object_array_get_idx(a, 0), *r = json_object_array_get_idx(a, 1),
		    *v = json_object_array_get_idx(a, 2), *n = json_object_array_get_idx(a, 3);
	int64_t num = json_object_get_int64(n);
	struct aw_pk_entry *e;

	if (!json_object_is_type(c, json_type_string) ||
	    !json_object_is_type(r, json_type_string) ||
	    !(v == NULL || json_object_is_type(v, json_type_string)) ||
	    !json_object_is_type(n, json_type_int) || num < 1 || num > UINT32_MAX ||
	    !json_object_get_string_len(c) || !json_object_get_string_len(r) ||
	    json_object_get_string_len(v) >= AW_PK_ACTUAL_MAX)
		return -1;
	if (find(t, json_object_get_string(c), json_object_get_string(r)))
		return -1;
	if (!(e = insert(t, json_object_get_string(c), json_object_get_string(r))))
		return 1;
	if (v && (!(e->latest = strdup(json_object_get_string(v))) ||
		  !(e->durable = strdup(json_object_get_string(v))))) {
		unlink_entry(t, e);
		return 1;
	}
	if (e->latest)
		t->failing++;
	e->latest_n = e->durable_n = (uint32_t)num;
	return 0;
}

int aw_posture_known_load(struct aw_posture_known *t, const char *dir, const char *name,
			  struct aw_error *err)
{
	return aw_findings_file_load(&pk_file, dir, name, load_row, clear, t, &t->dirty, err);
}

static int save_rows(void *ud, json_object *list)
{
	const struct aw_posture_known *t = ud;

	for (size_t i = 0; i < t->nbuckets; i++)
		for (const struct aw_pk_entry *e = t->buckets[i]; e; e = e->next) {
			if (!e->durable_n)
				continue; /* nothing of it is durable yet */
			if (aw_findings_file_row(
				&pk_file, list,
				(json_object *[]){json_object_new_string(e->check),
						  json_object_new_string(e->resource),
						  e->durable ? json_object_new_string(e->durable)
							     : NULL,
						  json_object_new_int64(e->durable_n)}) < 0)
				return -1;
		}
	return 0;
}

int aw_posture_known_save(struct aw_posture_known *t, const char *dir, const char *name,
			  struct aw_error *err)
{
	return aw_findings_file_save(&pk_file, dir, name, save_rows, t, &t->dirty, err);
}
