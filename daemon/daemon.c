/* The daemon's life cycle: start, reload, drain, stop. See daemon.h. */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azure.h"
#include "config.h"
#include "engine.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "sdnotify.h"
#include "state.h"

struct aw_daemon {
	uv_loop_t loop;
	char *config_path;
	struct aw_config *cfg;
	struct aw_metrics *metrics;
	struct aw_engine *engine;
	struct aw_error_list rule_errors; /* of the running rule set, to judge a reload */
	char *engine_dir;                 /* correlation state */
	uv_timer_t save_timer;
	struct aw_pipeline *pipeline;
	struct aw_httpd *httpd;
	/* Azure services, made from the first configuration, which therefore lives until
	 * exit even after a reload replaced it (azure.h) */
	struct aw_azure *azure;
	struct aw_config *azure_cfg;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_signal_t sig_stall;            /* test hook, see stall_cb */
	uint64_t stall_ms;                /* 0: the hook is off */
	uv_timer_t watchdog, shutdown_timer, reload_timer;
	bool reload_scheduled;
	bool stopping;
	bool closed;
	int exit_code;
	struct aw_metric *m_reload_ok, *m_reload_fail, *m_up;
};

static const enum aw_log_level level_by_index[] = {
	AW_LOG_DEBUG, AW_LOG_INFO, AW_LOG_NOTICE, AW_LOG_WARN, AW_LOG_ERR,
};

static void apply_log_conf(const struct aw_log_conf *lc)
{
	size_t i = (size_t)lc->level;

	if (i >= sizeof level_by_index / sizeof level_by_index[0])
		i = 1;
	aw_log_configure(level_by_index[i], lc->format == 1 ? AW_LOG_JSON : AW_LOG_LOGFMT);
}

static int http_enabled(const char *listen)
{
	return listen && *listen && strcmp(listen, "off") != 0;
}

static int ready_cb(void *ud, char *why, size_t whysz)
{
	struct aw_daemon *d = ud;

	if (d->stopping) {
		snprintf(why, whysz, "shutting down");
		return 0;
	}
	return aw_pipeline_ready(d->pipeline, why, whysz);
}

static void log_errors(const char *what, const struct aw_error_list *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		aw_log(AW_LOG_ERR, "config", what, AW_S("error", errs->msgs[i]));
	if (errs->dropped)
		aw_log(AW_LOG_ERR, "config", "more errors not shown", AW_U("count", errs->dropped));
}

struct aw_engine *aw_daemon_engine(const struct aw_core_conf *core, struct aw_error_list *errs)
{
	struct aw_engine_conf ec = {
		.forward_events = core->pipeline.forward_events,
		.rule_paths = (const char *const *)core->rules.paths.v,
		.nrule_paths = core->rules.paths.n,
		.allowed_lateness_ms = core->rules.allowed_lateness_ms,
		.max_groups_per_rule = (size_t)core->rules.max_groups_per_rule,
		.max_groups_total = (size_t)core->rules.max_groups_total,
		.field_mappings = (const char *const *)core->rules.field_mappings.v,
		.nfield_mappings = core->rules.field_mappings.n,
		.placeholders = (const char *const *)core->rules.placeholders.v,
		.nplaceholders = core->rules.placeholders.n,
	};

	return aw_engine_new(&ec, errs);
}

static struct aw_engine *new_engine(struct aw_daemon *d, const struct aw_core_conf *core,
				    struct aw_error_list *errs)
{
	struct aw_engine *e = aw_daemon_engine(core, errs);

	if (e)
		aw_engine_set_metrics(e, d->metrics);
	return e;
}

static void save_engine_state(struct aw_daemon *d)
{
	struct aw_error err;

	if (d->engine && d->engine_dir && aw_engine_save_state(d->engine, d->engine_dir, &err) != 0)
		aw_log(AW_LOG_WARN, "engine", "cannot save correlation state",
		       AW_S("dir", d->engine_dir), AW_S("error", err.msg));
}

static void save_timer_cb(uv_timer_t *t)
{
	save_engine_state(t->data);
}

/* True when every error of `next` was already an error of the running set: a reload
 * may keep a rule that was broken before, but must not break one that worked. */
