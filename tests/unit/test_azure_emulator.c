/* The Azure emulator (tests/azure-emulator), driven over real HTTP with libcurl.
 *
 * Every test starts its own emulator ($AW_EMULATOR) on a free port, talks to it as the
 * daemon will, and stops it with SIGTERM, expecting exit status 0 (under ASan that
 * also means it freed everything). Tokens and secrets are never printed. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define TENANT	  "00000000-0000-0000-0000-0000000000aa"
#define VAULT_AUD "https://vault.azure.net"
#define ARM_AUD	  "https://management.azure.com/"

/* --- the emulator process ------------------------------------------------------------ */

struct emu {
	pid_t pid;
	unsigned port;
	char *dir;
	char *log_path;
};

static pid_t emu_spawn(struct emu *e, const char *config_json, bool verbose)
{
	const char *exe = getenv("AW_EMULATOR");
	char *port_file, *cfg = NULL;
	const char *argv[10];
	int n = 0, fd;
	pid_t pid;

	ck_assert_msg(exe && *exe, "AW_EMULATOR is not set (run through meson test)");
	e->dir = aw_test_tmpdir();
	if (asprintf(&port_file, "%s/port", e->dir) < 0 ||
	    asprintf(&e->log_path, "%s/emu.log", e->dir) < 0)
		ck_abort_msg("asprintf");
	if (config_json)
		cfg = aw_test_write(e->dir, "config.json", config_json, 0600);
	argv[n++] = exe;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--port-file";
	argv[n++] = port_file;
	if (cfg) {
		argv[n++] = "--config";
		argv[n++] = cfg;
	}
	if (verbose)
		argv[n++] = "--verbose";
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fd = open(e->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	free(port_file);
	free(cfg);
	return pid;
}

static void emu_start_opts(struct emu *e, const char *config_json, bool verbose)
{
	char *port_file, *text = NULL;
	int waited;

	memset(e, 0, sizeof(*e));
	e->pid = emu_spawn(e, config_json, verbose);
	if (asprintf(&port_file, "%s/port", e->dir) < 0)
		ck_abort_msg("asprintf");
	for (waited = 0; waited < 15000; waited += 20) {
		text = aw_test_read(port_file, NULL);
		if (text)
			break;
		ck_assert_msg(waitpid(e->pid, NULL, WNOHANG) == 0,
			      "the emulator exited at start-up");
		aw_test_sleep_ms(20);
	}
	ck_assert_msg(text, "no port file after 15 s");
	ck_assert_msg(strchr(text, '\n'), "port file without its newline: '%s'", text);
	e->port = (unsigned)strtoul(text, NULL, 10);
	ck_assert_uint_gt(e->port, 0);
	free(text);
	free(port_file);
}

static void emu_start(struct emu *e, const char *config_json)
{
	emu_start_opts(e, config_json, false);
}

/* Exit status after SIGTERM (-1 when it had to be killed). */
static int emu_wait(struct emu *e, int timeout_ms)
{
	int status = 0, waited;

	for (waited = 0; waited < timeout_ms; waited += 20) {
		pid_t r = waitpid(e->pid, &status, WNOHANG);

		if (r == e->pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		aw_test_sleep_ms(20);
	}
	kill(e->pid, SIGKILL);
	waitpid(e->pid, &status, 0);
	return -1;
}

static void emu_free(struct emu *e)
{
	aw_test_rmtree(e->dir);
	free(e->dir);
	free(e->log_path);
	memset(e, 0, sizeof(*e));
}

static void emu_stop(struct emu *e)
{
	int rc;

	kill(e->pid, SIGTERM);
	rc = emu_wait(e, 20000);
	if (rc != 0) {
		char *log = aw_test_read(e->log_path, NULL);

		fprintf(stderr, "emulator log:\n%s\n", log ? log : "(none)");
		free(log);
	}
	ck_assert_msg(rc == 0, "the emulator exited with %d after SIGTERM", rc);
	emu_free(e);
}

/* --- HTTP ------------------------------------------------------------------------------ */

/* One request; `headers` is NULL-terminated ("Name: value"). */
static void http(const struct emu *e, const char *method, const char *path,
		 const char *const *headers, const char *body, struct aw_test_resp *r)
{
	char url[2048];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", e->port, path);
	aw_test_http(method, url, headers, body, 30000, r);
}

static json_object *resp_json(const struct aw_test_resp *r)
{
	json_object *j = json_tokener_parse(r->body);

	ck_assert_msg(j, "response is not JSON (status %ld)", r->status);
	return j;
}

/* j.key as a string ("" when absent); owned by j. */
static const char *jstr(json_object *j, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(j, key, &v) || !v)
		return "";
	return json_object_get_string(v);
}

static json_object *jget(json_object *j, const char *key)
{
	json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(j, key, &v), "no \"%s\" in the answer", key);
	return v;
}

/* POST a control request and expect 200. */
static void control(const struct emu *e, const char *path, const char *json)
{
	struct aw_test_resp r;

	http(e, "POST", path, NULL, json, &r);
	ck_assert_msg(r.rc == CURLE_OK && r.status == 200, "%s -> %ld %s", path, r.status, r.body);
	aw_test_resp_free(&r);
}

