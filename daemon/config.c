/* The whole configuration: core sections from aw_core_options[], then every item of
 * `inputs:` and `outputs:` checked against its plugin's own table.
 *
 * Loading never stops at the first problem: each item is checked even when an
 * earlier one was wrong, so a user fixes a file in one pass. Nothing outside the
 * returned struct is touched, which is what lets a reload validate before it swaps. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "registry.h"

#define AW_NAME_MAX 64

/* log.level is stored as the index of the choice: 0 debug, 1 info, 2 notice,
 * 3 warning, 4 error. enum aw_log_level uses syslog priorities (debug 7 .. err 3),
 * so the level for aw_log_configure() is AW_LOG_DEBUG - index. */
static const char *const log_levels[] = {"debug", "info", "notice", "warning", "error", NULL};
static const char *const log_formats[] = {"logfmt", "json", NULL};

static const struct aw_option log_options[] = {
    AW_OPT_CHOICE("level", struct aw_log_conf, level, "info", log_levels,
		  "least severe level written to the log"),
    AW_OPT_CHOICE("format", struct aw_log_conf, format, "logfmt", log_formats,
		  "line format on stderr: logfmt (key=value) or json (one object per line)"),
    AW_OPT_END,
};

static const char *const spool_full_choices[] = {"backpressure", "drop_oldest", NULL};
static const char *const spool_fsync_choices[] = {"batch", "never", NULL};

static const struct aw_option pipeline_options[] = {
    AW_OPT_BYTES("max_queue_bytes", struct aw_pipeline_conf, max_queue_bytes, "64MiB", 64 << 10,
		 16ll << 30,
		 "per output, the undelivered records kept in memory; the rest are read back "
		 "from the spool"),
    /* retries: 0 would spin; more than a day between tries is an outage, not a retry */
    AW_OPT_DUR("retry_initial", struct aw_pipeline_conf, retry_initial_ms, "1s", 10, 3600000,
	       "first retry delay ceiling (full-jitter exponential backoff)"),
    AW_OPT_DUR("retry_max", struct aw_pipeline_conf, retry_max_ms, "5m", 1000, 86400000,
	       "largest retry delay ceiling"),
    AW_OPT_DUR("retry_max_age", struct aw_pipeline_conf, retry_max_age_ms, "24h", 60000,
	       30ll * 86400000,
	       "a batch still failing after this long goes to the dead-letter folder"),
    AW_OPT_BOOLEAN("forward_events", struct aw_pipeline_conf, forward_events, "false",
		   "forward every input event to the outputs as a record"),
    /* The durable spool: order matches enum aw_spool_full / aw_spool_fsync. */
    AW_OPT_BYTES("spool_max_bytes", struct aw_pipeline_conf, spool_max_bytes, "1GiB", 1 << 20,
		 1ll << 40,
		 "per output, undelivered records kept on disk (state_directory/outputs/<name>/"
		 "spool); pipeline.spool_full says what happens above it"),
    AW_OPT_DUR("spool_max_age", struct aw_pipeline_conf, spool_max_age_ms, "7d", 60000,
	       365ll * 86400000,
	       "per output, age of the oldest undelivered record; above it as above spool_max_bytes"),
    AW_OPT_BYTES("spool_segment_bytes", struct aw_pipeline_conf, spool_segment_bytes, "8MiB",
		 64 << 10, 1ll << 30, "spool files roll at this size; acknowledged files are deleted"),
    AW_OPT_CHOICE("spool_full", struct aw_pipeline_conf, spool_full, "backpressure",
		  spool_full_choices,
		  "backpressure: pause the inputs until the output catches up (nothing is "
		  "dropped); drop_oldest: drop the oldest records, counted in "
		  "aiwatch_spool_dropped_total"),
    AW_OPT_CHOICE("spool_fsync", struct aw_pipeline_conf, spool_fsync, "batch",
		  spool_fsync_choices,
		  "batch: fdatasync the spool once per loop pass before inputs checkpoint "
		  "(survives power loss); never: the write alone (survives kill -9 and crashes, "
		  "not power loss)"),
    AW_OPT_END,
};

