/* aiwatchd with the shipped rule pack, as a SOC runs it: records in, alerts out, and
 * a crash (kill -9) followed by a restart produces the same AlertIds for what it
 * evaluates twice, so the SIEM can de-duplicate. */
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../unit/testutil.h"

static char *config(const char *dir, const char *input, const char *out)
{
	char *yaml, *path, *rules = aw_test_srcpath("conf/rules");

	ck_assert_int_ge(asprintf(&yaml,
				  "state_directory: %s/state\n"
				  "http_listen: 127.0.0.1:0\n"
				  "shutdown_timeout: 5s\n"
				  "rules:\n  paths: [%s]\n  allowed_lateness: 10m\n"
				  "inputs:\n"
				  "  - type: file\n    name: in\n    paths: [%s]\n"
				  "    poll_interval: 50ms\n"
				  "outputs:\n"
				  "  - type: file\n    name: out\n    path: %s\n",
				  dir, rules, input, out),
			 0);
	path = aw_test_write(dir, "aiwatchd.yaml", yaml, 0600);
	free(yaml);
	free(rules);
	return path;
}

/* AlertIds in an output file, one per line, as a JSON array of strings. */
static struct json_object *alert_ids(const char *path)
{
	struct json_object *ids = json_object_new_array();
	char *text = aw_test_read(path, NULL);

	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		struct json_object *o = json_tokener_parse(line), *v;
		ck_assert_msg(o != NULL, "not JSON: %s", line);
		ck_assert(json_object_object_get_ex(o, "AlertId", &v));
		json_object_array_add(ids, json_object_new_string(json_object_get_string(v)));
		json_object_put(o);
		line = nl ? nl + 1 : NULL;
	}
	free(text);
	return ids;
}

static bool contains(struct json_object *arr, const char *s)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s) == 0)
			return true;
	return false;
}

START_TEST(rule_pack_alerts_and_stable_ids_across_kill9)
{
	char *dir = aw_test_tmpdir(), *input, *out, *cfg, *logp;
	char *src = aw_test_srcpath("tests/data/scenarios/demo-foundation.jsonl");
	char *records = aw_test_read(src, NULL);
	struct aw_test_daemon d;
	struct json_object *first, *second;
	size_t n1;

	ck_assert_ptr_nonnull(records);
	ck_assert_int_ge(asprintf(&input, "%s/input.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&out, "%s/alerts.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&logp, "%s/daemon.log", dir), 0);
	free(aw_test_write(NULL, input, records, 0600));
	cfg = config(dir, input, out);
	const char *args[] = {"--config", cfg, NULL};

	aw_test_daemon_start(&d, logp, args);
	aw_test_daemon_port(&d);
	/* The demo story raises at least the key listing and the Defender AI alert. */
	n1 = aw_test_wait_lines(out, 2, 15000);
	ck_assert_uint_ge(n1, 2);
	aw_test_sleep_ms(300);
	first = alert_ids(out);
	ck_assert_double_ge(aw_test_metric(d.port, "aiwatch_rules_loaded"), 10);

	/* Crash before the checkpoint is written (it is written at most once a second),
	 * restart: records may be evaluated again, and every alert that comes out again
	 * carries the id it had. */
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGKILL, 5000), 128 + SIGKILL);
	aw_test_daemon_free(&d);
	aw_test_daemon_start(&d, logp, args);
	aw_test_daemon_port(&d);
	aw_test_sleep_ms(1500);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 10000), 0);
	second = alert_ids(out);
	ck_assert_uint_ge(json_object_array_length(second), json_object_array_length(first));
	for (size_t i = 0; i < json_object_array_length(second); i++)
		ck_assert_msg(contains(first, json_object_get_string(
						      json_object_array_get_idx(second, i))),
			      "alert %s after the restart was not raised before",
			      json_object_get_string(json_object_array_get_idx(second, i)));
	json_object_put(first);
	json_object_put(second);
	aw_test_daemon_free(&d);
	aw_test_rmtree(dir);
	free(dir);
	free(input);
	free(out);
	free(cfg);
	free(logp);
	free(src);
	free(records);
}
END_TEST

static const char vault_rule[] =
	"title: Vault secret read\n"
	"id: 7a7a7a7a-0000-4000-8000-000000000001\n"
	"logsource: {product: azure, service: keyvault}\n"
	"detection:\n  sel: {OperationName: SecretGet}\n  condition: sel\n";

static char *vault_line(int n)
{
	char *s;

	ck_assert_int_ge(asprintf(&s,
				  "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretGet\","
				  "\"TimeGenerated\":\"2026-11-20T10:00:%02dZ\",\"_ItemId\":\"v-%d\"}\n",
				  n % 60, n),
			 0);
	return s;
}

START_TEST(reload_with_a_broken_rule_keeps_the_running_rules)
{
	char *dir = aw_test_tmpdir(), *rules, *input, *out, *logp, *yaml, *cfg, *l;
	struct aw_test_daemon d;

	ck_assert_int_ge(asprintf(&rules, "%s/rules", dir), 0);
	ck_assert_int_eq(mkdir(rules, 0700), 0);
	free(aw_test_write(rules, "vault.yml", vault_rule, 0600));
	ck_assert_int_ge(asprintf(&input, "%s/in.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&out, "%s/alerts.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&logp, "%s/daemon.log", dir), 0);
	free(aw_test_write(NULL, input, "", 0600));
	ck_assert_int_ge(asprintf(&yaml,
				  "state_directory: %s/state\nhttp_listen: 127.0.0.1:0\n"
				  "rules:\n  paths: [%s]\n"
				  "inputs:\n  - type: file\n    name: in\n    paths: [%s]\n"
				  "    poll_interval: 50ms\n"
				  "outputs:\n  - type: file\n    name: out\n    path: %s\n",
				  dir, rules, input, out),
			 0);
	cfg = aw_test_write(dir, "aiwatchd.yaml", yaml, 0600);
	const char *args[] = {"--config", cfg, NULL};
	aw_test_daemon_start(&d, logp, args);
	aw_test_daemon_port(&d);

	/* Break the rule file (an unknown modifier) and reload: rejected, old rules run. */
	free(aw_test_write(rules, "vault.yml",
			   "title: Vault secret read\nid: 7a7a7a7a-0000-4000-8000-000000000001\n"
			   "logsource: {product: azure, service: keyvault}\n"
			   "detection:\n  sel: {OperationName|contain: SecretGet}\n"
			   "  condition: sel\n",
			   0600));
	kill(d.pid, SIGHUP);
	ck_assert_msg(aw_test_wait_log(&d, "reload rejected", 10000), "reload not rejected");
	ck_assert_msg(aw_test_wait_log(&d, "unknown modifier", 1000), "reason not logged");
	l = vault_line(1);
	free(aw_test_write(NULL, input, l, 0600));
	free(l);
	ck_assert_uint_eq(aw_test_wait_lines(out, 1, 10000), 1);
	ck_assert_double_eq(aw_test_metric(d.port, "aiwatch_reloads_total{result=\"failure\"}"), 1);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 10000), 0);
	aw_test_daemon_free(&d);
	aw_test_rmtree(dir);
	free(dir);
	free(rules);
	free(input);
	free(out);
	free(logp);
	free(yaml);
	free(cfg);
}
END_TEST

static Suite *detect_suite(void)
{
	Suite *s = suite_create("detect");
	TCase *tc = tcase_create("daemon");

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, rule_pack_alerts_and_stable_ids_across_kill9);
	tcase_add_test(tc, reload_with_a_broken_rule_keeps_the_running_rules);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(detect_suite)