static bool no_new_rule_errors(const struct aw_error_list *running,
			       const struct aw_error_list *next)
{
	if (next->dropped)
		return false;
	for (size_t i = 0; i < next->n; i++) {
		bool known = false;
		for (size_t j = 0; j < running->n && !known; j++)
			known = strcmp(next->msgs[i], running->msgs[j]) == 0;
		if (!known)
			return false;
	}
	return true;
}

/* Add and start the instances of `kind` from cfg that are not running yet. */
static int add_instances(struct aw_daemon *d, struct aw_instance_conf *ics, size_t n,
			 bool (*running)(struct aw_daemon *, const char *))
{
	struct aw_error err;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		struct aw_plugin_ctx *ctx;
		if (running && running(d, ics[i].name))
			continue;
		if (aw_pipeline_add(d->pipeline, &ics[i], &ctx, &err) != 0 ||
		    aw_pipeline_start(ctx, &err) != 0) {
			aw_log(AW_LOG_ERR, "daemon", "cannot start instance",
			       AW_S("name", ics[i].name), AW_S("error", err.msg));
			rc = -1;
			continue;
		}
		aw_log(AW_LOG_INFO, "daemon", "instance started", AW_S("name", ics[i].name),
		       AW_S("type", ics[i].desc->name));
	}
	return rc;
}

/* --- shutdown --------------------------------------------------------------------- */

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void pipeline_closed(void *ud)
{
	struct aw_daemon *d = ud;

	d->pipeline = NULL;
	/* every plugin is closed: nothing uses the HTTP client or the credential now */
	if (d->azure) {
		aw_azure_close(d->azure, NULL, NULL);
		d->azure = NULL;
	}
	close_handle((uv_handle_t *)&d->sig_term);
	close_handle((uv_handle_t *)&d->sig_int);
	close_handle((uv_handle_t *)&d->sig_hup);
	close_handle((uv_handle_t *)&d->sig_stall);
	close_handle((uv_handle_t *)&d->watchdog);
	close_handle((uv_handle_t *)&d->shutdown_timer);
	close_handle((uv_handle_t *)&d->reload_timer);
	close_handle((uv_handle_t *)&d->save_timer);
}

static void finish_shutdown(struct aw_daemon *d)
{
	size_t left;

	if (d->closed)
		return;
	d->closed = true;
	uv_timer_stop(&d->shutdown_timer);
	uv_timer_stop(&d->save_timer);
	save_engine_state(d);
	left = aw_pipeline_pending(d->pipeline);
	if (left)
		aw_log(AW_LOG_WARN, "daemon",
		       "shutdown_timeout reached; undelivered records stay in the spools and "
		       "are sent after the restart",
		       AW_U("records", left));
	else
		aw_log(AW_LOG_INFO, "daemon", "all records delivered; stopping");
	if (d->httpd) {
		aw_httpd_close(d->httpd);
		d->httpd = NULL;
	}
	aw_pipeline_close(d->pipeline, pipeline_closed, d);
}

static void drained_cb(void *ud)
{
	finish_shutdown(ud);
}

static void shutdown_timeout_cb(uv_timer_t *t)
{
	finish_shutdown(t->data);
}

static void begin_shutdown(struct aw_daemon *d, const char *why)
{
	if (d->stopping) {
		aw_log(AW_LOG_NOTICE, "daemon", "second stop signal: not waiting for outputs");
		finish_shutdown(d);
		return;
	}
	d->stopping = true;
	aw_sdnotify("STOPPING=1");
	aw_log(AW_LOG_INFO, "daemon", "stopping: draining outputs", AW_S("signal", why),
	       AW_U("timeout_ms", d->cfg->core.shutdown_timeout_ms));
	aw_pipeline_stop_inputs(d->pipeline);
	uv_timer_start(&d->shutdown_timer, shutdown_timeout_cb,
		       d->cfg->core.shutdown_timeout_ms, 0);
	aw_pipeline_on_idle(d->pipeline, drained_cb, d);
}

/* --- reload ---------------------------------------------------------------------- */

/* Move the metrics server to the new http_listen. The old listener is closed first
 * (the new address may share its port); if the new one cannot start, the daemon keeps
 * running without it and says so. */
