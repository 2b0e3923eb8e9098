/* Entra credentials without a network: token answers as the three token services write
 * them, the certificate assertion checked with OpenSSL as Entra ID would, the token
 * cache driven by a fake source and a fake clock (single flight, refresh ahead of
 * expiry, a failed early refresh, 401 invalidation, shutdown), the option checks and
 * the form encoding. */
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_int.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "testutil.h"

/* ---------------------------------------------------------------- token answers */

static struct aw_token_answer parse_ok(const char *body, int64_t now)
{
	struct aw_token_answer a;
	struct aw_error err = {{0}};

	if (aw_token_answer_parse(body, strlen(body), now, &a, &err) != 0)
		ck_abort_msg("parse failed: %s (body %s)", err.msg, body);
	return a;
}

static void parse_fails(const char *body, const char *why)
{
	struct aw_token_answer a;
	struct aw_error err = {{0}};

	ck_assert_int_eq(aw_token_answer_parse(body, strlen(body), 1000000000, &a, &err), -1);
	ck_assert_ptr_null(a.token);
	if (!strstr(err.msg, why))
		ck_abort_msg("error '%s' does not say '%s'", err.msg, why);
	/* the message never quotes the token */
	ck_assert_ptr_null(strstr(err.msg, "SECRETTOKEN"));
}

START_TEST(parse_entra_numbers)
{
	struct aw_token_answer a = parse_ok(
	    "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,"
	    "\"access_token\":\"eyJ0.abc-_~+/=\"}",
	    1700000000);

	ck_assert_str_eq(a.token, "eyJ0.abc-_~+/=");
	ck_assert_int_eq(a.expires_on, 1700003599);
	ck_assert_int_eq(a.refresh_on, 0);
	free(a.token);
}
END_TEST

START_TEST(parse_imds_strings)
{
	/* IMDS: every number is a string; expires_in wins (it is immune to clock skew) */
	struct aw_token_answer a = parse_ok(
	    "{\"access_token\":\"tok\",\"refresh_token\":\"\",\"client_id\":\"c\","
	    "\"expires_in\":\"86399\",\"expires_on\":\"1716998400\",\"ext_expires_in\":\"86399\","
	    "\"not_before\":\"1716911700\",\"resource\":\"https://management.azure.com/\","
	    "\"token_type\":\"Bearer\"}",
	    1716912001);

	ck_assert_int_eq(a.expires_on, 1716912001 + 86399);
	free(a.token);
}
END_TEST

START_TEST(parse_expires_on_forms)
{
	struct aw_token_answer a;

	/* App Service 2019-08-01: epoch string */
	a = parse_ok("{\"access_token\":\"t\",\"expires_on\":\"1716998400\",\"resource\":\"r\"}",
		     1716990000);
	ck_assert_int_eq(a.expires_on, 1716998400);
	free(a.token);
	a = parse_ok("{\"access_token\":\"t\",\"expires_on\":1716998400}", 1716990000);
	ck_assert_int_eq(a.expires_on, 1716998400);
	free(a.token);
	/* App Service 2017-09-01 on Linux and on Windows */
	a = parse_ok("{\"access_token\":\"t\",\"expires_on\":\"06/19/2019 23:42:01 +00:00\"}",
		     1560980000);
	ck_assert_int_eq(a.expires_on, 1560987721);
	free(a.token);
	a = parse_ok("{\"access_token\":\"t\",\"expires_on\":\"1/16/2020 5:24:12 PM +00:00\"}",
		     1579190000);
	ck_assert_int_eq(a.expires_on, 1579195452);
	free(a.token);
	/* numeric strings with a fraction or blanks */
	a = parse_ok("{\"access_token\":\"t\",\"expires_in\":\" 3600.0 \"}", 100);
	ck_assert_int_eq(a.expires_on, 3700);
	free(a.token);
	a = parse_ok("{\"access_token\":\"t\",\"expires_in\":3600.7}", 100);
	ck_assert_int_eq(a.expires_on, 3700);
	free(a.token);
}
END_TEST

START_TEST(parse_legacy_dates)
{
	int64_t t;

	ck_assert_int_eq(aw_token_parse_legacy_date("06/19/2019 23:42:01 +00:00", &t), 0);
	ck_assert_int_eq(t, 1560987721);
	ck_assert_int_eq(aw_token_parse_legacy_date("1/16/2020 5:24:12 AM +00:00", &t), 0);
	ck_assert_int_eq(t, 1579152252);
	ck_assert_int_eq(aw_token_parse_legacy_date("1/16/2020 12:24:12 AM +00:00", &t), 0);
	ck_assert_int_eq(t, 1579134252);
	ck_assert_int_eq(aw_token_parse_legacy_date("1/16/2020 12:24:12 PM +00:00", &t), 0);
	ck_assert_int_eq(t, 1579134252 + 12 * 3600);
	/* an offset is subtracted to get UTC */
	ck_assert_int_eq(aw_token_parse_legacy_date("06/20/2019 01:42:01 +02:00", &t), 0);
	ck_assert_int_eq(t, 1560987721);
	ck_assert_int_eq(aw_token_parse_legacy_date("02/29/2024 00:00:00", &t), 0);
	ck_assert_int_eq(t, 1709164800);
	ck_assert_int_eq(aw_token_parse_legacy_date("02/29/2023 00:00:00 +00:00", &t), -1);
	ck_assert_int_eq(aw_token_parse_legacy_date("13/01/2020 00:00:00 +00:00", &t), -1);
	ck_assert_int_eq(aw_token_parse_legacy_date("1/16/2020 13:24:12 PM +00:00", &t), -1);
	ck_assert_int_eq(aw_token_parse_legacy_date("1/16/2020 24:00:00 +00:00", &t), -1);
	ck_assert_int_eq(aw_token_parse_legacy_date("1/16/2020 5:24:12 +00:00 x", &t), -1);
	ck_assert_int_eq(aw_token_parse_legacy_date("2020-01-16T05:24:12Z", &t), -1);
	ck_assert_int_eq(aw_token_parse_legacy_date("", &t), -1);
}
END_TEST

START_TEST(parse_refresh_in)
{
	struct aw_token_answer a;

	a = parse_ok("{\"access_token\":\"t\",\"expires_in\":3600,\"refresh_in\":1800}", 1000);
	ck_assert_int_eq(a.expires_on, 4600);
	ck_assert_int_eq(a.refresh_on, 2800);
	free(a.token);
	a = parse_ok("{\"access_token\":\"t\",\"expires_in\":\"3600\",\"refresh_in\":\"60\"}", 1000);
	ck_assert_int_eq(a.refresh_on, 1060);
	free(a.token);
	/* a refresh_in past the expiry is cut to the expiry */
	a = parse_ok("{\"access_token\":\"t\",\"expires_in\":100,\"refresh_in\":500}", 1000);
	ck_assert_int_eq(a.refresh_on, 1100);
	free(a.token);
}
END_TEST

