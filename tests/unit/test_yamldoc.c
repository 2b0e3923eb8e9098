/* Multi-document YAML (Sigma rule files): one aw_doc per `---` document, positions
 * counted from the start of the file, no ${ENV} expansion, whole-file rejection on any
 * error, the rule-file bounds, and the single-document loader that must keep refusing
 * a second document. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "testutil.h"

static struct aw_error_list errs;
static struct aw_doc **docs;
static size_t ndocs;
static struct aw_doc *doc;
static char *tmp;
static char *path;

static void setup(void)
{
	tmp = aw_test_tmpdir();
}

static void teardown(void)
{
	aw_doc_free_all(docs, ndocs);
	docs = NULL;
	ndocs = 0;
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

static bool has_err(const char *want, bool partial)
{
	for (size_t i = 0; i < errs.n; i++)
		if (partial ? strstr(errs.msgs[i], want) != NULL : strcmp(errs.msgs[i], want) == 0)
			return true;
	return false;
}

#define ck_err(want)                                                                               \
	do {                                                                                       \
		if (!has_err(want, false))                                                         \
			dump();                                                                    \
		ck_assert_msg(has_err(want, false), "missing error: %s", want);                    \
	} while (0)
#define ck_err_part(want)                                                                          \
	do {                                                                                       \
		if (!has_err(want, true))                                                          \
			dump();                                                                    \
		ck_assert_msg(has_err(want, true), "missing error: ...%s...", want);               \
	} while (0)

static int parse_all(const char *yaml)
{
	aw_doc_free_all(docs, ndocs);
	docs = NULL;
	ndocs = 0;
	return aw_doc_load_all_buffer("r.yml", yaml, strlen(yaml), &docs, &ndocs, &errs);
}

static int parse_all_ok(const char *yaml)
{
	int rc = parse_all(yaml);

	if (rc)
		dump();
	return rc;
}

static const char *value(const struct aw_doc *d, const char *key)
{
	const struct aw_node *n = aw_node_get(d->root, key);

	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(n->kind, AW_NODE_SCALAR);
	return n->value;
}

/* --- documents and positions --------------------------------------------------- */

START_TEST(one_document)
{
	const struct aw_node *sel;

	ck_assert_int_eq(parse_all_ok("title: One\n"
				      "detection:\n"
				      "  sel:\n"
				      "    Category: Audit\n"
				      "  condition: sel\n"),
			 0);
	ck_assert_uint_eq(ndocs, 1);
	ck_assert_str_eq(docs[0]->path, "r.yml");
	ck_assert_int_eq(docs[0]->root->kind, AW_NODE_MAP);
	ck_assert_str_eq(value(docs[0], "title"), "One");
	sel = aw_node_get(aw_node_get(docs[0]->root, "detection"), "sel");
	ck_assert_uint_eq(sel->line, 4);
	ck_assert_uint_eq(sel->col, 5);
	ck_assert_str_eq(sel->file, "r.yml");
}
END_TEST

START_TEST(two_documents_positions_continue)
{
	const struct aw_node *t;

	ck_assert_int_eq(parse_all_ok("title: First\n"
				      "level: high\n"
				      "---\n"
				      "title: Second\n"
				      "tags:\n"
				      "  - attack.t1078\n"),
			 0);
	ck_assert_uint_eq(ndocs, 2);
	ck_assert_str_eq(value(docs[0], "title"), "First");
	ck_assert_str_eq(value(docs[1], "title"), "Second");
	ck_assert_uint_eq(docs[0]->root->line, 1);
	ck_assert_uint_eq(docs[1]->root->line, 4);
	ck_assert_uint_eq(docs[1]->root->keynodes[0]->line, 4);
	ck_assert_uint_eq(docs[1]->root->keynodes[0]->col, 1);
	t = aw_node_get(docs[1]->root, "tags");
	ck_assert_uint_eq(t->items[0]->line, 6);
	ck_assert_uint_eq(t->items[0]->col, 5);
	/* each document owns its path: freeing one leaves the other's nodes valid */
	ck_assert_ptr_ne(docs[0]->path, docs[1]->path);
	ck_assert_ptr_eq(t->file, docs[1]->path);
	ck_assert_str_eq(t->file, "r.yml");
}
END_TEST

