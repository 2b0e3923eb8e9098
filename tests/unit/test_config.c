/* The YAML document layer and whole-configuration loads: what a user sees for a good
 * file and for each kind of mistake (always file:line:col and the key). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "registry.h"
#include "testutil.h"

static struct aw_error_list errs;
static struct aw_doc *doc;
static struct aw_config *cfg;
static char *tmp;
static char *path;

static void setup(void)
{
	tmp = aw_test_tmpdir();
}

static void teardown(void)
{
	aw_config_free(cfg);
	cfg = NULL;
	aw_doc_free(doc);
	doc = NULL;
	aw_error_list_free(&errs);
	free(path);
	path = NULL;
	aw_test_rmtree(tmp);
	free(tmp);
	tmp = NULL;
}

static void dump(void)
{
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "  err[%zu] %s\n", i, errs.msgs[i]);
}

/* Is there an error equal to "<path><suffix>" (or containing it, when partial)? */
static bool has_at(const char *suffix, bool partial)
{
	char want[2048];

	snprintf(want, sizeof want, "%s%s", path ? path : "t.yaml", suffix);
	for (size_t i = 0; i < errs.n; i++)
		if (partial ? strstr(errs.msgs[i], want) != NULL : strcmp(errs.msgs[i], want) == 0)
			return true;
	return false;
}

#define ck_err(suffix)                                                                             \
	do {                                                                                       \
		if (!has_at(suffix, false))                                                        \
			dump();                                                                    \
		ck_assert_msg(has_at(suffix, false), "missing error: <path>%s", suffix);           \
	} while (0)
#define ck_err_part(suffix)                                                                        \
	do {                                                                                       \
		if (!has_at(suffix, true))                                                         \
			dump();                                                                    \
		ck_assert_msg(has_at(suffix, true), "missing error: <path>%s...", suffix);         \
	} while (0)

static int parse(const char *yaml)
{
	return aw_doc_load_buffer("t.yaml", yaml, strlen(yaml), &doc, &errs);
}

static int load_mode(const char *yaml, mode_t mode)
{
	free(path);
	path = aw_test_write(tmp, "aiwatchd.yaml", yaml, mode);
	return aw_config_load(path, &cfg, &errs);
}

static int load(const char *yaml)
{
	return load_mode(yaml, 0640);
}

/* --- documents ----------------------------------------------------------------- */

START_TEST(doc_positions_and_quoting)
{
	const struct aw_node *a, *b, *s;

	ck_assert_int_eq(parse("# comment\n"
			       "a: 1\n"
			       "b:\n"
			       "  c: \"null\"\n"
			       "  d: null\n"
			       "  e: 'x'\n"
			       "  f: |\n"
			       "    text\n"
			       "s:\n"
			       "  - one\n"
			       "  -   two\n"),
			 0);
	ck_assert_int_eq(doc->root->kind, AW_NODE_MAP);
	ck_assert_uint_eq(doc->root->n, 3);
	a = aw_node_get(doc->root, "a");
	ck_assert_uint_eq(a->line, 2);
	ck_assert_uint_eq(a->col, 4);
	ck_assert_str_eq(a->file, "t.yaml");
	ck_assert_uint_eq(doc->root->keynodes[0]->line, 2);
	ck_assert_uint_eq(doc->root->keynodes[0]->col, 1);
	b = aw_node_get(doc->root, "b");
	ck_assert_int_eq(b->kind, AW_NODE_MAP);
	ck_assert_uint_eq(b->line, 4);
	ck_assert_uint_eq(b->col, 3);
	ck_assert(aw_node_get(b, "c")->quoted);
	ck_assert_str_eq(aw_node_get(b, "c")->value, "null");
	ck_assert(!aw_node_get(b, "d")->quoted);
	ck_assert(aw_node_get(b, "e")->quoted);
	ck_assert_str_eq(aw_node_get(b, "f")->value, "text\n");
	s = aw_node_get(doc->root, "s");
	ck_assert_int_eq(s->kind, AW_NODE_SEQ);
	ck_assert_uint_eq(s->n, 2);
	ck_assert_uint_eq(s->items[1]->line, 11);
	ck_assert_uint_eq(s->items[1]->col, 7);
	ck_assert_ptr_null(aw_node_get(doc->root, "zz"));
	ck_assert_ptr_null(aw_node_get(s, "a"));
}
END_TEST

