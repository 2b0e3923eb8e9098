/* Sigma detection items as a rule author sees them: each modifier positive and
 * negative, the value typing of YAML scalars (numbers, booleans, null), the two escaping
 * layers, keywords, required literals, and every compile error with its message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event_view.h"
#include "rules/sigma_item.h"
#include "testutil.h"

static struct aw_event_view *view;
static struct aw_error err;
static struct aw_sigma_compile_ctx *cur_ctx;

static void setup(void)
{
	view = aw_event_view_new(4096);
	cur_ctx = NULL;
	err.msg[0] = '\0';
}

static void teardown(void)
{
	aw_event_view_free(view);
}

/* Compile the single `key: value` entry of a YAML map. Returns -1 with err set. */
static int compile_yaml(const char *yaml, struct aw_sigma_item **out, bool keywords)
{
	struct aw_doc *doc = NULL;
	struct aw_error_list errs = {0};
	int rc;

	ck_assert_msg(aw_doc_load_buffer("t.yaml", yaml, strlen(yaml), &doc, &errs) == 0,
		      "bad test YAML: %s", errs.n ? errs.msgs[0] : "?");
	ck_assert_ptr_nonnull(doc->root);
	if (keywords) {
		rc = aw_sigma_keywords_compile(doc->root, cur_ctx, out, &err);
	} else {
		ck_assert_int_eq(doc->root->kind, AW_NODE_MAP);
		rc = aw_sigma_item_compile(doc->root->keys[0], doc->root->items[0], cur_ctx, out,
					   &err);
	}
	aw_doc_free(doc);
	aw_error_list_free(&errs);
	return rc;
}

static struct aw_sigma_item *item(const char *yaml)
{
	struct aw_sigma_item *it = NULL;
	ck_assert_msg(compile_yaml(yaml, &it, false) == 0, "'%s': %s", yaml, err.msg);
	ck_assert_ptr_nonnull(it);
	return it;
}

static void ck_compile_error(const char *yaml, const char *want)
{
	struct aw_sigma_item *it = (struct aw_sigma_item *)1;
	ck_assert_msg(compile_yaml(yaml, &it, false) == -1, "'%s' compiled", yaml);
	ck_assert_ptr_null(it);
	ck_assert_msg(strcmp(err.msg, want) == 0, "'%s': error '%s', want '%s'", yaml, err.msg,
		      want);
}

static bool on(const struct aw_sigma_item *it, const char *json)
{
	ck_assert_msg(aw_event_view_reset(view, json, strlen(json), &err) == 0, "%s", err.msg);
	return aw_sigma_item_match(it, view);
}

/* yaml must match each event of yes[] and none of no[] (NULL-terminated). */
static void check(const char *yaml, const char *const *yes, const char *const *no)
{
	struct aw_sigma_item *it = item(yaml);
	for (size_t i = 0; yes[i]; i++)
		ck_assert_msg(on(it, yes[i]), "'%s' should match %s", yaml, yes[i]);
	for (size_t i = 0; no[i]; i++)
		ck_assert_msg(!on(it, no[i]), "'%s' should not match %s", yaml, no[i]);
	aw_sigma_item_free(it);
}

#define YES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NO(...)	 ((const char *const[]){__VA_ARGS__, NULL})

/* --- plain values ----------------------------------------------------------------- */

START_TEST(string_is_whole_value_case_insensitive)
{
	check("OperationName: MICROSOFT.KEYVAULT/VAULTS/SECRETS/READ",
	      YES("{\"OperationName\":\"Microsoft.KeyVault/vaults/secrets/read\"}",
		  "{\"operationName\":\"microsoft.keyvault/vaults/secrets/read\"}"),
	      NO("{\"OperationName\":\"Microsoft.KeyVault/vaults/secrets/readx\"}",
		 "{\"OperationName\":\"x Microsoft.KeyVault/vaults/secrets/read\"}", "{}",
		 "{\"OperationName\":null}"));
}
END_TEST