static int restart_httpd(struct aw_daemon *d)
{
	struct aw_error err;
	const char *listen = d->cfg->core.http_listen;

	if (d->httpd) {
		aw_httpd_close(d->httpd);
		d->httpd = NULL;
	}
	if (!http_enabled(listen))
		return 0;
	if (aw_httpd_start(&d->loop, listen, d->metrics, ready_cb, d, &d->httpd, &err) != 0) {
		aw_log(AW_LOG_ERR, "daemon", "cannot move the metrics server",
		       AW_S("listen", listen), AW_S("error", err.msg));
		return -1;
	}
	aw_log(AW_LOG_INFO, "daemon", "metrics server listening", AW_S("listen", listen),
	       AW_U("port", aw_httpd_port(d->httpd)));
	return 0;
}

struct reload_diff {
	struct aw_daemon *d;
	struct aw_config *next;
};

static struct aw_instance_conf *find_instance(struct aw_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ninputs; i++)
		if (strcmp(cfg->inputs[i].name, name) == 0)
			return &cfg->inputs[i];
	for (size_t i = 0; i < cfg->noutputs; i++)
		if (strcmp(cfg->outputs[i].name, name) == 0)
			return &cfg->outputs[i];
	return NULL;
}

/* For each running instance: keep it (rebound to the new config) when its
 * configuration is unchanged, otherwise remove it. */
static void diff_one(struct aw_plugin_ctx *ctx, void *ud)
{
	struct reload_diff *rd = ud;
	struct aw_instance_conf *old = (struct aw_instance_conf *)aw_ctx_instance_conf(ctx);
	struct aw_instance_conf *nic = find_instance(rd->next, old->name);

	if (nic && aw_instance_conf_equal(old, nic)) {
		/* The plugin holds old->conf; give that very object to the new config
		 * (the two are equal) so it lives on after the old config is freed. */
		void *keep = old->conf;
		old->conf = nic->conf;
		nic->conf = keep;
		aw_pipeline_rebind(ctx, nic);
		return;
	}
	aw_log(AW_LOG_INFO, "daemon", nic ? "instance changed; replacing it"
					  : "instance removed from the configuration",
	       AW_S("name", old->name));
	/* The plugin may use its conf until it has closed: detach it from the old
	 * config and let the pipeline free it after the close. */
	void *conf = old->conf;
	old->conf = NULL;
	aw_pipeline_remove(ctx, conf);
}

struct find_name {
	const char *name;
	bool found;
};

static void match_name(struct aw_plugin_ctx *ctx, void *ud)
{
	struct find_name *f = ud;
	const struct aw_instance_conf *ic = aw_ctx_instance_conf(ctx);

	if (ic && strcmp(ic->name, f->name) == 0)
		f->found = true;
}

static bool is_running(struct aw_daemon *d, const char *name)
{
	struct find_name f = {.name = name};

	aw_pipeline_foreach(d->pipeline, match_name, &f);
	return f.found;
}

