/* The pipeline's delivery discipline, with scripted test plugins on a real loop:
 * durable() once the records are in the spool (not when delivered), in order; what an
 * output never confirmed is delivered after a restart; retry with backoff; "too large"
 * splits; reject goes to dead-letter (and comes back with a replay); a full spool
 * pauses and resumes inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadletter.h"
#include "pipeline.h"
#include "spool_segment.h"
#include "testutil.h"

/* --- a scripted output ------------------------------------------------------------ */

#define SCRIPT_MAX 16

struct t_out {
	struct aw_plugin_ctx *ctx;
	enum aw_result script[SCRIPT_MAX]; /* answers for successive submits, then DONE */
	const char *reasons[SCRIPT_MAX];
	size_t nscript, calls;
	size_t batch_sizes[64];
	size_t delivered;
	char *got[64];                     /* delivered records, in order */
	char last[256];
	bool hold;                         /* keep the batch unanswered */
	bool always_retry;                 /* answer AW_RETRY to every submit */
	struct aw_batch *held;
};

static struct t_out g_out;

static int t_out_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
		      struct aw_error *err)
{
	g_out.ctx = ctx;
	*state = &g_out;
	return 0;
}

static void t_out_submit(void *state, struct aw_batch *b)
{
	struct t_out *o = state;
	size_t i = o->calls++;

	if (i < 64)
		o->batch_sizes[i] = b->n;
	if (o->hold) {
		o->held = b;
		return;
	}
	if (o->always_retry) {
		aw_output_done(o->ctx, b, AW_RETRY, 0, "unavailable");
		return;
	}
	if (i < o->nscript && o->script[i] != AW_DONE) {
		aw_output_done(o->ctx, b, o->script[i], 0, o->reasons[i]);
		return;
	}
	for (size_t k = 0; k < b->n; k++)
		if (o->delivered + k < 64)
			o->got[o->delivered + k] = strdup(b->records[k].data);
	o->delivered += b->n;
	snprintf(o->last, sizeof o->last, "%s", b->records[b->n - 1].data);
	aw_output_done(o->ctx, b, AW_DONE, 0, NULL);
}

static void t_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	closed(state == &g_out ? g_out.ctx : *(struct aw_plugin_ctx **)state);
}

static const struct aw_option no_options[] = {AW_OPT_END};

static const struct aw_plugin_desc t_out_desc = {
	.abi = AW_PLUGIN_ABI,
	.name = "t_out",
	.kind = AW_PLUGIN_OUTPUT,
	.options = no_options,
	.init = t_out_init,
	.submit = t_out_submit,
	.close = t_close,
	.max_batch_records = 10,
};

/* A second instance of the same output type, for reload tests. */
static struct t_out g_out2;

static int t_out2_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
		       struct aw_error *err)
{
	g_out2.ctx = ctx;
	*state = &g_out2;
	return 0;
}

static const struct aw_plugin_desc t_out2_desc = {
	.abi = AW_PLUGIN_ABI,
	.name = "t_out",
	.kind = AW_PLUGIN_OUTPUT,
	.options = no_options,
	.init = t_out2_init,
	.submit = t_out_submit,
	.close = t_close,
	.max_batch_records = 10,
};

/* --- a test input ------------------------------------------------------------------ */

struct t_in {
	struct aw_plugin_ctx *ctx;
	uint64_t durable;
	unsigned durable_calls;
	unsigned resumes;
};

static struct t_in g_in;

static int t_in_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
		     struct aw_error *err)
{
	g_in.ctx = ctx;
	*state = &g_in;
	return 0;
}

static void t_in_durable(void *state, uint64_t seq)
{
	struct t_in *in = state;

	ck_assert_uint_gt(seq, in->durable); /* increasing, never repeated */
	in->durable = seq;
	in->durable_calls++;
}

static void t_in_resume(void *state)
{
	((struct t_in *)state)->resumes++;
}