START_TEST(items_written_alike_share_a_result)
{
	/* rules repeat items; an event evaluates each distinct one once, its result kept
	 * in the view under the item's id until the next event */
	struct aw_sigma_item *a = item("ResultSignature: ['401', '403']");
	struct aw_sigma_item *b = item("ResultSignature: ['401', '403']");
	struct aw_sigma_item *c = item("ResultSignature: ['401', 403]");
	struct aw_sigma_item *d = item("ResultSignature|contains: ['401', '403']");
	struct aw_sigma_item *e = item("resultsignature: ['401', '403']");

	ck_assert_uint_ne(aw_sigma_item_id(a), 0);
	ck_assert_uint_eq(aw_sigma_item_id(a), aw_sigma_item_id(b));
	ck_assert_uint_ne(aw_sigma_item_id(a), aw_sigma_item_id(c)); /* a number, not a string */
	ck_assert_uint_ne(aw_sigma_item_id(a), aw_sigma_item_id(d));
	ck_assert_uint_ne(aw_sigma_item_id(a), aw_sigma_item_id(e));
	ck_assert(on(a, "{\"ResultSignature\":\"403\"}"));
	/* b reads a's result: planting the opposite shows it is not evaluated again */
	aw_event_view_set_result(view, aw_sigma_item_id(a), false);
	ck_assert(!aw_sigma_item_match(b, view));
	ck_assert_int_eq(aw_event_view_result(view, aw_sigma_item_id(d)), -1);
	/* the next event starts with nothing known */
	ck_assert(on(b, "{\"ResultSignature\":\"401\"}"));
	ck_assert(!on(b, "{\"ResultSignature\":\"200\"}"));
	ck_assert_int_eq(aw_event_view_result(view, aw_sigma_item_id(a)), 0);
	for (struct aw_sigma_item **p = (struct aw_sigma_item *[]){a, b, c, d, e, NULL}; *p; p++)
		aw_sigma_item_free(*p);

	/* expand takes its values from the configuration: no shared result */
	struct aw_sigma_placeholder ph[] = {{"Admins", (const char *const[]){"root"}, 1}};
	struct aw_sigma_compile_ctx ctx = {.placeholders = ph, .nplaceholders = 1};
	cur_ctx = &ctx;
	a = item("u|expand: '%Admins%'");
	ck_assert_uint_eq(aw_sigma_item_id(a), 0);
	aw_sigma_item_free(a);
}
END_TEST

START_TEST(value_list_is_or)
{
	check("Category: [Audit, RequestResponse]",
	      YES("{\"Category\":\"audit\"}", "{\"Category\":\"RequestResponse\"}"),
	      NO("{\"Category\":\"Trace\"}", "{}"));
}
END_TEST

START_TEST(yaml_and_sigma_escaping_layers)
{
	/* double-quoted YAML: \" is a quote before Sigma sees it */
	check("f|contains: \"State\\\":0\"", YES("{\"f\":\"{\\\"State\\\":0}\"}"),
	      NO("{\"f\":\"{\\\"State\\\":1}\"}"));
	/* single-quoted YAML: the backslash stays, and Sigma keeps `\"` literal */
	check("f|contains: '[\\\"Guest\\\"]'", YES("{\"f\":\"x[\\\\\\\"Guest\\\\\\\"]y\"}"),
	      NO("{\"f\":\"x[\\\"Guest\\\"]y\"}"));
	/* Windows paths in plain scalars: `\W` is a backslash, but `\*` is a literal star */
	check("f: C:\\Windows\\*\\cmd.exe", YES("{\"f\":\"c:\\\\windows*\\\\CMD.EXE\"}"),
	      NO("{\"f\":\"c:\\\\windows\\\\system32\\\\cmd.exe\"}"));
	check("f: C:\\Windows\\\\*\\cmd.exe",
	      YES("{\"f\":\"c:\\\\windows\\\\system32\\\\CMD.EXE\"}"),
	      NO("{\"f\":\"c:\\\\windows*\\\\cmd.exe\"}"));
	check("f: 'a\\*b'", YES("{\"f\":\"a*b\"}"), NO("{\"f\":\"axxb\"}"));
}
END_TEST

START_TEST(numbers_match_numbers_and_numeric_strings)
{
	check("ResultType: 0",
	      YES("{\"ResultType\":\"0\"}", "{\"ResultType\":0}", "{\"ResultType\":0.0}",
		  "{\"ResultType\":[50126,0]}"),
	      NO("{\"ResultType\":\"50126\"}", "{\"ResultType\":\"\"}", "{}",
		 "{\"ResultType\":false}", "{\"ResultType\":null}"));
	/* a quoted number is a string, still equal to the JSON number's text */
	check("ResultType: '0'", YES("{\"ResultType\":0}", "{\"ResultType\":\"0\"}"),
	      NO("{\"ResultType\":0.0}"));
	check("n: 0x10", YES("{\"n\":16}", "{\"n\":\"16\"}"), NO("{\"n\":10}"));
	check("n: 0b101", YES("{\"n\":5}"), NO("{\"n\":101}"));
	check("n: 1_000", YES("{\"n\":1000}"), NO("{\"n\":1}"));
	check("n: 1.5", YES("{\"n\":1.5}", "{\"n\":\"1.50\"}"), NO("{\"n\":1}"));
	check("n: -2", YES("{\"n\":-2}", "{\"n\":\"-2\"}"), NO("{\"n\":2}"));
	/* integers beyond 2^53 compare exactly */
	check("n: 9007199254740993", YES("{\"n\":9007199254740993}"),
	      NO("{\"n\":9007199254740992}"));
	check("n: -1234567890123456789", YES("{\"n\":-1234567890123456789}"),
	      NO("{\"n\":-1234567890123456788}", "{\"n\":1234567890123456789}"));
	check("n: 123456789012345678", YES("{\"n\":\"123456789012345678\"}"),
	      NO("{\"n\":123456789012345679}"));
	/* what PyYAML leaves as strings */
	check("n: 1e5", YES("{\"n\":\"1E5\"}"), NO("{\"n\":100000}"));
	check("n: 09", YES("{\"n\":\"09\"}"), NO("{\"n\":9}"));
	check("ip: 10.1.2.3", YES("{\"ip\":\"10.1.2.3\"}"), NO("{\"ip\":\"10.1.2.30\"}"));
}
END_TEST

