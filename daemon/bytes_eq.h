/* memcmp(a, b, n) == 0 for the short byte strings field names are, inline and without
 * a libc call: the event view compares key names per lookup and per record. */
#ifndef AW_BYTES_EQ_H
#define AW_BYTES_EQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Eight bytes at a time; the last word overlaps the one before it rather than
 * finishing byte by byte. */
static inline bool aw_bytes_eq(const char *a, const char *b, size_t n)
{
	uint64_t x, y;
	uint32_t p, q;

	if (n >= 8) {
		for (size_t k = 0; k + 8 < n; k += 8) {
			memcpy(&x, a + k, 8);
			memcpy(&y, b + k, 8);
			if (x != y)
				return false;
		}
		memcpy(&x, a + n - 8, 8);
		memcpy(&y, b + n - 8, 8);
		return x == y;
	}
	if (n >= 4) {
		memcpy(&p, a, 4);
		memcpy(&q, b, 4);
		if (p != q)
			return false;
		memcpy(&p, a + n - 4, 4);
		memcpy(&q, b + n - 4, 4);
		return p == q;
	}
	for (size_t k = 0; k < n; k++)
		if (a[k] != b[k])
			return false;
	return true;
}

#endif
