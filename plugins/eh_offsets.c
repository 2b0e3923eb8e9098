/* The partitions an `eventhubs` input owns and what may be committed for each (eh.h).
 *
 * Every message handled leaves a mark: the offset after it and the sequence number of
 * the last event emitted so far (a message that produced no event, a malformed one,
 * carries the previous event's number). Marks are in sequence order per partition, and
 * the pipeline reports durability in sequence order, so the commit point of a
 * partition is the `next` of the last mark whose number is durable: every event of
 * that message and of every earlier one in the partition is in the spools by then.
 * Commits are sent from these points only (at-least-once; never past a spooled
 * event). In the two-stage mode a mark instead waits until every message it produced
 * onto the internal topic has been confirmed by the broker.
 *
 * A revoked partition is parked, not forgotten: the eager protocol revokes everything
 * on every rebalance and usually hands a consumer its partitions back. If the group's
 * offset (the first message read again) is still below what was read here, the
 * messages in between are in flight in this pipeline already: they are skipped, and
 * their marks commit them once durable. If another consumer got further meanwhile,
 * the parked state is dropped. Either way nothing is committed below the group's
 * offset at the time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eh.h"

struct aw_eh_part *aw_eh_part_find(struct aw_eh_parts *ps, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < ps->n; i++)
		if (ps->v[i].partition == partition && strcmp(ps->v[i].topic, topic) == 0)
			return &ps->v[i];
	return NULL;
}

struct aw_eh_part *aw_eh_part_get(struct aw_eh_parts *ps, const char *topic, int32_t partition)
{
	struct aw_eh_part *p = aw_eh_part_find(ps, topic, partition);

	if (p)
		return p;
	if (ps->n == AW_EH_MAX_PARTS)
		return NULL;
	if (ps->n == ps->cap) {
		size_t ncap = ps->cap ? ps->cap * 2 : 16;
		struct aw_eh_part *nv = realloc(ps->v, ncap * sizeof *nv);
		if (!nv)
			return NULL;
		ps->v = nv;
		ps->cap = ncap;
	}
	p = &ps->v[ps->n];
	memset(p, 0, sizeof *p);
	p->topic = strdup(topic);
	if (!p->topic)
		return NULL;
	p->partition = partition;
	p->position = p->durable = p->committed = p->start = -1;
	p->stat_hi = p->stat_next = p->query_hi = -1;
	p->skip_below = p->floor = -1;
	ps->n++;
	return p;
}

void aw_eh_parts_free(struct aw_eh_parts *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->v[i].topic);
		free(ps->v[i].marks);
	}
	free(ps->v);
	memset(ps, 0, sizeof *ps);
}

void aw_eh_part_reset(struct aw_eh_part *p, bool assigned)
{
	p->assigned = assigned;
	p->parked = p->check_first = false;
	p->skip_below = p->floor = -1;
	p->position = p->durable = p->committed = p->start = -1;
	p->stat_hi = p->stat_next = p->query_hi = -1;
	p->head = p->len = 0;
	p->bad = 0;
	if (!assigned) {
		/* A partition we may never see again keeps no buffer. */
		free(p->marks);
		p->marks = NULL;
		p->cap = 0;
	}
}

void aw_eh_part_park(struct aw_eh_part *p)
{
	if (p->position < 0) {
		aw_eh_part_reset(p, false);
		return;
	}
	p->assigned = false;
	p->parked = true;
	p->check_first = false;
	p->stat_hi = p->stat_next = p->query_hi = -1;
}

void aw_eh_part_unpark(struct aw_eh_part *p)
{
	p->assigned = true;
	p->parked = false;
	p->check_first = true;
}

void aw_eh_part_first(struct aw_eh_part *p, int64_t offset)
{
	p->check_first = false;
	if (offset < p->position) {
		p->skip_below = p->position;
		p->floor = offset;
		if (p->committed < offset)
			p->committed = offset; /* the group has it: not committed again */
		return;
	}
	aw_eh_part_reset(p, true);
}

static struct aw_eh_mark *mark_at(struct aw_eh_part *p, size_t i)
{
	return &p->marks[(p->head + i) % p->cap];
}

static bool mark_done(const struct aw_eh_mark *m, uint64_t durable_seq)
{
	return m->pending == 0 && m->seq <= durable_seq;
}