static const struct aw_option rules_options[] = {
    {.key = "paths", .type = AW_OPT_STRLIST, .offset = offsetof(struct aw_rules_conf, paths),
     .defval = AW_RULESDIR,
     .help = "Sigma rule files or directories (*.yml, *.yaml, searched recursively)"},
    AW_OPT_DUR("allowed_lateness", struct aw_rules_conf, allowed_lateness_ms, "10m", 0,
	       86400000,
	       "correlation windows still count a record this much older than the newest "
	       "seen; older ones are dropped and counted"),
    AW_OPT_INTEGER("max_groups_per_rule", struct aw_rules_conf, max_groups_per_rule, "100000",
		   1, 100000000,
		   "correlation groups kept per rule; the least recently used is evicted beyond"),
    AW_OPT_INTEGER("max_groups_total", struct aw_rules_conf, max_groups_total, "1000000", 1,
		   1000000000, "correlation groups kept across all rules"),
    AW_OPT_DUR("save_interval", struct aw_rules_conf, save_interval_ms, "60s", 1000, 86400000,
	       "how often open correlation windows are saved to the state directory (also "
	       "at shutdown)"),
    AW_OPT_LIST("field_mappings", struct aw_rules_conf, field_mappings, 0,
		"RuleField=Column pairs that map the field names of rules written for "
		"another schema (e.g. SigmaHQ's operationName=OperationNameValue)"),
    AW_OPT_LIST("placeholders", struct aw_rules_conf, placeholders, 0,
		"name=value1,value2 entries for the Sigma `expand` modifier (%name%)"),
    AW_OPT_END,
};

const struct aw_option aw_core_options[] = {
    AW_OPT_SUB("log", struct aw_core_conf, log, log_options, "logging"),
    AW_OPT_STR("state_directory", struct aw_core_conf, state_directory, AW_DEFAULT_STATEDIR, 0,
	       "checkpoints and spools (systemd: StateDirectory=aiwatch)"),
    AW_OPT_STR("http_listen", struct aw_core_conf, http_listen, "127.0.0.1:9464", 0,
	       "address:port for /metrics, /healthz and /readyz; \"off\" or \"\" disables"),
    AW_OPT_DUR("shutdown_timeout", struct aw_core_conf, shutdown_timeout_ms, "30s", 1000, 3600000,
	       "how long outputs may drain in-flight batches on stop"),
    AW_OPT_SUB("pipeline", struct aw_core_conf, pipeline, pipeline_options,
	       "queues and retries between the engine and the outputs"),
    AW_OPT_SUB("rules", struct aw_core_conf, rules, rules_options, "the detection rules"),
    AW_OPT_SUB("azure", struct aw_core_conf, azure, aw_azure_options,
	       "Azure access: the daemon's identity, Key Vault references, test switches"),
    AW_OPT_END,
};

/* A shallow view of `map` without the keys in `skip`: the arrays are new, the
 * nodes are the document's. Free with free_view(). */
static int view_without(const struct aw_node *map, const char *const *skip, struct aw_node *view)
{
	*view = *map;
	view->n = 0;
	view->keys = calloc(map->n ? map->n : 1, sizeof *view->keys);
	view->keynodes = calloc(map->n ? map->n : 1, sizeof *view->keynodes);
	view->items = calloc(map->n ? map->n : 1, sizeof *view->items);
	if (!view->keys || !view->keynodes || !view->items)
		return -1;
	for (size_t i = 0; i < map->n; i++) {
		bool skipped = false;
		for (size_t s = 0; skip[s]; s++)
			if (strcmp(map->keys[i], skip[s]) == 0)
				skipped = true;
		if (skipped)
			continue;
		view->keys[view->n] = map->keys[i];
		view->keynodes[view->n] = map->keynodes[i];
		view->items[view->n++] = map->items[i];
	}
	return 0;
}

static void free_view(struct aw_node *view)
{
	free(view->keys);
	free(view->keynodes);
	free(view->items);
}

static bool plain_null(const struct aw_node *n)
{
	return n->kind == AW_NODE_SCALAR && !n->quoted &&
	       (!*n->value || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
		strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0);
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > AW_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	/* the name becomes a directory under the state directory */
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static void known_types(enum aw_plugin_kind kind, char *buf, size_t sz)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; aw_builtin_plugins[i] && len < sz; i++) {
		if (aw_builtin_plugins[i]->kind != kind)
			continue;
		int w = snprintf(buf + len, sz - len, "%s%s", len ? ", " : "",
				 aw_builtin_plugins[i]->name);
		if (w < 0)
			break;
		len += (size_t)w;
	}
}