START_TEST(booleans_match_bools_and_strings)
{
	check("consent: true",
	      YES("{\"consent\":true}", "{\"consent\":\"True\"}", "{\"consent\":\"TRUE\"}"),
	      NO("{\"consent\":false}", "{\"consent\":\"yes\"}", "{\"consent\":1}", "{}"));
	check("consent: no", YES("{\"consent\":false}", "{\"consent\":\"false\"}"),
	      NO("{\"consent\":\"no\"}", "{\"consent\":true}"));
	/* azure_app_end_user_consent.yml writes 'false' for a JSON boolean */
	check("consent: 'false'", YES("{\"consent\":false}", "{\"consent\":\"False\"}"),
	      NO("{\"consent\":true}"));
}
END_TEST

START_TEST(null_absent_and_empty)
{
	static const char *forms[] = {"f: null", "f: ~", "f:", "f: []", "f: NULL"};
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
		check(forms[i], YES("{}", "{\"f\":null}", "{\"g\":1}"),
		      NO("{\"f\":\"\"}", "{\"f\":0}", "{\"f\":\"null\"}"));
	check("f: ''", YES("{\"f\":\"\"}"), NO("{}", "{\"f\":null}", "{\"f\":\" \"}"));
	check("f: 'null'", YES("{\"f\":\"null\"}"), NO("{}", "{\"f\":null}"));
	check("f|neq: null", YES("{\"f\":\"\"}", "{\"f\":1}"), NO("{}", "{\"f\":null}"));
}
END_TEST

START_TEST(objects_and_arrays_match_as_text_and_elements)
{
	check("NetworkLocationDetails: '[]'", YES("{\"NetworkLocationDetails\":[]}"),
	      NO("{\"NetworkLocationDetails\":[{\"a\":1}]}"));
	check("TargetResources|contains: 2f4d6f2e-77c4-4c1b-9c3f-6d1a2b3c4d5e",
	      YES("{\"TargetResources\":[{\"id\":\"2F4D6F2E-77C4-4C1B-9C3F-6D1A2B3C4D5E\"}]}"),
	      NO("{\"TargetResources\":[{\"id\":\"other\"}]}"));
	check("TargetResources.ModifiedProperties.NewValue|contains: Admin",
	      YES("{\"TargetResources\":[{\"ModifiedProperties\":[{\"NewValue\":\"x\"},"
		  "{\"NewValue\":\"\\\"Global Admin\\\"\"}]}]}"),
	      NO("{\"TargetResources\":[{\"ModifiedProperties\":[{\"OldValue\":\"Admin\"}]}]}"));
	check("properties_s.objectId: ''",
	      YES("{\"properties_s\":\"{\\\"objectId\\\":\\\"\\\"}\"}"),
	      NO("{\"properties_s\":\"{\\\"objectId\\\":\\\"6f\\\"}\"}", "{}"));
}
END_TEST

/* --- modifiers -------------------------------------------------------------------- */

START_TEST(contains_startswith_endswith)
{
	check("f|contains: 'a*b'", YES("{\"f\":\"xxAyyBzz\"}", "{\"f\":\"ab\"}"),
	      NO("{\"f\":\"ba\"}"));
	check("f|contains: '*abc'", YES("{\"f\":\"xabcx\"}"), NO("{\"f\":\"ab\"}"));
	check("f|startswith: 'Micro'", YES("{\"f\":\"microsoft\"}"), NO("{\"f\":\"amicro\"}"));
	check("f|endswith: '*\\x.exe'", YES("{\"f\":\"C:\\\\dir\\\\X.EXE\"}"),
	      NO("{\"f\":\"x.exe\"}"));
	check("f|endswith: .exe", YES("{\"f\":\"a.exe\"}"), NO("{\"f\":\"a.exe.txt\"}"));
	check("f|startswith|endswith: mid", YES("{\"f\":\"a mid b\"}"), NO("{\"f\":\"m i d\"}"));
	/* a number under a string modifier is its text */
	check("f|contains: 42", YES("{\"f\":\"x42y\"}", "{\"f\":1420}"), NO("{\"f\":\"4 2\"}"));
	check("f|contains: ''", YES("{\"f\":\"\"}", "{\"f\":\"x\"}"), NO("{}"));
}
END_TEST

START_TEST(all_on_lists_and_arrays)
{
	check("f|contains|all: [foo, bar]", YES("{\"f\":\"foo and bar\"}"),
	      NO("{\"f\":\"foo only\"}"));
	check("tags|all: [a, b]", YES("{\"tags\":[\"A\",\"x\",\"b\"]}"),
	      NO("{\"tags\":[\"a\"]}", "{\"tags\":\"a\"}", "{}"));
}
END_TEST