START_TEST(parse_refusals)
{
	parse_fails("{\"token_type\":\"Bearer\",\"expires_in\":3599}", "no access_token");
	parse_fails("{\"access_token\":\"\",\"expires_in\":3599}", "access_token is not");
	parse_fails("{\"access_token\":42,\"expires_in\":3599}", "access_token is not");
	parse_fails("{\"access_token\":\"SECRETTOKEN with space\",\"expires_in\":3599}",
		    "printable");
	parse_fails("{\"access_token\":\"SECRETTOKEN\\r\\nX-Evil: 1\",\"expires_in\":3599}",
		    "printable");
	parse_fails("{\"access_token\":\"SECRETTOKEN\"}", "neither expires_in nor expires_on");
	parse_fails("{\"access_token\":\"SECRETTOKEN\",\"expires_in\":\"soon\"}",
		    "expires_in is not");
	parse_fails("{\"access_token\":\"SECRETTOKEN\",\"expires_in\":\"-5\"}",
		    "expires_in is not");
	parse_fails("{\"access_token\":\"SECRETTOKEN\",\"expires_in\":-5}", "expires_in is not");
	parse_fails("{\"access_token\":\"SECRETTOKEN\",\"expires_in\":1e300}", "expires_in is not");
	parse_fails("{\"access_token\":\"SECRETTOKEN\",\"expires_in\":\"99999999999999999999999\"}",
		    "expires_in is not");
	parse_fails("{\"access_token\":\"SECRETTOKEN\",\"expires_in\":0}", "already expired");
	parse_fails("{\"access_token\":\"SECRETTOKEN\",\"expires_on\":\"1999\"}", "expires_on is");
	parse_fails("{\"access_token\":\"SECRETTOKEN\",\"expires_on\":\"946684800\"}",
		    "already expired");
	parse_fails("{\"access_token\":\"SECRETTOKEN\",\"expires_in\":3599,\"refresh_in\":true}",
		    "refresh_in is not");
	parse_fails("<html>Bad Gateway</html>", "not valid JSON");
	parse_fails("{\"access_token\":\"SECRETTOKEN\",\"expires_in\":3599", "cut short");
	parse_fails("[1,2]", "not a JSON object");
	parse_fails("{\"access_token\":\"SECRETTOKEN\",\"expires_in\":3599} {}", "data after");
	parse_fails("", "not valid JSON");
}
END_TEST

START_TEST(parse_not_nul_terminated)
{
	/* the body is len bytes: what follows must not be read */
	char buf[64];
	struct aw_token_answer a;
	struct aw_error err;
	const char *body = "{\"access_token\":\"t\",\"expires_in\":60}";

	memset(buf, 'x', sizeof buf);
	memcpy(buf, body, strlen(body));
	ck_assert_int_eq(aw_token_answer_parse(buf, strlen(body), 10, &a, &err), 0);
	ck_assert_int_eq(a.expires_on, 70);
	free(a.token);
}
END_TEST