/* Cross-field checks on the core sections, once each key is valid on its own. */
static void check_core(const struct aw_node *root, const struct aw_core_conf *core,
		       struct aw_error_list *errs)
{
	const struct aw_pipeline_conf *pc = &core->pipeline;
	const struct aw_node *n = aw_node_get(aw_node_get(root, "pipeline"), "retry_initial");

	if (pc->retry_initial_ms > pc->retry_max_ms) {
		if (!n)
			n = aw_node_get(aw_node_get(root, "pipeline"), "retry_max");
		if (!n)
			n = root;
		aw_error_list_add(errs,
				  "%s:%u:%u: pipeline.retry_initial (%llums) is larger than "
				  "pipeline.retry_max (%llums)",
				  n->file, n->line, n->col,
				  (unsigned long long)pc->retry_initial_ms,
				  (unsigned long long)pc->retry_max_ms);
	}
}

/* One item of inputs/outputs while loading: where it is and what it says. */
struct item {
	enum aw_plugin_kind kind;
	size_t index;
	const struct aw_node *node;	 /* the item's map (NULL when not a map) */
	const struct aw_node *name_node; /* `name:` when given */
	const char *type;		 /* `type:` text, NULL when missing or bad */
	struct aw_instance_conf *inst;
	char where[32]; /* "inputs[0]" */
};

static const char *list_key(enum aw_plugin_kind kind)
{
	return kind == AW_PLUGIN_INPUT ? "inputs" : "outputs";
}

/* Pass 1 over one list: shape, `type:` and `name:`. */
static int collect(const struct aw_node *root, enum aw_plugin_kind kind, struct item **items,
		   size_t *nitems, struct aw_error_list *errs)
{
	const char *key = list_key(kind);
	const struct aw_node *seq = aw_node_get(root, key);
	struct item *grown;
	char known[256];

	if (!seq || plain_null(seq) || (seq->kind == AW_NODE_SEQ && seq->n == 0)) {
		known_types(kind, known, sizeof known);
		aw_error_list_add(errs, "%s: at least one %s is required under '%s:' (types: %s)",
				  root->file, kind == AW_PLUGIN_INPUT ? "input" : "output", key,
				  known);
		return 0;
	}
	if (seq->kind != AW_NODE_SEQ) {
		aw_error_list_add(errs, "%s:%u:%u: %s: expected a list of maps (each with 'type:')",
				  seq->file, seq->line, seq->col, key);
		return 0;
	}
	grown = realloc(*items, (*nitems + seq->n) * sizeof *grown);
	if (!grown)
		return aw_error_list_add(errs, "%s: out of memory", root->file);
	*items = grown;
	for (size_t i = 0; i < seq->n; i++) {
		const struct aw_node *n = seq->items[i], *t;
		struct item *it = &(*items)[(*nitems)++];
		memset(it, 0, sizeof *it);
		it->kind = kind;
		it->index = i;
		snprintf(it->where, sizeof it->where, "%s[%zu]", key, i);
		if (n->kind != AW_NODE_MAP) {
			aw_error_list_add(errs, "%s:%u:%u: %s: expected a map with 'type:'",
					  n->file, n->line, n->col, it->where);
			continue;
		}
		it->node = n;
		t = aw_node_get(n, "type");
		if (!t) {
			aw_error_list_add(errs, "%s:%u:%u: %s: missing required key 'type'",
					  n->file, n->line, n->col, it->where);
		} else if (t->kind != AW_NODE_SCALAR || plain_null(t)) {
			aw_error_list_add(errs, "%s:%u:%u: %s.type: expected a plugin type name",
					  t->file, t->line, t->col, it->where);
		} else {
			it->type = t->value;
		}
		t = aw_node_get(n, "name");
		if (t && (t->kind != AW_NODE_SCALAR || !name_ok(t->value))) {
			aw_error_list_add(errs,
					  "%s:%u:%u: %s.name: must be 1 to %d characters of "
					  "A-Z a-z 0-9 _ . -",
					  t->file, t->line, t->col, it->where, AW_NAME_MAX);
		} else if (t) {
			it->name_node = t;
		}
	}
	return 0;
}

static size_t count_type(const struct item *items, size_t n, const char *type, int kind)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (items[i].type && strcmp(items[i].type, type) == 0 &&
		    (kind < 0 || (int)items[i].kind == kind))
			c++;
	return c;
}

