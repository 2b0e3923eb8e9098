/* The id tables (see field_id.h): open addressing over copies of the names, under a
 * mutex because rules may be compiled on a reload thread while the engine that still
 * runs the old rules keeps its ids. Field names and result texts count apart, so each
 * kind of id stays dense: the view's arrays indexed by them stay small. */
#include "field_id.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct name_slot {
	char *name; /* NULL: empty */
	size_t len;
	unsigned id;
};

struct id_table {
	struct name_slot *slots;
	size_t nslots; /* a power of two, at least twice the names */
	unsigned next_id;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct id_table fields = {.next_id = 1}, results = {.next_id = 1};

static uint32_t name_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static struct name_slot *find_slot(struct name_slot *t, size_t cap, const char *name, size_t len)
{
	size_t i = name_hash(name, len) & (cap - 1);

	while (t[i].name && (t[i].len != len || memcmp(t[i].name, name, len) != 0))
		i = (i + 1) & (cap - 1);
	return &t[i];
}

static int grow(struct id_table *tb)
{
	size_t cap = tb->nslots ? tb->nslots * 2 : 256;
	struct name_slot *t = calloc(cap, sizeof *t);

	if (!t)
		return -1;
	for (size_t i = 0; i < tb->nslots; i++)
		if (tb->slots[i].name)
			*find_slot(t, cap, tb->slots[i].name, tb->slots[i].len) = tb->slots[i];
	free(tb->slots);
	tb->slots = t;
	tb->nslots = cap;
	return 0;
}

static unsigned table_id(struct id_table *tb, const char *name, size_t len)
{
	unsigned id = 0;

	pthread_mutex_lock(&lock);
	if (!tb->slots && grow(tb) < 0)
		goto out;
	struct name_slot *s = find_slot(tb->slots, tb->nslots, name, len);
	if (s->name) {
		id = s->id;
		goto out;
	}
	if (tb->next_id >= AW_FIELD_ID_MAX)
		goto out;
	if ((size_t)tb->next_id * 2 >= tb->nslots) {
		if (grow(tb) < 0)
			goto out;
		s = find_slot(tb->slots, tb->nslots, name, len);
	}
	s->name = malloc(len + 1);
	if (!s->name)
		goto out;
	memcpy(s->name, name, len);
	s->name[len] = '\0';
	s->len = len;
	s->id = id = tb->next_id++;
out:
	pthread_mutex_unlock(&lock);
	return id;
}

unsigned aw_field_id(const char *name, size_t len)
{
	return table_id(&fields, name, len);
}

unsigned aw_result_id(const char *text, size_t len)
{
	return table_id(&results, text, len);
}
