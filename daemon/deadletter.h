/* The dead-letter folder: batches an output rejected for good (a permanent 4xx, a
 * single record too large for the destination, or retry_max_age reached), kept so an
 * operator can see why and send them again once the cause is fixed.
 *
 * Layout: <state_directory>/dead-letter/<output>/<unix-ms>-<pid>-<n>.jsonl, written
 * under a temporary name, fsynced and renamed, so a file that exists is complete.
 * Format (version 2): the first line is one JSON object
 *   {"aiwatch_dead_letter":{"version":2,"output":"sentinel","time":"2026-...Z",
 *    "reason":"HTTP 400: {...}","status":400,"body":"{...}","records":2,
 *    "attempts":1,"ids":[...],"keys":[...]}}
 * then one line per record, the record's JSON exactly as it was submitted (raw line
 * breaks, which JSON allows only as whitespace, become spaces). "status" and "body" are
 * present when the output's reason reads "HTTP <status>: <body>" (or "status <n>:
 * ..."); "ids"/"keys" when records had them (keys are Kafka partition keys). Version 1
 * files (no time, status, ids or keys) are still read. */
#ifndef AW_DEADLETTER_H
#define AW_DEADLETTER_H

#include <stddef.h>

#include "error.h"
#include "event.h"

#define AW_DEADLETTER_DIR "dead-letter"

/* Write one batch. path receives the file written (may be NULL). Blocking (fsync):
 * only for rejected batches. 0 or -1. */
int aw_deadletter_write(const char *state_dir, const char *output, const struct aw_record *recs,
			size_t n, unsigned attempts, const char *reason, char *path,
			size_t pathsz, struct aw_error *err);

/* One dead-letter file, read back. */
struct aw_deadletter {
	char *output;
	char *time;              /* RFC 3339 UTC; the file's mtime for version 1 */
	char *reason;
	int status;              /* 0 when none */
	char *body;              /* NULL when none */
	unsigned attempts;
	struct aw_record *recs;  /* n records; data/id/key owned by the struct */
	size_t n;
};

/* Read path. 0, or -1 when it is not a readable dead-letter file (err says why). */
int aw_deadletter_read(const char *path, struct aw_deadletter *dl, struct aw_error *err);
void aw_deadletter_free(struct aw_deadletter *dl);

/* `aiwatchd dead-letter list|replay ...`: argv[0] is "dead-letter". Returns an
 * aw_exit code (daemon.h). */
int aw_deadletter_main(int argc, char **argv);

#endif