START_TEST(error_descriptions)
{
	char buf[256];
	const char *entra =
	    "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client "
	    "secret provided. Ensure the secret being sent in the request is the client secret "
	    "value.\\r\\nTrace ID: 1\\r\\nCorrelation ID: 2\\r\\nTimestamp: 2026-05-01 "
	    "10:00:00Z\",\"error_codes\":[7000215],\"timestamp\":\"2026-05-01 10:00:00Z\"}";

	ck_assert_int_eq(aw_token_error_describe(entra, strlen(entra), buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "invalid_client: AADSTS7000215: Invalid client secret provided. "
			      "Ensure the secret being sent in the request is the client secret "
			      "value.");
	const char *imds = "{\"error\":\"invalid_request\",\"error_description\":\"Identity not "
			   "found\"}";
	ck_assert_int_eq(aw_token_error_describe(imds, strlen(imds), buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "invalid_request: Identity not found");
	const char *appsvc = "{\"statusCode\":400,\"message\":\"Unable to load the proper "
			     "Managed Identity.\",\"correlationId\":\"x\"}";
	ck_assert_int_eq(aw_token_error_describe(appsvc, strlen(appsvc), buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "Unable to load the proper Managed Identity.");
	const char *oneapi = "{\"error\":{\"code\":\"TokenExpired\",\"message\":\"gone\"}}";
	ck_assert_int_eq(aw_token_error_describe(oneapi, strlen(oneapi), buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "TokenExpired: gone");
	ck_assert_int_eq(aw_token_error_describe("oops", 4, buf, sizeof buf), -1);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(aw_token_error_describe("{}", 2, buf, sizeof buf), -1);
	/* small buffers are cut, never overrun */
	ck_assert_int_eq(aw_token_error_describe(entra, strlen(entra), buf, 16), 0);
	ck_assert_str_eq(buf, "invalid_client:");
}
END_TEST

/* ---------------------------------------------------------------- JWT assertion */

static EVP_PKEY *gen_rsa(int bits)
{
	EVP_PKEY *k = EVP_RSA_gen((unsigned)bits);

	ck_assert_ptr_nonnull(k);
	return k;
}

static X509 *self_signed(EVP_PKEY *k, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n;

	ck_assert_ptr_nonnull(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	ck_assert_int_gt(X509_sign(x, k, EVP_sha256()), 0);
	return x;
}

/* PEM file with the given key (optional, maybe encrypted) and cert (optional). */
static char *write_pem(const char *dir, const char *name, EVP_PKEY *k, X509 *x, bool encrypt)
{
	char *path;
	FILE *f;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	if (k && encrypt)
		ck_assert_int_eq(PEM_write_PrivateKey(f, k, EVP_aes_128_cbc(),
						      (unsigned char *)"pw", 2, NULL, NULL),
				 1);
	else if (k)
		ck_assert_int_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	if (x)
		ck_assert_int_eq(PEM_write_X509(f, x), 1);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static unsigned char *b64url_decode(const char *s, size_t n, size_t *outlen)
{
	unsigned char *out = malloc(n * 3 / 4 + 3);
	unsigned acc = 0, bits = 0;
	size_t o = 0;

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < n; i++) {
		const char *tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		const char *p = strchr(tbl, s[i]);
		ck_assert_msg(p && s[i], "not base64url: %c", s[i]);
		acc = acc << 6 | (unsigned)(p - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*outlen = o;
	out[o] = 0;
	return out;
}

static json_object *jwt_part(const char *s, size_t n)
{
	size_t len;
	unsigned char *txt = b64url_decode(s, n, &len);
	json_object *o = json_tokener_parse((const char *)txt);

	ck_assert_msg(o != NULL, "not JSON: %s", txt);
	free(txt);
	return o;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "missing %s", key);
	return json_object_get_string(v);
}

START_TEST(base64url_vectors)
{
	char out[16];

	aw_base64url((const unsigned char *)"", 0, out);
	ck_assert_str_eq(out, "");
	aw_base64url((const unsigned char *)"f", 1, out);
	ck_assert_str_eq(out, "Zg");
	aw_base64url((const unsigned char *)"fo", 2, out);
	ck_assert_str_eq(out, "Zm8");
	aw_base64url((const unsigned char *)"foo", 3, out);
	ck_assert_str_eq(out, "Zm9v");
	aw_base64url((const unsigned char *)"\xfb\xff\xbf", 3, out);
	ck_assert_str_eq(out, "-_-_");
}
END_TEST

START_TEST(jwt_assertion_verifies)
{
	char *dir = aw_test_tmpdir();
	EVP_PKEY *k = gen_rsa(2048);
	X509 *x = self_signed(k, "aiwatch-test");
	char *path = write_pem(dir, "client.pem", k, x, false);
	struct aw_jwt_key *key = NULL;
	struct aw_error err;
	char *jwt = NULL, x5t[64];
	unsigned char der_hash[SHA256_DIGEST_LENGTH], *der = NULL;
	const char *aud = "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token";
	int derlen;

	ck_assert_msg(aw_jwt_key_load(path, &key, &err) == 0, "%s", err.msg);
	/* x5t#S256 is base64url(SHA-256(DER)), computed here independently */
	derlen = i2d_X509(x, &der);
	ck_assert_int_gt(derlen, 0);
	SHA256(der, (size_t)derlen, der_hash);
	OPENSSL_free(der);
	aw_base64url(der_hash, sizeof der_hash, x5t);
	ck_assert_str_eq(aw_jwt_key_x5t_s256(key), x5t);
	ck_assert_uint_eq(strlen(x5t), 43);

	ck_assert_msg(aw_jwt_client_assertion(key, aud, "client-1", 1700000000, &jwt, &err) == 0,
		      "%s", err.msg);
	const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	ck_assert_ptr_nonnull(d2);
	ck_assert_ptr_null(strchr(d2 + 1, '.'));
	ck_assert_ptr_null(strchr(jwt, '='));

	json_object *hdr = jwt_part(jwt, (size_t)(d1 - jwt));
	ck_assert_str_eq(jstr(hdr, "alg"), "PS256");
	ck_assert_str_eq(jstr(hdr, "typ"), "JWT");
	ck_assert_str_eq(jstr(hdr, "x5t#S256"), x5t);
	json_object_put(hdr);

	json_object *cl = jwt_part(d1 + 1, (size_t)(d2 - d1 - 1));
	ck_assert_str_eq(jstr(cl, "aud"), aud);
	ck_assert_str_eq(jstr(cl, "iss"), "client-1");
	ck_assert_str_eq(jstr(cl, "sub"), "client-1");
	ck_assert_uint_eq(strlen(jstr(cl, "jti")), 36);
	ck_assert_int_eq(jstr(cl, "jti")[14], '4');
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(cl, "nbf")), 1700000000);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(cl, "iat")), 1700000000);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(cl, "exp")), 1700000600);
	json_object_put(cl);

	/* RSA-PSS, SHA-256, MGF1-SHA-256, salt length 32 (the digest length) */
	size_t siglen;
	unsigned char *sig = b64url_decode(d2 + 1, strlen(d2 + 1), &siglen);
	ck_assert_uint_eq(siglen, 256);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	ck_assert_int_eq(EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, k), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()), 1);
	ck_assert_int_eq(EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt,
					  (size_t)(d2 - jwt)),
			 1);
	/* and a changed byte does not verify */
	jwt[3] ^= 1;
	ck_assert_int_ne(EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt,
					  (size_t)(d2 - jwt)),
			 1);
	EVP_MD_CTX_free(md);
	free(sig);

	/* every assertion has its own jti */
	char *jwt2 = NULL;
	ck_assert_int_eq(aw_jwt_client_assertion(key, aud, "client-1", 1700000000, &jwt2, &err), 0);
	ck_assert_str_ne(jwt, jwt2);
	free(jwt2);
	free(jwt);
	aw_jwt_key_free(key);
	X509_free(x);
	EVP_PKEY_free(k);
	free(path);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

static void key_load_fails(const char *path, const char *why)
{
	struct aw_jwt_key *key = (struct aw_jwt_key *)1;
	struct aw_error err;

	ck_assert_int_eq(aw_jwt_key_load(path, &key, &err), -1);
	ck_assert_ptr_null(key);
	ck_assert_msg(strstr(err.msg, why) && strstr(err.msg, path), "'%s' lacks '%s'", err.msg,
		      why);
}

