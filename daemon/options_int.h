/* Internals of the option tables, shared by their three files and by nothing else:
 * options.c applies a YAML map to a table (defaults, apply, equal, free, help),
 * optparse.c turns option values to and from text, secret.c resolves secrets. */
#ifndef AW_OPTIONS_INT_H
#define AW_OPTIONS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "options.h"

/* --- optparse.c: formatting for messages and --help ----------------------------- */

/* "min..max" in the option's own units: "1KiB..1GiB", "1s..1h", "1..100". */
void aw_opt_fmt_range(const struct aw_option *o, char *buf, size_t sz);
/* An enum's choices joined with sep ("a, b" in messages, "a|b" in help). */
void aw_opt_fmt_choices(const struct aw_option *o, const char *sep, char *buf, size_t sz);
/* "duration", "list of strings", ...: the type as --help shows it. */
const char *aw_opt_type_name(const struct aw_option *o);
/* "a duration", "a boolean (true/false, ...)": what a message says was expected. */
const char *aw_opt_expected(const struct aw_option *o);
/* What the user wrote, quoted, cut and made printable ("a map", "a list" for
 * collections): safe for a message, never used for secrets. */
void aw_opt_show_node(const struct aw_node *n, char *buf, size_t sz);
/* An unquoted YAML null (``, `~`, `null`): "not set". */
bool aw_opt_is_null(const struct aw_node *n);

/* --- options.c ------------------------------------------------------------------ */

/* Add "file:line:col: message" for node n (just the message when n is NULL). */
void aw_opt_add_at(struct aw_error_list *errs, const struct aw_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- secret.c ------------------------------------------------------------------- */

/* Resolve the secret written at v into sec (freed first), adding any problem to errs
 * as "file:line:col: name: reason". file_mode is the config file's st_mode: an inline
 * secret needs a file that only its owner can read, unless it came from ${VAR}. */
void aw_secret_resolve(struct aw_secret *sec, const struct aw_node *v, const char *name,
		       unsigned file_mode, struct aw_error_list *errs);
/* Wipe and free the value, free the origin, leave sec empty; safe to repeat. */
void aw_secret_clear(struct aw_secret *sec);

#endif
