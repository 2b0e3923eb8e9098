/* The validating JSON tokenizer: the language it accepts (every escape, control bytes,
 * numbers, literals, separators, trailing data, depth), where it says a document went
 * wrong, strings against a byte-at-a-time reference at every block boundary, and the
 * escaped form (JSON text still inside a string body) against decode-then-tokenize. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../json_tok_contract.h"
#include "json_tok.h"
#include "testutil.h"

#define NTOK  4096
#define DEPTH 64

/* A passing ck_assert marks its place with a write to Check's pipe; the helpers below
 * run millions of checks, and those writes took more time than the checks. EXPECT
 * speaks only when it fails. */
#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)

static jsmntok_t tok[NTOK], tok2[NTOK];
static bool esc[NTOK], esc2[NTOK];

static int tokn(const char *s, size_t n, struct aw_jtok_err *err)
{
	return aw_json_tokenize(s, n, tok, NTOK, esc, DEPTH, err);
}

/* --- the language ---------------------------------------------------------------- */

#define ANY (-1L)

struct lang_case {
	const char *doc;
	size_t len; /* 0: strlen(doc) */
	int rc;	    /* token count, or an aw_jtok_rc */
	long pos;   /* err->pos when rc < 0, or ANY */
	bool early;
	bool trailing;
};

