/* The real aiwatchd polling the emulator's Log Analytics workspace, killed with SIGKILL
 * between polls (and during them) while records keep arriving late, restarted each
 * time: every record produces its alert, and an alert produced twice carries the same
 * AlertId. */
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../unit/testutil.h"

#define TENANT	  "00000000-0000-0000-0000-0000000000aa"
#define WS	  "22222222-3333-4444-8555-666666666666"
#define ROUNDS	  4
#define PER_ROUND 6

static const char rule[] = "title: Secret read (daemon test)\n"
			   "id: 6b6b6b6b-0000-4000-8000-00000000beef\n"
			   "level: low\n"
			   "logsource: {product: azure, service: keyvault}\n"
			   "detection:\n  sel: {OperationName: SecretGet}\n  condition: sel\n";

static void iso(time_t t, int ms, char out[40])
{
	struct tm tm;
	char day[24];

	gmtime_r(&t, &tm);
	strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%.19s.%03d0000Z", day, ms % 1000);
}

/* Key Vault reads ingested `late_s` seconds after their TimeGenerated, the ingestion
 * time `ago_ms` before now. */
static char *rows(int from, int n, int ago_ms, int late_s)
{
	char *acc = strdup(""), *s;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	for (int i = from; i < from + n; i++) {
		long long ing_ms =
		    (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 - ago_ms + (i - from) * 50;
		char ing[40], tg[40];
		iso((time_t)(ing_ms / 1000), (int)(ing_ms % 1000), ing);
		iso((time_t)(ing_ms / 1000 - late_s), (int)(ing_ms % 1000), tg);
		ck_assert_int_ge(
		    asprintf(
			&s,
			"%s%s\"kv-%d\":{\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":\"%s\","
			"\"_ItemId\":\"kv-%d\",\"ingestion_time\":\"%s\","
			"\"ResourceProvider\":\"MICROSOFT.KEYVAULT\",\"Category\":\"AuditEvent\","
			"\"OperationName\":\"SecretGet\",\"ResultType\":\"Success\","
			"\"Resource\":\"KV-SOC\",\"identity_claim_oid_g\":\"oid-%d\"}",
			acc, *acc ? "," : "", i, tg, i, ing, i % 3),
		    0);
		free(acc);
		acc = s;
	}
	return acc;
}

static void add_rows(const struct aw_test_emu *e, char *r)
{
	char *body;
	long st;

	ck_assert_int_ge(asprintf(&body, "{\"loganalytics\":{\"" WS "\":{\"rows\":{%s}}}}", r), 0);
	free(aw_test_emu_call(e, "POST", "/_emulator/config", body, &st));
	ck_assert_int_eq(st, 200);
	free(body);
	free(r);
}

/* AlertIds by _ItemId from the output file; every duplicate must agree. */
static size_t check_alerts(const char *path, json_object *ids)
{
	char *text = aw_test_read(path, NULL), *line = text, *nl;
	size_t lines = 0;

	for (; line && *line; line = nl ? nl + 1 : NULL) {
		json_object *o, *id, *ev, *items, *prev;
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		o = json_tokener_parse(line);
		if (!o)
			continue; /* a line cut by SIGKILL is delivered again whole */
		lines++;
		ck_assert(json_object_object_get_ex(o, "AlertId", &id));
		ck_assert(json_object_object_get_ex(o, "Evidence", &ev));
		ck_assert(json_object_object_get_ex(ev, "ItemIds", &items));
		const char *item = json_object_get_string(json_object_array_get_idx(items, 0));
		if (json_object_object_get_ex(ids, item, &prev))
			ck_assert_str_eq(json_object_get_string(prev), json_object_get_string(id));
		else
			json_object_object_add(ids, item,
					       json_object_new_string(json_object_get_string(id)));
		json_object_put(o);
	}
	free(text);
	return lines;
}

static void assert_no_secret(const char *logp)
{
	char *log = aw_test_read(logp, NULL);

	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, "la-Secret-9f") == NULL, "the client secret is in %s", logp);
	free(log);
}

