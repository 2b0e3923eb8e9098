/* Option tables: parsers, defaults, every kind of error a user can make (with its
 * file:line:col and key), secrets and their sources, ${ENV}, comparison and help. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "options.h"
#include "testutil.h"

struct sub_conf {
	long long n;
	bool b;
};

struct test_conf {
	char *name;
	long long count;
	bool enabled;
	uint64_t size;
	uint64_t timeout_ms;
	int mode;
	struct aw_strlist tags;
	struct aw_secret password;
	struct sub_conf sub;
};

static const char *const modes[] = {"fast", "safe", NULL};

static const struct aw_option sub_tbl[] = {
    AW_OPT_INTEGER("n", struct sub_conf, n, "7", 0, 0, "a number"),
    AW_OPT_BOOLEAN("b", struct sub_conf, b, NULL, "a flag"),
    AW_OPT_END,
};

static const struct aw_option tbl[] = {
    AW_OPT_STR("name", struct test_conf, name, "anon", 0, "a name"),
    AW_OPT_INTEGER("count", struct test_conf, count, "10", 1, 100, "how many"),
    AW_OPT_BOOLEAN("enabled", struct test_conf, enabled, "true", "on or off"),
    AW_OPT_BYTES("size", struct test_conf, size, "1MiB", 1024, 1ll << 30, "how big"),
    AW_OPT_DUR("timeout", struct test_conf, timeout_ms, "30s", 1000, 3600000, "how long"),
    AW_OPT_CHOICE("mode", struct test_conf, mode, "safe", modes, "how"),
    AW_OPT_LIST("tags", struct test_conf, tags, 0, "labels"),
    AW_OPT_SECRETV("password", struct test_conf, password, 0, "the password"),
    AW_OPT_SUB("sub", struct test_conf, sub, sub_tbl, "nested"),
    AW_OPT_END,
};

struct req_conf {
	char *path;
	char *other;
};

static const struct aw_option req_tbl[] = {
    AW_OPT_STR("path", struct req_conf, path, NULL, AW_OPT_REQUIRED, "where"),
    AW_OPT_STR("other", struct req_conf, other, NULL, 0, "else"),
    AW_OPT_END,
};

static struct aw_error_list errs;
static struct aw_doc *doc;
static struct test_conf conf;

static void teardown(void)
{
	aw_options_free(tbl, &conf);
	memset(&conf, 0, sizeof conf);
	aw_doc_free(doc);
	doc = NULL;
	aw_error_list_free(&errs);
}

/* Parse `yaml` as "t.yaml" and apply `t` with file mode `mode`; returns apply's rc. */
static int apply_mode(const struct aw_option *t, void *c, const char *yaml, const char *where,
		      unsigned mode)
{
	aw_options_free(t, c); /* apply zeroes conf first: release the previous values */
	aw_doc_free(doc);
	doc = NULL;
	ck_assert_int_eq(aw_doc_load_buffer("t.yaml", yaml, strlen(yaml), &doc, &errs), 0);
	return aw_options_apply(t, doc->root, c, where, mode, &errs);
}

static int apply(const char *yaml)
{
	return apply_mode(tbl, &conf, yaml, "", 0100600);
}

static bool has_msg(const char *want)
{
	for (size_t i = 0; i < errs.n; i++)
		if (strcmp(errs.msgs[i], want) == 0)
			return true;
	return false;
}

static bool contains(const char *needle)
{
	for (size_t i = 0; i < errs.n; i++)
		if (strstr(errs.msgs[i], needle))
			return true;
	return false;
}

static void dump(void)
{
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "  err[%zu] %s\n", i, errs.msgs[i]);
}

#define ck_msg(want)                                                                               \
	do {                                                                                       \
		if (!has_msg(want))                                                                \
			dump();                                                                    \
		ck_assert_msg(has_msg(want), "missing error: %s", want);                           \
	} while (0)

/* --- parsers ------------------------------------------------------------------- */

