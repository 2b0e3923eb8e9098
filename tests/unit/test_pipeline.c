/* The pipeline's delivery discipline, with scripted test plugins on a real loop:
 * durable() only after delivery, in order; retry with backoff; "too large" splits;
 * reject goes to dead-letter; back-pressure pauses and resumes inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
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
	struct aw_instance_conf in_ic, out_ic;
	bool closed;
};

static void fx_init(struct fx *f, uint64_t max_queue_bytes, uint64_t max_age_ms)
{
	struct aw_error err;
	struct aw_pipeline_conf pc = {
		.max_queue_bytes = max_queue_bytes,
		.retry_initial_ms = 1,
		.retry_max_ms = 4,
		.retry_max_age_ms = max_age_ms,
		.forward_events = true,
	};
	struct aw_plugin_ctx *ctx;

	memset(f, 0, sizeof *f);
	memset(&g_out, 0, sizeof g_out);
	memset(&g_in, 0, sizeof g_in);
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	f->metrics = aw_metrics_new();
	struct aw_engine_conf ec = {.forward_events = true};
	struct aw_error_list errs = {0};
	f->engine = aw_engine_new(&ec, &errs);
	ck_assert_ptr_nonnull(f->engine);
	aw_error_list_free(&errs);
	f->dir = aw_test_tmpdir();
	ck_assert_int_eq(aw_pipeline_new(&f->loop, &pc, f->metrics, f->dir, f->engine, &f->p, &err),
			 0);
	f->out_ic = (struct aw_instance_conf){.desc = &t_out_desc, .name = "out"};
	f->in_ic = (struct aw_instance_conf){.desc = &t_in_desc, .name = "in"};
	ck_assert_int_eq(aw_pipeline_add(f->p, &f->out_ic, &ctx, &err), 0);
	ck_assert_int_eq(aw_pipeline_start(ctx, &err), 0);
	ck_assert_int_eq(aw_pipeline_add(f->p, &f->in_ic, &ctx, &err), 0);
	ck_assert_int_eq(aw_pipeline_start(ctx, &err), 0);
}

static void on_closed(void *ud)
{
	((struct fx *)ud)->closed = true;
}

static void fx_free(struct fx *f)
{
	aw_pipeline_close(f->p, on_closed, f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	ck_assert(f->closed);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	aw_engine_free(f->engine);
	aw_metrics_free(f->metrics);
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
	uint64_t end = uv_now(&f->loop) + (uint64_t)ms;

	do {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		uv_update_time(&f->loop);
	} while (uv_now(&f->loop) < end);
}

START_TEST(durable_only_after_delivery)
{
	struct fx f;
	bool pause = false;

	fx_init(&f, 1 << 20, 0);
	g_out.hold = true;
	for (unsigned i = 1; i <= 5; i++)
		ck_assert_uint_eq(emit(i, &pause), i);
	spin(&f, 20);
	ck_assert_uint_eq(g_out.calls, 1);
	ck_assert_uint_eq(g_out.batch_sizes[0], 5);
	/* Submitted but not confirmed: nothing is durable. */
	ck_assert_uint_eq(g_in.durable, 0);
	g_out.hold = false;
	aw_output_done(g_out.ctx, g_out.held, AW_DONE, 0, NULL);
	spin(&f, 20);
	ck_assert_uint_eq(g_in.durable, 5);
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
	ck_assert_uint_eq(g_in.durable, 3);
	ck_assert_double_eq(aw_metric_value(aw_metric_get(f.metrics, AW_METRIC_COUNTER,
							  "aiwatch_output_retries_total", "",
							  "output", "out", NULL)),
			    2);
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
	ck_assert_uint_eq(g_in.durable, 8);
	fx_free(&f);
}
END_TEST

START_TEST(reject_goes_to_dead_letter)
{
	struct fx f;
	bool pause = false;
	char *path, *content;

	fx_init(&f, 1 << 20, 0);
	g_out.script[0] = AW_REJECT;
	g_out.reasons[0] = "HTTP 400: {\"error\":\"InvalidStream\"}";
	g_out.nscript = 1;
	emit(1, &pause);
	emit(2, &pause);
	spin(&f, 50);
	/* Rejected records are durable (in dead-letter) and never delivered. */
	ck_assert_uint_eq(g_in.durable, 2);
	ck_assert_uint_eq(g_out.delivered, 0);
	ck_assert_int_ge(asprintf(&path, "%s/dead-letter/out", f.dir), 0);
	char *cmd;
	ck_assert_int_ge(asprintf(&cmd, "cat %s/*.jsonl > %s/all.txt", path, f.dir), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	free(path);
	ck_assert_int_ge(asprintf(&path, "%s/all.txt", f.dir), 0);
	content = aw_test_read(path, NULL);
	ck_assert_ptr_nonnull(content);
	ck_assert_msg(strstr(content, "InvalidStream"), "%s", content);
	ck_assert_msg(strstr(content, "{\"Type\":\"T\",\"n\":1}\n{\"Type\":\"T\",\"n\":2}\n"), "%s",
		      content);
	free(content);
	free(path);
	ck_assert_double_eq(aw_metric_value(aw_metric_get(f.metrics, AW_METRIC_COUNTER,
							  "aiwatch_dead_lettered_total", "",
							  "output", "out", NULL)),
			    2);
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
	ck_assert_uint_eq(g_in.durable, 1);
	ck_assert_uint_eq(g_out.delivered, 0);
	ck_assert_double_eq(aw_metric_value(aw_metric_get(f.metrics, AW_METRIC_COUNTER,
							  "aiwatch_dead_lettered_total", "",
							  "output", "out", NULL)),
			    1);
	fx_free(&f);
}
END_TEST

START_TEST(back_pressure_pauses_and_resumes)
{
	struct fx f;
	bool pause = false;
	unsigned i = 0;

	fx_init(&f, 200, 0); /* ~10 records of ~20 bytes */
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
	ck_assert_uint_eq(g_in.durable, i);
	fx_free(&f);
}
END_TEST

static Suite *pipeline_suite(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("delivery");

	tcase_add_test(tc, durable_only_after_delivery);
	tcase_add_test(tc, retry_then_deliver_in_order);
	tcase_add_test(tc, too_large_splits_batch);
	tcase_add_test(tc, reject_goes_to_dead_letter);
	tcase_add_test(tc, retry_max_age_dead_letters);
	tcase_add_test(tc, back_pressure_pauses_and_resumes);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(pipeline_suite)
