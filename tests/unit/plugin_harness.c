/* Driving a plugin without the daemon: see plugin_harness.h. */
#include "plugin_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* --- the test's scratch directory and capture ------------------------------------- */

struct aw_test_scratch aw_test_tmp;
struct aw_test_capture aw_test_cap;

static void scratch_open(struct aw_test_scratch *s)
{
	memset(s, 0, sizeof *s);
	s->dir = aw_test_tmpdir();
	ck_assert_int_ge(asprintf(&s->statedir, "%s/state", s->dir), 0);
	ck_assert_int_ge(asprintf(&s->logpath, "%s/log.txt", s->dir), 0);
	ck_assert_int_eq(mkdir(s->statedir, 0700), 0);
	s->logfd = open(s->logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ck_assert_int_ge(s->logfd, 0);
	aw_log_set_fd(s->logfd);
}

static void scratch_close(struct aw_test_scratch *s)
{
	aw_log_set_fd(2);
	close(s->logfd);
	aw_test_rmtree(s->dir);
	free(s->dir);
	free(s->statedir);
	free(s->logpath);
	memset(s, 0, sizeof *s);
}

static void fixture_setup(void)
{
	scratch_open(&aw_test_tmp);
	aw_test_capture_reset();
}

static void fixture_teardown(void)
{
	aw_test_capture_reset();
	scratch_close(&aw_test_tmp);
}

void aw_test_harness_fixture(TCase *tc)
{
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
}

char *aw_test_log(void)
{
	char *text = aw_test_read(aw_test_tmp.logpath, NULL);

	ck_assert_ptr_nonnull(text);
	return text;
}

size_t aw_test_log_count(const char *what)
{
	char *text = aw_test_log();
	size_t n = aw_test_occurrences(text, what);

	free(text);
	return n;
}

void aw_test_assert_logged(const char *what)
{
	char *text = aw_test_log();

	ck_assert_msg(strstr(text, what) != NULL, "log lacks \"%s\":\n%s", what, text);
	free(text);
}

void aw_test_capture_reset(void)
{
	struct aw_test_capture *c = &aw_test_cap;

	for (size_t i = 0; i < c->n; i++)
		free(c->recs[i]);
	memset(c, 0, sizeof *c);
}

size_t aw_test_capture_count(const char *a, const char *b)
{
	const struct aw_test_capture *c = &aw_test_cap;
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++)
		n += strstr(c->recs[i], a) && (!b || strstr(c->recs[i], b));
	return n;
}

/* The capturing output; its state is aw_test_cap. */
static int capture_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
			struct aw_error *err)
{
	aw_test_cap.ctx = ctx;
	*state = &aw_test_cap;
	return 0;
}

static void capture_submit(void *state, struct aw_batch *b)
{
	struct aw_test_capture *c = state;

	for (size_t i = 0; i < b->n; i++) {
		ck_assert_uint_lt(c->n, AW_TEST_CAPTURE_MAX);
		c->recs[c->n] = strdup(b->records[i].data);
		ck_assert_ptr_nonnull(c->recs[c->n]);
		c->n++;
		if (c->tee_fd > 0) {
			ck_assert_int_eq(write(c->tee_fd, b->records[i].data, b->records[i].len),
					 (ssize_t)b->records[i].len);
			ck_assert_int_eq(write(c->tee_fd, "\n", 1), 1);
		}
	}
	if (!c->hold)
		aw_output_done(c->ctx, b, AW_DONE, 0, NULL);
}

static void capture_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	closed(((struct aw_test_capture *)state)->ctx);
}

static const struct aw_option capture_options[] = {AW_OPT_END};

static const struct aw_plugin_desc capture_desc = {
    .abi = AW_PLUGIN_ABI,
    .name = "capture",
    .kind = AW_PLUGIN_OUTPUT,
    .options = capture_options,
    .init = capture_init,
    .submit = capture_submit,
    .close = capture_close,
};

/* mkdir that may find the directory there already. */
static void make_dir(const char *path)
{
	ck_assert_msg(mkdir(path, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", path,
		      strerror(errno));
}

void aw_test_put_input_state(const char *instance, const char *file, const char *content)
{
	char *path;

	ck_assert_int_ge(asprintf(&path, "%s/inputs", aw_test_tmp.statedir), 0);
	make_dir(path);
	free(path);
	ck_assert_int_ge(asprintf(&path, "%s/inputs/%s", aw_test_tmp.statedir, instance), 0);
	make_dir(path);
	free(aw_test_write(path, file, content, 0600));
	free(path);
}

const char *aw_test_col(json_object *record, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(record, key, &v))
		return NULL;
	return json_object_get_string(v);
}

/* --- the Azure services ------------------------------------------------------------ */

