/* Key Vault secret references: what counts as a reference, and fetching them from the
 * emulator over real HTTP with a client-secret credential. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "keyvault.h"
#include "testutil.h"

#define TENANT "00000000-0000-0000-0000-0000000000aa"

static void ck_ref(const char *text, int want, const char *vault, const char *name,
		   const char *version)
{
	struct aw_kv_ref r;
	char why[256] = "";
	int rc = aw_kv_ref_parse(text, &r, why, sizeof why);

	ck_assert_msg(rc == want, "%s: got %d (%s), want %d", text, rc, why, want);
	if (rc == 1) {
		ck_assert_str_eq(r.vault, vault);
		ck_assert_str_eq(r.name, name);
		ck_assert_str_eq(r.version, version);
	}
	if (rc < 0)
		ck_assert_msg(why[0] != '\0', "%s: no reason given", text);
}

START_TEST(references)
{
	ck_ref("keyvault://kv-soc/kafka-password", 1, "kv-soc", "kafka-password", "");
	ck_ref("keyvault://kv-soc/kafka-password/0123abcd", 1, "kv-soc", "kafka-password",
	       "0123abcd");
	ck_ref("https://kv-soc.vault.azure.net/secrets/client-secret", 1, "kv-soc.vault.azure.net",
	       "client-secret", "");
	ck_ref("https://kv-gov.vault.usgovcloudapi.net/secrets/x/", 1, "kv-gov.vault.usgovcloudapi.net",
	       "x", "");
	/* not references: plain secrets that happen to look like text or URLs */
	ck_ref("hunter2", 0, NULL, NULL, NULL);
	ck_ref("https://example.com/secrets/x", 0, NULL, NULL, NULL);
	ck_ref("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=abc", 0, NULL, NULL, NULL);
	/* references that are wrong: an error, never silently a literal secret */
	ck_ref("keyvault://kv/name", -1, NULL, NULL, NULL); /* vault name too short */
	ck_ref("keyvault://kv-soc", -1, NULL, NULL, NULL);
	ck_ref("keyvault://kv-soc/", -1, NULL, NULL, NULL);
	ck_ref("keyvault://kv-soc/bad_name", -1, NULL, NULL, NULL);
	ck_ref("keyvault://kv-soc/a/b/c", -1, NULL, NULL, NULL);
}
END_TEST

static const char *emu_config =
	"{\"tenant_id\":\"" TENANT "\","
	"\"clients\":[{\"client_id\":\"app1\",\"client_secret\":\"s3cr3t-client\"}],"
	"\"keyvault\":{\"kv-soc\":{\"kafka-password\":\"kv-value-1\",\"other\":\"kv-value-2\"}}}";

static struct aw_credential_conf cred(const struct aw_test_emu *e, char *authority)
{
	struct aw_credential_conf c = {0};

	c.kind = "client_secret";
	c.tenant_id = TENANT;
	c.client_id = "app1";
	c.client_secret.value = "s3cr3t-client";
	c.authority_host = authority;
	c.refresh_before_ms = 300000;
	snprintf(authority, 64, "%s", e->base);
	return c;
}

