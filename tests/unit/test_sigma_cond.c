/* Sigma conditions: what a rule author sees (parse results as canonical text, error
 * messages with columns) and what the engine sees (truth values, short-circuiting,
 * required/used identifier sets). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/sigma_cond.h"
#include "testutil.h"

/* Limits documented in sigma_cond.c. */
#define MAX_DEPTH 64
#define MAX_LEN	  16384

/* a=0 b=1 c=2 d=3 sel1=4 sel2=5 sel_x=6 filter=7 filter-main=8 _hidden=9 _filt_1=10
 * keywords=11 */
static const char *const ID[] = {"a",		"b",	   "c",	      "d",
				 "sel1",	"sel2",	   "sel_x",   "filter",
				 "filter-main", "_hidden", "_filt_1", "keywords"};
#define NID (sizeof ID / sizeof ID[0])

static struct aw_cond *compile_with(const char *text, const char *const *ids, size_t n)
{
	struct aw_error err = {{0}};
	struct aw_cond *c = NULL;
	int rc = aw_cond_compile(text, ids, n, &c, &err);
	ck_assert_msg(rc == 0, "'%s' failed: %s", text, err.msg);
	ck_assert_ptr_nonnull(c);
	return c;
}

static struct aw_cond *compile(const char *text)
{
	return compile_with(text, ID, NID);
}

static void assert_desc_with(const char *text, const char *const *ids, size_t n, const char *want)
{
	struct aw_cond *c = compile_with(text, ids, n);
	char *d = aw_cond_describe(c, ids);
	ck_assert_ptr_nonnull(d);
	ck_assert_msg(strcmp(d, want) == 0, "'%s' -> '%s', want '%s'", text, d, want);
	free(d);
	aw_cond_free(c);
}

static void assert_desc(const char *text, const char *want)
{
	assert_desc_with(text, ID, NID, want);
}

static void assert_err_with(const char *text, const char *const *ids, size_t n, const char *want)
{
	struct aw_error err = {{0}};
	struct aw_cond *c = (struct aw_cond *)1;
	int rc = aw_cond_compile(text, ids, n, &c, &err);
	ck_assert_msg(rc < 0, "'%s' compiled but should fail with: %s", text, want);
	ck_assert_ptr_null(c);
	ck_assert_msg(strcmp(err.msg, want) == 0, "'%s':\n got  '%s'\n want '%s'", text, err.msg,
		      want);
}

static void assert_err(const char *text, const char *want)
{
	assert_err_with(text, ID, NID, want);
}

/* Evaluation: identifier values come from a bit mask; every call is logged. */
struct calls {
	unsigned mask;
	size_t n;
	size_t order[64];
};

static bool ident_cb(void *ud, size_t idx)
{
	struct calls *c = ud;

	ck_assert_uint_lt(idx, NID);
	if (c->n < 64)
		c->order[c->n] = idx;
	c->n++;
	return (c->mask >> idx) & 1u;
}

static bool eval_mask(const struct aw_cond *c, unsigned mask)
{
	struct calls k = {.mask = mask};
	return aw_cond_eval(c, ident_cb, &k);
}

#define A(m) (((m) >> 0) & 1u)
#define B(m) (((m) >> 1) & 1u)
#define C(m) (((m) >> 2) & 1u)
#define D(m) (((m) >> 3) & 1u)

/* --- precedence and structure ------------------------------------------------------- */

START_TEST(precedence_table)
{
	assert_desc("a", "a");
	assert_desc("a and b or c", "((a and b) or c)");
	assert_desc("a or b and c", "(a or (b and c))");
	assert_desc("a and not b or c", "((a and (not b)) or c)");
	assert_desc("not a and b", "((not a) and b)");
	assert_desc("not a or b", "((not a) or b)");
	assert_desc("a or not b and c", "(a or ((not b) and c))");
	assert_desc("not a and not b or not c and d", "(((not a) and (not b)) or ((not c) and d))");
	assert_desc("a or b and c or d", "(a or (b and c) or d)");
	assert_desc("a and b or c and d", "((a and b) or (c and d))");
	/* `X of` binds tighter than not/and/or. */
	assert_desc("not 1 of sel* and a", "((not (sel1 or sel2 or sel_x)) and a)");
	assert_desc("a and all of filter* or b", "((a and (filter and filter-main)) or b)");
	assert_desc("1 of sel* or all of filter*",
		    "((sel1 or sel2 or sel_x) or (filter and filter-main))");
}
END_TEST