static void t_in_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	closed(((struct t_in *)state)->ctx);
}

static const struct aw_plugin_desc t_in_desc = {
	.abi = AW_PLUGIN_ABI,
	.name = "t_in",
	.kind = AW_PLUGIN_INPUT,
	.options = no_options,
	.init = t_in_init,
	.durable = t_in_durable,
	.resume = t_in_resume,
	.close = t_in_close,
};

/* --- fixture ------------------------------------------------------------------------ */

struct fx {
	uv_loop_t loop;
	struct aw_metrics *metrics;
	struct aw_engine *engine;
	struct aw_pipeline *p;
	char *dir;
	struct aw_pipeline_conf pc;
	struct aw_instance_conf in_ic, out_ic;
	bool closed;
};

static void out_reset(void)
{
	for (size_t i = 0; i < 64; i++) {
		free(g_out.got[i]);
		free(g_out2.got[i]);
	}
	memset(&g_out, 0, sizeof g_out);
	memset(&g_out2, 0, sizeof g_out2);
}

/* Loop, engine and pipeline on f->dir with f->pc. */
static void fx_start(struct fx *f)
{
	struct aw_error err;
	struct aw_plugin_ctx *ctx;
	struct aw_engine_conf ec = {.forward_events = true};
	struct aw_error_list errs = {0};

	out_reset();
	memset(&g_in, 0, sizeof g_in);
	f->closed = false;
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	f->metrics = aw_metrics_new();
	f->engine = aw_engine_new(&ec, &errs);
	ck_assert_ptr_nonnull(f->engine);
	aw_error_list_free(&errs);
	ck_assert_int_eq(aw_pipeline_new(&f->loop, &f->pc, f->metrics, f->dir, f->engine, &f->p,
					 &err),
			 0);
	f->out_ic = (struct aw_instance_conf){.desc = &t_out_desc, .name = "out"};
	f->in_ic = (struct aw_instance_conf){.desc = &t_in_desc, .name = "in"};
	ck_assert_msg(aw_pipeline_add(f->p, &f->out_ic, &ctx, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(aw_pipeline_start(ctx, &err), 0);
	ck_assert_int_eq(aw_pipeline_add(f->p, &f->in_ic, &ctx, &err), 0);
	ck_assert_int_eq(aw_pipeline_start(ctx, &err), 0);
}

static void fx_init_conf(struct fx *f, uint64_t spool_max_bytes, uint64_t max_age_ms)
{
	memset(f, 0, sizeof *f);
	f->pc = (struct aw_pipeline_conf){
		.max_queue_bytes = 1 << 20,
		.retry_initial_ms = 1,
		.retry_max_ms = 4,
		.retry_max_age_ms = max_age_ms,
		.forward_events = true,
		.spool_max_bytes = spool_max_bytes,
		.spool_segment_bytes = 64 << 10,
	};
	f->dir = aw_test_tmpdir();
}

static void fx_init(struct fx *f, uint64_t spool_max_bytes, uint64_t max_age_ms)
{
	fx_init_conf(f, spool_max_bytes, max_age_ms);
	fx_start(f);
}

static void on_closed(void *ud)
{
	((struct fx *)ud)->closed = true;
}

/* Close the pipeline as a shutdown does; the state directory stays. */
static void fx_stop(struct fx *f)
{
	aw_pipeline_close(f->p, on_closed, f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	ck_assert(f->closed);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	aw_engine_free(f->engine);
	aw_metrics_free(f->metrics);
}

static void fx_free(struct fx *f)
{
	fx_stop(f);
	out_reset();
	aw_test_rmtree(f->dir);
	free(f->dir);
}

static uint64_t emit(unsigned i, bool *pause)
{
	char json[128];
	struct aw_event ev = {.json = json, .table = "T", .origin = "test"};

	ev.len = (size_t)snprintf(json, sizeof json, "{\"Type\":\"T\",\"n\":%u}", i);
	return aw_input_emit(g_in.ctx, &ev, pause);
}

/* Run the loop until it has nothing more to do right now (timers may remain). */
static void spin(struct fx *f, int ms)
{
	uint64_t end;

	uv_update_time(&f->loop); /* the setup may have taken longer than ms */
	end = uv_now(&f->loop) + (uint64_t)ms;

	do {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		uv_update_time(&f->loop);
	} while (uv_now(&f->loop) < end);
}

/* Spin until the input has heard `seq` is durable (a sync on a busy disk can take a
 * while), at most two seconds. */
static void wait_durable(struct fx *f, uint64_t seq)
{
	for (int i = 0; i < 200 && g_in.durable < seq; i++)
		spin(f, 10);
}

static double metric(struct fx *f, enum aw_metric_type type, const char *name)
{
	char *body = NULL;
	size_t len;

	/* Rendering runs the collectors, as a scrape does. */
	ck_assert_int_eq(aw_metrics_render(f->metrics, &body, &len), 0);
	free(body);
	return aw_metric_value(aw_metric_get(f->metrics, type, name, "", "output", "out", NULL));
}

static void assert_got(size_t i, unsigned n)
{
	char want[64];

	snprintf(want, sizeof want, "{\"Type\":\"T\",\"n\":%u}", n);
	ck_assert_ptr_nonnull(g_out.got[i]);
	ck_assert_str_eq(g_out.got[i], want);
}

START_TEST(durable_once_spooled_not_delivered)
{
	struct fx f;
	bool pause = false;

	fx_init(&f, 1 << 20, 0);
	g_out.hold = true;
	for (unsigned i = 1; i <= 5; i++)
		ck_assert_uint_eq(emit(i, &pause), i);
	spin(&f, 50);
	ck_assert_uint_eq(g_out.calls, 1);
	ck_assert_uint_eq(g_out.batch_sizes[0], 5);
	/* Submitted, not confirmed: yet durable, because the records are in the spool. */
	wait_durable(&f, 5);
	ck_assert_uint_eq(g_in.durable, 5);
	ck_assert_double_eq(metric(&f, AW_METRIC_GAUGE, "aiwatch_spool_records"), 5);
	ck_assert_double_gt(metric(&f, AW_METRIC_COUNTER, "aiwatch_spool_written_bytes_total"),
			    5 * 16);
	/* Confirmation acknowledges them in the spool. */
	aw_output_done(g_out.ctx, g_out.held, AW_DONE, 0, NULL);
	spin(&f, 20);
	char *body = NULL;
	size_t len;
	ck_assert_int_eq(aw_metrics_render(f.metrics, &body, &len), 0);
	ck_assert_msg(strstr(body, "aiwatch_spool_records{output=\"out\"} 0"), "%s", body);
	ck_assert_msg(strstr(body, "aiwatch_output_pending_records{output=\"out\"} 0"), "%s", body);
	free(body);
	fx_free(&f);
}
END_TEST

START_TEST(never_answered_records_delivered_after_restart)
{
	struct fx f;
	bool pause = false;

	fx_init(&f, 1 << 20, 0);
	g_out.hold = true; /* the destination never answers */
	for (unsigned i = 1; i <= 5; i++)
		emit(i, &pause);
	spin(&f, 50);
	wait_durable(&f, 5);
	ck_assert_uint_eq(g_in.durable, 5); /* the input's checkpoint may move past them */
	ck_assert_uint_eq(g_out.delivered, 0);
	fx_stop(&f);

	/* A new run on the same state directory: the spool delivers them, in order. */
	fx_start(&f);
	spin(&f, 50);
	ck_assert_uint_eq(g_out.delivered, 5);
	for (unsigned i = 1; i <= 5; i++)
		assert_got(i - 1, i);
	ck_assert_uint_eq(g_in.durable, 0); /* this run's input emitted nothing */
	emit(6, &pause);
	spin(&f, 50);
	ck_assert_uint_eq(g_out.delivered, 6);
	assert_got(5, 6);
	fx_stop(&f);

	/* Everything was confirmed: a third run delivers nothing again. */
	fx_start(&f);
	spin(&f, 50);
	ck_assert_uint_eq(g_out.delivered, 0);
	fx_free(&f);
}
END_TEST

START_TEST(fsync_never_reports_after_the_write)
{
	struct fx f;
	bool pause = false;

	fx_init_conf(&f, 1 << 20, 0);
	f.pc.spool_fsync = 1; /* never */
	fx_start(&f);
	g_out.hold = true;
	for (unsigned i = 1; i <= 3; i++)
		emit(i, &pause);
	ck_assert_uint_eq(g_in.durable, 0); /* not before the idle pass has written them */
	spin(&f, 20);
	wait_durable(&f, 3);
	ck_assert_uint_eq(g_in.durable, 3);
	fx_free(&f);
}
END_TEST

START_TEST(retry_then_deliver_in_order)
{
	struct fx f;
	bool pause = false;

	fx_init(&f, 1 << 20, 0);
	g_out.script[0] = AW_RETRY;
	g_out.script[1] = AW_RETRY;
	g_out.nscript = 2;
	for (unsigned i = 1; i <= 3; i++)
		emit(i, &pause);
	spin(&f, 100);
	ck_assert_uint_eq(g_out.calls, 3);
	ck_assert_uint_eq(g_out.delivered, 3);
	ck_assert_str_eq(g_out.last, "{\"Type\":\"T\",\"n\":3}");
	wait_durable(&f, 3);
	ck_assert_uint_eq(g_in.durable, 3);
	ck_assert_double_eq(metric(&f, AW_METRIC_COUNTER, "aiwatch_output_retries_total"), 2);
	fx_free(&f);
}
END_TEST

START_TEST(too_large_splits_batch)
{
	struct fx f;
	bool pause = false;

	fx_init(&f, 1 << 20, 0);
	g_out.script[0] = AW_RETRY;
	g_out.reasons[0] = AW_REASON_TOO_LARGE;
	g_out.nscript = 1;
	for (unsigned i = 1; i <= 8; i++)
		emit(i, &pause);
	spin(&f, 50);
	ck_assert_uint_eq(g_out.batch_sizes[0], 8);
	ck_assert_uint_eq(g_out.batch_sizes[1], 4);
	ck_assert_uint_eq(g_out.batch_sizes[2], 4);
	ck_assert_uint_eq(g_out.delivered, 8);
	wait_durable(&f, 8);
	ck_assert_uint_eq(g_in.durable, 8);
	fx_free(&f);
}
END_TEST

/* The one file in dir/dead-letter/out, malloc'd. */
static char *dead_letter_file(const char *dir)
{
	char *cmd, *list, *path, *nl;

	ck_assert_int_ge(asprintf(&cmd, "ls %s/dead-letter/out/*.jsonl > %s/ls.txt", dir, dir), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	ck_assert_int_ge(asprintf(&path, "%s/ls.txt", dir), 0);
	list = aw_test_read(path, NULL);
	free(path);
	ck_assert_ptr_nonnull(list);
	nl = strchr(list, '\n');
	ck_assert_ptr_nonnull(nl);
	*nl = '\0';
	ck_assert_msg(nl[1] == '\0', "more than one dead-letter file: %s", list);
	return list;
}

START_TEST(reject_goes_to_dead_letter_and_replays)
{
	struct fx f;
	bool pause = false;
	char *path, *content, *spool;
	struct aw_deadletter dl;
	struct aw_error err;

	fx_init(&f, 1 << 20, 0);
	g_out.script[0] = AW_REJECT;
	g_out.reasons[0] = "HTTP 400: {\"error\":\"InvalidStream\"}";
	g_out.nscript = 1;
	emit(1, &pause);
	emit(2, &pause);
	spin(&f, 50);
	wait_durable(&f, 2);
	ck_assert_uint_eq(g_in.durable, 2);
	ck_assert_uint_eq(g_out.delivered, 0);
	ck_assert_double_eq(metric(&f, AW_METRIC_COUNTER, "aiwatch_dead_lettered_total"), 2);
	ck_assert_double_eq(metric(&f, AW_METRIC_GAUGE, "aiwatch_spool_records"), 0);

	/* The file says which output, when, why (status and body apart) and holds the
	 * records as they were submitted. */
	path = dead_letter_file(f.dir);
	content = aw_test_read(path, NULL);
	ck_assert_ptr_nonnull(content);
	ck_assert_msg(strstr(content, "\"output\":\"out\""), "%s", content);
	ck_assert_msg(strstr(content, "\"status\":400"), "%s", content);
	ck_assert_msg(strstr(content, "\"body\":\"{\\\"error\\\":\\\"InvalidStream\\\"}\""), "%s",
		      content);
	ck_assert_msg(strstr(content, "\"time\":\"20"), "%s", content);
	ck_assert_msg(strstr(content, "}}\n{\"Type\":\"T\",\"n\":1}\n{\"Type\":\"T\",\"n\":2}\n"),
		      "%s", content);
	free(content);
	ck_assert_msg(aw_deadletter_read(path, &dl, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(dl.output, "out");
	ck_assert_int_eq(dl.status, 400);
	ck_assert_uint_eq(dl.n, 2);
	ck_assert_str_eq(dl.recs[1].data, "{\"Type\":\"T\",\"n\":2}");

	/* Replayed (what `aiwatchd dead-letter replay` does) and picked up on SIGHUP. */
	ck_assert_int_ge(asprintf(&spool, "%s/outputs/out/spool", f.dir), 0);
	ck_assert_int_eq(aw_spool_write_incoming(spool, dl.recs, dl.n, NULL, 0, &err), 0);
	aw_deadletter_free(&dl);
	aw_pipeline_reopen_outputs(f.p);
	spin(&f, 50);
	ck_assert_uint_eq(g_out.delivered, 2);
	assert_got(0, 1);
	assert_got(1, 2);
	free(spool);
	free(path);
	fx_free(&f);
}
END_TEST

START_TEST(retry_max_age_dead_letters)
{
	struct fx f;
	bool pause = false;

	fx_init(&f, 1 << 20, 30);
	g_out.always_retry = true;
	emit(1, &pause);
	spin(&f, 200);
	ck_assert_uint_ge(g_out.calls, 2);
	wait_durable(&f, 1);
	ck_assert_uint_eq(g_in.durable, 1);
	ck_assert_uint_eq(g_out.delivered, 0);
	ck_assert_double_eq(metric(&f, AW_METRIC_COUNTER, "aiwatch_dead_lettered_total"), 1);
	fx_free(&f);
}
END_TEST

START_TEST(full_spool_pauses_and_resumes)
{
	struct fx f;
	bool pause = false;
	unsigned i = 0;

	fx_init(&f, 400, 0); /* about 7 records of ~56 bytes on disk */
	g_out.hold = true;
	while (!pause && i < 1000)
		emit(++i, &pause);
	ck_assert(pause);
	ck_assert_uint_lt(i, 20);
	ck_assert_uint_eq(g_in.resumes, 0);
	/* Deliver everything: the input is told to resume. */
	g_out.hold = false;
	spin(&f, 10);
	aw_output_done(g_out.ctx, g_out.held, AW_DONE, 0, NULL);
	spin(&f, 50);
	ck_assert_uint_eq(g_in.resumes, 1);
	wait_durable(&f, i);
	ck_assert_uint_eq(g_in.durable, i);
	ck_assert_uint_eq(g_out.delivered, i);
	fx_free(&f);
}
END_TEST

/* The outcome a user sees on reload: an output whose configuration changed is replaced
 * by a new instance of the same name; what the old one had in flight is answered before
 * the new one sends anything, so nothing is lost and nothing is sent twice. */
struct find_out {
	struct aw_plugin_ctx *ctx;
};

static void find_out(struct aw_plugin_ctx *ctx, void *ud)
{
	if (strcmp(aw_ctx_name(ctx), "out") == 0)
		((struct find_out *)ud)->ctx = ctx;
}

START_TEST(replaced_output_takes_over_its_spool)
{
	struct fx f;
	bool pause = false;
	struct find_out fo = {0};
	struct aw_instance_conf ic2 = {.desc = &t_out2_desc, .name = "out"};
	struct aw_plugin_ctx *ctx2;
	struct aw_error err;

	fx_init(&f, 1 << 20, 0);
	g_out.hold = true;
	for (unsigned i = 1; i <= 3; i++)
		emit(i, &pause);
	spin(&f, 20);
	ck_assert_uint_eq(g_out.calls, 1);
	aw_pipeline_foreach(f.p, find_out, &fo);
	ck_assert_ptr_nonnull(fo.ctx);
	aw_pipeline_remove(fo.ctx, NULL);
	ck_assert_msg(aw_pipeline_add(f.p, &ic2, &ctx2, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(aw_pipeline_start(ctx2, &err), 0);
	emit(4, &pause);
	spin(&f, 20);
	ck_assert_uint_eq(g_out2.calls, 0); /* waits for the old instance's answer */
	aw_output_done(g_out.ctx, g_out.held, AW_DONE, 0, NULL);
	spin(&f, 50);
	ck_assert_uint_eq(g_out2.delivered, 1);
	ck_assert_str_eq(g_out2.last, "{\"Type\":\"T\",\"n\":4}");
	fx_stop(&f);
	/* and the new run finds nothing left to send */
	fx_start(&f);
	spin(&f, 50);
	ck_assert_uint_eq(g_out.delivered, 0);
	fx_free(&f);
}
END_TEST

START_TEST(small_cache_reads_back_from_disk)
{
	struct fx f;
	bool pause = false;

	fx_init_conf(&f, 1 << 20, 0);
	f.pc.max_queue_bytes = 40; /* two records in memory; the rest stay on disk */
	fx_start(&f);
	g_out.hold = true;
	for (unsigned i = 1; i <= 30; i++)
		emit(i, &pause);
	spin(&f, 20);
	wait_durable(&f, 30);
	ck_assert_uint_eq(g_in.durable, 30);
	ck_assert_uint_le(g_out.batch_sizes[0], 3);
	g_out.hold = false;
	aw_output_done(g_out.ctx, g_out.held, AW_DONE, 0, NULL);
	spin(&f, 100);
	ck_assert_uint_eq(g_out.delivered + g_out.batch_sizes[0], 30);
	for (unsigned k = 0; k < g_out.delivered; k++)
		assert_got(k, (unsigned)g_out.batch_sizes[0] + k + 1);
	fx_free(&f);
}
END_TEST

static Suite *pipeline_suite(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("delivery");

	tcase_add_test(tc, durable_once_spooled_not_delivered);
	tcase_add_test(tc, never_answered_records_delivered_after_restart);
	tcase_add_test(tc, fsync_never_reports_after_the_write);
	tcase_add_test(tc, retry_then_deliver_in_order);
	tcase_add_test(tc, too_large_splits_batch);
	tcase_add_test(tc, reject_goes_to_dead_letter_and_replays);
	tcase_add_test(tc, retry_max_age_dead_letters);
	tcase_add_test(tc, full_spool_pauses_and_resumes);
	tcase_add_test(tc, small_cache_reads_back_from_disk);
	tcase_add_test(tc, replaced_output_takes_over_its_spool);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(pipeline_suite)