START_TEST(doc_empty)
{
	ck_assert_int_eq(parse(""), 0);
	ck_assert_ptr_null(doc->root);
	aw_doc_free(doc);
	ck_assert_int_eq(parse("# only a comment\n---\n"), 0);
	ck_assert_ptr_null(doc->root);
}
END_TEST

START_TEST(doc_syntax_error)
{
	ck_assert_int_eq(parse("a: 1\nb: [1, 2\nc: 3\n"), -1);
	ck_assert_ptr_null(doc);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_msg(strncmp(errs.msgs[0], "t.yaml:3:2: YAML syntax error: ", 31) == 0, "%s",
		      errs.msgs[0]);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "(while parsing a flow sequence at line 2)"));
	aw_error_list_free(&errs);

	ck_assert_int_eq(parse("a: 1\n  b: 2\n"), -1);
	ck_err_part(":2:4: YAML syntax error: mapping values are not allowed in this context");
	aw_error_list_free(&errs);

	ck_assert_int_eq(parse("a: \"\xff\"\n"), -1);
	ck_err_part(":1:5: YAML syntax error: invalid");
}
END_TEST

START_TEST(doc_duplicate_key)
{
	ck_assert_int_eq(parse("log:\n  level: info\n  format: json\n  level: debug\n"), -1);
	ck_err(":4:3: duplicate key 'level': first defined at line 2, again at line 4");
	ck_assert_uint_eq(errs.n, 1);
}
END_TEST

START_TEST(doc_one_document_only)
{
	ck_assert_int_eq(parse("a: 1\n---\nb: 2\n"), -1);
	ck_err(":2:1: a second YAML document; this file must hold exactly one");
}
END_TEST

START_TEST(doc_anchors_and_aliases_refused)
{
	ck_assert_int_eq(parse("a: &x 1\nb: *x\n"), -1);
	ck_err(":1:4: YAML anchors (&x) and aliases are not supported; repeat the value");
	ck_err(":2:4: YAML aliases (*x) are not supported; repeat the value");
}
END_TEST

START_TEST(doc_limits)
{
	char deep[400];
	size_t i;

	for (i = 0; i < 70; i++)
		deep[i] = '[';
	deep[i] = '\0';
	ck_assert_int_eq(parse(deep), -1);
	ck_err(":1:65: nesting deeper than 64 levels");
	aw_error_list_free(&errs);

	/* 64 levels are fine */
	for (i = 0; i < 64; i++)
		deep[i] = '[';
	for (; i < 128; i++)
		deep[i] = ']';
	deep[i] = '\0';
	ck_assert_int_eq(parse(deep), 0);
	aw_doc_free(doc);
	doc = NULL;

	ck_assert_int_eq(parse("{[a]: 1}\n"), -1);
	ck_err(":1:2: a map key must be a scalar");
	aw_error_list_free(&errs);

	ck_assert_int_eq(parse("a: \"x\\0y\"\n"), -1);
	ck_err(":1:4: NUL character in a value is not allowed");
}
END_TEST

START_TEST(doc_file_too_large)
{
	size_t n = (4u << 20) + 10;
	char *big = malloc(n + 1);

	memset(big, '#', n);
	big[n] = '\0';
	free(path);
	path = aw_test_write(tmp, "big.yaml", big, 0600);
	free(big);
	ck_assert_int_eq(aw_doc_load_file(path, &doc, &errs), -1);
	ck_err_part(": larger than 4 MiB");
	aw_error_list_free(&errs);

	ck_assert_int_eq(aw_doc_load_file(tmp, &doc, &errs), -1);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "not a regular file"));
}
END_TEST

/* --- whole configurations ------------------------------------------------------ */

#define GOOD_IO                                                                                    \
	"inputs:\n"                                                                                \
	"  - type: file\n"                                                                         \
	"    paths: [/var/log/in.jsonl]\n"                                                         \
	"outputs:\n"                                                                               \
	"  - type: file\n"                                                                         \
	"    path: /var/log/out.jsonl\n"