START_TEST(three_documents)
{
	const struct aw_node *corr;

	ck_assert_int_eq(parse_all_ok("title: A\n"
				      "---\n"
				      "title: B\n"
				      "correlation:\n"
				      "  type: event_count\n"
				      "  rules: [a, b]\n"
				      "---\n"
				      "\n"
				      "# a comment\n"
				      "title: C\n"),
			 0);
	ck_assert_uint_eq(ndocs, 3);
	ck_assert_str_eq(value(docs[0], "title"), "A");
	ck_assert_str_eq(value(docs[1], "title"), "B");
	ck_assert_str_eq(value(docs[2], "title"), "C");
	corr = aw_node_get(docs[1]->root, "correlation");
	ck_assert_uint_eq(corr->line, 5);
	ck_assert_uint_eq(aw_node_get(corr, "rules")->items[1]->line, 6);
	ck_assert_uint_eq(aw_node_get(corr, "rules")->items[1]->col, 14);
	ck_assert_uint_eq(aw_node_get(docs[2]->root, "title")->line, 10);
	ck_assert_uint_eq(aw_node_get(docs[2]->root, "title")->col, 8);
}
END_TEST

START_TEST(empty_documents)
{
	/* no document at all */
	ck_assert_int_eq(parse_all_ok(""), 0);
	ck_assert_uint_eq(ndocs, 0);
	ck_assert_ptr_null(docs);
	ck_assert_int_eq(parse_all_ok("# only comments\n\n# here\n"), 0);
	ck_assert_uint_eq(ndocs, 0);

	/* empty documents are kept (root NULL) so the count matches the file */
	ck_assert_int_eq(parse_all_ok("---\n---\ntitle: X\n---\n~\n---\n"), 0);
	ck_assert_uint_eq(ndocs, 4);
	ck_assert_ptr_null(docs[0]->root);
	ck_assert_ptr_nonnull(docs[1]->root);
	ck_assert_str_eq(value(docs[1], "title"), "X");
	ck_assert_uint_eq(aw_node_get(docs[1]->root, "title")->line, 3);
	ck_assert_ptr_null(docs[2]->root);
	ck_assert_ptr_null(docs[3]->root);

	/* a quoted "null" is a value, not an empty document */
	ck_assert_int_eq(parse_all_ok("--- 'null'\n"), 0);
	ck_assert_uint_eq(ndocs, 1);
	ck_assert_ptr_nonnull(docs[0]->root);
	ck_assert_str_eq(docs[0]->root->value, "null");
}
END_TEST

START_TEST(leading_separator)
{
	ck_assert_int_eq(parse_all_ok("---\ntitle: Lead\nid: 1\n"), 0);
	ck_assert_uint_eq(ndocs, 1);
	ck_assert_str_eq(value(docs[0], "title"), "Lead");
	ck_assert_uint_eq(aw_node_get(docs[0]->root, "id")->line, 3);

	ck_assert_int_eq(parse_all_ok("# header comment\n---\ntitle: A\n---\ntitle: B\n"), 0);
	ck_assert_uint_eq(ndocs, 2);
	ck_assert_uint_eq(docs[0]->root->line, 3);
	ck_assert_uint_eq(docs[1]->root->line, 5);
}
END_TEST

START_TEST(end_markers)
{
	ck_assert_int_eq(parse_all_ok("title: A\n"
				      "...\n"
				      "---\n"
				      "title: B\n"
				      "...\n"),
			 0);
	ck_assert_uint_eq(ndocs, 2);
	ck_assert_str_eq(value(docs[0], "title"), "A");
	ck_assert_str_eq(value(docs[1], "title"), "B");
	ck_assert_uint_eq(aw_node_get(docs[1]->root, "title")->line, 4);

	/* "..." alone ends the stream's only document */
	ck_assert_int_eq(parse_all_ok("title: A\n...\n"), 0);
	ck_assert_uint_eq(ndocs, 1);

	/* after "...", a document needs its "---" */
	ck_assert_int_eq(parse_all("title: A\n...\ntitle: B\n"), -1);
	ck_assert_ptr_null(docs);
	ck_assert_uint_eq(ndocs, 0);
	ck_err_part("r.yml:3:1: YAML syntax error: ");
}
END_TEST

START_TEST(no_env_expansion_for_rules)
{
	const char *y = "a: ${AW_TEST_RULE_VAR}\n"
			"b: $ConnectionString\n"
			"c: '${jndi:ldap://x/y}'\n"
			"d: $$\n"
			"e: ${AW_TEST_RULE_UNSET}\n"
			"f: ${OPEN\n";

	setenv("AW_TEST_RULE_VAR", "expanded", 1);
	unsetenv("AW_TEST_RULE_UNSET");
	ck_assert_int_eq(parse_all_ok(y), 0);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_uint_eq(ndocs, 1);
	ck_assert_str_eq(value(docs[0], "a"), "${AW_TEST_RULE_VAR}");
	ck_assert(!aw_node_get(docs[0]->root, "a")->from_env);
	ck_assert_str_eq(value(docs[0], "b"), "$ConnectionString");
	ck_assert_str_eq(value(docs[0], "c"), "${jndi:ldap://x/y}");
	ck_assert_str_eq(value(docs[0], "d"), "$$");
	ck_assert_str_eq(value(docs[0], "e"), "${AW_TEST_RULE_UNSET}");
	ck_assert_str_eq(value(docs[0], "f"), "${OPEN");

	/* the configuration loader still expands */
	ck_assert_int_eq(aw_doc_load_buffer("c.yaml", "a: ${AW_TEST_RULE_VAR}\n", 23, &doc, &errs),
			 0);
	ck_assert_str_eq(aw_node_get(doc->root, "a")->value, "expanded");
	ck_assert(aw_node_get(doc->root, "a")->from_env);
}
END_TEST

