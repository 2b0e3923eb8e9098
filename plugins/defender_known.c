/* The known-state table of in_defender (see defender_known.h).
 *
 * Open addressing with linear probing over 16-byte digests; the table never deletes
 * one entry at a time (pruning rebuilds it), so no tombstones are needed. States are
 * interned: an entry holds two one-byte indexes, so 100,000 findings take about 8 MB.
 * File payload: {"version":1,"findings":[["<32 hex digest>","<state>",<changes>],...]}. */
#include "defender_known.h"

#include <ctype.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "findings_file.h"
#include "pending_changes.h"
#include "defender_event.h"

#define KNOWN_MIN_CAP	 64
#define KNOWN_FIRST_PEND 64

struct def_entry {
	struct aw_def_key key;
	uint8_t used;
	uint8_t latest, durable; /* state indexes; 0: none */
	uint32_t latest_n, durable_n;
	uint32_t seen;	  /* poll generation that last saw it */
	uint32_t pending; /* emitted changes not yet durable */
};

struct def_pending {
	uint64_t seq; /* first: aw_pending_changes reads it */
	struct aw_def_key key;
	uint8_t state;
	uint32_t n;
};
_Static_assert(offsetof(struct def_pending, seq) == 0, "aw_pending_changes reads seq first");

struct aw_def_known {
	size_t max;
	struct def_entry *slots;
	size_t cap, count;
	char states[AW_DEF_MAX_STATES][AW_DEF_STATE_MAX]; /* [0] is "" (none) */
	size_t nstates;
	struct aw_pending_changes pend; /* of struct def_pending */
	bool dirty;
};

/* --- digests ------------------------------------------------------------------------ */

static void digest_lower(EVP_MD_CTX *c, const char *s)
{
	char buf[256];
	size_t n = 0;

	for (; *s; s++) {
		buf[n++] = (char)tolower((unsigned char)*s);
		if (n == sizeof buf) {
			EVP_DigestUpdate(c, buf, n);
			n = 0;
		}
	}
	EVP_DigestUpdate(c, buf, n);
}

void aw_def_key_make(const char *id, const char *resource, struct aw_def_key *k)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	memset(k, 0, sizeof *k);
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		goto out;
	digest_lower(c, id ? id : "");
	EVP_DigestUpdate(c, "\n", 1);
	digest_lower(c, resource ? resource : "");
	if (EVP_DigestFinal_ex(c, md, &len) == 1 && len >= sizeof k->b)
		memcpy(k->b, md, sizeof k->b);
out:
	EVP_MD_CTX_free(c);
}

static void hex16(const unsigned char *b, char out[33])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < 16; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[32] = '\0';
}

void aw_def_item_id(const struct aw_def_key *k, const char *state, uint32_t n, const char *stamp,
		    char out[37])
{
	unsigned char md[EVP_MAX_MD_SIZE] = {0};
	unsigned int len = 0;
	char key[33], num[16], h[33];
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	hex16(k->b, key);
	snprintf(num, sizeof num, "%u", (unsigned)n);
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(c, "aiwatch-defender-v1\n", 20);
		EVP_DigestUpdate(c, key, 32);
		EVP_DigestUpdate(c, "\n", 1);
		EVP_DigestUpdate(c, state, strlen(state));
		EVP_DigestUpdate(c, "\n", 1);
		EVP_DigestUpdate(c, num, strlen(num));
		EVP_DigestUpdate(c, "\n", 1);
		if (stamp)
			EVP_DigestUpdate(c, stamp, strlen(stamp));
		EVP_DigestFinal_ex(c, md, &len);
	}
	EVP_MD_CTX_free(c);
	hex16(md, h);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

/* --- the table --------------------------------------------------------------------- */

struct aw_def_known *aw_def_known_new(size_t max)
{
	struct aw_def_known *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->max = max ? max : 1;
	t->nstates = 1;
	aw_pending_init(&t->pend, sizeof(struct def_pending), KNOWN_FIRST_PEND, AW_DEF_MAX_PENDING);
	return t;
}