START_TEST(good_config_loads)
{
	int rc = load("log:\n"
		      "  level: debug\n"
		      "  format: json\n"
		      "state_directory: /tmp/aw-state\n"
		      "http_listen: \"off\"\n"
		      "shutdown_timeout: 10s\n"
		      "pipeline:\n"
		      "  max_queue_bytes: 1MiB\n"
		      "  retry_initial: 500ms\n"
		      "  forward_events: true\n" GOOD_IO);
	if (rc)
		dump();
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(cfg->path, path);
	ck_assert_int_eq(cfg->core.log.level, 0);
	ck_assert_int_eq(cfg->core.log.format, 1);
	ck_assert_str_eq(cfg->core.state_directory, "/tmp/aw-state");
	ck_assert_str_eq(cfg->core.http_listen, "off");
	ck_assert_uint_eq(cfg->core.shutdown_timeout_ms, 10000);
	ck_assert_uint_eq(cfg->core.pipeline.max_queue_bytes, 1 << 20);
	ck_assert_uint_eq(cfg->core.pipeline.retry_initial_ms, 500);
	ck_assert_uint_eq(cfg->core.pipeline.retry_max_ms, 300000);
	ck_assert_uint_eq(cfg->core.pipeline.retry_max_age_ms, 86400000);
	ck_assert(cfg->core.pipeline.forward_events);
	ck_assert_uint_eq(cfg->ninputs, 1);
	ck_assert_uint_eq(cfg->noutputs, 1);
	ck_assert_ptr_eq(cfg->inputs[0].desc, aw_plugin_find(AW_PLUGIN_INPUT, "file"));
	ck_assert_ptr_eq(cfg->outputs[0].desc, aw_plugin_find(AW_PLUGIN_OUTPUT, "file"));
	/* the file input and the file output share a type: kind-qualified names */
	ck_assert_str_eq(cfg->inputs[0].name, "in_file");
	ck_assert_str_eq(cfg->outputs[0].name, "out_file");
	ck_assert_uint_eq(cfg->inputs[0].line, 12);
	ck_assert_uint_eq(cfg->inputs[0].col, 5);
	ck_assert_ptr_nonnull(cfg->inputs[0].conf);
}
END_TEST

START_TEST(defaults_when_only_plugins_given)
{
	ck_assert_int_eq(load(GOOD_IO), 0);
	ck_assert_int_eq(cfg->core.log.level, 1);
	ck_assert_int_eq(cfg->core.log.format, 0);
	ck_assert_str_eq(cfg->core.state_directory, AW_DEFAULT_STATEDIR);
	ck_assert_str_eq(cfg->core.http_listen, "127.0.0.1:9464");
	ck_assert_uint_eq(cfg->core.shutdown_timeout_ms, 30000);
	ck_assert_uint_eq(cfg->core.pipeline.max_queue_bytes, 64 << 20);
	ck_assert_uint_eq(cfg->core.pipeline.retry_initial_ms, 1000);
	ck_assert(!cfg->core.pipeline.forward_events);
}
END_TEST

START_TEST(names_default_and_explicit)
{
	ck_assert_int_eq(load("inputs:\n"
			      "  - type: file\n"
			      "    paths: /a\n"
			      "outputs:\n"
			      "  - type: file\n"
			      "    path: /b\n"
			      "  - type: file\n"
			      "    name: archive.v2\n"
			      "    path: /c\n"),
			 0);
	ck_assert_str_eq(cfg->inputs[0].name, "in_file");
	ck_assert_str_eq(cfg->outputs[0].name, "out_file-1");
	ck_assert_str_eq(cfg->outputs[1].name, "archive.v2");
}
END_TEST

START_TEST(unknown_key)
{
	ck_assert_int_eq(load("lgo:\n  level: info\n" GOOD_IO), -1);
	ck_err(":1:1: unknown key 'lgo' (did you mean 'log'?)");
	ck_assert_uint_eq(errs.n, 1);
}
END_TEST