static const struct lang_case lang[] = {
    {"{}", 0, 1, 0, false, false},
    {"[]", 0, 1, 0, false, false},
    {"\"\"", 0, 1, 0, false, false},
    {"0", 0, 1, 0, false, false},
    {"-0", 0, 1, 0, false, false},
    {"-12.50e+3", 0, 1, 0, false, false},
    {"1E-0", 0, 1, 0, false, false},
    {"0.0", 0, 1, 0, false, false},
    {"true", 0, 1, 0, false, false},
    {"false", 0, 1, 0, false, false},
    {"null", 0, 1, 0, false, false},
    {" \t\r\n[ 1 ,\t2 ]\n ", 0, 3, 0, false, false},
    {"{\"a\":{\"b\":[1,{\"c\":null}]},\"d\":\"\"}", 0, 11, 0, false, false},
    {"[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD834\\uDD1E\\uFFFF\"]", 0, 2, 0, false, false},
    {"\"\\u0000\"", 0, 1, 0, false, false},
    {"\"\x7f\x80\xff\xc3\xa9\"", 0, 1, 0, false, false},
    {"[true,false,null,-1,{}]", 0, 6, 0, false, false},
    {"{ \"a\" : 1 , \"b\" : [ ] }", 0, 5, 0, false, false},
    /* compact members, read by the tokenizer's member path, and where it hands over */
    {"{\"a\":\"b\",\"c\":1286,\"d\":638857160619644472}", 0, 7, 0, false, false},
    {"{\"a\":1.5,\"b\":2e3,\"c\":12E-1,\"d\":-7,\"e\":0}", 0, 11, 0, false, false},
    {"{\"a\":\"0123456789abcdefghij\",\"b\":\"k\"}", 0, 5, 0, false, false},
    {"{\"a\": \"x\",\"b\" :1 ,\"c\":\"y\" ,\"d\":[1,\"z\"],\"e\":{}}", 0, 13, 0, false, false},
    {"{\"a\":\"x\\u0041\\\"\",\"b\":true}", 0, 5, 0, false, false},
    {"{\"a\":12", 0, AW_JTOK_BAD, 7, true, false},
    {"{\"a\":\"x\"", 0, AW_JTOK_BAD, 8, true, false},
    {"{\"a\":\"x\",", 0, AW_JTOK_BAD, 9, true, false},
    {"{\"a\":\"x\",\"b", 0, AW_JTOK_BAD, 11, true, false},
    {"{\"a\":01}", 0, AW_JTOK_BAD, 6, false, false},
    {"{\"a\":1x}", 0, AW_JTOK_BAD, 6, false, false},
    {"{\"a\":12.}", 0, AW_JTOK_BAD, 8, false, false},
    {"{\"a\":1.", 0, AW_JTOK_BAD, 7, true, false},
    {"{\"a\":12e", 0, AW_JTOK_BAD, 8, true, false},
    {"{\"a\":1e}", 0, AW_JTOK_BAD, 7, false, false},
    {"{\"a\":\"x\",}", 0, AW_JTOK_BAD, 9, false, false},
    {"{\"a\":\"x\",\"b\"}", 0, AW_JTOK_BAD, 12, false, false},
    {"{\"a\":\"x\",1:2}", 0, AW_JTOK_BAD, 9, false, false},
    {"{\"a\":\"x\"]", 0, AW_JTOK_BAD, 8, false, false},
    {"{\"a\":9]", 0, AW_JTOK_BAD, 6, false, false},
    {"{\"a\":\"x\",\"b\":\"y\\z\"}", 0, AW_JTOK_BAD, 16, false, false},
    {"{\"a\":\"x\",\"b\x01\":1}", 0, AW_JTOK_BAD, 11, false, false},
    {"{\"a\":\"x\"}x", 0, AW_JTOK_BAD, 9, false, false},
    {"{\"a\":\"x\"}{}", 0, AW_JTOK_BAD, 9, false, true},
    /* nothing, or not a value */
    {"", 0, AW_JTOK_BAD, 0, true, false},
    {"   ", 0, AW_JTOK_BAD, 3, true, false},
    {"\xef\xbb\xbf{}", 0, AW_JTOK_BAD, 0, false, false},
    {"\v1", 0, AW_JTOK_BAD, 0, false, false},
    {"\f1", 0, AW_JTOK_BAD, 0, false, false},
    {"'a'", 0, AW_JTOK_BAD, 0, false, false},
    {"NaN", 0, AW_JTOK_BAD, 0, false, false},
    {"Infinity", 0, AW_JTOK_BAD, 0, false, false},
    {"-Infinity", 0, AW_JTOK_BAD, 1, false, false},
    /* containers and separators */
    {"{", 0, AW_JTOK_BAD, 1, true, false},
    {"[1,", 0, AW_JTOK_BAD, 3, true, false},
    {"{\"a\"", 0, AW_JTOK_BAD, 4, true, false},
    {"{\"a\":", 0, AW_JTOK_BAD, 5, true, false},
    {"[1,]", 0, AW_JTOK_BAD, 3, false, false},
    {"[,1]", 0, AW_JTOK_BAD, 1, false, false},
    {"{\"a\":1,}", 0, AW_JTOK_BAD, 7, false, false},
    {"{,}", 0, AW_JTOK_BAD, 1, false, false},
    {"{\"a\" 1}", 0, AW_JTOK_BAD, 5, false, false},
    {"{\"a\"::1}", 0, AW_JTOK_BAD, 5, false, false},
    {"{1:2}", 0, AW_JTOK_BAD, 1, false, false},
    {"{\"a\"}", 0, AW_JTOK_BAD, 4, false, false},
    {"[1 2]", 0, AW_JTOK_BAD, 3, false, false},
    {"[1:2]", 0, AW_JTOK_BAD, 2, false, false},
    {"[}", 0, AW_JTOK_BAD, 1, false, false},
    {"{]", 0, AW_JTOK_BAD, 1, false, false},
    {"[1}", 0, AW_JTOK_BAD, 2, false, false},
    {"{\"a\":1]", 0, AW_JTOK_BAD, 6, false, false},
    {"]", 0, AW_JTOK_BAD, 0, false, false},
    /* numbers */
    {"01", 0, AW_JTOK_BAD, 1, false, false},
    {"-01", 0, AW_JTOK_BAD, 2, false, false},
    {"-", 0, AW_JTOK_BAD, 1, true, false},
    {"[-]", 0, AW_JTOK_BAD, 2, false, false},
    {"1.", 0, AW_JTOK_BAD, 2, true, false},
    {"1.e5", 0, AW_JTOK_BAD, 2, false, false},
    {"-.5", 0, AW_JTOK_BAD, 1, false, false},
    {"1e", 0, AW_JTOK_BAD, 2, true, false},
    {"1e+", 0, AW_JTOK_BAD, 3, true, false},
    {"[1e]", 0, AW_JTOK_BAD, 3, false, false},
    {".5", 0, AW_JTOK_BAD, 0, false, false},
    {"+1", 0, AW_JTOK_BAD, 0, false, false},
    {"1.5.2", 0, AW_JTOK_BAD, 3, false, false},
    {"0x10", 0, AW_JTOK_BAD, 1, false, false},
    {"12a", 0, AW_JTOK_BAD, 2, false, false},
    /* literals */
    {"truex", 0, AW_JTOK_BAD, 4, false, false},
    {"tru", 0, AW_JTOK_BAD, 3, true, false},
    {"nul", 0, AW_JTOK_BAD, 3, true, false},
    {"nulL", 0, AW_JTOK_BAD, 3, false, false},
    {"fals", 0, AW_JTOK_BAD, 4, true, false},
    {"falsE", 0, AW_JTOK_BAD, 4, false, false},
    {"True", 0, AW_JTOK_BAD, 0, false, false},
    {"[true1]", 0, AW_JTOK_BAD, 5, false, false},
    /* strings */
    {"\"abc", 0, AW_JTOK_BAD, 4, true, false},
    {"\"\\", 0, AW_JTOK_BAD, 2, true, false},
    {"\"\\x\"", 0, AW_JTOK_BAD, 2, false, false},
    {"\"\\U0041\"", 0, AW_JTOK_BAD, 2, false, false},
    {"\"\\'\"", 0, AW_JTOK_BAD, 2, false, false},
    {"\"\\u12\"", 0, AW_JTOK_BAD, 5, false, false},
    {"\"\\u12", 0, AW_JTOK_BAD, 5, true, false},
    {"\"\\u12g4\"", 0, AW_JTOK_BAD, 5, false, false},
    {"\"\\u\\u0041\"", 0, AW_JTOK_BAD, 3, false, false},
    {"\"a\tb\"", 0, AW_JTOK_BAD, 2, false, false},
    {"\"a\nb\"", 0, AW_JTOK_BAD, 2, false, false},
    {"\"a\x01\"", 0, AW_JTOK_BAD, 2, false, false},
    {"\"a\x1f\"", 0, AW_JTOK_BAD, 2, false, false},
    {"\"\\\t\"", 0, AW_JTOK_BAD, 2, false, false},
    {"\"a\0b\"", 5, AW_JTOK_BAD, 2, false, false},
    {"{\"a\tb\":1}", 0, AW_JTOK_BAD, 3, false, false},
    /* trailing data */
    {"1 2", 0, AW_JTOK_BAD, 2, false, false},
    {"{} {}", 0, AW_JTOK_BAD, 3, false, true},
    {"[][]", 0, AW_JTOK_BAD, 2, false, true},
    {"\"a\"\"b\"", 0, AW_JTOK_BAD, 3, false, true},
    {"[1] x", 0, AW_JTOK_BAD, 4, false, false},
    {"[1],", 0, AW_JTOK_BAD, 3, false, false},
    {"[1]\0", 4, AW_JTOK_BAD, 3, false, false},
    {"[1]}", 0, AW_JTOK_BAD, 3, false, false},
    /* a value right after a primitive: not JSON at that byte, rather than trailing */
    {"1\"a\"", 0, AW_JTOK_BAD, 1, false, false},
    {"true{}", 0, AW_JTOK_BAD, 4, false, false},
    {"-2[1]", 0, AW_JTOK_BAD, 2, false, false},
    {"\"a\"[1]", 0, AW_JTOK_BAD, 3, false, true},
};