START_TEST(jwt_key_refusals)
{
	char *dir = aw_test_tmpdir();
	EVP_PKEY *k = gen_rsa(2048), *other = gen_rsa(2048), *small = gen_rsa(1024);
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	X509 *x = self_signed(k, "a"), *xs = self_signed(small, "s"), *xe = self_signed(ec, "e");
	char *p;

	key_load_fails("/nonexistent/cert.pem", "cannot open");
	p = write_pem(dir, "certonly.pem", NULL, x, false);
	key_load_fails(p, "no unencrypted private key");
	free(p);
	p = write_pem(dir, "keyonly.pem", k, NULL, false);
	key_load_fails(p, "no certificate");
	free(p);
	p = write_pem(dir, "mismatch.pem", other, x, false);
	key_load_fails(p, "does not belong");
	free(p);
	/* an encrypted key is refused, without prompting on a terminal */
	p = write_pem(dir, "encrypted.pem", k, x, true);
	key_load_fails(p, "no unencrypted private key");
	free(p);
	p = write_pem(dir, "small.pem", small, xs, false);
	key_load_fails(p, "1024 bits");
	free(p);
	p = write_pem(dir, "ec.pem", ec, xe, false);
	key_load_fails(p, "not RSA");
	free(p);
	key_load_fails(dir, "not a regular file");
	X509_free(x);
	X509_free(xs);
	X509_free(xe);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

/* ---------------------------------------------------------------- the cache */

struct fake_source {
	int fetches, abandons, fail_start;
	char last_scope[128];
	aw_token_fetch_done done;
	void *cbud;
	bool pending;
};

static int64_t fake_now_ms;
static const int64_t fake_wall0 = 1800000000;

static int64_t fake_mono(void *ud)
{
	return fake_now_ms;
}

static int64_t fake_wall(void *ud)
{
	return fake_wall0 + fake_now_ms / 1000;
}

static const struct aw_token_clock fake_clock = {fake_mono, fake_wall, NULL};

static int fake_fetch(void *ud, const char *scope, aw_token_fetch_done done, void *cbud,
		      void **handle, struct aw_error *err)
{
	struct fake_source *fs = ud;

	if (fs->fail_start)
		return aw_error_set(err, "cannot start: no route");
	ck_assert_msg(!fs->pending, "a second fetch while one is in flight");
	fs->fetches++;
	snprintf(fs->last_scope, sizeof fs->last_scope, "%s", scope);
	fs->done = done;
	fs->cbud = cbud;
	fs->pending = true;
	*handle = fs;
	return 0;
}

static void fake_abandon(void *ud, void *handle)
{
	struct fake_source *fs = ud;

	ck_assert_ptr_eq(handle, fs);
	fs->abandons++;
	fs->pending = false;
}

/* The fetch in flight answers with a token living `life` seconds (refresh_in if > 0). */
static void fake_answer(struct fake_source *fs, const char *token, int64_t life, int64_t refresh_in)
{
	struct aw_token_answer a = {
	    .token = strdup(token),
	    .expires_on = fake_wall(NULL) + life,
	    .refresh_on = refresh_in > 0 ? fake_wall(NULL) + refresh_in : 0,
	};

	ck_assert(fs->pending);
	fs->pending = false;
	fs->done(fs->cbud, &a, NULL);
	free(a.token);
}

static void fake_fail(struct fake_source *fs, const char *msg)
{
	struct aw_error err;

	ck_assert(fs->pending);
	fs->pending = false;
	aw_error_set(&err, "%s", msg);
	fs->done(fs->cbud, NULL, &err);
}

struct answer {
	int calls;
	char token[64];
	char err[AW_ERROR_MAX];
};

static void record(void *ud, const char *token, const struct aw_error *err)
{
	struct answer *a = ud;

	a->calls++;
	snprintf(a->token, sizeof a->token, "%s", token ? token : "");
	snprintf(a->err, sizeof a->err, "%s", err ? err->msg : "");
}

static struct fake_source fs;
static struct aw_metrics *metrics;
static struct aw_token_cache *tc;
static const char *const scope = "https://vault.azure.net/.default";
static int log_fd = -1;
static char log_path[256];

static void cache_setup_with(uint64_t refresh_before_ms)
{
	struct aw_token_cache_conf conf = {
	    .name = "prod",
	    .kind = "client_secret",
	    .refresh_before_ms = refresh_before_ms,
	    .source = {.fetch = fake_fetch, .abandon = fake_abandon, .ud = &fs},
	    .clock = &fake_clock,
	};
	struct aw_error err;

	memset(&fs, 0, sizeof fs);
	fake_now_ms = 1000000;
	metrics = aw_metrics_new();
	conf.metrics = metrics;
	ck_assert_int_eq(aw_token_cache_new(&conf, &tc, &err), 0);
	snprintf(log_path, sizeof log_path, "/tmp/aw-test-auth-log-%d", (int)getpid());
	log_fd = open(log_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(log_fd, 0);
	aw_log_set_fd(log_fd);
}

static void cache_setup(void)
{
	cache_setup_with(0);
}

static void cache_teardown(void)
{
	aw_token_cache_free(tc);
	tc = NULL;
	aw_metrics_free(metrics);
	aw_log_set_fd(-1);
	close(log_fd);
	unlink(log_path);
}

static char *log_text(void)
{
	char *s = aw_test_read(log_path, NULL);

	ck_assert_ptr_nonnull(s);
	return s;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static double metric(const char *series)
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

START_TEST(cache_single_flight)
{
	struct answer a[50] = {{0}};

	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(aw_token_cache_get(tc, scope, record, &a[i]), 0);
		ck_assert_int_eq(a[i].calls, 0);
	}
	ck_assert_int_eq(fs.fetches, 1);
	ck_assert_str_eq(fs.last_scope, scope);
	fake_answer(&fs, "tok-1", 3600, 0);
	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(a[i].calls, 1);
		ck_assert_str_eq(a[i].token, "tok-1");
		ck_assert_str_eq(a[i].err, "");
	}
	/* cached: answered before the call returns, no request */
	struct answer b = {0};
	ck_assert_int_eq(aw_token_cache_get(tc, scope, record, &b), 0);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_str_eq(b.token, "tok-1");
	ck_assert_int_eq(fs.fetches, 1);
	ck_assert(metric("aiwatch_token_refreshes_total{credential=\"prod\"}") == 1);
	ck_assert(metric("aiwatch_token_failures_total{credential=\"prod\"}") == 0);
	/* another scope is another entry */
	struct answer c = {0};
	aw_token_cache_get(tc, "https://management.azure.com/.default", record, &c);
	ck_assert_int_eq(fs.fetches, 2);
	fake_answer(&fs, "tok-arm", 3600, 0);
	ck_assert_str_eq(c.token, "tok-arm");
	aw_token_cache_get(tc, scope, record, &b);
	ck_assert_str_eq(b.token, "tok-1");
}
END_TEST

static int64_t refresh_after(int64_t life, int64_t refresh_in)
{
	struct answer a = {0};
	int64_t r, e, t0 = fake_now_ms;

	aw_token_cache_invalidate(tc, scope, "tok");
	aw_token_cache_get(tc, scope, record, &a);
	fake_answer(&fs, "tok", life, refresh_in);
	ck_assert_int_eq(aw_token_cache_times(tc, scope, &r, &e), 0);
	return (r - t0) / 1000;
}

START_TEST(cache_refresh_schedule)
{
	int64_t r, e;

	ck_assert_int_eq(aw_token_cache_times(tc, scope, &r, &e), -1);
	/* 5 minutes before expiry */
	ck_assert_int_eq(refresh_after(3600, 0), 3300);
	/* 2 h or more: at half-life */
	ck_assert_int_eq(refresh_after(7200, 0), 3600);
	ck_assert_int_eq(refresh_after(86400, 0), 43200);
	/* the server's refresh_in when it is sooner */
	ck_assert_int_eq(refresh_after(3600, 1200), 1200);
	ck_assert_int_eq(refresh_after(86400, 3600), 3600);
	/* short lifetimes: half-life rather than continuously */
	ck_assert_int_eq(refresh_after(120, 0), 60);
	ck_assert_int_eq(refresh_after(8, 0), 4);
	/* handed out until 30 s before expiry (a tenth of the lifetime when shorter) */
	refresh_after(3600, 0);
	ck_assert_int_eq(aw_token_cache_times(tc, scope, &r, &e), 0);
	ck_assert_int_eq(e - fake_now_ms, 3570 * 1000);
	refresh_after(10, 0);
	ck_assert_int_eq(aw_token_cache_times(tc, scope, &r, &e), 0);
	ck_assert_int_eq(e - fake_now_ms, 9000);
}
END_TEST

START_TEST(cache_refresh_before_option)
{
	/* set up with refresh_before = 10 min */
	cache_teardown();
	cache_setup_with(600000);
	ck_assert_int_eq(refresh_after(3600, 0), 3000);
}
END_TEST

START_TEST(cache_eager_refresh_serves_old_token)
{
	struct answer a = {0}, b = {0}, c = {0};

	aw_token_cache_get(tc, scope, record, &a);
	fake_answer(&fs, "tok-1", 3600, 0);
	fake_now_ms += 3301 * 1000;
	/* past the refresh time: the old token at once, and one request starts */
	aw_token_cache_get(tc, scope, record, &b);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_str_eq(b.token, "tok-1");
	ck_assert_int_eq(fs.fetches, 2);
	aw_token_cache_get(tc, scope, record, &c);
	ck_assert_str_eq(c.token, "tok-1");
	ck_assert_int_eq(fs.fetches, 2);
	fake_answer(&fs, "tok-2", 3600, 0);
	/* nobody was waiting: nobody is called again */
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(c.calls, 1);
	aw_token_cache_get(tc, scope, record, &c);
	ck_assert_str_eq(c.token, "tok-2");
	ck_assert_int_eq(fs.fetches, 2);
}
END_TEST

START_TEST(cache_failed_eager_refresh_keeps_token)
{
	struct answer a = {0};
	char *log;

	aw_token_cache_get(tc, scope, record, &a);
	fake_answer(&fs, "tok-SECRET-1", 3600, 0);
	fake_now_ms += 3400 * 1000;
	aw_token_cache_get(tc, scope, record, &a);
	ck_assert_int_eq(fs.fetches, 2);
	fake_fail(&fs, "POST https://login/t/oauth2/v2.0/token: HTTP 503: busy");
	ck_assert_int_eq(a.calls, 2);
	/* the old token is still served, and no new request for 30 s */
	for (int i = 0; i < 29; i++) {
		fake_now_ms += 1000;
		aw_token_cache_get(tc, scope, record, &a);
		ck_assert_str_eq(a.token, "tok-SECRET-1");
		ck_assert_int_eq(fs.fetches, 2);
	}
	fake_now_ms += 1000;
	aw_token_cache_get(tc, scope, record, &a);
	ck_assert_str_eq(a.token, "tok-SECRET-1");
	ck_assert_int_eq(fs.fetches, 3);
	fake_fail(&fs, "POST https://login/t/oauth2/v2.0/token: HTTP 503: busy");
	ck_assert(metric("aiwatch_token_failures_total{credential=\"prod\"}") == 2);
	/* logged once for the streak, with the credential, kind and error, never the token */
	log = log_text();
	ck_assert_uint_eq(count(log, "token refresh failed"), 1);
	ck_assert_ptr_nonnull(strstr(log, "credential=prod"));
	ck_assert_ptr_nonnull(strstr(log, "kind=client_secret"));
	ck_assert_ptr_nonnull(strstr(log, "HTTP 503: busy"));
	ck_assert_ptr_null(strstr(log, "tok-SECRET"));
	free(log);
	fake_now_ms += 30000;
	aw_token_cache_get(tc, scope, record, &a);
	fake_answer(&fs, "tok-SECRET-2", 3600, 0);
	aw_token_cache_get(tc, scope, record, &a);
	ck_assert_str_eq(a.token, "tok-SECRET-2");
	log = log_text();
	ck_assert_uint_eq(count(log, "token request works again"), 1);
	ck_assert_ptr_null(strstr(log, "tok-SECRET"));
	free(log);
}
END_TEST

START_TEST(cache_expired_token_waits)
{
	struct answer a = {0}, b = {0};

	aw_token_cache_get(tc, scope, record, &a);
	fake_answer(&fs, "tok-1", 3600, 0);
	/* an eager refresh that failed, and then the token runs out */
	fake_now_ms += 3400 * 1000;
	aw_token_cache_get(tc, scope, record, &a);
	fake_fail(&fs, "down");
	fake_now_ms += 171 * 1000;
	aw_token_cache_get(tc, scope, record, &b);
	ck_assert_int_eq(b.calls, 0);
	ck_assert_int_eq(fs.fetches, 3);
	fake_answer(&fs, "tok-2", 3600, 0);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_str_eq(b.token, "tok-2");
}
END_TEST

START_TEST(cache_invalidate_on_401)
{
	struct answer a = {0};

	aw_token_cache_get(tc, scope, record, &a);
	fake_answer(&fs, "tok-1", 3600, 0);
	/* another token (a stale copy) changes nothing */
	aw_token_cache_invalidate(tc, scope, "tok-0");
	aw_token_cache_invalidate(tc, "https://other/.default", "tok-1");
	aw_token_cache_get(tc, scope, record, &a);
	ck_assert_str_eq(a.token, "tok-1");
	ck_assert_int_eq(fs.fetches, 1);
	aw_token_cache_invalidate(tc, scope, "tok-1");
	aw_token_cache_get(tc, scope, record, &a);
	ck_assert_int_eq(a.calls, 2);
	ck_assert_int_eq(fs.fetches, 2);
	fake_answer(&fs, "tok-2", 3600, 0);
	ck_assert_int_eq(a.calls, 3);
	ck_assert_str_eq(a.token, "tok-2");
}
END_TEST

START_TEST(cache_failure_reaches_waiters)
{
	struct answer a = {0}, b = {0}, c = {0};
	char *log;

	aw_token_cache_get(tc, scope, record, &a);
	aw_token_cache_get(tc, scope, record, &b);
	fake_fail(&fs, "credential 'prod' (client_secret): POST https://login/t/oauth2/v2.0/token: "
		       "HTTP 401: invalid_client: AADSTS7000215: Invalid client secret provided.");
	ck_assert_int_eq(a.calls, 1);
	ck_assert_str_eq(a.token, "");
	ck_assert_ptr_nonnull(strstr(a.err, "AADSTS7000215"));
	ck_assert_str_eq(a.err, b.err);
	/* a caller right after the failure hears it again without another request */
	fake_now_ms += 1000;
	aw_token_cache_get(tc, scope, record, &c);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_str_eq(c.err, a.err);
	ck_assert_int_eq(fs.fetches, 1);
	/* later ones try again */
	fake_now_ms += 1500;
	aw_token_cache_get(tc, scope, record, &c);
	ck_assert_int_eq(fs.fetches, 2);
	fake_fail(&fs, "again");
	log = log_text();
	ck_assert_uint_eq(count(log, "token request failed"), 1);
	ck_assert_ptr_nonnull(strstr(log, "AADSTS7000215"));
	free(log);
	ck_assert(metric("aiwatch_token_failures_total{credential=\"prod\"}") == 2);
}
END_TEST

START_TEST(cache_start_failure)
{
	struct answer a = {0};

	fs.fail_start = 1;
	aw_token_cache_get(tc, scope, record, &a);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_str_eq(a.err, "cannot start: no route");
	ck_assert(metric("aiwatch_token_failures_total{credential=\"prod\"}") == 1);
}
END_TEST

START_TEST(cache_close_answers_waiters)
{
	struct answer a = {0}, b = {0};

	aw_token_cache_get(tc, scope, record, &a);
	aw_token_cache_close(tc);
	ck_assert_int_eq(fs.abandons, 1);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_str_eq(a.err, "credential 'prod' is shutting down");
	aw_token_cache_get(tc, scope, record, &b);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_str_eq(b.err, "credential 'prod' is shutting down");
	aw_token_cache_close(tc);
	ck_assert_int_eq(fs.abandons, 1);
}
END_TEST

/* A callback that asks again and invalidates while the answers go out. */
struct reenter {
	int calls;
	char second[64];
};

static void record_second(void *ud, const char *token, const struct aw_error *err)
{
	struct reenter *r = ud;
	snprintf(r->second, sizeof r->second, "%s", token ? token : "(error)");
}

static void reenter_cb(void *ud, const char *token, const struct aw_error *err)
{
	struct reenter *r = ud;

	r->calls++;
	ck_assert_ptr_nonnull(token);
	aw_token_cache_get(tc, scope, record_second, r);
	aw_token_cache_invalidate(tc, scope, token);
}

START_TEST(cache_reentrant_callbacks)
{
	struct reenter r1 = {0}, r2 = {0};

	aw_token_cache_get(tc, scope, reenter_cb, &r1);
	aw_token_cache_get(tc, scope, reenter_cb, &r2);
	fake_answer(&fs, "tok-1", 3600, 0);
	ck_assert_int_eq(r1.calls, 1);
	ck_assert_int_eq(r2.calls, 1);
	/* r1 got the cached token synchronously; r1 then dropped it, so r2's second ask
	 * waits for a new request */
	ck_assert_str_eq(r1.second, "tok-1");
	ck_assert_str_eq(r2.second, "");
	ck_assert_int_eq(fs.fetches, 2);
	fake_answer(&fs, "tok-2", 3600, 0);
	ck_assert_str_eq(r2.second, "tok-2");
}
END_TEST

START_TEST(cache_bearer)
{
	const struct aw_http_bearer *b = aw_token_cache_bearer(tc, scope);
	struct answer a = {0};

	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_eq(aw_token_cache_bearer(tc, scope), b);
	ck_assert_int_eq(b->get(b->ud, record, &a), 0);
	fake_answer(&fs, "tok-1", 3600, 0);
	ck_assert_str_eq(a.token, "tok-1");
	b->invalidate(b->ud, "tok-1");
	b->get(b->ud, record, &a);
	ck_assert_int_eq(fs.fetches, 2);
	fake_answer(&fs, "tok-2", 3600, 0);
	ck_assert_str_eq(a.token, "tok-2");
	ck_assert_int_eq(b->get(b->ud, NULL, NULL), -1);
}
END_TEST

START_TEST(cache_limits)
{
	struct answer a = {0};
	char s[64];

	aw_token_cache_get(tc, "", record, &a);
	ck_assert_ptr_nonnull(strstr(a.err, "invalid scope"));
	aw_token_cache_get(tc, "https://x/ .default", record, &a);
	ck_assert_ptr_nonnull(strstr(a.err, "invalid scope"));
	aw_token_cache_get(tc, NULL, record, &a);
	ck_assert_ptr_nonnull(strstr(a.err, "no scope"));
	ck_assert_int_eq(aw_token_cache_get(tc, scope, NULL, NULL), -1);
	for (int i = 0; i < AW_TOKEN_MAX_SCOPES; i++) {
		snprintf(s, sizeof s, "https://r%d/.default", i);
		ck_assert_ptr_nonnull(aw_token_cache_bearer(tc, s));
	}
	aw_token_cache_get(tc, "https://one-more/.default", record, &a);
	ck_assert_ptr_nonnull(strstr(a.err, "more than 64 scopes"));
	ck_assert_ptr_null(aw_token_cache_bearer(tc, "https://one-more/.default"));
}
END_TEST

START_TEST(cache_waiter_ceiling)
{
	static struct answer a[AW_TOKEN_MAX_WAITERS + 1];

	for (int i = 0; i <= AW_TOKEN_MAX_WAITERS; i++)
		aw_token_cache_get(tc, scope, record, &a[i]);
	ck_assert_int_eq(a[AW_TOKEN_MAX_WAITERS].calls, 1);
	ck_assert_ptr_nonnull(strstr(a[AW_TOKEN_MAX_WAITERS].err, "already wait"));
	fake_answer(&fs, "tok-1", 3600, 0);
	ck_assert_str_eq(a[0].token, "tok-1");
	ck_assert_str_eq(a[AW_TOKEN_MAX_WAITERS - 1].token, "tok-1");
}
END_TEST

/* ---------------------------------------------------------------- options and checks */

static void clear_env(void)
{
	static const char *const vars[] = {
	    "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
	    "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
	    "IDENTITY_ENDPOINT", "IDENTITY_HEADER", NULL};

	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
}

static struct aw_credential_conf conf_defaults(void)
{
	struct aw_credential_conf c;
	struct aw_error err;

	ck_assert_int_eq(aw_options_defaults(aw_credential_options, &c, &err), 0);
	return c;
}

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = v ? strdup(v) : NULL;
}

