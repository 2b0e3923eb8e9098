/* `aiwatchd posture`: read the estate once with the daemon's own `posture` input
 * settings (or a saved inventory), run every check, print the report.
 *
 * The collection runs on a private libuv loop with the azure: services started from
 * the same configuration, so a report covers exactly what the daemon watches and uses
 * the same identity. Everything is closed before the report is written; the loop then
 * holds no handle. */
#include "posture_main.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../daemon/azure.h"
#include "../daemon/config.h"
#include "../daemon/daemon.h"
#include "../daemon/log.h"
#include "../daemon/metrics.h"
#include "../daemon/registry.h"
#include "posture_conf.h"
#include "posture_report.h"

#define INVENTORY_MAX_BYTES (1024u * 1024u * 1024u) /* a saved inventory read back */

struct opts {
	const char *config;
	const char *input;
	int framework;
	bool json;
	const char *html;
	const char *inventory;
	const char *save;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: aiwatchd posture [--config FILE] [--input NAME]\n"
		"                        [--framework mcsb|nist|iso27001|soc2]\n"
		"                        [--json | --html FILE] [--inventory FILE]\n"
		"                        [--save-inventory FILE]\n"
		"Run every posture check once over the AI resources the `posture` input of the\n"
		"configuration reads, and print a report: each resource with each check passed,\n"
		"failed or unknown, and the remediation of each failed check.\n\n"
		"  -c, --config FILE        configuration file (default %s)\n"
		"      --input NAME         the posture input to use (default: the first)\n"
		"      --framework NAME     group by the controls of mcsb (Microsoft cloud\n"
		"                           security benchmark v1), nist (SP 800-53 Rev. 5),\n"
		"                           iso27001 (27001:2022 Annex A) or soc2 (TSC)\n"
		"      --json               the report as JSON\n"
		"      --html FILE          write a self-contained HTML report to FILE\n"
		"      --inventory FILE     evaluate a saved inventory instead of reading Azure\n"
		"      --save-inventory FILE  write the inventory that was read (a JSON array)\n"
		"  -h, --help               this help\n\n"
		"Exit: 0 every check passed; 3 the report was written and some check failed or\n"
		"could not be evaluated; 1 configuration or read error; 2 bad command line.\n",
		AW_DEFAULT_CONFIG);
}

/* 1: help printed; 0: go; -1: usage error (printed). */
static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"input", required_argument, NULL, 'i'},
	    {"framework", required_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},
	    {"html", required_argument, NULL, 'H'},
	    {"inventory", required_argument, NULL, 'I'},
	    {"save-inventory", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	*o = (struct opts){.config = AW_DEFAULT_CONFIG, .framework = -1};
	optind = 1;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->config = optarg;
			break;
		case 'i':
			o->input = optarg;
			break;
		case 'f':
			o->framework = aw_posture_framework_parse(optarg);
			if (o->framework < 0) {
				fprintf(stderr,
					"posture: --framework is mcsb, nist, iso27001 or soc2, not "
					"'%s'\n",
					optarg);
				return -1;
			}
			break;
		case 'j':
			o->json = true;
			break;
		case 'H':
			o->html = optarg;
			break;
		case 'I':
			o->inventory = optarg;
			break;
		case 'S':
			o->save = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "posture: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->json && o->html) {
		fprintf(stderr, "posture: --json and --html are exclusive\n");
		return -1;
	}
	return 0;
}

/* --- a saved inventory ------------------------------------------------------------------ */