START_TEST(associativity_and_chains)
{
	/* and/or are left-associative; a chain of one operator is a single n-ary node. */
	assert_desc("a and b and c", "(a and b and c)");
	assert_desc("a or b or c or d", "(a or b or c or d)");
	assert_desc("a and b and c or d", "((a and b and c) or d)");
	assert_desc("a or b or c and d", "(a or b or (c and d))");
	/* Explicit grouping is kept as written. */
	assert_desc("a and (b and c)", "(a and (b and c))");
	assert_desc("(a or b) or c", "((a or b) or c)");

	/* Operands are evaluated left to right. */
	struct aw_cond *c = compile("a and b and c and d");
	struct calls k = {.mask = 0xF};
	ck_assert(aw_cond_eval(c, ident_cb, &k));
	ck_assert_uint_eq(k.n, 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_uint_eq(k.order[i], i);
	aw_cond_free(c);
}
END_TEST

START_TEST(parentheses)
{
	assert_desc("(a or b) and c", "((a or b) and c)");
	assert_desc("a and (b or c)", "(a and (b or c))");
	assert_desc("((a))", "a");
	assert_desc("( ( a ) )", "a");
	assert_desc("not (a or b)", "(not (a or b))");
	assert_desc("not (a) and b", "((not a) and b)");
	assert_desc("(a or b) and (c or not d)", "((a or b) and (c or (not d)))");
	assert_desc("(a)and(b)", "(a and b)");
	assert_desc("\ta\nand\r\n b ", "(a and b)");
	assert_desc("not (1 of sel*)", "(not (sel1 or sel2 or sel_x))");
}
END_TEST

START_TEST(double_not)
{
	assert_desc("not not a", "(not (not a))");
	assert_desc("not not not a", "(not (not (not a)))");
	struct aw_cond *c = compile("not not a");
	ck_assert(eval_mask(c, 1));
	ck_assert(!eval_mask(c, 0));
	aw_cond_free(c);
}
END_TEST

START_TEST(hyphenated_identifiers)
{
	assert_desc("filter-main and not filter", "(filter-main and (not filter))");
	assert_desc("a and filter-main", "(a and filter-main)");
	static const char *const ids[] = {"sel-1", "-x-", "9lives"};
	assert_desc_with("sel-1 or -x- or 9lives", ids, 3, "(sel-1 or -x- or 9lives)");
	assert_desc_with("1 of sel-*", ids, 3, "sel-1");
	assert_err_with(
	    "sel-2", ids, 3,
	    "condition column 1: unknown identifier 'sel-2' (known: sel-1, -x-, 9lives)");
}
END_TEST

START_TEST(quantifier_words_as_identifiers)
{
	/* Only a quantifier followed by `of` starts a selector. */
	static const char *const ids[] = {"any", "all", "1"};
	assert_desc_with("any and all or 1", ids, 3, "((any and all) or 1)");
	assert_desc_with("1 of any", ids, 3, "any");
	assert_desc_with("all of a*", ids, 3, "(any and all)");
}
END_TEST

/* --- selectors ---------------------------------------------------------------------- */

START_TEST(selector_forms)
{
	assert_desc("1 of sel*", "(sel1 or sel2 or sel_x)");
	assert_desc("any of sel*", "(sel1 or sel2 or sel_x)");
	assert_desc("all of sel*", "(sel1 and sel2 and sel_x)");
	assert_desc("1 of filter*", "(filter or filter-main)");
	/* A pattern without `*` is a full, exact match. */
	assert_desc("1 of filter", "filter");
	assert_desc("all of filter", "filter");
	/* `*` anywhere; full match. */
	assert_desc("1 of *1", "sel1");
	assert_desc("1 of s*l*", "(sel1 or sel2 or sel_x)");
	assert_desc("1 of f*r-*", "filter-main");
	assert_desc("1 of *e*", "(sel1 or sel2 or sel_x or filter or filter-main or keywords)");
	assert_desc("1 of ***c**", "c");
}
END_TEST

START_TEST(selector_them)
{
	assert_desc(
	    "1 of them",
	    "(a or b or c or d or sel1 or sel2 or sel_x or filter or filter-main or keywords)");
	assert_desc("all of them",
		    "(a and b and c and d and sel1 and sel2 and sel_x and filter and "
		    "filter-main and keywords)");
	assert_desc("any of them and not a",
		    "((a or b or c or d or sel1 or sel2 or sel_x or filter or filter-main or "
		    "keywords) and (not a))");
	static const char *const only_hidden[] = {"_x", "_y"};
	assert_err_with("1 of them", only_hidden, 2,
			"condition column 1: '1 of them' matches no identifier (them excludes "
			"identifiers starting with '_')");
}
END_TEST

START_TEST(selector_underscore)
{
	/* Patterns that do not start with `_` never match `_` identifiers... */
	assert_desc("1 of *", "(a or b or c or d or sel1 or sel2 or sel_x or filter or filter-main "
			      "or keywords)");
	assert_desc("1 of *1", "sel1"); /* not _filt_1 */
	assert_desc("1 of *i*", "(filter or filter-main)");
	/* ...patterns that do start with `_` do. */
	assert_desc("1 of _*", "(_hidden or _filt_1)");
	assert_desc("all of _f*", "_filt_1");
	assert_desc("1 of _*1", "_filt_1");
	/* And a `_` identifier can always be named directly. */
	assert_desc("a and not _hidden", "(a and (not _hidden))");
}
END_TEST

START_TEST(selector_all_vs_one)
{
	struct aw_cond *one = compile("1 of sel*");
	struct aw_cond *all = compile("all of sel*");
	const unsigned sel_bits = (1u << 4) | (1u << 5) | (1u << 6);

	for (unsigned m = 0; m < 8; m++) {
		unsigned mask = m << 4;
		ck_assert_int_eq(eval_mask(one, mask), m != 0);
		ck_assert_int_eq(eval_mask(all, mask), m == 7);
		/* Identifiers outside the pattern do not matter. */
		ck_assert_int_eq(eval_mask(one, mask | ~sel_bits), m != 0);
		ck_assert_int_eq(eval_mask(all, mask | ~sel_bits), m == 7);
	}
	aw_cond_free(one);
	aw_cond_free(all);
}
END_TEST

START_TEST(selector_empty)
{
	assert_err("1 of zzz*", "condition column 1: '1 of zzz*' matches no identifier");
	assert_err("a and all of nope*",
		   "condition column 7: 'all of nope*' matches no identifier");
	assert_err("any of sel", "condition column 1: 'any of sel' matches no identifier");
	/* `_`-identifiers are not reachable from a pattern without `_`. */
	assert_err("1 of *hidden", "condition column 1: '1 of *hidden' matches no identifier");
	assert_err_with("1 of *", NULL, 0, "condition column 1: '1 of *' matches no identifier");
}
END_TEST

/* --- errors ------------------------------------------------------------------------- */

START_TEST(error_unknown_identifier)
{
	static const char *const ids[] = {"selection", "filter"};
	assert_err_with("not filter or selction", ids, 2,
			"condition column 15: unknown identifier 'selction' (known: selection, "
			"filter)");
	assert_err_with("Selection", ids, 2,
			"condition column 1: unknown identifier 'Selection' (did you mean "
			"'selection'?) (known: selection, filter)");
	assert_err_with("a", NULL, 0,
			"condition column 1: unknown identifier 'a' (the rule defines none)");
	/* Upper-case keywords are identifiers, then unknown: say why. */
	assert_err_with(
	    "NOT selection", ids, 2,
	    "condition column 1: unknown identifier 'NOT' (keywords are lower-case: use "
	    "'not') (known: selection, filter)");
	assert_err_with("selection and Them", ids, 2,
			"condition column 15: unknown identifier 'Them' (keywords are lower-case: "
			"use 'them') (known: selection, filter)");
}
END_TEST

START_TEST(error_unknown_identifier_truncated)
{
	char names[200][16];
	const char *ids[200];
	struct aw_error err = {{0}};
	struct aw_cond *c = NULL;

	for (size_t i = 0; i < 200; i++) {
		snprintf(names[i], sizeof names[i], "identifier_%zu", i);
		ids[i] = names[i];
	}
	ck_assert_int_lt(aw_cond_compile("identifier_1 or nope", ids, 200, &c, &err), 0);
	ck_assert_ptr_null(c);
	ck_assert_msg(strncmp(err.msg,
			      "condition column 17: unknown identifier 'nope' (known: "
			      "identifier_0, identifier_1, ",
			      82) == 0,
		      "%s", err.msg);
	ck_assert_msg(strstr(err.msg, " more)") != NULL, "%s", err.msg);
	ck_assert_uint_lt(strlen(err.msg), 400);

	/* A very long unknown identifier is echoed shortened. */
	char text[300];
	memset(text, 'x', 200);
	text[200] = '\0';
	ck_assert_int_lt(aw_cond_compile(text, ids, 1, &c, &err), 0);
	ck_assert_msg(
	    strstr(err.msg,
		   "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'") != NULL,
	    "%s", err.msg);
}
END_TEST

START_TEST(error_keywords_are_lower_case)
{
	assert_err("a AND b", "condition column 3: expected 'and', 'or' or the end of the "
			      "condition, found 'AND' (keywords are lower-case: use 'and')");
	assert_err("a Or b",
		   "condition column 3: expected 'and', 'or' or the end of the condition, "
		   "found 'Or' (keywords are lower-case: use 'or')");
	assert_err("ALL of sel*", "condition column 1: only 1, any and all are allowed before "
				  "'of', found 'ALL' (keywords are lower-case: use 'all')");
}
END_TEST

START_TEST(error_syntax)
{
	assert_err("", "condition column 1: empty condition");
	assert_err("   \n ", "condition column 1: empty condition");
	assert_err("(a and b",
		   "condition column 9: missing ')' to close '(' at column 1, found end "
		   "of condition");
	assert_err("a and ((b or c) and d", "condition column 22: missing ')' to close '(' at "
					    "column 7, found end of condition");
	assert_err("(a b)", "condition column 4: missing ')' to close '(' at column 1, found 'b'");
	assert_err("a)", "condition column 2: unexpected ')' without a matching '('");
	assert_err("a b", "condition column 3: expected 'and', 'or' or the end of the condition, "
			  "found 'b'");
	assert_err("a and b c", "condition column 9: expected 'and', 'or' or the end of the "
				"condition, found 'c'");
	assert_err("a and", "condition column 6: expected an identifier, 'not', '(' or '1 of'/'all "
			    "of' after 'and', found end of condition");
	assert_err("a or and b", "condition column 6: expected an identifier, 'not', '(' or '1 "
				 "of'/'all of' after 'or', found 'and'");
	assert_err("not", "condition column 4: expected an identifier, 'not', '(' or '1 of'/'all "
			  "of' after 'not', found end of condition");
	assert_err("()",
		   "condition column 2: expected an identifier, 'not', '(' or '1 of'/'all of' "
		   "after '(', found ')'");
	assert_err("and a", "condition column 1: expected an identifier, 'not', '(' or '1 of'/'all "
			    "of' at the start, found 'and'");
	assert_err(")", "condition column 1: expected an identifier, 'not', '(' or '1 of'/'all of' "
			"at the start, found ')'");
	assert_err("sel*", "condition column 1: pattern 'sel*' is only allowed after '1 of', 'any "
			   "of' or 'all of'");
	assert_err("a and them", "condition column 7: 'them' is only allowed after '1 of', 'any "
				 "of' or 'all of'");
}
END_TEST

START_TEST(error_selector_syntax)
{
	assert_err("of sel*",
		   "condition column 1: 'of' needs a quantifier before it: 1, any or all");
	assert_err("a and of them", "condition column 7: 'of' needs a quantifier before it: 1, any "
				    "or all");
	assert_err("2 of sel*", "condition column 1: only 1, any and all are allowed before 'of', "
				"found '2'");
	assert_err("a or 10 of them", "condition column 6: only 1, any and all are allowed before "
				      "'of', found '10'");
	assert_err("sel1 of them", "condition column 1: only 1, any and all are allowed before "
				   "'of', found 'sel1'");
	assert_err("1 of",
		   "condition column 5: expected 'them' or an identifier pattern after 'of', "
		   "found end of condition");
	assert_err("1 of (a)", "condition column 6: expected 'them' or an identifier pattern after "
			       "'of', found '('");
	assert_err("all of and", "condition column 8: expected 'them' or an identifier pattern "
				 "after 'of', found 'and'");
	assert_err("1 of sel* of", "condition column 11: expected 'and', 'or' or the end of the "
				   "condition, found 'of'");
}
END_TEST

START_TEST(error_characters)
{
	assert_err("a and $", "condition column 7: unexpected character '$'");
	assert_err("a | count() > 5", "condition column 3: unexpected character '|'");
	assert_err("1 of sel?", "condition column 9: unexpected character '?'");
	assert_err("a and \"b\"", "condition column 7: unexpected character '\"'");
	assert_err("a\x01", "condition column 2: unexpected character '\\x01'");
	assert_err("a or \xc3\xa9", "condition column 6: unexpected character '\xc3\xa9'");
	assert_err("a or \xc3", "condition column 6: unexpected character '\\xC3'");
	assert_err("a or \xff", "condition column 6: unexpected character '\\xFF'");
	/* The first problem from the left wins. */
	assert_err("a and ) $", "condition column 7: expected an identifier, 'not', '(' or '1 "
				"of'/'all of' after 'and', found ')'");
}
END_TEST

/* --- limits ------------------------------------------------------------------------- */

static char *nested(unsigned levels, const char *open, const char *close)
{
	size_t ol = strlen(open), cl = strlen(close);
	char *s = malloc(levels * (ol + cl) + 2);
	size_t n = 0;

	ck_assert_ptr_nonnull(s);
	for (unsigned i = 0; i < levels; i++, n += ol)
		memcpy(s + n, open, ol);
	s[n++] = 'a';
	for (unsigned i = 0; i < levels; i++, n += cl)
		memcpy(s + n, close, cl);
	s[n] = '\0';
	return s;
}

START_TEST(limit_depth)
{
	char *ok = nested(MAX_DEPTH, "(", ")");
	struct aw_cond *c = compile(ok);
	ck_assert(eval_mask(c, 1));
	aw_cond_free(c);
	free(ok);

	char *deep = nested(MAX_DEPTH + 1, "(", ")");
	assert_err(deep, "condition column 65: condition nested deeper than 64 levels (parentheses "
			 "and 'not')");
	free(deep);

	/* `not` counts too, alone and mixed with parentheses. */
	char *nots = nested(MAX_DEPTH, "not ", "");
	c = compile(nots);
	ck_assert(eval_mask(c, 1)); /* even number of nots */
	ck_assert(!eval_mask(c, 0));
	aw_cond_free(c);
	free(nots);
	nots = nested(MAX_DEPTH + 1, "not ", "");
	assert_err(nots, "condition column 257: condition nested deeper than 64 levels "
			 "(parentheses and 'not')");
	free(nots);

	char *mixed = nested(MAX_DEPTH / 2, "not (", ")");
	c = compile(mixed);
	ck_assert(eval_mask(c, 1));
	aw_cond_free(c);
	free(mixed);
	mixed = nested(MAX_DEPTH / 2 + 1, "not (", ")");
	assert_err(mixed,
		   "condition column 161: condition nested deeper than 64 levels (parentheses "
		   "and 'not')");
	free(mixed);

	/* Depth is nesting, not width: siblings at one level do not add up. */
	assert_desc("(((a))) and (((b))) and not not c", "(a and b and (not (not c)))");
}
END_TEST

START_TEST(limit_length)
{
	char *s = malloc(MAX_LEN + 2);
	ck_assert_ptr_nonnull(s);

	/* "a or a or ... a" padded with spaces to exactly the limit. */
	size_t n = 0;
	s[n++] = 'a';
	while (n + 5 <= MAX_LEN) {
		memcpy(s + n, " or a", 5);
		n += 5;
	}
	while (n < MAX_LEN)
		s[n++] = ' ';
	s[n] = '\0';
	struct aw_cond *c = compile(s);
	ck_assert(eval_mask(c, 1));
	ck_assert(!eval_mask(c, 0));
	aw_cond_free(c);

	s[n++] = ' ';
	s[n] = '\0';
	assert_err(s, "condition is longer than 16384 bytes");
	free(s);
}
END_TEST

START_TEST(limit_long_chain_evaluates)
{
	/* A flat chain is one node: thousands of operands do not deepen the recursion. */
	char *s = malloc(MAX_LEN + 1);
	size_t n = 0;
	ck_assert_ptr_nonnull(s);
	s[n++] = 'a';
	while (n + 6 <= MAX_LEN) {
		memcpy(s + n, " and b", 6);
		n += 6;
	}
	s[n] = '\0';
	struct aw_cond *c = compile(s);
	struct calls k = {.mask = 3};
	ck_assert(aw_cond_eval(c, ident_cb, &k));
	ck_assert_uint_eq(k.n, 1 + (n - 1) / 6);
	aw_cond_free(c);
	free(s);
}
END_TEST

START_TEST(limit_expansion)
{
	/* 100 identifiers x ~1600 selectors would be 160k terms: refused, not allocated. */
	char names[100][8];
	const char *ids[100];
	for (size_t i = 0; i < 100; i++) {
		snprintf(names[i], sizeof names[i], "s%zu", i);
		ids[i] = names[i];
	}
	char *s = malloc(MAX_LEN + 1);
	size_t n = 0;
	ck_assert_ptr_nonnull(s);
	memcpy(s, "1 of *", 6);
	n = 6;
	while (n + 10 <= MAX_LEN) {
		memcpy(s + n, " or 1 of *", 10);
		n += 10;
	}
	s[n] = '\0';
	struct aw_error err = {{0}};
	struct aw_cond *c = NULL;
	ck_assert_int_lt(aw_cond_compile(s, ids, 100, &c, &err), 0);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err.msg, ": condition expands to more than 32768 terms") != NULL, "%s",
		      err.msg);
	ck_assert_msg(strncmp(err.msg, "condition column ", 17) == 0, "%s", err.msg);
	free(s);
}
END_TEST

