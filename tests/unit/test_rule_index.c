/* The rule index (rules filed by the values, prefixes, suffixes and substrings a
 * required field must have) must never hide a match: each case below is a rule that is filed and an event whose
 * value only matches after the same folding, number-as-text or array handling the
 * full evaluation applies, next to rules the index must not file. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "event_view.h"
#include "records.h"
#include "rules/rule_index.h"
#include "rules/ruleset.h"
#include "testutil.h"

static const char *const rules_yaml =
	"title: keys listed\nid: r-listkeys\nlevel: high\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  sel:\n    OperationNameValue: MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION\n"
	"  condition: sel\n"
	"---\n"
	"title: denied\nid: r-denied\nlevel: medium\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  sel:\n    ResultSignature: ['401', '403']\n    OperationNameValue|startswith: MICROSOFT.\n"
	"  condition: sel\n"
	"---\n"
	"title: tagged\nid: r-tag\nlevel: low\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  sel:\n    Tags: blue\n  condition: sel\n"
	"---\n"
	"title: either\nid: r-either\nlevel: low\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  a:\n    Caller: alice@contoso.example\n  b:\n    Caller: bob@contoso.example\n"
	"  condition: a or b\n"
	"---\n"
	"title: contains\nid: r-contains\nlevel: low\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  sel:\n    Properties|contains: needle\n  condition: sel\n"
	"---\n"
	"title: affixes\nid: r-affix\nlevel: low\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  sel:\n    Resource|startswith: ['oai-', 'Ä-']\n    Resource|endswith: -PROD\n"
	"    Caller|contains: ['Ölaf', '@ops.']\n"
	"  condition: sel\n"
	"---\n"
	"title: twice\nid: r-twice\nlevel: low\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  a:\n    Level|contains: warn\n  b:\n    Level|contains: warn\n"
	"  condition: a and b\n"
	"---\n"
	"title: key auth\nid: r-keyauth\nlevel: low\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  api:\n    Api: openai\n  key_empty:\n    Obj: ''\n  key_missing:\n    Obj: null\n"
	"  filter:\n    Code: ['401', '403']\n"
	"  condition: api and 1 of key_* and not filter\n"
	"---\n"
	"title: one alternative unfiled\nid: r-regexor\nlevel: low\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  x_a:\n    Zone: west\n  x_b:\n    Zone|re: '^e.st$'\n"
	"  condition: 1 of x_*\n"
	"---\n"
	"title: neither\nid: r-neither\nlevel: low\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  sel:\n    Kind: probe\n  a:\n    Who: alice\n  b:\n    Who: bob\n"
	"  condition: sel and not (a or b)\n"
	"---\n"
	"title: a list of maps among the alternatives\nid: r-maps\nlevel: low\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  y_a:\n    Q: one\n  y_b:\n    - Q: two\n    - R: three\n"
	"  condition: 1 of y_*\n"
	"---\n"
	"title: an alternative also required\nid: r-alsoreq\nlevel: low\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  z_a:\n    S: four\n  z_b:\n    T: five\n"
	"  condition: z_a and 1 of z_*\n"
	"---\n"
	"title: not null\nid: r-notnull\nlevel: low\n"
	"logsource: {product: azure, service: activitylogs}\n"
	"detection:\n  sel:\n    Api2: ok\n    Obj2|neq: null\n  condition: sel\n";

static struct aw_engine *engine_for(const char *dir)
{
	char *path = aw_test_write(dir, "rules.yml", rules_yaml, 0600);
	const char *paths[] = {path};
	struct aw_engine_conf conf = {.rule_paths = paths, .nrule_paths = 1, .host = "t"};
	struct aw_error_list errs = {0};
	struct aw_engine *e = aw_engine_new(&conf, &errs);

	ck_assert_msg(errs.n == 0, "rules do not load: %s", errs.n ? errs.msgs[0] : "");
	ck_assert_ptr_nonnull(e);
	aw_error_list_free(&errs);
	free(path);
	return e;
}

struct seen {
	char ids[512];
};

static int on_alert(void *ud, const struct aw_record *rec)
{
	struct seen *s = ud;
	json_object *o = json_tokener_parse(rec->data), *id;

	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_object_get_ex(o, "RuleId", &id));
	strncat(s->ids, json_object_get_string(id), sizeof s->ids - strlen(s->ids) - 2);
	strcat(s->ids, ";");
	json_object_put(o);
	return 0;
}

static int on_event(void *ud, const struct aw_event *ev)
{
	void **a = ud;
	struct aw_error err;

	ck_assert_msg(aw_engine_eval(a[0], ev, on_alert, a[1], &err) >= 0, "%s", err.msg);
	return 0;
}

/* The RuleIds the record raised, ";"-separated in rule order. */
static void check(struct aw_engine *e, const char *body, const char *want)
{
	char rec[8192];
	struct seen s = {.ids = ""};
	void *a[2] = {e, &s};
	struct aw_error err;

	snprintf(rec, sizeof rec,
		 "{\"Type\":\"AzureActivity\",\"TimeGenerated\":\"2026-11-29T10:00:00Z\",%s}", body);
	ck_assert_msg(aw_records_parse(rec, strlen(rec), "t", on_event, a, NULL, &err) == 1, "%s",
		      err.msg);
	ck_assert_msg(strcmp(s.ids, want) == 0, "%s: got \"%s\", want \"%s\"", body, s.ids, want);
}

