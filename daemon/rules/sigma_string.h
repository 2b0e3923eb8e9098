/* Sigma string values: the text of a rule value parsed into a pattern (literal bytes
 * and wildcards, sigma.md §1.4), and a pattern compiled to the cheapest matcher.
 *
 * Patterns (struct aw_sigma_pat) are what value modifiers transform (contains adds `*`,
 * base64 encodes the literal bytes, windash expands dashes...); a finished pattern is
 * compiled once into a struct aw_sigma_str: exact, prefix, suffix, substring, glob or
 * PCRE2 regex. Matching is case-insensitive unless compiled `cased`: the pattern is
 * folded once, event text is folded while comparing, without allocating.
 *
 * Case folding: ASCII, and simple case folding of two-byte UTF-8 letters (Latin-1
 * Supplement, Latin Extended-A, Greek, Cyrillic and Cyrillic Supplement). Folds that
 * would change the UTF-8 length (U+017F long s, U+0130, the Kelvin sign) are left out,
 * so folded text always has the length of the original. Other scripts compare exactly.
 *
 * A compiled regex keeps its PCRE2 match data: matching is not thread-safe. */
#ifndef AW_SIGMA_STRING_H
#define AW_SIGMA_STRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* What one pattern byte is. */
enum aw_sigma_wild {
	AW_SIGMA_LIT = 0, /* the literal byte */
	AW_SIGMA_ANY = 1, /* `*`: any sequence, possibly empty */
	AW_SIGMA_ONE = 2, /* `?`: exactly one UTF-8 code point */
};

/* A parsed Sigma string. b[i] is the byte ('*' or '?' for wildcards), w[i] its kind.
 * Owned by whoever filled it; aw_sigma_pat_free releases the buffers. */
struct aw_sigma_pat {
	char *b;
	unsigned char *w;
	size_t len, cap;
};

/* Longest value a pattern may grow to (after base64, utf16, windash, expand). */
#define AW_SIGMA_PAT_MAX ((size_t)1 << 20)

/* Parse rule text (after YAML unescaping) with Sigma's escapes: `\*` `\?` literal
 * wildcard characters, `\\` one backslash, a backslash before anything else (or at
 * the end) is itself literal. p is overwritten (initialize it to {0} first). */
int aw_sigma_pat_parse(struct aw_sigma_pat *p, const char *text, size_t len, struct aw_error *err);
/* Append bytes of one kind (for a wildcard, n copies of it). 0 or -1 (too long/OOM). */
int aw_sigma_pat_add(struct aw_sigma_pat *p, const char *bytes, size_t n, enum aw_sigma_wild w);
int aw_sigma_pat_add_pat(struct aw_sigma_pat *p, const struct aw_sigma_pat *src);
bool aw_sigma_pat_has_wild(const struct aw_sigma_pat *p);
void aw_sigma_pat_free(struct aw_sigma_pat *p);

/* The pattern written back as Sigma text (canonical escapes), malloc'd, for messages.
 * Non-printable bytes are shown as \xHH. */
char *aw_sigma_pat_text(const struct aw_sigma_pat *p);

/* The longest run of "safe" characters [A-Za-z0-9 _.:-] among the literal bytes,
 * ASCII-lower-cased into buf (size cap); returns its length. These characters are never
 * escaped in JSON, so a match implies the raw event text contains the run. */
size_t aw_sigma_pat_required(const struct aw_sigma_pat *p, char *buf, size_t cap);

/* --- value transforms (modifiers that rewrite the value, sigma.md §1.5) ----------- */

/* Implemented in sigma_modifiers.c, with the rest of the modifiers. */

/* out = base64 of the literal bytes of in (standard alphabet, padded). variant -1 is
 * plain base64; 0, 1, 2 are pySigma's base64offset variants (the value shifted by 0, 1,
 * 2 bytes, with the characters that depend on the neighbours cut off). Returns -1 when
 * in holds a wildcard. out is overwritten. */
int aw_sigma_pat_base64(const struct aw_sigma_pat *in, int variant, struct aw_sigma_pat *out);