START_TEST(durations)
{
	struct aw_error err = {{0}};
	uint64_t v = 1;

	ck_assert_int_eq(aw_parse_duration_ms("250ms", &v, &err), 0);
	ck_assert_uint_eq(v, 250);
	ck_assert_int_eq(aw_parse_duration_ms("30s", &v, &err), 0);
	ck_assert_uint_eq(v, 30000);
	ck_assert_int_eq(aw_parse_duration_ms("5m", &v, &err), 0);
	ck_assert_uint_eq(v, 300000);
	ck_assert_int_eq(aw_parse_duration_ms("1h", &v, &err), 0);
	ck_assert_uint_eq(v, 3600000);
	ck_assert_int_eq(aw_parse_duration_ms("1d", &v, &err), 0);
	ck_assert_uint_eq(v, 86400000);
	ck_assert_int_eq(aw_parse_duration_ms("1h30m", &v, &err), 0);
	ck_assert_uint_eq(v, 5400000);
	ck_assert_int_eq(aw_parse_duration_ms("1m1s1ms", &v, &err), 0);
	ck_assert_uint_eq(v, 61001);
	ck_assert_int_eq(aw_parse_duration_ms("0", &v, &err), 0);
	ck_assert_uint_eq(v, 0);

	/* a bare number is refused with a hint at the units */
	ck_assert_int_eq(aw_parse_duration_ms("30", &v, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "'30' has no unit: write 30s or 30ms"));
	ck_assert_int_eq(aw_parse_duration_ms("5x", &v, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "unknown unit"));
	ck_assert_ptr_nonnull(strstr(err.msg, "ms, s, m, h, d"));
	ck_assert_int_eq(aw_parse_duration_ms("", &v, &err), -1);
	ck_assert_int_eq(aw_parse_duration_ms("h", &v, &err), -1);
	ck_assert_int_eq(aw_parse_duration_ms("-5s", &v, &err), -1);
	ck_assert_int_eq(aw_parse_duration_ms("1.5h", &v, &err), -1);
	ck_assert_int_eq(aw_parse_duration_ms("5 s", &v, &err), -1);
	ck_assert_int_eq(aw_parse_duration_ms("99999999999999999999d", &v, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "too large"));
	ck_assert_int_eq(aw_parse_duration_ms("9999999999999999d", &v, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "too large"));
}
END_TEST

