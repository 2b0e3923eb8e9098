/* The file input on a real loop and pipeline (forward mode) with a capturing output:
 * what comes out for each kind of line, following, rotation, truncation, checkpoints
 * across restarts, stdin and back-pressure. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "pipeline.h"
#include "state.h"
#include "testutil.h"

extern const struct aw_plugin_desc aw_in_file;

/* --- a capturing output ---------------------------------------------------------- */

#define CAP_MAX 512

struct cap_out {
	struct aw_plugin_ctx *ctx;
	char *recs[CAP_MAX];
	size_t n;
	bool hold;                  /* capture but never answer */
};

static struct cap_out g_cap;

static int cap_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
		    struct aw_error *err)
{
	g_cap.ctx = ctx;
	*state = &g_cap;
	return 0;
}

static void cap_submit(void *state, struct aw_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		ck_assert_uint_lt(g_cap.n, CAP_MAX);
		g_cap.recs[g_cap.n++] = strdup(b->records[i].data);
	}
	if (!g_cap.hold)
		aw_output_done(g_cap.ctx, b, AW_DONE, 0, NULL);
}

static void cap_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	closed(g_cap.ctx);
}

static const struct aw_option cap_options[] = {AW_OPT_END};

static const struct aw_plugin_desc cap_desc = {
	.abi = AW_PLUGIN_ABI,
	.name = "capture",
	.kind = AW_PLUGIN_OUTPUT,
	.options = cap_options,
	.init = cap_init,
	.submit = cap_submit,
	.close = cap_close,
};

static void cap_reset(void)
{
	for (size_t i = 0; i < g_cap.n; i++)
		free(g_cap.recs[i]);
	memset(&g_cap, 0, sizeof g_cap);
}

/* --- harness: loop + pipeline + file input ------------------------------------------ */

struct harness {
	uv_loop_t loop;
	struct aw_metrics *metrics;
	struct aw_engine *engine;
	struct aw_pipeline *p;
	struct aw_plugin_ctx *in, *out;
	struct aw_instance_conf ic_in, ic_out;
	struct aw_doc *doc;
	void *in_conf;
	bool closed;
};

static char *dir;       /* scratch directory of the test */
static char *statedir;
static char *logpath;
static int logfd = -1;

static void setup(void)
{
	dir = aw_test_tmpdir();
	ck_assert_int_ge(asprintf(&statedir, "%s/state", dir), 0);
	ck_assert_int_ge(asprintf(&logpath, "%s/log.txt", dir), 0);
	ck_assert_int_eq(mkdir(statedir, 0700), 0);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ck_assert_int_ge(logfd, 0);
	aw_log_set_fd(logfd);
	cap_reset();
}

static void teardown(void)
{
	cap_reset();
	aw_log_set_fd(2);
	close(logfd);
	aw_test_rmtree(dir);
	free(dir);
	free(statedir);
	free(logpath);
}

