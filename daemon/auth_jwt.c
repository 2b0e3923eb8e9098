/* Client assertions for the certificate credential: a JWT signed with the
 * certificate's RSA key (PS256), naming the certificate by x5t#S256, as Entra ID's
 * "certificate credentials" page describes. The key is read from one PEM file that
 * holds both the key and the certificate, so a rotated file is picked up the next time
 * a token is requested. */
#include <errno.h>
#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth_int.h"

#define AW_JWT_PEM_MAX ((size_t)256 << 10)
#define AW_JWT_LIFETIME_S 600
#define AW_JWT_MIN_RSA_BITS 2048

struct aw_jwt_key {
	EVP_PKEY *pkey;
	char x5t_s256[48]; /* 43 characters for 32 bytes */
};

void aw_base64url(const unsigned char *in, size_t len, char *out)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
		out[o++] = tbl[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
	} else if (len - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
	}
	out[o] = '\0';
}

static size_t b64url_len(size_t n)
{
	return (n + 2) / 3 * 4 + 1;
}

/* Without this callback OpenSSL would prompt on the terminal for an encrypted key. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* The file's bytes (the key is in there: wiped by the caller). */
static int read_pem(const char *path, char **out, size_t *len, struct aw_error *err)
{
	FILE *f = fopen(path, "rbe");
	struct stat st;
	char *buf = NULL;
	size_t n;
	int rc = -1;

	if (!f)
		return aw_error_set(err, "certificate %s: cannot open: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		aw_error_set(err, "certificate %s: not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size > AW_JWT_PEM_MAX) {
		aw_error_set(err, "certificate %s: larger than %zu KiB", path, AW_JWT_PEM_MAX >> 10);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		aw_error_set(err, "certificate %s: out of memory", path);
		goto out;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		aw_error_set(err, "certificate %s: read error", path);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

void aw_jwt_key_free(struct aw_jwt_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

const char *aw_jwt_key_x5t_s256(const struct aw_jwt_key *k)
{
	return k->x5t_s256;
}

int aw_jwt_key_load(const char *pem_path, struct aw_jwt_key **out, struct aw_error *err)
{
	struct aw_jwt_key *k = NULL;
	X509 *cert = NULL;
	BIO *bio = NULL;
	char *pem = NULL;
	size_t len = 0;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int rc = -1;

	*out = NULL;
	if (read_pem(pem_path, &pem, &len, err) < 0)
		return -1;
	k = calloc(1, sizeof *k);
	if (!k) {
		aw_error_set(err, "certificate %s: out of memory", pem_path);
		goto out;
	}
	/* Both objects come from the same text, each reader skipping the other's block. */
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio || !(k->pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL))) {
		aw_error_set(err,
			     "certificate %s: no unencrypted private key (PEM \"PRIVATE KEY\" or "
			     "\"RSA PRIVATE KEY\") in the file",
			     pem_path);
		goto out;
	}
	BIO_free(bio);
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio || !(cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL))) {
		aw_error_set(err, "certificate %s: no certificate (PEM \"CERTIFICATE\") in the file",
			     pem_path);
		goto out;
	}
	if (EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA) {
		aw_error_set(err, "certificate %s: the key is not RSA (Entra ID assertions are "
				  "signed PS256)",
			     pem_path);
		goto out;
	}
	if (EVP_PKEY_get_bits(k->pkey) < AW_JWT_MIN_RSA_BITS) {
		aw_error_set(err, "certificate %s: the RSA key has %d bits; at least %d are needed",
			     pem_path, EVP_PKEY_get_bits(k->pkey), AW_JWT_MIN_RSA_BITS);
		goto out;
	}
	if (X509_check_private_key(cert, k->pkey) != 1) {
		aw_error_set(err, "certificate %s: the private key does not belong to the "
				  "certificate",
			     pem_path);
		goto out;
	}
	if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
		aw_error_set(err, "certificate %s: cannot hash the certificate", pem_path);
		goto out;
	}
	aw_base64url(md, mdlen, k->x5t_s256);
	*out = k;
	k = NULL;
	rc = 0;