/* The default name: the type when it is the only instance of that type anywhere;
 * "type-N" (N the 1-based position in its list) when the type repeats in one list;
 * "in_type"/"out_type" (plus "-N") when an input and an output share the type, as
 * the file input and the file output do. */
static int default_name(const struct item *items, size_t n, const struct item *it, char *buf,
			size_t sz)
{
	size_t same = count_type(items, n, it->type, (int)it->kind);
	size_t all = count_type(items, n, it->type, -1);
	const char *pfx = all > same ? (it->kind == AW_PLUGIN_INPUT ? "in_" : "out_") : "";

	if (same == 1)
		return snprintf(buf, sz, "%s%s", pfx, it->type);
	return snprintf(buf, sz, "%s%s-%zu", pfx, it->type, it->index + 1);
}

static void check_names(const struct item *items, size_t n, struct aw_error_list *errs)
{
	for (size_t i = 0; i < n; i++) {
		const struct item *a = &items[i];
		if (!a->inst || !a->inst->name)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct item *b = &items[j];
			if (!b->inst || !b->inst->name || strcmp(a->inst->name, b->inst->name))
				continue;
			const struct aw_node *pos = a->name_node ? a->name_node : a->node;
			aw_error_list_add(errs,
					  "%s:%u:%u: %s%s: duplicate instance name '%s' (also used "
					  "by %s at line %u)%s",
					  pos->file, pos->line, pos->col, a->where,
					  a->name_node ? ".name" : "", a->inst->name, b->where,
					  (b->name_node ? b->name_node : b->node)->line,
					  a->name_node ? "" : "; give it a 'name:'");
			break;
		}
	}
}

/* A plugin's validate() says "inputs[0].key: reason"; give each such message the
 * position of that key's value (or of the item) so it reads like every other error. */
static void locate(struct aw_error_list *errs, size_t first, const struct item *it)
{
	size_t wl = strlen(it->where);

	for (size_t i = first; i < errs->n; i++) {
		const char *m = errs->msgs[i];
		const struct aw_node *pos = it->node;
		char key[64], *nm;
		if (strncmp(m, it->where, wl) == 0 && m[wl] == '.') {
			size_t kl = strcspn(m + wl + 1, ".:[ ");
			if (kl < sizeof key) {
				memcpy(key, m + wl + 1, kl);
				key[kl] = '\0';
				if (aw_node_get(it->node, key))
					pos = aw_node_get(it->node, key);
			}
		}
		if (asprintf(&nm, "%s:%u:%u: %s", pos->file, pos->line, pos->col, m) < 0)
			continue;
		free(errs->msgs[i]);
		errs->msgs[i] = nm;
	}
}

/* Pass 2 for one item: plugin, name, options, cross-field checks. */
static void load_item(struct item *items, size_t nitems, struct item *it, unsigned mode,
		      struct aw_error_list *errs)
{
	static const char *const skip[] = {"type", "name", NULL};
	const struct aw_plugin_desc *desc;
	struct aw_instance_conf *inst = it->inst;
	struct aw_node view;
	char buf[256];
	size_t before = aw_error_list_count(errs);

	inst->line = it->node->line;
	inst->col = it->node->col;
	desc = aw_plugin_find(it->kind, it->type);
	if (!desc) {
		const struct aw_node *t = aw_node_get(it->node, "type");
		known_types(it->kind, buf, sizeof buf);
		aw_error_list_add(errs, "%s:%u:%u: %s.type: unknown %s type '%.64s' (known: %s)",
				  t->file, t->line, t->col, it->where,
				  it->kind == AW_PLUGIN_INPUT ? "input" : "output", it->type,
				  *buf ? buf : "none");
		return;
	}
	if (desc->abi != AW_PLUGIN_ABI) {
		aw_error_list_add(errs, "%s: plugin '%s' was built for ABI %u, not %u", it->where,
				  desc->name, desc->abi, AW_PLUGIN_ABI);
		return;
	}
	inst->desc = desc;
	if (it->name_node)
		inst->name = strdup(it->name_node->value);
	else if (default_name(items, nitems, it, buf, sizeof buf) > 0)
		inst->name = strdup(buf);
	inst->conf = calloc(1, desc->conf_size ? desc->conf_size : 1);
	if (!inst->name || !inst->conf) {
		aw_error_list_add(errs, "%s: out of memory", it->where);
		return;
	}
	if (view_without(it->node, skip, &view) < 0) {
		free_view(&view);
		aw_error_list_add(errs, "%s: out of memory", it->where);
		return;
	}
	aw_options_apply(desc->options, &view, inst->conf, it->where, mode, errs);
	free_view(&view);
	/* cross-field checks only make sense once every key parsed */
	if (desc->validate && aw_error_list_count(errs) == before) {
		size_t first = errs->n;
		desc->validate(inst->conf, it->where, errs);
		locate(errs, first, it);
	}
}

