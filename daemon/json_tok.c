/* The validating JSON tokenizer (see json_tok.h): a document's structure. One forward
 * pass; each state is a place in the code (a label) rather than a variable switched on
 * per byte, and containers are kept on an explicit stack. Strings are read by
 * json_str.h's scanners: plain ones inline, those with a backslash by json_str.c. */
#include "json_tok.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "json_str.h"

#define AW_JTOK_STACK 128 /* containers open at once; max_depth is capped to it */

/* Byte classes: one table load answers what would be a chain of compares. */
enum {
	CL_WS = 1,	/* JSON whitespace */
	CL_DELIM = 2,	/* may follow a primitive: whitespace , } ] */
	CL_NUMTAIL = 4, /* continues a number after its integer digits: . e E */
};

/* clang-format off */
static const unsigned char cls[256] = {
	[' '] = CL_WS | CL_DELIM, ['\t'] = CL_WS | CL_DELIM, ['\n'] = CL_WS | CL_DELIM,
	['\r'] = CL_WS | CL_DELIM, [','] = CL_DELIM, ['}'] = CL_DELIM, [']'] = CL_DELIM,
	['.'] = CL_NUMTAIL, ['e'] = CL_NUMTAIL, ['E'] = CL_NUMTAIL,
};
/* clang-format on */

#define IS(c, k) (cls[(unsigned char)(c)] & (k))

/* --- primitives ------------------------------------------------------------------- */

/* The end of the run of ASCII digits at j; last is n - 16, negative when n < 16. Record
 * numbers are often long (tick counts, ids), hence 16 at a time. */
AW_INLINE size_t digits(const char *s, size_t j, size_t n, ptrdiff_t last)
{
#if AW_JTOK_SSE2
	while ((ptrdiff_t)j <= last) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + j));
		/* x - '0' is 0..9 for a digit, else 10..255; adding 0x76 with unsigned
		 * saturation sets the top bit of exactly the others: no compare */
		__m128i nd =
		    _mm_adds_epu8(_mm_sub_epi8(x, _mm_set1_epi8('0')), _mm_set1_epi8(0x76));
		unsigned m = (unsigned)_mm_movemask_epi8(nd);
		if (m)
			return aw_jstr_at_bit(j, m);
		j += 16;
	}
#else
	(void)last;
#endif
	while (j < n && (unsigned char)(s[j] - '0') < 10)
		j++;
	return j;
}

/* A number or literal starting at i (s[i] is '-', a digit, 't', 'f' or 'n'); returns
 * its end (exclusive) or AW_SCAN_BAD. The caller checks what follows it. */