/* Check c; the joined messages are returned (malloc'd) and the count in *n. */
static char *check(const struct aw_credential_conf *c, size_t *n)
{
	struct aw_error_list errs = {0};
	char *all = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&all, &len);

	aw_credential_conf_check(c, "azure.credential", &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(f, "%s\n", errs.msgs[i]);
	fclose(f);
	*n = aw_error_list_count(&errs);
	aw_error_list_free(&errs);
	return all;
}

static void check_says(const struct aw_credential_conf *c, const char *needle)
{
	size_t n;
	char *msgs = check(c, &n);

	ck_assert_msg(n > 0 && strstr(msgs, needle), "expected '%s' in:\n%s", needle, msgs);
	free(msgs);
}

static void check_clean(const struct aw_credential_conf *c)
{
	size_t n;
	char *msgs = check(c, &n);

	ck_assert_msg(n == 0, "unexpected:\n%s", msgs);
	free(msgs);
}

START_TEST(options_defaults)
{
	struct aw_credential_conf c = conf_defaults();

	ck_assert_str_eq(c.kind, "default");
	ck_assert_str_eq(c.imds_endpoint, "http://169.254.169.254");
	ck_assert_uint_eq(c.refresh_before_ms, 300000);
	ck_assert_ptr_null(c.tenant_id);
	ck_assert_ptr_null(c.client_secret.value);
	clear_env();
	check_clean(&c);
	aw_options_free(aw_credential_options, &c);
}
END_TEST