/* --- evaluation --------------------------------------------------------------------- */

struct truth_case {
	const char *text;
	bool (*ref)(unsigned m);
};

static bool r1(unsigned m)
{
	return (A(m) && B(m)) || C(m);
}
static bool r2(unsigned m)
{
	return A(m) || (B(m) && C(m));
}
static bool r3(unsigned m)
{
	return (A(m) && !B(m)) || C(m);
}
static bool r4(unsigned m)
{
	return !(A(m) && B(m)) || (C(m) && !D(m));
}
static bool r5(unsigned m)
{
	return (!A(m) && B(m)) || (!C(m) && D(m));
}
static bool r6(unsigned m)
{
	return A(m) && (B(m) || !(C(m) && D(m)));
}
static bool r7(unsigned m)
{
	return (A(m) || B(m)) && (C(m) || D(m));
}
static bool r8(unsigned m)
{
	return !!A(m) || B(m);
}
static bool r9(unsigned m)
{
	return !(A(m) || B(m) || C(m) || D(m)) || D(m);
}
static bool r10(unsigned m)
{
	return A(m) || (B(m) && !C(m)) || D(m);
}
static bool r11(unsigned m)
{
	return !A(m) && !B(m) && !C(m);
}
static bool r12(unsigned m)
{
	return A(m) && B(m) && C(m) && D(m);
}
static bool r13(unsigned m)
{
	return !(A(m) || B(m)) || (C(m) && D(m));
}