/* A token from IMDS for resource (malloc'd). */
static char *imds_token(const struct emu *e, const char *resource)
{
	char base[64];

	snprintf(base, sizeof(base), "http://127.0.0.1:%u", e->port);
	return aw_test_imds_token(base, resource);
}

static void kv_get(const struct emu *e, const char *token, const char *path, struct aw_test_resp *r)
{
	char auth[2048];
	const char *hdrs[] = {auth, NULL};

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
	http(e, "GET", path, token ? hdrs : NULL, NULL, r);
}

static void assert_oneapi(const struct aw_test_resp *r, long status, const char *code)
{
	json_object *j = resp_json(r);

	ck_assert_int_eq(r->status, status);
	ck_assert_str_eq(jstr(jget(j, "error"), "code"), code);
	json_object_put(j);
}

static void assert_entra_error(const struct aw_test_resp *r, long status, const char *error,
			       int code)
{
	json_object *j = resp_json(r);
	json_object *codes = jget(j, "error_codes");
	char prefix[32];

	ck_assert_int_eq(r->status, status);
	ck_assert_str_eq(jstr(j, "error"), error);
	ck_assert_int_eq(json_object_array_length(codes), 1);
	ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(codes, 0)), code);
	snprintf(prefix, sizeof(prefix), "AADSTS%d: ", code);
	ck_assert_msg(!strncmp(jstr(j, "error_description"), prefix, strlen(prefix)),
		      "description: %s", jstr(j, "error_description"));
	ck_assert_str_ne(jstr(j, "trace_id"), "");
	json_object_put(j);
}

static void setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
	curl_global_cleanup();
}

/* --- start-up ---------------------------------------------------------------------------- */

