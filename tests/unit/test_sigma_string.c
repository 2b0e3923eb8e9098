/* Sigma string values: the escaping table of sigma.md §1.4 row by row, the matcher
 * each pattern compiles to, case folding (ASCII and the supported scripts), `?` on
 * multi-byte characters, globs without blow-up, regexes, required literals and the
 * value transforms (base64, base64offset, utf16, windash). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "rules/sigma_string.h"
#include "testutil.h"

static struct aw_error err;

static struct aw_sigma_str *comp(const char *rule, bool cased)
{
	struct aw_sigma_pat p = {0};
	struct aw_sigma_str *s = NULL;

	ck_assert_int_eq(aw_sigma_pat_parse(&p, rule, strlen(rule), &err), 0);
	ck_assert_int_eq(aw_sigma_str_compile(&p, cased, &s, &err), 0);
	aw_sigma_pat_free(&p);
	return s;
}

static bool m(const struct aw_sigma_str *s, const char *text)
{
	return aw_sigma_str_match(s, text, strlen(text));
}

/* rule must match every string of yes[] and none of no[] (NULL-terminated). */
static void check_rule(const char *rule, const char *const *yes, const char *const *no)
{
	struct aw_sigma_str *s = comp(rule, false);
	for (size_t i = 0; yes[i]; i++)
		ck_assert_msg(m(s, yes[i]), "rule '%s' should match '%s'", rule, yes[i]);
	for (size_t i = 0; no[i]; i++)
		ck_assert_msg(!m(s, no[i]), "rule '%s' should not match '%s'", rule, no[i]);
	aw_sigma_str_free(s);
}

#define YES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NO(...)	 ((const char *const[]){__VA_ARGS__, NULL})

/* --- escaping (sigma.md §1.4; rule text is after YAML unescaping) ------------------ */

START_TEST(escape_backslash_before_plain_char_is_literal)
{
	check_rule("C:\\Windows\\x.exe", YES("C:\\Windows\\x.exe", "c:\\windows\\X.EXE"),
		   NO("C:Windowsx.exe", "C:\\Windows\\x.exe2", "C:\\\\Windows\\x.exe"));
}
END_TEST

START_TEST(escape_wildcard_chars)
{
	check_rule("\\*", YES("*"), NO("", "a", "**", "\\*"));
	check_rule("\\?", YES("?"), NO("a", "", "\\?"));
	check_rule("a\\*b", YES("a*b", "A*B"), NO("ab", "axb", "a\\*b"));
	check_rule("what\\?", YES("what?", "WHAT?"), NO("whatx", "what"));
}
END_TEST

START_TEST(escape_double_backslash_is_one)
{
	check_rule("\\\\", YES("\\"), NO("\\\\", ""));
	/* `\` and `\\` are the same when not before a wildcard */
	check_rule("\\", YES("\\"), NO("\\\\", ""));
	check_rule("a\\\\b", YES("a\\b"), NO("a\\\\b", "ab"));
}
END_TEST

START_TEST(escape_backslash_then_wildcard)
{
	/* `\\*`: a literal backslash followed by the `*` wildcard */
	check_rule("\\\\*", YES("\\", "\\abc", "\\\\"), NO("abc", "", "a\\"));
	check_rule("C:\\\\*\\\\cmd.exe", YES("C:\\Windows\\System32\\cmd.exe", "c:\\x\\CMD.EXE"),
		   NO("C:cmd.exe", "D:\\cmd.exe"));
}
END_TEST

START_TEST(escape_triple_backslash_star)
{
	/* `\\\*`: literal `\*` */
	check_rule("\\\\\\*", YES("\\*"), NO("\\", "\\abc", "*", "\\\\*"));
}
END_TEST

START_TEST(escape_four_and_three_backslashes)
{
	check_rule("\\\\\\\\", YES("\\\\"), NO("\\", "\\\\\\"));
	check_rule("\\\\\\", YES("\\\\"), NO("\\", "\\\\\\"));
}
END_TEST

START_TEST(escape_trailing_backslash)
{
	check_rule("abc\\", YES("abc\\", "ABC\\"), NO("abc", "abc\\\\"));
	check_rule("*abc\\", YES("x abc\\"), NO("abc"));
}
END_TEST