START_TEST(check_kinds_and_requirements)
{
	struct aw_credential_conf c = conf_defaults();

	clear_env();
	set_str(&c.kind, "magic");
	check_says(&c, "azure.credential.kind: unknown credential kind 'magic' (expected default, "
		       "managed_identity, workload_identity, client_secret, client_certificate)");
	set_str(&c.kind, "client_secret");
	check_says(&c, "azure.credential.tenant_id: required by kind client_secret");
	check_says(&c, "azure.credential.client_id: required by kind client_secret");
	check_says(&c, "azure.credential.client_secret: required by kind client_secret");
	set_str(&c.tenant_id, "00000000-0000-0000-0000-0000000000aa");
	set_str(&c.client_id, "app-1");
	c.client_secret.value = strdup("s3cret-value");
	check_clean(&c);
	set_str(&c.tenant_id, "bad/tenant");
	check_says(&c, "azure.credential.tenant_id: 'bad/tenant' is not a tenant id or domain");
	set_str(&c.tenant_id, "contoso.onmicrosoft.com");
	set_str(&c.object_id, "obj");
	check_says(&c, "azure.credential.object_id: not used by kind client_secret");
	set_str(&c.object_id, NULL);
	set_str(&c.authority_host, "http://login.example.com");
	check_says(&c, "azure.credential.authority_host: 'http://login.example.com' is not an "
		       "https:// URL");
	set_str(&c.authority_host, "http://127.0.0.1:8080");
	check_clean(&c);
	set_str(&c.authority_host, "https://login.microsoftonline.us/");
	check_clean(&c);
	set_str(&c.certificate, "/nonexistent.pem");
	check_says(&c, "client_secret and certificate are both set");
	check_says(&c, "azure.credential.certificate: not used by kind client_secret");
	set_str(&c.kind, "client_certificate");
	check_says(&c, "azure.credential.certificate: certificate /nonexistent.pem: cannot open");
	set_str(&c.kind, "workload_identity");
	check_says(&c, "azure.credential.federated_token_file: required by kind workload_identity "
		       "(or $AZURE_FEDERATED_TOKEN_FILE)");
	aw_options_free(aw_credential_options, &c);
}
END_TEST

