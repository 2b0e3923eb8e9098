/* The validating JSON tokenizer (see json_tok.h). One forward pass; each state is a place
 * in the code (a label) rather than a variable switched on per byte, and containers
 * are kept on an explicit stack.
 *
 * A string is first looked at 16 bytes at a time for its first quote, backslash or
 * control byte; most strings end there. One that holds an escape is then scanned a
 * block of AW_JTOK_BLOCK bytes at a time: JSON text held in a string column has an
 * escape every few bytes, and stopping at each backslash made string scanning the
 * dearest part of the engine. Per block we take the masks of quotes, backslashes and
 * control bytes, work out from the backslash runs which bytes are escaped (a run
 * escapes the byte after each of its 1st, 3rd, 5th... members, and a run ending a
 * block carries into the next), and end at the first quote that is not escaped.
 * Escaped quotes and backslashes, the common case, need no look at the bytes; the
 * rarer escaped letters are checked one by one, \u's hex digits too.
 *
 * SSE2 only, the x86-64 baseline: on our records AVX2's 32-byte registers would save
 * about 3% of the tokenizer's instructions, not worth a second code path chosen at run
 * time. Elsewhere (or with AW_JTOK_NO_SIMD, to test it) the same block logic runs on
 * masks built a byte at a time. */
#include "json_tok.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) && !defined(AW_JTOK_NO_SIMD)
#define AW_JTOK_SSE2 1
#include <emmintrin.h>
#else
#define AW_JTOK_SSE2 0
#endif

#define AW_JTOK_STACK 128 /* containers open at once; max_depth is capped to it */
#ifndef AW_JTOK_BLOCK
#define AW_JTOK_BLOCK 64 /* bytes per string block: 16, 32 or 64 */
#endif

#define AW_INLINE      static inline __attribute__((always_inline))
#define AW_LIKELY(x)   __builtin_expect(!!(x), 1)
#define AW_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Byte classes: one table load answers what would be a chain of compares. */
enum {
	CL_WS = 1,    /* JSON whitespace */
	CL_DELIM = 2, /* may follow a primitive: whitespace , } ] */
	CL_HEX = 4,
	CL_ESC = 8, /* may follow a backslash, \u aside */
};

/* clang-format off */
static const unsigned char cls[256] = {
	[' '] = CL_WS | CL_DELIM, ['\t'] = CL_WS | CL_DELIM, ['\n'] = CL_WS | CL_DELIM,
	['\r'] = CL_WS | CL_DELIM, [','] = CL_DELIM, ['}'] = CL_DELIM, [']'] = CL_DELIM,
	['0'] = CL_HEX, ['1'] = CL_HEX, ['2'] = CL_HEX, ['3'] = CL_HEX, ['4'] = CL_HEX,
	['5'] = CL_HEX, ['6'] = CL_HEX, ['7'] = CL_HEX, ['8'] = CL_HEX, ['9'] = CL_HEX,
	['a'] = CL_HEX, ['b'] = CL_HEX | CL_ESC, ['c'] = CL_HEX, ['d'] = CL_HEX, ['e'] = CL_HEX,
	['f'] = CL_HEX | CL_ESC, ['A'] = CL_HEX, ['B'] = CL_HEX, ['C'] = CL_HEX, ['D'] = CL_HEX,
	['E'] = CL_HEX, ['F'] = CL_HEX, ['"'] = CL_ESC, ['\\'] = CL_ESC, ['/'] = CL_ESC,
	['n'] = CL_ESC, ['r'] = CL_ESC, ['t'] = CL_ESC,
};
/* clang-format on */

#define IS(c, k) (cls[(unsigned char)(c)] & (k))

/* scan results other than an index */
#define AW_SCAN_BAD    ((size_t)-1)
#define AW_SCAN_DECODE ((size_t)-2)

/* --- block masks ------------------------------------------------------------------ */

/* Bit k of each mask is about byte k of the block. */
struct blk {
	uint64_t q; /* '"' */
	uint64_t b; /* '\\' */
	uint64_t c; /* below 0x20 */
};

#define BLK_ALL (AW_JTOK_BLOCK == 64 ? ~(uint64_t)0 : ((uint64_t)1 << AW_JTOK_BLOCK) - 1)

AW_INLINE void blk_masks(const char *p, struct blk *m)
{
#if AW_JTOK_SSE2
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1f);

	m->q = m->b = m->c = 0;
	for (unsigned k = 0; k < AW_JTOK_BLOCK; k += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
		m->q |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, quote)) << k;
		m->b |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, bslash)) << k;
		/* unsigned x <= 0x1f  <=>  min(x, 0x1f) == x */
		m->c |=
		    (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(x, ctl), x))
		    << k;
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