START_TEST(test_start_and_stop)
{
	struct emu e;
	struct aw_test_resp r;
	json_object *j;

	emu_start_opts(&e, NULL, true);
	http(&e, "GET", "/_emulator/stats", NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	j = resp_json(&r);
	ck_assert_int_eq(json_object_get_int(jget(j, "requests")), 0);
	ck_assert_int_eq(json_object_get_int(jget(jget(j, "tokens_issued"), "imds")), 0);
	json_object_put(j);
	aw_test_resp_free(&r);
	emu_stop(&e);
}
END_TEST

START_TEST(test_bad_config_file)
{
	struct emu e = {0};
	char *log;
	int rc;

	e.pid = emu_spawn(&e, "{\"token_lifetime_s\": \"soon\"}", false);
	rc = emu_wait(&e, 15000);
	ck_assert_int_eq(rc, 2);
	log = aw_test_read(e.log_path, NULL);
	ck_assert_ptr_nonnull(strstr(log, "token_lifetime_s"));
	free(log);
	emu_free(&e);
}
END_TEST

/* --- managed identity -------------------------------------------------------------------- */

START_TEST(test_imds)
{
	struct emu e;
	struct aw_test_resp r;
	json_object *j;
	const char *meta[] = {"Metadata: true", NULL};
	char want[32];

	emu_start(&e, "{\"token_lifetime_s\": 120, \"managed_identities\": ["
		      "{\"client_id\": \"mi-system\"},"
		      "{\"client_id\": \"mi-user\", \"object_id\": \"obj-user\", \"msi_res_id\": "
		      "\"/subscriptions/s/resourcegroups/g/providers/Microsoft.ManagedIdentity/"
		      "userAssignedIdentities/u\"}]}");
	/* The SSRF guard. */
	http(&e, "GET",
	     "/metadata/identity/oauth2/"
	     "token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net",
	     NULL, NULL, &r);
	ck_assert_int_eq(r.status, 400);
	j = resp_json(&r);
	ck_assert_str_eq(jstr(j, "error"), "invalid_request");
	ck_assert_ptr_nonnull(strstr(jstr(j, "error_description"), "Required metadata header"));
	json_object_put(j);
	aw_test_resp_free(&r);

	http(&e, "GET",
	     "/metadata/identity/oauth2/"
	     "token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net",
	     meta, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	j = resp_json(&r);
	/* Every number is a string in IMDS answers. */
	ck_assert(json_object_is_type(jget(j, "expires_in"), json_type_string));
	ck_assert(json_object_is_type(jget(j, "expires_on"), json_type_string));
	ck_assert_str_eq(jstr(j, "expires_in"), "120");
	snprintf(want, sizeof(want), "%lld", (long long)time(NULL) + 120);
	ck_assert_int_le(llabs(strtoll(jstr(j, "expires_on"), NULL, 10) - strtoll(want, NULL, 10)),
			 2);
	ck_assert_str_eq(jstr(j, "resource"), VAULT_AUD);
	ck_assert_str_eq(jstr(j, "token_type"), "Bearer");
	ck_assert_str_eq(jstr(j, "client_id"), "mi-system");
	ck_assert_str_ne(jstr(j, "access_token"), "");
	json_object_put(j);
	aw_test_resp_free(&r);

	/* User-assigned, by object id and by resource id (any case). */
	http(&e, "GET",
	     "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x&object_id=obj-user",
	     meta, NULL, &r);
	j = resp_json(&r);
	ck_assert_str_eq(jstr(j, "client_id"), "mi-user");
	json_object_put(j);
	aw_test_resp_free(&r);
	http(&e, "GET",
	     "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x&msi_res_id="
	     "%2Fsubscriptions%2Fs%2FresourceGroups%2Fg%2Fproviders%2FMicrosoft.ManagedIdentity%"
	     "2FuserAssignedIdentities%2Fu",
	     meta, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	aw_test_resp_free(&r);

	http(&e, "GET",
	     "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x&client_id=nobody",
	     meta, NULL, &r);
	ck_assert_int_eq(r.status, 400);
	j = resp_json(&r);
	ck_assert_str_eq(jstr(j, "error"), "invalid_request");
	ck_assert_str_eq(jstr(j, "error_description"), "Identity not found");
	json_object_put(j);
	aw_test_resp_free(&r);

	http(&e, "GET", "/_emulator/stats", NULL, NULL, &r);
	j = resp_json(&r);
	ck_assert_int_eq(json_object_get_int(jget(jget(j, "tokens_issued"), "imds")), 3);
	json_object_put(j);
	aw_test_resp_free(&r);
	emu_stop(&e);
}
END_TEST

START_TEST(test_app_service)
{
	struct emu e;
	struct aw_test_resp r;
	json_object *j;
	const char *good[] = {"X-IDENTITY-HEADER: s3cret-header", NULL};
	const char *bad[] = {"X-IDENTITY-HEADER: guess", NULL};
	const char *path =
	    "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net";

	emu_start(&e, "{\"identity_header\": \"s3cret-header\"}");
	http(&e, "GET", path, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 401);
	aw_test_resp_free(&r);
	http(&e, "GET", path, bad, NULL, &r);
	ck_assert_int_eq(r.status, 401);
	j = resp_json(&r);
	ck_assert_int_eq(json_object_get_int(jget(j, "statusCode")), 401);
	json_object_put(j);
	aw_test_resp_free(&r);

	http(&e, "GET", path, good, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	j = resp_json(&r);
	ck_assert(json_object_is_type(jget(j, "expires_on"), json_type_string));
	ck_assert_int_gt(strtoll(jstr(j, "expires_on"), NULL, 10), (long long)time(NULL));
	ck_assert_str_eq(jstr(j, "resource"), VAULT_AUD);
	ck_assert_str_eq(jstr(j, "token_type"), "Bearer");
	json_object_put(j);
	aw_test_resp_free(&r);

	http(&e, "GET", "/msi/token?api-version=2019-08-01&resource=x&client_id=nobody", good, NULL,
	     &r);
	ck_assert_int_eq(r.status, 400);
	ck_assert_ptr_nonnull(strstr(r.body, "Unable to load the proper Managed Identity"));
	aw_test_resp_free(&r);
	emu_stop(&e);
}
END_TEST

/* --- Entra ID v2 ----------------------------------------------------------------------- */

static void entra_post(const struct emu *e, const char *form, struct aw_test_resp *r)
{
	const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded", NULL};

	http(e, "POST", "/" TENANT "/oauth2/v2.0/token", hdrs, form, r);
}

START_TEST(test_entra_secret)
{
	struct emu e;
	struct aw_test_resp r;
	json_object *j;

	emu_start(&e, "{\"token_lifetime_s\": 120, \"refresh_in_s\": 60, \"clients\": ["
		      "{\"client_id\": \"app1\", \"client_secret\": \"pa55\"}]}");
	entra_post(&e,
		   "grant_type=client_credentials&client_id=app1&client_secret=pa55"
		   "&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
		   &r);
	ck_assert_int_eq(r.status, 200);
	j = resp_json(&r);
	ck_assert(json_object_is_type(jget(j, "expires_in"), json_type_int));
	ck_assert_int_eq(json_object_get_int(jget(j, "expires_in")), 120);
	ck_assert_int_eq(json_object_get_int(jget(j, "refresh_in")), 60);
	ck_assert_str_eq(jstr(j, "token_type"), "Bearer");
	ck_assert_str_ne(jstr(j, "access_token"), "");
	json_object_put(j);
	aw_test_resp_free(&r);

	entra_post(&e,
		   "grant_type=client_credentials&client_id=app1&client_secret=wrong"
		   "&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
		   &r);
	assert_entra_error(&r, 401, "invalid_client", 7000215);
	aw_test_resp_free(&r);

	entra_post(&e,
		   "grant_type=client_credentials&client_id=stranger&client_secret=x"
		   "&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
		   &r);
	assert_entra_error(&r, 400, "unauthorized_client", 700016);
	aw_test_resp_free(&r);

	entra_post(&e,
		   "grant_type=client_credentials&client_id=app1&client_secret=pa55"
		   "&scope=https%3A%2F%2Fmanagement.azure.com%2F",
		   &r);
	assert_entra_error(&r, 400, "invalid_scope", 70011);
	aw_test_resp_free(&r);

	http(&e, "POST", "/other-tenant/oauth2/v2.0/token", NULL,
	     "grant_type=client_credentials&client_id=app1&client_secret=pa55&scope=x%2F.default",
	     &r);
	assert_entra_error(&r, 400, "invalid_request", 90002);
	aw_test_resp_free(&r);
	emu_stop(&e);
}
END_TEST

static char *b64url(const unsigned char *data, size_t len)
{
	char *out = malloc(len / 3 * 4 + 5);
	int n;
	char *p;

	ck_assert_ptr_nonnull(out);
	n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (p = out; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	return out;
}

static char *thumb(X509 *x, const EVP_MD *md)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	ck_assert_int_eq(X509_digest(x, md, d, &n), 1);
	return b64url(d, n);
}

static X509 *self_signed(EVP_PKEY *k)
{
	X509 *x = X509_new();
	X509_NAME *name;

	ck_assert_ptr_nonnull(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"aw-emu-test",
				   -1, -1, 0);
	X509_set_issuer_name(x, name);
	ck_assert_int_gt(X509_sign(x, k, EVP_sha256()), 0);
	return x;
}

static char *cert_file(const char *dir, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *pem, *path;
	long n;

	ck_assert_int_eq(PEM_write_bio_X509(b, x), 1);
	n = BIO_get_mem_data(b, &pem);
	pem = strndup(pem, (size_t)n);
	path = aw_test_write(dir, "client.pem", pem, 0600);
	free(pem);
	BIO_free(b);
	return path;
}

/* A client assertion: alg RS256 or PS256, naming the cert by x5t#S256 (PS256) or x5t. */
static char *assertion(EVP_PKEY *k, X509 *cert, const char *alg, const char *aud,
		       const char *client, long exp_in)
{
	bool pss = !strcmp(alg, "PS256");
	char *tp = thumb(cert, pss ? EVP_sha256() : EVP_sha1());
	char header[256], claims[1024], *h64, *c64, *input, *s64, *jwt;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *sig;
	size_t siglen = 0;
	long now = (long)time(NULL);

	snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"%s\":\"%s\"}", alg,
		 pss ? "x5t#S256" : "x5t", tp);
	snprintf(claims, sizeof(claims),
		 "{\"aud\":\"%s\",\"iss\":\"%s\",\"sub\":\"%s\",\"jti\":\"j-%ld\",\"nbf\":%ld,"
		 "\"exp\":%ld}",
		 aud, client, client, now, now, now + exp_in);
	h64 = b64url((const unsigned char *)header, strlen(header));
	c64 = b64url((const unsigned char *)claims, strlen(claims));
	if (asprintf(&input, "%s.%s", h64, c64) < 0)
		ck_abort_msg("asprintf");
	ck_assert_int_eq(EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, k), 1);
	if (pss) {
		ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
		ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
		ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()), 1);
	}
	ck_assert_int_eq(
	    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, strlen(input)), 1);
	sig = malloc(siglen);
	ck_assert_int_eq(
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input)), 1);
	s64 = b64url(sig, siglen);
	if (asprintf(&jwt, "%s.%s", input, s64) < 0)
		ck_abort_msg("asprintf");
	EVP_MD_CTX_free(ctx);
	free(sig);
	free(s64);
	free(input);
	free(h64);
	free(c64);
	free(tp);
	return jwt;
}