/* All cases in one test: under ASan a forked test costs some 45 ms of leak checking at
 * its exit, far more than all of these cases together. */
START_TEST(test_language)
{
	for (size_t k = 0; k < sizeof lang / sizeof lang[0]; k++) {
		const struct lang_case *c = &lang[k];
		size_t n = c->len ? c->len : strlen(c->doc);
		struct aw_jtok_err err;
		int r = tokn(c->doc, n, &err);

		EXPECT(r == c->rc, "case %zu '%s': got %d, want %d", k, c->doc, r, c->rc);
		if (r != AW_JTOK_BAD)
			continue;
		EXPECT((long)err.pos == c->pos, "case %zu '%s': pos %zu, want %ld", k, c->doc,
		       err.pos, c->pos);
		EXPECT(err.early == c->early && err.trailing == c->trailing,
		       "case %zu '%s': early %d trailing %d", k, c->doc, err.early, err.trailing);
	}
}
END_TEST

/* A token as the tests expect it. */
struct want_tok {
	jsmntype_t type;
	int start, end, size, parent;
	bool esc;
};

/* doc's tokens are want[0..n), with esc or without; with a token array one short, the
 * tokenizer asks for more. */
static void expect_layout(const char *doc, const struct want_tok *want, int n)
{
	struct aw_jtok_err err;
	int r = tokn(doc, strlen(doc), &err);

	ck_assert_int_eq(r, n);
	for (int i = 0; i < r; i++) {
		ck_assert_msg(tok[i].type == want[i].type && tok[i].start == want[i].start &&
				  tok[i].end == want[i].end && tok[i].size == want[i].size &&
				  tok[i].parent == want[i].parent && esc[i] == want[i].esc,
			      "token %d: type %d [%d,%d) size %d parent %d esc %d", i, tok[i].type,
			      tok[i].start, tok[i].end, tok[i].size, tok[i].parent, esc[i]);
	}
	/* esc may be NULL */
	ck_assert_int_eq(aw_json_tokenize(doc, strlen(doc), tok, NTOK, NULL, DEPTH, &err), r);
	ck_assert_int_eq(aw_json_tokenize(doc, strlen(doc), tok, (unsigned)n - 1, esc, DEPTH, &err),
			 AW_JTOK_NOMEM);
}

/* The tokens of a small document: jsmn's layout (keys of size 1 under their object,
 * values under their key, elements under their array) and the esc flags. */
START_TEST(test_token_layout)
{
	static const struct want_tok want[] = {
	    {JSMN_OBJECT, 1, 44, 2, -1, false}, {JSMN_STRING, 3, 4, 1, 0, false},
	    {JSMN_ARRAY, 8, 23, 3, 1, false},	{JSMN_PRIMITIVE, 9, 10, 0, 2, false},
	    {JSMN_STRING, 13, 17, 0, 2, true},	{JSMN_OBJECT, 20, 22, 0, 2, false},
	    {JSMN_STRING, 26, 29, 1, 0, true},	{JSMN_OBJECT, 32, 43, 1, 6, false},
	    {JSMN_STRING, 34, 35, 1, 7, false}, {JSMN_PRIMITIVE, 38, 42, 0, 8, false},
	};

	expect_layout(" {\"a\" : [1, \"x\\ny\", {}], \"b\\\"\": {\"c\": true}} ", want,
		      (int)(sizeof want / sizeof want[0]));
}
END_TEST