/* --- errors -------------------------------------------------------------------- */

START_TEST(syntax_error_in_second_document)
{
	ck_assert_int_eq(parse_all("title: A\n"
				   "---\n"
				   "title: B\n"
				   "list: [1, 2\n"
				   "x: 3\n"
				   "---\n"
				   "title: C\n"),
			 -1);
	ck_assert_ptr_null(docs);
	ck_assert_uint_eq(ndocs, 0);
	if (errs.n != 1)
		dump();
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_msg(strncmp(errs.msgs[0], "r.yml:5:2: YAML syntax error: ", 30) == 0, "%s",
		      errs.msgs[0]);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "(while parsing a flow sequence at line 4)"));
	aw_error_list_free(&errs);

	ck_assert_int_eq(parse_all("a: 1\n---\nb: 1\n  c: 2\n"), -1);
	ck_err("r.yml:4:4: YAML syntax error: mapping values are not allowed in this context");
}
END_TEST

START_TEST(every_error_in_every_document_is_reported)
{
	ck_assert_int_eq(parse_all("title: A\n"
				   "title: again\n"
				   "---\n"
				   "title: B\n"
				   "---\n"
				   "x: &anchor 1\n"
				   "y: *anchor\n"),
			 -1);
	ck_assert_ptr_null(docs);
	ck_assert_uint_eq(ndocs, 0);
	ck_err("r.yml:2:1: duplicate key 'title': first defined at line 1, again at line 2");
	ck_err("r.yml:6:4: YAML anchors (&anchor) and aliases are not supported; repeat the value");
	ck_err("r.yml:7:4: YAML aliases (*anchor) are not supported; repeat the value");
	ck_assert_uint_eq(errs.n, 3);
}
END_TEST

START_TEST(single_document_loader_refuses_two)
{
	const char *y = "a: 1\n---\nb: 2\n";

	ck_assert_int_eq(aw_doc_load_buffer("c.yaml", y, strlen(y), &doc, &errs), -1);
	ck_assert_ptr_null(doc);
	ck_err("c.yaml:2:1: a second YAML document; this file must hold exactly one");
	aw_error_list_free(&errs);

	y = "---\na: 1\n...\n---\nb: 2\n";
	ck_assert_int_eq(aw_doc_load_buffer("c.yaml", y, strlen(y), &doc, &errs), -1);
	ck_err("c.yaml:4:1: a second YAML document; this file must hold exactly one");
	aw_error_list_free(&errs);

	/* one document with markers around it is fine */
	y = "---\na: 1\n...\n";
	ck_assert_int_eq(aw_doc_load_buffer("c.yaml", y, strlen(y), &doc, &errs), 0);
	ck_assert_str_eq(aw_node_get(doc->root, "a")->value, "1");
}
END_TEST

/* --- bounds and files ---------------------------------------------------------- */

static char *repeat(const char *unit, size_t times)
{
	size_t ul = strlen(unit);
	char *s = malloc(ul * times + 1);

	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * times] = '\0';
	return s;
}

START_TEST(document_count_limit)
{
	char *y = repeat("---\na: 1\n", 1000);

	ck_assert_int_eq(parse_all_ok(y), 0);
	ck_assert_uint_eq(ndocs, 1000);
	ck_assert_uint_eq(aw_node_get(docs[999]->root, "a")->line, 2000);
	free(y);

	y = repeat("---\na: 1\n", 1001);
	ck_assert_int_eq(parse_all(y), -1);
	ck_assert_ptr_null(docs);
	ck_err("r.yml:2001:1: more than 1000 YAML documents in one file");
	free(y);
}
END_TEST

