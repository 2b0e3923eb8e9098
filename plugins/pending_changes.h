/* The changes a findings table has emitted and the pipeline has not yet reported
 * durable, oldest first. A change becomes the table's durable state (what its state file
 * says) only once every event up to its sequence number is durable (invariant 1), so
 * the table keeps them here until durable(seq) says so.
 *
 * in_defender's and in_posture's tables each keep one; shared so the ring, its growth
 * and its ceiling are written once. An element is the table's own struct, copied in,
 * and must begin with its uint64_t sequence number; what it points to stays the
 * table's. Loop thread only. */
#ifndef AW_PENDING_CHANGES_H
#define AW_PENDING_CHANGES_H

#include <stddef.h>
#include <stdint.h>

struct aw_pending_changes {
	unsigned char *v; /* ring of cap elements; owned */
	size_t size;	  /* of one element */
	size_t first_cap; /* elements of the first allocation */
	size_t max;	  /* ceiling: a push past it fails */
	size_t head, len, cap;
};

void aw_pending_init(struct aw_pending_changes *q, size_t size, size_t first_cap, size_t max);
/* Frees the ring (not what its elements point to: walk them with aw_pending_at first). */
void aw_pending_free(struct aw_pending_changes *q);

/* Copy e in as the newest. -1 at the ceiling or when out of memory. */
int aw_pending_push(struct aw_pending_changes *q, const void *e);
/* The oldest when its sequence number is at most seq, else NULL. */
void *aw_pending_due(struct aw_pending_changes *q, uint64_t seq);
/* Drop the oldest. */
void aw_pending_pop(struct aw_pending_changes *q);
/* The i-th oldest (i < aw_pending_len). */
void *aw_pending_at(struct aw_pending_changes *q, size_t i);
size_t aw_pending_len(const struct aw_pending_changes *q);

#endif
