/* Warning once per item and reason (see warn_once.h). */
#include "warn_once.h"

#include <ctype.h>
#include <string.h>

#define FNV_BASIS 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

void aw_warn_once_init(struct aw_warn_once *w, size_t first, bool fold_case)
{
	memset(w, 0, sizeof *w);
	w->first = first;
	w->fold_case = fold_case;
}

void aw_warn_once_poll(struct aw_warn_once *w)
{
	w->logged_now = w->unlogged = 0;
}

enum aw_warn_once_verdict aw_warn_once_note(struct aw_warn_once *w, const char *item,
					    const char *reason)
{
	uint64_t h = FNV_BASIS;
	size_t n = w->n < AW_WARN_ONCE_MAX ? w->n : AW_WARN_ONCE_MAX;

	for (const char *p = item; *p; p++)
		h = (h ^ (unsigned char)(w->fold_case ? tolower((unsigned char)*p) : *p)) *
		    FNV_PRIME;
	for (const char *p = reason; *p; p++)
		h = (h ^ (unsigned char)*p) * FNV_PRIME;
	for (size_t i = 0; i < n; i++)
		if (w->logged[i] == h)
			return AW_WARN_SEEN;
	if (w->logged_now >= w->first) {
		w->unlogged++;
		return AW_WARN_OVER;
	}
	w->logged[w->n++ % AW_WARN_ONCE_MAX] = h;
	w->logged_now++;
	return AW_WARN_NEW;
}