START_TEST(truth_tables)
{
	static const char *const ids[] = {"a", "b", "c", "d"};
	static const struct truth_case cases[] = {
	    {"a and b or c", r1},
	    {"a or b and c", r2},
	    {"a and not b or c", r3},
	    {"not (a and b) or c and not d", r4},
	    {"not a and b or not c and d", r5},
	    {"a and (b or not (c and d))", r6},
	    {"(a or b) and (c or d)", r7},
	    {"not not a or b", r8},
	    {"not 1 of them or d", r9},
	    {"a or b and not c or d", r10},
	    {"not a and not b and not c", r11},
	    {"all of them", r12},
	    {"not any of a* and not 1 of b or all of c and all of d", r13},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct aw_cond *c = compile_with(cases[i].text, ids, 4);
		for (unsigned m = 0; m < 16; m++) {
			bool want = cases[i].ref(m);
			bool got = eval_mask(c, m);
			ck_assert_msg(got == want, "'%s' with a=%u b=%u c=%u d=%u: got %d want %d",
				      cases[i].text, A(m), B(m), C(m), D(m), got, want);
		}
		aw_cond_free(c);
	}
}
END_TEST

/* Reference evaluator over the canonical text: describe() is fully parenthesized, so
 * this is a trivial parser independent of the one under test. */