static void h_start_q(struct harness *h, const char *yaml, uint64_t max_queue_bytes)
{
	struct aw_error err = {{0}};
	struct aw_error_list errs = {0};
	struct aw_pipeline_conf pc = {
		.max_queue_bytes = max_queue_bytes,
		.retry_initial_ms = 10,
		.retry_max_ms = 100,
		.retry_max_age_ms = 60000,
		.forward_events = true,
	};

	memset(h, 0, sizeof *h);
	ck_assert_int_eq(uv_loop_init(&h->loop), 0);
	h->metrics = aw_metrics_new();
	struct aw_engine_conf ec = {.forward_events = true};
	h->engine = aw_engine_new(&ec, &errs);
	ck_assert_msg(h->engine != NULL, "engine: %s", errs.n ? errs.msgs[0] : "?");
	ck_assert_msg(aw_pipeline_new(&h->loop, &pc, h->metrics, statedir, h->engine, &h->p,
				      &err) == 0,
		      "%s", err.msg);
	h->ic_out = (struct aw_instance_conf){.desc = &cap_desc, .name = "capture"};
	ck_assert_msg(aw_pipeline_add(h->p, &h->ic_out, &h->out, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_start(h->out, &err) == 0, "%s", err.msg);

	ck_assert_int_eq(aw_doc_load_buffer("test.yaml", yaml, strlen(yaml), &h->doc, &errs), 0);
	h->in_conf = calloc(1, aw_in_file.conf_size);
	int rc = aw_options_apply(aw_in_file.options, h->doc->root, h->in_conf, "inputs[0]",
				  0600, &errs);
	ck_assert_msg(rc == 0 && errs.n == 0, "config: %s", errs.n ? errs.msgs[0] : "?");
	ck_assert_int_eq(aw_in_file.validate(h->in_conf, "inputs[0]", &errs), 0);
	h->ic_in = (struct aw_instance_conf){.desc = &aw_in_file, .name = "files",
					     .conf = h->in_conf};
	ck_assert_msg(aw_pipeline_add(h->p, &h->ic_in, &h->in, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_start(h->in, &err) == 0, "%s", err.msg);
	aw_error_list_free(&errs);
}

static void h_start(struct harness *h, const char *yaml)
{
	h_start_q(h, yaml, 16 * 1024 * 1024);
}

static void tick_cb(uv_timer_t *t)
{
}

/* Run the loop until `g_cap.n >= n` or `ms` have passed (n == 0: just run `ms`). */
static void run_for(struct harness *h, size_t n, unsigned ms)
{
	uv_timer_t tick;
	uint64_t deadline;

	uv_update_time(&h->loop);
	deadline = uv_now(&h->loop) + ms;
	uv_timer_init(&h->loop, &tick);
	uv_timer_start(&tick, tick_cb, 5, 5);
	while ((n == 0 || g_cap.n < n) && uv_now(&h->loop) < deadline)
		uv_run(&h->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&h->loop, UV_RUN_NOWAIT);
}

static void wait_records(struct harness *h, size_t n)
{
	run_for(h, n, 10000);
	ck_assert_msg(g_cap.n >= n, "got %zu records, want %zu", g_cap.n, n);
	/* Let the idle pass report durability before anything else happens. */
	run_for(h, 0, 60);
}

static void closed_cb(void *ud)
{
	((struct harness *)ud)->closed = true;
}

static void h_stop(struct harness *h)
{
	aw_pipeline_close(h->p, closed_cb, h);
	while (!h->closed)
		uv_run(&h->loop, UV_RUN_ONCE);
	uv_run(&h->loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&h->loop), 0);
	aw_options_free(aw_in_file.options, h->in_conf);
	free(h->in_conf);
	aw_doc_free(h->doc);
	aw_engine_free(h->engine);
	aw_metrics_free(h->metrics);
}

static char *metrics_text(struct harness *h)
{
	char *out = NULL;
	size_t len = 0;
	ck_assert_int_eq(aw_metrics_render(h->metrics, &out, &len), 0);
	return out;
}

static void assert_metric(struct harness *h, const char *series, const char *value)
{
	char *m = metrics_text(h), want[512];
	snprintf(want, sizeof want, "%s %s\n", series, value);
	ck_assert_msg(strstr(m, want) != NULL, "no \"%s\" in metrics:\n%s", want, m);
	free(m);
}

static char *log_text(void)
{
	char *s = aw_test_read(logpath, NULL);
	ck_assert_ptr_nonnull(s);
	return s;
}

static void assert_logged(const char *what)
{
	char *s = log_text();
	ck_assert_msg(strstr(s, what) != NULL, "log lacks \"%s\":\n%s", what, s);
	free(s);
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
	ck_assert_msg(i < g_cap.n, "record %zu missing", i);
	ck_assert_str_eq(g_cap.recs[i], want);
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
	struct harness h;
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
	path = aw_test_write(dir, "mixed.jsonl", content, 0644);
	yaml = yaml_for(path, "follow: false\n");
	h_start(&h, yaml);
	wait_records(&h, 5);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(g_cap.n, 5);
	ck_assert_str_eq(g_cap.recs[0], l1);
	ck_assert_str_eq(g_cap.recs[1], l2); /* \r\n handled */
	ck_assert_ptr_nonnull(strstr(g_cap.recs[2], "\"Type\":\"AzureDiagnostics\""));
	ck_assert_ptr_nonnull(strstr(g_cap.recs[2], "\"ResultSignature\":\"429\""));
	ck_assert_ptr_nonnull(strstr(g_cap.recs[2], "\"Resource\":\"OAI\""));
	ck_assert_ptr_nonnull(strstr(g_cap.recs[2], "\"properties_s\":\"{\\\"objectId\\\":\\\"\\\"}\""));
	ck_assert_ptr_nonnull(strstr(g_cap.recs[3], "\"Type\":\"AzureActivity\""));
	ck_assert_ptr_nonnull(strstr(
		g_cap.recs[3],
		"\"OperationNameValue\":\"MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION\""));
	ck_assert_str_eq(g_cap.recs[4], l3); /* last line without newline, delivered at EOF */
	assert_metric(&h, "aiwatch_input_lines_total{input=\"files\"}", "5");
	char bytes[32];
	snprintf(bytes, sizeof bytes, "%zu", strlen(content));
	assert_metric(&h, "aiwatch_input_bytes_total{input=\"files\"}", bytes);
	assert_metric(&h, "aiwatch_events_total{input=\"files\"}", "5");
	int ready = aw_pipeline_ready(h.p, (char[64]){0}, 64);
	ck_assert_int_eq(ready, 1);
	h_stop(&h);
	assert_logged("file input reached end of all files");
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
	struct harness h;
	char *l1 = la(1), *l2 = la(2), *l3 = la(3), *content, *path, *yaml;
	char longline[2100];

	memset(longline, 'x', sizeof longline - 1);
	longline[sizeof longline - 1] = '\0';
	longline[0] = '{';
	ck_assert_int_ge(asprintf(&content,
				  "%s\nthis is not json\n%s\n{\"records\":[%s,7]}\n%s\n%s\n",
				  l1, l2, l3, longline, l1),
			 0);
	path = aw_test_write(dir, "bad.jsonl", content, 0644);
	yaml = yaml_for(path, "follow: false\nmax_line_bytes: 1KiB\n");
	h_start(&h, yaml);
	wait_records(&h, 4);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(g_cap.n, 4);
	ck_assert_str_eq(g_cap.recs[0], l1);
	ck_assert_str_eq(g_cap.recs[1], l2);
	ck_assert_str_eq(g_cap.recs[2], l3);
	ck_assert_str_eq(g_cap.recs[3], l1);
	assert_metric(&h, "aiwatch_events_skipped_total{input=\"files\",reason=\"malformed\"}", "2");
	assert_metric(&h, "aiwatch_events_skipped_total{input=\"files\",reason=\"too_long\"}", "1");
	assert_metric(&h, "aiwatch_input_lines_total{input=\"files\"}", "6");
	h_stop(&h);

	char *log = log_text(), want[600];
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
	struct harness h;
	char *first = lines(1, 2), *path, *yaml, *l3 = la(3), *l4 = la(4);

	path = aw_test_write(dir, "grow.jsonl", first, 0644);
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
	ck_assert_uint_eq(g_cap.n, 3);
	append(path, l4 + half);
	append(path, "\n");
	wait_records(&h, 4);
	assert_rec_is(3, 4);
	ck_assert_int_eq(aw_pipeline_ready(h.p, (char[64]){0}, 64), 1);
	h_stop(&h);
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
	struct harness h;
	char *first = lines(1, 2), *path, *yaml, *old, *more = lines(3, 3), *fresh = lines(4, 5);

	path = aw_test_write(dir, "app.jsonl", first, 0644);
	ck_assert_int_ge(asprintf(&old, "%s.1", path), 0);
	yaml = yaml_for(path, "");
	h_start(&h, yaml);
	wait_records(&h, 2);
	/* logrotate's create mode: more lines land in the old file just before the move. */
	append(path, more);
	ck_assert_int_eq(rename(path, old), 0);
	free(aw_test_write(dir, "app.jsonl", fresh, 0644));
	wait_records(&h, 5);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(g_cap.n, 5);
	for (int k = 1; k <= 5; k++)
		assert_rec_is((size_t)k - 1, k);
	h_stop(&h);
	assert_logged("file rotated");
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
	struct harness h;
	char *first = lines(1, 3), *path, *yaml, *more = lines(4, 5);

	path = aw_test_write(dir, "r.jsonl", first, 0644);
	yaml = yaml_for(path, "follow: false\n");
	h_start(&h, yaml);
	wait_records(&h, 3);
	h_stop(&h);

	/* The checkpoint names the file and the offset after line 3. */
	char *cpdir, *data = NULL;
	size_t len = 0;
	struct aw_error err;
	ck_assert_int_ge(asprintf(&cpdir, "%s/inputs/files", statedir), 0);
	ck_assert_int_eq(aw_state_read(cpdir, "checkpoint", &data, &len, &err), 0);
	char want[64];
	snprintf(want, sizeof want, "\"offset\":%zu", strlen(first));
	ck_assert_msg(strstr(data, want) != NULL, "checkpoint: %s", data);
	ck_assert_ptr_nonnull(strstr(data, "\"line\":3"));
	free(data);
	free(cpdir);

	cap_reset();
	append(path, more);
	h_start(&h, yaml);
	wait_records(&h, 2);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(g_cap.n, 2);
	assert_rec_is(0, 4);
	assert_rec_is(1, 5);
	h_stop(&h);
	free(first);
	free(more);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(restart_rereads_what_was_not_durable)
{
	struct harness h;
	char *first = lines(1, 2), *path, *yaml, *more = lines(3, 4);

	path = aw_test_write(dir, "nd.jsonl", first, 0644);
	yaml = yaml_for(path, "");
	h_start(&h, yaml);
	wait_records(&h, 2);
	/* The destination stops confirming: lines 3 and 4 are read but not durable. */
	g_cap.hold = true;
	append(path, more);
	wait_records(&h, 4);
	h_stop(&h);

	cap_reset();
	h_start(&h, yaml);
	wait_records(&h, 2);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(g_cap.n, 2);
	assert_rec_is(0, 3);
	assert_rec_is(1, 4);
	h_stop(&h);
	free(first);
	free(more);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(malformed_tail_is_checkpointed)
{
	struct harness h;
	char *path, *yaml, *l1 = la(1), *content, *l2 = la(2);

	ck_assert_int_ge(asprintf(&content, "%s\nbroken one\nbroken two\n", l1), 0);
	path = aw_test_write(dir, "tail.jsonl", content, 0644);
	yaml = yaml_for(path, "follow: false\n");
	h_start(&h, yaml);
	wait_records(&h, 1);
	run_for(&h, 0, 100);
	h_stop(&h);

	/* After a restart the two bad lines are not read (nor logged) again. */
	cap_reset();
	ck_assert_int_eq(ftruncate(logfd, 0), 0);
	append(path, l2);
	append(path, "\n");
	h_start(&h, yaml);
	wait_records(&h, 1);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(g_cap.n, 1);
	assert_rec_is(0, 2);
	h_stop(&h);
	char *log = log_text();
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
	struct harness h;
	char *first = lines(1, 2), *path, *yaml, *cpdir, *data = NULL, want[64];
	size_t len = 0;
	struct aw_error err;

	path = aw_test_write(dir, "live.jsonl", first, 0644);
	yaml = yaml_for(path, "");
	h_start(&h, yaml);
	wait_records(&h, 2);
	/* Not only on close: within about a second of becoming durable. */
	run_for(&h, 0, 1300);
	ck_assert_int_ge(asprintf(&cpdir, "%s/inputs/files", statedir), 0);
	ck_assert_int_eq(aw_state_read(cpdir, "checkpoint", &data, &len, &err), 0);
	snprintf(want, sizeof want, "\"offset\":%zu", strlen(first));
	ck_assert_msg(strstr(data, want) != NULL, "checkpoint: %s", data);
	h_stop(&h);
	free(data);
	free(cpdir);
	free(first);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(corrupt_checkpoint_warns_and_uses_start_at)
{
	struct harness h;
	char *first = lines(1, 2), *path, *yaml, *cpdir, *l3 = la(3);
	struct aw_error err;

	ck_assert_int_ge(asprintf(&cpdir, "%s/inputs/files", statedir), 0);
	ck_assert_int_eq(aw_state_mkdir(cpdir, &err), 0);
	free(aw_test_write(cpdir, "checkpoint", "aiwatch-state v1 len=5 crc32=00000000\nhello",
			   0600));
	path = aw_test_write(dir, "c.jsonl", first, 0644);
	yaml = yaml_for(path, "start_at: end\n");
	h_start(&h, yaml);
	run_for(&h, 0, 200);
	ck_assert_uint_eq(g_cap.n, 0);
	append(path, l3);
	append(path, "\n");
	wait_records(&h, 1);
	assert_rec_is(0, 3);
	h_stop(&h);
	assert_logged("ignoring checkpoint; starting per start_at");
	assert_logged("corrupt checkpoint (crc mismatch)");
	free(first);
	free(path);
	free(yaml);
	free(cpdir);
	free(l3);
}
END_TEST

START_TEST(truncated_file_restarts_at_zero)
{
	struct harness h;
	char *first = lines(1, 3), *path, *yaml, *short_content = lines(9, 9);

	path = aw_test_write(dir, "t.jsonl", first, 0644);
	yaml = yaml_for(path, "follow: false\n");
	h_start(&h, yaml);
	wait_records(&h, 3);
	h_stop(&h);

	/* Same inode, now shorter than the checkpoint's offset. */
	cap_reset();
	free(aw_test_write(dir, "t.jsonl", short_content, 0644));
	h_start(&h, yaml);
	wait_records(&h, 1);
	run_for(&h, 0, 100);
	ck_assert_uint_eq(g_cap.n, 1);
	assert_rec_is(0, 9);
	h_stop(&h);
	assert_logged("file is shorter than its checkpoint (truncated)");
	free(first);
	free(short_content);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(truncated_while_following)
{
	struct harness h;
	char *first = lines(1, 3), *path, *yaml, *short_content = lines(7, 7);

	path = aw_test_write(dir, "tf.jsonl", first, 0644);
	yaml = yaml_for(path, "");
	h_start(&h, yaml);
	wait_records(&h, 3);
	free(aw_test_write(dir, "tf.jsonl", short_content, 0644));
	wait_records(&h, 4);
	assert_rec_is(3, 7);
	h_stop(&h);
	assert_logged("file truncated; reading from the start");
	free(first);
	free(short_content);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(missing_file_waits_and_is_not_ready)
{
	struct harness h;
	char *path, *yaml, *content = lines(1, 1), why[256] = "", want[512];

	ck_assert_int_ge(asprintf(&path, "%s/later.jsonl", dir), 0);
	yaml = yaml_for(path, "");
	h_start(&h, yaml);
	run_for(&h, 0, 100);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	snprintf(want, sizeof want, "files: waiting for %s", path);
	ck_assert_str_eq(why, want);
	free(aw_test_write(dir, "later.jsonl", content, 0644));
	wait_records(&h, 1);
	assert_rec_is(0, 1);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	h_stop(&h);
	assert_logged("waiting for file");
	free(content);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(stdin_pipe)
{
	struct harness h;
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
	ck_assert_str_eq(g_cap.recs[0], l1);
	ck_assert_str_eq(g_cap.recs[1], l2);
	ck_assert_str_eq(g_cap.recs[2], l3);
	h_stop(&h);
	assert_logged("file input reached end of all files");
	/* stdin has no checkpoint. */
	char *cp;
	ck_assert_int_ge(asprintf(&cp, "%s/inputs/files/checkpoint", statedir), 0);
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
	struct harness h;
	char *content = lines(1, 300), *path, *yaml;

	path = aw_test_write(dir, "bp.jsonl", content, 0644);
	yaml = yaml_for(path, "follow: false\nread_chunk: 4KiB\n");
	/* A queue bound of one byte: every event pauses the input until delivered. */
	h_start_q(&h, yaml, 1);
	wait_records(&h, 300);
	for (int k = 1; k <= 300; k++)
		assert_rec_is((size_t)k - 1, k);
	h_stop(&h);
	assert_logged("input paused");
	free(content);
	free(path);
	free(yaml);
}
END_TEST

START_TEST(demo_scenario_reads_clean)
{
	struct harness h;
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
	ck_assert_uint_eq(g_cap.n, expected);
	for (size_t i = 0; i < g_cap.n; i++) {
		o = json_tokener_parse(g_cap.recs[i]);
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
	char *m = metrics_text(&h);
	ck_assert_ptr_null(strstr(m, "aiwatch_events_skipped_total{input=\"files\""));
	free(m);
	h_stop(&h);
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

	tcase_add_checked_fixture(tc, setup, teardown);
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