START_TEST(filed_rules_match_like_full_evaluation)
{
	char *dir = aw_test_tmpdir();
	struct aw_engine *e = engine_for(dir);

	/* case-insensitive equality, as Sigma says */
	check(e, "\"OperationNameValue\":\"Microsoft.CognitiveServices/accounts/listKeys/action\"",
	      "r-listkeys;");
	/* a number in the record equals the quoted string in the rule */
	check(e, "\"ResultSignature\":403,\"OperationNameValue\":\"MICROSOFT.X/Y\"", "r-denied;");
	check(e, "\"ResultSignature\":\"401\",\"OperationNameValue\":\"microsoft.x\"", "r-denied;");
	check(e, "\"ResultSignature\":\"200\",\"OperationNameValue\":\"microsoft.x\"", "");
	/* arrays match element-wise */
	check(e, "\"Tags\":[\"red\",\"BLUE\"]", "r-tag;");
	check(e, "\"Tags\":[\"red\"]", "");
	/* a column name in another case is still found */
	check(e, "\"tags\":\"Blue\"", "r-tag;");
	/* an OR of two identifiers is filed under both: either one is a candidate */
	check(e, "\"Caller\":\"bob@contoso.example\"", "r-either;");
	check(e, "\"Caller\":\"ALICE@contoso.example\"", "r-either;");
	check(e, "\"Caller\":\"carol@contoso.example\"", "");
	/* `1 of` an empty value and null: filed under the value and under "absent or
	 * null", which holds for a missing field, a null, and an array holding a null */
	check(e, "\"Api\":\"OpenAI\",\"Obj\":\"\"", "r-keyauth;");
	check(e, "\"Api\":\"OpenAI\",\"Other\":1", "r-keyauth;");
	check(e, "\"Api\":\"OpenAI\",\"Obj\":null", "r-keyauth;");
	check(e, "\"Api\":\"OpenAI\",\"Obj\":[\"x\",null]", "r-keyauth;");
	check(e, "\"Api\":\"OpenAI\",\"Obj\":[\"x\",\"\"]", "r-keyauth;");
	check(e, "\"Api\":\"OpenAI\",\"Obj\":\"x\"", "");
	check(e, "\"Api\":\"OpenAI\",\"Obj\":[\"x\"]", "");
	check(e, "\"Api\":\"OpenAI\",\"Obj\":\"\",\"Code\":401", "");
	check(e, "\"Api\":\"OpenAI\",\"Code\":\"403\"", "");
	/* a `1 of` with an alternative the index cannot file is not filed at all */
	check(e, "\"Zone\":\"east\"", "r-regexor;");
	check(e, "\"Zone\":\"West\"", "r-regexor;");
	/* an `or` under a `not` is no requirement */
	check(e, "\"Kind\":\"probe\"", "r-neither;");
	check(e, "\"Kind\":\"probe\",\"Who\":\"bob\"", "");
	/* an alternative that is itself an OR of maps, one required on its own too */
	check(e, "\"R\":\"three\"", "r-maps;");
	check(e, "\"Q\":\"one\"", "r-maps;");
	check(e, "\"S\":\"four\"", "r-alsoreq;");
	check(e, "\"T\":\"five\"", "");
	/* `neq: null` is no null item */
	check(e, "\"Api2\":\"ok\",\"Obj2\":\"x\"", "r-notnull;");
	check(e, "\"Api2\":\"ok\",\"Obj2\":null", "");
	/* a substring, in another case, inside JSON text kept as a string */
	check(e, "\"Properties\":\"{\\\"x\\\":\\\"a NEEDLE here\\\"}\"", "r-contains;");
	check(e, "\"Properties\":\"{\\\"x\\\":\\\"a needl here\\\"}\"", "");
	/* prefix, suffix and substring filed together: every one must hold */
	check(e, "\"Resource\":\"OAI-hr-prod\",\"Caller\":\"eve@OPS.contoso\"", "r-affix;");
	check(e, "\"Resource\":\"OAI-hr-prod\",\"Caller\":\"eve@contoso\"", "");
	check(e, "\"Resource\":\"oai-hr-test\",\"Caller\":\"eve@ops.contoso\"", "");
	check(e, "\"Resource\":\"xoai-prod\",\"Caller\":\"eve@ops.contoso\"", "");
	/* non-ASCII patterns go through the full matcher: Unicode case folding */
	check(e, "\"Resource\":\"ä-prod\",\"Caller\":\"ölaf@contoso\"", "r-affix;");
	/* an array: one element holds the prefix, another the suffix */
	check(e, "\"Resource\":[\"oai-x\",\"y-prod\"],\"Caller\":\"a@ops.b\"", "r-affix;");
	/* a value longer than the lower-cased copy: the matcher decides */
	{
		char body[6000] = "\"Caller\":\"";
		size_t n = strlen(body);
		memset(body + n, 'x', 5000);
		snprintf(body + n + 5000, sizeof body - n - 5000,
			 "@Ops.\",\"Resource\":\"oai-1-prod\"");
		check(e, body, "r-affix;");
	}
	/* one pattern required by two items: both count */
	check(e, "\"Level\":\"Warning\"", "r-twice;");
	/* nothing of the above */
	check(e, "\"OperationNameValue\":\"MICROSOFT.COGNITIVESERVICES/ACCOUNTS/READ\"", "");
	aw_engine_free(e);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(index_files_literal_required_items)
{
	char *dir = aw_test_tmpdir();
	char *path = aw_test_write(dir, "rules.yml", rules_yaml, 0600);
	const char *paths[] = {path};
	struct aw_ruleset_conf conf = {.paths = paths, .npaths = 1};
	struct aw_error_list errs = {0};
	struct aw_ruleset *rs = aw_ruleset_load(&conf, &errs);
	const struct aw_rs_route *rt;

	ck_assert_ptr_nonnull(rs);
	ck_assert_uint_eq(errs.n, 0);
	rt = aw_ruleset_route(rs, "activitylogs");
	ck_assert_ptr_nonnull(rt);
	ck_assert_uint_eq(rt->n, 13);
	ck_assert_ptr_nonnull(rt->index);
	/* every rule but "regexor" (one of its alternatives is a regular expression) and
	 * "maps" (one is a list of maps) */
	ck_assert_uint_eq(aw_rule_index_filed(rt->index), 11);
	aw_ruleset_free(rs);
	aw_error_list_free(&errs);
	free(path);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("rule_index");
	TCase *tc = tcase_create("index");

	tcase_add_test(tc, filed_rules_match_like_full_evaluation);
	tcase_add_test(tc, index_files_literal_required_items);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(suite)