static bool ref_eval(const char **s, const char *const *ids, size_t n, unsigned m)
{
	if (strncmp(*s, "(not ", 5) == 0) {
		*s += 5;
		bool v = !ref_eval(s, ids, n, m);
		ck_assert_int_eq(**s, ')');
		(*s)++;
		return v;
	}
	if (**s == '(') {
		(*s)++;
		bool v = ref_eval(s, ids, n, m);
		int op = 0;
		while (**s != ')') {
			int this_op;
			if (strncmp(*s, " and ", 5) == 0) {
				this_op = 'a';
				*s += 5;
			} else {
				ck_assert_msg(strncmp(*s, " or ", 4) == 0,
					      "bad canonical text at '%s'", *s);
				this_op = 'o';
				*s += 4;
			}
			ck_assert(op == 0 || op == this_op); /* one operator per group */
			op = this_op;
			bool r = ref_eval(s, ids, n, m);
			v = op == 'a' ? (v && r) : (v || r);
		}
		(*s)++;
		return v;
	}
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(ids[i]);
		if (strncmp(*s, ids[i], l) == 0 && ((*s)[l] == ' ' || (*s)[l] == ')' || !(*s)[l])) {
			*s += l;
			return (m >> i) & 1u;
		}
	}
	ck_abort_msg("unknown name at '%s'", *s);
	return false;
}

