/* Small durable state files (checkpoints) in the state directory.
 *
 * aw_state_write() replaces a file atomically and durably: write a temporary file,
 * fsync it, rename over the target, fsync the directory; a crash leaves either the old
 * or the new content, never a mix. Content is framed with a length and CRC-32 so a
 * corrupt file is detected on read rather than trusted. Blocking I/O: called for small
 * files at checkpoint time, never per event. */
#ifndef AW_STATE_H
#define AW_STATE_H

#include <stddef.h>

#include "error.h"

/* Create dir (and parents) with mode 0700 when missing. 0 or -1. */
int aw_state_mkdir(const char *dir, struct aw_error *err);

/* Write dir/name atomically with `data`. 0 or -1. */
int aw_state_write(const char *dir, const char *name, const void *data, size_t len,
		   struct aw_error *err);

/* Read dir/name. Returns 0 with *data (malloc'd, NUL-terminated) and *len;
 * 1 when the file does not exist; -1 when it cannot be read or is corrupt
 * (err says which). */
int aw_state_read(const char *dir, const char *name, char **data, size_t *len,
		  struct aw_error *err);

#endif
