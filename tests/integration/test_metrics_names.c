/* Every metric the Grafana dashboard (conf/grafana/aiwatch.json) and the Prometheus
 * rules (conf/prometheus/aiwatch.rules.yml) use, and every metric the manual pages
 * name, is one aiwatchd exports.
 *
 * "Exported" is the union of two sources:
 *   1. the families a running aiwatchd shows on /metrics (file input and output, the
 *      shipped rules, a story that raises alerts, so activity-only series such as
 *      aiwatch_alerts_total appear too);
 *   2. for metrics that appear only with plugins or activity the test cannot bring
 *      up offline (Log Analytics, Sentinel, Kafka, tokens, HTTP), the source: every
 *      string literal that is exactly "aiwatch_<name>" in a .c file under daemon/ or
 *      plugins/ that creates metrics (names AW_METRIC_COUNTER or AW_METRIC_GAUGE).
 *      Such literals are the names passed to aw_metric_get(), directly, through a
 *      plugin's small wrapper, or from a table.
 * A name used in an `expr` (rules, dashboard targets and annotations), a templating
 * query or a manual page that is in neither is reported with the file that uses it. */
#include <dirent.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/testutil.h"
#include "config.h"

#define NAMES_MAX 4096

struct names {
	char *v[NAMES_MAX];
	const char *where[NAMES_MAX]; /* for used names: the file that uses it */
	size_t n;
};

static bool names_has(const struct names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return true;
	return false;
}

static void names_add(struct names *s, const char *name, size_t len, const char *where)
{
	char *copy = strndup(name, len);

	ck_assert_ptr_nonnull(copy);
	if (names_has(s, copy)) {
		free(copy);
		return;
	}
	ck_assert_msg(s->n < NAMES_MAX, "more than %d metric names", NAMES_MAX);
	s->where[s->n] = where;
	s->v[s->n++] = copy;
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

static bool ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == ':';
}

/* Metric names in a PromQL expression: identifiers that start with aiwatch_ (label
 * names and values never do in our files). ':' is kept so a recording-rule style
 * name is reported rather than cut. Returns how many were found. */
static size_t promql_names(const char *expr, struct names *out, const char *where)
{
	size_t found = 0;

	for (const char *p = expr; (p = strstr(p, "aiwatch_")) != NULL;) {
		const char *e = p;
		if (p > expr && (ident_char(p[-1]) || p[-1] == '"' || p[-1] == '\'')) {
			p += 8;
			continue;
		}
		while (ident_char(*e))
			e++;
		if (e == p + 8) { /* the bare prefix, as in "names start with aiwatch_" */
			p = e;
			continue;
		}
		names_add(out, p, (size_t)(e - p), where);
		found++;
		p = e;
	}
	return found;
}

/* --- what the files use ---------------------------------------------------------- */

/* Dashboard: every "expr" (targets, annotations) and every templating "query" /
 * "definition" string. *nexpr counts the expressions seen. */
static void dashboard_walk(struct json_object *o, struct names *used, const char *where,
			   size_t *nexpr)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			dashboard_walk(json_object_array_get_idx(o, i), used, where, nexpr);
		return;
	}
	if (!json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, key, val)
	{
		bool query_key = strcmp(key, "expr") == 0 || strcmp(key, "query") == 0 ||
				 strcmp(key, "definition") == 0;
		if (query_key && json_object_is_type(val, json_type_string)) {
			promql_names(json_object_get_string(val), used, where);
			if (strcmp(key, "expr") == 0)
				(*nexpr)++;
		} else {
			dashboard_walk(val, used, where, nexpr);
		}
	}
}

static void rules_walk(const struct aw_node *n, struct names *used, const char *where,
		       size_t *nexpr)
{
	if (!n)
		return;
	if (n->kind == AW_NODE_SEQ) {
		for (size_t i = 0; i < n->n; i++)
			rules_walk(n->items[i], used, where, nexpr);
	} else if (n->kind == AW_NODE_MAP) {
		for (size_t i = 0; i < n->n; i++) {
			if (strcmp(n->keys[i], "expr") == 0 && n->items[i] &&
			    n->items[i]->kind == AW_NODE_SCALAR) {
				ck_assert_msg(promql_names(n->items[i]->value, used, where) > 0,
					      "%s:%u: expr uses no aiwatch metric: %s", where,
					      n->items[i]->line, n->items[i]->value);
				(*nexpr)++;
			} else {
				rules_walk(n->items[i], used, where, nexpr);
			}
		}
	}
}