AW_INLINE size_t scan_primitive(const char *s, size_t i, size_t n, ptrdiff_t last,
				struct aw_jtok_err *err)
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
		d = digits(s, j, n, last);
		if (d == j)
			goto bad;
		j = d;
	}
	if (j < n && s[j] == '.') {
		d = digits(s, ++j, n, last);
		if (d == j)
			goto bad;
		j = d;
	}
	if (j < n && (s[j] == 'e' || s[j] == 'E')) {
		j++;
		if (j < n && (s[j] == '+' || s[j] == '-'))
			j++;
		d = digits(s, j, n, last);
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

/* Two bytes as one integer, for comparing a pair at once; memcpy keeps it to a load. */
AW_INLINE uint16_t pair_at(const char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

/* The end of the string whose body starts at start: *end gets the index of its closing
 * quote, or of the backslash of its closing \" when nested, and *e whether it holds a
 * backslash. Returns 0, or the AW_JTOK_ code to stop with (err filled). The first 16
 * bytes are tried inline, and their answer taken without the bound test the general
 * run needs. */
AW_INLINE int string_end(const char *js, size_t start, size_t len, ptrdiff_t last16, size_t *end,
			 bool *e, struct aw_jtok_err *err, const bool nested)
{
	unsigned m = aw_jstr_first16(js, start, last16);
	size_t j;

	*e = false;
	if (AW_LIKELY(m)) {
		j = aw_jstr_at_bit(start, m); /* below len */
		if (nested ? AW_LIKELY(j + 1 < len && pair_at(js + j) == pair_at("\\\""))
			   : AW_LIKELY(js[j] == '"')) {
			*end = j;
			return 0;
		}
	} else {
		/* nothing stops in the first 16 bytes, when they were looked at (with SIMD,
		 * and in the text) */
		j = aw_jstr_plain_run(
		    js, AW_JTOK_SSE2 && (ptrdiff_t)start <= last16 ? start + 16 : start, len,
		    last16);
		if (nested ? j + 1 < len && pair_at(js + j) == pair_at("\\\"")
			   : j < len && js[j] == '"') {
			*end = j;
			return 0;
		}
	}
	/* a backslash, a control byte or the end: the slow scanners */
	{
		bool e_slow = false; /* its address is taken, not e's: e stays in a register */
		j = nested ? aw_jstr_scan_nested(js, j, len, &e_slow, err)
			   : aw_jstr_scan(js, j, len, &e_slow, err);
		if (j >= AW_SCAN_DECODE)
			return j == AW_SCAN_BAD ? AW_JTOK_BAD : AW_JTOK_DECODE;
		*e = e_slow;
		*end = j;
		return 0;
	}
}

/* What an open container's enclosing one was, put back when it closes. */
struct aw_jtok_frame {
	int cur; /* its token */
	int cnt; /* its size so far */
};

/* Both entry points, nested being a constant in each: the escaped form differs only in
 * how whitespace, strings and a primitive's end look.
 *
 * Records are compact JSON: at each step the byte expected is tried first, and
 * whitespace is skipped only when it is not there. Most of a record is object members
 * `"key":"value",` or `"key":123,`, so a member's value, when a string or a number
 * without fraction or exponent, is read right after its key, and a `,` then a quote
 * lead straight to the next key: the general steps (value, next, key) each test what
 * the member's shape already tells. Every other byte goes the general way. */
AW_INLINE int tokenize(const char *js, size_t len, jsmntok_t *tok, unsigned cap, bool *esc,
		       int max_depth, struct aw_jtok_err *err, const bool nested)
{
	struct aw_jtok_frame stack[AW_JTOK_STACK];
	int depth = 0;
	int cur = -1;	 /* token of the innermost open container */
	int cnt = 0;	 /* its size so far: written to it when it closes */
	int parent = -1; /* parent of the next value: -1, its array or its key */
	size_t nt = 0;
	/* Without esc the flags go to a sink: masking the index costs less per token than
	 * testing esc. */
	bool sink;
	bool *escv = esc ? esc : &sink;
	const size_t emask = esc ? SIZE_MAX : 0;
	const ptrdiff_t last16 = (ptrdiff_t)len - 16; /* see aw_jstr_plain_run */
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
 * A key's size is 1 from the start (its value must follow); a container's is counted
 * in cnt and written when it closes. */
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
		escv[nt & emask] = (esc_);                                                         \
		nt++;                                                                              \
	} while (0)
/* In a container (depth > 0): whether it is an object. */
#define IN_OBJECT() (tok[cur].type == JSMN_OBJECT)
/* The string opening at i (js[i] is its quote, or the backslash of its \"): start = its
 * first byte, j = its end (the closing quote, or the backslash of the closing \"), e =
 * whether it holds a backslash; i moves past it. */
#define STRING()                                                                                   \
	do {                                                                                       \
		int rc_;                                                                           \
		start = i + (nested ? 2 : 1);                                                      \
		rc_ = string_end(js, start, len, last16, &j, &e, err, nested);                     \
		if (AW_UNLIKELY(rc_))                                                              \
			return rc_;                                                                \
		i = j + (nested ? 2 : 1);                                                          \
	} while (0)
/* Whether the text at i_ is the separator sep_ and a string's opening quote (or \"), in
 * two compares. */
#define SEP_STRING_AT(i_, sep_)                                                                    \
	(nested ? (i_) + 2 < len && js[i_] == (sep_) && pair_at(js + (i_) + 1) == pair_at("\\\"")  \
		: (i_) + 1 < len && pair_at(js + (i_)) == pair_at(sep_ == ':' ? ":\"" : ",\""))
#define STRING_AT(i_)                                                                              \
	(nested ? (i_) + 1 < len && pair_at(js + (i_)) == pair_at("\\\"") : js[i_] == '"')

value: /* a value must start at i; parent is set */
	if (AW_UNLIKELY(i >= len))
		goto early;
	if (STRING_AT(i)) {
		STRING();
		PUT(JSMN_STRING, start, j, 0, parent, e);
		goto next;
	}
	c = js[i];
	/* before the switch, whose jump costs a record's first value a dozen instructions */
	if (c == '{' || c == '[') {
		if (depth >= max_depth) {
			err->pos = i;
			return AW_JTOK_DEEP;
		}
		PUT(c == '{' ? JSMN_OBJECT : JSMN_ARRAY, i, -1, 0, parent, false);
		stack[depth].cur = cur;
		stack[depth].cnt = cnt;
		depth++;
		cur = (int)nt - 1;
		cnt = 0;
		i = SKIP(i + 1);
		if (i < len && js[i] == (c == '{' ? '}' : ']'))
			goto close;
		if (c == '{')
			goto key;
		cnt = 1;
		parent = cur;
		goto value;
	}
	switch (c) {
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
		j = scan_primitive(js, i, len, last16, err);
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
key_string: /* STRING_AT(i) */
	STRING();
	PUT(JSMN_STRING, start, j, 1, cur, e);
	cnt++;
	/* the member's value, when a string or (below) an integer without fraction or
	 * exponent, is read here: what value and scan_primitive would do, less the tests
	 * the member's shape answers; its parent is the key, nt - 1 */
	if (AW_LIKELY(SEP_STRING_AT(i, ':'))) {
		i++;
		STRING();
		PUT(JSMN_STRING, start, j, 0, (int)nt - 1, e);
		goto member_end;
	}
	if (AW_UNLIKELY(i >= len || js[i] != ':')) {
		i = SKIP(i);
		if (i >= len)
			goto early;
		if (js[i] != ':')
			goto bad;
	}
	i++;
	if (AW_UNLIKELY(i >= len))
		goto early;
	if ((unsigned char)(js[i] - '1') < 9) {
		/* not followed by . e E: the end scan_primitive would find */
		j = digits(js, i + 1, len, last16);
		if (j >= len || !IS(js[j], CL_NUMTAIL)) {
			PUT(JSMN_PRIMITIVE, i, j, 0, (int)nt - 1, false);
			i = j;
			goto member_end;
		}
	}
	parent = (int)nt - 1;
	goto value;

member_end: /* a member's value ended before i; in an object, so depth > 0 */
	if (AW_LIKELY(SEP_STRING_AT(i, ','))) {
		i++;
		goto key_string;
	}
	/* on to next, which tests the same and the rest */

next: /* a value ended before i */
	if (depth == 0)
		goto done;
	if (AW_UNLIKELY(i >= len))
		goto early;
	c = js[i];
	if (c == ',') {
		i++;
		if (IN_OBJECT())
			goto key;
		cnt++;
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
	if (IN_OBJECT() != (js[i] == '}'))
		goto bad;
	tok[cur].end = (int)i + 1;
	tok[cur].size = cnt;
	depth--;
	cur = stack[depth].cur;
	cnt = stack[depth].cnt;
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
#undef IN_OBJECT
#undef STRING
#undef STRING_AT
#undef SEP_STRING_AT
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
