/* libFuzzer target: posture evaluation and reports over arbitrary JSON. The bytes are
 * parsed with json-c; an object is evaluated as it is and again under each type the
 * check table knows (so mutations reach every rule without guessing a type string),
 * and an object or array is made into a report written as text, JSON and HTML, by
 * resource and by a framework's controls. Every result must have a check, a known
 * status and a NUL-terminated Actual. */
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "posture.h"
#include "posture_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = {
    "Microsoft.CognitiveServices/accounts",
    "microsoft.cognitiveservices/accounts/deployments",
    "Microsoft.MachineLearningServices/workspaces",
    "Microsoft.MachineLearningServices/workspaces/computes",
    "Microsoft.KeyVault/vaults",
    "Microsoft.KeyVault/vaults/secrets",
    "Microsoft.Security/pricings",
};
#define NTYPES (sizeof types / sizeof types[0])

static FILE *sink;
static unsigned seen;

static void check_result(void *ud, const struct aw_posture_result *r)
{
	size_t n;

	(void)ud;
	if (!r->check || r->status > AW_POSTURE_UNKNOWN)
		__builtin_trap();
	n = strnlen(r->actual, sizeof r->actual);
	if (n == sizeof r->actual)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		seen += (unsigned char)r->actual[i];
	if (!aw_posture_check_id(r->check) || !aw_posture_check_remediation(r->check))
		__builtin_trap();
}

static void report(json_object *inv, int framework)
{
	struct aw_posture_report_info info = {
	    .source = "fuzz", .generated = 0, .complete = framework & 1, .error = "fuzz"};
	struct aw_posture_report *r = NULL;
	struct aw_posture_counts t;

	if (aw_posture_report_new(inv, &info, &r, NULL) != 0)
		return;
	t = aw_posture_report_totals(r);
	if (t.passed + t.failed + t.unknown < aw_posture_report_resources(r))
		__builtin_trap();
	aw_posture_report_write(r, AW_POSTURE_TEXT, framework, sink, NULL);
	aw_posture_report_write(r, AW_POSTURE_JSON, framework, sink, NULL);
	aw_posture_report_write(r, AW_POSTURE_HTML, framework, sink, NULL);
	aw_posture_report_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_tokener *tok;
	json_object *o, *arr;
	int framework = size ? (int)(data[0] % (AW_FW_COUNT + 1)) - 1 : -1;

	if (!sink)
		sink = fopen("/dev/null", "w");
	if (!sink || size > (1u << 20))
		return 0;
	tok = json_tokener_new();
	if (!tok)
		return 0;
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (!o)
		return 0;
	if (json_object_is_type(o, json_type_object)) {
		aw_posture_evaluate(o, check_result, NULL);
		for (size_t i = 0; i < NTYPES; i++) {
			json_object_object_add(o, "type", json_object_new_string(types[i]));
			aw_posture_evaluate(o, check_result, NULL);
		}
		arr = json_object_new_array();
		if (arr && json_object_array_add(arr, json_object_get(o)) == 0)
			report(arr, framework);
		json_object_put(arr);
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			aw_posture_evaluate(json_object_array_get_idx(o, i), check_result, NULL);
		report(o, framework);
	}
	json_object_put(o);
	return 0;
}