static struct aw_doc **load_yaml(const char *path, size_t *ndocs)
{
	struct aw_error_list errs = {0};
	struct aw_doc **docs = NULL;

	/* The multi-document loader does not expand ${VAR}: Prometheus templates use $. */
	if (aw_doc_load_all_file(path, &docs, ndocs, &errs) != 0) {
		ck_abort_msg("%s: %s", path, errs.n ? errs.msgs[0] : "cannot parse");
	}
	aw_error_list_free(&errs);
	return docs;
}

/* --- what the daemon exports -------------------------------------------------------- */

/* Families on /metrics: "# TYPE name ..." lines and series names. */
static void names_from_exposition(const char *text, struct names *out)
{
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		const char *p = line, *e;

		if (strncmp(p, "# TYPE ", 7) == 0)
			p += 7;
		if (*p != '#') {
			for (e = p; ident_char(*e); e++)
				;
			if (e > p)
				names_add(out, p, (size_t)(e - p), "/metrics");
		}
		line = nl ? nl + 1 : NULL;
	}
}

static void runtime_names(struct names *out)
{
	char *dir = aw_test_tmpdir(), *story, *records, *yaml, *cfg, *logp, *alerts, *body = NULL;
	struct aw_test_daemon d;

	story = aw_test_srcpath("tests/data/scenarios/demo-foundation.jsonl");
	records = aw_test_read(story, NULL);
	ck_assert_msg(records != NULL, "cannot read %s", story);
	free(aw_test_write(dir, "input.jsonl", records, 0600));
	ck_assert_int_ge(asprintf(&alerts, "%s/alerts.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&logp, "%s/daemon.log", dir), 0);
	ck_assert_int_ge(asprintf(&yaml,
				  "state_directory: %s/state\n"
				  "http_listen: 127.0.0.1:0\n"
				  "shutdown_timeout: 5s\n"
				  "rules:\n  paths: [%s/conf/rules]\n"
				  "inputs:\n"
				  "  - type: file\n    name: story\n    paths: [%s/input.jsonl]\n"
				  "    follow: false\n"
				  "outputs:\n"
				  "  - type: file\n    name: alerts\n    path: %s\n",
				  dir, getenv("AW_SRCDIR") ? getenv("AW_SRCDIR") : ".", dir,
				  alerts),
			 0);
	cfg = aw_test_write(dir, "aiwatchd.yaml", yaml, 0600);
	const char *args[] = {"--config", cfg, NULL};

	aw_test_daemon_start(&d, logp, args);
	aw_test_daemon_port(&d);
	ck_assert_msg(aw_test_wait_lines(alerts, 1, 15000) >= 1,
		      "the story raised no alert, so activity-only metrics are not shown");
	ck_assert_int_eq(aw_test_http_get(d.port, "/metrics", &body), 200);
	names_from_exposition(body, out);
	ck_assert_msg(names_has(out, "aiwatch_alerts_total"), "/metrics:\n%s", body);
	free(body);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 15000), 0);
	aw_test_daemon_free(&d);
	aw_test_rmtree(dir);
	free(dir);
	free(story);
	free(records);
	free(yaml);
	free(cfg);
	free(logp);
	free(alerts);
}

static bool creates_metrics(const char *text)
{
	return strstr(text, "AW_METRIC_COUNTER") || strstr(text, "AW_METRIC_GAUGE");
}

/* Whole string literals "aiwatch_[a-z0-9_]+" of one source file. */
static void literals(const char *text, struct names *out)
{
	for (const char *p = text; (p = strstr(p, "\"aiwatch_")) != NULL;) {
		const char *s = p + 1, *e = s;
		while ((*e >= 'a' && *e <= 'z') || (*e >= '0' && *e <= '9') || *e == '_')
			e++;
		if (*e == '"')
			names_add(out, s, (size_t)(e - s), "source");
		p = e;
	}
}

static void source_dir(const char *dir, struct names *out, size_t *nfiles)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	ck_assert_msg(d != NULL, "cannot open %s", dir);
	while ((de = readdir(d)) != NULL) {
		char *path;
		struct stat st;
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		ck_assert_int_ge(asprintf(&path, "%s/%s", dir, de->d_name), 0);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			source_dir(path, out, nfiles);
		} else if (len > 2 && strcmp(de->d_name + len - 2, ".c") == 0) {
			char *text = aw_test_read(path, NULL);
			if (text && creates_metrics(text)) {
				literals(text, out);
				(*nfiles)++;
			}
			free(text);
		}
		free(path);
	}
	closedir(d);
}