START_TEST(kill_9_between_polls_loses_no_record)
{
	struct aw_test_emu e;
	char *dir = aw_test_tmpdir(), *cfg, *yaml, *out, *logp, *secret, *rules, *emu_cfg;
	json_object *ids;
	unsigned seed = (unsigned)time(NULL);
	char *first = rows(0, PER_ROUND, 20000, 600);

	ck_assert_int_ge(asprintf(&emu_cfg,
				  "{\"tenant_id\":\"" TENANT
				  "\",\"clients\":[{\"client_id\":\"app1\","
				  "\"client_secret\":\"la-Secret-9f\"}],\"loganalytics\":{\"" WS
				  "\":{\"rows\":{%s}}}}",
				  first),
			 0);
	free(first);
	aw_test_emu_start(&e, emu_cfg);
	secret = aw_test_write(dir, "client-secret", "la-Secret-9f\n", 0600);
	ck_assert_int_ge(asprintf(&rules, "%s/rules", dir), 0);
	ck_assert_int_eq(mkdir(rules, 0700), 0);
	free(aw_test_write(rules, "kv.yml", rule, 0600));
	ck_assert_int_ge(asprintf(&out, "%s/alerts.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&yaml,
				  "state_directory: %s/state\n"
				  "http_listen: 127.0.0.1:0\n"
				  "azure:\n"
				  "  insecure_http_for_tests: true\n"
				  "  credential:\n"
				  "    kind: client_secret\n"
				  "    tenant_id: " TENANT "\n"
				  "    client_id: app1\n"
				  "    client_secret: {file: %s}\n"
				  "    authority_host: %s\n"
				  "rules: {paths: [%s]}\n"
				  "inputs:\n"
				  "  - type: loganalytics\n"
				  "    name: la\n"
				  "    workspace_id: " WS "\n"
				  "    endpoint: %s\n"
				  "    interval: 300ms\n"
				  "    settle_delay: 1s\n"
				  "    overlap: 20s\n"
				  "    row_cap: 4\n"
				  "outputs:\n"
				  "  - type: file\n"
				  "    name: alerts\n"
				  "    path: %s\n",
				  dir, secret, e.base, rules, e.base, out),
			 0);
	cfg = aw_test_write(dir, "aiwatchd.yaml", yaml, 0600);

	for (int round = 0; round < ROUNDS; round++) {
		struct aw_test_daemon d = {0};
		const char *args[] = {"--config", cfg, NULL};
		ck_assert_int_ge(asprintf(&logp, "%s/daemon-%d.log", dir, round), 0);
		/* records that arrive while it runs: some already behind the watermark */
		if (round > 0)
			add_rows(&e, rows(round * PER_ROUND, PER_ROUND, 1500, 300 + round * 60));
		aw_test_daemon_start(&d, logp, args);
		ck_assert(aw_test_wait_log(&d, "aiwatchd started", 20000));
		/* somewhere in its first second or two: between polls, or during one */
		aw_test_sleep_ms(900 + (int)(rand_r(&seed) % 900));
		ck_assert_int_eq(aw_test_daemon_stop(&d, SIGKILL, 10000), 128 + SIGKILL);
		aw_test_daemon_free(&d);
		assert_no_secret(logp);
		free(logp);
	}

	/* a last run that is allowed to finish */
	struct aw_test_daemon d = {0};
	const char *args[] = {"--config", cfg, NULL};
	ck_assert_int_ge(asprintf(&logp, "%s/daemon-last.log", dir), 0);
	aw_test_daemon_start(&d, logp, args);
	unsigned port = aw_test_daemon_port(&d);
	size_t want = ROUNDS * PER_ROUND;
	ids = json_object_new_object();
	for (int waited = 0; waited < 30000; waited += 200) {
		json_object_put(ids);
		ids = json_object_new_object();
		check_alerts(out, ids);
		if ((size_t)json_object_object_length(ids) >= want)
			break;
		aw_test_sleep_ms(200);
	}
	ck_assert_msg((size_t)json_object_object_length(ids) == want,
		      "alerts for %d of %zu records", json_object_object_length(ids), want);
	/* The last run resumed and polled the workspace. (It may read no new row: the
	 * killed runs can have made every record durable already, and rows re-read in the
	 * overlap count as duplicates.) */
	double polls = 0;
	for (int waited = 0; waited < 20000 && polls < 1; waited += 100) {
		polls = aw_test_metric(port,
				       "aiwatch_loganalytics_queries_total{input=\"la\",result=\"ok\"}");
		if (polls < 1)
			aw_test_sleep_ms(100);
	}
	ck_assert_double_ge(polls, 1);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 20000), 0);
	aw_test_daemon_free(&d);

	char *log = aw_test_read(logp, NULL);
	ck_assert_ptr_nonnull(strstr(log, "resuming from checkpoint"));
	free(log);
	assert_no_secret(logp);
	json_object_put(ids);
	aw_test_emu_stop(&e);
	aw_test_rmtree(dir);
	free(dir);
	free(cfg);
	free(yaml);
	free(out);
	free(logp);
	free(secret);
	free(rules);
	free(emu_cfg);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("loganalytics_daemon");
	TCase *tc = tcase_create("crash");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, kill_9_between_polls_loses_no_record);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(suite)