START_TEST(fetch_from_emulator)
{
	struct aw_test_emu e;
	char authority[64], endpoint[128];
	struct aw_error_list errs = {0};

	aw_test_emu_start(&e, emu_config);
	struct aw_credential_conf c = cred(&e, authority);
	snprintf(endpoint, sizeof endpoint, "%s/kv/{vault}", e.base);
	struct aw_kv_conf kc = {.credential = &c, .endpoint = endpoint,
				.insecure_http_for_tests = true};
	struct aw_kv_item items[2] = {{.key = "outputs[0].rdkafka_secrets.sasl.password"},
				      {.key = "azure.credential.client_secret"}};
	char why[128];
	ck_assert_int_eq(aw_kv_ref_parse("keyvault://kv-soc/kafka-password", &items[0].ref, why,
					 sizeof why), 1);
	ck_assert_int_eq(aw_kv_ref_parse("keyvault://kv-soc/other", &items[1].ref, why, sizeof why),
			 1);
	ck_assert_int_eq(aw_kv_fetch_all(&kc, items, 2, &errs), 0);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_str_eq(items[0].value, "kv-value-1");
	ck_assert_str_eq(items[1].value, "kv-value-2");
	free(items[0].value);
	free(items[1].value);

	/* one token for both secrets, and each GET carried it */
	long st;
	char *log = aw_test_emu_call(&e, "GET", "/_emulator/requests?path=/kv/", NULL, &st);
	ck_assert_int_eq(st, 200);
	ck_assert_ptr_nonnull(strstr(log, "/kv/kv-soc/secrets/kafka-password"));
	ck_assert_ptr_nonnull(strstr(log, "api-version=7.4"));
	free(log);
	log = aw_test_emu_call(&e, "GET", "/_emulator/stats", NULL, &st);
	ck_assert_ptr_nonnull(strstr(log, "\"entra\":1"));
	free(log);
	aw_test_emu_stop(&e);
}
END_TEST

START_TEST(missing_secret_is_a_clear_error)
{
	struct aw_test_emu e;
	char authority[64], endpoint[128], why[128];
	struct aw_error_list errs = {0};

	aw_test_emu_start(&e, emu_config);
	struct aw_credential_conf c = cred(&e, authority);
	snprintf(endpoint, sizeof endpoint, "%s/kv/{vault}", e.base);
	struct aw_kv_conf kc = {.credential = &c, .endpoint = endpoint,
				.insecure_http_for_tests = true};
	struct aw_kv_item item = {.key = "outputs[0].rdkafka_secrets.sasl.password"};
	ck_assert_int_eq(aw_kv_ref_parse("keyvault://kv-soc/nope", &item.ref, why, sizeof why), 1);
	ck_assert_int_eq(aw_kv_fetch_all(&kc, &item, 1, &errs), -1);
	ck_assert_ptr_null(item.value);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_msg(strstr(errs.msgs[0], "outputs[0].rdkafka_secrets.sasl.password: "
					   "keyvault://kv-soc/nope: Key Vault answered HTTP 404 "
					   "SecretNotFound") != NULL,
		      "%s", errs.msgs[0]);
	aw_error_list_free(&errs);

	/* a credential Entra refuses: the error names it, never the secret */
	c.client_secret.value = "wrong";
	ck_assert_int_eq(aw_kv_fetch_all(&kc, &item, 1, &errs), -1);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "AADSTS7000215"));
	ck_assert_ptr_null(strstr(errs.msgs[0], "wrong"));
	aw_error_list_free(&errs);
	aw_test_emu_stop(&e);
}
END_TEST

/* Times (ms) of the emulator's logged requests under prefix, oldest first. */
static size_t request_times(const struct aw_test_emu *e, const char *prefix, long long *t,
			    size_t cap)
{
	char path[256];
	long st;
	size_t n = 0;

	snprintf(path, sizeof path, "/_emulator/requests?path=%s", prefix);
	char *text = aw_test_emu_call(e, "GET", path, NULL, &st);
	json_object *arr = json_tokener_parse(text);
	ck_assert_ptr_nonnull(arr);
	for (size_t i = 0; i < json_object_array_length(arr) && n < cap; i++) {
		json_object *tm;
		if (json_object_object_get_ex(json_object_array_get_idx(arr, i), "time_ms", &tm))
			t[n++] = json_object_get_int64(tm);
	}
	json_object_put(arr);
	free(text);
	return n;
}

/* The shared retry policy, seen on the wire: a 429 whose Retry-After is an HTTP-date
 * is not retried before that date; 503s back off and the call still succeeds; an
 * expired token is refreshed once and the request repeated. */