/* --- strings ---------------------------------------------------------------------- */

#if AW_JTOK_SSE2
/* The mask of quotes, backslashes and control bytes among the 16 bytes at p. */
AW_INLINE unsigned stop16(const char *p)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
					      _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
				 _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x));
	return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Index of the first quote, backslash or control byte at or after i, or n when there is
 * none, looking 16 bytes at a time. Most strings hold no escape: for them this finds
 * the end without the block masks. Without SIMD, or when the whole text is shorter
 * than 16 bytes, it may stop early at any index whose bytes before are all plain. */
AW_INLINE size_t plain_run(const char *s, size_t i, size_t n)
{
#if AW_JTOK_SSE2
	unsigned sp;

	while (i + 16 <= n) {
		sp = stop16(s + i);
		if (sp)
			return i + (unsigned)__builtin_ctz(sp);
		i += 16;
	}
	/* the tail: the text's last 16 bytes, those before i shifted out */
	if (i < n && n >= 16) {
		sp = stop16(s + n - 16) >> (16 - (n - i));
		return sp ? i + (unsigned)__builtin_ctz(sp) : n;
	}
#else
	(void)s;
	(void)n;
#endif
	return i;
}

/* A string whose body starts at i (after the opening quote). Returns the index of its
 * closing quote, or AW_SCAN_BAD with err filled. *esc is set when the body holds a
 * backslash; errors are reported at the first offending byte, as a byte-at-a-time scan
 * would. */
static __attribute__((noinline)) size_t scan_string(const char *s, size_t i, size_t n, bool *esc,
						    struct aw_jtok_err *err)
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
	for (i = plain_run(s, i, n); i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\' || ch < 0x20)
			break;
	}
	return i;
}

/* A string of a document held escaped in a string body (see aw_json_tokenize_escaped):
 * its raw bytes go on from i (after the \" that opens it, or after plain bytes of it).
 * Returns the index of the backslash of the \" that closes it, AW_SCAN_BAD (err
 * filled) or AW_SCAN_DECODE.
 *
 * Such a string rarely holds an escape of its own, so this stops at each backslash run.
 * A run of L raw backslashes stands for L/2 backslashes of the document, and when L is
 * odd its last one escapes the byte after it in the body: "\\\"" (L=3) is an escaped
 * quote inside the document's string, "\\\\\"" (L=5) an escaped backslash and then the
 * string's end. The document's own escaping thus depends on L mod 4. */
static size_t scan_nested_string(const char *s, size_t i, size_t n, bool *esc,
				 struct aw_jtok_err *err)
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

/* --- primitives ------------------------------------------------------------------- */

/* The end of the run of ASCII digits at j. Record numbers are often long (tick counts,
 * ids), hence 16 at a time. */
AW_INLINE size_t digits(const char *s, size_t j, size_t n)
{
#if AW_JTOK_SSE2
	while (j + 16 <= n) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + j));
		/* signed compares: bytes >= 0x80 are negative, below '0' */
		__m128i nd = _mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8('0')),
					  _mm_cmpgt_epi8(x, _mm_set1_epi8('9')));
		unsigned m = (unsigned)_mm_movemask_epi8(nd);
		if (m)
			return j + (unsigned)__builtin_ctz(m);
		j += 16;
	}
#endif
	while (j < n && (unsigned char)(s[j] - '0') < 10)
		j++;
	return j;
}

/* A number or literal starting at i (s[i] is '-', a digit, 't', 'f' or 'n'); returns
 * its end (exclusive) or AW_SCAN_BAD. The caller checks what follows it. */
AW_INLINE size_t scan_primitive(const char *s, size_t i, size_t n, struct aw_jtok_err *err)
{
	size_t j = i, d;
	char c = s[i];

	if (c == 't' || c == 'f' || c == 'n') {
		const char *w = c == 't' ? "true" : c == 'f' ? "false" : "null";
		size_t wl = c == 'f' ? 5 : 4;
		if (AW_LIKELY(n - i >= wl && memcmp(s + i, w, wl) == 0))
			return i + wl;
		for (size_t k = 0; k < wl; k++) {
			if (i + k >= n)
				goto early;
			if (s[i + k] != w[k]) {
				err->pos = i + k;
				return AW_SCAN_BAD;
			}
		}
	}
	if (c == '-')
		j++;
	if (j < n && s[j] == '0') {
		j++;
	} else {
		d = digits(s, j, n);
		if (d == j)
			goto bad;
		j = d;
	}
	if (j < n && s[j] == '.') {
		d = digits(s, ++j, n);
		if (d == j)
			goto bad;
		j = d;
	}
	if (j < n && (s[j] == 'e' || s[j] == 'E')) {
		j++;
		if (j < n && (s[j] == '+' || s[j] == '-'))
			j++;
		d = digits(s, j, n);
		if (d == j)
			goto bad;
		j = d;
	}
	return j;
bad:
	if (j >= n)
		goto early;
	err->pos = j;
	return AW_SCAN_BAD;
early:
	err->pos = n;
	err->early = true;
	return AW_SCAN_BAD;
}