START_TEST(check_environment_fills_in)
{
	struct aw_credential_conf c = conf_defaults();

	clear_env();
	set_str(&c.kind, "workload_identity");
	check_says(&c, "tenant_id: required by kind workload_identity (or $AZURE_TENANT_ID)");
	setenv("AZURE_TENANT_ID", "tenant-1", 1);
	setenv("AZURE_CLIENT_ID", "client-1", 1);
	setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token", 1);
	check_clean(&c);
	setenv("AZURE_AUTHORITY_HOST", "ftp://nope", 1);
	check_says(&c, "authority_host: 'ftp://nope' is not an https:// URL");
	clear_env();
	set_str(&c.kind, "managed_identity");
	set_str(&c.client_id, "c");
	set_str(&c.msi_res_id, "/subscriptions/s/resourcegroups/g/providers/x/y");
	check_says(&c, "client_id, object_id and msi_res_id each select a user-assigned identity");
	set_str(&c.msi_res_id, NULL);
	set_str(&c.tenant_id, "t");
	check_says(&c, "azure.credential.tenant_id: not used by kind managed_identity");
	set_str(&c.tenant_id, NULL);
	set_str(&c.identity_endpoint, "http://127.0.0.1:4141/msi/token");
	check_says(&c, "identity_endpoint: set, but $IDENTITY_HEADER");
	setenv("IDENTITY_HEADER", "hdr-secret", 1);
	check_clean(&c);
	set_str(&c.imds_endpoint, "http://169.254.169.254/?x=1");
	check_says(&c, "imds_endpoint");
	clear_env();
	aw_options_free(aw_credential_options, &c);
}
END_TEST

START_TEST(form_encoding)
{
	struct aw_form f = {0};

	ck_assert_int_eq(aw_form_add(&f, "scope", "https://management.azure.com/.default"), 0);
	ck_assert_int_eq(aw_form_add(&f, "client_secret", "a+b c&d=e~f_g.h-i%"), 0);
	ck_assert_str_eq(f.buf, "scope=https%3A%2F%2Fmanagement.azure.com%2F.default&"
				"client_secret=a%2Bb%20c%26d%3De~f_g.h-i%25");
	ck_assert_uint_eq(f.len, strlen(f.buf));
	/* the ceiling */
	char *big = malloc(AW_FORM_MAX);
	memset(big, 'a', AW_FORM_MAX - 1);
	big[AW_FORM_MAX - 1] = '\0';
	ck_assert_int_eq(aw_form_add(&f, "x", big), -1);
	free(big);
	aw_form_free(&f);
	ck_assert_ptr_null(f.buf);
}
END_TEST

