/* The input's cursor state: the de-duplication set, the marks, the checkpoint.
 *
 * The set remembers the keys (_ItemId) of rows handled recently, so the overlap a
 * poll re-reads is not evaluated twice. It is a ring in insertion order (rows arrive
 * in ingestion-time order, so the oldest are at the head and are forgotten first,
 * once the watermark has passed them by more than the overlap) with an open-
 * addressing index on top (linear probing, backward-shift deletion). Bounded: at
 * `max` keys the oldest is forgotten early, which can only cause a duplicate (same
 * AlertId), never a loss.
 *
 * The checkpoint is the durable watermark plus the keys of the overlap that were
 * durable when it was written, so a restart re-reads the overlap without evaluating
 * those rows again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/state.h"
#include "la.h"

#define LA_SEEN_MIN_CAP 256
#define LA_CKPT_VERSION 1

struct la_entry {
	char key[AW_LA_KEY_MAX];
	int64_t ing;
	uint64_t seq;
	uint32_t hash;
};

struct aw_la_seen {
	struct la_entry *ring;
	size_t cap, head, len, max;
	uint32_t *idx;	 /* ring slot + 1; 0 is empty */
	size_t idx_size; /* a power of two, at least twice cap */
};

static uint32_t hash32(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

void aw_la_hash_hex(const char *s, size_t len, char out[17])
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static size_t pow2_at_least(size_t n)
{
	size_t p = 1;

	while (p < n)
		p *= 2;
	return p;
}

struct aw_la_seen *aw_la_seen_new(size_t max)
{
	struct aw_la_seen *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->max = max ? max : 1;
	s->cap = s->max < LA_SEEN_MIN_CAP ? s->max : LA_SEEN_MIN_CAP;
	s->idx_size = pow2_at_least(2 * s->cap);
	s->ring = calloc(s->cap, sizeof *s->ring);
	s->idx = calloc(s->idx_size, sizeof *s->idx);
	if (!s->ring || !s->idx) {
		aw_la_seen_free(s);
		return NULL;
	}
	return s;
}

void aw_la_seen_free(struct aw_la_seen *s)
{
	if (!s)
		return;
	free(s->ring);
	free(s->idx);
	free(s);
}

static long find_pos(const struct aw_la_seen *s, const char *key, uint32_t h)
{
	size_t mask = s->idx_size - 1;

	for (size_t p = h & mask;; p = (p + 1) & mask) {
		uint32_t v = s->idx[p];
		if (!v)
			return -1;
		const struct la_entry *e = &s->ring[v - 1];
		if (e->hash == h && !strcmp(e->key, key))
			return (long)p;
	}
}

bool aw_la_seen_has(const struct aw_la_seen *s, const char *key)
{
	return find_pos(s, key, hash32(key)) >= 0;
}

static void idx_insert(uint32_t *idx, size_t size, uint32_t h, size_t slot)
{
	size_t mask = size - 1, p = h & mask;

	while (idx[p])
		p = (p + 1) & mask;
	idx[p] = (uint32_t)(slot + 1);
}

/* Empty index position i, moving later entries of the probe run back into it. */
static void idx_delete(struct aw_la_seen *s, size_t i)
{
	size_t mask = s->idx_size - 1, j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (!s->idx[j])
			break;
		size_t k = s->ring[s->idx[j] - 1].hash & mask;
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			s->idx[i] = s->idx[j];
			i = j;
		}
	}
	s->idx[i] = 0;
}

static void remove_head(struct aw_la_seen *s)
{
	const struct la_entry *e = &s->ring[s->head];
	size_t mask = s->idx_size - 1, p = e->hash & mask;

	while (s->idx[p] != s->head + 1)
		p = (p + 1) & mask;
	idx_delete(s, p);
	s->head = (s->head + 1) % s->cap;
	s->len--;
}