static void post_assertion(const struct emu *e, const char *client, const char *jwt,
			   struct aw_test_resp *r)
{
	char *form;

	if (asprintf(&form,
		     "grant_type=client_credentials&client_id=%s"
		     "&scope=https%%3A%%2F%%2Fvault.azure.net%%2F.default"
		     "&client_assertion_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Aclient-assertion-"
		     "type%%3Ajwt-bearer"
		     "&client_assertion=%s",
		     client, jwt) < 0)
		ck_abort_msg("asprintf");
	entra_post(e, form, r);
	free(form);
}

START_TEST(test_entra_certificate)
{
	struct emu e;
	struct aw_test_resp r;
	EVP_PKEY *key = EVP_RSA_gen(2048), *other = EVP_RSA_gen(2048);
	X509 *cert, *other_cert;
	char *dir = aw_test_tmpdir(), *path, cfg[1024], aud[256], *jwt, *tok, *forged;
	json_object *j;

	ck_assert_ptr_nonnull(key);
	ck_assert_ptr_nonnull(other);
	cert = self_signed(key);
	other_cert = self_signed(other);
	path = cert_file(dir, cert);
	snprintf(cfg, sizeof(cfg),
		 "{\"clients\": [{\"client_id\": \"app-cert\", \"certificate_pem\": \"%s\"}]}",
		 path);
	emu_start(&e, cfg);
	snprintf(aud, sizeof(aud), "https://login.microsoftonline.com/%s/oauth2/v2.0/token",
		 TENANT);

	/* PS256 + x5t#S256, as current Entra docs (and the daemon) do it. */
	jwt = assertion(key, cert, "PS256", aud, "app-cert", 600);
	post_assertion(&e, "app-cert", jwt, &r);
	ck_assert_msg(r.status == 200, "PS256 assertion refused: %s", r.body);
	j = resp_json(&r);
	tok = strdup(jstr(j, "access_token"));
	json_object_put(j);
	aw_test_resp_free(&r);
	/* The token is for the scope's resource: Key Vault takes it. */
	control(&e, "/_emulator/config", "{\"keyvault\": {\"v\": {\"s\": \"x\"}}}");
	kv_get(&e, tok, "/kv/v/secrets/s?api-version=7.4", &r);
	ck_assert_int_eq(r.status, 200);
	aw_test_resp_free(&r);
	free(tok);

	/* Same header and claims, signature from another key. */
	{
		char *wrong = assertion(other, cert, "PS256", aud, "app-cert", 600);
		char *dot = strrchr(jwt, '.');

		if (asprintf(&forged, "%.*s%s", (int)(dot - jwt), jwt, strrchr(wrong, '.')) < 0)
			ck_abort_msg("asprintf");
		free(wrong);
	}
	post_assertion(&e, "app-cert", forged, &r);
	assert_entra_error(&r, 401, "invalid_client", 700027);
	aw_test_resp_free(&r);
	free(forged);
	free(jwt);

	/* The legacy form: RS256 + x5t (SHA-1). The audience may name any host. */
	snprintf(aud, sizeof(aud), "http://127.0.0.1:%u/%s/oauth2/v2.0/token", e.port, TENANT);
	jwt = assertion(key, cert, "RS256", aud, "app-cert", 600);
	post_assertion(&e, "app-cert", jwt, &r);
	ck_assert_msg(r.status == 200, "RS256 assertion refused: %s", r.body);
	aw_test_resp_free(&r);
	free(jwt);

	/* A certificate the app does not have. */
	jwt = assertion(other, other_cert, "PS256", aud, "app-cert", 600);
	post_assertion(&e, "app-cert", jwt, &r);
	assert_entra_error(&r, 401, "invalid_client", 700027);
	ck_assert_ptr_nonnull(strstr(r.body, "key was not found"));
	aw_test_resp_free(&r);
	free(jwt);

	/* Wrong audience (another tenant), and an expired assertion. */
	jwt = assertion(key, cert, "PS256",
			"https://login.microsoftonline.com/t2/oauth2/v2.0/token", "app-cert", 600);
	post_assertion(&e, "app-cert", jwt, &r);
	assert_entra_error(&r, 401, "invalid_client", 700027);
	aw_test_resp_free(&r);
	free(jwt);
	jwt = assertion(key, cert, "PS256", aud, "app-cert", -10);
	post_assertion(&e, "app-cert", jwt, &r);
	assert_entra_error(&r, 401, "invalid_client", 700024);
	aw_test_resp_free(&r);
	free(jwt);

	emu_stop(&e);
	X509_free(cert);
	X509_free(other_cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	aw_test_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_entra_federated)
{
	struct emu e;
	struct aw_test_resp r;

	emu_start(&e, "{\"clients\": [{\"client_id\": \"wi-app\"}], \"federated_tokens\": "
		      "[\"kube-token-1\"]}");
	post_assertion(&e, "wi-app", "kube-token-1", &r);
	ck_assert_msg(r.status == 200, "federated token refused: %s", r.body);
	aw_test_resp_free(&r);
	post_assertion(&e, "wi-app", "kube-token-0", &r);
	assert_entra_error(&r, 401, "invalid_client", 70021);
	aw_test_resp_free(&r);
	/* The kubelet rotated the token: the test replaces the list at run time. */
	control(&e, "/_emulator/config", "{\"federated_tokens\": [\"kube-token-2\"]}");
	post_assertion(&e, "wi-app", "kube-token-1", &r);
	ck_assert_int_eq(r.status, 401);
	aw_test_resp_free(&r);
	post_assertion(&e, "wi-app", "kube-token-2", &r);
	ck_assert_int_eq(r.status, 200);
	aw_test_resp_free(&r);
	emu_stop(&e);
}
END_TEST

/* --- Key Vault ------------------------------------------------------------------------- */

START_TEST(test_keyvault)
{
	struct emu e;
	struct aw_test_resp r;
	json_object *j;
	char *tok, *arm_tok, *hdr, want[256];

	emu_start(&e, "{\"keyvault\": {\"vault1\": {\"db-password\": \"hunter2\"}}}");
	tok = imds_token(&e, VAULT_AUD);
	kv_get(&e, tok, "/kv/vault1/secrets/db-password?api-version=7.4", &r);
	ck_assert_int_eq(r.status, 200);
	j = resp_json(&r);
	ck_assert_str_eq(jstr(j, "value"), "hunter2");
	ck_assert_ptr_nonnull(strstr(jstr(j, "id"), "/secrets/db-password/"));
	ck_assert(json_object_get_boolean(jget(jget(j, "attributes"), "enabled")));
	/* The id's version also answers. */
	{
		char path[512];
		const char *id = jstr(j, "id");

		snprintf(path, sizeof(path), "/kv/vault1/secrets/db-password/%s?api-version=7.4",
			 strrchr(id, '/') + 1);
		aw_test_resp_free(&r);
		kv_get(&e, tok, path, &r);
		ck_assert_int_eq(r.status, 200);
	}
	json_object_put(j);
	aw_test_resp_free(&r);

	/* Wrong audience: a token for ARM. */
	arm_tok = imds_token(&e, ARM_AUD);
	kv_get(&e, arm_tok, "/kv/vault1/secrets/db-password?api-version=7.4", &r);
	assert_oneapi(&r, 401, "InvalidAuthenticationTokenAudience");
	hdr = aw_test_resp_header(&r, "WWW-Authenticate");
	snprintf(want, sizeof(want),
		 "Bearer authorization=\"http://127.0.0.1:%u/%s\", resource=\"%s\"", e.port, TENANT,
		 VAULT_AUD);
	ck_assert_ptr_nonnull(hdr);
	ck_assert_str_eq(hdr, want);
	free(hdr);
	aw_test_resp_free(&r);

	/* No token, a forged one, an unknown secret. */
	kv_get(&e, NULL, "/kv/vault1/secrets/db-password?api-version=7.4", &r);
	ck_assert_int_eq(r.status, 401);
	hdr = aw_test_resp_header(&r, "WWW-Authenticate");
	ck_assert_ptr_nonnull(hdr);
	free(hdr);
	aw_test_resp_free(&r);
	tok[strlen(tok) - 1] = tok[strlen(tok) - 1] == '0' ? '1' : '0';
	kv_get(&e, tok, "/kv/vault1/secrets/db-password?api-version=7.4", &r);
	assert_oneapi(&r, 401, "InvalidAuthenticationToken");
	aw_test_resp_free(&r);
	free(tok);
	tok = imds_token(&e, VAULT_AUD "/"); /* one trailing slash does not matter */
	kv_get(&e, tok, "/kv/vault1/secrets/nope?api-version=7.4", &r);
	assert_oneapi(&r, 404, "SecretNotFound");
	aw_test_resp_free(&r);

	free(tok);
	free(arm_tok);
	emu_stop(&e);
}
END_TEST

START_TEST(test_token_expiry)
{
	struct emu e;
	struct aw_test_resp r;
	char *tok;

	emu_start(&e, "{\"keyvault\": {\"v\": {\"s\": \"x\"}}}");
	control(&e, "/_emulator/config", "{\"token_lifetime_s\": 1}");
	tok = imds_token(&e, VAULT_AUD);
	aw_test_sleep_ms(2100);
	kv_get(&e, tok, "/kv/v/secrets/s?api-version=7.4", &r);
	assert_oneapi(&r, 401, "TokenExpired");
	aw_test_resp_free(&r);
	free(tok);
	emu_stop(&e);
}
END_TEST

/* --- faults -------------------------------------------------------------------------------- */

START_TEST(test_fault_retry_after)
{
	struct emu e;
	struct aw_test_resp r;
	char *ra;
	time_t when;

	emu_start(&e, NULL);
	control(&e, "/_emulator/faults",
		"[{\"path\": \"/metadata/\", \"status\": 429, \"retry_after_s\": 2},"
		" {\"path\": \"/metadata/\", \"status\": 429, \"retry_after_date_s\": 3}]");
	http(&e, "GET", "/metadata/identity/oauth2/token?resource=x", NULL, NULL, &r);
	ck_assert_int_eq(r.status, 429);
	ra = aw_test_resp_header(&r, "Retry-After");
	ck_assert_ptr_nonnull(ra);
	ck_assert_str_eq(ra, "2");
	free(ra);
	/* Managed-identity routes answer faults in the OAuth envelope. */
	{
		json_object *j = resp_json(&r);

		ck_assert_str_ne(jstr(j, "error"), "");
		ck_assert_str_ne(jstr(j, "error_description"), "");
		json_object_put(j);
	}
	aw_test_resp_free(&r);

	http(&e, "GET", "/metadata/identity/oauth2/token?resource=x", NULL, NULL, &r);
	ck_assert_int_eq(r.status, 429);
	ra = aw_test_resp_header(&r, "Retry-After");
	ck_assert_ptr_nonnull(ra);
	/* An IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT", about 3 s ahead. */
	ck_assert_int_eq(strlen(ra), 29);
	ck_assert_str_eq(ra + 25, " GMT");
	when = curl_getdate(ra, NULL);
	ck_assert_int_ge((long)when, (long)time(NULL));
	ck_assert_int_le((long)when, (long)time(NULL) + 5);
	free(ra);
	aw_test_resp_free(&r);

	/* Both used: the next request is answered normally (no Metadata: 400). */
	http(&e, "GET", "/metadata/identity/oauth2/token?resource=x", NULL, NULL, &r);
	ck_assert_int_eq(r.status, 400);
	aw_test_resp_free(&r);
	emu_stop(&e);
}
END_TEST

START_TEST(test_fault_sequence)
{
	struct emu e;
	struct aw_test_resp r;
	const char *meta[] = {"Metadata: true", NULL};
	const char *path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x";
	static const long want[] = {503, 503, 500, 410, 200};
	size_t i;

	emu_start(&e, NULL);
	control(&e, "/_emulator/faults",
		"[{\"path\": \"/metadata/identity\", \"times\": 2, \"status\": 503},"
		" {\"path\": \"/kv/\", \"status\": 404},"
		" {\"path\": \"/metadata/\", \"method\": \"POST\", \"status\": 400},"
		" {\"path\": \"/metadata/\", \"status\": 500, \"body\": "
		"\"{\\\"error\\\":\\\"unknown\\\"}\"}]");
	control(&e, "/_emulator/faults",
		"{\"path\": \"/metadata/\", \"method\": \"get\", \"status\": 410}");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		http(&e, "GET", path, meta, NULL, &r);
		ck_assert_msg(r.status == want[i], "request %zu: %ld, expected %ld", i, r.status,
			      want[i]);
		if (want[i] == 500)
			ck_assert_str_eq(r.body, "{\"error\":\"unknown\"}");
		aw_test_resp_free(&r);
	}
	/* The faults for other paths and methods are still queued. */
	http(&e, "GET", "/_emulator/faults", NULL, NULL, &r);
	{
		json_object *j = resp_json(&r);

		ck_assert_int_eq(json_object_array_length(j), 2);
		json_object_put(j);
	}
	aw_test_resp_free(&r);
	emu_stop(&e);
}
END_TEST