START_TEST(base64_family)
{
	check("f|base64|contains: foobar", YES("{\"f\":\"xxZm9vYmFyxx\"}"),
	      NO("{\"f\":\"foobar\"}"));
	check("f|base64: foobar", YES("{\"f\":\"Zm9vYmFy\"}"), NO("{\"f\":\"xZm9vYmFy\"}"));
	check("f|base64offset|contains: foobar",
	      YES("{\"f\":\"Zm9vYmFy\"}", "{\"f\":\"IGZvb2Jhcg==\"}", "{\"f\":\"ICBmb29iYXI=\"}",
		  "{\"f\":\"..Zvb2Jhc..\"}", "{\"f\":\"mb29iYX\"}"),
	      NO("{\"f\":\"Zm9vYmE=\"}"));
	/* powershell -enc: the command is base64 of UTF-16LE */
	check("f|wide|base64offset|contains: cmd", YES("{\"f\":\"powershell -enc YwBtAGQA\"}"),
	      NO("{\"f\":\"cmd\"}"));
}
END_TEST

START_TEST(utf16_modifiers)
{
	check("f|utf16le|contains: cmd", YES("{\"f\":\"xc\\u0000m\\u0000d\\u0000y\"}"),
	      NO("{\"f\":\"cmd\"}"));
	check("f|utf16be|contains: cmd", YES("{\"f\":\"\\u0000c\\u0000m\\u0000d\"}"),
	      NO("{\"f\":\"c\\u0000m\\u0000d\\u0000\"}"));
	check("f|utf16|base64: a", YES("{\"f\":\"//5hAA==\"}"), NO("{\"f\":\"YQA=\"}"));
}
END_TEST

START_TEST(windash_variants)
{
	const char *yes[] = {"{\"c\":\"powershell -enc x\"}",
			     "{\"c\":\"powershell /enc x\"}",
			     "{\"c\":\"powershell \xe2\x80\x93"
			     "enc x\"}",
			     "{\"c\":\"powershell \xe2\x80\x94"
			     "enc x\"}",
			     "{\"c\":\"powershell \xe2\x80\x95"
			     "enc x\"}",
			     NULL};
	check("c|windash|contains: ' -enc '", yes, NO("{\"c\":\"powershell enc x\"}"));
	/* two flags: 25 variants, every combination */
	check("c|windash|contains: '-a -b'",
	      YES("{\"c\":\"/a \xe2\x80\x94"
		  "b\"}"),
	      NO("{\"c\":\"a b\"}"));
}
END_TEST

START_TEST(windash_cap)
{
	struct aw_sigma_compile_ctx ctx = {.windash_max_variants = 100};

	cur_ctx = &ctx;
	check("c|windash: '-a -b'", YES("{\"c\":\"/a -b\"}"), NO("{\"c\":\"a\"}")); /* 25 */
	ck_compile_error("c|windash: '-a -b -c'",
			 "'windash' of '-a -b -c' gives more than 100 variants (3 dashes)");
	cur_ctx = NULL;
	ck_compile_error("c|windash: '-a -b -c -d -e'",
			 "'windash' of '-a -b -c -d -e' gives more than 1024 variants (5 dashes)");
}
END_TEST

START_TEST(regex_modifier)
{
	check("f|re: 'ab+c'", YES("{\"f\":\"xxabbbcxx\"}"),
	      NO("{\"f\":\"ABC\"}", "{\"f\":\"ac\"}"));
	check("f|re|i: 'ab+c'", YES("{\"f\":\"ABBC\"}"), NO("{\"f\":\"ac\"}"));
	check("f|re|ignorecase|multiline: '^abc$'", YES("{\"f\":\"x\\nABC\\ny\"}"),
	      NO("{\"f\":\"xabc\"}"));
	check("f|re|s: 'a.b'", YES("{\"f\":\"a\\nb\"}"), NO("{\"f\":\"ab\"}"));
	check("f|re|dotall: 'a.b'", YES("{\"f\":\"a\\nb\"}"), NO("{\"f\":\"ab\"}"));
	check("f|re: ['^x', 'y$']", YES("{\"f\":\"xa\"}", "{\"f\":\"ay\"}"), NO("{\"f\":\"axa\"}"));
	check("f|re|all: ['^x', 'y$']", YES("{\"f\":\"xay\"}"), NO("{\"f\":\"xa\"}"));
	check("n|re: '^4\\d\\d$'", YES("{\"n\":403}", "{\"n\":\"429\"}"), NO("{\"n\":200}"));
}
END_TEST