START_TEST(escape_text_round_trip)
{
	const char *texts[] = {"C:\\Windows\\x.exe", "\\*",  "a\\\\*", "\\\\\\*", "x?y*z",
			       "\\\\\\\\",	     "abc\\"};
	const char *canon[] = {
	    "C:\\Windows\\x.exe", "\\*", "a\\\\*", "\\\\\\*", "x?y*z", "\\\\\\", "abc\\"};

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct aw_sigma_pat p = {0}, q = {0};
		ck_assert_int_eq(aw_sigma_pat_parse(&p, texts[i], strlen(texts[i]), &err), 0);
		char *t = aw_sigma_pat_text(&p);
		ck_assert_str_eq(t, canon[i]);
		/* parsing the canonical text gives the same pattern */
		ck_assert_int_eq(aw_sigma_pat_parse(&q, t, strlen(t), &err), 0);
		ck_assert_uint_eq(p.len, q.len);
		ck_assert(memcmp(p.b, q.b, p.len) == 0 && memcmp(p.w, q.w, p.len) == 0);
		free(t);
		aw_sigma_pat_free(&p);
		aw_sigma_pat_free(&q);
	}
}
END_TEST

/* --- matcher kinds ----------------------------------------------------------------- */

static void ck_kind(const char *rule, enum aw_sigma_match_kind kind, const char *lit)
{
	struct aw_sigma_str *s = comp(rule, false);
	size_t len;
	const char *l = aw_sigma_str_literal(s, &len);

	ck_assert_msg(aw_sigma_str_kind(s) == kind, "rule '%s': kind %d, want %d", rule,
		      aw_sigma_str_kind(s), kind);
	if (lit) {
		ck_assert_ptr_nonnull(l);
		ck_assert_uint_eq(len, strlen(lit));
		ck_assert_str_eq(l, lit);
	} else {
		ck_assert_ptr_null(l);
	}
	aw_sigma_str_free(s);
}

START_TEST(cheapest_matcher_is_chosen)
{
	ck_kind("Abc", AW_SIGMA_EXACT, "abc");
	ck_kind("", AW_SIGMA_EXACT, "");
	ck_kind("abC*", AW_SIGMA_PREFIX, "abc");
	ck_kind("*ABC", AW_SIGMA_SUFFIX, "abc");
	ck_kind("*abc*", AW_SIGMA_CONTAINS, "abc");
	ck_kind("***abc**", AW_SIGMA_CONTAINS, "abc");
	ck_kind("*", AW_SIGMA_PREFIX, "");
	ck_kind("**", AW_SIGMA_PREFIX, "");
	ck_kind("\\*abc", AW_SIGMA_EXACT, "*abc");
	ck_kind("*a\\*", AW_SIGMA_SUFFIX, "a*");
	ck_kind("a*c", AW_SIGMA_GLOB, NULL);
	ck_kind("a?c", AW_SIGMA_GLOB, NULL);
	ck_kind("?abc*", AW_SIGMA_GLOB, NULL);
	ck_kind("*a*b*", AW_SIGMA_GLOB, NULL);
}
END_TEST

START_TEST(literal_matchers)
{
	check_rule("abc", YES("abc", "ABC", "aBc"), NO("abcd", "xabc", "ab", ""));
	check_rule("", YES(""), NO(" ", "a"));
	check_rule("abc*", YES("abc", "ABCdef"), NO("xabc", "ab"));
	check_rule("*abc", YES("abc", "xxABC"), NO("abcx", "bc"));
	check_rule("*abc*", YES("abc", "xxAbCxx", "say hELLo abc"), NO("ab c", "acb", ""));
	check_rule("*", YES("", "anything"), NO(NULL));
	/* candidates of both cases are followed */
	check_rule("*hello*", YES("hhhhHHHH hH hELLO", "HHHHhhhhhhhhhhhhHello"),
		   NO("hhhhHHHH hH hELL"));
	check_rule("*-enc*", YES("powershell -Enc abc"), NO("powershell enc"));
}
END_TEST

START_TEST(cased_is_exact_bytes)
{
	struct aw_sigma_str *s = comp("*Hello*", true);
	ck_assert(m(s, "say Hello"));
	ck_assert(!m(s, "say hello"));
	aw_sigma_str_free(s);
	s = comp("Ab?d", true);
	ck_assert_int_eq(aw_sigma_str_kind(s), AW_SIGMA_GLOB);
	ck_assert(m(s, "Abcd"));
	ck_assert(!m(s, "abcd"));
	aw_sigma_str_free(s);
	s = comp("ÉCOLE", true);
	ck_assert(!m(s, "école"));
	ck_assert(m(s, "ÉCOLE"));
	aw_sigma_str_free(s);
}
END_TEST