START_TEST(unknown_key_in_plugin)
{
	ck_assert_int_eq(load("inputs:\n"
			      "  - type: file\n"
			      "    paths: /a\n"
			      "    pathz: /b\n"
			      "outputs:\n"
			      "  - type: file\n"
			      "    path: /c\n"),
			 -1);
	ck_err(":4:5: unknown key 'inputs[0].pathz' (did you mean 'paths'?)");
}
END_TEST

START_TEST(wrong_type)
{
	ck_assert_int_eq(load("log:\n  level: [info]\nhttp_listen: {a: b}\n" GOOD_IO), -1);
	ck_err(":2:10: log.level: expected one of debug, info, notice, warning, error, got a "
	       "list");
	ck_err(":3:14: http_listen: expected a string, got a map");
	ck_assert_int_eq(errs.n, 2);
}
END_TEST

START_TEST(bad_enum)
{
	ck_assert_int_eq(load("log:\n  level: verbose\n" GOOD_IO), -1);
	ck_err(":2:10: log.level: 'verbose' is not one of: debug, info, notice, warning, error");
}
END_TEST

START_TEST(bad_duration)
{
	ck_assert_int_eq(load("shutdown_timeout: 30\n" GOOD_IO), -1);
	ck_err_part(":1:19: shutdown_timeout: '30' has no unit: write 30s or 30ms (accepted "
		    "units: ms, s, m, h, d");
	aw_error_list_free(&errs);
	ck_assert_int_eq(load("shutdown_timeout: 2h\n" GOOD_IO), -1);
	ck_err(":1:19: shutdown_timeout: '2h' is out of range 1s..1h");
	aw_error_list_free(&errs);
	ck_assert_int_eq(load("pipeline:\n  max_queue_bytes: 1KiB\n" GOOD_IO), -1);
	ck_err(":2:20: pipeline.max_queue_bytes: '1KiB' is out of range 64KiB..16GiB");
	aw_error_list_free(&errs);
	ck_assert_int_eq(load("pipeline:\n  retry_initial: 10m\n  retry_max: 1m\n" GOOD_IO), -1);
	ck_err(":2:18: pipeline.retry_initial (600000ms) is larger than pipeline.retry_max "
	       "(60000ms)");
}
END_TEST

START_TEST(missing_required_key)
{
	ck_assert_int_eq(load("inputs:\n"
			      "  - type: file\n"
			      "outputs:\n"
			      "  - type: file\n"
			      "    path: /b\n"),
			 -1);
	ck_err(":2:5: inputs[0]: missing required key 'paths'");
	aw_error_list_free(&errs);

	ck_assert_int_eq(load("inputs:\n"
			      "  - paths: /a\n"
			      "outputs:\n"
			      "  - type: file\n"
			      "    path: /b\n"),
			 -1);
	ck_err(":2:5: inputs[0]: missing required key 'type'");
}
END_TEST

START_TEST(unknown_plugin_type)
{
	ck_assert_int_eq(load("inputs:\n"
			      "  - type: fiel\n"
			      "    paths: /a\n"
			      "outputs:\n"
			      "  - type: file\n"
			      "    path: /b\n"),
			 -1);
	ck_err_part(":2:11: inputs[0].type: unknown input type 'fiel' (known: ");
	ck_assert_uint_eq(errs.n, 1);
	/* the known input types are listed, and only inputs */
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "file"));
	for (size_t i = 0; aw_builtin_plugins[i]; i++)
		if (aw_builtin_plugins[i]->kind == AW_PLUGIN_OUTPUT &&
		    !aw_plugin_find(AW_PLUGIN_INPUT, aw_builtin_plugins[i]->name))
			ck_assert_ptr_null(strstr(errs.msgs[0], aw_builtin_plugins[i]->name));
}
END_TEST

START_TEST(duplicate_names)
{
	ck_assert_int_eq(load("inputs:\n"
			      "  - type: file\n"
			      "    name: main\n"
			      "    paths: /a\n"
			      "outputs:\n"
			      "  - type: file\n"
			      "    name: main\n"
			      "    path: /b\n"),
			 -1);
	ck_err(":7:11: outputs[0].name: duplicate instance name 'main' (also used by inputs[0] "
	       "at line 3)");
	aw_error_list_free(&errs);

	ck_assert_int_eq(load("inputs:\n"
			      "  - type: file\n"
			      "    name: bad/name\n"
			      "    paths: /a\n"
			      "outputs:\n"
			      "  - type: file\n"
			      "    path: /b\n"),
			 -1);
	ck_err(":3:11: inputs[0].name: must be 1 to 64 characters of A-Z a-z 0-9 _ . -");
}
END_TEST