/* Random expression trees, printed with the fewest parentheses the precedence rules
 * allow, and evaluated directly: the compiled condition must agree everywhere. */
struct gen {
	unsigned long long state;
	char buf[4096];
	size_t n;
};

static unsigned gen_rand(struct gen *g, unsigned mod)
{
	g->state = g->state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(g->state >> 33) % mod;
}

static void gen_put(struct gen *g, const char *s)
{
	size_t l = strlen(s);
	ck_assert_uint_lt(g->n + l, sizeof g->buf);
	memcpy(g->buf + g->n, s, l);
	g->n += l;
	g->buf[g->n] = '\0';
}

enum { P_OR = 1, P_AND = 2, P_NOT = 3, P_ATOM = 4 };

struct tnode {
	int kind; /* 'i', 'n', '&', '|' */
	unsigned idx;
	struct tnode *l, *r;
};

static struct tnode *gen_tree(struct gen *g, int depth)
{
	struct tnode *t = calloc(1, sizeof *t);
	ck_assert_ptr_nonnull(t);
	unsigned k = depth <= 0 ? 0 : gen_rand(g, 4);
	if (k == 0) {
		t->kind = 'i';
		t->idx = gen_rand(g, 4);
	} else if (k == 1) {
		t->kind = 'n';
		t->l = gen_tree(g, depth - 1);
	} else {
		t->kind = k == 2 ? '&' : '|';
		t->l = gen_tree(g, depth - 1);
		t->r = gen_tree(g, depth - 1);
	}
	return t;
}

static int tprec(const struct tnode *t)
{
	return t->kind == 'i' ? P_ATOM : t->kind == 'n' ? P_NOT : t->kind == '&' ? P_AND : P_OR;
}

static void gen_print(struct gen *g, const struct tnode *t, int min_prec)
{
	static const char *const names[] = {"a", "b", "c", "d"};
	bool paren = tprec(t) < min_prec;

	if (paren)
		gen_put(g, "(");
	switch (t->kind) {
	case 'i':
		gen_put(g, names[t->idx]);
		break;
	case 'n':
		gen_put(g, "not ");
		gen_print(g, t->l, P_NOT);
		break;
	default:
		/* left-associative: a same-operator right child needs parentheses */
		gen_print(g, t->l, tprec(t));
		gen_put(g, t->kind == '&' ? " and " : " or ");
		gen_print(g, t->r, tprec(t) + 1);
		break;
	}
	if (paren)
		gen_put(g, ")");
}

static bool teval(const struct tnode *t, unsigned m)
{
	switch (t->kind) {
	case 'i':
		return (m >> t->idx) & 1u;
	case 'n':
		return !teval(t->l, m);
	case '&':
		return teval(t->l, m) && teval(t->r, m);
	default:
		return teval(t->l, m) || teval(t->r, m);
	}
}

static void tfree(struct tnode *t)
{
	if (!t)
		return;
	tfree(t->l);
	tfree(t->r);
	free(t);
}

START_TEST(random_precedence)
{
	static const char *const ids[] = {"a", "b", "c", "d"};
	struct gen g = {.state = 42};

	for (int iter = 0; iter < 2000; iter++) {
		struct tnode *t = gen_tree(&g, 1 + iter % 6);
		g.n = 0;
		g.buf[0] = '\0';
		gen_print(&g, t, P_OR);
		struct aw_cond *c = compile_with(g.buf, ids, 4);
		char *d = aw_cond_describe(c, ids);
		ck_assert_ptr_nonnull(d);
		for (unsigned m = 0; m < 16; m++) {
			const char *p = d;
			bool want = teval(t, m);
			bool got = eval_mask(c, m);
			bool via_desc = ref_eval(&p, ids, 4, m);
			ck_assert_msg(
			    got == want && via_desc == want,
			    "'%s' (canonical '%s') mask %u: eval %d, describe %d, want %d", g.buf,
			    d, m, got, via_desc, want);
			ck_assert_int_eq(*p, '\0');
		}
		free(d);
		aw_cond_free(c);
		tfree(t);
	}
}
END_TEST

