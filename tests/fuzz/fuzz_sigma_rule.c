/* libFuzzer target: Sigma rule text -> YAML documents -> compiled rules -> evaluation.
 *
 * Exercises the multi-document loader in rule mode, the rule compiler (detection,
 * correlation and filter documents, every modifier, the condition compiler) and then
 * evaluates each compiled detection against a fixed Log Analytics record, so a rule
 * that compiles must also evaluate without undefined behaviour. Everything is freed on
 * every path so LeakSanitizer turns a leak into a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event_view.h"
#include "rules/sigma_rule.h"

static const char event_json[] =
	"{\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":\"2026-11-20T10:00:00.000Z\","
	"\"_ItemId\":\"x\",\"ResourceProvider\":\"MICROSOFT.COGNITIVESERVICES\","
	"\"Category\":\"RequestResponse\",\"OperationName\":\"ChatCompletions_Create\","
	"\"ResultSignature\":\"429\",\"DurationMs\":12,\"CallerIPAddress\":\"203.0.113.***\","
	"\"properties_s\":\"{\\\"objectId\\\":\\\"\\\",\\\"requestLength\\\":1234,"
	"\\\"modelDeploymentName\\\":\\\"gpt-4o\\\"}\",\"Tags\":[\"a\",\"b\"]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct aw_event_view *view;
	static const char *const ph_values[] = {"alice", "bob"};
	static const struct aw_sigma_placeholder ph[] = {{"Admins", ph_values, 2}};
	const struct aw_sigma_compile_ctx ctx = {.placeholders = ph, .nplaceholders = 1};
	struct aw_error_list errs = {0};
	struct aw_doc **docs = NULL;
	size_t ndocs = 0;
	struct aw_error err;

	if (size > 64 * 1024)
		return 0;
	if (!view) {
		view = aw_event_view_new(4096);
		if (!view || aw_event_view_reset(view, event_json, strlen(event_json), &err) != 0)
			abort();
	}
	if (aw_doc_load_all_buffer("fuzz.yml", (const char *)data, size, &docs, &ndocs, &errs) ==
	    0) {
		for (size_t i = 0; i < ndocs; i++) {
			struct aw_sigma_rule *r = NULL;
			if (!docs[i]->root ||
			    aw_sigma_rule_compile(docs[i]->root, "fuzz.yml", &ctx, &r, &err) != 0)
				continue;
			if (r->kind != AW_SIGMA_CORRELATION)
				(void)aw_sigma_detection_match(&r->det, view);
			aw_sigma_rule_free(r);
		}
	}
	aw_doc_free_all(docs, ndocs);
	aw_error_list_free(&errs);
	return 0;
}