void aw_def_known_free(struct aw_def_known *t)
{
	if (!t)
		return;
	free(t->slots);
	aw_pending_free(&t->pend);
	free(t);
}

static int intern(struct aw_def_known *t, const char *s)
{
	for (size_t i = 1; i < t->nstates; i++)
		if (strcmp(t->states[i], s) == 0)
			return (int)i;
	if (t->nstates == AW_DEF_MAX_STATES || strlen(s) >= AW_DEF_STATE_MAX || !*s)
		return -1;
	snprintf(t->states[t->nstates], AW_DEF_STATE_MAX, "%s", s);
	return (int)t->nstates++;
}

static size_t slot_of(const struct aw_def_key *k, size_t cap)
{
	uint64_t h;

	memcpy(&h, k->b, sizeof h);
	return (size_t)h & (cap - 1);
}

static struct def_entry *find(const struct aw_def_known *t, const struct aw_def_key *k)
{
	if (!t->cap)
		return NULL;
	for (size_t i = slot_of(k, t->cap);; i = (i + 1) & (t->cap - 1)) {
		struct def_entry *e = &t->slots[i];
		if (!e->used)
			return NULL;
		if (memcmp(e->key.b, k->b, sizeof k->b) == 0)
			return e;
	}
}

static struct def_entry *place(struct def_entry *slots, size_t cap, const struct aw_def_key *k)
{
	size_t i = slot_of(k, cap);

	while (slots[i].used)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

/* Rebuild into `cap` slots, keeping entries keep() accepts. */
static int rebuild(struct aw_def_known *t, size_t cap,
		   bool (*keep)(const struct def_entry *, uint32_t), uint32_t gen, size_t *dropped)
{
	struct def_entry *slots = calloc(cap, sizeof *slots);
	size_t count = 0;

	if (!slots)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		const struct def_entry *e = &t->slots[i];
		if (!e->used)
			continue;
		if (keep && !keep(e, gen)) {
			if (e->durable)
				t->dirty = true;
			if (dropped)
				(*dropped)++;
			continue;
		}
		*place(slots, cap, &e->key) = *e;
		count++;
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	t->count = count;
	return 0;
}

static struct def_entry *insert(struct aw_def_known *t, const struct aw_def_key *k)
{
	struct def_entry *e;

