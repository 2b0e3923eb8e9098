/* Client-assertion JWTs as Entra ID checks them (contract §1.4).
 *
 * PS256 is verified with a salt as long as the digest (RFC 7518 §3.5), as Entra's
 * verifiers do: a client that lets OpenSSL pick its default (maximum) salt would be
 * rejected by Azure, so it is rejected here too. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "emu_state.h"

#define AW_EMU_ASSERTION_SKEW_S 300 /* nbf may be this far ahead of our clock */

struct aw_emu_jwt {
	json_object *header;
	json_object *claims;
	unsigned char *sig;
	size_t siglen;
	size_t signed_len; /* "header.payload" */
};

static void jwt_free(struct aw_emu_jwt *j)
{
	json_object_put(j->header);
	json_object_put(j->claims);
	free(j->sig);
	memset(j, 0, sizeof(*j));
}

static json_object *decode_json_part(const char *s, size_t len)
{
	unsigned char *text;
	size_t n;
	json_object *o;

	if (aw_emu_b64url_decode(s, len, &text, &n) < 0)
		return NULL;
	o = json_tokener_parse((const char *)text);
	free(text);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

static int jwt_split(const char *s, struct aw_emu_jwt *j)
{
	const char *d1 = strchr(s, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;

	memset(j, 0, sizeof(*j));
	if (!d2 || strchr(d2 + 1, '.'))
		return -1;
	j->header = decode_json_part(s, (size_t)(d1 - s));
	j->claims = decode_json_part(d1 + 1, (size_t)(d2 - d1 - 1));
	if (!j->header || !j->claims ||
	    aw_emu_b64url_decode(d2 + 1, strlen(d2 + 1), &j->sig, &j->siglen) < 0) {
		jwt_free(j);
		return -1;
	}
	j->signed_len = (size_t)(d2 - s);
	return 0;
}

json_object *aw_emu_jwt_peek(const char *s)
{
	struct aw_emu_jwt j;
	json_object *claims;

	if (jwt_split(s, &j) < 0)
		return NULL;
	claims = json_object_get(j.claims);
	jwt_free(&j);
	return claims;
}

static int fail(int *aadsts, int code, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(int *aadsts, int code, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	*aadsts = code;
	va_start(ap, fmt);
	if (vsnprintf(why, whylen, fmt, ap) < 0)
		why[0] = '\0';
	va_end(ap);
	return -1;
}

/* base64url of the certificate's DER digest under md. */
static char *thumbprint(X509 *cert, const EVP_MD *md)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (X509_digest(cert, md, digest, &n) != 1)
		return NULL;
	return aw_emu_b64url_encode(digest, n);
}

static int check_thumbprints(const struct aw_emu_jwt *j, X509 *cert, int *aadsts, char *why,
			     size_t whylen)
{
	const char *s256 = aw_emu_cfg_str(j->header, "x5t#S256", NULL);
	const char *s1 = aw_emu_cfg_str(j->header, "x5t", NULL);
	char *want;
	int ok = 1;

	if (!s256 && !s1)
		return fail(aadsts, 700027, why, whylen,
			    "Client assertion header names no certificate (x5t#S256 or x5t).");
	if (s256) {
		want = thumbprint(cert, EVP_sha256());
		ok = want && !strcmp(want, s256);
		free(want);
	}
	if (ok && s1) {
		want = thumbprint(cert, EVP_sha1());
		ok = want && !strcmp(want, s1);
		free(want);
	}
	if (!ok)
		return fail(aadsts, 700027, why, whylen,
			    "Client assertion contains an invalid signature. [Reason - The key "
			    "was not found., Thumbprint of key used by client: '%s']",
			    s256 ? s256 : s1);
	return 0;
}

static int check_signature(const char *jwt, const struct aw_emu_jwt *j, X509 *cert, bool pss,
			   int *aadsts, char *why, size_t whylen)
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int ret = -1;

	if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)
		return fail(aadsts, 700027, why, whylen,
			    "The client's certificate has no RSA key.");
	ctx = aw_emu_need(EVP_MD_CTX_new());
	if (EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, pk) != 1 ||
	    (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
		     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1))) {
		fail(aadsts, 700027, why, whylen, "Cannot set up signature verification.");
		goto out;
	}
	if (EVP_DigestVerify(ctx, j->sig, j->siglen, (const unsigned char *)jwt, j->signed_len) !=
	    1) {
		fail(aadsts, 700027, why, whylen,
		     "Client assertion failed signature validation (%s).", pss ? "PS256" : "RS256");
		goto out;
	}
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* aud must be the token endpoint of this tenant, on any host (tests use 127.0.0.1). */
static bool aud_ok(const char *aud, const char *tenant)
{
	const char *host, *path;
	char want[512];

	if (aw_emu_starts_with(aud, "https://"))
		host = aud + 8;
	else if (aw_emu_starts_with(aud, "http://"))
		host = aud + 7;
	else
		return false;
	path = strchr(host, '/');
	if (!path || path == host)
		return false;
	snprintf(want, sizeof(want), "/%s/oauth2/v2.0/token", tenant);
	return !strcmp(path, want);
}