/* Append m; when the ring is full (or memory is short) merge it into the last mark
 * instead: that mark then waits for the later of the two, which only delays a commit.
 * Returns the mark that holds it. */
static struct aw_eh_mark *push(struct aw_eh_part *p, const struct aw_eh_mark *m)
{
	if (p->len == p->cap && p->len < AW_EH_MAX_MARKS) {
		size_t ncap = p->cap ? p->cap * 2 : 64;
		struct aw_eh_mark *nm = malloc(ncap * sizeof *nm);
		if (nm) {
			for (size_t i = 0; i < p->len; i++)
				nm[i] = *mark_at(p, i);
			free(p->marks);
			p->marks = nm;
			p->head = 0;
			p->cap = ncap;
		}
	}
	if (p->len == p->cap) {
		struct aw_eh_mark *tail;
		if (p->len == 0)
			return NULL; /* no memory at all: the caller keeps the commit point */
		tail = mark_at(p, p->len - 1);
		tail->seq = m->seq > tail->seq ? m->seq : tail->seq;
		tail->next = m->next;
		tail->pending += m->pending;
		return tail;
	}
	*mark_at(p, p->len) = *m;
	p->len++;
	return mark_at(p, p->len - 1);
}

void aw_eh_part_mark(struct aw_eh_part *p, uint64_t seq, int64_t next, uint64_t durable_seq)
{
	struct aw_eh_mark m = {.seq = seq, .next = next};

	p->position = next;
	if (p->len == 0 && seq <= durable_seq) {
		p->durable = next; /* nothing of ours in flight */
		return;
	}
	push(p, &m);
}

uint64_t aw_eh_part_mark_pending(struct aw_eh_part *p, int64_t next, uint32_t pending)
{
	struct aw_eh_mark m = {.next = next, .pending = pending, .id = ++p->next_id};
	struct aw_eh_mark *at;

	if (p->start < 0)
		p->start = next - 1;
	p->position = next;
	if (p->len == 0 && pending == 0) {
		p->durable = next;
		return m.id;
	}
	at = push(p, &m);
	return at ? at->id : m.id;
}

bool aw_eh_part_confirm(struct aw_eh_part *p, uint64_t id)
{
	size_t lo = 0, hi = p->len;

	/* ids increase along the ring: binary search */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (mark_at(p, mid)->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == p->len || mark_at(p, lo)->id != id || mark_at(p, lo)->pending == 0)
		return false;
	mark_at(p, lo)->pending--;
	return true;
}

bool aw_eh_part_advance(struct aw_eh_part *p, uint64_t durable_seq)
{
	bool moved = false;

	while (p->len && mark_done(mark_at(p, 0), durable_seq)) {
		p->durable = mark_at(p, 0)->next;
		p->head = (p->head + 1) % p->cap;
		p->len--;
		moved = true;
	}
	return moved;
}

static bool in_list(const rd_kafka_topic_partition_list_t *l, const struct aw_eh_part *p)
{
	for (int i = 0; i < l->cnt; i++)
		if (l->elems[i].partition == p->partition &&
		    strcmp(l->elems[i].topic, p->topic) == 0)
			return true;
	return false;
}

rd_kafka_topic_partition_list_t *aw_eh_commit_list(struct aw_eh_parts *ps,
						   const rd_kafka_topic_partition_list_t *only)
{
	rd_kafka_topic_partition_list_t *l = NULL;

	for (size_t i = 0; i < ps->n; i++) {
		struct aw_eh_part *p = &ps->v[i];
		if (!p->assigned || p->check_first || p->durable < 0 ||
		    p->durable == p->committed || p->durable <= p->floor)
			continue;
		if (only && !in_list(only, p))
			continue;
		if (!l && !(l = rd_kafka_topic_partition_list_new(8)))
			return NULL; /* tried again on the next tick */
		rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->durable;
		p->committed = p->durable;
	}
	return l;
}

void aw_eh_commit_failed(struct aw_eh_parts *ps, const rd_kafka_topic_partition_list_t *offs)
{
	for (int i = 0; offs && i < offs->cnt; i++) {
		struct aw_eh_part *p =
		    aw_eh_part_find(ps, offs->elems[i].topic, offs->elems[i].partition);
		if (p && p->assigned && p->committed == offs->elems[i].offset)
			p->committed = -1;
	}
}
