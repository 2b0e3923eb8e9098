/* Strings that hold a backslash, for the JSON tokenizer (see json_str.h): the block
 * scanner for a document's strings, and the scanner for the strings of a document held
 * escaped in a string body.
 *
 * A string with an escape is scanned a block of AW_JTOK_BLOCK bytes at a time: JSON
 * text held in a string column has an escape every few bytes, and stopping at each
 * backslash made string scanning the dearest part of the engine. Per block we take the
 * masks of quotes, backslashes and control bytes, work out from the backslash runs which
 * bytes are escaped (a run escapes the byte after each of its 1st, 3rd, 5th... members,
 * and a run ending a block carries into the next), and end at the first quote that is
 * not escaped. Escaped quotes and backslashes, the common case, need no look at the
 * bytes; the rarer escaped letters are checked one by one, \u's hex digits too.
 *
 * On our records AVX2's 32-byte registers would save about 3% of the tokenizer's
 * instructions, not worth a second code path chosen at run time. */
#include "json_str.h"

#include <stdint.h>
#include <string.h>

#ifndef AW_JTOK_BLOCK
#define AW_JTOK_BLOCK 64 /* bytes per string block: 16, 32 or 64 */
#endif

/* Byte classes: one table load answers what would be a chain of compares. */
enum {
	CL_HEX = 1,
	CL_ESC = 2, /* may follow a backslash, \u aside */
};

/* clang-format off */
static const unsigned char cls[256] = {
	['0'] = CL_HEX, ['1'] = CL_HEX, ['2'] = CL_HEX, ['3'] = CL_HEX, ['4'] = CL_HEX,
	['5'] = CL_HEX, ['6'] = CL_HEX, ['7'] = CL_HEX, ['8'] = CL_HEX, ['9'] = CL_HEX,
	['a'] = CL_HEX, ['b'] = CL_HEX | CL_ESC, ['c'] = CL_HEX, ['d'] = CL_HEX, ['e'] = CL_HEX,
	['f'] = CL_HEX | CL_ESC, ['A'] = CL_HEX, ['B'] = CL_HEX, ['C'] = CL_HEX, ['D'] = CL_HEX,
	['E'] = CL_HEX, ['F'] = CL_HEX, ['"'] = CL_ESC, ['\\'] = CL_ESC, ['/'] = CL_ESC,
	['n'] = CL_ESC, ['r'] = CL_ESC, ['t'] = CL_ESC,
};
/* clang-format on */

#define IS(c, k) (cls[(unsigned char)(c)] & (k))

/* --- block masks ------------------------------------------------------------------ */

/* Bit k of each mask is about byte k of the block. */
struct blk {
	uint64_t q; /* '"' */
	uint64_t b; /* '\\' */
	uint64_t c; /* below 0x20 */
};

#define BLK_ALL (~(uint64_t)0 >> (64 - AW_JTOK_BLOCK))

AW_INLINE void blk_masks(const char *p, struct blk *m)
{
#if AW_JTOK_SSE2
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1f);
	__m128i x[AW_JTOK_BLOCK / 16], lo;

	m->q = m->b = m->c = 0;
	for (unsigned k = 0; k < AW_JTOK_BLOCK / 16; k++) {
		x[k] = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
		m->q |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x[k], quote))
			<< 16 * k;
		m->b |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x[k], bslash))
			<< 16 * k;
	}
	/* Control bytes are errors, hence rare: the block's least byte tells whether it
	 * holds any, and only then are they placed. unsigned x <= 0x1f <=> min(x, 0x1f) == x */
	lo = x[0];
	for (unsigned k = 1; k < AW_JTOK_BLOCK / 16; k++)
		lo = _mm_min_epu8(lo, x[k]);
	if (AW_UNLIKELY(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(lo, ctl), lo)))) {
		for (unsigned k = 0; k < AW_JTOK_BLOCK / 16; k++)
			m->c |= (uint64_t)(uint32_t)_mm_movemask_epi8(
				    _mm_cmpeq_epi8(_mm_min_epu8(x[k], ctl), x[k]))
				<< 16 * k;
	}