static int check_claims(const struct aw_emu_jwt *j, const char *client_id, const char *tenant,
			int *aadsts, char *why, size_t whylen)
{
	const char *aud = aw_emu_cfg_str(j->claims, "aud", NULL);
	const char *iss = aw_emu_cfg_str(j->claims, "iss", NULL);
	const char *sub = aw_emu_cfg_str(j->claims, "sub", NULL);
	int64_t now = (int64_t)time(NULL);
	int64_t exp = aw_emu_cfg_int(j->claims, "exp", -1);
	int64_t nbf = aw_emu_cfg_int(j->claims, "nbf", now);

	if (!aud || !aud_ok(aud, tenant))
		return fail(aadsts, 700027, why, whylen,
			    "Client assertion audience claim does not match the token endpoint "
			    "'<authority>/%s/oauth2/v2.0/token' (aud: '%s').",
			    tenant, aud ? aud : "(missing)");
	if (!iss || !sub || strcmp(iss, client_id) != 0 || strcmp(sub, client_id) != 0)
		return fail(aadsts, 700027, why, whylen,
			    "Client assertion iss and sub must both be the client id '%s'.",
			    client_id);
	if (exp < 0)
		return fail(aadsts, 700027, why, whylen, "Client assertion has no exp claim.");
	if (exp <= now || nbf > now + AW_EMU_ASSERTION_SKEW_S)
		return fail(aadsts, 700024, why, whylen,
			    "Client assertion is not within its valid time range. Current time: "
			    "%lld, assertion valid from %lld, expiry time of assertion %lld.",
			    (long long)now, (long long)nbf, (long long)exp);
	return 0;
}

int aw_emu_jwt_verify_cert(const char *jwt, const char *cert_path, const char *client_id,
			   const char *tenant, int *aadsts, char *why, size_t whylen)
{
	struct aw_emu_jwt j;
	BIO *bio = NULL;
	X509 *cert = NULL;
	const char *alg;
	int ret = -1;

	if (jwt_split(jwt, &j) < 0)
		return fail(aadsts, 700027, why, whylen,
			    "Client assertion is not a compact JWT (header.payload.signature).");
	alg = aw_emu_cfg_str(j.header, "alg", "");
	if (strcmp(alg, "RS256") != 0 && strcmp(alg, "PS256") != 0) {
		fail(aadsts, 700027, why, whylen,
		     "Client assertion alg '%s' is not RS256 or PS256.", alg);
		goto out;
	}
	bio = BIO_new_file(cert_path, "r");
	cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (!cert) {
		fail(aadsts, 700027, why, whylen,
		     "The emulator cannot read the certificate registered for client '%s' (%s).",
		     client_id, cert_path);
		goto out;
	}
	if (check_thumbprints(&j, cert, aadsts, why, whylen) < 0 ||
	    check_signature(jwt, &j, cert, !strcmp(alg, "PS256"), aadsts, why, whylen) < 0 ||
	    check_claims(&j, client_id, tenant, aadsts, why, whylen) < 0)
		goto out;
	ret = 0;
out:
	ERR_clear_error(); /* a failed check leaves OpenSSL errors on this thread */
	X509_free(cert);
	BIO_free(bio);
	jwt_free(&j);
	return ret;
}
