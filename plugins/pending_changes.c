/* Changes waiting to be durable (see pending_changes.h). */
#include "pending_changes.h"

#include <stdlib.h>
#include <string.h>

void aw_pending_init(struct aw_pending_changes *q, size_t size, size_t first_cap, size_t max)
{
	memset(q, 0, sizeof *q);
	q->size = size;
	q->first_cap = first_cap;
	q->max = max;
}

void aw_pending_free(struct aw_pending_changes *q)
{
	free(q->v);
	q->v = NULL;
	q->head = q->len = q->cap = 0;
}

void *aw_pending_at(struct aw_pending_changes *q, size_t i)
{
	return q->v + ((q->head + i) % q->cap) * q->size;
}

/* Twice the room (up to max), the elements moved to the start in order. */
static int grow(struct aw_pending_changes *q)
{
	size_t cap = q->cap ? q->cap * 2 : q->first_cap;
	unsigned char *v;

	if (cap > q->max)
		cap = q->max;
	if (cap <= q->len || !(v = malloc(cap * q->size)))
		return -1;
	for (size_t i = 0; i < q->len; i++)
		memcpy(v + i * q->size, aw_pending_at(q, i), q->size);
	free(q->v);
	q->v = v;
	q->cap = cap;
	q->head = 0;
	return 0;
}

int aw_pending_push(struct aw_pending_changes *q, const void *e)
{
	if (q->len == q->cap && grow(q) < 0)
		return -1;
	memcpy(aw_pending_at(q, q->len), e, q->size);
	q->len++;
	return 0;
}

void *aw_pending_due(struct aw_pending_changes *q, uint64_t seq)
{
	uint64_t first;
	void *e;

	if (!q->len)
		return NULL;
	e = aw_pending_at(q, 0);
	memcpy(&first, e, sizeof first);
	return first <= seq ? e : NULL;
}

void aw_pending_pop(struct aw_pending_changes *q)
{
	if (!q->len)
		return;
	q->head = (q->head + 1) % q->cap;
	q->len--;
}

size_t aw_pending_len(const struct aw_pending_changes *q)
{
	return q->len;
}
