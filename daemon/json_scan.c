/* Byte-level JSON checks and string decoding (see json_scan.h). */
#include "json_scan.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <stdint.h>
#include <string.h>

bool aw_json_digits(const char *p, size_t *i, size_t end)
{
	size_t start = *i;

	while (*i < end && p[*i] >= '0' && p[*i] <= '9')
		(*i)++;
	return *i > start;
}

bool aw_json_exponent(const char *p, size_t *i, size_t end)
{
	if (*i >= end || (p[*i] != 'e' && p[*i] != 'E'))
		return true;
	(*i)++;
	if (*i < end && (p[*i] == '+' || p[*i] == '-'))
		(*i)++;
	return aw_json_digits(p, i, end);
}

bool aw_json_primitive_ok(const char *p, size_t len)
{
	size_t i = 0;

	if ((len == 4 && memcmp(p, "true", 4) == 0) || (len == 5 && memcmp(p, "false", 5) == 0) ||
	    (len == 4 && memcmp(p, "null", 4) == 0))
		return true;
	/* JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	if (i < len && p[i] == '-')
		i++;
	if (i < len && p[i] == '0')
		i++;
	else if (!aw_json_digits(p, &i, len))
		return false;
	if (i < len && p[i] == '.') {
		i++;
		if (!aw_json_digits(p, &i, len))
			return false;
	}
	if (!aw_json_exponent(p, &i, len))
		return false;
	return i == len;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The four hex digits at s[i..i+4) (within n bytes). */
static bool hex4(const char *s, size_t n, size_t i, uint32_t *out)
{
	uint32_t cp = 0;

	if (i + 4 > n)
		return false;
	for (size_t k = i; k < i + 4; k++) {
		int h = hexval(s[k]);
		if (h < 0)
			return false;
		cp = (cp << 4) | (uint32_t)h;
	}
	*out = cp;
	return true;
}

static size_t utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static size_t utf8_len(uint32_t cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* The code point of the escape whose letter is at s[*i] (the backslash is before it);
 * *i is left on the escape's last byte. -1 when the escape is malformed. */
static int escape_at(const char *s, size_t n, size_t *i, uint32_t *cp)
{
	uint32_t lo;

	switch (s[*i]) {
	case 'b':
		*cp = '\b';
		return 0;
	case 'f':
		*cp = '\f';
		return 0;
	case 'n':
		*cp = '\n';
		return 0;
	case 'r':
		*cp = '\r';
		return 0;
	case 't':
		*cp = '\t';
		return 0;
	case 'u':
		break;
	default: /* \" \\ \/ stand for themselves */
		*cp = (unsigned char)s[*i];
		return 0;
	}
	if (!hex4(s, n, *i + 1, cp))
		return -1;
	*i += 4;
	if (*cp >= 0xD800 && *cp < 0xDC00) {
		/* A high surrogate makes one code point with a following low one. */
		if (*i + 6 < n && s[*i + 1] == '\\' && s[*i + 2] == 'u' &&
		    hex4(s, n, *i + 3, &lo) && lo >= 0xDC00 && lo < 0xE000) {
			*cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
			*i += 6;
		} else {
			*cp = 0xFFFD;
		}
	} else if (*cp >= 0xDC00 && *cp < 0xE000) {
		*cp = 0xFFFD;
	}
	return 0;
}

int aw_json_unescape(const char *s, size_t n, char *out, size_t cap, size_t *outlen)
{
	size_t i = 0, o = 0;

	while (i < n) {
		uint32_t cp;
#ifdef __SSE2__
		/* JSON text inside a string column has an escape every few bytes: copy 16
		 * bytes at a time and keep the ones before the first backslash, rather than a
		 * memchr + memcpy call per run. */
		const __m128i bslash = _mm_set1_epi8('\\');
		while (i + 16 <= n && o + 16 <= cap) {
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
			_mm_storeu_si128((__m128i *)(void *)(out + o), x);
			unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, bslash));
			if (m) {
				unsigned k = (unsigned)__builtin_ctz(m);
				i += k;
				o += k;
				break;
			}
			i += 16;
			o += 16;
		}
#endif
		while (i < n && s[i] != '\\') {
			if (o == cap)
				return -1;
			out[o++] = s[i++];
		}
		if (i == n)
			break;
		if (++i >= n || escape_at(s, n, &i, &cp) != 0)
			return -1;
		if (utf8_len(cp) > cap - o)
			return -1;
		o += utf8_put(out + o, cp);
		i++;
	}
	*outlen = o;
	return 0;
}