/* --- whitespace, in both forms ------------------------------------------------------ */

AW_INLINE size_t skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n && IS(s[i], CL_WS))
		i++;
	return i;
}

/* In a body, the document's whitespace is a space or one of the escapes \n \r \t (a raw
 * tab or newline cannot be in a string body). */
AW_INLINE size_t skip_ws_escaped(const char *s, size_t i, size_t n)
{
	for (;;) {
		if (i < n && s[i] == ' ') {
			i++;
		} else if (i + 1 < n && s[i] == '\\' &&
			   (s[i + 1] == 'n' || s[i + 1] == 't' || s[i + 1] == 'r')) {
			i += 2;
		} else {
			return i;
		}
	}
}

/* Whether s[j] may follow a primitive: a delimiter or the end. */
AW_INLINE bool delim_ok(const char *s, size_t j, size_t n, bool nested)
{
	if (j >= n)
		return true;
	if (!nested)
		return IS(s[j], CL_DELIM);
	return s[j] == ' ' || s[j] == ',' || s[j] == '}' || s[j] == ']' ||
	       skip_ws_escaped(s, j, n) != j;
}

/* --- the document ----------------------------------------------------------------- */

/* Both entry points, nested being a constant in each: the escaped form differs only in
 * how whitespace, strings and a primitive's end look.
 *
 * Records are compact JSON: at each step the byte expected is tried first, and
 * whitespace is skipped only when it is not there. */
