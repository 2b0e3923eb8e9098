/* What librdkafka needs to know about an Entra ID access token before it uses it for
 * SASL OAUTHBEARER (kafka_common.h): when it expires and a principal name. Both are
 * claims in the token's payload, the base64url JSON between its first two dots; the
 * signature is not checked (the broker does that). The token never reaches a log. */
#include <ctype.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_common.h"

/* An access token's payload is a few KiB; a larger one is not a token we know. */
#define TOKEN_MAX_PAYLOAD 16384

/* base64url (no padding) to bytes, NUL-terminated; NULL when it is not base64url. */
static char *b64url_decode(const char *s, size_t n, size_t *outlen)
{
	size_t padded = (n + 3) / 4 * 4;
	unsigned char *in, *out;
	int len;

	if (n == 0 || n > TOKEN_MAX_PAYLOAD || n % 4 == 1)
		return NULL;
	in = malloc(padded + 1);
	out = malloc(padded / 4 * 3 + 1);
	if (!in || !out)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '-')
			ch = '+';
		else if (ch == '_')
			ch = '/';
		else if (!isalnum((unsigned char)ch))
			goto fail;
		in[i] = (unsigned char)ch;
	}
	for (size_t i = n; i < padded; i++)
		in[i] = '=';
	len = EVP_DecodeBlock(out, in, (int)padded);
	if (len < 0)
		goto fail;
	/* EVP_DecodeBlock counts the padding as zero bytes: take them off again. */
	len -= (int)(padded - n);
	out[len] = '\0';
	*outlen = (size_t)len;
	free(in);
	return (char *)out;
fail:
	free(in);
	free(out);
	return NULL;
}

static const char *claim_str(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) == 0)
		return NULL;
	return json_object_get_string(v);
}

int aw_kafka_token_claims(const char *token, int64_t *exp, char *principal, size_t psz)
{
	static const char *const names[] = {"oid", "sub", "appid", "azp"};
	const char *dot1 = token ? strchr(token, '.') : NULL, *dot2, *p;
	json_object *root = NULL, *e;
	char *payload = NULL;
	size_t plen = 0;
	int rc = -1;

	snprintf(principal, psz, "aiwatchd");
	if (!dot1 || !(dot2 = strchr(dot1 + 1, '.')))
		return -1;
	payload = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen);
	if (!payload)
		return -1;
	root = json_tokener_parse(payload);
	if (!json_object_is_type(root, json_type_object))
		goto out;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if ((p = claim_str(root, names[i]))) {
			snprintf(principal, psz, "%s", p);
			break;
		}
	}
	if (json_object_object_get_ex(root, "exp", &e) &&
	    (json_object_is_type(e, json_type_int) || json_object_is_type(e, json_type_double))) {
		*exp = json_object_get_int64(e);
		rc = *exp > 0 ? 0 : -1;
	}
out:
	json_object_put(root);
	free(payload);
	return rc;
}
