/* Entra ID v2.0 token endpoint, client-credentials grant (contract §1.3, §1.4).
 *
 * Clients come from config "clients": a client_secret, a certificate_pem (public
 * certificate the assertion must be signed for), or neither (a federated-only app).
 * Workload identity: the assertion is the federated token file's content and must be
 * one of "federated_tokens"; the app may also be a managed identity's client id. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "emu_state.h"

#define AW_EMU_JWT_BEARER     "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define AW_EMU_DEFAULT_SUFFIX "/.default"

/* Entra's error envelope: error, "AADSTSnnn: ..." description with trace lines,
 * error_codes, ids, timestamp. */
static void entra_error(struct aw_emu_request *rq, struct aw_emu_response *resp, unsigned status,
			const char *error, int code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void entra_error(struct aw_emu_request *rq, struct aw_emu_response *resp, unsigned status,
			const char *error, int code, const char *fmt, ...)
{
	json_object *o = aw_emu_need(json_object_new_object());
	json_object *codes = aw_emu_need(json_object_new_array());
	char msg[1024], desc[1400], trace[37], corr[37], stamp[32], uri[128];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	aw_emu_guid(trace);
	aw_emu_guid(corr);
	if (!gmtime_r(&now, &tm) || !strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%SZ", &tm))
		snprintf(stamp, sizeof(stamp), "1970-01-01 00:00:00Z");
	snprintf(desc, sizeof(desc),
		 "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", code, msg,
		 trace, corr, stamp);
	snprintf(uri, sizeof(uri), "http://127.0.0.1:%u/error?code=%d", rq->st->port, code);
	json_object_array_add(codes, json_object_new_int(code));
	json_object_object_add(o, "error", json_object_new_string(error));
	json_object_object_add(o, "error_description", json_object_new_string(desc));
	json_object_object_add(o, "error_codes", codes);
	json_object_object_add(o, "timestamp", json_object_new_string(stamp));
	json_object_object_add(o, "trace_id", json_object_new_string(trace));
	json_object_object_add(o, "correlation_id", json_object_new_string(corr));
	json_object_object_add(o, "error_uri", json_object_new_string(uri));
	aw_emu_resp_json(resp, status, o);
}

/* The entry of `list` (an array of objects) whose "client_id" is id; NULL if none. */
static json_object *find_by_client_id(json_object *cfg, const char *list_key, const char *id)
{
	json_object *list;
	size_t i;

	if (!json_object_object_get_ex(cfg, list_key, &list) ||
	    !json_object_is_type(list, json_type_array))
		return NULL;
	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		const char *cid = aw_emu_cfg_str(c, "client_id", NULL);

		if (cid && !strcasecmp(cid, id))
			return c;
	}
	return NULL;
}

static bool federated_listed(json_object *cfg, const char *assertion)
{
	json_object *list;
	size_t i;

	if (!json_object_object_get_ex(cfg, "federated_tokens", &list))
		return false;
	for (i = 0; i < json_object_array_length(list); i++) {
		const char *t = json_object_get_string(json_object_array_get_idx(list, i));

		if (t && !strcmp(t, assertion))
			return true;
	}
	return false;
}

/* A listed federated token that is a JWT must also carry the configured issuer and
 * not be expired: a stale projected-token file is the classic failure (§1.3). */
static int check_federated(json_object *cfg, const char *assertion, int *code, char *why,
			   size_t whylen)
{
	json_object *claims = aw_emu_jwt_peek(assertion);
	const char *want_iss = aw_emu_cfg_str(cfg, "federated_issuer", NULL);
	const char *iss;
	int64_t exp, now = (int64_t)time(NULL);
	int ret = 0;

	if (!claims)
		return 0;
	iss = aw_emu_cfg_str(claims, "iss", NULL);
	exp = aw_emu_cfg_int(claims, "exp", INT64_MAX);
	if (want_iss && (!iss || !aw_emu_audience_eq(iss, want_iss))) {
		*code = 70021;
		snprintf(why, whylen,
			 "No matching federated identity record found for presented "
			 "assertion issuer '%s'.",
			 iss ? iss : "(missing)");
		ret = -1;
	} else if (exp <= now) {
		*code = 700024;
		snprintf(why, whylen,
			 "Client assertion is not within its valid time range. "
			 "Current time: %lld, expiry time of assertion %lld.",
			 (long long)now, (long long)exp);
		ret = -1;
	}
	json_object_put(claims);
	return ret;
}

static void entra_token(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	const char *tenant = aw_emu_param(rq, "tenant");
	json_object *cfg = aw_emu_config_acquire(rq->st), *client, *o;
	const char *want_tenant = aw_emu_cfg_str(cfg, "tenant_id", AW_EMU_DEFAULT_TENANT);
	char *grant = aw_emu_form_value(rq->body, rq->body_len, "grant_type");
	char *client_id = aw_emu_form_value(rq->body, rq->body_len, "client_id");
	char *scope = aw_emu_form_value(rq->body, rq->body_len, "scope");
	char *secret = aw_emu_form_value(rq->body, rq->body_len, "client_secret");
	char *atype = aw_emu_form_value(rq->body, rq->body_len, "client_assertion_type");
	char *assertion = aw_emu_form_value(rq->body, rq->body_len, "client_assertion");
	const char *want_secret, *cert;
	char why[1024], *token = NULL, *aud = NULL;
	size_t slen;
	int64_t exp, life, refresh_in;
	int code;

	if (strcasecmp(tenant, want_tenant) != 0) {
		entra_error(rq, resp, 400, "invalid_request", 90002,
			    "Tenant '%s' not found. (The emulator's tenant_id is '%s'.)", tenant,
			    want_tenant);
		goto out;
	}
	if (!grant || !client_id || !scope) {
		entra_error(rq, resp, 400, "invalid_request", 900144,
			    "The request body must contain the following parameter: '%s'.",
			    !grant	 ? "grant_type"
			    : !client_id ? "client_id"
					 : "scope");
		goto out;
	}
	if (strcmp(grant, "client_credentials") != 0) {
		entra_error(rq, resp, 400, "unsupported_grant_type", 70003,
			    "The app requested an unsupported grant type '%s'.", grant);
		goto out;
	}
	slen = strlen(scope);
	if (slen <= strlen(AW_EMU_DEFAULT_SUFFIX) || strchr(scope, ' ') ||
	    strcmp(scope + slen - strlen(AW_EMU_DEFAULT_SUFFIX), AW_EMU_DEFAULT_SUFFIX) != 0) {
		entra_error(
		    rq, resp, 400, "invalid_scope", 70011,
		    "The provided value for the input parameter 'scope' is not valid. The "
		    "scope %s is not valid (client credentials need '<resource>/.default').",
		    scope);
		goto out;
	}
	client = find_by_client_id(cfg, "clients", client_id);
	if (!client && !(assertion && find_by_client_id(cfg, "managed_identities", client_id))) {
		entra_error(rq, resp, 400, "unauthorized_client", 700016,
			    "Application with identifier '%s' was not found in the directory '%s'.",
			    client_id, tenant);
		goto out;
	}
	if (secret) {
		want_secret = client ? aw_emu_cfg_str(client, "client_secret", NULL) : NULL;
		if (!want_secret || strcmp(want_secret, secret) != 0) {
			entra_error(
			    rq, resp, 401, "invalid_client", 7000215,
			    "Invalid client secret provided. Ensure the secret being sent in "
			    "the request is the client secret value, not the client secret ID, "
			    "for a secret added to app '%s'.",
			    client_id);
			goto out;
		}
	} else if (assertion) {
		if (!atype || strcmp(atype, AW_EMU_JWT_BEARER) != 0) {
			entra_error(rq, resp, 400, "invalid_request", 50027,
				    "client_assertion_type must be '%s'.", AW_EMU_JWT_BEARER);
			goto out;
		}
		cert = client ? aw_emu_cfg_str(client, "certificate_pem", NULL) : NULL;
		if (federated_listed(cfg, assertion)) {
			if (check_federated(cfg, assertion, &code, why, sizeof(why)) < 0) {
				entra_error(rq, resp, 401, "invalid_client", code, "%s", why);
				goto out;
			}
		} else if (cert) {
			if (aw_emu_jwt_verify_cert(assertion, cert, client_id, tenant, &code, why,
						   sizeof(why)) < 0) {
				entra_error(rq, resp, 401, "invalid_client", code, "%s", why);
				goto out;
			}
		} else {
			entra_error(rq, resp, 401, "invalid_client", 70021,
				    "No matching federated identity record found for presented "
				    "assertion (client '%s').",
				    client_id);
			goto out;
		}
	} else {
		entra_error(rq, resp, 401, "invalid_client", 7000218,
			    "The request body must contain the following parameter: "
			    "'client_assertion' or 'client_secret'.");
		goto out;
	}
	aud = aw_emu_strdup(scope);
	aud[slen - strlen(AW_EMU_DEFAULT_SUFFIX)] = '\0';
	token = aw_emu_token_mint(rq->st, aud, client_id, "entra", &exp, &life);
	o = aw_emu_need(json_object_new_object());
	json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
	json_object_object_add(o, "expires_in", json_object_new_int64(life));
	json_object_object_add(o, "ext_expires_in", json_object_new_int64(life));
	refresh_in = aw_emu_cfg_int(cfg, "refresh_in_s", 0);
	if (refresh_in > 0)
		json_object_object_add(o, "refresh_in", json_object_new_int64(refresh_in));
	json_object_object_add(o, "access_token", json_object_new_string(token));
	aw_emu_resp_json(resp, 200, o);
	aw_emu_count_token(rq->st, AW_EMU_KIND_ENTRA);
out:
	aw_emu_config_release(rq->st, cfg);
	free(token);
	free(aud);
	free(grant);
	free(client_id);
	free(scope);
	free(secret);
	free(atype);
	free(assertion);
}

static int check_cert_file(const char *path, size_t i, char *err, size_t errlen)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	int ret = cert ? 0 : -1;

	if (!cert) {
		snprintf(err, errlen,
			 "config: clients[%zu].certificate_pem: no PEM certificate in %s", i, path);
		ERR_clear_error();
	}
	X509_free(cert);
	BIO_free(bio);
	return ret;
}