/* The same for compact members, which the tokenizer reads by a path of their own: a
 * string or an integer right after its key, a `,"` right after a value. */
START_TEST(test_compact_layout)
{
	static const struct want_tok want[] = {
	    {JSMN_OBJECT, 0, 78, 5, -1, false},	    {JSMN_STRING, 2, 3, 1, 0, false},
	    {JSMN_STRING, 6, 7, 0, 1, false},	    {JSMN_STRING, 10, 11, 1, 0, false},
	    {JSMN_PRIMITIVE, 13, 15, 0, 3, false},  {JSMN_STRING, 17, 18, 1, 0, false},
	    {JSMN_OBJECT, 20, 60, 2, 5, false},	    {JSMN_STRING, 22, 23, 1, 6, false},
	    {JSMN_ARRAY, 25, 32, 2, 7, false},	    {JSMN_PRIMITIVE, 26, 27, 0, 8, false},
	    {JSMN_STRING, 29, 30, 0, 8, false},	    {JSMN_STRING, 34, 35, 1, 6, false},
	    {JSMN_STRING, 38, 58, 0, 11, false},    {JSMN_STRING, 62, 63, 1, 0, false},
	    {JSMN_PRIMITIVE, 65, 68, 0, 13, false}, {JSMN_STRING, 70, 71, 1, 0, false},
	    {JSMN_STRING, 74, 76, 0, 15, true},
	};

	expect_layout(
	    "{\"a\":\"b\",\"c\":12,\"d\":{\"e\":[1,\"f\"],\"g\":\"0123456789abcdefghij\"},"
	    "\"h\":3.5,\"i\":\"\\n\"}",
	    want, (int)(sizeof want / sizeof want[0]));
}
END_TEST

START_TEST(test_depth_and_nomem)
{
	char doc[600];
	struct aw_jtok_err err;
	int r;

	for (int d = 1; d <= 200; d++) {
		memset(doc, '[', (size_t)d);
		memset(doc + d, ']', (size_t)d);
		r = aw_json_tokenize(doc, 2 * (size_t)d, tok, NTOK, esc, 10, &err);
		if (d <= 10) {
			ck_assert_int_eq(r, d);
		} else {
			ck_assert_int_eq(r, AW_JTOK_DEEP);
			ck_assert_uint_eq(err.pos, 10);
		}
		/* max_depth is capped at 128 containers */
		r = aw_json_tokenize(doc, 2 * (size_t)d, tok, NTOK, esc, 1000, &err);
		ck_assert_int_eq(r, d <= 128 ? d : AW_JTOK_DEEP);
	}
	/* a full token array: NOMEM until cap is enough, then the tokens */
	r = aw_json_tokenize("[1,\"a\",{}]", 10, tok, 3, esc, DEPTH, &err);
	ck_assert_int_eq(r, AW_JTOK_NOMEM);
	r = aw_json_tokenize("[1,\"a\",{}]", 10, tok, 4, esc, DEPTH, &err);
	ck_assert_int_eq(r, 4);
	r = aw_json_tokenize("{}", 2, tok, 0, esc, DEPTH, &err);
	ck_assert_int_eq(r, AW_JTOK_NOMEM);
}
END_TEST

/* --- strings against a byte-at-a-time reference ------------------------------------ */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A document of one string after optional whitespace, read as RFC 8259 says, one byte
 * at a time: the outcome aw_json_tokenize must give. */