static int grow(struct aw_la_seen *s)
{
	size_t ncap = s->cap * 2 > s->max ? s->max : s->cap * 2;
	size_t nidx = pow2_at_least(2 * ncap);
	struct la_entry *ring = calloc(ncap, sizeof *ring);
	uint32_t *idx = calloc(nidx, sizeof *idx);

	if (!ring || !idx || nidx > UINT32_MAX) {
		free(ring);
		free(idx);
		return -1;
	}
	for (size_t i = 0; i < s->len; i++) {
		ring[i] = s->ring[(s->head + i) % s->cap];
		idx_insert(idx, nidx, ring[i].hash, i);
	}
	free(s->ring);
	free(s->idx);
	s->ring = ring;
	s->idx = idx;
	s->cap = ncap;
	s->idx_size = nidx;
	s->head = 0;
	return 0;
}

int aw_la_seen_add(struct aw_la_seen *s, const char *key, int64_t ing, uint64_t seq)
{
	int evicted = 0;
	size_t slot;

	if (s->len == s->cap) {
		if (s->cap < s->max && grow(s) == 0) {
			/* room now */
		} else if (s->len) {
			remove_head(s);
			evicted = 1;
		} else {
			return -1;
		}
	}
	slot = (s->head + s->len) % s->cap;
	snprintf(s->ring[slot].key, sizeof s->ring[slot].key, "%s", key);
	s->ring[slot].ing = ing;
	s->ring[slot].seq = seq;
	s->ring[slot].hash = hash32(s->ring[slot].key);
	idx_insert(s->idx, s->idx_size, s->ring[slot].hash, slot);
	s->len++;
	return evicted;
}

void aw_la_seen_prune(struct aw_la_seen *s, int64_t before)
{
	while (s->len && s->ring[s->head].ing <= before)
		remove_head(s);
}

size_t aw_la_seen_count(const struct aw_la_seen *s)
{
	return s->len;
}

void aw_la_seen_foreach(const struct aw_la_seen *s,
			void (*fn)(void *ud, const char *key, int64_t ing, uint64_t seq), void *ud)
{
	for (size_t i = 0; i < s->len; i++) {
		const struct la_entry *e = &s->ring[(s->head + i) % s->cap];
		fn(ud, e->key, e->ing, e->seq);
	}
}

/* --- marks ------------------------------------------------------------------------- */

void aw_la_marks_push(struct aw_la_marks *m, uint64_t seq, int64_t w)
{
	if (m->len) {
		struct aw_la_mark *tail = &m->v[(m->head + m->len - 1) % m->cap];
		if (tail->seq == seq || m->len == AW_LA_MAX_MARKS) {
			/* Same sequence, or no room: the newer watermark waits for the later
			 * sequence number. */
			tail->seq = seq;
			tail->w = w;
			return;
		}
	}
	if (m->len == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 16;
		struct aw_la_mark *nv = malloc(ncap * sizeof *nv);
		if (!nv) {
			if (m->len) {
				struct aw_la_mark *tail = &m->v[(m->head + m->len - 1) % m->cap];
				tail->seq = seq;
				tail->w = w;
			}
			return;
		}
		for (size_t i = 0; i < m->len; i++)
			nv[i] = m->v[(m->head + i) % m->cap];
		free(m->v);
		m->v = nv;
		m->cap = ncap;
		m->head = 0;
	}
	m->v[(m->head + m->len) % m->cap] = (struct aw_la_mark){.seq = seq, .w = w};
	m->len++;
}

bool aw_la_marks_pop(struct aw_la_marks *m, uint64_t durable, int64_t *w)
{
	bool any = false;

	while (m->len && m->v[m->head].seq <= durable) {
		*w = m->v[m->head].w;
		any = true;
		m->head = (m->head + 1) % m->cap;
		m->len--;
	}
	return any;
}

void aw_la_marks_free(struct aw_la_marks *m)
{
	free(m->v);
	memset(m, 0, sizeof *m);
}

/* --- checkpoint ---------------------------------------------------------------------- */

struct ckpt_fill {
	json_object *arr;
	uint64_t durable;
	int64_t min_ing;
	bool oom;
};

static void fill_one(void *ud, const char *key, int64_t ing, uint64_t seq)
{
	struct ckpt_fill *f = ud;
	json_object *pair;

	if (f->oom || seq > f->durable || ing <= f->min_ing)
		return;
	pair = json_object_new_array_ext(2);
	if (!pair || json_object_array_add(pair, json_object_new_string(key)) ||
	    json_object_array_add(pair, json_object_new_int64(ing)) ||
	    json_object_array_add(f->arr, pair)) {
		json_object_put(pair);
		f->oom = true;
	}
}

