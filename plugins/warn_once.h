/* Warnings about an item a poll meets again and again (a malformed Defender finding, a
 * resource whose settings cannot be read): each (item, reason) is worth a warning once,
 * not on every poll, and a poll that meets thousands of new ones must not flood the
 * log. So a pair is logged at warning level the first time only, at most `first` new
 * pairs a poll; the rest are counted for one summary line at the poll's end.
 *
 * Shared by in_defender and in_posture so both bound their log the same way. The
 * caller logs (its own words) and counts; this only decides. Loop thread only. */
#ifndef AW_WARN_ONCE_H
#define AW_WARN_ONCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AW_WARN_ONCE_MAX 1024 /* pairs remembered as logged, a ring: the oldest go first */

enum aw_warn_once_verdict {
	AW_WARN_NEW,  /* never logged: log it at warning level */
	AW_WARN_SEEN, /* logged before */
	AW_WARN_OVER, /* new, past this poll's `first`: counted in unlogged */
};

struct aw_warn_once {
	uint64_t logged[AW_WARN_ONCE_MAX]; /* digests of the pairs logged */
	size_t n;			   /* pairs ever logged */
	size_t first;			   /* new pairs logged per poll */
	bool fold_case;			   /* items compare case-insensitively (ARM ids) */
	size_t logged_now;		   /* new pairs logged this poll */
	size_t unlogged;		   /* new pairs not logged this poll */
};

void aw_warn_once_init(struct aw_warn_once *w, size_t first, bool fold_case);
/* A poll begins: a new budget, and unlogged back to 0. */
void aw_warn_once_poll(struct aw_warn_once *w);
enum aw_warn_once_verdict aw_warn_once_note(struct aw_warn_once *w, const char *item,
					    const char *reason);

#endif
