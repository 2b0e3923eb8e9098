/* Small string helpers shared by the config loader and the rule compiler. */
#include "strutil.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

size_t aw_edit_distance(const char *a, const char *b, bool fold)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			int ca = (unsigned char)a[i - 1], cb = (unsigned char)b[j - 1];
			if (fold) {
				ca = tolower(ca);
				cb = tolower(cb);
			}
			size_t best = diag + (ca != cb);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}
