/* The file input on a real loop and pipeline (forward mode) with a capturing output:
 * what comes out for each kind of line, following, rotation, truncation, checkpoints
 * across restarts, stdin and back-pressure. */
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin_harness.h"
#include "state.h"

extern const struct aw_plugin_desc aw_in_file;

/* The file input on a loop and pipeline of its own (no Azure services). */
static const struct aw_test_harness_conf g_hc = {
    .input = &aw_in_file,
    .name = "files",
};

static void h_start(struct aw_test_harness *h, const char *yaml)
{
	aw_test_harness_start(h, &g_hc, yaml);
}

static bool records_captured(void *ud)
{
	return aw_test_cap.n >= *(size_t *)ud;
}

/* Run the loop until `aw_test_cap.n >= n` or `ms` have passed (n == 0: just run `ms`). */
static void run_for(struct aw_test_harness *h, size_t n, unsigned ms)
{
	aw_test_run_until(&h->loop, n ? records_captured : NULL, &n, ms);
}

static void wait_records(struct aw_test_harness *h, size_t n)
{
	run_for(h, n, 10000);
	ck_assert_msg(aw_test_cap.n >= n, "got %zu records, want %zu", aw_test_cap.n, n);
	/* Let the idle pass report durability before anything else happens. */
	run_for(h, 0, 60);
}