AW_INLINE int tokenize(const char *js, size_t len, jsmntok_t *tok, unsigned cap, bool *esc,
		       int max_depth, struct aw_jtok_err *err, const bool nested)
{
	int stack[AW_JTOK_STACK]; /* the enclosing container of each open one */
	int depth = 0;
	int cur = -1;	     /* token of the innermost open container */
	bool in_obj = false; /* whether that is an object */
	int parent = -1;     /* parent of the next value: -1, its array or its key */
	unsigned nt = 0;
	size_t i = 0, j, start;
	bool e;
	char c;

	memset(err, 0, sizeof *err);
	if (len >= (size_t)INT_MAX)
		return AW_JTOK_BAD;
	if (max_depth > AW_JTOK_STACK)
		max_depth = AW_JTOK_STACK;

#define SKIP(from) (nested ? skip_ws_escaped(js, (from), len) : skip_ws(js, (from), len))
/* Claim a token; when the array is full stop: the caller grows it and calls again.
 * A key's size is 1 from the start (its value must follow), an array's is counted at
 * each element, an object's at each key. */
#define PUT(type_, start_, end_, size_, parent_, esc_)                                             \
	do {                                                                                       \
		jsmntok_t *t_;                                                                     \
		if (AW_UNLIKELY(nt >= cap))                                                        \
			return AW_JTOK_NOMEM;                                                      \
		t_ = &tok[nt];                                                                     \
		t_->type = (type_);                                                                \
		t_->start = (int)(start_);                                                         \
		t_->end = (int)(end_);                                                             \
		t_->size = (size_);                                                                \
		t_->parent = (parent_);                                                            \
		if (esc)                                                                           \
			esc[nt] = (esc_);                                                          \
		nt++;                                                                              \
	} while (0)
/* The string opening at i (js[i] is its quote, or the backslash of its \"): start = its
 * first byte, j = its end (the closing quote, or the backslash of the closing \"), e =
 * whether it holds a backslash; i moves past it. */
#define STRING()                                                                                   \
	do {                                                                                       \
		e = false;                                                                         \
		if (!nested) {                                                                     \
			start = i + 1;                                                             \
			j = plain_run(js, start, len);                                             \
			if (AW_UNLIKELY(j >= len || js[j] != '"')) {                               \
				j = scan_string(js, j, len, &e, err);                              \
				if (j == AW_SCAN_BAD)                                              \
					return AW_JTOK_BAD;                                        \
			}                                                                          \
			i = j + 1;                                                                 \
		} else {                                                                           \
			start = i + 2;                                                             \
			j = plain_run(js, start, len);                                             \
			/* a lone backslash and a quote: the end, as mostly */                     \
			if (AW_UNLIKELY(j + 1 >= len || js[j] != '\\' || js[j + 1] != '"')) {      \
				j = scan_nested_string(js, j, len, &e, err);                       \
				if (j >= AW_SCAN_DECODE)                                           \
					return j == AW_SCAN_BAD ? AW_JTOK_BAD : AW_JTOK_DECODE;    \
			}                                                                          \
			i = j + 2;                                                                 \
		}                                                                                  \
	} while (0)
#define STRING_AT(i_)                                                                              \
	(nested ? js[i_] == '\\' && (i_) + 1 < len && js[(i_) + 1] == '"' : js[i_] == '"')

value: /* a value must start at i; parent is set */
	if (AW_UNLIKELY(i >= len))
		goto early;
	if (STRING_AT(i)) {
		STRING();
		PUT(JSMN_STRING, start, j, 0, parent, e);
		goto next;
	}
	c = js[i];
	switch (c) {
	case '{':
	case '[':
		if (depth >= max_depth) {
			err->pos = i;
			return AW_JTOK_DEEP;
		}
		PUT(c == '{' ? JSMN_OBJECT : JSMN_ARRAY, i, -1, 0, parent, false);
		stack[depth++] = cur;
		cur = (int)nt - 1;
		in_obj = c == '{';
		i = SKIP(i + 1);
		if (i < len && js[i] == (c == '{' ? '}' : ']'))
			goto close;
		if (in_obj)
			goto key;
		tok[cur].size = 1;
		parent = cur;
		goto value;
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
	case 't':
	case 'f':
	case 'n':
		j = scan_primitive(js, i, len, err);
		if (j == AW_SCAN_BAD) {
			i = err->pos;
			if (err->early)
				return AW_JTOK_BAD;
			goto bad;
		}
		/* "01", "truex" and "1.5.2" are not JSON: in a container the next step
		 * finds that out, at the same byte; at the top it would take "1[" for
		 * trailing data */
		if (depth == 0 && !delim_ok(js, j, len, nested)) {
			i = j;
			goto bad;
		}
		PUT(JSMN_PRIMITIVE, i, j, 0, parent, false);
		i = j;
		goto next;
	default:
		j = SKIP(i);
		if (j == i)
			goto bad;
		i = j;
		goto value;
	}

key: /* an object's key must start at i */
	if (AW_UNLIKELY(i >= len))
		goto early;
	if (!STRING_AT(i)) {
		j = SKIP(i);
		if (j == i)
			goto bad;
		i = j;
		goto key;
	}
	STRING();
	PUT(JSMN_STRING, start, j, 1, cur, e);
	tok[cur].size++;
	if (AW_UNLIKELY(i >= len || js[i] != ':')) {
		i = SKIP(i);
		if (i >= len)
			goto early;
		if (js[i] != ':')
			goto bad;
	}
	i++;
	parent = (int)nt - 1;
	goto value;

next: /* a value ended before i */
	if (depth == 0)
		goto done;
	if (AW_UNLIKELY(i >= len))
		goto early;
	c = js[i];
	if (c == ',') {
		i++;
		if (in_obj)
			goto key;
		tok[cur].size++;
		parent = cur;
		goto value;
	}
	if (c != '}' && c != ']') {
		j = SKIP(i);
		if (j == i)
			goto bad;
		i = j;
		goto next;
	}
close: /* js[i] closes the innermost container; it must be of the same kind */
	if (in_obj != (js[i] == '}'))
		goto bad;
	tok[cur].end = (int)i + 1;
	cur = stack[--depth];
	in_obj = cur >= 0 && tok[cur].type == JSMN_OBJECT;
	i++;
	goto next;

done:
	i = SKIP(i);
	if (i < len) {
		err->trailing = js[i] == '{' || js[i] == '[' || STRING_AT(i);
		goto bad;
	}
	return (int)nt;
early:
	err->pos = len;
	err->early = true;
	return AW_JTOK_BAD;
bad:
	/* in a body, \u may stand for anything: only decoding tells */
	if (nested && i + 1 < len && js[i] == '\\' && js[i + 1] == 'u')
		return AW_JTOK_DECODE;
	err->pos = i;
	return AW_JTOK_BAD;
#undef SKIP
#undef PUT
#undef STRING
#undef STRING_AT
}

int aw_json_tokenize(const char *js, size_t len, jsmntok_t *tok, unsigned cap, bool *esc,
		     int max_depth, struct aw_jtok_err *err)
{
	return tokenize(js, len, tok, cap, esc, max_depth, err, false);
}

int aw_json_tokenize_escaped(const char *body, size_t len, jsmntok_t *tok, unsigned cap, bool *esc,
			     int max_depth, struct aw_jtok_err *err)
{
	return tokenize(body, len, tok, cap, esc, max_depth, err, true);
}