START_TEST(auth_add_checks)
{
	struct aw_credential_conf c = conf_defaults();
	struct aw_auth *a = NULL;
	struct aw_credential *cr = NULL;
	struct aw_error err;

	clear_env();
	ck_assert_int_eq(aw_auth_new(NULL, NULL, &a, &err), 0);
	set_str(&c.kind, "client_secret");
	ck_assert_int_eq(aw_auth_add(a, "prod", &c, &cr, &err), -1);
	ck_assert_str_eq(err.msg, "3 problems, the first: credential prod.tenant_id: required by "
				  "kind client_secret");
	set_str(&c.kind, "managed_identity");
	ck_assert_int_eq(aw_auth_add(a, "prod", &c, &cr, &err), 0);
	ck_assert_ptr_eq(aw_auth_find(a, "prod"), cr);
	ck_assert_ptr_null(aw_auth_find(a, "other"));
	ck_assert_int_eq(aw_auth_add(a, "prod", &c, NULL, &err), -1);
	ck_assert_str_eq(err.msg, "credential 'prod' is defined twice");
	ck_assert_int_eq(aw_auth_add(a, "bad name", &c, NULL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "credential name 'bad name'"));
	ck_assert_ptr_nonnull(aw_credential_bearer(cr, scope));
	aw_auth_free(a);
	aw_options_free(aw_credential_options, &c);
}
END_TEST

START_TEST(default_chain_sources)
{
	struct aw_credential_conf c = conf_defaults(), mi = conf_defaults();
	struct aw_auth *a = NULL;
	struct aw_credential *cr;
	struct aw_error err;

	clear_env();
	ck_assert_int_eq(aw_auth_new(NULL, NULL, &a, &err), 0);
	/* nothing set: managed identity only, probing IMDS */
	ck_assert_int_eq(aw_auth_add(a, "d1", &c, &cr, &err), 0);
	ck_assert_uint_eq(cr->nsrc, 1);
	ck_assert_int_eq(cr->src[0].kind, AW_SRC_IMDS);
	ck_assert(cr->src[0].probe);
	ck_assert_str_eq(cr->src[0].endpoint, "http://169.254.169.254/metadata/identity/oauth2/token");
	ck_assert_ptr_null(cr->src[0].sel_key);
	/* the SDK order: environment, workload identity, managed identity */
	setenv("AZURE_TENANT_ID", "tenant-1", 1);
	setenv("AZURE_CLIENT_ID", "client-1", 1);
	setenv("AZURE_CLIENT_SECRET", "env-secret-value", 1);
	setenv("AZURE_FEDERATED_TOKEN_FILE", "/run/token", 1);
	setenv("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/", 1);
	ck_assert_int_eq(aw_auth_add(a, "d2", &c, &cr, &err), 0);
	ck_assert_uint_eq(cr->nsrc, 3);
	ck_assert_int_eq(cr->chosen, -1);
	ck_assert_int_eq(cr->src[0].kind, AW_SRC_SECRET);
	ck_assert_str_eq(cr->src[0].endpoint,
			 "https://login.microsoftonline.us/tenant-1/oauth2/v2.0/token");
	ck_assert_int_eq(cr->src[1].kind, AW_SRC_WORKLOAD);
	ck_assert_str_eq(cr->src[1].path, "/run/token");
	ck_assert_int_eq(cr->src[2].kind, AW_SRC_IMDS);
	/* AZURE_CLIENT_ID selects the user-assigned identity */
	ck_assert_str_eq(cr->src[2].sel_key, "client_id");
	ck_assert_str_eq(cr->src[2].sel_val, "client-1");
	/* ... unless the configuration selects one */
	set_str(&c.msi_res_id, "/subscriptions/s/x");
	ck_assert_int_eq(aw_auth_add(a, "d3", &c, &cr, &err), 0);
	ck_assert_str_eq(cr->src[2].sel_key, "msi_res_id");
	clear_env();
	/* App Service: its endpoint and header, and its own parameter names */
	setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:4141/msi/token", 1);
	setenv("IDENTITY_HEADER", "hdr-secret", 1);
	set_str(&mi.kind, "managed_identity");
	set_str(&mi.object_id, "obj-1");
	ck_assert_int_eq(aw_auth_add(a, "appsvc", &mi, &cr, &err), 0);
	ck_assert_int_eq(cr->src[0].kind, AW_SRC_APPSVC);
	ck_assert_str_eq(cr->src[0].endpoint, "http://127.0.0.1:4141/msi/token");
	ck_assert_str_eq(cr->src[0].sel_key, "principal_id");
	ck_assert(!cr->src[0].probe);
	clear_env();
	aw_auth_free(a);
	aw_options_free(aw_credential_options, &c);
	aw_options_free(aw_credential_options, &mi);
}
END_TEST

static Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *t;

	t = tcase_create("parse");
	tcase_add_test(t, parse_entra_numbers);
	tcase_add_test(t, parse_imds_strings);
	tcase_add_test(t, parse_expires_on_forms);
	tcase_add_test(t, parse_legacy_dates);
	tcase_add_test(t, parse_refresh_in);
	tcase_add_test(t, parse_refusals);
	tcase_add_test(t, parse_not_nul_terminated);
	tcase_add_test(t, error_descriptions);
	suite_add_tcase(s, t);

	t = tcase_create("jwt");
	tcase_add_test(t, base64url_vectors);
	tcase_add_test(t, jwt_assertion_verifies);
	tcase_add_test(t, jwt_key_refusals);
	suite_add_tcase(s, t);

	t = tcase_create("cache");
	tcase_add_checked_fixture(t, cache_setup, cache_teardown);
	tcase_add_test(t, cache_single_flight);
	tcase_add_test(t, cache_refresh_schedule);
	tcase_add_test(t, cache_refresh_before_option);
	tcase_add_test(t, cache_eager_refresh_serves_old_token);
	tcase_add_test(t, cache_failed_eager_refresh_keeps_token);
	tcase_add_test(t, cache_expired_token_waits);
	tcase_add_test(t, cache_invalidate_on_401);
	tcase_add_test(t, cache_failure_reaches_waiters);
	tcase_add_test(t, cache_start_failure);
	tcase_add_test(t, cache_close_answers_waiters);
	tcase_add_test(t, cache_reentrant_callbacks);
	tcase_add_test(t, cache_bearer);
	tcase_add_test(t, cache_limits);
	tcase_add_test(t, cache_waiter_ceiling);
	suite_add_tcase(s, t);

	t = tcase_create("options");
	tcase_add_test(t, options_defaults);
	tcase_add_test(t, check_kinds_and_requirements);
	tcase_add_test(t, check_environment_fills_in);
	tcase_add_test(t, form_encoding);
	tcase_add_test(t, auth_add_checks);
	tcase_add_test(t, default_chain_sources);
	suite_add_tcase(s, t);
	return s;
}

AW_TEST_MAIN(auth_suite)