static void append(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A Log Analytics line with a recognisable marker. */
static char *la(int k)
{
	char *s;
	ck_assert_int_ge(asprintf(&s,
				  "{\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":"
				  "\"2025-05-12T08:%02d:00Z\",\"Category\":\"RequestResponse\","
				  "\"n\":%d}",
				  k % 60, k),
			 0);
	return s;
}

static void assert_rec_is(size_t i, int k)
{
	char *want = la(k);
	ck_assert_msg(i < aw_test_cap.n, "record %zu missing", i);
	ck_assert_str_eq(aw_test_cap.recs[i], want);
	free(want);
}

static char *yaml_for(const char *path, const char *extra)
{
	char *y;
	ck_assert_int_ge(asprintf(&y, "paths: [\"%s\"]\npoll_interval: 20ms\n%s", path, extra), 0);
	return y;
}

static char *lines(int from, int to)
{
	size_t cap = 64 + (size_t)(to - from + 1) * 160, n = 0;
	char *s = malloc(cap);
	s[0] = '\0';
	for (int k = from; k <= to; k++) {
		char *l = la(k);
		n += (size_t)snprintf(s + n, cap - n, "%s\n", l);
		free(l);
	}
	return s;
}

/* --- tests ----------------------------------------------------------------------- */

START_TEST(mixed_forms_exact_events)
{
	struct aw_test_harness h;
	char *l1 = la(1), *l2 = la(2), *l3 = la(3), *content, *path, *yaml;
	const char *diag =
		"{\"records\":[{\"time\":\"2025-05-12T08:10:00Z\",\"resourceId\":\"/SUBSCRIPTIONS/"
		"00000000-0000-4000-8000-000000000001/RESOURCEGROUPS/RG/PROVIDERS/"
		"MICROSOFT.COGNITIVESERVICES/ACCOUNTS/OAI\",\"category\":\"RequestResponse\","
		"\"operationName\":\"ChatCompletions_Create\",\"resultSignature\":\"429\","
		"\"properties\":{\"objectId\":\"\"}},{\"time\":\"2025-05-12T08:10:01Z\","
		"\"category\":\"Administrative\",\"operationName\":\"Microsoft.CognitiveServices/"
		"accounts/listKeys/action\"}]}";

	ck_assert_int_ge(asprintf(&content, "%s\n%s\r\n%s\n\n%s", l1, l2, diag, l3), 0);
	path = aw_test_write(aw_test_tmp.dir, "mixed.jsonl", content, 0644);
	yaml = yaml_for(path, "follow: false\n");
	h_start(&h, yaml);
	wait_records(&h, 5);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(aw_test_cap.n, 5);
	ck_assert_str_eq(aw_test_cap.recs[0], l1);
	ck_assert_str_eq(aw_test_cap.recs[1], l2); /* \r\n handled */
	ck_assert_ptr_nonnull(strstr(aw_test_cap.recs[2], "\"Type\":\"AzureDiagnostics\""));
	ck_assert_ptr_nonnull(strstr(aw_test_cap.recs[2], "\"ResultSignature\":\"429\""));
	ck_assert_ptr_nonnull(strstr(aw_test_cap.recs[2], "\"Resource\":\"OAI\""));
	ck_assert_ptr_nonnull(
	    strstr(aw_test_cap.recs[2], "\"properties_s\":\"{\\\"objectId\\\":\\\"\\\"}\""));
	ck_assert_ptr_nonnull(strstr(aw_test_cap.recs[3], "\"Type\":\"AzureActivity\""));
	ck_assert_ptr_nonnull(strstr(
	    aw_test_cap.recs[3],
	    "\"OperationNameValue\":\"MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION\""));
	ck_assert_str_eq(aw_test_cap.recs[4], l3); /* last line without newline, delivered at EOF */
	aw_test_harness_assert_metric(&h, "aiwatch_input_lines_total{input=\"files\"}", "5");
	char bytes[32];
	snprintf(bytes, sizeof bytes, "%zu", strlen(content));
	aw_test_harness_assert_metric(&h, "aiwatch_input_bytes_total{input=\"files\"}", bytes);
	aw_test_harness_assert_metric(&h, "aiwatch_events_total{input=\"files\"}", "5");
	int ready = aw_pipeline_ready(h.p, (char[64]){0}, 64);
	ck_assert_int_eq(ready, 1);
	aw_test_harness_stop(&h);
	aw_test_assert_logged("file input reached end of all files");
	free(l1);
	free(l2);
	free(l3);
	free(content);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(malformed_lines_skipped_and_counted)
{
	struct aw_test_harness h;
	char *l1 = la(1), *l2 = la(2), *l3 = la(3), *content, *path, *yaml;
	char longline[2100];

	memset(longline, 'x', sizeof longline - 1);
	longline[sizeof longline - 1] = '\0';
	longline[0] = '{';
	ck_assert_int_ge(asprintf(&content,
				  "%s\nthis is not json\n%s\n{\"records\":[%s,7]}\n%s\n%s\n",
				  l1, l2, l3, longline, l1),
			 0);
	path = aw_test_write(aw_test_tmp.dir, "bad.jsonl", content, 0644);
	yaml = yaml_for(path, "follow: false\nmax_line_bytes: 1KiB\n");
	h_start(&h, yaml);
	wait_records(&h, 4);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(aw_test_cap.n, 4);
	ck_assert_str_eq(aw_test_cap.recs[0], l1);
	ck_assert_str_eq(aw_test_cap.recs[1], l2);
	ck_assert_str_eq(aw_test_cap.recs[2], l3);
	ck_assert_str_eq(aw_test_cap.recs[3], l1);
	aw_test_harness_assert_metric(
	    &h, "aiwatch_events_skipped_total{input=\"files\",reason=\"malformed\"}", "2");
	aw_test_harness_assert_metric(
	    &h, "aiwatch_events_skipped_total{input=\"files\",reason=\"too_long\"}", "1");
	aw_test_harness_assert_metric(&h, "aiwatch_input_lines_total{input=\"files\"}", "6");
	aw_test_harness_stop(&h);

	char *log = aw_test_log(), want[600];
	snprintf(want, sizeof want, "file=%s", path);
	ck_assert_ptr_nonnull(strstr(log, want));
	ck_assert_ptr_nonnull(strstr(log, "line=2 "));
	ck_assert_ptr_nonnull(strstr(log, "not valid JSON"));
	ck_assert_ptr_nonnull(strstr(log, "line=4 "));
	ck_assert_ptr_nonnull(strstr(log, "record 1: record is not an object"));
	ck_assert_ptr_nonnull(strstr(log, "line=5 "));
	ck_assert_ptr_nonnull(strstr(log, "line longer than max_line_bytes (1024)"));
	free(log);
	free(l1);
	free(l2);
	free(l3);
	free(content);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(follow_picks_up_appended_lines)
{
	struct aw_test_harness h;
	char *first = lines(1, 2), *path, *yaml, *l3 = la(3), *l4 = la(4);

	path = aw_test_write(aw_test_tmp.dir, "grow.jsonl", first, 0644);
	yaml = yaml_for(path, "");
	h_start(&h, yaml);
	wait_records(&h, 2);
	append(path, l3);
	append(path, "\n");
	wait_records(&h, 3);
	assert_rec_is(2, 3);
	/* Half a line is held until its newline arrives. */
	size_t half = strlen(l4) / 2;
	char *head = strndup(l4, half);
	append(path, head);
	run_for(&h, 0, 150);
	ck_assert_uint_eq(aw_test_cap.n, 3);
	append(path, l4 + half);
	append(path, "\n");
	wait_records(&h, 4);
	assert_rec_is(3, 4);
	ck_assert_int_eq(aw_pipeline_ready(h.p, (char[64]){0}, 64), 1);
	aw_test_harness_stop(&h);
	free(head);
	free(first);
	free(path);
	free(yaml);
	free(l3);
	free(l4);
}
END_TEST

START_TEST(rotation_reads_rest_of_old_then_new)
{
	struct aw_test_harness h;
	char *first = lines(1, 2), *path, *yaml, *old, *more = lines(3, 3), *fresh = lines(4, 5);

	path = aw_test_write(aw_test_tmp.dir, "app.jsonl", first, 0644);
	ck_assert_int_ge(asprintf(&old, "%s.1", path), 0);
	yaml = yaml_for(path, "");
	h_start(&h, yaml);
	wait_records(&h, 2);
	/* logrotate's create mode: more lines land in the old file just before the move. */
	append(path, more);
	ck_assert_int_eq(rename(path, old), 0);
	free(aw_test_write(aw_test_tmp.dir, "app.jsonl", fresh, 0644));
	wait_records(&h, 5);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(aw_test_cap.n, 5);
	for (int k = 1; k <= 5; k++)
		assert_rec_is((size_t)k - 1, k);
	aw_test_harness_stop(&h);
	aw_test_assert_logged("file rotated");
	free(first);
	free(more);
	free(fresh);
	free(path);
	free(old);
	free(yaml);
}
END_TEST

START_TEST(restart_resumes_from_checkpoint)
{
	struct aw_test_harness h;
	char *first = lines(1, 3), *path, *yaml, *more = lines(4, 5);

	path = aw_test_write(aw_test_tmp.dir, "r.jsonl", first, 0644);
	yaml = yaml_for(path, "follow: false\n");
	h_start(&h, yaml);
	wait_records(&h, 3);
	aw_test_harness_stop(&h);

	/* The checkpoint names the file and the offset after line 3. */
	char *cpdir, *data = NULL;
	size_t len = 0;
	struct aw_error err;
	ck_assert_int_ge(asprintf(&cpdir, "%s/inputs/files", aw_test_tmp.statedir), 0);
	ck_assert_int_eq(aw_state_read(cpdir, "checkpoint", &data, &len, &err), 0);
	char want[64];
	snprintf(want, sizeof want, "\"offset\":%zu", strlen(first));
	ck_assert_msg(strstr(data, want) != NULL, "checkpoint: %s", data);
	ck_assert_ptr_nonnull(strstr(data, "\"line\":3"));
	free(data);
	free(cpdir);

	aw_test_capture_reset();
	append(path, more);
	h_start(&h, yaml);
	wait_records(&h, 2);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(aw_test_cap.n, 2);
	assert_rec_is(0, 4);
	assert_rec_is(1, 5);
	aw_test_harness_stop(&h);
	free(first);
	free(more);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(restart_rereads_what_was_not_durable)
{
	struct aw_test_harness h;
	char *first = lines(1, 2), *path, *yaml, *more = lines(3, 4);

	path = aw_test_write(aw_test_tmp.dir, "nd.jsonl", first, 0644);
	yaml = yaml_for(path, "");
	h_start(&h, yaml);
	wait_records(&h, 2);
	/* The destination stops confirming: lines 3 and 4 are read but not durable. */
	aw_test_cap.hold = true;
	append(path, more);
	wait_records(&h, 4);
	aw_test_harness_stop(&h);

	aw_test_capture_reset();
	h_start(&h, yaml);
	wait_records(&h, 2);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(aw_test_cap.n, 2);
	assert_rec_is(0, 3);
	assert_rec_is(1, 4);
	aw_test_harness_stop(&h);
	free(first);
	free(more);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(malformed_tail_is_checkpointed)
{
	struct aw_test_harness h;
	char *path, *yaml, *l1 = la(1), *content, *l2 = la(2);

	ck_assert_int_ge(asprintf(&content, "%s\nbroken one\nbroken two\n", l1), 0);
	path = aw_test_write(aw_test_tmp.dir, "tail.jsonl", content, 0644);
	yaml = yaml_for(path, "follow: false\n");
	h_start(&h, yaml);
	wait_records(&h, 1);
	run_for(&h, 0, 100);
	aw_test_harness_stop(&h);

	/* After a restart the two bad lines are not read (nor logged) again. */
	aw_test_capture_reset();
	ck_assert_int_eq(ftruncate(aw_test_tmp.logfd, 0), 0);
	append(path, l2);
	append(path, "\n");
	h_start(&h, yaml);
	wait_records(&h, 1);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(aw_test_cap.n, 1);
	assert_rec_is(0, 2);
	aw_test_harness_stop(&h);
	char *log = aw_test_log();
	ck_assert_ptr_null(strstr(log, "record skipped"));
	free(log);
	free(content);
	free(l1);
	free(l2);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(checkpoint_written_while_running)
{
	struct aw_test_harness h;
	char *first = lines(1, 2), *path, *yaml, *cpdir, *data = NULL, want[64];
	size_t len = 0;
	struct aw_error err;

	path = aw_test_write(aw_test_tmp.dir, "live.jsonl", first, 0644);
	yaml = yaml_for(path, "");
	h_start(&h, yaml);
	wait_records(&h, 2);
	/* Not only on close: within about a second of becoming durable. */
	run_for(&h, 0, 1300);
	ck_assert_int_ge(asprintf(&cpdir, "%s/inputs/files", aw_test_tmp.statedir), 0);
	ck_assert_int_eq(aw_state_read(cpdir, "checkpoint", &data, &len, &err), 0);
	snprintf(want, sizeof want, "\"offset\":%zu", strlen(first));
	ck_assert_msg(strstr(data, want) != NULL, "checkpoint: %s", data);
	aw_test_harness_stop(&h);
	free(data);
	free(cpdir);
	free(first);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(corrupt_checkpoint_warns_and_uses_start_at)
{
	struct aw_test_harness h;
	char *first = lines(1, 2), *path, *yaml, *l3 = la(3);

	aw_test_put_input_state("files", "checkpoint",
				"aiwatch-state v1 len=5 crc32=00000000\nhello");
	path = aw_test_write(aw_test_tmp.dir, "c.jsonl", first, 0644);
	yaml = yaml_for(path, "start_at: end\n");
	h_start(&h, yaml);
	run_for(&h, 0, 200);
	ck_assert_uint_eq(aw_test_cap.n, 0);
	append(path, l3);
	append(path, "\n");
	wait_records(&h, 1);
	assert_rec_is(0, 3);
	aw_test_harness_stop(&h);
	aw_test_assert_logged("ignoring checkpoint; starting per start_at");
	aw_test_assert_logged("corrupt checkpoint (crc mismatch)");
	free(first);
	free(path);
	free(yaml);
	free(l3);
}
END_TEST

START_TEST(truncated_file_restarts_at_zero)
{
	struct aw_test_harness h;
	char *first = lines(1, 3), *path, *yaml, *short_content = lines(9, 9);

	path = aw_test_write(aw_test_tmp.dir, "t.jsonl", first, 0644);
	yaml = yaml_for(path, "follow: false\n");
	h_start(&h, yaml);
	wait_records(&h, 3);
	aw_test_harness_stop(&h);

	/* Same inode, now shorter than the checkpoint's offset. */
	aw_test_capture_reset();
	free(aw_test_write(aw_test_tmp.dir, "t.jsonl", short_content, 0644));
	h_start(&h, yaml);
	wait_records(&h, 1);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(aw_test_cap.n, 1);
	assert_rec_is(0, 9);
	aw_test_harness_stop(&h);
	aw_test_assert_logged("file is shorter than its checkpoint (truncated)");
	free(first);
	free(short_content);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(truncated_while_following)
{
	struct aw_test_harness h;
	char *first = lines(1, 3), *path, *yaml, *short_content = lines(7, 7);

	path = aw_test_write(aw_test_tmp.dir, "tf.jsonl", first, 0644);
	yaml = yaml_for(path, "");
	h_start(&h, yaml);
	wait_records(&h, 3);
	free(aw_test_write(aw_test_tmp.dir, "tf.jsonl", short_content, 0644));
	wait_records(&h, 4);
	assert_rec_is(3, 7);
	aw_test_harness_stop(&h);
	aw_test_assert_logged("file truncated; reading from the start");
	free(first);
	free(short_content);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(missing_file_waits_and_is_not_ready)
{
	struct aw_test_harness h;
	char *path, *yaml, *content = lines(1, 1), why[256] = "", want[512];

	ck_assert_int_ge(asprintf(&path, "%s/later.jsonl", aw_test_tmp.dir), 0);
	yaml = yaml_for(path, "");
	h_start(&h, yaml);
	run_for(&h, 0, 100);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	snprintf(want, sizeof want, "files: waiting for %s", path);
	ck_assert_str_eq(why, want);
	free(aw_test_write(aw_test_tmp.dir, "later.jsonl", content, 0644));
	wait_records(&h, 1);
	assert_rec_is(0, 1);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	aw_test_harness_stop(&h);
	aw_test_assert_logged("waiting for file");
	free(content);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(stdin_pipe)
{
	struct aw_test_harness h;
	int fds[2];
	char *l1 = la(1), *l2 = la(2), *l3 = la(3), *content;

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(dup2(fds[0], 0), 0);
	close(fds[0]);
	ck_assert_int_ge(asprintf(&content, "%s\n%s\n%s", l1, l2, l3), 0);
	ck_assert_int_eq(write(fds[1], content, strlen(content)), (ssize_t)strlen(content));
	close(fds[1]);
	h_start(&h, "paths: \"-\"\nfollow: false\n");
	wait_records(&h, 3);
	ck_assert_str_eq(aw_test_cap.recs[0], l1);
	ck_assert_str_eq(aw_test_cap.recs[1], l2);
	ck_assert_str_eq(aw_test_cap.recs[2], l3);
	aw_test_harness_stop(&h);
	aw_test_assert_logged("file input reached end of all files");
	/* stdin has no checkpoint. */
	char *cp;
	ck_assert_int_ge(asprintf(&cp, "%s/inputs/files/checkpoint", aw_test_tmp.statedir), 0);
	ck_assert_int_ne(access(cp, F_OK), 0);
	free(cp);
	free(content);
	free(l1);
	free(l2);
	free(l3);
}
END_TEST

START_TEST(back_pressure_pauses_and_resumes)
{
	struct aw_test_harness h;
	struct aw_test_harness_conf tight = g_hc;
	char *content = lines(1, 300), *path, *yaml;

	path = aw_test_write(aw_test_tmp.dir, "bp.jsonl", content, 0644);
	yaml = yaml_for(path, "follow: false\nread_chunk: 4KiB\n");
	/* A queue bound of one byte: every event pauses the input until delivered. */
	tight.max_queue_bytes = 1;
	aw_test_harness_start(&h, &tight, yaml);
	wait_records(&h, 300);
	for (int k = 1; k <= 300; k++)
		assert_rec_is((size_t)k - 1, k);
	aw_test_harness_stop(&h);
	aw_test_assert_logged("input paused");
	free(content);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(demo_scenario_reads_clean)
{
	struct aw_test_harness h;
	char *path = aw_test_srcpath("tests/data/scenarios/demo-foundation.jsonl"), *yaml;
	char *text = aw_test_read(path, NULL);
	size_t expected = 0;
	json_object *o;

	/* One event per line; a diagnostic-settings line gives one per record. */
	ck_assert_ptr_nonnull(text);
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		ck_assert_ptr_nonnull(nl);
		*nl = '\0';
		o = json_tokener_parse(line);
		ck_assert_msg(o != NULL, "not JSON: %s", line);
		json_object *recs;
		if (json_object_object_get_ex(o, "records", &recs))
			expected += json_object_array_length(recs);
		else
			expected++;
		json_object_put(o);
	}
	free(text);

	yaml = yaml_for(path, "follow: false\n");
	h_start(&h, yaml);
	wait_records(&h, expected);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(aw_test_cap.n, expected);
	for (size_t i = 0; i < aw_test_cap.n; i++) {
		o = json_tokener_parse(aw_test_cap.recs[i]);
		ck_assert_ptr_nonnull(o);
		const char *need[] = {"Type", "TimeGenerated", "_ItemId"};
		for (size_t k = 0; k < 3; k++) {
			json_object *v;
			ck_assert_msg(json_object_object_get_ex(o, need[k], &v) &&
					      json_object_get_string_len(v) > 0,
				      "record %zu lacks %s", i, need[k]);
		}
		json_object_put(o);
	}
	char *m = aw_test_harness_metrics(&h);
	ck_assert_ptr_null(strstr(m, "aiwatch_events_skipped_total{input=\"files\""));
	free(m);
	aw_test_harness_stop(&h);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(validate_rejects_duplicates)
{
	struct aw_error_list errs = {0};
	struct aw_doc *doc = NULL;
	const char *y = "paths: [a.jsonl, b.jsonl, a.jsonl]\n";
	void *conf = calloc(1, aw_in_file.conf_size);

	ck_assert_int_eq(aw_doc_load_buffer("v.yaml", y, strlen(y), &doc, &errs), 0);
	ck_assert_int_eq(aw_options_apply(aw_in_file.options, doc->root, conf, "inputs[0]", 0600,
					  &errs),
			 0);
	ck_assert_int_ne(aw_in_file.validate(conf, "inputs[0]", &errs), 0);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.msgs[0], "inputs[0].paths[2]: \"a.jsonl\" is listed twice");
	aw_error_list_free(&errs);
	aw_options_free(aw_in_file.options, conf);
	free(conf);
	aw_doc_free(doc);
}
END_TEST

static Suite *in_file_suite(void)
{
	Suite *s = suite_create("in_file");
	TCase *tc = tcase_create("file");

	aw_test_harness_fixture(tc);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, mixed_forms_exact_events);
	tcase_add_test(tc, malformed_lines_skipped_and_counted);
	tcase_add_test(tc, follow_picks_up_appended_lines);
	tcase_add_test(tc, rotation_reads_rest_of_old_then_new);
	tcase_add_test(tc, restart_resumes_from_checkpoint);
	tcase_add_test(tc, restart_rereads_what_was_not_durable);
	tcase_add_test(tc, malformed_tail_is_checkpointed);
	tcase_add_test(tc, checkpoint_written_while_running);
	tcase_add_test(tc, corrupt_checkpoint_warns_and_uses_start_at);
	tcase_add_test(tc, truncated_file_restarts_at_zero);
	tcase_add_test(tc, truncated_while_following);
	tcase_add_test(tc, missing_file_waits_and_is_not_ready);
	tcase_add_test(tc, stdin_pipe);
	tcase_add_test(tc, back_pressure_pauses_and_resumes);
	tcase_add_test(tc, demo_scenario_reads_clean);
	tcase_add_test(tc, validate_rejects_duplicates);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(in_file_suite)
