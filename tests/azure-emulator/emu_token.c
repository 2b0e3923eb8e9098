/* Bearer tokens: minted by the token routes, checked by the resource routes.
 *
 * A token is "emu1." + base64url(JSON {aud, sub, exp, kind, n}) + "." + hex
 * HMAC-SHA256 over everything before the last dot, keyed with 32 random bytes drawn
 * at start-up: opaque to the daemon (as real tokens should be to a client), readable
 * by the emulator, and impossible to forge or to reuse across emulator runs. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "emu_state.h"

#define AW_EMU_TOKEN_PREFIX "emu1."

static void mac_hex(struct aw_emu_state *st, const char *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (!HMAC(EVP_sha256(), st->hmac_key, (int)sizeof(st->hmac_key),
		  (const unsigned char *)data, len, md, &mdlen) ||
	    mdlen != 32)
		aw_emu_need(NULL);
	aw_emu_hex(md, 32, out);
}

char *aw_emu_token_mint(struct aw_emu_state *st, const char *aud, const char *sub, const char *kind,
			int64_t *expires_on, int64_t *lifetime)
{
	json_object *cfg = aw_emu_config_acquire(st);
	json_object *claims = aw_emu_need(json_object_new_object());
	int64_t life = aw_emu_cfg_int(cfg, "token_lifetime_s", AW_EMU_DEFAULT_LIFETIME_S);
	int64_t exp = (int64_t)time(NULL) + life;
	char *payload, *signing, *token, mac[65];
	size_t len, n;
	uint64_t serial;

	aw_emu_config_release(st, cfg);
	pthread_mutex_lock(&st->mu);
	serial = ++st->token_serial;
	pthread_mutex_unlock(&st->mu);
	json_object_object_add(claims, "aud", json_object_new_string(aud));
	json_object_object_add(claims, "sub", json_object_new_string(sub));
	json_object_object_add(claims, "exp", json_object_new_int64(exp));
	json_object_object_add(claims, "kind", json_object_new_string(kind));
	json_object_object_add(claims, "n", json_object_new_int64((int64_t)serial));
	{
		const char *text = aw_emu_json_text(claims, &n);

		payload = aw_emu_b64url_encode((const unsigned char *)text, n);
	}
	json_object_put(claims);
	len = strlen(AW_EMU_TOKEN_PREFIX) + strlen(payload);
	signing = aw_emu_need(malloc(len + 1));
	snprintf(signing, len + 1, "%s%s", AW_EMU_TOKEN_PREFIX, payload);
	mac_hex(st, signing, len, mac);
	token = aw_emu_need(malloc(len + 66));
	snprintf(token, len + 66, "%s.%s", signing, mac);
	free(signing);
	free(payload);
	*expires_on = exp;
	*lifetime = life;
	return token;
}

static int copy_claim(json_object *claims, const char *key, char *dst, size_t size)
{
	json_object *v;

	if (!json_object_object_get_ex(claims, key, &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= size)
		return -1;
	memcpy(dst, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
	return 0;
}

int aw_emu_token_parse(struct aw_emu_state *st, const char *s, struct aw_emu_token *out)
{
	const char *dot;
	char mac[65];
	unsigned char *text = NULL;
	size_t textlen;
	json_object *claims = NULL, *v;
	int ret = -1;

	if (!aw_emu_starts_with(s, AW_EMU_TOKEN_PREFIX))
		return -1;
	dot = strrchr(s, '.');
	if (!dot || dot < s + strlen(AW_EMU_TOKEN_PREFIX) || strlen(dot + 1) != 64)
		return -1;
	mac_hex(st, s, (size_t)(dot - s), mac);
	if (CRYPTO_memcmp(mac, dot + 1, 64) != 0)
		return -1;
	if (aw_emu_b64url_decode(s + strlen(AW_EMU_TOKEN_PREFIX),
				 (size_t)(dot - s) - strlen(AW_EMU_TOKEN_PREFIX), &text,
				 &textlen) < 0)
		return -1;
	claims = json_tokener_parse((const char *)text);
	if (!claims || copy_claim(claims, "aud", out->aud, sizeof(out->aud)) < 0 ||
	    copy_claim(claims, "sub", out->sub, sizeof(out->sub)) < 0 ||
	    copy_claim(claims, "kind", out->kind, sizeof(out->kind)) < 0 ||
	    !json_object_object_get_ex(claims, "exp", &v) || !json_object_is_type(v, json_type_int))
		goto out;
	out->exp = json_object_get_int64(v);
	ret = 0;
out:
	json_object_put(claims);
	free(text);
	return ret;
}

/* The 401 a resource answers; with AW_EMU_F_CHALLENGE it names where to get a token,
 * as Key Vault's challenge does. */
static int unauthorized(struct aw_emu_request *rq, const char *audience, unsigned flags,
			struct aw_emu_response *resp, const char *code, const char *msg)
{
	aw_emu_resp_oneapi(resp, 401, code, "%s", msg);
	if (flags & AW_EMU_F_CHALLENGE) {
		json_object *cfg = aw_emu_config_acquire(rq->st);

		aw_emu_resp_header(
		    resp, "WWW-Authenticate",
		    "Bearer authorization=\"http://127.0.0.1:%u/%s\", resource=\"%s\"",
		    rq->st->port, aw_emu_cfg_str(cfg, "tenant_id", AW_EMU_DEFAULT_TENANT),
		    audience);
		aw_emu_config_release(rq->st, cfg);
	}
	return -1;
}

int aw_emu_require_token(struct aw_emu_request *rq, const char *audience, unsigned flags,
			 struct aw_emu_response *resp)
{
	const char *auth = aw_emu_header(rq, "Authorization");
	char msg[1024];

	if (!auth || !*auth)
		return unauthorized(
		    rq, audience, flags, resp, "AuthenticationFailed",
		    "Authentication failed. The 'Authorization' header is missing.");
	if (strncasecmp(auth, "Bearer ", 7) != 0)
		return unauthorized(rq, audience, flags, resp, "AuthenticationFailed",
				    "Authentication failed. The 'Authorization' header is not a "
				    "Bearer token.");
	if (aw_emu_token_parse(rq->st, auth + 7, &rq->token) < 0)
		return unauthorized(rq, audience, flags, resp, "InvalidAuthenticationToken",
				    "The access token is invalid.");
	if (rq->action == AW_EMU_ACT_WRONG_AUDIENCE ||
	    !aw_emu_audience_eq(rq->token.aud, audience)) {
		snprintf(msg, sizeof(msg),
			 "The access token has been obtained for wrong audience or resource '%s'. "
			 "It should exactly match with one of the allowed audiences '%s'.",
			 rq->action == AW_EMU_ACT_WRONG_AUDIENCE ? "https://wrong.audience.example"
								 : rq->token.aud,
			 audience);
		return unauthorized(rq, audience, flags, resp, "InvalidAuthenticationTokenAudience",
				    msg);
	}
	if (rq->action == AW_EMU_ACT_EXPIRED_TOKEN || rq->token.exp <= (int64_t)time(NULL))
		return unauthorized(rq, audience, flags, resp, "TokenExpired",
				    "Lifetime validation failed, the token is expired.");
	return 0;
}
