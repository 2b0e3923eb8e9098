/* Entra credentials against the Azure emulator, in-process: a uv loop running aw_http
 * and aw_auth, the emulator ($AW_EMULATOR) as a child process. Every credential kind
 * gets a token and the emulator's request log shows the wire form; a burst of callers
 * costs one token request; refresh ahead of expiry, a failed early refresh, a 401 from
 * Key Vault, IMDS 410/429, a rotated federated token file and a wrong secret behave as
 * auth.h says. The test never prints a token or a request body. */
#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "../unit/testutil.h"
#include "auth_int.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "options.h"

#define TENANT "00000000-0000-0000-0000-0000000000aa"
#define VAULT_SCOPE "https://vault.azure.net/.default"
#define ARM_SCOPE "https://management.azure.com/.default"
#define SECRET_VALUE "s3cret-value-1"
#define USER_MI_RES "/subscriptions/s1/resourcegroups/g1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u1"

static char *dir;
static pid_t emu_pid;
static unsigned emu_port;
static char emu_base[64];

/* --- the emulator ------------------------------------------------------------------ */

struct buf {
	char *p;
	size_t n;
};

static size_t on_body(char *data, size_t sz, size_t nm, void *ud)
{
	struct buf *b = ud;
	char *np = realloc(b->p, b->n + sz * nm + 1);

	ck_assert_ptr_nonnull(np);
	b->p = np;
	memcpy(b->p + b->n, data, sz * nm);
	b->n += sz * nm;
	b->p[b->n] = '\0';
	return sz * nm;
}

