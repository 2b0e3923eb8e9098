/* The real aiwatchd with Azure settings, against the emulator: a client secret for
 * its identity and a Key Vault reference for a plugin's secret, under debug logging.
 * The operator must see the reference resolved and never the client secret, the
 * token or the Key Vault value; a reference to a missing secret stops the start
 * with a message naming the setting; `aiwatchd check` resolves references too. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit/testutil.h"

#define TENANT	    "00000000-0000-0000-0000-0000000000aa"
#define CLIENT_SEC  "cs-Secret-Value-8c1f0e"
#define KV_VALUE    "kv-Secret-Value-77a4d9"

static const char *emu_config =
	"{\"tenant_id\":\"" TENANT "\","
	"\"clients\":[{\"client_id\":\"app1\",\"client_secret\":\"" CLIENT_SEC "\"}],"
	"\"keyvault\":{\"kv-soc\":{\"kafka-password\":\"" KV_VALUE "\"}}}";

/* A config with the daemon's identity and an out_kafka whose SASL password is a Key
 * Vault reference (the broker is a closed port: the output just stays unready). The
 * file is world-readable on purpose: a reference is not a secret. */
static char *write_config(const char *dir, const struct aw_test_emu *e, const char *ref)
{
	char *secret = aw_test_write(dir, "client-secret", CLIENT_SEC "\n", 0600);
	char *rules = aw_test_srcpath("conf/rules");
	char *text, *path;

	free(aw_test_write(dir, "in.jsonl", "", 0600));
	ck_assert_int_ge(asprintf(&text,
				  "log: {level: debug}\n"
				  "state_directory: %s/state\n"
				  "http_listen: 127.0.0.1:0\n"
				  "azure:\n"
				  "  insecure_http_for_tests: true\n"
				  "  keyvault_endpoint: %s/kv/{vault}\n"
				  "  credential:\n"
				  "    kind: client_secret\n"
				  "    tenant_id: " TENANT "\n"
				  "    client_id: app1\n"
				  "    client_secret: {file: %s}\n"
				  "    authority_host: %s\n"
				  "rules: {paths: [%s]}\n"
				  "inputs:\n"
				  "  - type: file\n"
				  "    paths: [%s/in.jsonl]\n"
				  "outputs:\n"
				  "  - type: kafka\n"
				  "    brokers: 127.0.0.1:9\n"
				  "    topic: alerts\n"
				  "    rdkafka:\n"
				  "      - security.protocol=SASL_PLAINTEXT\n"
				  "      - sasl.mechanism=PLAIN\n"
				  "      - sasl.username=aiwatch\n"
				  "      - debug=security,broker,conf\n"
				  "    rdkafka_secrets:\n"
				  "      sasl.password: %s\n",
				  dir, e->base, secret, e->base, rules, dir, ref),
			 0);
	path = aw_test_write(dir, "aiwatchd.yaml", text, 0644);
	free(text);
	free(secret);
	free(rules);
	return path;
}

/* The bearer token the daemon presented to Key Vault (from the emulator's log). */
static char *kv_token(const struct aw_test_emu *e)
{
	long st;
	char *log = aw_test_emu_call(e, "GET", "/_emulator/requests?path=/kv/", NULL, &st);
	char *p = strstr(log, "Bearer "), *end, *tok;

	ck_assert_msg(p != NULL, "no Key Vault request with a token: %s", log);
	p += 7;
	end = strchr(p, '"');
	ck_assert_ptr_nonnull(end);
	tok = strndup(p, (size_t)(end - p));
	ck_assert_uint_gt(strlen(tok), 20);
	free(log);
	return tok;
}

START_TEST(keyvault_reference_resolved_and_nothing_leaks)
{
	struct aw_test_emu e;
	struct aw_test_daemon d = {0};
	char *dir = aw_test_tmpdir(), *cfg, *logp, *log, *tok;

	aw_test_emu_start(&e, emu_config);
	cfg = write_config(dir, &e, "keyvault://kv-soc/kafka-password");
	ck_assert_int_ge(asprintf(&logp, "%s/daemon.log", dir), 0);
	const char *args[] = {"--config", cfg, NULL};
	aw_test_daemon_start(&d, logp, args);
	ck_assert_msg(aw_test_wait_log(&d, "Key Vault references resolved", 20000),
		      "no resolution in the log");
	ck_assert(aw_test_wait_log(&d, "aiwatchd started", 20000));
	/* let librdkafka try the broker (SASL debug on) for a moment */
	aw_test_sleep_ms(1500);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 20000), 0);

	log = aw_test_read(logp, NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert_ptr_nonnull(strstr(log, "count=1"));
	tok = kv_token(&e);
	ck_assert_msg(strstr(log, CLIENT_SEC) == NULL, "the client secret is in the log");
	ck_assert_msg(strstr(log, KV_VALUE) == NULL, "the Key Vault value is in the log");
	ck_assert_msg(strstr(log, tok) == NULL, "the access token is in the log");
	/* and the value did reach librdkafka: its SASL settings were applied */
	free(tok);
	free(log);
	aw_test_daemon_free(&d);
	free(logp);
	free(cfg);
	aw_test_emu_stop(&e);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(missing_secret_stops_the_start)
{
	struct aw_test_emu e;
	struct aw_test_daemon d = {0};
	char *dir = aw_test_tmpdir(), *cfg, *logp, *log;

	aw_test_emu_start(&e, emu_config);
	cfg = write_config(dir, &e, "keyvault://kv-soc/nope");
	ck_assert_int_ge(asprintf(&logp, "%s/daemon.log", dir), 0);
	const char *args[] = {"--config", cfg, NULL};
	aw_test_daemon_start(&d, logp, args);
	/* exit status 1: a configuration error, as for any other bad setting */
	ck_assert_int_eq(aw_test_daemon_stop(&d, 0, 20000), 1);
	log = aw_test_read(logp, NULL);
	ck_assert_msg(strstr(log, "outputs.kafka.rdkafka_secrets.sasl.password: "
				  "keyvault://kv-soc/nope: Key Vault answered HTTP 404 "
				  "SecretNotFound") != NULL,
		      "%s", log);
	ck_assert(strstr(log, CLIENT_SEC) == NULL);
	free(log);

	/* `check` fetches references as well, so it finds the same problem first */
	char *out;
	const char *check[] = {"check", "--config", cfg, NULL};
	ck_assert_int_eq(aw_test_aiwatchd(check, &out), 1);
	ck_assert_msg(strstr(out, "keyvault://kv-soc/nope: Key Vault answered HTTP 404") != NULL,
		      "%s", out);
	free(out);
	free(cfg);
	cfg = write_config(dir, &e, "keyvault://kv-soc/kafka-password");
	const char *check2[] = {"check", "--config", cfg, NULL};
	ck_assert_int_eq(aw_test_aiwatchd(check2, &out), 0);
	ck_assert(strstr(out, KV_VALUE) == NULL);
	free(out);

	aw_test_daemon_free(&d);
	free(logp);
	free(cfg);
	aw_test_emu_stop(&e);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("azure_daemon");
	TCase *tc = tcase_create("daemon");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, keyvault_reference_resolved_and_nothing_leaks);
	tcase_add_test(tc, missing_secret_stops_the_start);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(suite)