#else
	m->q = m->b = m->c = 0;
	for (unsigned k = 0; k < AW_JTOK_BLOCK; k++) {
		unsigned char ch = (unsigned char)p[k];
		m->q |= (uint64_t)(ch == '"') << k;
		m->b |= (uint64_t)(ch == '\\') << k;
		m->c |= (uint64_t)(ch < 0x20) << k;
	}
#endif
}

/* The masks of s[i..min(i+BLOCK, n)); returns how many bytes that is (0 when i >= n).
 * A short tail is read as the last whole block of the text, shifted, so that nothing
 * past n is touched and no copy is needed unless the whole text is shorter than a
 * block. */
AW_INLINE unsigned blk_load(const char *s, size_t i, size_t n, struct blk *m)
{
	unsigned v;

	if (AW_LIKELY(i + AW_JTOK_BLOCK <= n)) {
		blk_masks(s + i, m);
		return AW_JTOK_BLOCK;
	}
	if (i >= n)
		return 0;
	v = (unsigned)(n - i);
	if (n >= AW_JTOK_BLOCK) {
		unsigned sh = AW_JTOK_BLOCK - v;
		blk_masks(s + n - AW_JTOK_BLOCK, m);
		m->q >>= sh;
		m->b >>= sh;
		m->c >>= sh;
	} else {
		char buf[AW_JTOK_BLOCK] = {0};
		uint64_t keep = ((uint64_t)1 << v) - 1;
		memcpy(buf, s + i, v);
		blk_masks(buf, m);
		m->q &= keep;
		m->b &= keep;
		m->c &= keep;
	}
	return v;
}

/* The escaped bytes of a block whose backslashes are b. *carry is 1 when byte 0 is
 * escaped by a run that ended the previous block; it is updated for the next one.
 *
 * An escaped backslash escapes nothing, so it leaves b first. Then each run of
 * backslashes escapes the bytes after its members at even distance from the run's
 * start: the even bits for a run starting on an even bit, the odd bits otherwise.
 * Adding each even-starting run's first bit to b clears that run (the carry stops on
 * the zero after it), so b & (b + even starts) leaves the odd-starting runs. */
AW_INLINE uint64_t escaped_bits(uint64_t b, uint64_t *carry)
{
	const uint64_t even = 0x5555555555555555ULL;
	uint64_t in = *carry;
	uint64_t bb = b & ~in;
	uint64_t starts = bb & ~(bb << 1);
	uint64_t odd_runs = bb & (bb + (starts & even));
	uint64_t escapers = bb & (even ^ odd_runs);

	*carry = escapers >> (AW_JTOK_BLOCK - 1) & 1;
	return ((escapers << 1) | in) & BLK_ALL;
}

static bool hex4_at(const char *s, size_t p, size_t n, struct aw_jtok_err *err)
{
	for (size_t k = p; k < p + 4; k++) {
		if (k >= n) {
			err->pos = n;
			err->early = true;
			return false;
		}
		if (!IS(s[k], CL_HEX)) {
			err->pos = k;
			return false;
		}
	}
	return true;
}

/* --- strings with a backslash ----------------------------------------------------- */