/* The members are a printf format: check the callers' arguments against it. */
static char *emu_config(const char *members_fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *emu_config(const char *members_fmt, va_list ap)
{
	char *members, *cfg;

	ck_assert_int_ge(vasprintf(&members, members_fmt, ap), 0);
	ck_assert_int_ge(asprintf(&cfg,
				  "{\"tenant_id\":\"%s\",\"clients\":[{\"client_id\":\"%s\","
				  "\"client_secret\":\"%s\"}]%s%s}",
				  AW_TEST_TENANT, AW_TEST_CLIENT_ID, AW_TEST_CLIENT_SECRET,
				  *members ? "," : "", members),
			 0);
	free(members);
	return cfg;
}

char *aw_test_emu_config(const char *members_fmt, ...)
{
	va_list ap;
	char *cfg;

	va_start(ap, members_fmt);
	cfg = emu_config(members_fmt, ap);
	va_end(ap);
	return cfg;
}

void aw_test_emu_start_azure(struct aw_test_emu *e, const char *members_fmt, ...)
{
	va_list ap;
	char *cfg;

	va_start(ap, members_fmt);
	cfg = emu_config(members_fmt, ap);
	va_end(ap);
	aw_test_emu_start(e, cfg);
	free(cfg);
}

static void azure_start(struct aw_test_harness *h)
{
	struct aw_error err = {{0}};

	snprintf(h->authority, sizeof h->authority, "%s", h->conf.emu->base);
	h->azc.credential.kind = "client_secret";
	h->azc.credential.tenant_id = AW_TEST_TENANT;
	h->azc.credential.client_id = AW_TEST_CLIENT_ID;
	h->azc.credential.client_secret.value = AW_TEST_CLIENT_SECRET;
	h->azc.credential.authority_host = h->authority;
	h->azc.credential.refresh_before_ms = 300000;
	h->azc.insecure_http_for_tests = true;
	ck_assert_msg(aw_azure_start(&h->loop, &h->azc, h->metrics, &h->azure, &err) == 0, "%s",
		      err.msg);
}

/* --- the harness ------------------------------------------------------------------- */

static void pipeline_start(struct aw_test_harness *h)
{
	const struct aw_test_harness_conf *c = &h->conf;
	struct aw_error err = {{0}};
	struct aw_error_list errs = {0};
	char *pack = NULL;
	const char *paths[1] = {c->rules};
	struct aw_pipeline_conf pc = {
	    .max_queue_bytes = c->max_queue_bytes ? c->max_queue_bytes : 16 * 1024 * 1024,
	    .retry_initial_ms = 10,
	    .retry_max_ms = 100,
	    .retry_max_age_ms = 60000,
	    .forward_events = !c->rule_pack,
	};
	struct aw_engine_conf ec = {.forward_events = !c->rule_pack,
				    .rule_paths = paths,
				    .nrule_paths = c->rules || c->rule_pack ? 1 : 0,
				    .allowed_lateness_ms = c->allowed_lateness_ms,
				    .host = c->host ? c->host : "test-host"};

	if (c->rule_pack) {
		char rel[256];

		snprintf(rel, sizeof rel, "conf/rules/%s", c->rule_pack);
		pack = aw_test_srcpath(rel);
		paths[0] = pack;
	}
	h->engine = aw_engine_new(&ec, &errs);
	ck_assert_msg(h->engine && errs.n == 0, "rules: %s", errs.n ? errs.msgs[0] : "?");
	free(pack); /* the engine has loaded the rules */
	ck_assert_msg(aw_pipeline_new(&h->loop, &pc, h->metrics, aw_test_tmp.statedir, h->engine,
				      &h->p, &err) == 0,
		      "%s", err.msg);
	h->ic_out = (struct aw_instance_conf){.desc = &capture_desc, .name = "capture"};
	ck_assert_msg(aw_pipeline_add(h->p, &h->ic_out, &h->out, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_start(h->out, &err) == 0, "%s", err.msg);
	aw_error_list_free(&errs);
}

static void input_start(struct aw_test_harness *h, const char *yaml)
{
	const struct aw_plugin_desc *desc = h->conf.input;
	struct aw_error err = {{0}};
	struct aw_error_list errs = {0};
	char *full;
	int rc;

	if (h->conf.endpoint_key)
		ck_assert_int_ge(
		    asprintf(&full, "%s%s: %s\n", yaml, h->conf.endpoint_key, h->conf.emu->base),
		    0);
	else
		full = strdup(yaml);
	ck_assert_ptr_nonnull(full);
	ck_assert_int_eq(aw_doc_load_buffer("test.yaml", full, strlen(full), &h->doc, &errs), 0);
	free(full);
	h->in_conf = calloc(1, desc->conf_size);
	ck_assert_ptr_nonnull(h->in_conf);
	rc = aw_options_apply(desc->options, h->doc->root, h->in_conf, "inputs[0]", 0600, &errs);
	ck_assert_msg(rc == 0 && errs.n == 0, "config: %s", errs.n ? errs.msgs[0] : "?");
	ck_assert_msg(desc->validate(h->in_conf, "inputs[0]", &errs) == 0, "validate: %s",
		      errs.n ? errs.msgs[0] : "?");
	h->ic_in = (struct aw_instance_conf){
	    .desc = desc, .name = (char *)h->conf.name, .conf = h->in_conf};
	ck_assert_msg(aw_pipeline_add(h->p, &h->ic_in, &h->in, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_start(h->in, &err) == 0, "%s", err.msg);
	aw_error_list_free(&errs);
}

void aw_test_harness_start(struct aw_test_harness *h, const struct aw_test_harness_conf *conf,
			   const char *yaml)
{
	memset(h, 0, sizeof *h);
	h->conf = *conf;
	ck_assert_int_eq(uv_loop_init(&h->loop), 0);
	h->metrics = aw_metrics_new();
	ck_assert_ptr_nonnull(h->metrics);
	if (conf->emu)
		azure_start(h);
	if (conf->input) {
		pipeline_start(h);
		input_start(h, yaml);
	}
}

static void closed_cb(void *ud)
{
	((struct aw_test_harness *)ud)->closed = true;
}

static void azure_closed_cb(void *ud)
{
	((struct aw_test_harness *)ud)->azure_closed = true;
}

void aw_test_harness_stop(struct aw_test_harness *h)
{
	if (h->p) {
		aw_pipeline_close(h->p, closed_cb, h);
		while (!h->closed)
			uv_run(&h->loop, UV_RUN_ONCE);
	}
	if (h->azure) {
		aw_azure_close(h->azure, azure_closed_cb, h);
		while (!h->azure_closed)
			uv_run(&h->loop, UV_RUN_ONCE);
	}
	uv_run(&h->loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&h->loop), 0);
	if (h->in_conf)
		aw_options_free(h->conf.input->options, h->in_conf);
	free(h->in_conf);
	aw_doc_free(h->doc);
	aw_engine_free(h->engine);
	aw_metrics_free(h->metrics);
}

char *aw_test_harness_metrics(struct aw_test_harness *h)
{
	char *text = NULL;
	size_t len = 0;

	ck_assert_int_eq(aw_metrics_render(h->metrics, &text, &len), 0);
	return text;
}

double aw_test_harness_metric(struct aw_test_harness *h, const char *series)
{
	char *text = aw_test_harness_metrics(h);
	double v = aw_test_metric_in(text, series);

	free(text);
	return v;
}

void aw_test_harness_assert_metric(struct aw_test_harness *h, const char *series, const char *value)
{
	char *text = aw_test_harness_metrics(h), want[512];

	snprintf(want, sizeof want, "%s %s\n", series, value);
	ck_assert_msg(strstr(text, want) != NULL, "no \"%s\" in metrics:\n%s", want, text);
	free(text);
}

double aw_test_harness_polls(struct aw_test_harness *h)
{
	const char *type = h->conf.input->name, *name = h->conf.name;
	char ok[256], failed[256];

	snprintf(ok, sizeof ok, "aiwatch_%s_polls_total{input=\"%s\",result=\"ok\"}", type, name);
	snprintf(failed, sizeof failed, "aiwatch_%s_polls_total{input=\"%s\",result=\"failed\"}",
		 type, name);
	return aw_test_harness_metric(h, ok) + aw_test_harness_metric(h, failed);
}

struct polls_wanted {
	struct aw_test_harness *h;
	double n;
};

static bool polls_reached(void *ud)
{
	struct polls_wanted *w = ud;

	return aw_test_harness_polls(w->h) >= w->n;
}

void aw_test_harness_wait_polls(struct aw_test_harness *h, double n)
{
	struct polls_wanted w = {h, n};

	aw_test_run_until(&h->loop, polls_reached, &w, 20000);
	/* Let the pipeline deliver, sync its spool and report durability: the tests poll
	 * every second or less often, so the next poll is not under way yet. */
	aw_test_run_until(&h->loop, NULL, NULL, 300);
	ck_assert_msg(aw_test_harness_polls(h) >= n, "%g polls finished, want %g",
		      aw_test_harness_polls(h), n);
}

/* --- running the loop -------------------------------------------------------------- */

static void tick_cb(uv_timer_t *t)
{
}

bool aw_test_run_until(uv_loop_t *loop, bool (*done)(void *ud), void *ud, unsigned ms)
{
	uv_timer_t tick;
	uint64_t deadline;

	uv_update_time(loop);
	deadline = uv_now(loop) + ms;
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 5, 5);
	while (!(done && done(ud)) && uv_now(loop) < deadline)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return done && done(ud);
}
