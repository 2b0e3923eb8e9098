/* aw_error: the one way a failure is reported upward.
 *
 * Functions that can fail return 0 on success or a negative code and, when given a
 * non-NULL struct aw_error, fill it with a message that names the context (file:line,
 * URL without secrets, record). The caller logs or shows it. No allocation: the
 * message lives in the struct, truncated if longer. */
#ifndef AW_ERROR_H
#define AW_ERROR_H

#include <stddef.h>

#define AW_ERROR_MAX 1024

struct aw_error {
	char msg[AW_ERROR_MAX];
};

/* Overwrite err->msg (printf-style). Safe with err == NULL. Returns -1 so that
 * `return aw_error_set(err, ...)` reads naturally. */
int aw_error_set(struct aw_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefix the existing message: "prefix: old message". Safe with err == NULL. */
int aw_error_prefix(struct aw_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void aw_error_clear(struct aw_error *err)
{
	if (err)
		err->msg[0] = '\0';
}

#endif

#ifndef AW_ERROR_LIST_H
#define AW_ERROR_LIST_H
/* A list of error messages, for checks that report every problem they find
 * (`aiwatchd check`, config and rule loading). Bounded: after AW_ERROR_LIST_MAX
 * messages further ones are counted in `dropped` but not stored. */
#define AW_ERROR_LIST_MAX 1000

struct aw_error_list {
	char **msgs;
	size_t n;
	size_t cap;
	size_t dropped;
};

/* Append a formatted message (copied). Returns -1 so it can end an error path. */
int aw_error_list_add(struct aw_error_list *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Total errors seen, stored or not. */
static inline size_t aw_error_list_count(const struct aw_error_list *l)
{
	return l->n + l->dropped;
}
void aw_error_list_free(struct aw_error_list *l);
#endif
