/* Key Vault data plane: get secret (contract §7).
 *
 * Served at /kv/{vault}/secrets/{name}[/{version}] (the daemon's keyvault_endpoint
 * template is http://127.0.0.1:PORT/kv/{vault} in tests). Secrets come from config
 * "keyvault": {"VAULT": {"NAME": "value"}}. Each value has one version, derived from
 * its content, so a rotated value gets a new version id. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "emu_state.h"

#define AW_EMU_KV_AUDIENCE "https://vault.azure.net"
#define AW_EMU_KV_CREATED  1700000000 /* attributes.created/updated of every secret */

/* Vault and secret names are case-insensitive in Key Vault. */
static json_object *find_ci(json_object *obj, const char *key)
{
	if (!json_object_is_type(obj, json_type_object))
		return NULL;
	json_object_object_foreach(obj, k, v)
	{
		if (!strcasecmp(k, key))
			return v;
	}
	return NULL;
}

static void secret_version(const char *vault, const char *name, const char *value, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *c = aw_emu_need(EVP_MD_CTX_new());
	unsigned n = 0;

	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, vault, strlen(vault) + 1) != 1 ||
	    EVP_DigestUpdate(c, name, strlen(name) + 1) != 1 ||
	    EVP_DigestUpdate(c, value, strlen(value)) != 1 || EVP_DigestFinal_ex(c, md, &n) != 1 ||
	    n < 16)
		memset(md, 0, 16);
	EVP_MD_CTX_free(c);
	aw_emu_hex(md, 16, out);
}

static void get_secret(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	const char *vault = aw_emu_param(rq, "vault"), *name = aw_emu_param(rq, "name");
	const char *want_version = aw_emu_param(rq, "version");
	json_object *cfg, *v, *o, *attrs;
	char version[33], id[1024];

	if (!aw_emu_query(rq, "api-version")) {
		aw_emu_resp_oneapi(
		    resp, 400, "BadParameter",
		    "The request is missing the required query parameter 'api-version'.");
		return;
	}
	cfg = aw_emu_config_acquire(rq->st);
	v = find_ci(find_ci(find_ci(cfg, "keyvault"), vault), name);
	if (v)
		secret_version(vault, name, json_object_get_string(v), version);
	if (!v || (want_version && *want_version && strcasecmp(want_version, version) != 0)) {
		aw_emu_resp_oneapi(
		    resp, 404, "SecretNotFound",
		    "A secret with (name/id) %s%s%s was not found in this key vault. If "
		    "you recently deleted this secret you may be able to recover it using "
		    "the correct recovery command.",
		    name, want_version ? "/" : "", want_version ? want_version : "");
		goto out;
	}
	snprintf(id, sizeof(id), "http://127.0.0.1:%u/kv/%s/secrets/%s/%s", rq->st->port, vault,
		 name, version);
	o = aw_emu_need(json_object_new_object());
	attrs = aw_emu_need(json_object_new_object());
	json_object_object_add(o, "value", json_object_new_string(json_object_get_string(v)));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(attrs, "enabled", json_object_new_boolean(1));
	json_object_object_add(attrs, "created", json_object_new_int64(AW_EMU_KV_CREATED));
	json_object_object_add(attrs, "updated", json_object_new_int64(AW_EMU_KV_CREATED));
	json_object_object_add(attrs, "recoveryLevel",
			       json_object_new_string("Recoverable+Purgeable"));
	json_object_object_add(attrs, "recoverableDays", json_object_new_int(90));
	json_object_object_add(o, "attributes", attrs);
	aw_emu_resp_json(resp, 200, o);
out:
	aw_emu_config_release(rq->st, cfg);
}

static int validate(json_object *cfg, char *err, size_t errlen)
{
	json_object *kv;

	if (aw_emu_cfg_check(cfg, "keyvault", json_type_object, err, errlen) < 0)
		return -1;
	if (!json_object_object_get_ex(cfg, "keyvault", &kv))
		return 0;
	json_object_object_foreach(kv, vault, secrets)
	{
		if (!json_object_is_type(secrets, json_type_object)) {
			snprintf(err, errlen, "config: keyvault.%s must be an object of secrets",
				 vault);
			return -1;
		}
		json_object_object_foreach(secrets, name, value)
		{
			if (!json_object_is_type(value, json_type_string)) {
				snprintf(err, errlen, "config: keyvault.%s.%s must be a string",
					 vault, name);
				return -1;
			}
		}
	}
	return 0;
}

static const struct aw_emu_route routes[] = {
    {"GET", "/kv/{vault}/secrets/{name}", AW_EMU_KV_AUDIENCE, AW_EMU_F_CHALLENGE, get_secret},
    {"GET", "/kv/{vault}/secrets/{name}/{version}", AW_EMU_KV_AUDIENCE, AW_EMU_F_CHALLENGE,
     get_secret},
    {NULL, NULL, NULL, 0, NULL},
};

const struct aw_emu_module aw_emu_keyvault_module = {"keyvault", routes, validate, NULL};
