/* Sigma string patterns and their matchers (see sigma_string.h).
 *
 * Case-insensitive comparison never allocates: the pattern was folded at compile time
 * and each event byte (or two-byte UTF-8 sequence) is folded as it is compared. Every
 * fold keeps the UTF-8 length, so lengths and offsets mean the same before and after
 * folding, which is what lets exact/prefix/suffix compare lengths first.
 *
 * The glob matcher works on code points (so `?` is one character, not one byte) with
 * the classic two-pointer walk that, on a mismatch, only ever backtracks to the most
 * recent `*`: O(text * pattern) at worst, never exponential. */
#include "sigma_string.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define GLOB_ANY   0xFFFFFFFFu
#define GLOB_ONE   0xFFFFFFFEu
#define CP_INVALID 0x110000u /* + the byte: an undecodable byte matches only itself */

struct seg {
	char *lit; /* folded unless cased */
	size_t len;
};

struct aw_sigma_str {
	enum aw_sigma_match_kind kind;
	bool cased;
	char *lit; /* EXACT..CONTAINS: folded literal (unless cased) */
	size_t len;
	uint32_t *glob; /* GLOB: code points (folded unless cased) and GLOB_* */
	size_t nglob;
	struct seg *segs; /* GLOB without `?`: the literals between the stars */
	size_t nsegs;
	bool lead, trail; /* ... and whether stars open/close the pattern */
	pcre2_code *re;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	bool jit;
};

/* --- folding --------------------------------------------------------------------- */

static inline unsigned char lc(unsigned char c)
{
	return (unsigned char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
}

/* Simple case folding (Unicode CaseFolding.txt, status C and S) for U+0080..U+052F,
 * restricted to folds that stay two UTF-8 bytes long. */
static uint32_t fold_cp(uint32_t c)
{
	if (c < 0x100) {
		if (c == 0xB5)
			return 0x3BC;
		if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
			return c + 0x20;
		return c;
	}
	if (c < 0x180) {
		if (c == 0x178)
			return 0xFF;
		if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) ||
		    (c >= 0x14A && c <= 0x177))
			return (c & 1) ? c : c + 1;
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
			return (c & 1) ? c + 1 : c;
		return c; /* U+0130, U+0131, U+0138, U+0149, U+017F */
	}
	if (c >= 0x345 && c < 0x400) {
		switch (c) {
		case 0x345:
			return 0x3B9;
		case 0x370:
		case 0x372:
		case 0x376:
			return c + 1;
		case 0x37F:
			return 0x3F3;
		case 0x386:
			return 0x3AC;
		case 0x388:
		case 0x389:
		case 0x38A:
			return c + 37;
		case 0x38C:
			return 0x3CC;
		case 0x38E:
		case 0x38F:
			return c + 63;
		case 0x3C2:
			return 0x3C3;
		case 0x3CF:
			return 0x3D7;
		case 0x3D0:
			return 0x3B2;
		case 0x3D1:
			return 0x3B8;
		case 0x3D5:
			return 0x3C6;
		case 0x3D6:
			return 0x3C0;
		case 0x3F0:
			return 0x3BA;
		case 0x3F1:
			return 0x3C1;
		case 0x3F4:
			return 0x3B8;
		case 0x3F5:
			return 0x3B5;
		case 0x3F7:
			return 0x3F8;
		case 0x3F9:
			return 0x3F2;
		case 0x3FA:
			return 0x3FB;
		case 0x3FD:
		case 0x3FE:
		case 0x3FF:
			return c - 130;
		default:
			break;
		}
		if ((c >= 0x391 && c <= 0x3A1) || (c >= 0x3A3 && c <= 0x3AB))
			return c + 32;
		if (c >= 0x3D8 && c <= 0x3EF)
			return (c & 1) ? c : c + 1;
		return c;
	}
	if (c >= 0x400 && c < 0x530) {
		if (c <= 0x40F)
			return c + 0x50;
		if (c <= 0x42F)
			return c + 0x20;
		if (c == 0x4C0)
			return 0x4CF;
		if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) ||
		    (c >= 0x4D0 && c <= 0x52F))
			return (c & 1) ? c : c + 1;
		if (c >= 0x4C1 && c <= 0x4CE)
			return (c & 1) ? c + 1 : c;
		return c;
	}
	return c;
}