START_TEST(non_ascii_case_folding)
{
	/* Latin-1, Latin Extended-A, Greek, Cyrillic */
	check_rule("ÉCOLE", YES("école", "ÉCOLE", "École"), NO("ecole"));
	check_rule("*straße*", YES("STRAßE x", "straße"), NO("strasse"));
	check_rule("ŁÓDŹ", YES("łódź"), NO("lodz"));
	check_rule("*ΑΘΗΝΑ*", YES("από την αθηνα"), NO("athina"));
	check_rule("ПРИВЕТ*", YES("привет мир", "Привет"), NO("privet"));
	/* the fold changes the lead byte: U+0400 -> U+0450 */
	check_rule("*ЀЖ*", YES("xxѐжxx", "ЀЖ"), NO("ЕЖ"));
	check_rule("ÿ", YES("Ÿ", "ÿ"), NO("y"));
	/* scripts outside the table compare exactly */
	check_rule("日本", YES("日本"), NO("日"));
	/* a continuation byte never starts a match */
	check_rule("*\xa9*", YES("\xa9"), NO("x"));
}
END_TEST

START_TEST(long_values_fold_eight_bytes_at_a_time)
{
	/* ASCII runs are folded eight bytes at a time: every byte position of a block,
	 * the bytes around 'A' and 'Z' ('@', '[', '`', '{') that must not change, and a
	 * run that turns non-ASCII in the middle of a block */
	check_rule("ChatCompletions_Create", YES("chatcompletions_create", "CHATCOMPLETIONS_CREATE"),
		   NO("ChatCompletions_Creat", "ChatCompletions-Create"));
	check_rule("@[`{AZaz@[`{AZaz@[", YES("@[`{azaz@[`{AZAZ@["), NO("`{`{AZaz@[`{AZaz@[",
									      "@[`{AZaz@[`{AZaz@{"));
	check_rule("abcdefgÉCOLE12345678", YES("ABCDEFGécole12345678", "abcdefgÉcole12345678"),
		   NO("ABCDEFGecole12345678"));
	check_rule("*/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/*",
		   YES("/subscriptions/x/providers/Microsoft.CognitiveServices/accounts/oai"),
		   NO("/subscriptions/x/providers/Microsoft.KeyVault/vaults/kv"));
}
END_TEST

START_TEST(question_mark_is_one_code_point)
{
	check_rule("caf?", YES("café", "cafe", "CAFÉ"), NO("caf", "caféé", "cafee"));
	check_rule("??", YES("日本", "ab", "éé"), NO("日本語", "a"));
	check_rule("a?b", YES("a😀b"), NO("a😀😀b", "ab"));
	check_rule("*?", YES("é"), NO(""));
	/* an invalid byte is one character of its own */
	check_rule("a?b",
		   YES("a\xff"
		       "b"),
		   NO("a\xff\xff"
		      "b"));
}
END_TEST

START_TEST(glob_matching)
{
	check_rule("a*c", YES("ac", "abc", "ABBBC"), NO("ab", "acb"));
	check_rule("*a*b*c*", YES("abc", "xaxbxcx", "AAABBBCCC"), NO("acb", "cba"));
	check_rule("*\\\\cmd.exe*/c*", YES("C:\\Windows\\cmd.exe /c whoami"),
		   NO("cmd.exe /c", "C:\\cmd.exe"));
	check_rule("a*b?", YES("aXbY", "abbb"), NO("ab", "aXb"));
	/* star-only globs: anchors may not overlap */
	check_rule("a*a", YES("aa", "aXa", "AbA"), NO("a", "ab"));
	check_rule("ab*ba", YES("abba", "abXba"), NO("aba", "ab", "ba"));
	check_rule("*ab*ab*", YES("abab", "xabyabz"), NO("ab", "aab"));
	check_rule("x*é*Ж", YES("XaÉbж", "xéж"), NO("xeж", "xé"));
	struct aw_sigma_str *s = comp("Ab*Cd", true);
	ck_assert(m(s, "AbxCd"));
	ck_assert(!m(s, "abxcd"));
	aw_sigma_str_free(s);
}
END_TEST

