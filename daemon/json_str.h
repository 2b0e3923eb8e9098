/* Internals of the JSON tokenizer (json_tok.h): reading strings, shared by json_tok.c
 * (a document's structure) and json_str.c (string bodies that hold escapes, and the
 * strings of a document held escaped). Everything else uses json_tok.h.
 *
 * A string without a backslash, the common case, is found here 16 bytes at a time,
 * inline, so the tokenizer keeps it in its loop; only strings with a backslash call
 * into json_str.c, whose block scans outweigh a call. */
#ifndef AW_JSON_STR_H
#define AW_JSON_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_tok.h"

/* SSE2 only, the x86-64 baseline (json_str.c says why no AVX2). Elsewhere, or with
 * AW_JTOK_NO_SIMD to test it, the same logic runs a byte at a time. */
#if defined(__SSE2__) && !defined(AW_JTOK_NO_SIMD)
#define AW_JTOK_SSE2 1
#include <emmintrin.h>
#else
#define AW_JTOK_SSE2 0
#endif

#define AW_INLINE      static inline __attribute__((always_inline))
#define AW_LIKELY(x)   __builtin_expect(!!(x), 1)
#define AW_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* scan results other than an index */
#define AW_SCAN_BAD    ((size_t)-1)
#define AW_SCAN_DECODE ((size_t)-2)

/* i plus the index of the lowest bit set in m (not 0). Offsets are below INT_MAX (see
 * json_tok.h): the sum is taken on 32 bits, which x86-64 widens for free, where a
 * size_t sum would first widen the bit index, an instruction per string. */
AW_INLINE size_t aw_jstr_at_bit(size_t i, unsigned m)
{
	return (uint32_t)i + (uint32_t)__builtin_ctz(m);
}

#if AW_JTOK_SSE2
/* The mask of quotes, backslashes and control bytes among the 16 bytes at p.
 *
 * Flipping bit 1 keeps control bytes below 0x20 and turns '"' (0x22) into 0x20 and
 * nothing else into 0x20 or less, so one unsigned compare finds both; '\\' becomes
 * 0x5e. Five vector operations where three compares and a min would take six, on
 * every 16 bytes of every string. */
AW_INLINE unsigned aw_jstr_stop16(const char *p)
{
	__m128i x =
	    _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)p), _mm_set1_epi8(0x02));
	__m128i qc = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x);
	__m128i b = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x5e));
	return (unsigned)_mm_movemask_epi8(_mm_or_si128(qc, b));
}
#endif

/* Index of the first quote, backslash or control byte at or after i, or n when there is
 * none, looking 16 bytes at a time; last is n - 16, negative when n < 16 (the caller
 * works it out once: this runs for every string). Most strings hold no escape: for
 * them this finds the end without the block masks. Without SIMD, or when the whole
 * text is shorter than 16 bytes, it may stop early at any index whose bytes before are
 * all plain. */
AW_INLINE size_t aw_jstr_plain_run(const char *s, size_t i, size_t n, ptrdiff_t last)
{
#if AW_JTOK_SSE2
	unsigned sp;

	while ((ptrdiff_t)i <= last) {
		sp = aw_jstr_stop16(s + i);
		if (sp)
			return aw_jstr_at_bit(i, sp);
		i += 16;
	}
	/* the tail: the text's last 16 bytes, those before i shifted out */
	if (i < n && last >= 0) {
		sp = aw_jstr_stop16(s + last) >> (16 - (n - i));
		return sp ? aw_jstr_at_bit(i, sp) : n;
	}
#else
	(void)s;
	(void)n;
	(void)last;
#endif
	return i;
}

/* The stops among s[i..i+16) when those are in the text (i <= last, as above), else 0:
 * most strings end in their first 16 bytes, and the tokenizer tries those first. */
AW_INLINE unsigned aw_jstr_first16(const char *s, size_t i, ptrdiff_t last)
{
#if AW_JTOK_SSE2
	if (AW_LIKELY((ptrdiff_t)i <= last))
		return aw_jstr_stop16(s + i);
#else
	(void)s;
	(void)i;
	(void)last;
#endif
	return 0;
}

/* The rest of a string from i, a byte of its body (any byte after its opening quote
 * where aw_jstr_plain_run stopped). Returns the index of its closing quote, or
 * AW_SCAN_BAD with err filled. *esc is set when the body holds a backslash; errors are
 * reported at the first offending byte, as a byte-at-a-time scan would. */
size_t aw_jstr_scan(const char *s, size_t i, size_t n, bool *esc, struct aw_jtok_err *err);

/* The same for a string of a document held escaped in a string body (see
 * aw_json_tokenize_escaped), i being after the \" that opens it or after plain bytes
 * of it. Returns the index of the backslash of the \" that closes it, AW_SCAN_BAD (err
 * filled) or AW_SCAN_DECODE. */
size_t aw_jstr_scan_nested(const char *s, size_t i, size_t n, bool *esc, struct aw_jtok_err *err);

#endif