/* A control request (blocking; the loop is not running meanwhile). Returns the body. */
static char *emu_call(const char *method, const char *path, const char *body, long *status)
{
	CURL *c = curl_easy_init();
	struct buf b = {calloc(1, 1), 0};
	char url[512];
	long st = 0;

	snprintf(url, sizeof url, "%s%s", emu_base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	curl_easy_cleanup(c);
	if (status)
		*status = st;
	return b.p;
}

static void emu_post(const char *path, const char *json)
{
	long st;
	char *r = emu_call("POST", path, json, &st);

	ck_assert_msg(st == 200, "POST %s: %ld %s", path, st, r);
	free(r);
}

/* The logged requests whose path starts with prefix (a JSON array; put() it). */
static json_object *emu_requests(const char *prefix)
{
	char path[512];
	char *text;
	json_object *arr;

	snprintf(path, sizeof path, "/_emulator/requests?path=%s", prefix);
	text = emu_call("GET", path, NULL, NULL);
	arr = json_tokener_parse(text);
	free(text);
	ck_assert_ptr_nonnull(arr);
	ck_assert(json_object_is_type(arr, json_type_array));
	return arr;
}

static size_t emu_count(const char *prefix)
{
	json_object *a = emu_requests(prefix);
	size_t n = json_object_array_length(a);

	json_object_put(a);
	return n;
}

static const char *field(json_object *req, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static const char *header(json_object *req, const char *name)
{
	json_object *h;

	if (!json_object_object_get_ex(req, "headers", &h))
		return NULL;
	json_object_object_foreach(h, k, v)
	{
		if (strcasecmp(k, name) == 0)
			return json_object_get_string(v);
	}
	return NULL;
}

/* Form field of a logged body, still URL-encoded, or NULL. */
static char *form_field(json_object *req, const char *key)
{
	const char *body = field(req, "body"), *p = body;
	size_t kl = strlen(key);

	while (p && *p) {
		const char *end = strchr(p, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=')
			return strndup(p + kl + 1, n - kl - 1);
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

static void expect_form(json_object *req, const char *key, const char *want)
{
	char *v = form_field(req, key);

	ck_assert_msg(v != NULL, "form field %s missing", key);
	/* secrets are compared, never printed */
	ck_assert_msg(strcmp(v, want) == 0, "form field %s has another value", key);
	free(v);
}

static bool query_has(json_object *req, const char *kv)
{
	const char *q = field(req, "query");
	size_t n = strlen(kv);

	for (const char *p = q; (p = strstr(p, kv)); p++)
		if ((p == q || p[-1] == '&' || p[-1] == '?') && (p[n] == '&' || p[n] == '\0'))
			return true;
	return false;
}

/* A fresh RSA key and self-signed certificate: client.pem (key + cert, for the daemon)
 * and cert.pem (certificate only, for the emulator). */
static void make_cert(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	X509 *x = X509_new();
	char path[512];
	FILE *f;

	ck_assert_ptr_nonnull(k);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"aiwatch-it", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	ck_assert_int_gt(X509_sign(x, k, EVP_sha256()), 0);
	snprintf(path, sizeof path, "%s/client.pem", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	PEM_write_X509(f, x);
	fclose(f);
	snprintf(path, sizeof path, "%s/cert.pem", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	PEM_write_X509(f, x);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void emu_start(void)
{
	const char *bin = getenv("AW_EMULATOR");
	char portfile[512], cfgpath[512], logpath[512], cfg[4096];
	char *txt = NULL;

	/* Without the emulator this test cannot say anything: that is a failure. */
	ck_assert_msg(bin && *bin, "AW_EMULATOR is not set (run through meson test)");
	ck_assert_msg(access(bin, X_OK) == 0, "AW_EMULATOR=%s is not executable", bin);
	dir = aw_test_tmpdir();
	make_cert();
	snprintf(cfg, sizeof cfg,
		 "{\"tenant_id\":\"" TENANT "\",\"token_lifetime_s\":3600,"
		 "\"clients\":[{\"client_id\":\"app-secret\",\"client_secret\":\"" SECRET_VALUE "\"},"
		 "{\"client_id\":\"app-cert\",\"certificate_pem\":\"%s/cert.pem\"},"
		 "{\"client_id\":\"app-wi\"}],"
		 "\"managed_identities\":[{\"client_id\":\"mi-system\",\"object_id\":\"obj-system\"},"
		 "{\"client_id\":\"mi-user\",\"object_id\":\"obj-user\",\"msi_res_id\":\"" USER_MI_RES "\"}],"
		 "\"identity_header\":\"hdr-value-123\","
		 "\"federated_tokens\":[\"fed-token-A\"],"
		 "\"keyvault\":{\"vault1\":{\"name1\":\"value1\"}}}",
		 dir);
	free(aw_test_write(dir, "emu.json", cfg, 0600));
	snprintf(portfile, sizeof portfile, "%s/port", dir);
	snprintf(cfgpath, sizeof cfgpath, "%s/emu.json", dir);
	snprintf(logpath, sizeof logpath, "%s/emu.log", dir);
	emu_pid = fork();
	ck_assert_int_ge(emu_pid, 0);
	if (emu_pid == 0) {
		FILE *lf = freopen(logpath, "w", stderr);
		(void)lf;
		execl(bin, bin, "--listen", "127.0.0.1:0", "--port-file", portfile, "--config",
		      cfgpath, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !(txt = aw_test_read(portfile, NULL)); i++)
		aw_test_sleep_ms(10);
	ck_assert_msg(txt != NULL, "the emulator did not write its port (see %s)", logpath);
	emu_port = (unsigned)strtoul(txt, NULL, 10);
	free(txt);
	ck_assert_uint_gt(emu_port, 0);
	snprintf(emu_base, sizeof emu_base, "http://127.0.0.1:%u", emu_port);
}

static void emu_stop(void)
{
	int st;

	if (emu_pid > 0) {
		kill(emu_pid, SIGTERM);
		waitpid(emu_pid, &st, 0);
		emu_pid = 0;
	}
	if (dir) {
		aw_test_rmtree(dir);
		free(dir);
		dir = NULL;
	}
}

/* --- the daemon side --------------------------------------------------------------- */

static uv_loop_t loop;
static struct aw_http *http;
static struct aw_auth *auth;
static struct aw_metrics *metrics;
static struct aw_credential_conf confs[8];
static size_t nconfs;

static void setup(void)
{
	struct aw_http_conf hc = {.insecure_http_for_tests = true, .timeout_ms = 10000};
	struct aw_auth_tuning t = {
	    .mi_initial_ms = 50,
	    .mi_cap_ms = 200,
	    .mi_attempts = 5,
	    .mi_410_ms = 5000,
	    .mi_probe_timeout_ms = 1000,
	    .entra_initial_ms = 50,
	};
	struct aw_error err;

	static const char *const vars[] = {
	    "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
	    "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
	    "IDENTITY_ENDPOINT", "IDENTITY_HEADER", NULL};
	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	emu_start();
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	metrics = aw_metrics_new();
	ck_assert_msg(aw_http_new(&loop, &hc, metrics, &http, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(aw_auth_new(http, metrics, &auth, &err), 0);
	aw_auth_set_loop(auth, &loop);
	aw_auth_set_tuning(auth, &t);
	nconfs = 0;
}

static void on_http_closed(void *ud)
{
	*(bool *)ud = true;
}

static void teardown(void)
{
	bool closed = false;

	aw_auth_free(auth);
	aw_http_close(http, on_http_closed, &closed);
	while (!closed)
		uv_run(&loop, UV_RUN_ONCE);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	aw_metrics_free(metrics);
	for (size_t i = 0; i < nconfs; i++)
		aw_options_free(aw_credential_options, &confs[i]);
	emu_stop();
}

static struct aw_credential_conf *new_conf(const char *kind)
{
	struct aw_credential_conf *c = &confs[nconfs++];
	struct aw_error err;

	ck_assert_int_eq(aw_options_defaults(aw_credential_options, c, &err), 0);
	free(c->kind);
	c->kind = strdup(kind);
	free(c->imds_endpoint);
	c->imds_endpoint = strdup(emu_base);
	return c;
}

static void set(char **f, const char *v)
{
	free(*f);
	*f = strdup(v);
}

static struct aw_credential *add(const char *name, struct aw_credential_conf *c)
{
	struct aw_credential *cr = NULL;
	struct aw_error err;

	ck_assert_msg(aw_auth_add(auth, name, c, &cr, &err) == 0, "%s", err.msg);
	return cr;
}

static struct aw_credential *secret_cred(const char *name, const char *secret)
{
	struct aw_credential_conf *c = new_conf("client_secret");

	set(&c->tenant_id, TENANT);
	set(&c->client_id, "app-secret");
	set(&c->authority_host, emu_base);
	c->client_secret.value = strdup(secret);
	c->client_secret.origin = strdup("inline");
	return add(name, c);
}

struct answer {
	int calls;
	char token[4096];
	char err[AW_ERROR_MAX];
};

static void record(void *ud, const char *token, const struct aw_error *err)
{
	struct answer *a = ud;

	a->calls++;
	snprintf(a->token, sizeof a->token, "%s", token ? token : "");
	snprintf(a->err, sizeof a->err, "%s", err ? err->msg : "");
}

/* The loop is run one iteration at a time; an answer that arrives from a timer (curl's
 * completions do) would otherwise leave uv_run blocked in poll until the next timer.
 * A 10 ms tick keeps each iteration short. */
struct ticker {
	uv_timer_t t;
	uint64_t start;
	uint64_t limit;
	bool expired;
};

static void on_tick(uv_timer_t *t)
{
	struct ticker *k = t->data;

	if (uv_now(t->loop) - k->start >= k->limit)
		k->expired = true;
}

static void ticker_start(struct ticker *k, int ms)
{
	uv_update_time(&loop);
	uv_timer_init(&loop, &k->t);
	k->t.data = k;
	k->start = uv_now(&loop);
	k->limit = (uint64_t)ms;
	k->expired = false;
	uv_timer_start(&k->t, on_tick, 10, 10);
}

static void ticker_stop(struct ticker *k)
{
	uv_close((uv_handle_t *)&k->t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

/* Run the loop until *calls >= n or timeout_ms passed. */
static void run_until(const int *calls, int n, int timeout_ms)
{
	struct ticker k;

	ticker_start(&k, timeout_ms);
	while (*calls < n && !k.expired)
		uv_run(&loop, UV_RUN_ONCE);
	ticker_stop(&k);
	ck_assert_msg(*calls >= n, "still waiting after %d ms", timeout_ms);
}

static void run_for(int ms)
{
	struct ticker k;

	ticker_start(&k, ms);
	while (!k.expired)
		uv_run(&loop, UV_RUN_ONCE);
	ticker_stop(&k);
}

/* A token from cr for scope, or a failure with the error text. */
static struct answer *get(struct aw_credential *cr, const char *scope)
{
	struct answer *a = calloc(1, sizeof *a);

	ck_assert_int_eq(aw_credential_get_token(cr, scope, record, a), 0);
	run_until(&a->calls, 1, 15000);
	ck_assert_int_eq(a->calls, 1);
	return a;
}

static struct answer *get_ok(struct aw_credential *cr, const char *scope)
{
	struct answer *a = get(cr, scope);

	ck_assert_msg(a->token[0], "no token: %s", a->err);
	return a;
}

static double metric_value(const char *series)
{
	char *text = NULL, *p;
	size_t len;
	double v = -1;

	ck_assert_int_eq(aw_metrics_render(metrics, &text, &len), 0);
	p = strstr(text, series);
	if (p)
		v = strtod(p + strlen(series), NULL);
	free(text);
	return v;
}

/* --- every kind, on the wire ------------------------------------------------------- */

START_TEST(client_secret_wire)
{
	struct aw_credential *cr = secret_cred("prod", SECRET_VALUE);
	struct answer *a = get_ok(cr, VAULT_SCOPE);
	json_object *reqs = emu_requests("/" TENANT "/oauth2/v2.0/token"), *r;

	ck_assert_uint_eq(json_object_array_length(reqs), 1);
	r = json_object_array_get_idx(reqs, 0);
	ck_assert_str_eq(field(r, "method"), "POST");
	ck_assert_str_eq(header(r, "Content-Type"), "application/x-www-form-urlencoded");
	expect_form(r, "grant_type", "client_credentials");
	expect_form(r, "client_id", "app-secret");
	expect_form(r, "scope", "https%3A%2F%2Fvault.azure.net%2F.default");
	expect_form(r, "client_secret", SECRET_VALUE);
	ck_assert_ptr_null(form_field(r, "client_assertion"));
	json_object_put(reqs);
	ck_assert(metric_value("aiwatch_token_refreshes_total{credential=\"prod\"}") == 1);
	free(a);
}
END_TEST

START_TEST(client_certificate_wire)
{
	struct aw_credential_conf *c = new_conf("client_certificate");
	char path[512];
	struct aw_credential *cr;
	struct answer *a;
	json_object *reqs, *r;
	char *assertion;

	snprintf(path, sizeof path, "%s/client.pem", dir);
	set(&c->tenant_id, TENANT);
	set(&c->client_id, "app-cert");
	set(&c->certificate, path);
	set(&c->authority_host, emu_base);
	cr = add("cert", c);
	/* the emulator checks the PS256 signature, x5t#S256, aud, iss/sub and exp */
	a = get_ok(cr, ARM_SCOPE);
	reqs = emu_requests("/" TENANT "/oauth2/v2.0/token");
	ck_assert_uint_eq(json_object_array_length(reqs), 1);
	r = json_object_array_get_idx(reqs, 0);
	expect_form(r, "client_id", "app-cert");
	expect_form(r, "client_assertion_type",
		    "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer");
	assertion = form_field(r, "client_assertion");
	ck_assert_ptr_nonnull(assertion);
	ck_assert_int_eq(strncmp(assertion, "eyJ", 3), 0);
	free(assertion);
	ck_assert_ptr_null(form_field(r, "client_secret"));
	json_object_put(reqs);
	free(a);
}
END_TEST

static char *write_fed(const char *content)
{
	char path[512];

	snprintf(path, sizeof path, "%s/azure-identity-token", dir);
	free(aw_test_write(NULL, path, content, 0600));
	return strdup(path);
}

START_TEST(workload_identity_rotated_file)
{
	struct aw_credential_conf *c = new_conf("workload_identity");
	char *path = write_fed("fed-token-A\n");
	struct aw_credential *cr;
	struct answer *a, *b;
	json_object *reqs;

	/* the SDK environment, as the AKS webhook injects it */
	setenv("AZURE_TENANT_ID", TENANT, 1);
	setenv("AZURE_CLIENT_ID", "app-wi", 1);
	setenv("AZURE_FEDERATED_TOKEN_FILE", path, 1);
	setenv("AZURE_AUTHORITY_HOST", emu_base, 1);
	cr = add("wi", c);
	a = get_ok(cr, VAULT_SCOPE);
	/* the kubelet rotates the token and the federation trusts only the new one */
	emu_post("/_emulator/config", "{\"federated_tokens\":[\"fed-token-B\"]}");
	free(write_fed("fed-token-B\n"));
	aw_credential_invalidate(cr, VAULT_SCOPE, a->token);
	b = get_ok(cr, VAULT_SCOPE);
	ck_assert_str_ne(a->token, b->token);
	reqs = emu_requests("/" TENANT "/oauth2/v2.0/token");
	ck_assert_uint_eq(json_object_array_length(reqs), 2);
	expect_form(json_object_array_get_idx(reqs, 0), "client_assertion", "fed-token-A");
	expect_form(json_object_array_get_idx(reqs, 1), "client_assertion", "fed-token-B");
	expect_form(json_object_array_get_idx(reqs, 1), "client_id", "app-wi");
	json_object_put(reqs);
	free(a);
	free(b);
	free(path);
}
END_TEST

START_TEST(imds_wire)
{
	struct aw_credential_conf *sys = new_conf("managed_identity");
	struct aw_credential_conf *user = new_conf("managed_identity");
	struct aw_credential_conf *byres = new_conf("managed_identity");
	struct answer *a, *b, *c;
	json_object *reqs, *r;

	set(&user->client_id, "mi-user");
	set(&byres->msi_res_id, USER_MI_RES);
	a = get_ok(add("mi", sys), VAULT_SCOPE);
	b = get_ok(add("mi-user", user), ARM_SCOPE);
	c = get_ok(add("mi-res", byres), ARM_SCOPE);
	reqs = emu_requests("/metadata/identity/oauth2/token");
	ck_assert_uint_eq(json_object_array_length(reqs), 3);
	r = json_object_array_get_idx(reqs, 0);
	ck_assert_str_eq(field(r, "method"), "GET");
	ck_assert_str_eq(header(r, "Metadata"), "true");
	ck_assert(query_has(r, "api-version=2018-02-01"));
	ck_assert(query_has(r, "resource=https%3A%2F%2Fvault.azure.net"));
	ck_assert(!strstr(field(r, "query"), "client_id"));
	r = json_object_array_get_idx(reqs, 1);
	ck_assert(query_has(r, "resource=https%3A%2F%2Fmanagement.azure.com"));
	ck_assert(query_has(r, "client_id=mi-user"));
	r = json_object_array_get_idx(reqs, 2);
	ck_assert(query_has(r, "msi_res_id=%2Fsubscriptions%2Fs1%2Fresourcegroups%2Fg1%2Fproviders"
			       "%2FMicrosoft.ManagedIdentity%2FuserAssignedIdentities%2Fu1"));
	json_object_put(reqs);
	free(a);
	free(b);
	free(c);
}
END_TEST

START_TEST(app_service_wire)
{
	struct aw_credential_conf *c = new_conf("managed_identity");
	char ep[128];
	struct answer *a;
	json_object *reqs, *r;

	snprintf(ep, sizeof ep, "%s/msi/token", emu_base);
	setenv("IDENTITY_ENDPOINT", ep, 1);
	setenv("IDENTITY_HEADER", "hdr-value-123", 1);
	set(&c->client_id, "mi-user");
	a = get_ok(add("appsvc", c), VAULT_SCOPE);
	ck_assert_uint_eq(emu_count("/metadata/"), 0);
	reqs = emu_requests("/msi/token");
	ck_assert_uint_eq(json_object_array_length(reqs), 1);
	r = json_object_array_get_idx(reqs, 0);
	ck_assert_str_eq(field(r, "method"), "GET");
	ck_assert_str_eq(header(r, "X-IDENTITY-HEADER"), "hdr-value-123");
	ck_assert(query_has(r, "api-version=2019-08-01"));
	ck_assert(query_has(r, "resource=https%3A%2F%2Fvault.azure.net"));
	ck_assert(query_has(r, "client_id=mi-user"));
	json_object_put(reqs);
	free(a);
}
END_TEST

START_TEST(default_chain)
{
	struct answer *a, *b;

	/* nothing in the environment: managed identity (IMDS) */
	a = get_ok(add("d-mi", new_conf("default")), VAULT_SCOPE);
	ck_assert_uint_eq(emu_count("/metadata/identity/oauth2/token"), 1);
	/* AZURE_CLIENT_SECRET and friends: the environment credential comes first */
	setenv("AZURE_TENANT_ID", TENANT, 1);
	setenv("AZURE_CLIENT_ID", "app-secret", 1);
	setenv("AZURE_CLIENT_SECRET", SECRET_VALUE, 1);
	setenv("AZURE_AUTHORITY_HOST", emu_base, 1);
	b = get_ok(add("d-env", new_conf("default")), VAULT_SCOPE);
	ck_assert_uint_eq(emu_count("/" TENANT "/oauth2/v2.0/token"), 1);
	ck_assert_uint_eq(emu_count("/metadata/identity/oauth2/token"), 1);
	free(a);
	free(b);
}
END_TEST

START_TEST(default_chain_nothing_reachable)
{
	struct aw_credential_conf *c = new_conf("default");
	struct answer *a;

	/* a port nobody listens on: the probe finds no IMDS */
	set(&c->imds_endpoint, "http://127.0.0.1:9");
	a = get(add("nothing", c), VAULT_SCOPE);
	ck_assert_str_eq(a->token, "");
	ck_assert_msg(strstr(a->err, "credential 'nothing': no credential found") &&
			  strstr(a->err, "http://127.0.0.1:9/metadata/identity/oauth2/token"),
		      "%s", a->err);
	free(a);
}
END_TEST

/* --- the cache against the emulator ------------------------------------------------- */

START_TEST(burst_is_one_request)
{
	struct aw_credential *cr = secret_cred("prod", SECRET_VALUE);
	struct answer a[50];
	int done = 0;

	memset(a, 0, sizeof a);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(aw_credential_get_token(cr, VAULT_SCOPE, record, &a[i]), 0);
	for (int i = 0; i < 50; i++) {
		run_until(&a[i].calls, 1, 10000);
		done++;
	}
	for (int i = 1; i < 50; i++)
		ck_assert_str_eq(a[i].token, a[0].token);
	ck_assert_int_eq(done, 50);
	ck_assert_uint_eq(emu_count("/" TENANT "/oauth2/v2.0/token"), 1);
}
END_TEST

START_TEST(imds_burst_and_refresh_ahead)
{
	struct aw_credential *cr;
	struct answer a[50], *first, *later;
	int64_t r0, e0;

	emu_post("/_emulator/config", "{\"token_lifetime_s\":4}");
	cr = add("mi", new_conf("managed_identity"));
	memset(a, 0, sizeof a);
	for (int i = 0; i < 50; i++)
		aw_credential_get_token(cr, ARM_SCOPE, record, &a[i]);
	for (int i = 0; i < 50; i++)
		run_until(&a[i].calls, 1, 10000);
	ck_assert_uint_eq(emu_count("/metadata/"), 1);
	first = get_ok(cr, ARM_SCOPE);
	ck_assert_str_eq(first->token, a[0].token);
	ck_assert_uint_eq(emu_count("/metadata/"), 1);
	/* a 4 s token is refreshed at half-life: after 2 s, 50 callers get the old
	 * token at once and cause one request */
	ck_assert_int_eq(aw_token_cache_times(cr->cache, ARM_SCOPE, &r0, &e0), 0);
	run_for(2300);
	memset(a, 0, sizeof a);
	for (int i = 0; i < 50; i++) {
		aw_credential_get_token(cr, ARM_SCOPE, record, &a[i]);
		ck_assert_int_eq(a[i].calls, 1);
		ck_assert_str_eq(a[i].token, first->token);
	}
	run_for(500);
	ck_assert_uint_eq(emu_count("/metadata/"), 2);
	later = get_ok(cr, ARM_SCOPE);
	ck_assert_str_ne(later->token, first->token);
	ck_assert_uint_eq(emu_count("/metadata/"), 2);
	free(first);
	free(later);
}
END_TEST

START_TEST(failed_early_refresh_keeps_token)
{
	struct aw_credential *cr;
	struct answer *t1, a = {0};
	char fault[256];

	emu_post("/_emulator/config", "{\"token_lifetime_s\":8}");
	cr = secret_cred("prod", SECRET_VALUE);
	t1 = get_ok(cr, VAULT_SCOPE);
	snprintf(fault, sizeof fault, "{\"path\":\"/%s/oauth2/v2.0/token\",\"status\":400}", TENANT);
	emu_post("/_emulator/faults", fault);
	/* refreshed at 4 s, handed out until 7.2 s */
	run_for(4200);
	/* refresh time: served the old token at once; the refresh fails in the background */
	aw_credential_get_token(cr, VAULT_SCOPE, record, &a);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_str_eq(a.token, t1->token);
	run_for(500);
	ck_assert_uint_eq(emu_count("/" TENANT "/oauth2/v2.0/token"), 2);
	ck_assert(metric_value("aiwatch_token_failures_total{credential=\"prod\"}") == 1);
	/* still the old token, and no new request within 30 s */
	run_for(500);
	aw_credential_get_token(cr, VAULT_SCOPE, record, &a);
	ck_assert_int_eq(a.calls, 2);
	ck_assert_str_eq(a.token, t1->token);
	run_for(300);
	ck_assert_uint_eq(emu_count("/" TENANT "/oauth2/v2.0/token"), 2);
	free(t1);
}
END_TEST

struct kv_result {
	int calls;
	long status;
	unsigned attempts;
	char body[512];
};

static void on_kv(void *ud, const struct aw_http_response *resp)
{
	struct kv_result *r = ud;

	r->calls++;
	r->status = resp->status;
	r->attempts = resp->attempts;
	snprintf(r->body, sizeof r->body, "%s", resp->body ? resp->body : "");
}

START_TEST(keyvault_401_refreshes_once)
{
	struct aw_credential *cr = secret_cred("prod", SECRET_VALUE);
	char url[256];
	struct kv_result res = {0};
	struct aw_error err;
	json_object *kv;
	const char *auth1, *auth2;

	emu_post("/_emulator/faults", "{\"path\":\"/kv/\",\"action\":\"expired_token\"}");
	snprintf(url, sizeof url, "%s/kv/vault1/secrets/name1?api-version=7.4", emu_base);
	struct aw_http_request req = {.method = "GET", .url = url, .component = "test"};
	struct aw_http_policy pol = {.max_attempts = 3,
				     .initial_ms = 50,
				     .bearer = aw_credential_bearer(cr, VAULT_SCOPE)};
	ck_assert_ptr_nonnull(pol.bearer);
	ck_assert_msg(aw_http_call(http, &req, &pol, on_kv, &res, NULL, &err) == 0, "%s", err.msg);
	run_until(&res.calls, 1, 15000);
	ck_assert_int_eq(res.status, 200);
	ck_assert_uint_eq(res.attempts, 2);
	ck_assert_ptr_nonnull(strstr(res.body, "\"value1\""));
	/* two token requests (the first token was refused), two Key Vault requests with
	 * different tokens */
	ck_assert_uint_eq(emu_count("/" TENANT "/oauth2/v2.0/token"), 2);
	kv = emu_requests("/kv/");
	ck_assert_uint_eq(json_object_array_length(kv), 2);
	auth1 = header(json_object_array_get_idx(kv, 0), "Authorization");
	auth2 = header(json_object_array_get_idx(kv, 1), "Authorization");
	ck_assert(auth1 && auth2 && strncmp(auth1, "Bearer ", 7) == 0);
	ck_assert_msg(strcmp(auth1, auth2) != 0, "the refused token was sent again");
	json_object_put(kv);
}
END_TEST

START_TEST(imds_410_then_429)
{
	struct aw_credential *cr = add("mi", new_conf("managed_identity"));
	struct answer *a;

	emu_post("/_emulator/faults",
		 "[{\"path\":\"/metadata/identity/oauth2/token\",\"status\":410},"
		 "{\"path\":\"/metadata/identity/oauth2/token\",\"status\":429}]");
	a = get_ok(cr, VAULT_SCOPE);
	ck_assert_uint_eq(emu_count("/metadata/identity/oauth2/token"), 3);
	ck_assert(metric_value("aiwatch_token_failures_total{credential=\"mi\"}") == 0);
	free(a);
}
END_TEST

START_TEST(imds_unknown_identity)
{
	struct aw_credential_conf *c = new_conf("managed_identity");
	struct answer *a;

	set(&c->client_id, "nobody");
	a = get(add("mi", c), VAULT_SCOPE);
	ck_assert_str_eq(a->token, "");
	ck_assert_msg(strstr(a->err, "HTTP 400: invalid_request: Identity not found") &&
			  strstr(a->err, "credential 'mi' (managed_identity (IMDS))"),
		      "%s", a->err);
	/* a 400 is not retried */
	ck_assert_uint_eq(emu_count("/metadata/"), 1);
	free(a);
}
END_TEST

START_TEST(wrong_client_secret)
{
	struct aw_credential *cr = secret_cred("prod", "not-the-secret");
	struct answer *a = get(cr, VAULT_SCOPE);
	char want[256];

	ck_assert_str_eq(a->token, "");
	snprintf(want, sizeof want, "credential 'prod' (client_secret): POST %s/%s/oauth2/v2.0/token: "
				    "HTTP 401: invalid_client: AADSTS7000215: Invalid client secret provided.",
		 emu_base, TENANT);
	ck_assert_msg(strncmp(a->err, want, strlen(want)) == 0, "%s", a->err);
	ck_assert_ptr_null(strstr(a->err, "not-the-secret"));
	ck_assert_ptr_null(strstr(a->err, "Trace ID"));
	/* a 4xx from Entra is configuration: no retries */
	ck_assert_uint_eq(emu_count("/" TENANT "/oauth2/v2.0/token"), 1);
	ck_assert(metric_value("aiwatch_token_failures_total{credential=\"prod\"}") == 1);
	free(a);
}
END_TEST

START_TEST(shutdown_answers_waiters)
{
	struct aw_credential *cr = add("mi", new_conf("managed_identity"));
	struct answer a = {0};

	emu_post("/_emulator/faults",
		 "{\"path\":\"/metadata/identity/oauth2/token\",\"delay_ms\":3000}");
	aw_credential_get_token(cr, VAULT_SCOPE, record, &a);
	run_for(200);
	ck_assert_int_eq(a.calls, 0);
	aw_auth_free(auth);
	auth = NULL;
	ck_assert_int_eq(a.calls, 1);
	ck_assert_str_eq(a.err, "credential 'mi' is shutting down");
}
END_TEST

static Suite *azure_auth_suite(void)
{
	Suite *s = suite_create("azure_auth");
	TCase *t = tcase_create("emulator");

	tcase_set_timeout(t, 60);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, client_secret_wire);
	tcase_add_test(t, client_certificate_wire);
	tcase_add_test(t, workload_identity_rotated_file);
	tcase_add_test(t, imds_wire);
	tcase_add_test(t, app_service_wire);
	tcase_add_test(t, default_chain);
	tcase_add_test(t, default_chain_nothing_reachable);
	tcase_add_test(t, burst_is_one_request);
	tcase_add_test(t, imds_burst_and_refresh_ahead);
	tcase_add_test(t, failed_early_refresh_keeps_token);
	tcase_add_test(t, keyvault_401_refreshes_once);
	tcase_add_test(t, imds_410_then_429);
	tcase_add_test(t, imds_unknown_identity);
	tcase_add_test(t, wrong_client_secret);
	tcase_add_test(t, shutdown_answers_waiters);
	suite_add_tcase(s, t);
	return s;
}

AW_TEST_MAIN(azure_auth_suite)