static int ref_string_doc(const char *s, size_t n, size_t *end, bool *e, struct aw_jtok_err *err)
{
	size_t i = 0;

	memset(err, 0, sizeof *err);
	*e = false;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	if (i >= n || s[i] != '"') {
		err->pos = i;
		err->early = i >= n;
		return AW_JTOK_BAD;
	}
	for (i++;; i++) {
		unsigned char c;
		if (i >= n)
			goto early;
		c = (unsigned char)s[i];
		if (c == '"')
			break;
		if (c < 0x20) {
			err->pos = i;
			return AW_JTOK_BAD;
		}
		if (c != '\\')
			continue;
		*e = true;
		if (++i >= n)
			goto early;
		if (strchr("\"\\/bfnrt", s[i]) && s[i] != '\0')
			continue;
		if (s[i] != 'u') {
			err->pos = i;
			return AW_JTOK_BAD;
		}
		for (int k = 0; k < 4; k++) {
			if (++i >= n)
				goto early;
			if (!is_hex(s[i])) {
				err->pos = i;
				return AW_JTOK_BAD;
			}
		}
	}
	*end = i;
	for (i++; i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'); i++)
		;
	if (i < n) {
		err->pos = i;
		err->trailing = s[i] == '"' || s[i] == '{' || s[i] == '[';
		return AW_JTOK_BAD;
	}
	return 1;
early:
	err->pos = n;
	err->early = true;
	return AW_JTOK_BAD;
}

static void check_string_doc(const char *s, size_t n)
{
	struct aw_jtok_err err, rerr;
	size_t end = 0;
	bool e;
	int want = ref_string_doc(s, n, &end, &e, &rerr);
	/* an exact-size copy, so that ASan sees any read past the end */
	char *copy = malloc(n ? n : 1);
	int r;

	EXPECT(copy, "out of memory");
	memcpy(copy, s, n);
	r = tokn(copy, n, &err);
	free(copy);
	EXPECT(r == want, "'%.*s': got %d, want %d", (int)n, s, r, want);
	if (r == 1) {
		EXPECT((size_t)tok[0].end == end && esc[0] == e, "'%.*s': end %d esc %d", (int)n, s,
		       tok[0].end, esc[0]);
	} else {
		EXPECT(err.pos == rerr.pos && err.early == rerr.early &&
			   err.trailing == rerr.trailing,
		       "'%.*s': pos %zu early %d trailing %d, want %zu %d %d", (int)n, s, err.pos,
		       err.early, err.trailing, rerr.pos, rerr.early, rerr.trailing);
	}
}

/* Strings of every length up to past four blocks, ending exactly at (and around) each
 * block boundary, at the end of the text or not, with and without a leading offset. */
START_TEST(test_string_lengths)
{
	char doc[300];

	for (size_t pad = 0; pad < 4; pad++) {
		for (size_t len = 0; len <= 200; len++) {
			size_t n = 0;
			memset(doc, ' ', pad);
			n = pad;
			doc[n++] = '"';
			for (size_t k = 0; k < len; k++)
				doc[n++] = (char)('a' + k % 26);
			doc[n++] = '"';
			check_string_doc(doc, n);     /* ends the text */
			check_string_doc(doc, n - 1); /* cut: no closing quote */
			doc[n++] = ' ';
			check_string_doc(doc, n);
			/* the last byte an escape, a control byte, a backslash run */
			if (len >= 2) {
				doc[pad + len - 1] = '\\';
				check_string_doc(doc, n - 1);
				check_string_doc(doc, n);
				doc[pad + len - 1] = '\\';
				doc[pad + len] = '\\';
				check_string_doc(doc, n);
				doc[pad + len] = '\x1f';
				check_string_doc(doc, n);
			}
		}
	}
}
END_TEST

/* Runs of backslashes of every length, starting at every offset in a block, after an
 * escape or not (block scanning starts at a string's first backslash, so only a run
 * after an earlier escape can cross a block boundary at any offset): an even run is
 * that many escaped backslashes, an odd one escapes the quote after it. */
START_TEST(test_backslash_runs)
{
	static char doc[700];

	for (size_t lead = 0; lead < 3; lead++) {
		for (size_t off = 0; off < 140; off++) {
			for (size_t run = 0; run <= 140; run += (run < 10 ? 1 : 7)) {
				size_t n = 0;
				doc[n++] = '"';
				memcpy(doc + n, "\\n\\n", 2 * lead);
				n += 2 * lead;
				memset(doc + n, 'x', off);
				n += off;
				memset(doc + n, '\\', run);
				n += run;
				doc[n++] = '"';
				check_string_doc(doc, n);
				doc[n++] = 'y';
				doc[n++] = '"';
				check_string_doc(doc, n);
			}
		}
	}
	/* long runs */
	for (size_t run = 500; run < 520; run++) {
		doc[0] = '"';
		memset(doc + 1, '\\', run);
		doc[run + 1] = '"';
		check_string_doc(doc, run + 2);
	}
}
END_TEST

/* Long strings of valid escapes and plain bytes (so that they run over several
 * blocks), now and then with one wrong byte: against the reference. */
START_TEST(test_escape_blocks)
{
	static const char *const parts[] = {"\\\\", "\\\"", "\\n",	"\\/", "\\u00e9",
					    "a",    "bc",   "\\\\\\\\", " ",   "\xc3\xa9"};
	static const char wrong[] = {'"', '\\', '\x01', 'u', 'x'};
	char doc[1200];

	rng_state = 0x6a09e667f3bcc909ULL;
	for (int iter = 0; iter < 30000; iter++) {
		size_t n = 0, k = 20 + rnd(150);
		doc[n++] = '"';
		while (k--) {
			const char *p = parts[rnd(sizeof parts / sizeof parts[0])];
			memcpy(doc + n, p, strlen(p));
			n += strlen(p);
		}
		doc[n++] = '"';
		if (iter % 3 == 0)
			doc[1 + rnd((uint32_t)n - 1)] = wrong[rnd(sizeof wrong)];
		check_string_doc(doc, n);
	}
}
END_TEST

/* \u with every hex digit bad or missing, at every offset in a block. */
START_TEST(test_unicode_escapes)
{
	static const char bad[] = {'g', '"', '\\', ' ', '\x01', 'G', '/', ':', '@', '`'};
	char doc[120];

	for (size_t off = 0; off < 70; off++) {
		for (int k = 0; k <= 4; k++) {
			size_t n = 0;
			doc[n++] = '"';
			memset(doc + n, 'x', off);
			n += off;
			memcpy(doc + n, "\\uAf09", 6);
			n += 6;
			doc[n++] = '"';
			check_string_doc(doc, n);
			check_string_doc(doc, n - 1 - (size_t)(4 - k) - 1);
			if (k == 4)
				continue;
			for (size_t b = 0; b < sizeof bad; b++) {
				doc[off + 3 + (size_t)k] = bad[b];
				check_string_doc(doc, n);
			}
		}
	}
}
END_TEST

/* Random strings over the bytes that matter (quotes, backslashes, escape letters, hex,
 * controls, UTF-8), of random lengths: against the reference. */
START_TEST(test_string_random)
{
	static const char alpha[] = "\\\\\\\\\"aaaaunbt/0F9 \x01\t\x7f\xc3\xa9";
	char doc[400];

	rng_state = 0x9e3779b97f4a7c15ULL;
	for (int iter = 0; iter < 100000; iter++) {
		size_t n = 0, len = rnd(iter % 10 == 0 ? 300 : 80);
		doc[n++] = '"';
		for (size_t k = 0; k < len; k++)
			doc[n++] = alpha[rnd(sizeof alpha - 1)];
		if (rnd(4))
			doc[n++] = '"';
		check_string_doc(doc, n);
	}
}
END_TEST

/* --- the escaped form ---------------------------------------------------------------- */

/* The contract's failures, through Check with their message. */
__attribute__((format(printf, 1, 2))) static void contract_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ck_abort_msg("%s", msg);
}