START_TEST(short_circuit)
{
	struct aw_cond *c;
	struct calls k;

	c = compile("a and b");
	k = (struct calls){.mask = 0};
	ck_assert(!aw_cond_eval(c, ident_cb, &k));
	ck_assert_uint_eq(k.n, 1);
	ck_assert_uint_eq(k.order[0], 0);
	k = (struct calls){.mask = 1};
	ck_assert(!aw_cond_eval(c, ident_cb, &k));
	ck_assert_uint_eq(k.n, 2);
	aw_cond_free(c);

	c = compile("a or b");
	k = (struct calls){.mask = 1};
	ck_assert(aw_cond_eval(c, ident_cb, &k));
	ck_assert_uint_eq(k.n, 1);
	aw_cond_free(c);

	c = compile("a and b and c");
	k = (struct calls){.mask = 1}; /* b false: c never asked */
	ck_assert(!aw_cond_eval(c, ident_cb, &k));
	ck_assert_uint_eq(k.n, 2);
	ck_assert_uint_eq(k.order[1], 1);
	aw_cond_free(c);

	c = compile("not a and b");
	k = (struct calls){.mask = 1};
	ck_assert(!aw_cond_eval(c, ident_cb, &k));
	ck_assert_uint_eq(k.n, 1);
	aw_cond_free(c);

	c = compile("(a or b) and (c or d)");
	k = (struct calls){.mask = 1u | 4u};
	ck_assert(aw_cond_eval(c, ident_cb, &k));
	ck_assert_uint_eq(k.n, 2);
	ck_assert_uint_eq(k.order[0], 0);
	ck_assert_uint_eq(k.order[1], 2);
	aw_cond_free(c);

	c = compile("1 of sel*");
	k = (struct calls){.mask = 1u << 5}; /* sel2 */
	ck_assert(aw_cond_eval(c, ident_cb, &k));
	ck_assert_uint_eq(k.n, 2);
	ck_assert_uint_eq(k.order[0], 4);
	ck_assert_uint_eq(k.order[1], 5);
	aw_cond_free(c);

	c = compile("all of sel*");
	k = (struct calls){.mask = 0};
	ck_assert(!aw_cond_eval(c, ident_cb, &k));
	ck_assert_uint_eq(k.n, 1);
	aw_cond_free(c);
}
END_TEST

/* --- used / required ---------------------------------------------------------------- */

static void assert_sets(const char *text, const char *want_required, const char *want_used)
{
	struct aw_cond *c = compile(text);
	bool req[NID] = {0}, used[NID] = {0};
	char got_req[256] = "", got_used[256] = "";

	aw_cond_required(c, req, NID);
	aw_cond_used(c, used, NID);
	for (size_t i = 0; i < NID; i++) {
		size_t lr = strlen(got_req), lu = strlen(got_used);
		if (req[i])
			snprintf(got_req + lr, sizeof got_req - lr, "%s%s", lr ? "," : "", ID[i]);
		if (used[i])
			snprintf(got_used + lu, sizeof got_used - lu, "%s%s", lu ? "," : "", ID[i]);
		ck_assert_msg(!req[i] || used[i], "'%s': %s required but not used", text, ID[i]);
	}
	ck_assert_msg(strcmp(got_req, want_required) == 0, "'%s' required {%s}, want {%s}", text,
		      got_req, want_required);
	ck_assert_msg(strcmp(got_used, want_used) == 0, "'%s' used {%s}, want {%s}", text, got_used,
		      want_used);
	aw_cond_free(c);
}

START_TEST(required_and_used)
{
	assert_sets("a", "a", "a");
	assert_sets("a and b", "a,b", "a,b");
	assert_sets("a or b", "", "a,b");
	assert_sets("a and (b or c)", "a", "a,b,c");
	assert_sets("(a and b) or (a and c)", "a", "a,b,c");
	assert_sets("(a and b and c) or (b and c and d)", "b,c", "a,b,c,d");
	assert_sets("not a and b", "b", "a,b");
	assert_sets("not a", "", "a");
	assert_sets("not not a", "a", "a");
	assert_sets("not (not a or not b)", "a,b", "a,b");
	assert_sets("not (a and b)", "", "a,b");
	assert_sets("a and not (b and c)", "a", "a,b,c");
	assert_sets("all of sel*", "sel1,sel2,sel_x", "sel1,sel2,sel_x");
	assert_sets("1 of sel*", "", "sel1,sel2,sel_x");
	assert_sets("1 of f*r-*", "filter-main", "filter-main");
	assert_sets("keywords and not 1 of filter*", "keywords", "filter,filter-main,keywords");
	assert_sets("1 of them", "", "a,b,c,d,sel1,sel2,sel_x,filter,filter-main,keywords");
	assert_sets("all of _*", "_hidden,_filt_1", "_hidden,_filt_1");

	/* A short output array is respected. */
	struct aw_cond *c = compile("a and keywords");
	bool req[2] = {0}, used[2] = {0};
	aw_cond_required(c, req, 2);
	aw_cond_used(c, used, 2);
	ck_assert(req[0] && !req[1]);
	ck_assert(used[0] && !used[1]);
	aw_cond_free(c);
}
END_TEST

/* --- condition lists ---------------------------------------------------------------- */