START_TEST(sizes)
{
	struct aw_error err = {{0}};
	uint64_t v = 1;

	ck_assert_int_eq(aw_parse_size("1048576", &v, &err), 0);
	ck_assert_uint_eq(v, 1048576);
	ck_assert_int_eq(aw_parse_size("64KiB", &v, &err), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_int_eq(aw_parse_size("64MiB", &v, &err), 0);
	ck_assert_uint_eq(v, 64ull << 20);
	ck_assert_int_eq(aw_parse_size("1GiB", &v, &err), 0);
	ck_assert_uint_eq(v, 1ull << 30);
	ck_assert_int_eq(aw_parse_size("10MB", &v, &err), 0);
	ck_assert_uint_eq(v, 10000000);
	ck_assert_int_eq(aw_parse_size("2K", &v, &err), 0);
	ck_assert_uint_eq(v, 2048);
	ck_assert_int_eq(aw_parse_size("1 GB", &v, &err), 0);
	ck_assert_uint_eq(v, 1000000000);
	ck_assert_int_eq(aw_parse_size("100B", &v, &err), 0);
	ck_assert_uint_eq(v, 100);
	ck_assert_int_eq(aw_parse_size("1TiB", &v, &err), 0);
	ck_assert_uint_eq(v, 1ull << 40);

	ck_assert_int_eq(aw_parse_size("5XB", &v, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "unknown unit 'XB'"));
	ck_assert_ptr_nonnull(strstr(err.msg, "KiB"));
	ck_assert_int_eq(aw_parse_size("", &v, &err), -1);
	ck_assert_int_eq(aw_parse_size("MiB", &v, &err), -1);
	ck_assert_int_eq(aw_parse_size("-1", &v, &err), -1);
	ck_assert_int_eq(aw_parse_size("20000000TiB", &v, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "too large"));
	ck_assert_int_eq(aw_parse_size("99999999999999999999", &v, &err), -1);
}
END_TEST

START_TEST(bools)
{
	bool b = false;

	ck_assert_int_eq(aw_parse_bool("true", &b), 0);
	ck_assert(b);
	ck_assert_int_eq(aw_parse_bool("No", &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(aw_parse_bool("ON", &b), 0);
	ck_assert(b);
	ck_assert_int_eq(aw_parse_bool("off", &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(aw_parse_bool("YES", &b), 0);
	ck_assert(b);
	ck_assert_int_eq(aw_parse_bool("FALSE", &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(aw_parse_bool("1", &b), -1);
	ck_assert_int_eq(aw_parse_bool("maybe", &b), -1);
	ck_assert_int_eq(aw_parse_bool("", &b), -1);
}
END_TEST

/* --- defaults and values ------------------------------------------------------- */

START_TEST(defaults_fill_every_field)
{
	struct aw_error err = {{0}};

	ck_assert_int_eq(aw_options_defaults(tbl, &conf, &err), 0);
	ck_assert_str_eq(conf.name, "anon");
	ck_assert_int_eq(conf.count, 10);
	ck_assert(conf.enabled);
	ck_assert_uint_eq(conf.size, 1 << 20);
	ck_assert_uint_eq(conf.timeout_ms, 30000);
	ck_assert_int_eq(conf.mode, 1);
	ck_assert_uint_eq(conf.tags.n, 0);
	ck_assert_ptr_null(conf.password.value);
	ck_assert_int_eq(conf.sub.n, 7);
	ck_assert(!conf.sub.b);
}
END_TEST

START_TEST(empty_map_and_nulls_keep_defaults)
{
	ck_assert_int_eq(apply("{}"), 0);
	ck_assert_str_eq(conf.name, "anon");
	aw_options_free(tbl, &conf);
	ck_assert_int_eq(apply("name:\ncount: ~\nsub:\n"), 0);
	ck_assert_str_eq(conf.name, "anon");
	ck_assert_int_eq(conf.count, 10);
	ck_assert_int_eq(conf.sub.n, 7);
}
END_TEST

START_TEST(values_are_applied)
{
	ck_assert_int_eq(apply("name: web\n"
			       "count: 42\n"
			       "enabled: off\n"
			       "size: 64KiB\n"
			       "timeout: 45m\n"
			       "mode: FAST\n"
			       "tags: [a, b, c]\n"
			       "sub: {n: -3, b: yes}\n"),
			 0);
	ck_assert_str_eq(conf.name, "web");
	ck_assert_int_eq(conf.count, 42);
	ck_assert(!conf.enabled);
	ck_assert_uint_eq(conf.size, 65536);
	ck_assert_uint_eq(conf.timeout_ms, 2700000);
	ck_assert_int_eq(conf.mode, 0);
	ck_assert_uint_eq(conf.tags.n, 3);
	ck_assert_str_eq(conf.tags.v[2], "c");
	ck_assert_int_eq(conf.sub.n, -3);
	ck_assert(conf.sub.b);
	ck_assert_uint_eq(errs.n, 0);
}
END_TEST

START_TEST(strlist_from_one_scalar)
{
	ck_assert_int_eq(apply("tags: solo\n"), 0);
	ck_assert_uint_eq(conf.tags.n, 1);
	ck_assert_str_eq(conf.tags.v[0], "solo");
}
END_TEST

START_TEST(quoted_empty_string_is_a_value)
{
	ck_assert_int_eq(apply("name: \"\"\n"), 0);
	ck_assert_str_eq(conf.name, "");
}
END_TEST

/* --- errors -------------------------------------------------------------------- */

START_TEST(unknown_key_with_suggestion)
{
	ck_assert_int_eq(apply("cuont: 5\nsub:\n  nn: 1\nzzzzzz: 1\n"), -1);
	ck_msg("t.yaml:1:1: unknown key 'cuont' (did you mean 'count'?)");
	ck_msg("t.yaml:3:3: unknown key 'sub.nn' (did you mean 'n'?)");
	ck_msg("t.yaml:4:1: unknown key 'zzzzzz'");
	ck_assert_uint_eq(errs.n, 3);
}
END_TEST

START_TEST(unknown_key_uses_where)
{
	ck_assert_int_eq(apply_mode(tbl, &conf, "nmae: x\n", "outputs[1]", 0100600), -1);
	ck_msg("t.yaml:1:1: unknown key 'outputs[1].nmae' (did you mean 'name'?)");
}
END_TEST

START_TEST(wrong_types)
{
	ck_assert_int_eq(apply("count: abc\n"
			       "name: {a: 1}\n"
			       "enabled: maybe\n"
			       "sub: 5\n"
			       "tags: [x, {y: 1}]\n"
			       "size: [1]\n"),
			 -1);
	ck_msg("t.yaml:1:8: count: expected an integer, got 'abc'");
	ck_msg("t.yaml:2:7: name: expected a string, got a map");
	ck_msg("t.yaml:3:10: enabled: expected a boolean (true/false, yes/no, on/off), got "
	       "'maybe'");
	ck_msg("t.yaml:4:6: sub: expected a map, got '5'");
	ck_msg("t.yaml:5:11: tags[1]: expected a string, got a map");
	ck_msg("t.yaml:6:7: size: expected a size, got a list");
	ck_assert_uint_eq(errs.n, 6);
}
END_TEST

START_TEST(out_of_range_says_the_range)
{
	ck_assert_int_eq(apply("count: 500\nsize: 10\ntimeout: 2h\n"), -1);
	ck_msg("t.yaml:1:8: count: 500 is out of range 1..100");
	ck_msg("t.yaml:2:7: size: '10' is out of range 1KiB..1GiB");
	ck_msg("t.yaml:3:10: timeout: '2h' is out of range 1s..1h");
}
END_TEST

START_TEST(bad_duration_and_size_list_units)
{
	ck_assert_int_eq(apply("timeout: 30\nsize: 3 parsecs\n"), -1);
	ck_assert(contains("t.yaml:1:10: timeout: '30' has no unit: write 30s or 30ms"));
	ck_assert(contains("accepted units: ms, s, m, h, d"));
	ck_assert(contains("t.yaml:2:7: size: invalid size '3 parsecs': unknown unit 'parsecs'"));
	ck_assert(contains("KiB, M, MiB"));
}
END_TEST

START_TEST(enum_lists_choices)
{
	ck_assert_int_eq(apply("mode: turbo\n"), -1);
	ck_msg("t.yaml:1:7: mode: 'turbo' is not one of: fast, safe");
}
END_TEST

START_TEST(missing_required_key)
{
	struct req_conf rc = {0};

	ck_assert_int_eq(apply_mode(req_tbl, &rc, "\n\nother: x\n", "inputs[0]", 0100600), -1);
	ck_msg("t.yaml:3:1: inputs[0]: missing required key 'path'");
	aw_options_free(req_tbl, &rc);
	aw_error_list_free(&errs);

	ck_assert_int_eq(apply_mode(req_tbl, &rc, "path:\n", "inputs[0]", 0100600), -1);
	ck_msg("t.yaml:1:6: inputs[0].path: a value is required");
	aw_options_free(req_tbl, &rc);
	aw_error_list_free(&errs);

	ck_assert_int_eq(apply_mode(req_tbl, &rc, "path: /x\n", "inputs[0]", 0100600), 0);
	ck_assert_str_eq(rc.path, "/x");
	aw_options_free(req_tbl, &rc);
}
END_TEST

START_TEST(not_a_map)
{
	ck_assert_int_eq(apply_mode(tbl, &conf, "- a\n- b\n", "outputs[0]", 0100600), -1);
	ck_msg("t.yaml:1:1: outputs[0]: expected a map, got a list");
}
END_TEST

START_TEST(every_error_is_reported)
{
	ck_assert_int_eq(apply("count: 0\n"
			       "mode: x\n"
			       "timeout: soon\n"
			       "bogus: 1\n"
			       "sub:\n"
			       "  n: twelve\n"),
			 -1);
	ck_assert_uint_eq(errs.n, 5);
	ck_assert(contains("t.yaml:1:8: count:"));
	ck_assert(contains("t.yaml:2:7: mode:"));
	ck_assert(contains("t.yaml:3:10: timeout:"));
	ck_assert(contains("t.yaml:4:1: unknown key 'bogus'"));
	ck_assert(contains("t.yaml:6:6: sub.n: expected an integer, got 'twelve'"));
}
END_TEST

/* --- secrets ------------------------------------------------------------------- */

static char *tmp;

static void secret_setup(void)
{
	tmp = aw_test_tmpdir();
}

static void secret_teardown(void)
{
	teardown();
	aw_test_rmtree(tmp);
	free(tmp);
	tmp = NULL;
}

static void no_secret_in_errors(const char *secret)
{
	for (size_t i = 0; i < errs.n; i++)
		ck_assert_msg(!strstr(errs.msgs[i], secret), "secret leaked: %s", errs.msgs[i]);
}

START_TEST(secret_from_file)
{
	char *p = aw_test_write(tmp, "pw", "s3cr3t-file\n", 0600);
	char yaml[512];

	snprintf(yaml, sizeof yaml, "password: {file: %s}\n", p);
	ck_assert_int_eq(apply_mode(tbl, &conf, yaml, "", 0100644), 0);
	ck_assert_str_eq(conf.password.value, "s3cr3t-file");
	char origin[512];
	snprintf(origin, sizeof origin, "file %s", p);
	ck_assert_str_eq(conf.password.origin, origin);
	free(p);
}
END_TEST

START_TEST(secret_file_problems)
{
	char *big = malloc(70000);
	char *p, yaml[512];

	memset(big, 'x', 69999);
	big[69999] = '\0';
	p = aw_test_write(tmp, "big", big, 0600);
	snprintf(yaml, sizeof yaml, "password: {file: %s}\n", p);
	ck_assert_int_eq(apply_mode(tbl, &conf, yaml, "", 0100600), -1);
	ck_assert(contains("t.yaml:1:18: password: secret file: "));
	ck_assert(contains("is larger than 64 KiB"));
	free(p);
	free(big);
	aw_error_list_free(&errs);

	snprintf(yaml, sizeof yaml, "password: {file: %s/missing}\n", tmp);
	ck_assert_int_eq(apply_mode(tbl, &conf, yaml, "", 0100600), -1);
	ck_assert(contains("password: secret file: cannot open "));
	ck_assert(contains("No such file or directory"));
	aw_error_list_free(&errs);

	ck_assert_int_eq(apply_mode(tbl, &conf, "password: {file: a, env: B}\n", "", 0100600), -1);
	ck_assert(contains("t.yaml:1:11: password: expected exactly one of {file: PATH}"));
	aw_error_list_free(&errs);

	ck_assert_int_eq(apply_mode(tbl, &conf, "password: {path: /x}\n", "", 0100600), -1);
	ck_assert(contains("t.yaml:1:12: password: unknown key 'path'; a secret is"));
}
END_TEST

START_TEST(secret_from_credential)
{
	char *p = aw_test_write(tmp, "kafka", "cred-value\n", 0400);

	unsetenv("CREDENTIALS_DIRECTORY");
	ck_assert_int_eq(apply_mode(tbl, &conf, "password: {credential: kafka}\n", "", 0100644),
			 -1);
	ck_msg("t.yaml:1:24: password: credential 'kafka' needs $CREDENTIALS_DIRECTORY, which "
	       "systemd sets when the unit has LoadCredential=kafka:PATH");
	aw_error_list_free(&errs);

	setenv("CREDENTIALS_DIRECTORY", tmp, 1);
	ck_assert_int_eq(apply_mode(tbl, &conf, "password: {credential: kafka}\n", "", 0100644), 0);
	ck_assert_str_eq(conf.password.value, "cred-value");
	ck_assert_str_eq(conf.password.origin, "credential kafka");

	ck_assert_int_eq(apply_mode(tbl, &conf, "password: {credential: ../etc}\n", "", 0100644),
			 -1);
	ck_assert(contains("password: invalid credential name"));
	ck_assert_int_eq(apply_mode(tbl, &conf, "password: {credential: nope}\n", "", 0100644), -1);
	ck_assert(contains("password: credential 'nope': cannot open"));
	free(p);
}
END_TEST

START_TEST(secret_from_env)
{
	setenv("AW_TEST_PW", "env-secret-value", 1);
	unsetenv("AW_TEST_PW_UNSET");
	ck_assert_int_eq(apply_mode(tbl, &conf, "password: {env: AW_TEST_PW}\n", "", 0100644), 0);
	ck_assert_str_eq(conf.password.value, "env-secret-value");
	ck_assert_str_eq(conf.password.origin, "env AW_TEST_PW");
	ck_assert_int_eq(apply_mode(tbl, &conf, "password: {env: AW_TEST_PW_UNSET}\n", "", 0100644),
			 -1);
	ck_msg("t.yaml:1:17: password: environment variable AW_TEST_PW_UNSET is not set");
}
END_TEST

START_TEST(inline_secret_needs_a_private_file)
{
	ck_assert_int_eq(apply_mode(tbl, &conf, "password: hunter2-inline\n", "", 0100644), -1);
	ck_msg("t.yaml:1:11: password: inline secret in a file readable by group or others "
	       "(mode 0644); use {file: PATH}, {credential: NAME} or {env: VAR}, or chmod 600 "
	       "t.yaml");
	no_secret_in_errors("hunter2");
	ck_assert_ptr_null(conf.password.value);
	aw_error_list_free(&errs);

	ck_assert_int_eq(apply_mode(tbl, &conf, "password: hunter2-inline\n", "", 0100640), -1);
	ck_assert(contains("(mode 0640)"));
	aw_error_list_free(&errs);

	ck_assert_int_eq(apply_mode(tbl, &conf, "password: hunter2-inline\n", "", 0100600), 0);
	ck_assert_str_eq(conf.password.value, "hunter2-inline");
	ck_assert_str_eq(conf.password.origin, "inline");
}
END_TEST

START_TEST(inline_secret_from_env_reference_is_fine)
{
	setenv("AW_TEST_PW", "env-secret-value", 1);
	ck_assert_int_eq(apply_mode(tbl, &conf, "password: ${AW_TEST_PW}\n", "", 0100644), 0);
	ck_assert_str_eq(conf.password.value, "env-secret-value");
	/* a secret that is only partly from the environment sits in the file */
	ck_assert_int_eq(apply_mode(tbl, &conf, "password: x${AW_TEST_PW}\n", "", 0100644), -1);
	ck_assert(contains("inline secret in a file readable"));
	no_secret_in_errors("env-secret-value");
}
END_TEST

START_TEST(secret_never_in_messages)
{
	char *p = aw_test_write(tmp, "pw", "topsecretvalue", 0600);
	char yaml[512];

	/* the wrong type for every other key must not echo the secret anywhere */
	snprintf(yaml, sizeof yaml, "password: {file: %s}\ncount: many\nsub: {n: x}\n", p);
	ck_assert_int_eq(apply_mode(tbl, &conf, yaml, "", 0100600), -1);
	ck_assert_uint_eq(errs.n, 2);
	no_secret_in_errors("topsecretvalue");
	ck_assert_int_eq(apply_mode(tbl, &conf, "password: [topsecretvalue]\n", "", 0100600), -1);
	no_secret_in_errors("topsecretvalue");
	ck_assert_int_eq(
	    apply_mode(tbl, &conf, "password: {file: [topsecretvalue]}\n", "", 0100600), -1);
	no_secret_in_errors("topsecretvalue");
	free(p);
}
END_TEST

START_TEST(resolved_secrets_are_redacted_in_logs)
{
	char *p = aw_test_write(tmp, "pw", "file-secret-9876\n", 0600);
	char *logp, *text, yaml[512];
	int fd;

	setenv("AW_TEST_PW", "env-secret-value", 1);
	logp = aw_test_write(tmp, "log", "", 0600);
	fd = open(logp, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	aw_log_set_fd(fd);
	snprintf(yaml, sizeof yaml, "password: {file: %s}\n", p);
	ck_assert_int_eq(apply_mode(tbl, &conf, yaml, "", 0100644), 0);
	aw_log(AW_LOG_ERR, "test", "oops", AW_S("value", "x file-secret-9876 y"));
	ck_assert_int_eq(apply_mode(tbl, &conf, "password: {env: AW_TEST_PW}\n", "", 0100644), 0);
	aw_log(AW_LOG_ERR, "test", "oops", AW_S("value", "env-secret-value"));
	close(fd);
	text = aw_test_read(logp, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_null(strstr(text, "file-secret-9876"));
	ck_assert_ptr_null(strstr(text, "env-secret-value"));
	ck_assert_ptr_nonnull(strstr(text, "[REDACTED]"));
	aw_log_redact_clear();
	free(text);
	free(logp);
	free(p);
}
END_TEST

/* --- ${ENV} -------------------------------------------------------------------- */

START_TEST(env_expansion)
{
	setenv("AW_TEST_NAME", "from-env", 1);
	setenv("AW_TEST_EMPTY", "", 1);
	unsetenv("AW_TEST_UNSET");
	ck_assert_int_eq(apply("name: ${AW_TEST_NAME}\n"), 0);
	ck_assert_str_eq(conf.name, "from-env");
	ck_assert(aw_node_get(doc->root, "name")->from_env);

	ck_assert_int_eq(apply("name: a-${AW_TEST_NAME}-b $$HOME $x\n"), 0);
	ck_assert_str_eq(conf.name, "a-from-env-b $HOME $x");
	ck_assert(!aw_node_get(doc->root, "name")->from_env);

	ck_assert_int_eq(apply("name: ${AW_TEST_UNSET:-fallback}\n"), 0);
	ck_assert_str_eq(conf.name, "fallback");
	ck_assert(!aw_node_get(doc->root, "name")->from_env);

	ck_assert_int_eq(apply("name: ${AW_TEST_EMPTY:-fallback}\n"), 0);
	ck_assert_str_eq(conf.name, "fallback");

	ck_assert_int_eq(apply("name: x${AW_TEST_UNSET:-}y\n"), 0);
	ck_assert_str_eq(conf.name, "xy");

	setenv("AW_TEST_COUNT", "55", 1);
	ck_assert_int_eq(apply("count: ${AW_TEST_COUNT}\n"), 0);
	ck_assert_int_eq(conf.count, 55);
}
END_TEST

START_TEST(env_unset_is_an_error)
{
	const char *y = "name: ok\ntags:\n  - ${AW_TEST_UNSET}\n  - ${bad-name}\n  - ${OPEN\n";

	unsetenv("AW_TEST_UNSET");
	ck_assert_int_eq(aw_doc_load_buffer("t.yaml", y, strlen(y), &doc, &errs), -1);
	ck_assert_ptr_null(doc);
	ck_msg("t.yaml:3:5: environment variable AW_TEST_UNSET is not set");
	ck_assert(contains("t.yaml:4:5: invalid environment variable name 'bad-name'"));
	ck_assert(contains("t.yaml:5:5: unterminated ${"));
}
END_TEST

/* --- equal, free, help --------------------------------------------------------- */

START_TEST(equal_compares_every_type)
{
	struct test_conf a = {0}, b = {0};
	const char *y = "name: n\ncount: 3\ntags: [x, y]\npassword: pw-one\nsub: {n: 2}\n";

	ck_assert_int_eq(apply_mode(tbl, &a, y, "", 0100600), 0);
	ck_assert_int_eq(apply_mode(tbl, &b, y, "", 0100600), 0);
	ck_assert(aw_options_equal(tbl, &a, &b));
	aw_options_free(tbl, &b);

	const char *changes[] = {
	    "name: m\ncount: 3\ntags: [x, y]\npassword: pw-one\nsub: {n: 2}\n",
	    "name: n\ncount: 4\ntags: [x, y]\npassword: pw-one\nsub: {n: 2}\n",
	    "name: n\ncount: 3\ntags: [x]\npassword: pw-one\nsub: {n: 2}\n",
	    "name: n\ncount: 3\ntags: [x, z]\npassword: pw-one\nsub: {n: 2}\n",
	    "name: n\ncount: 3\ntags: [x, y]\npassword: pw-two\nsub: {n: 2}\n",
	    "name: n\ncount: 3\ntags: [x, y]\npassword: pw-one\nsub: {n: 1}\n",
	    "name: n\ncount: 3\ntags: [x, y]\npassword: pw-one\nsub: {n: 2}\nmode: fast\n",
	};
	for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
		ck_assert_int_eq(apply_mode(tbl, &b, changes[i], "", 0100600), 0);
		ck_assert_msg(!aw_options_equal(tbl, &a, &b), "change %zu not seen", i);
		aw_options_free(tbl, &b);
	}
	aw_options_free(tbl, &a);
}
END_TEST

START_TEST(free_clears_and_is_idempotent)
{
	ck_assert_int_eq(apply("name: x\ntags: [a]\npassword: pw-value\n"), 0);
	aw_options_free(tbl, &conf);
	ck_assert_ptr_null(conf.name);
	ck_assert_ptr_null(conf.tags.v);
	ck_assert_uint_eq(conf.tags.n, 0);
	ck_assert_ptr_null(conf.password.value);
	ck_assert_ptr_null(conf.password.origin);
	aw_options_free(tbl, &conf);
}
END_TEST

START_TEST(help_lists_keys_defaults_ranges)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	aw_options_print_help(f, tbl, "");
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "  count     (integer, default 10, 1..100)  how many\n"));
	ck_assert_ptr_nonnull(
	    strstr(buf, "  size      (size, default 1MiB, 1KiB..1GiB)  how big\n"));
	ck_assert_ptr_nonnull(
	    strstr(buf, "  timeout   (duration, default 30s, 1s..1h)  how long\n"));
	ck_assert_ptr_nonnull(strstr(buf, "  mode      (fast|safe, default safe)  how\n"));
	ck_assert_ptr_nonnull(strstr(buf, "  sub.n     (integer, default 7)  a number\n"));
	ck_assert_ptr_nonnull(strstr(buf, "  sub.b     (boolean, default false)  a flag\n"));
	ck_assert_ptr_nonnull(strstr(buf, "  password  (secret)  the password\n"));
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	aw_options_print_help(f, req_tbl, "inputs[].file");
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "  inputs[].file.path   (string, required)  where\n"));
	free(buf);
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("parsers");

	tcase_add_test(tc, durations);
	tcase_add_test(tc, sizes);
	tcase_add_test(tc, bools);
	suite_add_tcase(s, tc);

	tc = tcase_create("apply");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, defaults_fill_every_field);
	tcase_add_test(tc, empty_map_and_nulls_keep_defaults);
	tcase_add_test(tc, values_are_applied);
	tcase_add_test(tc, strlist_from_one_scalar);
	tcase_add_test(tc, quoted_empty_string_is_a_value);
	tcase_add_test(tc, unknown_key_with_suggestion);
	tcase_add_test(tc, unknown_key_uses_where);
	tcase_add_test(tc, wrong_types);
	tcase_add_test(tc, out_of_range_says_the_range);
	tcase_add_test(tc, bad_duration_and_size_list_units);
	tcase_add_test(tc, enum_lists_choices);
	tcase_add_test(tc, missing_required_key);
	tcase_add_test(tc, not_a_map);
	tcase_add_test(tc, every_error_is_reported);
	tcase_add_test(tc, env_expansion);
	tcase_add_test(tc, env_unset_is_an_error);
	tcase_add_test(tc, equal_compares_every_type);
	tcase_add_test(tc, free_clears_and_is_idempotent);
	tcase_add_test(tc, help_lists_keys_defaults_ranges);
	suite_add_tcase(s, tc);

	tc = tcase_create("secrets");
	tcase_add_checked_fixture(tc, secret_setup, secret_teardown);
	tcase_add_test(tc, secret_from_file);
	tcase_add_test(tc, secret_file_problems);
	tcase_add_test(tc, secret_from_credential);
	tcase_add_test(tc, secret_from_env);
	tcase_add_test(tc, inline_secret_needs_a_private_file);
	tcase_add_test(tc, inline_secret_from_env_reference_is_fine);
	tcase_add_test(tc, secret_never_in_messages);
	tcase_add_test(tc, resolved_secrets_are_redacted_in_logs);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(options_suite)