	if (t->count >= t->max)
		return NULL;
	/* At most half full: probes stay short. */
	if ((t->count + 1) * 2 > t->cap &&
	    rebuild(t, t->cap ? t->cap * 2 : KNOWN_MIN_CAP, NULL, 0, NULL) < 0)
		return NULL;
	e = place(t->slots, t->cap, k);
	memset(e, 0, sizeof *e);
	e->used = 1;
	e->key = *k;
	t->count++;
	return e;
}

int aw_def_known_check(struct aw_def_known *t, const struct aw_def_key *k, const char *state,
		       uint32_t gen, uint32_t *n, enum aw_def_verdict *verdict)
{
	struct def_entry *e = find(t, k);
	int s = intern(t, state);

	if (s < 0)
		return -1;
	if (!e) {
		*n = 1;
		*verdict = t->count >= t->max ? AW_DEF_UNTRACKED : AW_DEF_NEW;
		return 0;
	}
	e->seen = gen;
	if (e->latest == s) {
		*verdict = AW_DEF_SAME;
		*n = e->latest_n;
		return 0;
	}
	*n = e->latest_n + 1;
	*verdict = e->latest ? AW_DEF_CHANGED : AW_DEF_NEW;
	return 0;
}

int aw_def_known_emitted(struct aw_def_known *t, const struct aw_def_key *k, const char *state,
			 uint32_t n, uint32_t gen, uint64_t seq)
{
	struct def_entry *e = find(t, k);
	struct def_pending p = {.seq = seq, .key = *k, .n = n};
	int s = intern(t, state);

	if (s < 0)
		return -1;
	if (!e && !(e = insert(t, k)))
		return -1;
	p.state = (uint8_t)s;
	if (aw_pending_push(&t->pend, &p) < 0)
		return -1;
	e->latest = (uint8_t)s;
	e->latest_n = n;
	e->seen = gen;
	e->pending++;
	return 0;
}

bool aw_def_known_durable(struct aw_def_known *t, uint64_t seq)
{
	const struct def_pending *p;
	bool changed = false;

	while ((p = aw_pending_due(&t->pend, seq))) {
		struct def_entry *e = find(t, &p->key);

		if (e) {
			e->durable = p->state;
			e->durable_n = p->n;
			if (e->pending)
				e->pending--;
			changed = true;
		}
		aw_pending_pop(&t->pend);
	}
	if (changed)
		t->dirty = true;
	return changed;
}

static bool seen_or_pending(const struct def_entry *e, uint32_t gen)
{
	return e->seen == gen || e->pending;
}

size_t aw_def_known_prune(struct aw_def_known *t, uint32_t gen)
{
	size_t dropped = 0;

	if (t->cap)
		rebuild(t, t->cap, seen_or_pending, gen, &dropped);
	return dropped;
}

size_t aw_def_known_count(const struct aw_def_known *t)
{
	return t->count;
}

size_t aw_def_known_pending(const struct aw_def_known *t)
{
	return aw_pending_len(&t->pend);
}

bool aw_def_known_dirty(const struct aw_def_known *t)
{
	return t->dirty;
}

/* --- the state file ------------------------------------------------------------------ */

static int unhex16(const char *s, struct aw_def_key *k)
{
	if (strlen(s) != 32)
		return -1;
	for (size_t i = 0; i < 16; i++) {
		int v = 0;
		for (int j = 0; j < 2; j++) {
			char c = s[2 * i + (size_t)j];
			int d = c >= '0' && c <= '9'   ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
						       : -1;
			if (d < 0)
				return -1;
			v = v * 16 + d;
		}
		k->b[i] = (unsigned char)v;
	}
	return 0;
}

static const struct aw_findings_file def_file = {
    .what = "findings table",
    .row = "entry",
    .version = 1,
    .width = 3,
};

static int load_row(void *ud, json_object *a)
{
	struct aw_def_known *t = ud;
	json_object *h = json_object_array_get_idx(a, 0), *s = json_object_array_get_idx(a, 1),
		    *n = json_object_array_get_idx(a, 2);
	struct aw_def_key k;
	struct def_entry *e;
	int st;

	if (!json_object_is_type(h, json_type_string) ||
	    !json_object_is_type(s, json_type_string) || !json_object_is_type(n, json_type_int) ||
	    json_object_get_int64(n) < 0 || json_object_get_int64(n) > UINT32_MAX ||
	    unhex16(json_object_get_string(h), &k) < 0)
		return -1;
	if (find(t, &k))
		return -1;
	if ((st = intern(t, json_object_get_string(s))) < 0 || !(e = insert(t, &k)))
		return 1; /* over a bound: not remembered, reported again when seen */
	e->latest = e->durable = (uint8_t)st;
	e->latest_n = e->durable_n = (uint32_t)json_object_get_int64(n);
	return 0;
}

static void clear(void *ud)
{
	struct aw_def_known *t = ud;

	rebuild(t, t->cap, seen_or_pending, UINT32_MAX, NULL); /* keeps none */
}

int aw_def_known_load(struct aw_def_known *t, const char *dir, const char *name,
		      struct aw_error *err)
{
	return aw_findings_file_load(&def_file, dir, name, load_row, clear, t, &t->dirty, err);
}

static int save_rows(void *ud, json_object *list)
{
	const struct aw_def_known *t = ud;
	char hex[33];

	for (size_t i = 0; i < t->cap; i++) {
		const struct def_entry *e = &t->slots[i];

		if (!e->used || !e->durable)
			continue;
		hex16(e->key.b, hex);
		if (aw_findings_file_row(
			&def_file, list,
			(json_object *[]){json_object_new_string(hex),
					  json_object_new_string(t->states[e->durable]),
					  json_object_new_int64(e->durable_n)}) < 0)
			return -1;
	}
	return 0;
}

int aw_def_known_save(struct aw_def_known *t, const char *dir, const char *name,
		      struct aw_error *err)
{
	return aw_findings_file_save(&def_file, dir, name, save_rows, t, &t->dirty, err);
}
