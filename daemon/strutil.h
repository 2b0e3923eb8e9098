/* Small string helpers shared by the config loader and the rule compiler. */
#ifndef AW_STRUTIL_H
#define AW_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Levenshtein distance between a and b, for "did you mean" hints; ASCII case folded
 * when fold is true. Strings longer than 64 bytes give SIZE_MAX (no hint). */
size_t aw_edit_distance(const char *a, const char *b, bool fold);

#endif