START_TEST(test_fault_delay)
{
	struct emu e;
	struct aw_test_resp r, fast;
	const char *meta[] = {"Metadata: true", NULL};

	emu_start(&e, NULL);
	control(&e, "/_emulator/faults", "{\"path\": \"/metadata/\", \"delay_ms\": 700}");
	http(&e, "GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x", meta,
	     NULL, &r);
	ck_assert_int_eq(r.status, 200); /* answered normally, only late */
	ck_assert_msg(r.secs >= 0.65, "answered after %.3f s", r.secs);
	http(&e, "GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x", meta,
	     NULL, &fast);
	ck_assert_int_eq(fast.status, 200);
	aw_test_resp_free(&r);
	aw_test_resp_free(&fast);
	emu_stop(&e);
}
END_TEST

START_TEST(test_fault_reset)
{
	struct emu e;
	struct aw_test_resp r;

	emu_start(&e, NULL);
	control(&e, "/_emulator/faults", "{\"path\": \"/kv/\", \"action\": \"reset\"}");
	http(&e, "GET", "/kv/v/secrets/s?api-version=7.4", NULL, NULL, &r);
	ck_assert_msg(r.rc != CURLE_OK, "a reset connection still answered %ld", r.status);
	ck_assert_int_eq(r.status, 0);
	aw_test_resp_free(&r);
	/* The next request is answered. */
	http(&e, "GET", "/kv/v/secrets/s?api-version=7.4", NULL, NULL, &r);
	ck_assert_int_eq(r.rc, CURLE_OK);
	ck_assert_int_eq(r.status, 401);
	aw_test_resp_free(&r);
	emu_stop(&e);
}
END_TEST