static int validate(json_object *cfg, char *err, size_t errlen)
{
	json_object *list;
	size_t i;

	if (aw_emu_cfg_check(cfg, "clients", json_type_array, err, errlen) < 0 ||
	    aw_emu_cfg_check(cfg, "federated_tokens", json_type_array, err, errlen) < 0 ||
	    aw_emu_cfg_check(cfg, "federated_issuer", json_type_string, err, errlen) < 0)
		return -1;
	if (json_object_object_get_ex(cfg, "federated_tokens", &list)) {
		for (i = 0; i < json_object_array_length(list); i++) {
			if (!json_object_is_type(json_object_array_get_idx(list, i),
						 json_type_string)) {
				snprintf(err, errlen,
					 "config: federated_tokens[%zu] must be a string", i);
				return -1;
			}
		}
	}
	if (!json_object_object_get_ex(cfg, "clients", &list))
		return 0;
	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		const char *cert;

		if (!json_object_is_type(c, json_type_object) ||
		    !aw_emu_cfg_str(c, "client_id", NULL)) {
			snprintf(err, errlen, "config: clients[%zu] needs a \"client_id\"", i);
			return -1;
		}
		if (aw_emu_cfg_check(c, "client_secret", json_type_string, err, errlen) < 0 ||
		    aw_emu_cfg_check(c, "certificate_pem", json_type_string, err, errlen) < 0)
			return -1;
		cert = aw_emu_cfg_str(c, "certificate_pem", NULL);
		if (cert && check_cert_file(cert, i, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static const struct aw_emu_route routes[] = {
    {"POST", "/{tenant}/oauth2/v2.0/token", NULL, AW_EMU_F_OAUTH, entra_token},
    {NULL, NULL, NULL, 0, NULL},
};

const struct aw_emu_module aw_emu_entra_module = {"entra", routes, validate, NULL};