static json_object *read_inventory(const char *path, struct aw_error *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	json_tokener *tok = NULL;
	json_object *o = NULL;

	if (!f) {
		aw_error_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			char *nb;

			if (cap >= INVENTORY_MAX_BYTES) {
				aw_error_set(err, "%s: larger than %u bytes", path,
					     INVENTORY_MAX_BYTES);
				goto out;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				aw_error_set(err, "%s: out of memory", path);
				goto out;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		aw_error_set(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	tok = json_tokener_new();
	if (!tok) {
		aw_error_set(err, "%s: out of memory", path);
		goto out;
	}
	o = json_tokener_parse_ex(tok, buf ? buf : "", (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) < len) {
		size_t end = json_tokener_get_parse_end(tok);
		bool trailing = json_tokener_get_error(tok) == json_tokener_success;

		/* trailing white space is fine */
		while (trailing && end < len && strchr(" \t\r\n", buf[end]))
			end++;
		if (!trailing || end < len) {
			aw_error_set(err, "%s: not JSON: %s (byte %zu)", path,
				     trailing
					 ? "data after the array"
					 : json_tokener_error_desc(json_tokener_get_error(tok)),
				     end);
			json_object_put(o);
			o = NULL;
			goto out;
		}
	}
	if (!json_object_is_type(o, json_type_array)) {
		aw_error_set(err, "%s: not a JSON array of resources", path);
		json_object_put(o);
		o = NULL;
	}
out:
	if (tok)
		json_tokener_free(tok);
	free(buf);
	fclose(f);
	return o;
}

/* A saved inventory keeps each read failure on its element: count them. */
static size_t failed_elements(json_object *inv, const char **first)
{
	size_t n = 0;

	*first = NULL;
	for (size_t i = 0; i < json_object_array_length(inv); i++) {
		json_object *meta, *e;

		if (json_object_object_get_ex(json_object_array_get_idx(inv, i), AW_POSTURE_META,
					      &meta) &&
		    json_object_object_get_ex(meta, "error", &e)) {
			if (!*first && json_object_is_type(e, json_type_string))
				*first = json_object_get_string(e);
			n++;
		}
	}
	return n;
}

/* Write a file whole or not at all: a temporary name, then rename. */
static int write_file(const char *path, int (*fn)(FILE *f, void *ud), void *ud,
		      struct aw_error *err)
{
	char tmp[4096];
	FILE *f;
	int rc;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return aw_error_set(err, "%s: path too long", path);
	f = fopen(tmp, "w");
	if (!f)
		return aw_error_set(err, "%s: %s", tmp, strerror(errno));
	rc = fn(f, ud);
	if (fclose(f) != 0 && rc == 0)
		rc = -1;
	if (rc != 0) {
		int e = errno;

		unlink(tmp);
		if (!err || !err->msg[0])
			aw_error_set(err, "%s: %s", path, strerror(e ? e : EIO));
		return -1;
	}
	if (rename(tmp, path) != 0) {
		aw_error_set(err, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int put_inventory(FILE *f, void *ud)
{
	const char *s = json_object_to_json_string_ext(ud, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s)
		return -1;
	return fprintf(f, "%s\n", s) < 0 ? -1 : 0;
}

struct html_job {
	const struct aw_posture_report *r;
	int framework;
	struct aw_error *err;
};

static int put_html(FILE *f, void *ud)
{
	struct html_job *j = ud;

	return aw_posture_report_write(j->r, AW_POSTURE_HTML, j->framework, f, j->err);
}

/* --- reading Azure ------------------------------------------------------------------------ */

struct run {
	uv_loop_t loop;
	struct aw_metrics *metrics;
	struct aw_azure *azure;
	struct aw_auth *own_auth;
	struct aw_posture_collector *collector;
	struct aw_posture_inventory *inv; /* from done(), owned */
	uv_signal_t sigint, sigterm;
	uv_timer_t finish;
	bool finishing, interrupted;
};

static void azure_closed(void *ud)
{
	(void)ud;
}

static void collector_closed(void *ud)
{
	struct run *run = ud;

	run->collector = NULL;
	if (run->own_auth) {
		aw_auth_free(run->own_auth);
		run->own_auth = NULL;
	}
	aw_azure_close(run->azure, azure_closed, run);
	run->azure = NULL;
}

/* Close everything from a fresh loop turn (never inside the collector's callback). */
static void finish_cb(uv_timer_t *t)
{
	struct run *run = t->data;

	uv_close((uv_handle_t *)&run->sigint, NULL);
	uv_close((uv_handle_t *)&run->sigterm, NULL);
	uv_close((uv_handle_t *)&run->finish, NULL);
	aw_posture_collector_close(run->collector, collector_closed, run);
}

static void finish(struct run *run)
{
	if (run->finishing)
		return;
	run->finishing = true;
	uv_timer_start(&run->finish, finish_cb, 0, 0);
}

static void collected(void *ud, struct aw_posture_inventory *inv)
{
	struct run *run = ud;

	run->inv = inv;
	finish(run);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct run *run = s->data;

	(void)signum;
	run->interrupted = true;
	finish(run);
}

static void configure_log(const struct aw_log_conf *lc)
{
	/* A one-shot command: warnings (failed reads) and errors, unless debugging. */
	aw_log_configure(lc->level == 0 ? AW_LOG_DEBUG : AW_LOG_WARN,
			 lc->format == 1 ? AW_LOG_JSON : AW_LOG_LOGFMT);
}

static const struct aw_instance_conf *find_input(const struct aw_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ninputs; i++) {
		const struct aw_instance_conf *in = &cfg->inputs[i];

		if (strcmp(in->desc->name, "posture") != 0)
			continue;
		if (!name || strcmp(in->name, name) == 0)
			return in;
	}
	return NULL;
}

/* Read the estate; 0 with *inv set, or -1 with err set. */
static int collect(const struct aw_config *cfg, const struct aw_instance_conf *in,
		   struct aw_posture_inventory **inv, struct aw_error *err)
{
	const struct aw_posture_conf *pc = in->conf;
	struct run *run = calloc(1, sizeof *run);
	struct aw_posture_collect_conf cc = {0};
	const struct aw_http_bearer *bearer = NULL;
	int rc = -1;

	*inv = NULL;
	if (!run)
		return aw_error_set(err, "posture: out of memory");
	if (uv_loop_init(&run->loop) != 0) {
		free(run);
		return aw_error_set(err, "posture: cannot create an event loop");
	}
	run->metrics = aw_metrics_new();
	if (!run->metrics) {
		aw_error_set(err, "posture: out of memory");
		goto out;
	}
	if (aw_azure_start(&run->loop, &cfg->core.azure, run->metrics, &run->azure, err) != 0)
		goto out;
	if (aw_posture_bearer(pc, in->name, &run->loop, aw_azure_http(run->azure), run->metrics,
			      aw_azure_credential(run->azure), &run->own_auth, &bearer, err) != 0)
		goto close;
	aw_posture_collect_conf_from(pc, &cc);
	cc.loop = &run->loop;
	cc.http = aw_azure_http(run->azure);
	cc.bearer = bearer;
	cc.component = "posture";
	if (aw_posture_collector_new(&cc, &run->collector, err) != 0)
		goto close;
	uv_signal_init(&run->loop, &run->sigint);
	uv_signal_init(&run->loop, &run->sigterm);
	uv_timer_init(&run->loop, &run->finish);
	run->sigint.data = run->sigterm.data = run->finish.data = run;
	uv_signal_start(&run->sigint, on_signal, SIGINT);
	uv_signal_start(&run->sigterm, on_signal, SIGTERM);
	if (aw_posture_collect(run->collector, collected, run, err) != 0) {
		finish(run);
		uv_run(&run->loop, UV_RUN_DEFAULT);
		goto out;
	}
	uv_run(&run->loop, UV_RUN_DEFAULT);
	if (run->interrupted) {
		aw_error_set(err, "posture: interrupted");
		goto out;
	}
	if (!run->inv) {
		aw_error_set(err, "posture: the collection ended without an inventory");
		goto out;
	}
	*inv = run->inv;
	run->inv = NULL;
	rc = 0;
	goto out;
close:
	/* nothing is in flight: the collector was never started */
	if (run->own_auth)
		aw_auth_free(run->own_auth);
	run->own_auth = NULL;
	aw_azure_close(run->azure, azure_closed, run);
	run->azure = NULL;
	uv_run(&run->loop, UV_RUN_DEFAULT);
out:
	if (run->azure) {
		aw_azure_close(run->azure, azure_closed, run);
		uv_run(&run->loop, UV_RUN_DEFAULT);
	}
	aw_posture_inventory_free(run->inv); /* frees the struct too */
	if (uv_loop_close(&run->loop) != 0)
		aw_log(AW_LOG_WARN, "posture", "event loop closed with handles left");
	aw_metrics_free(run->metrics);
	free(run);
	return rc;
}

/* --- the command ------------------------------------------------------------------------- */

static int64_t report_time(void)
{
	/* SOURCE_DATE_EPOCH (reproducible-builds.org) pins the time a report shows, so two
	 * reports of the same estate are the same file. */
	const char *e = getenv("SOURCE_DATE_EPOCH");

	if (e && *e) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(e, &end, 10);
		if (!errno && !*end && v >= 0)
			return v;
	}
	return (int64_t)time(NULL);
}

static int report(json_object *resources, const struct aw_posture_report_info *info,
		  const struct opts *o)
{
	struct aw_posture_report *r = NULL;
	struct aw_error err = {{0}};
	struct aw_posture_counts t;

	if (aw_posture_report_new(resources, info, &r, &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		return AW_EXIT_CONFIG;
	}
	t = aw_posture_report_totals(r);
	if (o->html) {
		struct html_job j = {r, o->framework, &err};

		if (write_file(o->html, put_html, &j, &err) != 0) {
			fprintf(stderr, "posture: %s\n", err.msg);
			aw_posture_report_free(r);
			return AW_EXIT_CONFIG;
		}
		printf("posture: %zu checks on %zu resources: %zu passed, %zu failed, %zu unknown; "
		       "HTML report in %s\n",
		       t.passed + t.failed + t.unknown, aw_posture_report_resources(r), t.passed,
		       t.failed, t.unknown, o->html);
	} else if (aw_posture_report_write(r, o->json ? AW_POSTURE_JSON : AW_POSTURE_TEXT,
					   o->framework, stdout, &err) != 0) {
		fprintf(stderr, "posture: %s\n", err.msg);
		aw_posture_report_free(r);
		return AW_EXIT_CONFIG;
	}
	aw_posture_report_free(r);
	return t.failed || t.unknown ? AW_POSTURE_EXIT_FINDINGS : AW_EXIT_OK;
}

static int run_inventory(const struct opts *o)
{
	struct aw_error err = {{0}};
	json_object *inv = read_inventory(o->inventory, &err);
	struct aw_posture_report_info info = {0};
	char source[4200];
	int rc;

	if (!inv) {
		fprintf(stderr, "posture: %s\n", err.msg);
		return AW_EXIT_CONFIG;
	}
	if (o->save && write_file(o->save, put_inventory, inv, &err) != 0) {
		fprintf(stderr, "posture: %s\n", err.msg);
		json_object_put(inv);
		return AW_EXIT_CONFIG;
	}
	snprintf(source, sizeof source, "inventory %s", o->inventory);
	info.source = source;
	info.generated = report_time();
	info.complete = true;
	info.failed_reads = failed_elements(inv, &info.error);
	rc = report(inv, &info, o);
	json_object_put(inv);
	return rc;
}

static int run_config(const struct opts *o)
{
	struct aw_error_list errs = {0};
	struct aw_config *cfg = NULL;
	const struct aw_instance_conf *in;
	struct aw_posture_inventory *inv = NULL;
	struct aw_posture_report_info info = {0};
	struct aw_error err = {{0}};
	char source[4200];
	int rc = AW_EXIT_CONFIG;

	if (aw_config_load(o->config, &cfg, &errs) != 0 ||
	    aw_config_resolve_secrets(cfg, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		if (errs.dropped)
			fprintf(stderr, "... and %zu more errors\n", errs.dropped);
		aw_error_list_free(&errs);
		goto out;
	}
	configure_log(&cfg->core.log);
	in = find_input(cfg, o->input);
	if (!in) {
		if (o->input)
			fprintf(stderr, "%s: no input of type posture named '%s'\n", o->config,
				o->input);
		else
			fprintf(stderr, "%s: no input of type posture\n", o->config);
		goto out;
	}
	if (collect(cfg, in, &inv, &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	/* Nothing read and the listing failed: a read error, not an empty report. */
	if (!inv->resources || (!inv->complete && json_object_array_length(inv->resources) == 0)) {
		fprintf(stderr, "posture: reading the estate failed: %s\n",
			inv->error[0] ? inv->error : "no inventory");
		goto out;
	}
	if (o->save && write_file(o->save, put_inventory, inv->resources, &err) != 0) {
		fprintf(stderr, "posture: %s\n", err.msg);
		goto out;
	}
	snprintf(source, sizeof source, "config %s, input %s", o->config, in->name);
	info.source = source;
	info.generated = report_time();
	info.complete = inv->complete;
	info.failed_reads = inv->failed_reads;
	info.error = inv->error;
	rc = report(inv->resources, &info, o);
	/* A report of part of the estate is shown, but it is not a verdict. */
	if (!inv->complete && rc != AW_EXIT_CONFIG) {
		fprintf(stderr,
			"posture: the inventory is incomplete (%s): resources may be missing\n",
			inv->error[0] ? inv->error : "a listing did not finish");
		rc = AW_EXIT_CONFIG;
	}
out:
	aw_posture_inventory_free(inv);
	aw_config_free(cfg);
	aw_log_redact_clear();
	return rc;
}

int aw_posture_main(int argc, char **argv)
{
	struct opts o;
	int rc = parse(argc, argv, &o);

	if (rc > 0)
		return AW_EXIT_OK;
	if (rc < 0) {
		usage(stderr);
		return AW_EXIT_USAGE;
	}
	return o.inventory ? run_inventory(&o) : run_config(&o);
}