START_TEST(plugin_validate_errors_get_positions)
{
	ck_assert_int_eq(load("inputs:\n"
			      "  - type: file\n"
			      "    paths: [/a, /a]\n"
			      "outputs:\n"
			      "  - type: file\n"
			      "    path: /b\n"
			      "    file_mode: rw-r--r--\n"),
			 -1);
	/* the plugins word the reason; the loader adds where the key is */
	ck_err_part(":3:12: inputs[0].paths[1]: ");
	ck_err_part(":7:16: outputs[0].file_mode: ");
	ck_assert_uint_eq(errs.n, 2);
}
END_TEST

START_TEST(inputs_and_outputs_required)
{
	ck_assert_int_eq(load("log:\n  level: info\n"), -1);
	ck_err_part(": at least one input is required under 'inputs:'");
	ck_err_part(": at least one output is required under 'outputs:'");
	aw_error_list_free(&errs);

	ck_assert_int_eq(load("inputs: []\noutputs:\n  - type: file\n    path: /b\n"), -1);
	ck_err_part(": at least one input is required");
	ck_assert_uint_eq(errs.n, 1);
	aw_error_list_free(&errs);

	ck_assert_int_eq(load("inputs: file\noutputs:\n  - file\n"), -1);
	ck_err(":1:9: inputs: expected a list of maps (each with 'type:')");
	ck_err(":3:5: outputs[0]: expected a map with 'type:'");
}
END_TEST

START_TEST(syntax_error_in_file)
{
	ck_assert_int_eq(load("log:\n  level: info\n   format: json\n"), -1);
	ck_err_part(":3:10: YAML syntax error: ");
	ck_assert_ptr_null(cfg);
}
END_TEST

START_TEST(duplicate_key_in_file)
{
	ck_assert_int_eq(load(GOOD_IO "log:\n  level: info\nlog:\n  level: debug\n"), -1);
	ck_err(":9:1: duplicate key 'log': first defined at line 7, again at line 9");
}
END_TEST

START_TEST(several_errors_all_reported)
{
	ck_assert_int_eq(load("log:\n"
			      "  level: loud\n"
			      "shutdown_timeout: soon\n"
			      "colour: blue\n"
			      "inputs:\n"
			      "  - type: file\n"
			      "  - type: nope\n"
			      "outputs:\n"
			      "  - type: file\n"
			      "    path: /b\n"
			      "    fsync: sometimes\n"),
			 -1);
	ck_err_part(":2:10: log.level: 'loud' is not one of");
	ck_err_part(":3:19: shutdown_timeout: invalid duration 'soon'");
	ck_err(":4:1: unknown key 'colour'");
	ck_err(":6:5: inputs[0]: missing required key 'paths'");
	ck_err_part(":7:11: inputs[1].type: unknown input type 'nope'");
	ck_err_part(":11:12: outputs[0].fsync: 'sometimes' is not one of");
	ck_assert_uint_eq(errs.n, 6);
	ck_assert_ptr_null(cfg);
}
END_TEST

START_TEST(top_level_shapes)
{
	ck_assert_int_eq(load("- a\n- b\n"), -1);
	ck_err(":1:1: the top level must be a map of keys");
	aw_error_list_free(&errs);
	ck_assert_int_eq(load(""), -1);
	ck_err_part(": the configuration is empty");
	aw_error_list_free(&errs);
	free(path);
	path = NULL;
	{
		char *missing;
		ck_assert_int_eq(asprintf(&missing, "%s/nope.yaml", tmp) > 0, 1);
		ck_assert_int_eq(aw_config_load(missing, &cfg, &errs), -1);
		ck_assert_ptr_nonnull(strstr(errs.msgs[0], "nope.yaml: cannot read: No such file"));
		free(missing);
	}
}
END_TEST

