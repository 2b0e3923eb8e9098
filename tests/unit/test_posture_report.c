/* The posture report (posture_report.c, posture_report_html.c) over small inventories:
 * resources in id order whatever the inventory's order, elements without checks left
 * out but counted, totals, controls in their framework's order, JSON members, and
 * everything from the inventory escaped in HTML and defused in text. The full report of
 * the fixture estate is compared with hand-written ones in tests/operations. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture_report.h"
#include "testutil.h"

#define SUB "/subscriptions/11111111-1111-1111-1111-111111111111"
#define VAULT(n)                                                                                   \
	"{\"id\":\"" SUB "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/" n "\","         \
	"\"type\":\"microsoft.keyvault/vaults\",\"name\":\"" n "\""

static json_object *parse(const char *text)
{
	json_object *o = json_tokener_parse(text);

	ck_assert_msg(o != NULL, "not JSON: %s", text);
	return o;
}

/* Render into a string (malloc'd). */
static char *render(const char *inventory, enum aw_posture_format fmt, int fw,
		    struct aw_posture_counts *totals)
{
	json_object *inv = parse(inventory);
	struct aw_posture_report_info info = {
	    .source = "unit", .generated = 1767225600, .complete = true};
	struct aw_posture_report *r = NULL;
	struct aw_error err = {{0}};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_msg(aw_posture_report_new(inv, &info, &r, &err) == 0, "%s", err.msg);
	json_object_put(inv); /* the report holds its own reference */
	if (totals)
		*totals = aw_posture_report_totals(r);
	ck_assert_msg(aw_posture_report_write(r, fmt, fw, f, &err) == 0, "%s", err.msg);
	fclose(f);
	aw_posture_report_free(r);
	return buf;
}

START_TEST(resources_in_id_order_and_counted)
{
	struct aw_posture_counts t;
	char *s = render(
	    "[" VAULT(
		"zeta") ",\"properties\":{\"enablePurgeProtection\":true}},"
			"7, {\"type\":\"Microsoft.Storage/storageAccounts\",\"id\":\"/x\"}," VAULT(
			    "alpha") ",\"properties\":{}}]",
	    AW_POSTURE_TEXT, -1, &t);
	const char *a = strstr(s, "/vaults/alpha\n"), *z = strstr(s, "/vaults/zeta\n");

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(z);
	ck_assert(a < z);
	ck_assert_ptr_nonnull(strstr(s, "Generated: 2026-01-01T00:00:00Z\n"));
	ck_assert_ptr_nonnull(strstr(s, "Inventory: 4 elements, complete\n"));
	ck_assert_ptr_nonnull(
	    strstr(s, "Summary: 10 checks on 2 resources: 3 passed, 7 failed, 0 unknown\n"));
	ck_assert_uint_eq(t.passed, 3);
	ck_assert_uint_eq(t.failed, 7);
	ck_assert_ptr_nonnull(strstr(s, "  Microsoft.KeyVault/vaults, subscription "
					"11111111-1111-1111-1111-111111111111\n"));
	ck_assert_ptr_nonnull(strstr(s, "  FAIL     AIW-KV-001   High    Key Vault: purge "
					"protection enabled\n           actual: absent (default: "
					"false); expected: true\n"));
	/* each failed check once in Remediation, with how many resources failed it */
	ck_assert_ptr_nonnull(strstr(s, "\nAIW-KV-001  Key Vault: purge protection enabled\n"
					"  failed on 1 resource\n  az keyvault update"));
	ck_assert_ptr_nonnull(strstr(s, "\nAIW-KV-003  Key Vault: public network access "
					"disabled\n  failed on 2 resources\n"));
	free(s);
}
END_TEST

START_TEST(empty_inventory)
{
	struct aw_posture_counts t;
	char *s = render("[]", AW_POSTURE_TEXT, -1, &t);

	ck_assert_ptr_nonnull(strstr(s, "Summary: 0 checks on 0 resources: 0 passed, 0 failed"));
	ck_assert_ptr_null(strstr(s, "Remediation"));
	ck_assert_uint_eq(t.passed + t.failed + t.unknown, 0);
	free(s);
}
END_TEST

START_TEST(not_an_array)
{
	json_object *o = parse("{\"id\":\"x\"}");
	struct aw_posture_report *r = (struct aw_posture_report *)1;
	struct aw_error err = {{0}};

	ck_assert_int_eq(aw_posture_report_new(o, NULL, &r, &err), -1);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(err.msg, "posture report: the inventory is not a JSON array");
	json_object_put(o);
}
END_TEST

/* NIST controls sorted with their numbers as numbers: AC-3 < AC-4 < AC-6 < AC-17. */
START_TEST(controls_in_framework_order)
{
	char *s = render("[{\"id\":\"" SUB "/x/computes/c\",\"type\":"
			 "\"Microsoft.MachineLearningServices/workspaces/computes\","
			 "\"properties\":{\"computeType\":\"AmlCompute\"}}," VAULT("v") "}]",
			 AW_POSTURE_TEXT, AW_FW_NIST, NULL);
	const char *ac3 = strstr(s, "\nAC-3  Access Enforcement\n");
	const char *ac6 = strstr(s, "\nAC-6  Least Privilege\n");
	const char *ac17 = strstr(s, "\nAC-17  Remote Access\n");
	const char *sc7 = strstr(s, "\nSC-7  Boundary Protection\n");

	ck_assert_ptr_nonnull(strstr(s, "Framework: NIST SP 800-53 Rev. 5 (nist)\n"));
	ck_assert_ptr_nonnull(ac3);
	ck_assert_ptr_nonnull(ac6);
	ck_assert_ptr_nonnull(ac17);
	ck_assert_ptr_nonnull(sc7);
	ck_assert(ac3 < ac6);
	ck_assert(ac6 < ac17);
	ck_assert(ac17 < sc7);
	/* AC-17 holds the cluster's remote login check only */
	ck_assert_ptr_nonnull(strstr(ac17, "  0 passed, 1 failed, 0 unknown\n  FAIL     "
					   "AIW-ML-105   " SUB "/x/computes/c: absent (default: "
					   "NotSpecified (Enabled))\n"));
	/* no section for a control no result touches (SI-10: content filters) */
	ck_assert_ptr_null(strstr(s, "SI-10"));
	ck_assert_ptr_null(strstr(s, "\nResources\n"));
	free(s);
}
END_TEST