static void free_instances(struct aw_instance_conf *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		if (v[i].desc && v[i].conf)
			aw_options_free(v[i].desc->options, v[i].conf);
		free(v[i].conf);
		free(v[i].name);
	}
	free(v);
}

int aw_config_load(const char *path, struct aw_config **out, struct aw_error_list *errs)
{
	static const char *const skip[] = {"inputs", "outputs", NULL};
	size_t before = aw_error_list_count(errs);
	struct aw_config *cfg = NULL;
	struct aw_doc *doc = NULL;
	struct item *items = NULL;
	size_t nitems = 0;
	struct aw_node view;
	struct stat st;

	*out = NULL;
	if (stat(path, &st) != 0)
		return aw_error_list_add(errs, "%s: cannot read: %s", path, strerror(errno));
	if (aw_doc_load_file(path, &doc, errs) < 0)
		goto out;
	cfg = calloc(1, sizeof *cfg);
	if (!cfg || !(cfg->path = strdup(path))) {
		aw_error_list_add(errs, "%s: out of memory", path);
		goto out;
	}
	if (!doc->root) {
		aw_error_list_add(errs,
				  "%s: the configuration is empty; it needs at least one "
				  "input and one output",
				  path);
		goto out;
	}
	if (doc->root->kind != AW_NODE_MAP) {
		aw_error_list_add(errs, "%s:%u:%u: the top level must be a map of keys", path,
				  doc->root->line, doc->root->col);
		goto out;
	}
	if (view_without(doc->root, skip, &view) < 0) {
		free_view(&view);
		aw_error_list_add(errs, "%s: out of memory", path);
		goto out;
	}
	if (aw_options_apply(aw_core_options, &view, &cfg->core, "", (unsigned)st.st_mode, errs) ==
	    0) {
		check_core(doc->root, &cfg->core, errs);
		aw_azure_conf_check(&cfg->core.azure, errs);
	}
	free_view(&view);

	collect(doc->root, AW_PLUGIN_INPUT, &items, &nitems, errs);
	collect(doc->root, AW_PLUGIN_OUTPUT, &items, &nitems, errs);
	cfg->inputs = calloc(nitems + 1, sizeof *cfg->inputs);
	cfg->outputs = calloc(nitems + 1, sizeof *cfg->outputs);
	if (!cfg->inputs || !cfg->outputs) {
		aw_error_list_add(errs, "%s: out of memory", path);
		goto out;
	}
	for (size_t i = 0; i < nitems; i++) {
		struct item *it = &items[i];
		if (!it->node || !it->type)
			continue;
		if (it->kind == AW_PLUGIN_INPUT)
			it->inst = &cfg->inputs[cfg->ninputs++];
		else
			it->inst = &cfg->outputs[cfg->noutputs++];
		load_item(items, nitems, it, (unsigned)st.st_mode, errs);
	}
	check_names(items, nitems, errs);
out:
	free(items);
	aw_doc_free(doc);
	if (aw_error_list_count(errs) != before) {
		aw_config_free(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}

void aw_config_free(struct aw_config *cfg)
{
	if (!cfg)
		return;
	aw_options_free(aw_core_options, &cfg->core);
	free_instances(cfg->inputs, cfg->ninputs);
	free_instances(cfg->outputs, cfg->noutputs);
	free(cfg->path);
	free(cfg);
}

bool aw_instance_conf_equal(const struct aw_instance_conf *a, const struct aw_instance_conf *b)
{
	if (a->desc != b->desc || !a->name || !b->name || strcmp(a->name, b->name) != 0)
		return false;
	if (!a->desc)
		return true;
	return aw_options_equal(a->desc->options, a->conf, b->conf);
}