START_TEST(cidr_modifier)
{
	check("ip|cidr: 10.0.0.0/8",
	      YES("{\"ip\":\"10.1.2.3\"}", "{\"ip\":\"::ffff:10.9.9.9\"}",
		  "{\"ip\":[\"1.1.1.1\",\"10.0.0.1\"]}"),
	      NO("{\"ip\":\"11.0.0.1\"}", "{\"ip\":\"10.0.0.***\"}", "{\"ip\":\"garbage\"}",
		 "{\"ip\":\"2001:db8::1\"}", "{}", "{\"ip\":10}"));
	check("ip|cidr: [192.168.0.0/16, '2001:db8::/32']",
	      YES("{\"ip\":\"192.168.7.7\"}", "{\"ip\":\"2001:DB8:1::5\"}"),
	      NO("{\"ip\":\"2001:db9::1\"}", "{\"ip\":\"192.169.0.1\"}"));
	check("ip|cidr: 203.0.113.7", YES("{\"ip\":\"203.0.113.7\"}"),
	      NO("{\"ip\":\"203.0.113.8\"}", "{\"ip\":\"203.0.113.***\"}"));
	check("ip|cidr: 10.0.0.0/15", YES("{\"ip\":\"10.0.255.1\"}", "{\"ip\":\"10.1.0.1\"}"),
	      NO("{\"ip\":\"10.2.0.1\"}"));
	check("ip|cidr: 0.0.0.0/0", YES("{\"ip\":\"8.8.8.8\"}"), NO("{\"ip\":\"::1\"}"));
	check("ip|cidr|neq: 10.0.0.0/8", YES("{\"ip\":\"8.8.8.8\"}", "{}"),
	      NO("{\"ip\":\"10.0.0.1\"}"));
}
END_TEST

START_TEST(exists_modifier)
{
	check("f|exists: true", YES("{\"f\":null}", "{\"f\":\"\"}", "{\"f\":[]}", "{\"F\":1}"),
	      NO("{}", "{\"g\":1}"));
	check("f|exists: false", YES("{}"), NO("{\"f\":null}", "{\"f\":\"\"}"));
	check("p.x|exists: yes", YES("{\"p\":\"{\\\"x\\\":null}\"}"), NO("{\"p\":\"{}\"}"));
}
END_TEST

START_TEST(cased_modifier)
{
	check("f|cased: Abc", YES("{\"f\":\"Abc\"}"), NO("{\"f\":\"abc\"}"));
	check("f|cased|contains: Abc", YES("{\"f\":\"xAbcx\"}"), NO("{\"f\":\"xABCx\"}"));
	check("f|cased: 12", YES("{\"f\":\"12\"}", "{\"f\":12}"), NO("{\"f\":12.0}"));
}
END_TEST

START_TEST(numeric_comparisons)
{
	check("n|gt: 10", YES("{\"n\":11}", "{\"n\":\"10.5\"}", "{\"n\":[1,20]}"),
	      NO("{\"n\":10}", "{\"n\":\"abc\"}", "{\"n\":true}", "{}", "{\"n\":null}"));
	check("n|gte: 10", YES("{\"n\":10}", "{\"n\":\"10\"}"), NO("{\"n\":9.99}"));
	check("n|lt: -1.5", YES("{\"n\":-2}"), NO("{\"n\":-1.5}", "{\"n\":\"\"}"));
	check("n|lte: 0", YES("{\"n\":0}", "{\"n\":\"-0\"}"), NO("{\"n\":0.1}"));
	check("n|gt|all: [1, 5]", YES("{\"n\":6}"), NO("{\"n\":3}"));
	check("DurationMs|gt: 1000", YES("{\"DurationMs\":\"1021\"}"),
	      NO("{\"DurationMs\":\"9\"}"));
}
END_TEST

START_TEST(neq_modifier)
{
	check("f|neq: a", YES("{}", "{\"f\":\"b\"}", "{\"f\":null}"),
	      NO("{\"f\":\"A\"}", "{\"f\":[\"b\",\"a\"]}"));
	check("f|neq: [a, b]", YES("{\"f\":\"c\"}"), NO("{\"f\":\"a\"}", "{\"f\":\"b\"}"));
	check("f|neq: 0", YES("{\"f\":1}"), NO("{\"f\":\"0\"}", "{\"f\":0}"));
}
END_TEST

START_TEST(fieldref_modifier)
{
	check("a|fieldref: b",
	      YES("{\"a\":\"X\",\"b\":\"x\"}", "{\"a\":\"1\",\"b\":1}",
		  "{\"a\":\"q\",\"b\":[\"p\",\"Q\"]}",
		  "{\"a\":\"v\",\"p\":\"{\\\"b\\\":\\\"v\\\"}\",\"b\":\"v\"}"),
	      NO("{\"a\":\"x\",\"b\":\"y\"}", "{\"a\":\"x\"}", "{\"b\":\"x\"}",
		 "{\"a\":null,\"b\":null}"));
	check("a|fieldref: p.b", YES("{\"a\":\"v\",\"p\":\"{\\\"b\\\":\\\"V\\\"}\"}"),
	      NO("{\"a\":\"v\",\"p\":\"{}\"}"));
	check("a|fieldref|contains: b", YES("{\"a\":\"hello world\",\"b\":\"O W\"}"),
	      NO("{\"a\":\"hello\",\"b\":\"world\"}"));
	check("a|fieldref|startswith: b", YES("{\"a\":\"hello\",\"b\":\"HE\"}"),
	      NO("{\"a\":\"hello\",\"b\":\"lo\"}"));
	check("a|fieldref|endswith: b", YES("{\"a\":\"hello\",\"b\":\"lo\"}"),
	      NO("{\"a\":\"hello\",\"b\":\"he\"}"));
	check("a|fieldref|cased: b", YES("{\"a\":\"X\",\"b\":\"X\"}"),
	      NO("{\"a\":\"X\",\"b\":\"x\"}"));
	check("a|fieldref|neq: b", YES("{\"a\":\"x\",\"b\":\"y\"}", "{\"a\":\"x\"}"),
	      NO("{\"a\":\"x\",\"b\":\"X\"}"));
}
END_TEST