enum aw_sigma_utf16 { AW_SIGMA_UTF16LE, AW_SIGMA_UTF16BE, AW_SIGMA_UTF16BOM };
/* Encode the literal runs of in as UTF-16 (wildcards kept); UTF16BOM is FF FE + LE.
 * Returns -1 when a run is not valid UTF-8. */
int aw_sigma_pat_utf16(const struct aw_sigma_pat *in, enum aw_sigma_utf16 how,
		       struct aw_sigma_pat *out);

/* windash: the dashes/slashes that start a word (pySigma: `\B[-/]\b`, within one
 * literal run) each become one of `-` `/` U+2013 U+2014 U+2015. Count those positions;
 * then build variant number idx (0 .. 5^n - 1; variant 0 is all `-`). */
size_t aw_sigma_pat_windash_count(const struct aw_sigma_pat *in);
int aw_sigma_pat_windash(const struct aw_sigma_pat *in, size_t idx, struct aw_sigma_pat *out);

/* --- compiled matchers --------------------------------------------------------- */

enum aw_sigma_match_kind {
	AW_SIGMA_EXACT,
	AW_SIGMA_PREFIX,
	AW_SIGMA_SUFFIX,
	AW_SIGMA_CONTAINS,
	AW_SIGMA_GLOB,
	AW_SIGMA_REGEX,
};

struct aw_sigma_re_opts {
	bool icase, multiline, dotall;
	unsigned match_limit; /* 0: AW_SIGMA_RE_MATCH_LIMIT */
};

#define AW_SIGMA_RE_MATCH_LIMIT 1000000u
#define AW_SIGMA_RE_DEPTH_LIMIT 10000u

struct aw_sigma_str;

int aw_sigma_str_compile(const struct aw_sigma_pat *p, bool cased, struct aw_sigma_str **out,
			 struct aw_error *err);
/* A PCRE2 regex (search, not anchored; case-sensitive unless opts->icase). JIT when
 * the system allows it, the interpreter otherwise. err reads "regular expression
 * '(a': missing closing parenthesis at offset 2". */
int aw_sigma_str_compile_regex(const char *re, size_t len, const struct aw_sigma_re_opts *opts,
			       struct aw_sigma_str **out, struct aw_error *err);
bool aw_sigma_str_match(const struct aw_sigma_str *s, const char *text, size_t len);
void aw_sigma_str_free(struct aw_sigma_str *s);

/* For tests and `rules list`: the matcher chosen, and for the literal kinds the folded
 * literal (NULL for glob and regex). */
enum aw_sigma_match_kind aw_sigma_str_kind(const struct aw_sigma_str *s);
const char *aw_sigma_str_literal(const struct aw_sigma_str *s, size_t *len);
/* Whether the regex runs JIT-compiled (false for other kinds). */
bool aw_sigma_str_jit(const struct aw_sigma_str *s);

/* --- comparing two event values (fieldref) ----------------------------------------- */

/* Case-insensitive unless cased, both sides folded on the fly. */
bool aw_sigma_text_equal(const char *a, size_t alen, const char *b, size_t blen, bool cased);
bool aw_sigma_text_prefix(const char *a, size_t alen, const char *b, size_t blen, bool cased);
bool aw_sigma_text_suffix(const char *a, size_t alen, const char *b, size_t blen, bool cased);
bool aw_sigma_text_contains(const char *a, size_t alen, const char *b, size_t blen, bool cased);

/* Eight ASCII bytes (no high bit set) with A-Z lowered, all at once: what folding does
 * to ASCII text, for callers that fold a word at a time (x must have no high bit). */
static inline uint64_t aw_sigma_lower8(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t ge_a = x + (0x80 - 'A') * ones;     /* high bit: byte >= 'A' */
	uint64_t gt_z = x + (0x80 - 'Z' - 1) * ones; /* high bit: byte > 'Z' */

	return x | ((ge_a & ~gt_z & highs) >> 2);
}

/* Fold src into dst (same length; dst may equal src). */
void aw_sigma_fold(char *dst, const char *src, size_t len);

/* The code point of the well-formed UTF-8 sequence at s (n bytes available) and its
 * length in *len; *len is 0 (and the result 0) when s does not start with one. */
uint32_t aw_sigma_utf8_decode(const char *s, size_t n, size_t *len);

#endif
