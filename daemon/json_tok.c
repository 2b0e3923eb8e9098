/* The validating JSON tokenizer (see json_tok.h). One forward pass with an explicit
 * container stack; every byte is looked at once, string bodies 16 at a time. */
#include "json_tok.h"

#include <limits.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "json_scan.h"

#define AW_JTOK_STACK 128 /* containers open at once; max_depth is capped to it */

/* Index of the first byte at or after i that ends a plain run of string bytes: a quote,
 * a backslash or a control byte (JSON forbids raw ones); n when there is none. */
static size_t string_stop(const char *s, size_t i, size_t n)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"');
	const __m128i bslash = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1f);

	while (i + 16 <= n) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		/* unsigned x <= 0x1f  <=>  min(x, 0x1f) == x */
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote),
						      _mm_cmpeq_epi8(x, bslash)),
					 _mm_cmpeq_epi8(_mm_min_epu8(x, ctl), x));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);
		if (mask)
			return i + (size_t)__builtin_ctz(mask);
		i += 16;
	}
#endif
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\' || c < 0x20)
			return i;
	}
	return n;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The string whose opening quote is at q. Returns the index of its closing quote, or
 * (size_t)-1 with err filled. *esc is set when it holds an escape. */
static size_t scan_string(const char *s, size_t q, size_t n, bool *esc, struct aw_jtok_err *err)
{
	size_t i = q + 1;

	*esc = false;
	for (;;) {
		i = string_stop(s, i, n);
		if (i >= n) {
			err->pos = n;
			err->early = true;
			return (size_t)-1;
		}
		if (s[i] == '"')
			return i;
		if (s[i] != '\\') {
			err->pos = i; /* a raw control byte */
			return (size_t)-1;
		}
		*esc = true;
		if (i + 1 >= n) {
			err->pos = n;
			err->early = true;
			return (size_t)-1;
		}
		switch (s[i + 1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			i += 2;
			break;
		case 'u':
			for (size_t k = 2; k < 6; k++) {
				if (i + k >= n) {
					err->pos = n;
					err->early = true;
					return (size_t)-1;
				}
				if (!is_hex(s[i + k])) {
					err->pos = i + k;
					return (size_t)-1;
				}
			}
			i += 6;
			break;
		default:
			err->pos = i + 1;
			return (size_t)-1;
		}
	}
}

/* A number or literal starting at i; returns its end (exclusive) or (size_t)-1. */
static size_t scan_primitive(const char *s, size_t i, size_t n, struct aw_jtok_err *err)
{
	static const char *const words[] = {"true", "false", "null"};
	size_t j = i;

	if (s[i] == 't' || s[i] == 'f' || s[i] == 'n') {
		const char *w = words[s[i] == 't' ? 0 : s[i] == 'f' ? 1 : 2];
		size_t wl = strlen(w);
		for (size_t k = 0; k < wl; k++) {
			if (i + k >= n) {
				err->pos = n;
				err->early = true;
				return (size_t)-1;
			}
			if (s[i + k] != w[k]) {
				err->pos = i + k;
				return (size_t)-1;
			}
		}
		j = i + wl;
	} else {
		if (s[j] == '-')
			j++;
		if (j < n && s[j] == '0') {
			j++;
		} else if (!aw_json_digits(s, &j, n)) {
			err->pos = j;
			err->early = j >= n;
			return (size_t)-1;
		}
		if (j < n && s[j] == '.') {
			j++;
			if (!aw_json_digits(s, &j, n)) {
				err->pos = j;
				err->early = j >= n;
				return (size_t)-1;
			}
		}
		if (!aw_json_exponent(s, &j, n)) {
			err->pos = j;
			err->early = j >= n;
			return (size_t)-1;
		}
	}
	/* a primitive must end at a delimiter ("01", "truex" and "1.5.2" are not JSON) */
	if (j < n && !aw_json_is_ws(s[j]) && s[j] != ',' && s[j] != '}' && s[j] != ']') {
		err->pos = j;
		return (size_t)-1;
	}
	return j;
}

/* What the next non-whitespace byte may be. */
enum want {
	W_VALUE,       /* a value (first of an array, after ':' or ',', or the document) */
	W_VALUE_OR_END,/* right after '[' */
	W_KEY,         /* after ',' in an object */
	W_KEY_OR_END,  /* right after '{' */
	W_COLON,
	W_NEXT,        /* ',' or the container's close */
	W_DONE,        /* the document's value is complete */
};

int aw_json_tokenize(const char *js, size_t len, jsmntok_t *tok, unsigned cap, bool *esc,
		     int max_depth, struct aw_jtok_err *err)
{
	int stack[AW_JTOK_STACK]; /* token index of each open container */
	int depth = 0, parent = -1;
	unsigned nt = 0;
	enum want want = W_VALUE;
	size_t i = 0;

	memset(err, 0, sizeof *err);
	if (len >= (size_t)INT_MAX) {
		err->pos = 0;
		return AW_JTOK_BAD;
	}
	if (max_depth > AW_JTOK_STACK)
		max_depth = AW_JTOK_STACK;

/* Claim a token; when the array is full stop: the caller grows it and calls again. */
#define NEW_TOKEN(type_, start_, end_)                                                     \
	do {                                                                               \
		if (nt >= cap)                                                             \
			return AW_JTOK_NOMEM;                                              \
		tok[nt] = (jsmntok_t){.type = (type_), .start = (int)(start_),             \
				      .end = (int)(end_), .size = 0, .parent = parent};    \
		if (esc)                                                                   \
			esc[nt] = false;                                                   \
		if (parent >= 0)                                                           \
			tok[parent].size++;                                                \
		nt++;                                                                      \
	} while (0)

	while (i < len) {
		char c = js[i];
		if (aw_json_is_ws(c)) {
			i++;
			continue;
		}
		switch (want) {
		case W_DONE:
			err->pos = i;
			err->trailing = c == '"' || c == '{' || c == '[';
			return AW_JTOK_BAD;
		case W_COLON:
			if (c != ':')
				goto bad;
			want = W_VALUE;
			i++;
			continue;
		case W_NEXT:
			if (c == ',') {
				want = tok[stack[depth - 1]].type == JSMN_OBJECT ? W_KEY : W_VALUE;
				i++;
				continue;
			}
			if (c == '}' || c == ']')
				goto close;
			goto bad;
		case W_KEY:
		case W_KEY_OR_END:
			if (c == '}' && want == W_KEY_OR_END)
				goto close;
			if (c != '"')
				goto bad;
			{
				bool e;
				size_t q = scan_string(js, i, len, &e, err);
				if (q == (size_t)-1)
					return AW_JTOK_BAD;
				NEW_TOKEN(JSMN_STRING, i + 1, q);
				if (esc)
					esc[nt - 1] = e;
				/* the key's value hangs below the key, as in jsmn */
				parent = (int)nt - 1;
				i = q + 1;
				want = W_COLON;
			}
			continue;
		case W_VALUE:
		case W_VALUE_OR_END:
			if (c == ']' && want == W_VALUE_OR_END)
				goto close;
			break;
		}

		/* a value */
		if (c == '{' || c == '[') {
			if (depth >= max_depth) {
				err->pos = i;
				return AW_JTOK_DEEP;
			}
			NEW_TOKEN(c == '{' ? JSMN_OBJECT : JSMN_ARRAY, i, -1);
			stack[depth++] = (int)nt - 1;
			parent = (int)nt - 1;
			want = c == '{' ? W_KEY_OR_END : W_VALUE_OR_END;
			i++;
			continue;
		}
		if (c == '"') {
			bool e;
			size_t q = scan_string(js, i, len, &e, err);
			if (q == (size_t)-1)
				return AW_JTOK_BAD;
			NEW_TOKEN(JSMN_STRING, i + 1, q);
			if (esc)
				esc[nt - 1] = e;
			i = q + 1;
		} else if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
			size_t e = scan_primitive(js, i, len, err);
			if (e == (size_t)-1)
				return AW_JTOK_BAD;
			NEW_TOKEN(JSMN_PRIMITIVE, i, e);
			i = e;
		} else {
			goto bad;
		}
		goto after_value;

	close:
		/* c closes the innermost container; it must be of the same kind */
		if (depth == 0 ||
		    tok[stack[depth - 1]].type != (c == '}' ? JSMN_OBJECT : JSMN_ARRAY))
			goto bad;
		tok[stack[depth - 1]].end = (int)i + 1;
		depth--;
		i++;
	after_value:
		/* back to the container that holds the value just finished */
		if (depth == 0) {
			want = W_DONE;
			parent = -1;
		} else {
			parent = stack[depth - 1];
			want = W_NEXT;
		}
		continue;
	bad:
		err->pos = i;
		return AW_JTOK_BAD;
	}
#undef NEW_TOKEN
	if (want != W_DONE) {
		err->pos = len;
		err->early = true;
		return AW_JTOK_BAD;
	}
	return (int)nt;
}