START_TEST(env_in_config)
{
	setenv("AW_TEST_OUT", "/tmp/out-from-env.jsonl", 1);
	unsetenv("AW_TEST_NOPE");
	ck_assert_int_eq(load("inputs:\n"
			      "  - type: file\n"
			      "    paths: /a\n"
			      "outputs:\n"
			      "  - type: file\n"
			      "    path: ${AW_TEST_OUT}\n"
			      "state_directory: ${AW_TEST_NOPE:-/tmp/st}\n"),
			 0);
	ck_assert_str_eq(cfg->core.state_directory, "/tmp/st");
	aw_config_free(cfg);
	cfg = NULL;

	ck_assert_int_eq(load(GOOD_IO "state_directory: ${AW_TEST_NOPE}\n"), -1);
	ck_err(":7:18: environment variable AW_TEST_NOPE is not set");
}
END_TEST

START_TEST(instance_equal)
{
	struct aw_config *a;

	ck_assert_int_eq(load(GOOD_IO), 0);
	a = cfg;
	cfg = NULL;
	ck_assert_int_eq(load(GOOD_IO), 0);
	ck_assert(aw_instance_conf_equal(&a->inputs[0], &cfg->inputs[0]));
	ck_assert(aw_instance_conf_equal(&a->outputs[0], &cfg->outputs[0]));
	ck_assert(!aw_instance_conf_equal(&a->inputs[0], &cfg->outputs[0]));
	aw_config_free(cfg);
	cfg = NULL;
	ck_assert_int_eq(load("inputs:\n"
			      "  - type: file\n"
			      "    paths: /var/log/other.jsonl\n"
			      "outputs:\n"
			      "  - type: file\n"
			      "    name: renamed\n"
			      "    path: /var/log/out.jsonl\n"),
			 0);
	ck_assert(!aw_instance_conf_equal(&a->inputs[0], &cfg->inputs[0]));
	ck_assert(!aw_instance_conf_equal(&a->outputs[0], &cfg->outputs[0]));
	aw_config_free(a);
}
END_TEST

START_TEST(shipped_example_loads)
{
	char *example = aw_test_srcpath("conf/aiwatchd.yaml");
	char *text = aw_test_read(example, NULL);
	int rc;

	ck_assert_ptr_nonnull(text);
	/* the example's paths point at /var/lib and /var/log; only its shape matters */
	rc = load_mode(text, 0640);
	if (rc)
		dump();
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_ge(cfg->ninputs, 1);
	ck_assert_uint_ge(cfg->noutputs, 1);
	free(text);
	free(example);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("document");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, doc_positions_and_quoting);
	tcase_add_test(tc, doc_empty);
	tcase_add_test(tc, doc_syntax_error);
	tcase_add_test(tc, doc_duplicate_key);
	tcase_add_test(tc, doc_one_document_only);
	tcase_add_test(tc, doc_anchors_and_aliases_refused);
	tcase_add_test(tc, doc_limits);
	tcase_add_test(tc, doc_file_too_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, good_config_loads);
	tcase_add_test(tc, defaults_when_only_plugins_given);
	tcase_add_test(tc, names_default_and_explicit);
	tcase_add_test(tc, unknown_key);
	tcase_add_test(tc, unknown_key_in_plugin);
	tcase_add_test(tc, wrong_type);
	tcase_add_test(tc, bad_enum);
	tcase_add_test(tc, bad_duration);
	tcase_add_test(tc, missing_required_key);
	tcase_add_test(tc, unknown_plugin_type);
	tcase_add_test(tc, duplicate_names);
	tcase_add_test(tc, plugin_validate_errors_get_positions);
	tcase_add_test(tc, inputs_and_outputs_required);
	tcase_add_test(tc, syntax_error_in_file);
	tcase_add_test(tc, duplicate_key_in_file);
	tcase_add_test(tc, several_errors_all_reported);
	tcase_add_test(tc, top_level_shapes);
	tcase_add_test(tc, env_in_config);
	tcase_add_test(tc, instance_equal);
	tcase_add_test(tc, shipped_example_loads);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(config_suite)