START_TEST(test_fault_cut)
{
	struct emu e;
	struct aw_test_resp r;

	emu_start(&e,
		  "{\"keyvault\": {\"v\": {\"s\": \"a fairly long secret value to cut in two\"}}}");
	{
		char *tok = imds_token(&e, VAULT_AUD);

		control(&e, "/_emulator/faults", "{\"path\": \"/kv/\", \"action\": \"cut\"}");
		kv_get(&e, tok, "/kv/v/secrets/s?api-version=7.4", &r);
		free(tok);
	}
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(r.rc == CURLE_PARTIAL_FILE || r.rc == CURLE_RECV_ERROR, "curl said %d (%s)",
		      r.rc, curl_easy_strerror(r.rc));
	ck_assert_int_gt(r.len, 0);
	ck_assert_ptr_null(strstr(r.body, "attributes")); /* only the first half arrived */
	aw_test_resp_free(&r);
	emu_stop(&e);
}
END_TEST

START_TEST(test_fault_token_actions)
{
	struct emu e;
	struct aw_test_resp r;
	char *tok;

	emu_start(&e, "{\"keyvault\": {\"v\": {\"s\": \"x\"}}}");
	tok = imds_token(&e, VAULT_AUD);
	control(&e, "/_emulator/faults",
		"[{\"path\": \"/kv/\", \"action\": \"expired_token\"},"
		" {\"path\": \"/kv/\", \"action\": \"wrong_audience\"}]");
	kv_get(&e, tok, "/kv/v/secrets/s?api-version=7.4", &r);
	assert_oneapi(&r, 401, "TokenExpired");
	aw_test_resp_free(&r);
	kv_get(&e, tok, "/kv/v/secrets/s?api-version=7.4", &r);
	assert_oneapi(&r, 401, "InvalidAuthenticationTokenAudience");
	aw_test_resp_free(&r);
	kv_get(&e, tok, "/kv/v/secrets/s?api-version=7.4", &r);
	ck_assert_int_eq(r.status, 200);
	aw_test_resp_free(&r);
	free(tok);
	emu_stop(&e);
}
END_TEST