START_TEST(expand_modifier)
{
	static const char *const admins[] = {"root", "adm*"};
	static const char *const dcs[] = {"dc1", "dc2"};
	struct aw_sigma_placeholder ph[] = {{"Admins", admins, 2}, {"DomainControllers", dcs, 2}};
	struct aw_sigma_compile_ctx ctx = {.placeholders = ph, .nplaceholders = 2};

	cur_ctx = &ctx;
	check("u|expand: '%Admins%'", YES("{\"u\":\"ROOT\"}", "{\"u\":\"administrator\"}"),
	      NO("{\"u\":\"bob\"}", "{\"u\":\"%Admins%\"}"));
	check("u|expand: '%Admins%@%DomainControllers%'",
	      YES("{\"u\":\"root@dc2\"}", "{\"u\":\"admin@dc1\"}"), NO("{\"u\":\"root@dc3\"}"));
	check("u|expand|contains: 'x\\%Admins%'", YES("{\"u\":\"ax%admins%b\"}"),
	      NO("{\"u\":\"xroot\"}"));
	check("u: '%Admins%'", YES("{\"u\":\"%admins%\"}"), NO("{\"u\":\"root\"}"));
	ck_compile_error("u|expand: '%Nobody%'",
			 "unknown placeholder '%Nobody%' in '%Nobody%' (expand)");
	cur_ctx = NULL;
	ck_compile_error("u|expand: 'x%Admins%'",
			 "unknown placeholder '%Admins%' in 'x%Admins%' (expand)");
}
END_TEST

/* --- keywords ------------------------------------------------------------------------ */

static struct aw_sigma_item *keywords(const char *yaml)
{
	struct aw_sigma_item *it = NULL;
	ck_assert_msg(compile_yaml(yaml, &it, true) == 0, "%s", err.msg);
	return it;
}

START_TEST(keyword_lists)
{
	struct aw_sigma_item *it = keywords("- mimikatz\n- 'sekurlsa::*'\n- 4624\n");

	ck_assert_ptr_null(aw_sigma_item_field(it));
	ck_assert(on(it, "{\"a\":\"run MimiKatz.exe\"}"));
	ck_assert(on(it, "{\"a\":{\"b\":[\"x\",\"SEKURLSA::logonpasswords\"]}}"));
	ck_assert(on(it, "{\"p\":\"{\\\"cmd\\\":\\\"mimikatz\\\"}\"}"));
	ck_assert(on(it, "{\"id\":\"event 4624\"}"));
	ck_assert(!on(it, "{\"mimikatz\":\"x\"}")); /* keys are not searched */
	ck_assert(!on(it, "{\"a\":\"mimi katz\"}"));
	aw_sigma_item_free(it);

	it = keywords("single\n");
	ck_assert(on(it, "{\"a\":\"a SINGLE b\"}"));
	aw_sigma_item_free(it);
}
END_TEST

START_TEST(keyword_maps_with_modifiers)
{
	check("'|all': [foo, bar]", YES("{\"a\":\"foo\",\"b\":\"xbarx\"}"), NO("{\"a\":\"foo\"}"));
	check("'|contains': [foo, bar]", YES("{\"a\":\"bar\"}"), NO("{\"a\":\"baz\"}"));
	check("'': needle", YES("{\"a\":\"haystack needle\"}"), NO("{\"a\":\"nee dle\"}"));
	check("'|cased': Needle", YES("{\"a\":\"Needle\"}"), NO("{\"a\":\"needle\"}"));
	check("'|re': 'a\\d+b'", YES("{\"a\":\"xa12b\"}"), NO("{\"a\":\"ab\"}"));
	check("'|startswith': pre", YES("{\"a\":\"prefix\"}"), NO("{\"a\":\"a prefix\"}"));
}
END_TEST

/* --- required literal and accessors ------------------------------------------------- */

static void ck_required(const char *yaml, const char *want)
{
	struct aw_sigma_item *it = NULL;
	size_t len = 99;

	ck_assert_msg(compile_yaml(yaml, &it, false) == 0, "%s", err.msg);
	const char *lit = aw_sigma_item_required_literal(it, &len);
	if (want) {
		ck_assert_msg(lit != NULL, "'%s': no literal, want '%s'", yaml, want);
		ck_assert_str_eq(lit, want);
		ck_assert_uint_eq(len, strlen(want));
	} else {
		ck_assert_msg(lit == NULL, "'%s': literal '%s', want none", yaml, lit);
		ck_assert_uint_eq(len, 0);
	}
	aw_sigma_item_free(it);
}

