/* The daemon's configuration: a YAML file (libyaml) checked against option tables.
 *
 * aw_config_load() parses the file into a position-annotated node tree, expands
 * ${ENV} references, validates the core sections and every input and output against
 * their plugins' tables, resolves secrets, and either returns a complete struct
 * aw_config or reports every error it found as "file:line:column: key: reason".
 * Nothing is applied while loading: reload validates a whole new config first and
 * swaps only when it is valid. The caller owns the result (aw_config_free). */
#ifndef AW_CONFIG_H
#define AW_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "azure.h"
#include "error.h"
#include "options.h"

struct aw_plugin_desc;

/* --- YAML node tree ------------------------------------------------------------ */

enum aw_node_kind { AW_NODE_SCALAR, AW_NODE_MAP, AW_NODE_SEQ };

struct aw_node {
	enum aw_node_kind kind;
	unsigned line, col;      /* 1-based position of the node in its file */
	const char *file;        /* the owning document's path (not owned by the node) */
	char *value;             /* SCALAR: text after ${ENV} expansion */
	bool quoted;             /* SCALAR: written in quotes (so "null" stays a string) */
	bool from_env;           /* SCALAR: the whole value came from one ${VAR} */
	size_t n;                /* MAP: pairs; SEQ: items */
	char **keys;             /* MAP: keys */
	struct aw_node **keynodes; /* MAP: the key scalars, for their positions */
	struct aw_node **items;  /* MAP: values; SEQ: items */
};

struct aw_doc {
	char *path;
	struct aw_node *root;    /* NULL for an empty document */
};

/* Parse one YAML document from a file or a buffer (`name` is used in messages).
 * Syntax errors and ${VAR} expansion failures are added to errs. 0 or -1. */
int aw_doc_load_file(const char *path, struct aw_doc **out, struct aw_error_list *errs);
int aw_doc_load_buffer(const char *name, const char *buf, size_t len, struct aw_doc **out,
		       struct aw_error_list *errs);
void aw_doc_free(struct aw_doc *doc);

/* Parse every document of a Sigma rule file (documents separated by `---`, up to 1000,
 * at most 16 MiB). Unlike the loaders above, nothing is ${ENV}-expanded: `$` is common
 * in detection values. Each document is its own aw_doc (root NULL for an empty one,
 * which callers skip); node positions count lines from the start of the file. All or
 * nothing: on any error (reported as "file:line:col: reason") nothing is returned and
 * -1 is; a syntax error also ends parsing, because libyaml cannot reliably find the
 * next document after one. On success the caller owns *docs (NULL when the file holds
 * no document, *ndocs == 0) and frees it with aw_doc_free_all(). */
int aw_doc_load_all_file(const char *path, struct aw_doc ***docs, size_t *ndocs,
			 struct aw_error_list *errs);
int aw_doc_load_all_buffer(const char *name, const char *buf, size_t len, struct aw_doc ***docs,
			   size_t *ndocs, struct aw_error_list *errs);
void aw_doc_free_all(struct aw_doc **docs, size_t n);

/* MAP lookup by key (exact); NULL when absent. */
const struct aw_node *aw_node_get(const struct aw_node *map, const char *key);

/* Validate `map` against `tbl` into `conf` (defaults first, then values). Unknown keys,
 * wrong types, bad durations/sizes, out-of-range values, missing required keys and
 * inline secrets in a file readable by group or others are each added to errs with
 * file:line:column and the dotted key (`where` is the prefix, e.g. "outputs[1]").
 * `file_mode` is the config file's st_mode, for the inline-secret check.
 * Returns 0 when no error was added. */
int aw_options_apply(const struct aw_option *tbl, const struct aw_node *map, void *conf,
		     const char *where, unsigned file_mode, struct aw_error_list *errs);

/* --- The whole configuration ---------------------------------------------------- */

struct aw_log_conf {
	int level;               /* enum aw_log_level index in choices: debug..error */
	int format;              /* 0 logfmt, 1 json */
};

struct aw_pipeline_conf {
	uint64_t max_queue_bytes;   /* per output: memory cache of its spool's head */
	uint64_t retry_initial_ms;  /* first backoff ceiling */
	uint64_t retry_max_ms;      /* backoff ceiling cap */
	uint64_t retry_max_age_ms;  /* a batch older than this goes to dead-letter */
	bool forward_events;        /* no rule engine yet: forward each event as a record */
	/* The durable spool (spool.h). A struct built by hand with these left 0 gets
	 * spool_max_bytes = max_queue_bytes, 8 MiB segments and no age bound. */
	uint64_t spool_max_bytes;     /* per output: unacknowledged bytes on disk */
	uint64_t spool_max_age_ms;    /* per output: age of the oldest unacknowledged record */
	uint64_t spool_segment_bytes; /* segment files roll at this size */
	int spool_full;               /* index: 0 backpressure, 1 drop_oldest */
	int spool_fsync;              /* index: 0 batch, 1 never */
};

struct aw_rules_conf {
	struct aw_strlist paths;        /* Sigma rule files or directories */
	uint64_t allowed_lateness_ms;   /* correlation windows accept records this late */
	long long max_groups_per_rule;  /* correlation groups kept per rule */
	long long max_groups_total;     /* ... and across all correlations */
	uint64_t save_interval_ms;      /* how often correlation state is saved */
	struct aw_strlist field_mappings; /* "RuleField=Column" */
	struct aw_strlist placeholders;   /* "name=v1,v2" for `expand` */
};

struct aw_core_conf {
	struct aw_log_conf log;
	char *state_directory;
	char *http_listen;          /* "127.0.0.1:9464"; "" or "off" disables */
	uint64_t shutdown_timeout_ms;
	struct aw_pipeline_conf pipeline;
	struct aw_rules_conf rules;
	struct aw_azure_conf azure;
};

/* One configured plugin instance (an item of `inputs:` or `outputs:`). */
struct aw_instance_conf {
	const struct aw_plugin_desc *desc;
	char *name;              /* `name:` or "<type>" / "<type>-<n>" when absent; unique */
	void *conf;              /* desc->conf_size bytes filled from desc->options */
	unsigned line, col;      /* where the item starts, for messages */
};

struct aw_config {
	char *path;
	struct aw_core_conf core;
	struct aw_instance_conf *inputs;
	size_t ninputs;
	struct aw_instance_conf *outputs;
	size_t noutputs;
};

extern const struct aw_option aw_core_options[];

/* Load and validate everything. On success *out is set and 0 returned; otherwise every
 * error is in errs and -1 returned. Plugins are looked up with aw_plugin_find(). */
int aw_config_load(const char *path, struct aw_config **out, struct aw_error_list *errs);
void aw_config_free(struct aw_config *cfg);

/* Fetch every Key Vault reference among cfg's secrets (core and plugins) with the
 * identity in cfg's `azure:` section and put the values in place. Called after a
 * load by start, reload and `check` (not by aw_config_load itself: parsing never
 * touches the network). Every failure is added to errs naming the setting. */
int aw_config_resolve_secrets(struct aw_config *cfg, struct aw_error_list *errs);

/* Same type, same options (compared through the plugin's table). */
bool aw_instance_conf_equal(const struct aw_instance_conf *a, const struct aw_instance_conf *b);

#endif