static void do_reload(struct aw_daemon *d)
{
	struct aw_error_list errs = {0};
	struct aw_config *next = NULL;
	int rc = 0;

	aw_sdnotify_reloading();
	aw_log(AW_LOG_INFO, "daemon", "reloading configuration", AW_S("path", d->config_path));
	if (aw_config_load(d->config_path, &next, &errs) != 0 ||
	    aw_config_resolve_secrets(next, &errs) != 0) {
		log_errors("reload rejected; keeping the running configuration", &errs);
		goto fail;
	}
	if (!aw_options_equal(aw_azure_options, &next->core.azure, &d->azure_cfg->core.azure))
		aw_log(AW_LOG_WARN, "config",
		       "the azure section changed; it takes effect at the next restart",
		       AW_S("path", d->config_path));
	if (strcmp(next->core.state_directory, d->cfg->core.state_directory) != 0) {
		aw_log(AW_LOG_ERR, "config",
		       "reload rejected; keeping the running configuration",
		       AW_S("error", "state_directory cannot change while running; restart "
				     "aiwatchd to move it"));
		goto fail;
	}
	/* Rules are re-read on every reload (the files may have changed even when the
	 * configuration did not). Open correlation windows move to the new engine. */
	struct aw_error_list rerrs = {0};
	struct aw_engine *e = new_engine(d, &next->core, &rerrs);
	if (!e || !no_new_rule_errors(&d->rule_errors, &rerrs)) {
		log_errors("reload rejected; keeping the running configuration and rules", &rerrs);
		aw_error_list_free(&rerrs);
		aw_engine_free(e);
		goto fail;
	}
	apply_log_conf(&next->core.log);
	save_engine_state(d);
	{
		struct aw_error err;
		if (aw_engine_load_state(e, d->engine_dir, &err) != 0)
			aw_log(AW_LOG_WARN, "engine", "correlation state not carried over",
			       AW_S("error", err.msg));
	}
	aw_pipeline_set_engine(d->pipeline, e);
	aw_engine_free(d->engine);
	d->engine = e;
	aw_error_list_free(&d->rule_errors);
	d->rule_errors = rerrs;
	aw_pipeline_set_conf(d->pipeline, &next->core.pipeline);

	bool listen_changed = strcmp(next->core.http_listen, d->cfg->core.http_listen) != 0;
	struct reload_diff rd = {.d = d, .next = next};
	aw_pipeline_foreach(d->pipeline, diff_one, &rd);
	if (d->cfg != d->azure_cfg)
		aw_config_free(d->cfg);
	d->cfg = next;
	/* Outputs first, so no event produced by a new input misses a new output. */
	rc |= add_instances(d, d->cfg->outputs, d->cfg->noutputs, is_running);
	rc |= add_instances(d, d->cfg->inputs, d->cfg->ninputs, is_running);
	if (listen_changed && restart_httpd(d) != 0)
		rc = -1;
	aw_metric_inc(rc == 0 ? d->m_reload_ok : d->m_reload_fail);
	aw_log(rc == 0 ? AW_LOG_INFO : AW_LOG_WARN, "daemon",
	       rc == 0 ? "configuration reloaded"
		       : "configuration reloaded; some instances failed to start");
	aw_sdnotify("READY=1\nSTATUS=running");
	aw_error_list_free(&errs);
	return;
fail:
	aw_metric_inc(d->m_reload_fail);
	aw_config_free(next);
	aw_error_list_free(&errs);
	aw_sdnotify("READY=1\nSTATUS=running; last reload rejected (see log)");
}