START_TEST(required_literals)
{
	ck_required("f|contains: 'Microsoft.KeyVault/vaults'", "microsoft.keyvault");
	ck_required("f: 'C:\\Windows\\System32\\*.exe'", "system32");
	ck_required("f|contains|all: [abc, 'longer one']", "longer one");
	ck_required("f: ab", NULL);
	ck_required("f: [abcd, efgh]", NULL);
	ck_required("f|re: 'abcdef'", NULL);
	ck_required("f: 12345", NULL);
	ck_required("f: true", NULL);
	ck_required("f|neq: abcdef", NULL);
	ck_required("f: null", NULL);
	ck_required("f|exists: true", NULL);
	ck_required("f|cidr: 10.0.0.0/8", NULL);
	ck_required("f|fieldref: other", NULL);
	ck_required("f|windash|contains: ' -encoded'", NULL);
	ck_required("f|base64offset|contains: foobar", NULL);
	ck_required("f|base64|contains: foobar", "zm9vymfy");
	ck_required("'|all': [mimikatz, sekurlsa]", "mimikatz");
	ck_required("f|cased: ABCDEF", "abcdef");
}
END_TEST

START_TEST(field_accessor)
{
	struct aw_sigma_item *it = item("properties_s.objectId|contains: x");
	ck_assert_str_eq(aw_sigma_item_field(it), "properties_s.objectId");
	aw_sigma_item_free(it);
	it = item("'|all': [a, b]");
	ck_assert_ptr_null(aw_sigma_item_field(it));
	aw_sigma_item_free(it);
}
END_TEST

/* --- compile errors ------------------------------------------------------------------ */

START_TEST(errors_modifiers)
{
	ck_compile_error("f|contain: x", "unknown modifier 'contain' (did you mean 'contains'?)");
	ck_compile_error("f|startwith: x",
			 "unknown modifier 'startwith' (did you mean 'startswith'?)");
	ck_compile_error("f|Contains: x", "unknown modifier 'Contains' (did you mean 'contains'?)");
	ck_compile_error("f|bogus: x", "unknown modifier 'bogus'");
	ck_compile_error("f||contains: x", "empty modifier in 'f||contains'");
	ck_compile_error("f|contains|contains: x", "modifier 'contains' is given twice");
	ck_compile_error("f|utf16le|wide: x", "modifier 'wide' is given twice");
	ck_compile_error("f|hour: 3", "modifier 'hour' is not supported");
	ck_compile_error("f|contains|re: x", "'re' must be the first modifier");
	ck_compile_error("f|neq|cidr: 10.0.0.0/8", "'cidr' must be the first modifier");
	ck_compile_error("f|neq|exists: true", "'exists' must be the first modifier");
	ck_compile_error("f|re|contains: x", "'contains' cannot be combined with 're'");
	ck_compile_error("f|re|cased: x", "'cased' cannot be combined with 're'");
	ck_compile_error("f|re|base64: x", "'base64' cannot be combined with 're'");
	ck_compile_error("f|cidr|contains: 10.0.0.0/8",
			 "'contains' cannot be combined with 'cidr'");
	ck_compile_error("f|gt|contains: 1", "'contains' cannot be combined with 'gt'");
	ck_compile_error("f|contains|gt: 1", "'contains' cannot be combined with 'gt'");
	ck_compile_error("f|gt|lt: 1", "'lt' cannot be combined with 'gt'");
	ck_compile_error("f|exists|neq: true", "'neq' cannot be combined with 'exists'");
	ck_compile_error("f|fieldref|base64: g", "'base64' cannot be combined with 'fieldref'");
	ck_compile_error("f|i: x", "'i' is only valid after 're'");
	ck_compile_error("f|contains|multiline: x", "'multiline' is only valid after 're'");
	ck_compile_error("'|exists': true", "'exists' needs a field name");
	ck_compile_error("'|gt': 1", "'gt' needs a field name");
	ck_compile_error("'|neq': 1", "'neq' needs a field name");
	ck_compile_error(
	    "f|contains|startswith|endswith|all|base64|base64offset|utf16le|utf16be|"
	    "utf16|windash|cased|neq|expand|fieldref|i|m|s: 1",
	    "more than 16 modifiers in 'f|contains|startswith|endswith|all|base64|"
	    "base64offset|utf16le|utf16be|utf16|windash|cased|neq|expand|fieldref|i|m|s'");
}
END_TEST

