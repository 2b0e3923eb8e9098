/* libFuzzer target: YAML text -> aw_doc tree -> option table.
 *
 * Exercises the libyaml event walk (positions, limits, duplicate keys, ${ENV}
 * expansion) and aw_options_apply() with a table holding every option type except
 * SECRET (a fuzzed {file: PATH} would read arbitrary files). Everything allocated is
 * freed on every path, so LeakSanitizer turns a leak into a crash. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "options.h"

struct fz_inner {
	long long n;
	bool flag;
	struct aw_strlist list;
};

struct fz_conf {
	char *name;
	char *req;
	long long count;
	bool enabled;
	uint64_t size;
	uint64_t timeout_ms;
	int mode;
	struct aw_strlist tags;
	struct fz_inner inner;
};

static const char *const fz_modes[] = {"a", "bb", "ccc", NULL};

static const struct aw_option fz_inner_tbl[] = {
    AW_OPT_INTEGER("n", struct fz_inner, n, "1", -5, 5, "n"),
    AW_OPT_BOOLEAN("flag", struct fz_inner, flag, "yes", "flag"),
    AW_OPT_LIST("list", struct fz_inner, list, 0, "list"),
    AW_OPT_END,
};

static const struct aw_option fz_tbl[] = {
    AW_OPT_STR("name", struct fz_conf, name, "x", 0, "name"),
    AW_OPT_STR("req", struct fz_conf, req, NULL, AW_OPT_REQUIRED, "required"),
    AW_OPT_INTEGER("count", struct fz_conf, count, "3", 0, 0, "unbounded"),
    AW_OPT_BOOLEAN("enabled", struct fz_conf, enabled, NULL, "bool"),
    AW_OPT_BYTES("size", struct fz_conf, size, "1KiB", 1, 1ll << 40, "size"),
    AW_OPT_DUR("timeout", struct fz_conf, timeout_ms, "1s", 0, 0, "duration"),
    AW_OPT_CHOICE("mode", struct fz_conf, mode, "bb", fz_modes, "enum"),
    AW_OPT_LIST("tags", struct fz_conf, tags, 0, "strlist"),
    AW_OPT_SUB("inner", struct fz_conf, inner, fz_inner_tbl, "section"),
    AW_OPT_END,
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* fixed environment, so ${...} in inputs behaves the same on every run */
	setenv("AW_FUZZ_SET", "value", 1);
	setenv("AW_FUZZ_EMPTY", "", 1);
	unsetenv("AW_FUZZ_UNSET");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aw_error_list errs = {0};
	struct aw_doc *doc = NULL;
	struct fz_conf conf = {0}, again = {0};

	if (aw_doc_load_buffer("fuzz.yaml", (const char *)data, size, &doc, &errs) == 0) {
		const struct aw_node *root = doc->root;
		/* the whole document, and its first nested map, as option maps */
		aw_options_apply(fz_tbl, root, &conf, "", 0100600, &errs);
		if (root && root->kind == AW_NODE_MAP && root->n > 0)
			aw_options_apply(fz_tbl, root->items[0], &again, "fz[0]", 0100644, &errs);
		(void)aw_options_equal(fz_tbl, &conf, &again);
		aw_options_free(fz_tbl, &conf);
		aw_options_free(fz_tbl, &again);
		(void)aw_node_get(root, "name");
	}
	/* every message must be a terminated string */
	for (size_t i = 0; i < errs.n; i++)
		if (!errs.msgs[i][0])
			abort();
	aw_doc_free(doc);
	aw_error_list_free(&errs);
	return 0;
}