START_TEST(glob_has_no_exponential_blowup)
{
	size_t n = 20000;
	char *text = malloc(n + 1);
	memset(text, 'a', n);
	text[n] = '\0';
	struct aw_sigma_str *s = comp("*a*a*a*a*a*a*a*a*a*a*a*a*b", false);
	struct aw_sigma_str *q = comp("*a?a*a?a*a?a*a?a*b", false);
	ck_assert(!m(s, text));
	ck_assert(!m(q, text));
	text[n - 1] = 'b';
	ck_assert(m(s, text));
	ck_assert(m(q, text));
	aw_sigma_str_free(s);
	aw_sigma_str_free(q);
	free(text);
}
END_TEST

/* --- regex ---------------------------------------------------------------------- */

static struct aw_sigma_str *re(const char *pattern, bool i, bool ml, bool dotall)
{
	struct aw_sigma_re_opts o = {.icase = i, .multiline = ml, .dotall = dotall};
	struct aw_sigma_str *s = NULL;

	ck_assert_msg(aw_sigma_str_compile_regex(pattern, strlen(pattern), &o, &s, &err) == 0, "%s",
		      err.msg);
	ck_assert_int_eq(aw_sigma_str_kind(s), AW_SIGMA_REGEX);
	return s;
}

START_TEST(regex_search_semantics_and_flags)
{
	struct aw_sigma_str *s = re("fo+", false, false, false);
	ck_assert(m(s, "xxfooxx"));
	ck_assert(!m(s, "FOO"));
	aw_sigma_str_free(s);

	s = re("fo+", true, false, false);
	ck_assert(m(s, "xxFOOxx"));
	aw_sigma_str_free(s);

	s = re("^b$", false, false, false);
	ck_assert(!m(s, "a\nb\nc"));
	aw_sigma_str_free(s);
	s = re("^b$", false, true, false);
	ck_assert(m(s, "a\nb\nc"));
	aw_sigma_str_free(s);

	s = re("a.b", false, false, false);
	ck_assert(!m(s, "a\nb"));
	aw_sigma_str_free(s);
	s = re("a.b", false, false, true);
	ck_assert(m(s, "a\nb"));
	aw_sigma_str_free(s);

	/* what SigmaHQ regexes use */
	s = re("(?i)\\s-e(?:nc)?\\s+[\\w+/=]{8,}\\d", false, false, false);
	ck_assert(m(s, "powershell -ENC SQBFAFgA1"));
	ck_assert(!m(s, "powershell -x SQBFAFgA1"));
	aw_sigma_str_free(s);

	/* UTF-8 pattern: `.` is one character; invalid subjects do not break matching */
	s = re("^caf.$", false, false, false);
	ck_assert(m(s, "café"));
	ck_assert(!m(s, "caf\xff\xfe"));
	aw_sigma_str_free(s);
	s = re("x", false, false, false);
	ck_assert(m(s, "\xff\xfex"));
	ck_assert(!m(s, ""));
	aw_sigma_str_free(s);
}
END_TEST

START_TEST(regex_errors_and_limits)
{
	struct aw_sigma_str *s = NULL;
	struct aw_sigma_re_opts o = {0};

	ck_assert_int_eq(aw_sigma_str_compile_regex("(ab", 3, &o, &s, &err), -1);
	ck_assert_ptr_null(s);
	ck_assert_str_eq(err.msg,
			 "regular expression '(ab': missing closing parenthesis at offset 3");

	/* catastrophic backtracking stops at the match limit: no match, quickly */
	o.match_limit = 10000;
	ck_assert_int_eq(aw_sigma_str_compile_regex("^(a+)+$", 7, &o, &s, &err), 0);
	char text[64];
	memset(text, 'a', 40);
	text[40] = '!';
	text[41] = '\0';
	ck_assert(!m(s, text));
	text[40] = '\0';
	ck_assert(m(s, text));
	aw_sigma_str_free(s);
}
END_TEST

START_TEST(regex_jit_is_used_when_available)
{
	struct aw_sigma_str *s = re("abc", false, false, false);
	uint32_t jit = 0;
	pcre2_config_8(PCRE2_CONFIG_JIT, &jit);
	/* the test machine allows JIT; the daemon under MemoryDenyWriteExecute does not,
	 * and then runs the same regexes interpreted */
	ck_assert_int_eq(aw_sigma_str_jit(s), jit != 0);
	ck_assert(m(s, "xabcx"));
	aw_sigma_str_free(s);
	s = comp("abc", false);
	ck_assert(!aw_sigma_str_jit(s));
	aw_sigma_str_free(s);
}
END_TEST