/* Tokenize body[0..n) (a valid string body) both ways and check the contract the event
 * view relies on; returns aw_json_tokenize_escaped's result, its tokens in tok/esc. */
static int escaped_check(const char *body, size_t n, int max_depth)
{
	const struct aw_jtok_contract c = {tok, tok2, esc, esc2, NTOK, max_depth, contract_fail};

	return aw_jtc_check(&c, body, n);
}

/* The escaped form alone, on a C string. */
static int etok(const char *body, unsigned cap, struct aw_jtok_err *err)
{
	return aw_json_tokenize_escaped(body, strlen(body), tok, cap, esc, DEPTH, err);
}

static int esc_check(const char *body)
{
	return escaped_check(body, strlen(body), DEPTH);
}

/* Bodies written as they appear between a record's quotes, and what the escaped form
 * makes of them. */
static const struct {
	const char *body;
	int rc;
} escaped_bodies[] = {
    /* what properties_s holds */
    {"{\\\"apiName\\\":\\\"Azure OpenAI API\\\",\\\"requestTime\\\":"
     "638857160619644472,\\\"ok\\\":true,\\\"x\\\":null}",
     9},
    /* pretty-printed, with the body's \n \t \r as whitespace */
    {"{\\n\\t\\\"a\\\": [1, 2.5, -0],\\r\\n\\t\\\"b\\\" :\\t{}\\n}", 8},
    {"\\n [ ] \\t", 1},
    /* compact members, and where the member path hands over */
    {"{\\\"a\\\":\\\"b\\\",\\\"c\\\":1286,\\\"d\\\":\\\"0123456789abcdefghij\\\",\\\"e\\\":1.5}",
     9},
    {"{\\\"a\\\": \\\"x\\\" ,\\\"b\\\":12 ,\\\"c\\\":[\\\"y\\\"]}", 8},
    {"{\\\"a\\\":\\\"x\\\\\\\"y\\\",\\\"b\\\":2}", 5},
    {"{\\\"a\\\":12", AW_JTOK_BAD},
    {"{\\\"a\\\":\\\"x\\\",}", AW_JTOK_BAD},
    {"{\\\"a\\\":01}", AW_JTOK_BAD},
    /* a string ending in the document's backslash, and empty ones */
    {"{\\\"\\\\\\\\\\\":\\\"\\\"}", 3},
    {"\\\"\\\"", 1},
    {"\\\"abc\\\"", 1},
    {"-1.5e3", 1},
    {"true", 1},
    /* \u anywhere: decode first */
    {"[1,\\u0020 2]", AW_JTOK_DECODE},
    {"[\\\"\\u0041\\\"]", AW_JTOK_DECODE},
    {"1\\u0030", AW_JTOK_DECODE},
    {"tr\\u0075e", AW_JTOK_DECODE},
    {"\\u005b]", AW_JTOK_DECODE},
    {"[\\\"\\\\u00\\u00341\\\"]", AW_JTOK_DECODE},
    /* decodes to something that is not JSON */
    {"[\\\"a\\nb\\\"]", AW_JTOK_BAD},  /* a newline in a string */
    {"[\\\"a\\tb\\\"]", AW_JTOK_BAD},  /* a tab in a string */
    {"[\\\"a\\\\x\\\"]", AW_JTOK_BAD}, /* \x */
    {"[\\\"a\\\\u00g0\\\"]", AW_JTOK_BAD},
    {"[\\\"a\\\\", AW_JTOK_BAD},
    {"[\\\"a", AW_JTOK_BAD},
    {"[\\/]", AW_JTOK_BAD},    /* a '/' outside a string */
    {"[\\\\]", AW_JTOK_BAD},   /* a backslash outside */
    {"[1,\\b2]", AW_JTOK_BAD}, /* \b is no whitespace */
    {"[1\\f]", AW_JTOK_BAD},
    {"{\\\"a\\\" 1}", AW_JTOK_BAD},
    {"[1,]", AW_JTOK_BAD},
    {"", AW_JTOK_BAD},
    {"\\n\\t ", AW_JTOK_BAD},
    {"{} {}", AW_JTOK_BAD},
    {"01", AW_JTOK_BAD},
    {"[\\\"a\\\"\\\"b\\\"]", AW_JTOK_BAD},
};