START_TEST(node_limits)
{
	/* 199,990 nodes per document is under the per-document limit of configs; three
	 * such documents pass the per-file total */
	char *items = repeat("a,", 199990);
	size_t il = strlen(items);
	char *y = malloc(3 * (il + 8) + 1);
	size_t n = 0;

	ck_assert_ptr_nonnull(y);
	for (int d = 0; d < 3; d++) {
		memcpy(y + n, "--- [", 5);
		n += 5;
		memcpy(y + n, items, il);
		n += il;
		memcpy(y + n, "a]\n", 3);
		n += 3;
	}
	y[n] = '\0';
	free(items);
	ck_assert_int_eq(parse_all(y), -1);
	ck_err_part("r.yml:3:");
	ck_err_part(": file has more than 500000 nodes");
	free(y);
}
END_TEST

START_TEST(file_sizes)
{
	/* between the config limit (4 MiB) and the rule-file limit (16 MiB) */
	size_t n = (5u << 20);
	char *big = malloc(n + 64);
	const char *tail = "\ntitle: Big\n---\ntitle: Two\n";

	ck_assert_ptr_nonnull(big);
	memset(big, '#', n);
	memcpy(big + n, tail, strlen(tail) + 1);
	path = aw_test_write(tmp, "big.yml", big, 0644);
	ck_assert_int_eq(aw_doc_load_all_file(path, &docs, &ndocs, &errs), 0);
	ck_assert_uint_eq(ndocs, 2);
	ck_assert_str_eq(value(docs[1], "title"), "Two");
	ck_assert_uint_eq(aw_node_get(docs[1]->root, "title")->line, 4);
	ck_assert_str_eq(aw_node_get(docs[1]->root, "title")->file, path);
	ck_assert_int_eq(aw_doc_load_file(path, &doc, &errs), -1);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], ": larger than 4 MiB"));
	aw_error_list_free(&errs);
	free(big);
	free(path);

	n = (16u << 20) + 1;
	big = malloc(n + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, '#', n);
	big[n] = '\0';
	path = aw_test_write(tmp, "huge.yml", big, 0644);
	aw_doc_free_all(docs, ndocs);
	docs = NULL;
	ndocs = 0;
	ck_assert_int_eq(aw_doc_load_all_file(path, &docs, &ndocs, &errs), -1);
	ck_assert_ptr_null(docs);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "huge.yml: larger than 16 MiB"));
	aw_error_list_free(&errs);

	/* the buffer entry point has the same bound */
	ck_assert_int_eq(aw_doc_load_all_buffer("b.yml", big, n, &docs, &ndocs, &errs), -1);
	ck_err("b.yml: larger than 16 MiB (16777217 bytes); refusing to parse");
	free(big);
}
END_TEST

START_TEST(file_errors)
{
	char *missing;

	path = aw_test_write(tmp, "rules.yml", "title: F\n---\ntitle: G\n  bad: x\n", 0644);
	ck_assert_int_eq(aw_doc_load_all_file(path, &docs, &ndocs, &errs), -1);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "rules.yml:4:6: YAML syntax error: "));
	aw_error_list_free(&errs);

	ck_assert_int_eq(aw_doc_load_all_file(tmp, &docs, &ndocs, &errs), -1);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "not a regular file"));
	aw_error_list_free(&errs);

	missing = malloc(strlen(tmp) + 16);
	ck_assert_ptr_nonnull(missing);
	snprintf(missing, strlen(tmp) + 16, "%s/nope.yml", tmp);
	ck_assert_int_eq(aw_doc_load_all_file(missing, &docs, &ndocs, &errs), -1);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "nope.yml: cannot open: "));
	ck_assert_ptr_null(docs);
	ck_assert_uint_eq(ndocs, 0);
	free(missing);
}
END_TEST

START_TEST(free_all_accepts_nothing)
{
	aw_doc_free_all(NULL, 0);
	ck_assert_int_eq(aw_doc_load_all_buffer(NULL, "a: 1\n", 5, &docs, &ndocs, &errs), 0);
	ck_assert_str_eq(docs[0]->path, "<buffer>");
}
END_TEST

static Suite *yamldoc_suite(void)
{
	Suite *s = suite_create("yamldoc");
	TCase *tc = tcase_create("documents");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, one_document);
	tcase_add_test(tc, two_documents_positions_continue);
	tcase_add_test(tc, three_documents);
	tcase_add_test(tc, empty_documents);
	tcase_add_test(tc, leading_separator);
	tcase_add_test(tc, end_markers);
	tcase_add_test(tc, no_env_expansion_for_rules);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, syntax_error_in_second_document);
	tcase_add_test(tc, every_error_in_every_document_is_reported);
	tcase_add_test(tc, single_document_loader_refuses_two);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounds");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, document_count_limit);
	tcase_add_test(tc, node_limits);
	tcase_add_test(tc, file_sizes);
	tcase_add_test(tc, file_errors);
	tcase_add_test(tc, free_all_accepts_nothing);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(yamldoc_suite)