START_TEST(errors_values)
{
	ck_compile_error("f|all: x", "'all' needs a list of two or more values");
	ck_compile_error("f|contains|all: [x]", "'all' needs a list of two or more values");
	ck_compile_error("f|base64: 'foo*'", "'base64' cannot encode wildcards in 'foo*'");
	ck_compile_error("f|contains|base64offset: foo",
			 "'base64offset' cannot encode wildcards in 'foo'");
	ck_compile_error(
	    "f: [a, null]",
	    "null is not allowed in a value list (match it in a selection of its own)");
	ck_compile_error("f|contains: null", "null cannot be combined with 'contains'");
	ck_compile_error("f|exists: maybe", "'exists' needs true or false, got 'maybe'");
	ck_compile_error("f|exists: 'true'", "'exists' needs true or false, got 'true'");
	ck_compile_error("f|exists: [true, false]", "'exists' needs true or false, got 'a list'");
	ck_compile_error("f|gt: abc", "'gt' needs a number, got 'abc'");
	ck_compile_error("f|lte: '5'", "'lte' needs a number, got '5'");
	ck_compile_error("f|cidr: 10.0.0.0/33",
			 "'cidr' value '10.0.0.0/33' is not an IPv4 or IPv6 network");
	ck_compile_error("f|cidr: 10.0.0.***",
			 "'cidr' value '10.0.0.***' is not an IPv4 or IPv6 network");
	ck_compile_error("f|cidr: 10.0.0.1/8",
			 "'cidr' value '10.0.0.1/8' has host bits set after /8");
	ck_compile_error("f|fieldref: 'a*'",
			 "'fieldref' value 'a*' must be a field name, not a pattern");
	ck_compile_error("f|re: '(a'",
			 "regular expression '(a': missing closing parenthesis at offset 2");
	ck_compile_error(
	    "f: 0012", "ambiguous number '0012' (YAML 1.1 and 1.2 read it differently): quote it, "
		       "or write it in plain decimal");
	ck_compile_error(
	    "f: 0o17", "ambiguous number '0o17' (YAML 1.1 and 1.2 read it differently): quote it, "
		       "or write it in plain decimal");
	ck_compile_error(
	    "f: 1:30", "ambiguous number '1:30' (YAML 1.1 and 1.2 read it differently): quote it, "
		       "or write it in plain decimal");
	ck_compile_error("f: .inf", "'.inf' is not a usable number");
	ck_compile_error("f: 99999999999999999999",
			 "number '99999999999999999999' is out of range");
	ck_compile_error("f: {a: 1}", "a value must be a scalar or a list of scalars, not a map");
	ck_compile_error("f: [a, [b]]", "a value list may only hold scalars (item 2 is a list)");
	ck_compile_error("f: [a, {b: c}]", "a value list may only hold scalars (item 2 is a map)");
}
END_TEST

START_TEST(errors_keywords)
{
	struct aw_sigma_item *it = (struct aw_sigma_item *)1;
	ck_assert_int_eq(compile_yaml("- a\n- null\n", &it, true), -1);
	ck_assert_str_eq(
	    err.msg, "null is not allowed in a value list (match it in a selection of its own)");
	ck_assert_int_eq(compile_yaml("- a\n- [b]\n", &it, true), -1);
	ck_assert_str_eq(err.msg, "a value list may only hold scalars (item 2 is a list)");
	ck_compile_error("'': null", "null is not a keyword");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sigma_item");
	TCase *v = tcase_create("values");
	TCase *mods = tcase_create("modifiers");
	TCase *kw = tcase_create("keywords");
	TCase *errs = tcase_create("errors");

	tcase_add_checked_fixture(v, setup, teardown);
	tcase_add_test(v, string_is_whole_value_case_insensitive);
	tcase_add_test(v, value_list_is_or);
	tcase_add_test(v, items_written_alike_share_a_result);
	tcase_add_test(v, yaml_and_sigma_escaping_layers);
	tcase_add_test(v, numbers_match_numbers_and_numeric_strings);
	tcase_add_test(v, booleans_match_bools_and_strings);
	tcase_add_test(v, null_absent_and_empty);
	tcase_add_test(v, objects_and_arrays_match_as_text_and_elements);
	suite_add_tcase(s, v);

	tcase_add_checked_fixture(mods, setup, teardown);
	tcase_add_test(mods, contains_startswith_endswith);
	tcase_add_test(mods, all_on_lists_and_arrays);
	tcase_add_test(mods, base64_family);
	tcase_add_test(mods, utf16_modifiers);
	tcase_add_test(mods, windash_variants);
	tcase_add_test(mods, windash_cap);
	tcase_add_test(mods, regex_modifier);
	tcase_add_test(mods, cidr_modifier);
	tcase_add_test(mods, exists_modifier);
	tcase_add_test(mods, cased_modifier);
	tcase_add_test(mods, numeric_comparisons);
	tcase_add_test(mods, neq_modifier);
	tcase_add_test(mods, fieldref_modifier);
	tcase_add_test(mods, expand_modifier);
	suite_add_tcase(s, mods);

	tcase_add_checked_fixture(kw, setup, teardown);
	tcase_add_test(kw, keyword_lists);
	tcase_add_test(kw, keyword_maps_with_modifiers);
	tcase_add_test(kw, required_literals);
	tcase_add_test(kw, field_accessor);
	suite_add_tcase(s, kw);

	tcase_add_checked_fixture(errs, setup, teardown);
	tcase_add_test(errs, errors_modifiers);
	tcase_add_test(errs, errors_values);
	tcase_add_test(errs, errors_keywords);
	suite_add_tcase(s, errs);
	return s;
}

AW_TEST_MAIN(suite)