int aw_la_ckpt_write(const char *dir, const char *name, const struct aw_la_ckpt *c,
		     const struct aw_la_seen *seen, uint64_t durable, int64_t min_ing,
		     struct aw_error *err)
{
	json_object *root = json_object_new_object();
	struct ckpt_fill f = {
	    .arr = json_object_new_array(), .durable = durable, .min_ing = min_ing};
	char wm[AW_LA_TIME_LEN];
	const char *txt;
	size_t len = 0;
	int rc = -1;

	if (!root || !f.arr) {
		json_object_put(f.arr);
		goto oom;
	}
	aw_la_time_format(c->watermark, wm);
	json_object_object_add(root, "version", json_object_new_int(LA_CKPT_VERSION));
	json_object_object_add(root, "workspace", json_object_new_string(c->workspace));
	json_object_object_add(root, "source", json_object_new_string(c->source_hash));
	json_object_object_add(root, "watermark", json_object_new_string(wm));
	json_object_object_add(root, "seen", f.arr);
	if (seen)
		aw_la_seen_foreach(seen, fill_one, &f);
	if (f.oom)
		goto oom;
	txt = json_object_to_json_string_length(
	    root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!txt)
		goto oom;
	rc = aw_state_write(dir, name, txt, len, err);
	goto out;
oom:
	aw_error_set(err, "%s/%s: out of memory writing the checkpoint", dir, name);
out:
	json_object_put(root);
	return rc;
}

static int corrupt(struct aw_error *err, const char *dir, const char *name, const char *what)
{
	return aw_error_set(err, "%s/%s: corrupt checkpoint (%s)", dir, name, what);
}

int aw_la_ckpt_read(const char *dir, const char *name, struct aw_la_ckpt *c,
		    struct aw_la_seen *seen, struct aw_error *err)
{
	char *data = NULL;
	size_t len = 0;
	json_object *root = NULL, *v, *arr;
	int rc = aw_state_read(dir, name, &data, &len, err);

	if (rc != 0)
		return rc;
	rc = -1;
	root = json_tokener_parse(data);
	if (!json_object_is_type(root, json_type_object)) {
		corrupt(err, dir, name, "not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(root, "version", &v) ||
	    json_object_get_int(v) != LA_CKPT_VERSION) {
		corrupt(err, dir, name, "unknown version");
		goto out;
	}
	if (!json_object_object_get_ex(root, "watermark", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    aw_la_time_parse(json_object_get_string(v), (size_t)json_object_get_string_len(v),
			     &c->watermark) != 0) {
		corrupt(err, dir, name, "bad watermark");
		goto out;
	}
	if (!json_object_object_get_ex(root, "workspace", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		corrupt(err, dir, name, "no workspace");
		goto out;
	}
	snprintf(c->workspace, sizeof c->workspace, "%s", json_object_get_string(v));
	c->source_hash[0] = '\0';
	if (json_object_object_get_ex(root, "source", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(c->source_hash, sizeof c->source_hash, "%s", json_object_get_string(v));
	if (!json_object_object_get_ex(root, "seen", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		corrupt(err, dir, name, "no seen list");
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *pair = json_object_array_get_idx(arr, i), *k, *t;
		if (!json_object_is_type(pair, json_type_array) ||
		    json_object_array_length(pair) != 2 ||
		    !json_object_is_type(k = json_object_array_get_idx(pair, 0),
					 json_type_string) ||
		    !json_object_is_type(t = json_object_array_get_idx(pair, 1), json_type_int) ||
		    json_object_get_string_len(k) >= AW_LA_KEY_MAX) {
			corrupt(err, dir, name, "bad seen entry");
			goto out;
		}
		if (!aw_la_seen_has(seen, json_object_get_string(k)) &&
		    aw_la_seen_add(seen, json_object_get_string(k), json_object_get_int64(t), 0) <
			0) {
			aw_error_set(err, "%s/%s: out of memory reading the checkpoint", dir, name);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc != 0) {
		/* Nothing half-read survives a failed read. */
		while (aw_la_seen_count(seen))
			aw_la_seen_prune(seen, INT64_MAX);
	}
	json_object_put(root);
	free(data);
	return rc;
}