START_TEST(retry_policy_on_the_wire)
{
	struct aw_test_emu e;
	char authority[64], endpoint[128], why[128];
	struct aw_error_list errs = {0};
	long long t[8];
	long st;

	aw_test_emu_start(&e, emu_config);
	struct aw_credential_conf c = cred(&e, authority);
	snprintf(endpoint, sizeof endpoint, "%s/kv/{vault}", e.base);
	struct aw_kv_conf kc = {.credential = &c, .endpoint = endpoint,
				.insecure_http_for_tests = true};
	struct aw_kv_item item = {.key = "k"};
	ck_assert_int_eq(aw_kv_ref_parse("keyvault://kv-soc/kafka-password", &item.ref, why,
					 sizeof why), 1);

	/* 429 with Retry-After as a date 2 s ahead (whole seconds: at least 1 s later) */
	free(aw_test_emu_call(&e, "POST", "/_emulator/faults",
			      "{\"path\":\"/kv/\",\"status\":429,\"retry_after_date_s\":2}", &st));
	ck_assert_int_eq(st, 200);
	ck_assert_int_eq(aw_kv_fetch_all(&kc, &item, 1, &errs), 0);
	ck_assert_str_eq(item.value, "kv-value-1");
	free(item.value);
	item.value = NULL;
	ck_assert_uint_eq(request_times(&e, "/kv/", t, 8), 2);
	ck_assert_msg(t[1] - t[0] >= 1000, "second attempt %lld ms after a 429 with a date",
		      t[1] - t[0]);

	/* two 503s, then success: three attempts, the gaps growing from zero */
	free(aw_test_emu_call(&e, "POST", "/_emulator/reset", "", &st));
	free(aw_test_emu_call(&e, "POST", "/_emulator/faults",
			      "{\"path\":\"/kv/\",\"status\":503,\"times\":2}", &st));
	ck_assert_int_eq(aw_kv_fetch_all(&kc, &item, 1, &errs), 0);
	free(item.value);
	item.value = NULL;
	ck_assert_uint_eq(request_times(&e, "/kv/", t, 8), 3);

	/* the resource calls the token expired: one new token, one repeat, success */
	free(aw_test_emu_call(&e, "POST", "/_emulator/reset", "", &st));
	free(aw_test_emu_call(&e, "POST", "/_emulator/faults",
			      "{\"path\":\"/kv/\",\"action\":\"expired_token\"}", &st));
	ck_assert_int_eq(aw_kv_fetch_all(&kc, &item, 1, &errs), 0);
	free(item.value);
	ck_assert_uint_eq(request_times(&e, "/kv/", t, 8), 2);
	ck_assert_uint_eq(errs.n, 0);
	aw_test_emu_stop(&e);
}
END_TEST

START_TEST(unreachable_vault_times_out)
{
	char why[128];
	struct aw_error_list errs = {0};
	struct aw_credential_conf c = {.kind = "client_secret", .tenant_id = TENANT,
				       .client_id = "app1", .refresh_before_ms = 300000};
	c.client_secret.value = "x";
	/* a port nothing listens on: the token request fails fast */
	c.authority_host = "http://127.0.0.1:9";
	struct aw_kv_conf kc = {.credential = &c, .endpoint = "http://127.0.0.1:9/kv/{vault}",
				.insecure_http_for_tests = true, .timeout_ms = 5000};
	struct aw_kv_item item = {.key = "k"};
	ck_assert_int_eq(aw_kv_ref_parse("keyvault://kv-soc/x", &item.ref, why, sizeof why), 1);
	ck_assert_int_eq(aw_kv_fetch_all(&kc, &item, 1, &errs), -1);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "k: keyvault://kv-soc/x: "));
	aw_error_list_free(&errs);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("keyvault");
	TCase *tc = tcase_create("keyvault");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, references);
	tcase_add_test(tc, fetch_from_emulator);
	tcase_add_test(tc, missing_secret_is_a_clear_error);
	tcase_add_test(tc, retry_policy_on_the_wire);
	tcase_add_test(tc, unreachable_vault_times_out);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(suite)