START_TEST(any_of_parts)
{
	struct aw_error err = {{0}};
	struct aw_cond *parts[3];
	struct aw_cond *c = NULL;

	parts[0] = compile("a and not 1 of sel*");
	parts[1] = compile("all of filter* or b");
	parts[2] = compile("not not c");
	ck_assert_int_eq(aw_cond_any(parts, 3, &c, &err), 0);
	ck_assert_ptr_nonnull(c);
	char *d = aw_cond_describe(c, ID);
	ck_assert_str_eq(d, "((a and (not (sel1 or sel2 or sel_x))) or ((filter and filter-main) "
			    "or b) or (not (not c)))");
	free(d);
	for (unsigned m = 0; m < (1u << NID); m += 7) {
		bool s = (m >> 4) & 7u;
		bool want = (A(m) && !s) || (((m >> 7) & 1u) && ((m >> 8) & 1u)) || B(m) || C(m);
		ck_assert_int_eq(eval_mask(c, m), want);
	}
	bool req[NID] = {0};
	aw_cond_required(c, req, NID);
	for (size_t i = 0; i < NID; i++)
		ck_assert(!req[i]);
	aw_cond_free(c);

	/* Required identifiers survive when every part needs them. */
	parts[0] = compile("a and b");
	parts[1] = compile("a and c");
	ck_assert_int_eq(aw_cond_any(parts, 2, &c, &err), 0);
	bool req2[NID] = {0};
	aw_cond_required(c, req2, NID);
	ck_assert(req2[0] && !req2[1] && !req2[2]);
	aw_cond_free(c);

	/* One part is that part. */
	parts[0] = compile("a or b");
	ck_assert_int_eq(aw_cond_any(parts, 1, &c, &err), 0);
	d = aw_cond_describe(c, ID);
	ck_assert_str_eq(d, "(a or b)");
	free(d);
	aw_cond_free(c);
}
END_TEST

START_TEST(any_errors_free_parts)
{
	struct aw_error err = {{0}};
	struct aw_cond *parts[3];
	struct aw_cond *c = (struct aw_cond *)1;

	ck_assert_int_lt(aw_cond_any(parts, 0, &c, &err), 0);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err.msg, "condition list is empty");

	/* A missing part fails the list; the others are freed (ASan checks for leaks). */
	parts[0] = compile("a");
	parts[1] = NULL;
	parts[2] = compile("b");
	ck_assert_int_lt(aw_cond_any(parts, 3, &c, &err), 0);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err.msg, "condition list: part 2 is missing");
}
END_TEST

START_TEST(describe_without_names)
{
	struct aw_cond *c = compile("a and not b");
	char *d = aw_cond_describe(c, NULL);
	ck_assert_str_eq(d, "(#0 and (not #1))");
	free(d);
	aw_cond_free(c);
}
END_TEST

START_TEST(garbage_never_crashes)
{
	/* Random strings over the condition alphabet: every one compiles or fails with a
	 * "condition ..." message; compiled ones evaluate and describe. */
	static const char *const pieces[] = {
	    "a",  "b",	 "sel*", "_*", "*", "them", "1",   "any", "all", "of",	    "and",
	    "or", "not", "(",	 ")",  " ", "$",    "AND", "2",	  "-",	 "_hidden", "filter-main"};
	struct gen g = {.state = 7};

	for (int iter = 0; iter < 5000; iter++) {
		char text[256];
		size_t n = 0;
		unsigned len = gen_rand(&g, 12);
		text[0] = '\0';
		for (unsigned i = 0; i < len; i++) {
			const char *pc = pieces[gen_rand(&g, sizeof pieces / sizeof pieces[0])];
			n += (size_t)snprintf(text + n, sizeof text - n, "%s%s", pc,
					      gen_rand(&g, 3) ? " " : "");
		}
		struct aw_error err = {{0}};
		struct aw_cond *c = NULL;
		if (aw_cond_compile(text, ID, NID, &c, &err) == 0) {
			eval_mask(c, 0);
			eval_mask(c, ~0u);
			eval_mask(c, 0x555);
			char *d = aw_cond_describe(c, ID);
			ck_assert_ptr_nonnull(d);
			free(d);
			aw_cond_free(c);
		} else {
			ck_assert_ptr_null(c);
			ck_assert_msg(strncmp(err.msg, "condition", 9) == 0, "'%s': %s", text,
				      err.msg);
		}
	}
}
END_TEST

static Suite *sigma_cond_suite(void)
{
	Suite *s = suite_create("sigma_cond");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, precedence_table);
	tcase_add_test(tc, associativity_and_chains);
	tcase_add_test(tc, parentheses);
	tcase_add_test(tc, double_not);
	tcase_add_test(tc, hyphenated_identifiers);
	tcase_add_test(tc, quantifier_words_as_identifiers);
	suite_add_tcase(s, tc);

	tc = tcase_create("selectors");
	tcase_add_test(tc, selector_forms);
	tcase_add_test(tc, selector_them);
	tcase_add_test(tc, selector_underscore);
	tcase_add_test(tc, selector_all_vs_one);
	tcase_add_test(tc, selector_empty);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, error_unknown_identifier);
	tcase_add_test(tc, error_unknown_identifier_truncated);
	tcase_add_test(tc, error_keywords_are_lower_case);
	tcase_add_test(tc, error_syntax);
	tcase_add_test(tc, error_selector_syntax);
	tcase_add_test(tc, error_characters);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_test(tc, limit_depth);
	tcase_add_test(tc, limit_length);
	tcase_add_test(tc, limit_long_chain_evaluates);
	tcase_add_test(tc, limit_expansion);
	suite_add_tcase(s, tc);

	tc = tcase_create("eval");
	tcase_add_test(tc, truth_tables);
	tcase_add_test(tc, random_precedence);
	tcase_add_test(tc, short_circuit);
	suite_add_tcase(s, tc);

	tc = tcase_create("analysis");
	tcase_add_test(tc, required_and_used);
	tcase_add_test(tc, any_of_parts);
	tcase_add_test(tc, any_errors_free_parts);
	tcase_add_test(tc, describe_without_names);
	tcase_add_test(tc, garbage_never_crashes);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(sigma_cond_suite)
