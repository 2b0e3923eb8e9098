/* The state file of a findings table: what an input that reports findings as they change
 * (in_defender, in_posture) has made durable, read back at start so a restart reports
 * only what changed since.
 *
 * One envelope for both tables, so they share one format, one corrupt-file rule and one
 * out-of-memory path: the daemon/state.h framing (length, CRC) around
 * {"version":V,"findings":[row,...]}, every row a JSON array of the same width whose
 * members only the table knows. The table stays the owner of its entries; this module
 * only walks and builds rows. Blocking I/O: at start, and at most once a second. */
#ifndef AW_FINDINGS_FILE_H
#define AW_FINDINGS_FILE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "../daemon/error.h"

/* What one table's file holds, for the checks and the messages. */
struct aw_findings_file {
	const char *what; /* "findings table": names the table in error messages */
	const char *row;  /* "entry": names one row in a corrupt-file message */
	int version;	  /* the payload's "version"; another is a corrupt file */
	size_t width;	  /* members of every row */
};

/* Read dir/name and hand every row, an array of f->width members, to row(ud, a): 0 when
 * kept, 1 when over one of the table's bounds (dropped: reported again when seen), -1
 * when it is corrupt, which ends the load: clear(ud) then empties the table. *dirty
 * (the table's "changed since written") ends false: what is in memory is the file, or
 * nothing worth writing over it. Returns 0, 1 when there is no file, -1 when it cannot
 * be read or is corrupt (err names dir/name). */
int aw_findings_file_load(const struct aw_findings_file *f, const char *dir, const char *name,
			  int (*row)(void *ud, json_object *a), void (*clear)(void *ud), void *ud,
			  bool *dirty, struct aw_error *err);

/* Write dir/name atomically with the rows rows(ud, list) appends (with
 * aw_findings_file_row; -1 when out of memory); *dirty false once written. 0, or -1
 * with err. */
int aw_findings_file_save(const struct aw_findings_file *f, const char *dir, const char *name,
			  int (*rows)(void *ud, json_object *list), void *ud, bool *dirty,
			  struct aw_error *err);

/* Append one row of f->width members (a NULL member is JSON null) to list. The members
 * are taken over, also when this fails. -1 when out of memory. */
int aw_findings_file_row(const struct aw_findings_file *f, json_object *list,
			 json_object *const members[]);

#endif