START_TEST(json_members)
{
	char *s =
	    render("[" VAULT("v") ",\"properties\":{\"enableSoftDelete\":false},"
				  "\"_aiwatch\":{\"error\":\"diagnosticSettings: HTTP 403\"}}]",
		   AW_POSTURE_JSON, AW_FW_MCSB, NULL);
	json_object *o = parse(s), *v, *x;

	ck_assert(json_object_object_get_ex(o, "framework", &v));
	ck_assert_str_eq(json_object_get_string(v), "mcsb");
	ck_assert(json_object_object_get_ex(o, "summary", &v));
	ck_assert(json_object_object_get_ex(v, "unknown", &x));
	ck_assert_int_eq(json_object_get_int(x), 1);
	ck_assert(json_object_object_get_ex(o, "resources", &v));
	v = json_object_array_get_idx(v, 0);
	ck_assert(json_object_object_get_ex(v, "results", &v));
	ck_assert_uint_eq(json_object_array_length(v), 5);
	x = json_object_array_get_idx(v, 4);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(x, "check")), "AIW-KV-005");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(x, "status")), "unknown");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(x, "actual")),
			 "could not be read: diagnosticSettings: HTTP 403");
	ck_assert(json_object_object_get_ex(o, "controls", &v));
	ck_assert_str_eq(json_object_get_string(
			     json_object_object_get(json_object_array_get_idx(v, 0), "control")),
			 "BR-2");
	ck_assert(json_object_object_get_ex(o, "checks", &v));
	ck_assert(json_object_object_get_ex(v, "AIW-KV-004", &x));
	ck_assert(json_object_object_get_ex(x, "controls", &x));
	ck_assert(json_object_object_get_ex(x, "soc2", &x));
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(x, 0)), "A1.2");
	json_object_put(o);
	free(s);
}
END_TEST

#define HOSTILE                                                                                    \
	"[{\"id\":\"" SUB "/r/\\\"><script>alert(1)</script>\","                                   \
	"\"type\":\"Microsoft.CognitiveServices/accounts/deployments\","                           \
	"\"properties\":{\"raiPolicyName\":\"\"},"                                                 \
	"\"subscriptionId\":\"<img src=x onerror=alert(2)>\"},"                                    \
	"{\"id\":\"" SUB "/d2\",\"type\":\"Microsoft.CognitiveServices/accounts/deployments\","    \
	"\"properties\":{\"raiPolicyName\":\"a&b <i>'\\\"\\u001b[31m\"}}]"

START_TEST(html_escapes_everything)
{
	char *s = render(HOSTILE, AW_POSTURE_HTML, -1, NULL);

	ck_assert_ptr_null(strstr(s, "<script"));
	ck_assert_ptr_null(strstr(s, "<img"));
	ck_assert_ptr_null(strstr(s, "<i>"));
	ck_assert_ptr_null(strstr(s, "\x1b"));
	ck_assert_ptr_nonnull(strstr(s, "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
	ck_assert_ptr_nonnull(strstr(s, "&lt;img src=x onerror=alert(2)&gt;"));
	ck_assert_ptr_nonnull(strstr(s, "a&amp;b &lt;i&gt;&#39;&quot;\xEF\xBF\xBD[31m"));
	/* the failed one is listed with its resource, escaped inside the attribute too */
	ck_assert_ptr_nonnull(strstr(s, "<tr class=\"failed\" data-check=\"AIW-CS-101\" "
					"data-resource=\"" SUB "/r/&quot;&gt;&lt;script&gt;"));
	ck_assert_ptr_nonnull(strstr(s, "<svg id=\"chart\""));
	ck_assert_ptr_nonnull(strstr(s, "</html>\n"));
	free(s);
}
END_TEST

START_TEST(text_defuses_control_characters)
{
	char *s = render(HOSTILE, AW_POSTURE_TEXT, -1, NULL);

	ck_assert_ptr_null(strstr(s, "\x1b"));
	ck_assert_ptr_nonnull(strstr(s, "actual: a&b <i>'\"?[31m\n"));
	free(s);
}
END_TEST

START_TEST(framework_titles)
{
	ck_assert_str_eq(aw_posture_framework_title(AW_FW_MCSB),
			 "Microsoft cloud security benchmark v1");
	ck_assert_str_eq(aw_posture_framework_title(AW_FW_ISO27001), "ISO/IEC 27001:2022 Annex A");
	ck_assert_str_eq(aw_posture_framework_title(AW_FW_COUNT), "unknown framework");
}
END_TEST

static Suite *posture_report_suite(void)
{
	Suite *s = suite_create("posture_report");
	TCase *tc = tcase_create("report");

	tcase_add_test(tc, resources_in_id_order_and_counted);
	tcase_add_test(tc, empty_inventory);
	tcase_add_test(tc, not_an_array);
	tcase_add_test(tc, controls_in_framework_order);
	tcase_add_test(tc, json_members);
	tcase_add_test(tc, html_escapes_everything);
	tcase_add_test(tc, text_defuses_control_characters);
	tcase_add_test(tc, framework_titles);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(posture_report_suite)
