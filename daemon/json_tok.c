/* The validating JSON tokenizer (see json_tok.h): a document's structure. One forward
 * pass; each state is a place in the code (a label) rather than a variable switched on
 * per byte, and containers are kept on an explicit stack. Strings are read by
 * json_str.h's scanners: plain ones inline, those with a backslash by json_str.c. */
#include "json_tok.h"

#include <limits.h>
#include <string.h>

#include "json_str.h"

#define AW_JTOK_STACK 128 /* containers open at once; max_depth is capped to it */

/* Byte classes: one table load answers what would be a chain of compares. */
enum {
	CL_WS = 1,    /* JSON whitespace */
	CL_DELIM = 2, /* may follow a primitive: whitespace , } ] */
};

/* clang-format off */
static const unsigned char cls[256] = {
	[' '] = CL_WS | CL_DELIM, ['\t'] = CL_WS | CL_DELIM, ['\n'] = CL_WS | CL_DELIM,
	['\r'] = CL_WS | CL_DELIM, [','] = CL_DELIM, ['}'] = CL_DELIM, [']'] = CL_DELIM,
};
/* clang-format on */

#define IS(c, k) (cls[(unsigned char)(c)] & (k))

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
			j = aw_jstr_plain_run(js, start, len);                                     \
			if (AW_UNLIKELY(j >= len || js[j] != '"')) {                               \
				j = aw_jstr_scan(js, j, len, &e, err);                             \
				if (j == AW_SCAN_BAD)                                              \
					return AW_JTOK_BAD;                                        \
			}                                                                          \
			i = j + 1;                                                                 \
		} else {                                                                           \
			start = i + 2;                                                             \
			j = aw_jstr_plain_run(js, start, len);                                     \
			/* a lone backslash and a quote: the end, as mostly */                     \
			if (AW_UNLIKELY(j + 1 >= len || js[j] != '\\' || js[j + 1] != '"')) {      \
				j = aw_jstr_scan_nested(js, j, len, &e, err);                      \
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