size_t aw_jstr_scan(const char *s, size_t i, size_t n, bool *esc, struct aw_jtok_err *err)
{
	uint64_t carry = 0;

	*esc = false;
	for (;;) {
		struct blk m;
		unsigned v = blk_load(s, i, n, &m);
		uint64_t stop, e, q, odd, bad = 0, u = 0;
		unsigned lim;

		if (v == 0)
			goto early;
		if (AW_LIKELY(!carry)) {
			/* no escape in play before the first quote or control byte */
			stop = m.q | m.c;
			if (!(m.b & (stop - 1) & ~stop)) {
				if (stop) {
					unsigned k = (unsigned)__builtin_ctzll(stop);
					if (AW_UNLIKELY(m.c >> k & 1)) {
						err->pos = i + k;
						return AW_SCAN_BAD;
					}
					return i + k;
				}
				if (v < AW_JTOK_BLOCK)
					goto early;
				i += AW_JTOK_BLOCK;
				continue;
			}
		}
		*esc = true;
		e = escaped_bits(m.b, &carry);
		if (v < AW_JTOK_BLOCK)
			e &= ((uint64_t)1 << v) - 1; /* an escape cut by the end */
		q = m.q & ~e;
		/* escaped quotes and backslashes are fine as they are; look at the others */
		odd = e & ~(m.q | m.b);
		while (odd) {
			unsigned k = (unsigned)__builtin_ctzll(odd);
			char ch = s[i + k];
			if (ch == 'u')
				u |= (uint64_t)1 << k;
			else if (!IS(ch, CL_ESC))
				bad |= (uint64_t)1 << k;
			odd &= odd - 1;
		}
		stop = q | m.c | bad;
		/* \u escapes before the end: their digits (any of which may be past the
		 * block, or be what stopped it) */
		if (u) {
			if (stop)
				u &= (stop & -stop) - 1;
			while (u) {
				if (!hex4_at(s, i + (unsigned)__builtin_ctzll(u) + 1, n, err))
					return AW_SCAN_BAD;
				u &= u - 1;
			}
		}
		if (stop) {
			lim = (unsigned)__builtin_ctzll(stop);
			if (q >> lim & 1)
				return i + lim;
			err->pos = i + lim;
			return AW_SCAN_BAD;
		}
		if (v < AW_JTOK_BLOCK)
			goto early;
		i += AW_JTOK_BLOCK;
	}
early:
	err->pos = n;
	err->early = true;
	return AW_SCAN_BAD;
}

/* Index of the first quote, backslash or control byte at or after i; n when none. */
AW_INLINE size_t string_stop(const char *s, size_t i, size_t n)
{
	for (i = aw_jstr_plain_run(s, i, n, (ptrdiff_t)n - 16); i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\' || ch < 0x20)
			break;
	}
	return i;
}

/* A string of a document held escaped in a string body rarely holds an escape of its
 * own, so this stops at each backslash run. A run of L raw backslashes stands for L/2
 * backslashes of the document, and when L is odd its last one escapes the byte after
 * it in the body: "\\\"" (L=3) is an escaped quote inside the document's string,
 * "\\\\\"" (L=5) an escaped backslash and then the string's end. The document's own
 * escaping thus depends on L mod 4. */
size_t aw_jstr_scan_nested(const char *s, size_t i, size_t n, bool *esc, struct aw_jtok_err *err)
{
	bool e = false;

	for (;;) {
		size_t j = string_stop(s, i, n), k;
		size_t run;
		char x;

		if (j >= n)
			goto early;
		if (s[j] != '\\') {
			/* a raw quote or control byte: the body is no string body */
			err->pos = j;
			return AW_SCAN_BAD;
		}
		for (k = j + 1; k < n && s[k] == '\\'; k++)
			;
		if (k >= n)
			goto early;
		run = k - j;
		x = s[k];
		if (run & 1) {
			/* the body escapes x: \" or \/ (\u could be anything) */
			if (x == '"') {
				if (!(run & 2)) {
					*esc = e || run > 1;
					return k - 1;
				}
			} else if (x == 'u') {
				err->pos = k - 1;
				return AW_SCAN_DECODE;
			} else if (x != '/') {
				/* \n \t ... decode to control bytes, forbidden in a string */
				err->pos = k;
				return AW_SCAN_BAD;
			}
			i = k + 1;
		} else if (run & 2) {
			/* an odd count of the document's backslashes: the last escapes x */
			if (x == 'u') {
				for (size_t h = k + 1; h < k + 5; h++) {
					if (h >= n)
						goto early;
					if (s[h] == '\\' && h + 1 < n && s[h + 1] == 'u') {
						err->pos = h;
						return AW_SCAN_DECODE;
					}
					if (!IS(s[h], CL_HEX)) {
						err->pos = h;
						return AW_SCAN_BAD;
					}
				}
				i = k + 5;
			} else if (x != '"' && IS(x, CL_ESC)) {
				i = k + 1;
			} else {
				err->pos = k;
				return AW_SCAN_BAD;
			}
		} else {
			i = k; /* the document's backslashes pair up; x is plain */
		}
		e = true;
	}
early:
	err->pos = n;
	err->early = true;
	return AW_SCAN_BAD;
}