static void reload_timer_cb(uv_timer_t *t)
{
	struct aw_daemon *d = t->data;

	d->reload_scheduled = false;
	if (!d->stopping)
		do_reload(d);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct aw_daemon *d = s->data;

	if (signum == SIGHUP) {
		/* Reopen outputs at once (logrotate expects it) and coalesce the reload:
		 * any number of SIGHUPs before it runs make one reload that reads the
		 * newest file. */
		if (d->stopping)
			return;
		aw_pipeline_reopen_outputs(d->pipeline);
		if (!d->reload_scheduled) {
			d->reload_scheduled = true;
			uv_timer_start(&d->reload_timer, reload_timer_cb, 0, 0);
		}
		return;
	}
	begin_shutdown(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* --- watchdog -------------------------------------------------------------------- */

static void watchdog_cb(uv_timer_t *t)
{
	/* Sent from the loop: a stalled loop stops the pings and systemd restarts us. */
	(void)t;
	aw_sdnotify("WATCHDOG=1");
}

/* Test hook, off unless AIWATCH_DEBUG_STALL_SIGNAL=1 at start: SIGUSR2 then blocks the
 * loop for AIWATCH_DEBUG_STALL_MS (default 3000 ms), the way a stuck callback would, so
 * a test can show that the WATCHDOG=1 pings stop and systemd's watchdog would fire
 * (tests/integration/test_watchdog.c). Nothing else uses it. */
#define AW_STALL_DEFAULT_MS 3000
#define AW_STALL_MAX_MS	    600000

static void stall_cb(uv_signal_t *s, int signum)
{
	struct aw_daemon *d = s->data;
	struct timespec ts = {.tv_sec = (time_t)(d->stall_ms / 1000),
			      .tv_nsec = (long)(d->stall_ms % 1000) * 1000000L};

	(void)signum;
	aw_log(AW_LOG_WARN, "daemon", "test hook: stalling the event loop",
	       AW_U("ms", d->stall_ms));
	/* deliberately blocking: this is the stall */
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	aw_log(AW_LOG_WARN, "daemon", "test hook: event loop running again");
}

/* The stall length when the hook is on, else 0. */
static uint64_t stall_hook_ms(void)
{
	const char *on = getenv("AIWATCH_DEBUG_STALL_SIGNAL");
	const char *ms = getenv("AIWATCH_DEBUG_STALL_MS");
	char *end;
	long long v;

	if (!on || strcmp(on, "1") != 0)
		return 0;
	if (!ms || !*ms)
		return AW_STALL_DEFAULT_MS;
	errno = 0;
	v = strtoll(ms, &end, 10);
	if (errno || *end != '\0' || v < 1 || v > AW_STALL_MAX_MS) {
		aw_log(AW_LOG_WARN, "daemon",
		       "AIWATCH_DEBUG_STALL_MS is not 1..600000; using the default",
		       AW_S("value", ms), AW_U("ms", AW_STALL_DEFAULT_MS));
		return AW_STALL_DEFAULT_MS;
	}
	return (uint64_t)v;
}

/* --- start ----------------------------------------------------------------------- */

static int start(struct aw_daemon *d)
{
	struct aw_error err;
	const struct aw_core_conf *core = &d->cfg->core;
	uint64_t wd_usec;

	if (aw_state_mkdir(core->state_directory, &err) != 0) {
		aw_log(AW_LOG_ERR, "daemon", "cannot use the state directory",
		       AW_S("path", core->state_directory), AW_S("error", err.msg));
		return -1;
	}
	d->metrics = aw_metrics_new();
	if (!d->metrics) {
		aw_log(AW_LOG_ERR, "daemon", "out of memory at start");
		return -1;
	}
	/* Created for every configuration: nothing touches the network until a plugin
	 * asks for a token. */
	if (aw_azure_start(&d->loop, &core->azure, d->metrics, &d->azure, &err) != 0) {
		aw_log(AW_LOG_ERR, "daemon", "cannot set up Azure access", AW_S("error", err.msg));
		return -1;
	}
	d->azure_cfg = d->cfg;
	d->engine = new_engine(d, core, &d->rule_errors);
	/* Bad rules are reported and left out; the others run (invariant 4). */
	log_errors("rule not loaded", &d->rule_errors);
	if (!d->engine)
		return -1;
	if (asprintf(&d->engine_dir, "%s/engine", core->state_directory) < 0) {
		d->engine_dir = NULL;
		return -1;
	}
	if (aw_state_mkdir(d->engine_dir, &err) != 0 ||
	    aw_engine_load_state(d->engine, d->engine_dir, &err) != 0)
		aw_log(AW_LOG_WARN, "engine", "correlation state not restored; starting empty",
		       AW_S("error", err.msg));
	uv_timer_start(&d->save_timer, save_timer_cb, core->rules.save_interval_ms,
		       core->rules.save_interval_ms);
	aw_metric_set(aw_metric_get(d->metrics, AW_METRIC_GAUGE, "aiwatch_build_info",
				    "Version of the running aiwatchd", "version", AW_VERSION,
				    NULL),
		      1);
	d->m_reload_ok = aw_metric_get(d->metrics, AW_METRIC_COUNTER, "aiwatch_reloads_total",
				       "Configuration reloads by result", "result", "success",
				       NULL);
	d->m_reload_fail = aw_metric_get(d->metrics, AW_METRIC_COUNTER,
					 "aiwatch_reloads_total",
					 "Configuration reloads by result", "result", "failure",
					 NULL);
	if (aw_pipeline_new(&d->loop, &core->pipeline, d->metrics, core->state_directory,
			    d->engine, &d->pipeline, &err) != 0) {
		aw_log(AW_LOG_ERR, "daemon", "cannot create the pipeline", AW_S("error", err.msg));
		return -1;
	}
	if (add_instances(d, d->cfg->outputs, d->cfg->noutputs, NULL) != 0 ||
	    add_instances(d, d->cfg->inputs, d->cfg->ninputs, NULL) != 0)
		return -1;
	if (http_enabled(core->http_listen) &&
	    aw_httpd_start(&d->loop, core->http_listen, d->metrics, ready_cb, d, &d->httpd,
			   &err) != 0) {
		aw_log(AW_LOG_ERR, "daemon", "cannot start the metrics server",
		       AW_S("error", err.msg));
		return -1;
	}
	if (d->httpd)
		aw_log(AW_LOG_INFO, "daemon", "metrics server listening",
		       AW_S("listen", core->http_listen), AW_U("port", aw_httpd_port(d->httpd)));

	uv_signal_start(&d->sig_term, signal_cb, SIGTERM);
	uv_signal_start(&d->sig_int, signal_cb, SIGINT);
	uv_signal_start(&d->sig_hup, signal_cb, SIGHUP);
	d->stall_ms = stall_hook_ms();
	if (d->stall_ms) {
		uv_signal_start(&d->sig_stall, stall_cb, SIGUSR2);
		aw_log(AW_LOG_WARN, "daemon",
		       "test hook on (AIWATCH_DEBUG_STALL_SIGNAL=1): SIGUSR2 stalls the event loop",
		       AW_U("ms", d->stall_ms));
	}
	wd_usec = aw_sdnotify_watchdog_usec();
	if (wd_usec)
		uv_timer_start(&d->watchdog, watchdog_cb, wd_usec / 2000 ? wd_usec / 2000 : 1,
			       wd_usec / 2000 ? wd_usec / 2000 : 1);
	aw_sdnotify("READY=1\nSTATUS=running");
	aw_log(AW_LOG_INFO, "daemon", "aiwatchd started", AW_S("version", AW_VERSION),
	       AW_S("config", d->config_path), AW_U("inputs", d->cfg->ninputs),
	       AW_U("outputs", d->cfg->noutputs));
	return 0;
}

int aw_daemon_run(const char *config_path)
{
	struct aw_daemon d = {0};
	struct aw_error_list errs = {0};
	int rc;

	/* A closed pipe (stdout to a pager that quit) is an I/O error, not a death. */
	signal(SIGPIPE, SIG_IGN);
	d.config_path = strdup(config_path);
	if (!d.config_path)
		return AW_EXIT_RUNTIME;
	if (aw_config_load(config_path, &d.cfg, &errs) != 0) {
		log_errors("invalid configuration", &errs);
		aw_error_list_free(&errs);
		free(d.config_path);
		return AW_EXIT_CONFIG;
	}
	apply_log_conf(&d.cfg->core.log);
	if (aw_config_resolve_secrets(d.cfg, &errs) != 0) {
		log_errors("invalid configuration", &errs);
		aw_error_list_free(&errs);
		aw_config_free(d.cfg);
		free(d.config_path);
		return AW_EXIT_CONFIG;
	}
	uv_loop_init(&d.loop);
	uv_timer_init(&d.loop, &d.watchdog);
	uv_timer_init(&d.loop, &d.shutdown_timer);
	uv_timer_init(&d.loop, &d.reload_timer);
	uv_timer_init(&d.loop, &d.save_timer);
	d.save_timer.data = &d;
	uv_signal_init(&d.loop, &d.sig_term);
	uv_signal_init(&d.loop, &d.sig_int);
	uv_signal_init(&d.loop, &d.sig_hup);
	uv_signal_init(&d.loop, &d.sig_stall);
	d.sig_term.data = d.sig_int.data = d.sig_hup.data = d.sig_stall.data = &d;
	d.watchdog.data = d.shutdown_timer.data = d.reload_timer.data = &d;
	d.exit_code = AW_EXIT_OK;

	if (start(&d) != 0) {
		d.exit_code = AW_EXIT_RUNTIME;
		d.stopping = true;
		if (d.httpd) {
			aw_httpd_close(d.httpd);
			d.httpd = NULL;
		}
		if (d.pipeline) {
			d.closed = true;
			aw_pipeline_close(d.pipeline, pipeline_closed, &d);
		} else {
			pipeline_closed(&d);
		}
	}
	rc = uv_run(&d.loop, UV_RUN_DEFAULT);
	(void)rc;
	if (uv_loop_close(&d.loop) != 0)
		aw_log(AW_LOG_WARN, "daemon", "event loop closed with handles still open");
	aw_engine_free(d.engine);
	aw_error_list_free(&d.rule_errors);
	free(d.engine_dir);
	aw_metrics_free(d.metrics);
	if (d.azure_cfg != d.cfg)
		aw_config_free(d.azure_cfg);
	aw_config_free(d.cfg);
	free(d.config_path);
	aw_log_redact_clear();
	if (d.exit_code == AW_EXIT_OK)
		aw_log(AW_LOG_INFO, "daemon", "aiwatchd stopped");
	return d.exit_code;
}