START_TEST(test_escaped_bodies)
{
	struct aw_jtok_err err;

	for (size_t k = 0; k < sizeof escaped_bodies / sizeof escaped_bodies[0]; k++) {
		int r = esc_check(escaped_bodies[k].body);
		EXPECT(r == escaped_bodies[k].rc, "'%s': got %d, want %d", escaped_bodies[k].body,
		       r, escaped_bodies[k].rc);
	}
	/* the document's own escapes: \" (raw \\\"), \\ (raw \\\\), \/ (raw \\/), \n (raw
	 * \\n), \u (raw \\u) and a body's \/ inside a string */
	ck_assert_int_eq(esc_check("[\\\"x\\\\\\\"y\\\", \\\"p\\\\\\\\q\\\", \\\"\\\\/\\/\\\", "
				   "\\\"a\\\\nb\\\\tc\\\", \\\"\\\\u0041\\\\uD834\\\\udd1e\\\"]"),
			 6);
	ck_assert_int_eq(tok[1].end - tok[1].start, 6); /* the raw x\\\"y */

	/* where: offsets into the body */
	ck_assert_int_eq(etok("{\\\"a\\\" 1}", NTOK, &err), AW_JTOK_BAD);
	ck_assert_uint_eq(err.pos, 7);
	ck_assert_int_eq(etok("[1,", NTOK, &err), AW_JTOK_BAD);
	ck_assert(err.early && err.pos == 3);
	ck_assert_int_eq(etok("[] \\\"x\\\"", NTOK, &err), AW_JTOK_BAD);
	ck_assert(err.trailing && err.pos == 3);

	/* not a string body at all (a raw quote or control byte): rejected, not misread */
	ck_assert_int_eq(etok("[\"a\"]", NTOK, &err), AW_JTOK_BAD);
	ck_assert_int_eq(etok("[\\\"a\"\\\"]", NTOK, &err), AW_JTOK_BAD);
	ck_assert_int_eq(etok("[1,\t2]", NTOK, &err), AW_JTOK_BAD);
	ck_assert_int_eq(etok("[\\\"a\x01\\\"]", NTOK, &err), AW_JTOK_BAD);
	ck_assert_int_eq(etok("[1]\\", NTOK, &err), AW_JTOK_BAD);

	/* depth and a full token array */
	ck_assert_int_eq(escaped_check("[[{\\\"a\\\":[1]}]]", 15, 4), 6);
	ck_assert_int_eq(escaped_check("[[{\\\"a\\\":[1]}]]", 15, 3), AW_JTOK_DEEP);
	ck_assert_int_eq(etok("[1,2]", 2, &err), AW_JTOK_NOMEM);
}
END_TEST

/* --- generated documents, both ways -------------------------------------------------- */

struct gen {
	char *s;
	size_t n, cap;
};

static void put(struct gen *g, const char *s, size_t n)
{
	EXPECT(g->n + n <= g->cap, "generated text too long");
	memcpy(g->s + g->n, s, n);
	g->n += n;
}

static void ws(struct gen *g)
{
	static const char w[] = " \n\t\r";
	while (rnd(4) == 0)
		put(g, &w[rnd(4)], 1);
}

static void gen_string(struct gen *g)
{
	static const char *const parts[] = {"a",
					    "bc",
					    "Azure OpenAI",
					    "\\\"",
					    "\\\\",
					    "\\/",
					    "/",
					    "\\n",
					    "\\t",
					    "\\b",
					    "\\f",
					    "\\r",
					    "\\u0041",
					    "\\uD834\\uDD1E",
					    "\\u00e9",
					    "\xc3\xa9",
					    " ",
					    ":",
					    ",",
					    "{",
					    "]",
					    "0",
					    "\\u005c",
					    "\\u0022"};
	size_t k = rnd(8);

	put(g, "\"", 1);
	while (k--) {
		const char *p = parts[rnd(sizeof parts / sizeof parts[0])];
		put(g, p, strlen(p));
	}
	put(g, "\"", 1);
}