static void source_names(struct names *out)
{
	size_t nfiles = 0;
	char *daemon = aw_test_srcpath("daemon"), *plugins = aw_test_srcpath("plugins");

	source_dir(daemon, out, &nfiles);
	source_dir(plugins, out, &nfiles);
	/* the metrics registry, pipeline, spool, engine, auth and every plugin at least */
	ck_assert_msg(nfiles >= 5, "only %zu source files create metrics: wrong AW_SRCDIR?",
		      nfiles);
	free(daemon);
	free(plugins);
}

/* --- the tests ------------------------------------------------------------------- */

static void used_names(struct names *used, size_t *dash_exprs, size_t *rule_exprs)
{
	static char dash_rel[] = "conf/grafana/aiwatch.json";
	static char rules_rel[] = "conf/prometheus/aiwatch.rules.yml";
	char *dash = aw_test_srcpath(dash_rel), *rules = aw_test_srcpath(rules_rel);
	struct json_object *root = json_object_from_file(dash);
	struct aw_doc **docs;
	size_t ndocs = 0;

	ck_assert_msg(root != NULL, "%s: not JSON (%s)", dash, json_util_get_last_err());
	dashboard_walk(root, used, dash_rel, dash_exprs);
	json_object_put(root);
	docs = load_yaml(rules, &ndocs);
	ck_assert_uint_eq(ndocs, 1);
	rules_walk(docs[0]->root, used, rules_rel, rule_exprs);
	aw_doc_free_all(docs, ndocs);
	/* the metrics the manual pages name, too */
	static char page8[] = "doc/aiwatchd.8", page5[] = "doc/aiwatchd.yaml.5";
	char *pages[] = {page8, page5};
	for (size_t i = 0; i < 2; i++) {
		char *path = aw_test_srcpath(pages[i]), *text = aw_test_read(path, NULL);
		ck_assert_msg(text != NULL, "cannot read %s", path);
		promql_names(text, used, pages[i]);
		free(text);
		free(path);
	}
	free(dash);
	free(rules);
}

START_TEST(dashboard_and_rules_use_only_exported_metrics)
{
	struct names used = {0}, running = {0}, source = {0};
	size_t dash_exprs = 0, rule_exprs = 0, missing = 0, only_source = 0;
	char report[8192] = "";
	size_t off = 0;

	used_names(&used, &dash_exprs, &rule_exprs);
	/* An empty walk would pass trivially: the files hold dozens of queries. */
	ck_assert_msg(dash_exprs >= 20, "only %zu exprs found in the dashboard", dash_exprs);
	ck_assert_msg(rule_exprs >= 10, "only %zu exprs found in the rules", rule_exprs);
	runtime_names(&running);
	source_names(&source);

	for (size_t i = 0; i < used.n; i++) {
		bool run = names_has(&running, used.v[i]), src = names_has(&source, used.v[i]);
		if (!run && !src) {
			missing++;
			if (off < sizeof report)
				off += (size_t)snprintf(report + off, sizeof report - off,
							"\n  %s (used in %s)", used.v[i],
							used.where[i]);
		} else if (!run) {
			only_source++;
		}
	}
	printf("metrics used: %zu (%zu dashboard queries, %zu rule expressions, the manual "
	       "pages); shown by "
	       "a running daemon: %zu of them; found only in the source: %zu\n",
	       used.n, dash_exprs, rule_exprs, used.n - missing - only_source, only_source);
	ck_assert_msg(missing == 0, "%zu metric name%s the daemon does not export:%s", missing,
		      missing == 1 ? "" : "s", report);
	names_free(&used);
	names_free(&running);
	names_free(&source);
}
END_TEST

/* The shape the two tools need, beyond the metric names: every rule has alert, expr,
 * a severity label and a summary; every dashboard panel has a unique id and every
 * graph at least one query against the templated data source. */