/* --- required literal ------------------------------------------------------------ */

static void ck_required(const char *rule, const char *want)
{
	struct aw_sigma_pat p = {0};
	char buf[64];

	ck_assert_int_eq(aw_sigma_pat_parse(&p, rule, strlen(rule), &err), 0);
	size_t n = aw_sigma_pat_required(&p, buf, sizeof buf);
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
	aw_sigma_pat_free(&p);
}

START_TEST(required_literal_is_longest_safe_run)
{
	ck_required("*\\Windows\\System32\\cmd.exe", "system32");
	ck_required("Microsoft.KeyVault/vaults/secrets/read*", "microsoft.keyvault");
	ck_required("foo*bar", "foo");
	ck_required("a?bcd", "bcd");
	ck_required("\"quoted\"", "quoted");
	ck_required("x/y", "x");
	ck_required("*", "");
	ck_required("List Keys: 10.0.0.1", "list keys: 10.0.0.1");
}
END_TEST

/* --- transforms ------------------------------------------------------------------ */

static char *pat_str(const struct aw_sigma_pat *p)
{
	return aw_sigma_pat_text(p);
}

static void ck_b64(const char *in, int variant, const char *want)
{
	struct aw_sigma_pat p = {0}, out = {0};

	ck_assert_int_eq(aw_sigma_pat_parse(&p, in, strlen(in), &err), 0);
	ck_assert_int_eq(aw_sigma_pat_base64(&p, variant, &out), 0);
	char *t = pat_str(&out);
	ck_assert_str_eq(t, want);
	free(t);
	aw_sigma_pat_free(&p);
	aw_sigma_pat_free(&out);
}

START_TEST(base64_and_offsets)
{
	ck_b64("foobar", -1, "Zm9vYmFy");
	ck_b64("fooba", -1, "Zm9vYmE=");
	ck_b64("f", -1, "Zg==");
	ck_b64("", -1, "");
	/* pySigma's test vector */
	ck_b64("foobar", 0, "Zm9vYmFy");
	ck_b64("foobar", 1, "Zvb2Jhc");
	ck_b64("foobar", 2, "mb29iYX");
	/* each variant is found inside base64 of the value at any alignment */
	ck_b64("http", 0, "aHR0c");
	ck_b64("http", 1, "h0dH");
	ck_b64("http", 2, "odHRw");

	struct aw_sigma_pat p = {0}, out = {0};
	ck_assert_int_eq(aw_sigma_pat_parse(&p, "foo*", 4, &err), 0);
	ck_assert_int_eq(aw_sigma_pat_base64(&p, -1, &out), -1);
	aw_sigma_pat_free(&p);
	aw_sigma_pat_free(&out);
}
END_TEST

START_TEST(utf16_encodings)
{
	struct aw_sigma_pat p = {0}, out = {0};

	ck_assert_int_eq(aw_sigma_pat_parse(&p, "cmd", 3, &err), 0);
	ck_assert_int_eq(aw_sigma_pat_utf16(&p, AW_SIGMA_UTF16LE, &out), 0);
	ck_assert_uint_eq(out.len, 6);
	ck_assert(memcmp(out.b, "c\0m\0d\0", 6) == 0);
	ck_assert_int_eq(aw_sigma_pat_utf16(&p, AW_SIGMA_UTF16BE, &out), 0);
	ck_assert(out.len == 6 && memcmp(out.b, "\0c\0m\0d", 6) == 0);
	ck_assert_int_eq(aw_sigma_pat_utf16(&p, AW_SIGMA_UTF16BOM, &out), 0);
	ck_assert(out.len == 8 && memcmp(out.b,
					 "\xff\xfe"
					 "c\0m\0d\0",
					 8) == 0);
	/* non-BMP: a surrogate pair; wildcards are kept */
	ck_assert_int_eq(aw_sigma_pat_parse(&p, "*é😀", strlen("*é😀"), &err), 0);
	ck_assert_int_eq(aw_sigma_pat_utf16(&p, AW_SIGMA_UTF16LE, &out), 0);
	ck_assert_uint_eq(out.len, 1 + 2 + 4);
	ck_assert_int_eq(out.w[0], AW_SIGMA_ANY);
	ck_assert(memcmp(out.b + 1, "\xe9\x00\x3d\xd8\x00\xde", 6) == 0);
	/* invalid UTF-8 cannot be encoded */
	ck_assert_int_eq(aw_sigma_pat_parse(&p, "a\xff", 2, &err), 0);
	ck_assert_int_eq(aw_sigma_pat_utf16(&p, AW_SIGMA_UTF16LE, &out), -1);
	aw_sigma_pat_free(&p);
	aw_sigma_pat_free(&out);
}
END_TEST