START_TEST(test_fault_errors)
{
	struct emu e;
	struct aw_test_resp r;

	emu_start(&e, NULL);
	http(&e, "POST", "/_emulator/faults", NULL, "{\"path\": \"/kv/\", \"retry_after\": 2}", &r);
	ck_assert_int_eq(r.status, 400);
	ck_assert_ptr_nonnull(strstr(r.body, "retry_after"));
	aw_test_resp_free(&r);
	http(&e, "POST", "/_emulator/faults", NULL, "[{\"path\": \"/a\"}, {\"status\": 500}]", &r);
	ck_assert_int_eq(r.status, 400);
	ck_assert_ptr_nonnull(strstr(r.body, "path"));
	aw_test_resp_free(&r);
	http(&e, "POST", "/_emulator/config", NULL, "{\"clients\": [{\"client_secret\": \"x\"}]}",
	     &r);
	ck_assert_int_eq(r.status, 400);
	ck_assert_ptr_nonnull(strstr(r.body, "client_id"));
	aw_test_resp_free(&r);
	http(&e, "POST", "/_emulator/config", NULL, "not json", &r);
	ck_assert_int_eq(r.status, 400);
	aw_test_resp_free(&r);
	/* Nothing was queued by the refused calls (all or none). */
	http(&e, "GET", "/_emulator/faults", NULL, NULL, &r);
	ck_assert_str_eq(r.body, "[]");
	aw_test_resp_free(&r);
	emu_stop(&e);
}
END_TEST