out:
	/* the failure reasons are in err; OpenSSL's queue would only leak into other code */
	ERR_clear_error();
	BIO_free(bio);
	X509_free(cert);
	aw_jwt_key_free(k);
	if (pem) {
		explicit_bzero(pem, len);
		free(pem);
	}
	return rc;
}

/* base64url of a JSON object's plain text; malloc'd. */
static char *b64_json(json_object *o)
{
	size_t n;
	const char *s = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *enc;

	if (!s)
		return NULL;
	n = strlen(s);
	enc = malloc(b64url_len(n));
	if (enc)
		aw_base64url((const unsigned char *)s, n, enc);
	return enc;
}

/* A version-4 GUID from the CSPRNG. */
static int random_guid(char out[37])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof b) != 1)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
	return 0;
}

static int sign_pss(EVP_PKEY *pkey, const char *input, unsigned char **sig, size_t *siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int rc = -1;

	*sig = NULL;
	if (!md || EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
	    EVP_DigestSign(md, NULL, siglen, (const unsigned char *)input, strlen(input)) != 1)
		goto out;
	*sig = malloc(*siglen);
	if (!*sig ||
	    EVP_DigestSign(md, *sig, siglen, (const unsigned char *)input, strlen(input)) != 1) {
		free(*sig);
		*sig = NULL;
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	return rc;
}

int aw_jwt_client_assertion(const struct aw_jwt_key *k, const char *aud, const char *client_id,
			    int64_t now, char **out, struct aw_error *err)
{
	json_object *hdr = json_object_new_object(), *claims = json_object_new_object();
	char *h64 = NULL, *c64 = NULL, *input = NULL, *jwt = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0, ilen;
	char jti[37];
	int rc = -1;

	*out = NULL;
	if (!hdr || !claims || random_guid(jti) < 0) {
		aw_error_set(err, "client assertion: out of memory or no randomness");
		goto out;
	}
	json_object_object_add(hdr, "alg", json_object_new_string("PS256"));
	json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
	json_object_object_add(hdr, "x5t#S256", json_object_new_string(k->x5t_s256));
	json_object_object_add(claims, "aud", json_object_new_string(aud));
	json_object_object_add(claims, "iss", json_object_new_string(client_id));
	json_object_object_add(claims, "sub", json_object_new_string(client_id));
	json_object_object_add(claims, "jti", json_object_new_string(jti));
	json_object_object_add(claims, "nbf", json_object_new_int64(now));
	json_object_object_add(claims, "iat", json_object_new_int64(now));
	json_object_object_add(claims, "exp", json_object_new_int64(now + AW_JWT_LIFETIME_S));
	h64 = b64_json(hdr);
	c64 = b64_json(claims);
	if (!h64 || !c64) {
		aw_error_set(err, "client assertion: out of memory");
		goto out;
	}
	ilen = strlen(h64) + 1 + strlen(c64);
	input = malloc(ilen + 1);
	if (!input) {
		aw_error_set(err, "client assertion: out of memory");
		goto out;
	}
	snprintf(input, ilen + 1, "%s.%s", h64, c64);
	if (sign_pss(k->pkey, input, &sig, &siglen) < 0) {
		aw_error_set(err, "client assertion: signing with the certificate's key failed");
		goto out;
	}
	jwt = malloc(ilen + 1 + b64url_len(siglen));
	if (!jwt) {
		aw_error_set(err, "client assertion: out of memory");
		goto out;
	}
	memcpy(jwt, input, ilen);
	jwt[ilen] = '.';
	aw_base64url(sig, siglen, jwt + ilen + 1);
	*out = jwt;
	rc = 0;
out:
	json_object_put(hdr);
	json_object_put(claims);
	free(h64);
	free(c64);
	free(input);
	free(sig);
	return rc;
}