START_TEST(windash_positions_and_variants)
{
	struct aw_sigma_pat p = {0}, out = {0};
	const char *in = "cmd -c /x a-b --y - z";

	ck_assert_int_eq(aw_sigma_pat_parse(&p, in, strlen(in), &err), 0);
	/* flags: "-c", "/x", the second dash of "--y"; not "a-b", not a lone "-" */
	ck_assert_uint_eq(aw_sigma_pat_windash_count(&p), 3);
	ck_assert_int_eq(aw_sigma_pat_windash(&p, 0, &out), 0);
	char *t = pat_str(&out);
	ck_assert_str_eq(t, "cmd -c -x a-b --y - z");
	free(t);
	ck_assert_int_eq(aw_sigma_pat_windash(&p, 1 + 5 * 2 + 25 * 4, &out), 0);
	t = pat_str(&out);
	ck_assert_str_eq(t, "cmd /c \xe2\x80\x93x a-b -\xe2\x80\x95y - z");
	free(t);
	/* after a wildcard the dash starts a run of its own */
	ck_assert_int_eq(aw_sigma_pat_parse(&p, "*-foo", 5, &err), 0);
	ck_assert_uint_eq(aw_sigma_pat_windash_count(&p), 1);
	aw_sigma_pat_free(&p);
	aw_sigma_pat_free(&out);
}
END_TEST

START_TEST(comparing_two_values)
{
	ck_assert(aw_sigma_text_equal("ÄBC", strlen("ÄBC"), "äbc", strlen("äbc"), false));
	ck_assert(!aw_sigma_text_equal("ÄBC", strlen("ÄBC"), "äbc", strlen("äbc"), true));
	ck_assert(aw_sigma_text_contains("Hello World", 11, "O W", 3, false));
	ck_assert(!aw_sigma_text_contains("Hello World", 11, "O W", 3, true));
	ck_assert(aw_sigma_text_prefix("Hello", 5, "hE", 2, false));
	ck_assert(aw_sigma_text_suffix("Hello", 5, "LO", 2, false));
	ck_assert(!aw_sigma_text_suffix("lo", 2, "Hello", 5, false));
	ck_assert(aw_sigma_text_contains("x", 1, "", 0, false));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sigma_string");
	TCase *esc = tcase_create("escaping");
	TCase *match = tcase_create("matching");
	TCase *xf = tcase_create("transforms");

	tcase_add_test(esc, escape_backslash_before_plain_char_is_literal);
	tcase_add_test(esc, escape_wildcard_chars);
	tcase_add_test(esc, escape_double_backslash_is_one);
	tcase_add_test(esc, escape_backslash_then_wildcard);
	tcase_add_test(esc, escape_triple_backslash_star);
	tcase_add_test(esc, escape_four_and_three_backslashes);
	tcase_add_test(esc, escape_trailing_backslash);
	tcase_add_test(esc, escape_text_round_trip);
	suite_add_tcase(s, esc);

	tcase_add_test(match, cheapest_matcher_is_chosen);
	tcase_add_test(match, literal_matchers);
	tcase_add_test(match, cased_is_exact_bytes);
	tcase_add_test(match, non_ascii_case_folding);
	tcase_add_test(match, long_values_fold_eight_bytes_at_a_time);
	tcase_add_test(match, question_mark_is_one_code_point);
	tcase_add_test(match, glob_matching);
	tcase_add_test(match, glob_has_no_exponential_blowup);
	tcase_add_test(match, regex_search_semantics_and_flags);
	tcase_add_test(match, regex_errors_and_limits);
	tcase_add_test(match, regex_jit_is_used_when_available);
	tcase_add_test(match, required_literal_is_longest_safe_run);
	tcase_add_test(match, comparing_two_values);
	suite_add_tcase(s, match);

	tcase_add_test(xf, base64_and_offsets);
	tcase_add_test(xf, utf16_encodings);
	tcase_add_test(xf, windash_positions_and_variants);
	suite_add_tcase(s, xf);
	return s;
}

AW_TEST_MAIN(suite)