/* A foldable two-byte sequence starts with a lead byte in C2..D4 (U+0080..U+052F). */
static inline bool fold_lead(unsigned char c)
{
	return c >= 0xC2 && c <= 0xD4;
}

/* Fold the character at s[i] (n bytes in all) into out: ASCII and foldable two-byte
 * sequences folded, any other byte as it is. Returns the bytes read, which is also the
 * bytes written (1 or 2). */
static inline size_t fold_unit(const unsigned char *s, size_t i, size_t n, unsigned char out[2])
{
	unsigned char c = s[i];

	if (c >= 0x80 && fold_lead(c) && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
		uint32_t f = fold_cp(((uint32_t)(c & 0x1F) << 6) | (s[i + 1] & 0x3Fu));
		out[0] = (unsigned char)(0xC0 | (f >> 6));
		out[1] = (unsigned char)(0x80 | (f & 0x3F));
		return 2;
	}
	out[0] = lc(c);
	return 1;
}

#define HIGHS 0x8080808080808080ull /* a byte of 8 with its high bit set: not ASCII */

/* Does text t (n bytes, folded on the fly) equal the folded pattern p (n bytes)? */
static bool fold_eq(const unsigned char *t, const unsigned char *p, size_t n)
{
	unsigned char u[2];
	size_t i = 0;

	for (; n - i >= 8; i += 8) {
		uint64_t x, y;
		memcpy(&x, t + i, 8);
		if (x & HIGHS)
			break; /* the unit-by-unit loop takes it from this boundary */
		memcpy(&y, p + i, 8);
		if (aw_sigma_lower8(x) != y)
			return false;
	}
	while (i < n) {
		size_t l = fold_unit(t, i, n, u);
		if (u[0] != p[i] || (l == 2 && u[1] != p[i + 1]))
			return false;
		i += l;
	}
	return true;
}

void aw_sigma_fold(char *dst, const char *src, size_t len)
{
	unsigned char u[2];
	size_t i = 0;

	for (; len - i >= 8; i += 8) {
		uint64_t x;
		memcpy(&x, src + i, 8);
		if (x & HIGHS)
			break;
		x = aw_sigma_lower8(x);
		memcpy(dst + i, &x, 8);
	}
	while (i < len) {
		size_t l = fold_unit((const unsigned char *)src, i, len, u);
		dst[i] = (char)u[0];
		if (l == 2)
			dst[i + 1] = (char)u[1];
		i += l;
	}
}

/* Length of the well-formed UTF-8 sequence at s[0] (0 when it is not one). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t k = 1; k < len; k++)
		if ((s[k] & 0xC0) != 0x80)
			return 0;
	if (c == 0xE0 && s[1] < 0xA0)
		return 0; /* overlong */
	if (c == 0xED && s[1] >= 0xA0)
		return 0; /* surrogate */
	if (c == 0xF0 && s[1] < 0x90)
		return 0;
	if (c == 0xF4 && s[1] >= 0x90)
		return 0;
	return len;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t l = utf8_seq(s + i, n - i);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

/* Next code point of s at *i (folded when asked); an undecodable byte is
 * CP_INVALID + byte, one byte long. */
static uint32_t next_cp(const unsigned char *s, size_t n, size_t *i, bool fold)
{
	const unsigned char *p = s + *i;
	unsigned char c = p[0];
	size_t l;
	uint32_t cp;

	if (c < 0x80) {
		(*i)++;
		return fold ? lc(c) : c;
	}
	l = utf8_seq(p, n - *i);
	switch (l) {
	case 2:
		cp = ((uint32_t)(c & 0x1F) << 6) | (p[1] & 0x3Fu);
		*i += 2;
		return fold ? fold_cp(cp) : cp;
	case 3:
		*i += 3;
		return ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) |
		       (p[2] & 0x3Fu);
	case 4:
		*i += 4;
		return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
		       ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3Fu);
	default:
		(*i)++;
		return CP_INVALID + c;
	}
}