/* --- request log, reset, limits --------------------------------------------------------- */

START_TEST(test_request_log)
{
	struct emu e;
	struct aw_test_resp r;
	json_object *log, *entry, *h;
	const char *hdrs[] = {"X-Test-Header: yes", "Content-Type: text/plain", NULL};

	emu_start(&e, NULL);
	http(&e, "POST", "/some/where?x=1&y=%2F", hdrs, "hello body", &r);
	ck_assert_int_eq(r.status, 404);
	aw_test_resp_free(&r);
	http(&e, "GET", "/other", NULL, NULL, &r);
	aw_test_resp_free(&r);

	http(&e, "GET", "/_emulator/requests", NULL, NULL, &r);
	log = resp_json(&r);
	aw_test_resp_free(&r);
	ck_assert_int_eq(json_object_array_length(log), 2); /* control routes are not logged */
	entry = json_object_array_get_idx(log, 0);
	ck_assert_str_eq(jstr(entry, "method"), "POST");
	ck_assert_str_eq(jstr(entry, "path"), "/some/where");
	ck_assert_str_eq(jstr(entry, "query"), "x=1&y=%2F");
	ck_assert_str_eq(jstr(entry, "body"), "hello body");
	ck_assert_int_eq(json_object_get_int(jget(entry, "seq")), 1);
	ck_assert_int_gt(json_object_get_int64(jget(entry, "time_ms")), 0);
	h = jget(entry, "headers");
	ck_assert_str_eq(jstr(h, "X-Test-Header"), "yes");
	ck_assert_str_eq(jstr(h, "Content-Type"), "text/plain");
	ck_assert_str_eq(jstr(json_object_array_get_idx(log, 1), "path"), "/other");
	json_object_put(log);

	http(&e, "GET", "/_emulator/requests?path=/other", NULL, NULL, &r);
	log = resp_json(&r);
	ck_assert_int_eq(json_object_array_length(log), 1);
	json_object_put(log);
	aw_test_resp_free(&r);

	/* Reset: the log and the queued faults go; the config stays. */
	control(&e, "/_emulator/faults", "{\"path\": \"/\", \"status\": 500}");
	control(&e, "/_emulator/config", "{\"keyvault\": {\"v\": {\"s\": \"kept\"}}}");
	control(&e, "/_emulator/reset", "");
	http(&e, "GET", "/_emulator/requests", NULL, NULL, &r);
	ck_assert_str_eq(r.body, "[]");
	aw_test_resp_free(&r);
	http(&e, "GET", "/nowhere", NULL, NULL, &r);
	ck_assert_int_eq(r.status, 404); /* not the 500 fault */
	aw_test_resp_free(&r);
	http(&e, "GET", "/_emulator/config", NULL, NULL, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "kept"));
	aw_test_resp_free(&r);
	http(&e, "GET", "/_emulator/stats", NULL, NULL, &r);
	log = resp_json(&r);
	ck_assert_int_eq(json_object_get_int(jget(log, "requests")), 1);
	json_object_put(log);
	aw_test_resp_free(&r);
	emu_stop(&e);
}
END_TEST

START_TEST(test_body_limit)
{
	struct emu e;
	struct aw_test_resp r;
	size_t n = 8u * 1024u * 1024u + 1;
	char *big = malloc(n + 1);
	json_object *log;

	ck_assert_ptr_nonnull(big);
	memset(big, 'a', n);
	big[n] = '\0';
	emu_start(&e, NULL);
	http(&e, "POST", "/" TENANT "/oauth2/v2.0/token", NULL, big, &r);
	ck_assert_int_eq(r.status, 413);
	aw_test_resp_free(&r);
	free(big);
	http(&e, "GET", "/_emulator/requests", NULL, NULL, &r);
	log = resp_json(&r);
	ck_assert(
	    json_object_get_boolean(jget(json_object_array_get_idx(log, 0), "body_truncated")));
	json_object_put(log);
	aw_test_resp_free(&r);
	emu_stop(&e);
}
END_TEST

static Suite *azure_emulator_suite(void)
{
	Suite *s = suite_create("azure_emulator");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_start_and_stop);
	tcase_add_test(tc, test_bad_config_file);
	tcase_add_test(tc, test_imds);
	tcase_add_test(tc, test_app_service);
	tcase_add_test(tc, test_entra_secret);
	tcase_add_test(tc, test_entra_certificate);
	tcase_add_test(tc, test_entra_federated);
	tcase_add_test(tc, test_keyvault);
	tcase_add_test(tc, test_token_expiry);
	tcase_add_test(tc, test_fault_retry_after);
	tcase_add_test(tc, test_fault_sequence);
	tcase_add_test(tc, test_fault_delay);
	tcase_add_test(tc, test_fault_reset);
	tcase_add_test(tc, test_fault_cut);
	tcase_add_test(tc, test_fault_token_actions);
	tcase_add_test(tc, test_fault_errors);
	tcase_add_test(tc, test_request_log);
	tcase_add_test(tc, test_body_limit);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(azure_emulator_suite)
