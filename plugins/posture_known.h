/* The posture findings an in_posture instance has reported, so that an event goes out
 * when a finding appears, changes or is resolved, never on every pass.
 *
 * A finding is a (check id, resource id) pair; resource ids compare case-insensitively
 * (Resource Graph and ARM spell them differently). An entry holds what the last
 * emitted event said (`latest`: the failing value, or passing) and what the state file
 * says (`durable`), each with the number of changes reported so far, which makes every
 * event's _ItemId distinct while a crash re-reports a change under the same one. An
 * emitted change waits in a queue with its pipeline sequence number and becomes durable
 * only in aw_posture_known_durable() (invariant 1).
 *
 * A finding that was resolved stays as a passing entry (keeping its count), and is
 * forgotten once a complete pass no longer sees its (check, resource).
 *
 * Bounds: at most `max` entries (a new failure past it is reported but not remembered);
 * at most AW_PK_MAX_PENDING changes waiting to be durable (emitted() fails past it: the
 * change is reported again by the next pass). Loop thread only. */
#ifndef AW_POSTURE_KNOWN_H
#define AW_POSTURE_KNOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../daemon/error.h"

#define AW_PK_ACTUAL_MAX  160 /* as struct aw_posture_result.actual */
#define AW_PK_MAX_PENDING (1u << 20)

struct aw_posture_known;
struct aw_pk_entry;

struct aw_posture_known *aw_posture_known_new(size_t max);
void aw_posture_known_free(struct aw_posture_known *t);

enum aw_pk_change { AW_PK_NONE, AW_PK_APPEARED, AW_PK_CHANGED, AW_PK_RESOLVED };

struct aw_pk_verdict {
	enum aw_pk_change change;
	uint32_t n;			 /* the number of the change an event reports */
	bool untracked;			 /* APPEARED with the table full */
	char previous[AW_PK_ACTUAL_MAX]; /* CHANGED: the value last reported */
};

/* Judge what pass `gen` found: failing with `actual`, or passing (actual NULL), and
 * mark the finding seen. */
void aw_posture_known_check(struct aw_posture_known *t, const char *check, const char *resource,
			    const char *actual, uint32_t gen, struct aw_pk_verdict *v);
/* Mark a finding seen without judging it (its check could not be evaluated). */
void aw_posture_known_touch(struct aw_posture_known *t, const char *check, const char *resource,
			    uint32_t gen);
/* The event for a verdict was emitted with pipeline sequence `seq`: it is what the
 * finding now is (actual NULL: passing). 0, or -1 when it cannot be remembered (table
 * full for a new one, out of memory, AW_PK_MAX_PENDING). */
int aw_posture_known_emitted(struct aw_posture_known *t, const char *check, const char *resource,
			     const char *actual, uint32_t n, uint32_t gen, uint64_t seq);
/* Every event up to seq is durable. True when the state to save changed. */
bool aw_posture_known_durable(struct aw_posture_known *t, uint64_t seq);

/* Failing findings that pass `gen` did not see, in a malloc'd array (*out, the count
 * returned; the caller frees the array). Entries stay valid until the next prune. */
size_t aw_posture_known_unseen(struct aw_posture_known *t, uint32_t gen, struct aw_pk_entry ***out);
const char *aw_pk_entry_check(const struct aw_pk_entry *e);
const char *aw_pk_entry_resource(const struct aw_pk_entry *e);
/* The failing value last reported, or NULL when it is passing. */
const char *aw_pk_entry_actual(const struct aw_pk_entry *e);
uint32_t aw_pk_entry_changes(const struct aw_pk_entry *e);
/* Forget an unseen entry whose check no longer exists (at once, or once its pending
 * changes are durable, by the next prune). */
void aw_posture_known_forget(struct aw_posture_known *t, struct aw_pk_entry *e);

/* After a complete pass: forget passing findings it did not see (none with a change
 * still pending). Returns how many. */
size_t aw_posture_known_prune(struct aw_posture_known *t, uint32_t gen);

size_t aw_posture_known_count(const struct aw_posture_known *t);
size_t aw_posture_known_failing(const struct aw_posture_known *t);
size_t aw_posture_known_pending(const struct aw_posture_known *t);
bool aw_posture_known_dirty(const struct aw_posture_known *t);

/* The state file dir/name (daemon/state.h framing, JSON payload). load: 0, 1 when there
 * is none, -1 when it is corrupt (err says why; the table stays empty). save writes the
 * durable state. */
int aw_posture_known_load(struct aw_posture_known *t, const char *dir, const char *name,
			  struct aw_error *err);
int aw_posture_known_save(struct aw_posture_known *t, const char *dir, const char *name,
			  struct aw_error *err);

#endif