START_TEST(rules_and_dashboard_are_well_formed)
{
	char *rules = aw_test_srcpath("conf/prometheus/aiwatch.rules.yml");
	char *dash = aw_test_srcpath("conf/grafana/aiwatch.json");
	struct aw_doc **docs;
	size_t ndocs = 0, nrules = 0;
	const struct aw_node *groups;
	struct json_object *root, *panels;
	int ids[512];
	size_t nids = 0;

	docs = load_yaml(rules, &ndocs);
	groups = aw_node_get(docs[0]->root, "groups");
	ck_assert_msg(groups && groups->kind == AW_NODE_SEQ && groups->n > 0, "no groups");
	for (size_t g = 0; g < groups->n; g++) {
		const struct aw_node *list = aw_node_get(groups->items[g], "rules");
		ck_assert_ptr_nonnull(aw_node_get(groups->items[g], "name"));
		ck_assert_msg(list && list->kind == AW_NODE_SEQ, "group %zu has no rules", g);
		for (size_t r = 0; r < list->n; r++) {
			const struct aw_node *rule = list->items[r], *labels, *ann, *sev;
			unsigned line = rule->line;
			ck_assert_msg(aw_node_get(rule, "alert") && aw_node_get(rule, "expr"),
				      "%s:%u: a rule needs alert and expr", rules, line);
			labels = aw_node_get(rule, "labels");
			sev = labels ? aw_node_get(labels, "severity") : NULL;
			ck_assert_msg(sev && sev->kind == AW_NODE_SCALAR &&
					  (strcmp(sev->value, "critical") == 0 ||
					   strcmp(sev->value, "warning") == 0 ||
					   strcmp(sev->value, "info") == 0),
				      "%s:%u: labels.severity must be critical, warning or info",
				      rules, line);
			ann = aw_node_get(rule, "annotations");
			ck_assert_msg(ann && aw_node_get(ann, "summary"),
				      "%s:%u: annotations.summary missing", rules, line);
			nrules++;
		}
	}
	ck_assert_uint_ge(nrules, 10);
	aw_doc_free_all(docs, ndocs);

	root = json_object_from_file(dash);
	ck_assert_ptr_nonnull(root);
	ck_assert_msg(json_object_object_get_ex(root, "panels", &panels), "no panels");
	for (size_t i = 0; i < json_object_array_length(panels); i++) {
		struct json_object *p = json_object_array_get_idx(panels, i), *id, *type, *targets;
		ck_assert(json_object_object_get_ex(p, "id", &id));
		ck_assert(json_object_object_get_ex(p, "type", &type));
		for (size_t j = 0; j < nids; j++)
			ck_assert_msg(ids[j] != json_object_get_int(id), "panel id %d twice",
				      ids[j]);
		ck_assert_uint_lt(nids, sizeof ids / sizeof ids[0]);
		ids[nids++] = json_object_get_int(id);
		if (strcmp(json_object_get_string(type), "row") == 0)
			continue;
		ck_assert_msg(json_object_object_get_ex(p, "targets", &targets) &&
				  json_object_array_length(targets) > 0,
			      "panel %d has no query", json_object_get_int(id));
		for (size_t t = 0; t < json_object_array_length(targets); t++) {
			struct json_object *ds, *uid;
			struct json_object *tg = json_object_array_get_idx(targets, t);
			ck_assert_msg(json_object_object_get_ex(tg, "datasource", &ds) &&
					  json_object_object_get_ex(ds, "uid", &uid) &&
					  strcmp(json_object_get_string(uid), "${datasource}") == 0,
				      "panel %d: query %zu does not use the $datasource variable",
				      json_object_get_int(id), t);
		}
	}
	json_object_put(root);
	free(rules);
	free(dash);
}
END_TEST

/* promtool, when installed (Debian: prometheus), checks the PromQL itself. */
START_TEST(promtool_accepts_the_rules)
{
	char *rules = aw_test_srcpath("conf/prometheus/aiwatch.rules.yml"), *cmd;
	int rc;

	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		printf("promtool not installed: PromQL syntax not checked\n");
		free(rules);
		return;
	}
	ck_assert_int_ge(asprintf(&cmd, "promtool check rules '%s'", rules), 0);
	rc = system(cmd);
	ck_assert_msg(rc == 0, "%s failed", cmd);
	free(cmd);
	free(rules);
}
END_TEST

static Suite *metrics_names_suite(void)
{
	Suite *s = suite_create("metrics_names");
	TCase *tc = tcase_create("names");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, dashboard_and_rules_use_only_exported_metrics);
	tcase_add_test(tc, rules_and_dashboard_are_well_formed);
	tcase_add_test(tc, promtool_accepts_the_rules);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(metrics_names_suite)