uint32_t aw_sigma_utf8_decode(const char *s, size_t n, size_t *len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	*len = n ? utf8_seq(u, n) : 0;
	return *len ? next_cp(u, n, &i, false) : 0;
}

/* --- patterns -------------------------------------------------------------------------- */

static int pat_reserve(struct aw_sigma_pat *p, size_t extra)
{
	if (extra > AW_SIGMA_PAT_MAX - p->len)
		return -1;
	if (p->b && p->len + extra <= p->cap)
		return 0;
	size_t ncap = p->cap ? p->cap : 32;
	while (ncap < p->len + extra)
		ncap *= 2;
	char *b = realloc(p->b, ncap + 1);
	if (!b)
		return -1;
	p->b = b;
	unsigned char *w = realloc(p->w, ncap + 1);
	if (!w)
		return -1;
	p->w = w;
	p->cap = ncap;
	return 0;
}

int aw_sigma_pat_add(struct aw_sigma_pat *p, const char *bytes, size_t n, enum aw_sigma_wild w)
{
	if (pat_reserve(p, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		p->b[p->len] = w == AW_SIGMA_ANY ? '*' : w == AW_SIGMA_ONE ? '?' : bytes[i];
		p->w[p->len] = (unsigned char)w;
		p->len++;
	}
	p->b[p->len] = '\0';
	return 0;
}

int aw_sigma_pat_add_pat(struct aw_sigma_pat *p, const struct aw_sigma_pat *src)
{
	if (pat_reserve(p, src->len) < 0)
		return -1;
	if (src->len) {
		memcpy(p->b + p->len, src->b, src->len);
		memcpy(p->w + p->len, src->w, src->len);
	}
	p->len += src->len;
	if (p->b)
		p->b[p->len] = '\0';
	return 0;
}

int aw_sigma_pat_parse(struct aw_sigma_pat *p, const char *text, size_t len, struct aw_error *err)
{
	size_t i = 0;

	p->len = 0;
	if (pat_reserve(p, len ? len : 1) < 0)
		return aw_error_set(err, "value of %zu bytes is too long", len);
	while (i < len) {
		char c = text[i];
		enum aw_sigma_wild w = AW_SIGMA_LIT;
		if (c == '\\') {
			char next = i + 1 < len ? text[i + 1] : '\0';
			if (i + 1 < len && (next == '*' || next == '?' || next == '\\')) {
				c = next;
				i++;
			}
		} else if (c == '*') {
			w = AW_SIGMA_ANY;
		} else if (c == '?') {
			w = AW_SIGMA_ONE;
		}
		p->b[p->len] = c;
		p->w[p->len] = (unsigned char)w;
		p->len++;
		i++;
	}
	p->b[p->len] = '\0';
	return 0;
}

bool aw_sigma_pat_has_wild(const struct aw_sigma_pat *p)
{
	for (size_t i = 0; i < p->len; i++)
		if (p->w[i] != AW_SIGMA_LIT)
			return true;
	return false;
}

void aw_sigma_pat_free(struct aw_sigma_pat *p)
{
	free(p->b);
	free(p->w);
	memset(p, 0, sizeof *p);
}

char *aw_sigma_pat_text(const struct aw_sigma_pat *p)
{
	size_t cap = p->len * 4 + 1, o = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (size_t i = 0; i < p->len; i++) {
		unsigned char c = (unsigned char)p->b[i];
		if (p->w[i] != AW_SIGMA_LIT) {
			out[o++] = (char)c;
			continue;
		}
		if (c == '*' || c == '?') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\\') {
			/* `\` is literal on its own, except before what it would escape */
			bool next_special =
			    i + 1 < p->len && (p->w[i + 1] != AW_SIGMA_LIT || p->b[i + 1] == '*' ||
					       p->b[i + 1] == '?' || p->b[i + 1] == '\\');
			out[o++] = '\\';
			if (next_special)
				out[o++] = '\\';
		} else if (c < 0x20 || c == 0x7F) {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02X", c);
		} else if (c >= 0x80) {
			size_t l = 0;
			size_t run = 0;
			while (i + run < p->len && p->w[i + run] == AW_SIGMA_LIT && run < 4)
				run++;
			l = utf8_seq((const unsigned char *)p->b + i, run);
			if (l) {
				memcpy(out + o, p->b + i, l);
				o += l;
				i += l - 1;
			} else {
				o += (size_t)snprintf(out + o, cap - o, "\\x%02X", c);
			}
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}

static bool safe_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == ' ' || c == '_' || c == '.' || c == ':' || c == '-';
}

size_t aw_sigma_pat_required(const struct aw_sigma_pat *p, char *buf, size_t cap)
{
	size_t best = 0, best_at = 0, run = 0;

	for (size_t i = 0; i <= p->len; i++) {
		if (i < p->len && p->w[i] == AW_SIGMA_LIT && safe_char((unsigned char)p->b[i])) {
			run++;
			continue;
		}
		if (run > best) {
			best = run;
			best_at = i - run;
		}
		run = 0;
	}
	if (best > cap)
		best = cap;
	for (size_t i = 0; i < best; i++)
		buf[i] = (char)lc((unsigned char)p->b[best_at + i]);
	return best;
}

/* --- literal matchers ------------------------------------------------------------ */

/* Keep *next the first offset at or after pos where c occurs in h[0..last]; *done when
 * there is none left. */
static void next_hit(const unsigned char *h, size_t pos, size_t last, unsigned char c, size_t *next,
		     bool *done)
{
	const unsigned char *x;

	if (*done || (*next != SIZE_MAX && *next >= pos))
		return;
	x = memchr(h + pos, c, last - pos + 1);
	if (x)
		*next = (size_t)(x - h);
	else
		*done = true;
}

/* Case-insensitive search for folded needle p in h: the offset of the first match,
 * or SIZE_MAX. The first byte picks candidates: memchr on both cases of an ASCII
 * letter, keeping the next hit of each so neither list is rescanned. */
static size_t fold_find(const unsigned char *h, size_t n, const unsigned char *p, size_t m)
{
	if (m == 0)
		return 0;
	if (m > n)
		return SIZE_MAX;
	size_t last = n - m; /* last possible start */
	unsigned char c0 = p[0];

	if (c0 >= 0x80) {
		if (!fold_lead(c0)) {
			const unsigned char *at = h;
			while ((at = memchr(at, c0, last - (size_t)(at - h) + 1)) != NULL) {
				if (fold_eq(at, p, m))
					return (size_t)(at - h);
				if ((size_t)(at - h) == last)
					break;
				at++;
			}
			return SIZE_MAX;
		}
		/* folding may change the lead byte (U+0400 -> U+0450) */
		for (size_t i = 0; i <= last; i++)
			if (fold_lead(h[i]) && fold_eq(h + i, p, m))
				return i;
		return SIZE_MAX;
	}
	unsigned char alt = (c0 >= 'a' && c0 <= 'z') ? (unsigned char)(c0 - 32) : c0;
	size_t na = SIZE_MAX, nb = SIZE_MAX; /* next hit of c0 / alt at or after pos */
	bool a_done = false, b_done = alt == c0;
	size_t pos = 0;
	while (pos <= last) {
		next_hit(h, pos, last, c0, &na, &a_done);
		next_hit(h, pos, last, alt, &nb, &b_done);
		size_t at;
		if (a_done && b_done)
			return SIZE_MAX;
		if (a_done)
			at = nb;
		else if (b_done)
			at = na;
		else
			at = na < nb ? na : nb;
		if (fold_eq(h + at + 1, p + 1, m - 1))
			return at;
		pos = at + 1;
	}
	return SIZE_MAX;
}

static size_t find(const unsigned char *h, size_t n, const unsigned char *p, size_t m, bool cased)
{
	if (!cased)
		return fold_find(h, n, p, m);
	if (m == 0)
		return 0;
	const unsigned char *at = m <= n ? memmem(h, n, p, m) : NULL;
	return at ? (size_t)(at - h) : SIZE_MAX;
}

static bool eq(const unsigned char *t, const unsigned char *p, size_t m, bool cased)
{
	return cased ? memcmp(t, p, m) == 0 : fold_eq(t, p, m);
}

static bool lit_match(const struct aw_sigma_str *s, const unsigned char *t, size_t n)
{
	const unsigned char *p = (const unsigned char *)s->lit;
	size_t m = s->len;

	switch (s->kind) {
	case AW_SIGMA_EXACT:
		return n == m && eq(t, p, m, s->cased);
	case AW_SIGMA_PREFIX:
		return n >= m && eq(t, p, m, s->cased);
	case AW_SIGMA_SUFFIX:
		return n >= m && eq(t + n - m, p, m, s->cased);
	case AW_SIGMA_CONTAINS:
		return find(t, n, p, m, s->cased) != SIZE_MAX;
	default:
		return false;
	}
}

/* --- glob -------------------------------------------------------------------------- */

static bool glob_match(const uint32_t *pat, size_t np, const unsigned char *t, size_t n, bool fold)
{
	size_t pi = 0, ti = 0;
	size_t star_pi = SIZE_MAX, star_ti = 0;

	while (ti < n) {
		if (pi < np) {
			uint32_t pc = pat[pi];
			if (pc == GLOB_ANY) {
				star_pi = pi++;
				star_ti = ti;
				continue;
			}
			size_t save = ti;
			uint32_t c = next_cp(t, n, &ti, fold);
			if (pc == GLOB_ONE || pc == c) {
				pi++;
				continue;
			}
			ti = save;
		}
		if (star_pi == SIZE_MAX)
			return false;
		/* let the last `*` swallow one more code point and retry after it */
		pi = star_pi + 1;
		(void)next_cp(t, n, &star_ti, fold);
		ti = star_ti;
	}
	while (pi < np && pat[pi] == GLOB_ANY)
		pi++;
	return pi == np;
}

/* A glob of stars only: anchored first and last literals, the ones between found
 * leftmost in turn (leftmost is always safe when nothing but `*` separates them). */
static bool stars_match(const struct aw_sigma_str *s, const unsigned char *t, size_t n)
{
	size_t pos = 0, end = n, first = 0, last = s->nsegs;

	if (!s->lead) {
		const struct seg *g = &s->segs[0];
		if (n < g->len || !eq(t, (const unsigned char *)g->lit, g->len, s->cased))
			return false;
		pos = g->len;
		first = 1;
	}
	if (!s->trail) {
		const struct seg *g = &s->segs[s->nsegs - 1];
		if (n - pos < g->len ||
		    !eq(t + n - g->len, (const unsigned char *)g->lit, g->len, s->cased))
			return false;
		end = n - g->len;
		last--;
	}
	for (size_t k = first; k < last; k++) {
		const struct seg *g = &s->segs[k];
		size_t at =
		    find(t + pos, end - pos, (const unsigned char *)g->lit, g->len, s->cased);
		if (at == SIZE_MAX)
			return false;
		pos += at + g->len;
	}
	return true;
}

/* --- compiling ---------------------------------------------------------------------- */

void aw_sigma_str_free(struct aw_sigma_str *s)
{
	if (!s)
		return;
	free(s->lit);
	free(s->glob);
	for (size_t k = 0; k < s->nsegs; k++)
		free(s->segs[k].lit);
	free(s->segs);
	pcre2_match_data_free(s->md);
	pcre2_match_context_free(s->mctx);
	pcre2_code_free(s->re);
	free(s);
}

/* A NUL-terminated copy of b[0..len), folded unless cased; NULL on OOM. */
static char *lit_dup(const char *b, size_t len, bool cased)
{
	char *lit = malloc(len + 1);

	if (!lit)
		return NULL;
	if (len)
		memcpy(lit, b, len);
	lit[len] = '\0';
	if (!cased)
		aw_sigma_fold(lit, lit, len);
	return lit;
}

int aw_sigma_str_compile(const struct aw_sigma_pat *p, bool cased, struct aw_sigma_str **out,
			 struct aw_error *err)
{
	struct aw_sigma_str *s = calloc(1, sizeof *s);
	size_t lo = 0, hi = p->len;
	bool lead = false, trail = false, inner = false, one = false;

	*out = NULL;
	if (!s)
		return aw_error_set(err, "out of memory");
	s->cased = cased;
	/* Classify: leading and trailing `*` runs, and any wildcard in between. */
	while (lo < hi && p->w[lo] == AW_SIGMA_ANY) {
		lead = true;
		lo++;
	}
	while (hi > lo && p->w[hi - 1] == AW_SIGMA_ANY) {
		trail = true;
		hi--;
	}
	for (size_t i = lo; i < hi; i++) {
		if (p->w[i] != AW_SIGMA_LIT)
			inner = true;
		if (p->w[i] == AW_SIGMA_ONE)
			one = true;
	}
	if (!inner) {
		if (lead && trail)
			s->kind = AW_SIGMA_CONTAINS;
		else if (lead)
			s->kind = AW_SIGMA_SUFFIX;
		else if (trail)
			s->kind = AW_SIGMA_PREFIX;
		else
			s->kind = AW_SIGMA_EXACT;
		if (lead && !trail && lo == hi)
			s->kind = AW_SIGMA_PREFIX; /* "*": anything */
		s->len = hi - lo;
		if (!(s->lit = lit_dup(p->b + lo, s->len, cased)))
			goto oom;
		*out = s;
		return 0;
	}
	s->kind = AW_SIGMA_GLOB;
	if (!one) {
		s->lead = lead;
		s->trail = trail;
		s->segs = calloc(hi - lo, sizeof *s->segs);
		if (!s->segs)
			goto oom;
		for (size_t i = lo; i < hi;) {
			if (p->w[i] == AW_SIGMA_ANY) {
				i++;
				continue;
			}
			size_t end = i;
			while (end < hi && p->w[end] == AW_SIGMA_LIT)
				end++;
			struct seg *g = &s->segs[s->nsegs++];
			g->len = end - i;
			if (!(g->lit = lit_dup(p->b + i, g->len, cased)))
				goto oom;
			i = end;
		}
		*out = s;
		return 0;
	}
	s->glob = malloc((p->len ? p->len : 1) * sizeof *s->glob);
	if (!s->glob)
		goto oom;
	for (size_t i = 0; i < p->len;) {
		if (p->w[i] == AW_SIGMA_ANY) {
			if (s->nglob == 0 || s->glob[s->nglob - 1] != GLOB_ANY)
				s->glob[s->nglob++] = GLOB_ANY;
			i++;
		} else if (p->w[i] == AW_SIGMA_ONE) {
			s->glob[s->nglob++] = GLOB_ONE;
			i++;
		} else {
			size_t end = i;
			while (end < p->len && p->w[end] == AW_SIGMA_LIT)
				end++;
			/* decode the literal run on its own so it never borrows a wildcard */
			size_t k = 0;
			while (k < end - i)
				s->glob[s->nglob++] =
				    next_cp((const unsigned char *)p->b + i, end - i, &k, !cased);
			i = end;
		}
	}
	*out = s;
	return 0;
oom:
	aw_sigma_str_free(s);
	return aw_error_set(err, "out of memory");
}

int aw_sigma_str_compile_regex(const char *re, size_t len, const struct aw_sigma_re_opts *opts,
			       struct aw_sigma_str **out, struct aw_error *err)
{
	struct aw_sigma_str *s;
	uint32_t options = 0;
	int errcode;
	PCRE2_SIZE erroff;

	*out = NULL;
	if (utf8_valid((const unsigned char *)re, len))
		options |= PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
	if (opts && opts->icase)
		options |= PCRE2_CASELESS;
	if (opts && opts->multiline)
		options |= PCRE2_MULTILINE;
	if (opts && opts->dotall)
		options |= PCRE2_DOTALL;
	s = calloc(1, sizeof *s);
	if (!s)
		return aw_error_set(err, "out of memory");
	s->kind = AW_SIGMA_REGEX;
	s->cased = !(opts && opts->icase);
	s->re = pcre2_compile((PCRE2_SPTR)re, len, options, &errcode, &erroff, NULL);
	if (!s->re) {
		PCRE2_UCHAR msg[256];
		if (pcre2_get_error_message(errcode, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", errcode);
		aw_sigma_str_free(s);
		return aw_error_set(err, "regular expression '%.*s': %s at offset %zu",
				    len > 200 ? 200 : (int)len, re, (const char *)msg,
				    (size_t)erroff);
	}
	/* JIT needs writable+executable memory, which a hardened unit
	 * (MemoryDenyWriteExecute=yes) refuses: then the interpreter does the work. */
	s->jit = pcre2_jit_compile(s->re, PCRE2_JIT_COMPLETE) == 0;
	s->md = pcre2_match_data_create(1, NULL);
	s->mctx = pcre2_match_context_create(NULL);
	if (!s->md || !s->mctx) {
		aw_sigma_str_free(s);
		return aw_error_set(err, "out of memory");
	}
	pcre2_set_match_limit(s->mctx, opts && opts->match_limit ? opts->match_limit
								 : AW_SIGMA_RE_MATCH_LIMIT);
	pcre2_set_depth_limit(s->mctx, AW_SIGMA_RE_DEPTH_LIMIT);
	*out = s;
	return 0;
}

bool aw_sigma_str_match(const struct aw_sigma_str *s, const char *text, size_t len)
{
	const unsigned char *t = (const unsigned char *)(text ? text : "");

	switch (s->kind) {
	case AW_SIGMA_GLOB:
		if (s->segs)
			return stars_match(s, t, len);
		return glob_match(s->glob, s->nglob, t, len, !s->cased);
	case AW_SIGMA_REGEX: {
		int rc = pcre2_match(s->re, t, len, 0, 0, s->md, s->mctx);
		if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
			rc = pcre2_match(s->re, t, len, 0, PCRE2_NO_JIT, s->md, s->mctx);
		/* A match/depth limit hit counts as no match: the rule author wrote a
		 * pattern too costly for this value. */
		return rc >= 0;
	}
	default:
		return lit_match(s, t, len);
	}
}

enum aw_sigma_match_kind aw_sigma_str_kind(const struct aw_sigma_str *s)
{
	return s->kind;
}

const char *aw_sigma_str_literal(const struct aw_sigma_str *s, size_t *len)
{
	if (len)
		*len = s->lit ? s->len : 0;
	return s->lit;
}

bool aw_sigma_str_jit(const struct aw_sigma_str *s)
{
	return s->kind == AW_SIGMA_REGEX && s->jit;
}

/* --- two event values ----------------------------------------------------------------- */

/* Compare n bytes of a and b, both folded on the fly. Folding keeps lengths, and a
 * byte compares raw unless both sides decode the same way, so this is symmetric. */
static bool fold_eq2(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char x[2], y[2];

	for (size_t i = 0; i < n;) {
		size_t l = fold_unit(a, i, n, x);
		if (fold_unit(b, i, n, y) != l || x[0] != y[0] || (l == 2 && x[1] != y[1]))
			return false;
		i += l;
	}
	return true;
}

static bool eq_at(const char *a, const char *b, size_t n, bool cased)
{
	return cased ? memcmp(a, b, n) == 0
		     : fold_eq2((const unsigned char *)a, (const unsigned char *)b, n);
}

bool aw_sigma_text_equal(const char *a, size_t alen, const char *b, size_t blen, bool cased)
{
	return alen == blen && eq_at(a, b, alen, cased);
}

bool aw_sigma_text_prefix(const char *a, size_t alen, const char *b, size_t blen, bool cased)
{
	return alen >= blen && eq_at(a, b, blen, cased);
}

bool aw_sigma_text_suffix(const char *a, size_t alen, const char *b, size_t blen, bool cased)
{
	return alen >= blen && eq_at(a + alen - blen, b, blen, cased);
}

bool aw_sigma_text_contains(const char *a, size_t alen, const char *b, size_t blen, bool cased)
{
	if (blen == 0)
		return true;
	if (alen < blen)
		return false;
	if (cased)
		return memmem(a, alen, b, blen) != NULL;
	for (size_t i = 0; i + blen <= alen; i++)
		if (eq_at(a + i, b, blen, false))
			return true;
	return false;
}
