/* The known state of every Defender finding an in_defender instance has reported, so an
 * event goes out only when a finding is new or its state changed, never on every poll.
 *
 * A finding is keyed by a 128-bit digest of its lower-cased ARM id and resource id (ARM
 * ids compare case-insensitively, and Resource Graph and ARM spell them differently).
 * Each entry holds two states: `latest`, what the last emitted event said (what the
 * next poll is compared with), and `durable`, what the state file says. An emitted
 * change is queued with its pipeline sequence number and becomes durable only in
 * aw_def_known_durable(), when the pipeline reports everything up to that number
 * durable (invariant 1): a crash before then re-reports the change after the restart,
 * with the same _ItemId.
 *
 * Bounds: at most `max` findings (beyond it a finding is reported but not remembered:
 * AW_DEF_UNTRACKED); at most AW_DEF_MAX_STATES distinct state strings; at most
 * AW_DEF_MAX_PENDING changes waiting to be durable (the caller pauses reading above it).
 * Findings no complete poll has seen are pruned. Loop thread only. */
#ifndef AW_DEFENDER_KNOWN_H
#define AW_DEFENDER_KNOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../daemon/error.h"

#define AW_DEF_MAX_STATES  64
#define AW_DEF_MAX_PENDING 65536

struct aw_def_key {
	unsigned char b[16];
};

/* Digest of (id, resource), both lower-cased. */
void aw_def_key_make(const char *id, const char *resource, struct aw_def_key *k);

/* A deterministic _ItemId (GUID form, 36 characters + NUL) for the change numbered
 * `n` of finding k to `state`; `stamp` (the finding's own time, may be NULL) keeps a
 * finding that was pruned and came back from reusing an old id. */
void aw_def_item_id(const struct aw_def_key *k, const char *state, uint32_t n, const char *stamp,
		    char out[37]);

struct aw_def_known;

struct aw_def_known *aw_def_known_new(size_t max);
void aw_def_known_free(struct aw_def_known *t);

enum aw_def_verdict {
	AW_DEF_SAME,	  /* as last reported: nothing to emit */
	AW_DEF_NEW,	  /* never reported: emit, then aw_def_known_emitted */
	AW_DEF_CHANGED,	  /* state changed: emit, then aw_def_known_emitted */
	AW_DEF_UNTRACKED, /* new, and the table is full: emit, not remembered */
};

/* Compare what poll `gen` saw with the latest reported state and mark the finding seen.
 * *n: the number of the change an event would report (for aw_def_item_id). -1 when
 * the state string is one too many (AW_DEF_MAX_STATES). */
int aw_def_known_check(struct aw_def_known *t, const struct aw_def_key *k, const char *state,
		       uint32_t gen, uint32_t *n, enum aw_def_verdict *verdict);
/* The event for a NEW or CHANGED verdict was emitted with pipeline sequence seq. 0, or
 * -1 when out of memory (the change is then re-reported by the next poll). */
int aw_def_known_emitted(struct aw_def_known *t, const struct aw_def_key *k, const char *state,
			 uint32_t n, uint32_t gen, uint64_t seq);
/* Every event up to seq is durable: their states become durable. True when the table
 * to save changed. */
bool aw_def_known_durable(struct aw_def_known *t, uint64_t seq);
/* After a poll that read every list completely: forget findings it did not see (unless
 * a change of theirs is still pending). Returns how many were dropped. */
size_t aw_def_known_prune(struct aw_def_known *t, uint32_t gen);

size_t aw_def_known_count(const struct aw_def_known *t);
size_t aw_def_known_pending(const struct aw_def_known *t);
/* The durable states changed since the last save. */
bool aw_def_known_dirty(const struct aw_def_known *t);

/* State file dir/name (daemon/state.h framing, JSON payload). load: 0, 1 when there is
 * no file, -1 when it is corrupt (err says why; the table stays empty). save writes the
 * durable states only. */
int aw_def_known_load(struct aw_def_known *t, const char *dir, const char *name,
		      struct aw_error *err);
int aw_def_known_save(struct aw_def_known *t, const char *dir, const char *name,
		      struct aw_error *err);

#endif