static void gen_value(struct gen *g, int depth)
{
	static const char *const prims[] = {
	    "0", "-1", "12.5", "1e10", "-0.25E-3", "true", "false", "null", "638857160619644472"};
	unsigned kind = rnd(depth > 5 ? 3 : 5);

	ws(g);
	if (kind == 0) {
		gen_string(g);
	} else if (kind == 1 || kind == 2) {
		const char *p = prims[rnd(sizeof prims / sizeof prims[0])];
		put(g, p, strlen(p));
	} else {
		bool obj = kind == 3;
		size_t k = rnd(5);
		put(g, obj ? "{" : "[", 1);
		for (size_t i = 0; i < k; i++) {
			if (i)
				put(g, ",", 1);
			if (obj) {
				ws(g);
				gen_string(g);
				ws(g);
				put(g, ":", 1);
			}
			gen_value(g, depth + 1);
		}
		ws(g);
		put(g, obj ? "}" : "]", 1);
	}
	ws(g);
}

/* text as a string body: quotes and backslashes escaped, whitespace as \n \t \r, and
 * now and then a byte as \u00XX or '/' as \/ (what other writers do) */
static size_t encode_body(const char *s, size_t n, char *o, bool allow_u)
{
	static const char hex[] = "0123456789abcdef";
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (allow_u && rnd(200) == 0) {
			memcpy(o + k, "\\u00", 4);
			o[k + 4] = hex[c >> 4];
			o[k + 5] = hex[c & 15];
			k += 6;
		} else if (c == '"' || c == '\\' || (c == '/' && rnd(2))) {
			o[k++] = '\\';
			o[k++] = (char)c;
		} else if (c == '\n' || c == '\t' || c == '\r') {
			o[k++] = '\\';
			o[k++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
		} else {
			o[k++] = (char)c;
		}
	}
	return k;
}

START_TEST(test_escaped_generated)
{
	static char text[8192], body[8 * 8192];
	int accepted = 0, decode = 0, rejected = 0;

	rng_state = 0x243f6a8885a308d3ULL;
	for (int iter = 0; iter < 20000; iter++) {
		struct gen g = {.s = text, .n = 0, .cap = sizeof text - 16};
		size_t n;
		int r;
		gen_value(&g, 0);
		/* now and then a broken document: a byte dropped, doubled or changed */
		if (g.n > 0 && rnd(4) == 0) {
			size_t at = rnd((uint32_t)g.n);
			switch (rnd(3)) {
			case 0:
				memmove(text + at, text + at + 1, g.n - at - 1);
				g.n--;
				break;
			case 1:
				memmove(text + at + 1, text + at, g.n - at);
				g.n++;
				break;
			default:
				text[at] = "\"\\,:{}[] x1"[rnd(11)];
			}
		}
		n = encode_body(text, g.n, body, iter % 3 == 0);
		r = escaped_check(body, n, 6);
		if (r >= 0)
			accepted++;
		else if (r == AW_JTOK_DECODE)
			decode++;
		else
			rejected++;
	}
	/* the generator exercises all three outcomes */
	ck_assert_int_gt(accepted, 5000);
	ck_assert_int_gt(decode, 500);
	ck_assert_int_gt(rejected, 500);
}
END_TEST

/* Every body of up to 5 bytes over an alphabet of the bytes that matter: the escaped
 * form never accepts what the decoded text is not, nor differs from it. */
START_TEST(test_escaped_exhaustive)
{
	static const char alpha[] = "\\\"[]{}1,:nt u";
	const size_t na = sizeof alpha - 1;
	char body[8];

	for (size_t len = 0; len <= 5; len++) {
		size_t total = 1;
		for (size_t k = 0; k < len; k++)
			total *= na;
		for (size_t code = 0; code < total; code++) {
			size_t c = code;
			for (size_t k = 0; k < len; k++) {
				body[k] = alpha[c % na];
				c /= na;
			}
			/* only valid string bodies: quotes escaped, escapes whole */
			char q[10];
			q[0] = '"';
			memcpy(q + 1, body, len);
			q[len + 1] = '"';
			if (aw_json_tokenize(q, len + 2, tok, NTOK, NULL, DEPTH,
					     &(struct aw_jtok_err){0}) != 1)
				continue;
			escaped_check(body, len, DEPTH);
		}
	}
}
END_TEST

static Suite *json_tok_suite(void)
{
	Suite *s = suite_create("json_tok");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_language);
	tcase_add_test(tc, test_token_layout);
	tcase_add_test(tc, test_compact_layout);
	tcase_add_test(tc, test_depth_and_nomem);
	tcase_add_test(tc, test_string_lengths);
	tcase_add_test(tc, test_backslash_runs);
	tcase_add_test(tc, test_escape_blocks);
	tcase_add_test(tc, test_unicode_escapes);
	tcase_add_test(tc, test_string_random);
	tcase_add_test(tc, test_escaped_bodies);
	tcase_add_test(tc, test_escaped_generated);
	tcase_add_test(tc, test_escaped_exhaustive);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(json_tok_suite)
