/* Managed-identity token routes: IMDS and App Service (contract §1.1, §1.2).
 *
 * Identities come from config "managed_identities" (the first is the system-assigned
 * one). Without that key the emulator has one built-in system-assigned identity, so a
 * test that does not care about identities gets tokens; "managed_identities": []
 * models a machine without any. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "emu_state.h"

#define AW_EMU_DEFAULT_MI_CLIENT "00000000-0000-0000-0000-0000000000c1"
#define AW_EMU_DEFAULT_MI_OBJECT "00000000-0000-0000-0000-0000000000d1"

/* The identity selected by (field = value), or the first one when field is NULL.
 * Returns its client id (owned by cfg or static), NULL when there is none. */
static const char *find_identity(json_object *cfg, const char *field, const char *value)
{
	json_object *list, *first;
	size_t i, n;

	if (!json_object_object_get_ex(cfg, "managed_identities", &list)) {
		/* The built-in system-assigned identity. */
		if (!field ||
		    (!strcmp(field, "client_id") && !strcasecmp(value, AW_EMU_DEFAULT_MI_CLIENT)) ||
		    (!strcmp(field, "object_id") && !strcasecmp(value, AW_EMU_DEFAULT_MI_OBJECT)))
			return AW_EMU_DEFAULT_MI_CLIENT;
		return NULL;
	}
	n = json_object_array_length(list);
	if (!field) {
		first = n ? json_object_array_get_idx(list, 0) : NULL;
		return first ? aw_emu_cfg_str(first, "client_id", NULL) : NULL;
	}
	for (i = 0; i < n; i++) {
		json_object *mi = json_object_array_get_idx(list, i);
		const char *v = aw_emu_cfg_str(mi, field, NULL);

		/* GUIDs and ARM ids compare without regard to case, as Azure does. */
		if (v && !strcasecmp(v, value))
			return aw_emu_cfg_str(mi, "client_id", NULL);
	}
	return NULL;
}

/* The one selector among `keys` present in the query (0 or 1 allowed). */
static int pick_selector(struct aw_emu_request *rq, const char *const keys[3],
			 const char *const fields[3], const char **field, const char **value)
{
	int i, n = 0;

	*field = *value = NULL;
	for (i = 0; i < 3; i++) {
		const char *v = aw_emu_query(rq, keys[i]);

		if (v && *v) {
			*field = fields[i];
			*value = v;
			n++;
		}
	}
	return n <= 1 ? 0 : -1;
}

static void imds_token(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	static const char *const keys[3] = {"client_id", "object_id", "msi_res_id"};
	const char *metadata = aw_emu_header(rq, "Metadata");
	const char *resource = aw_emu_query(rq, "resource");
	const char *field, *value, *client;
	json_object *cfg = NULL, *o;
	int64_t exp, life;
	char num[32], *token;

	if (!metadata || strcmp(metadata, "true") != 0) {
		aw_emu_resp_oauth(resp, 400, "invalid_request",
				  "Required metadata header not specified");
		return;
	}
	if (!aw_emu_query(rq, "api-version")) {
		aw_emu_resp_oauth(resp, 400, "invalid_request",
				  "Required query variable 'api-version' is missing");
		return;
	}
	if (!resource || !*resource) {
		aw_emu_resp_oauth(resp, 400, "invalid_request",
				  "Required audience parameter not specified");
		return;
	}
	if (pick_selector(rq, keys, keys, &field, &value) < 0) {
		aw_emu_resp_oauth(resp, 400, "invalid_request",
				  "Only one of client_id, object_id or msi_res_id may be given");
		return;
	}
	cfg = aw_emu_config_acquire(rq->st);
	client = find_identity(cfg, field, value);
	if (!client) {
		aw_emu_resp_oauth(resp, 400, "invalid_request", "Identity not found");
		goto out;
	}
	token = aw_emu_token_mint(rq->st, resource, client, "imds", &exp, &life);
	o = aw_emu_need(json_object_new_object());
	json_object_object_add(o, "access_token", json_object_new_string(token));
	free(token);
	json_object_object_add(o, "refresh_token", json_object_new_string(""));
	json_object_object_add(o, "client_id", json_object_new_string(client));
	/* IMDS writes every number as a JSON string (contract §1.1, pitfall 6). */
	snprintf(num, sizeof(num), "%lld", (long long)life);
	json_object_object_add(o, "expires_in", json_object_new_string(num));
	json_object_object_add(o, "ext_expires_in", json_object_new_string(num));
	snprintf(num, sizeof(num), "%lld", (long long)exp);
	json_object_object_add(o, "expires_on", json_object_new_string(num));
	snprintf(num, sizeof(num), "%lld", (long long)(exp - life));
	json_object_object_add(o, "not_before", json_object_new_string(num));
	json_object_object_add(o, "resource", json_object_new_string(resource));
	json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
	aw_emu_resp_json(resp, 200, o);
	aw_emu_count_token(rq->st, AW_EMU_KIND_IMDS);
out:
	aw_emu_config_release(rq->st, cfg);
}

/* App Service's error shape (contract §1.2; partly unconfirmed). */
static void appservice_error(struct aw_emu_response *resp, unsigned status, const char *msg)
{
	json_object *o = aw_emu_need(json_object_new_object());
	char guid[37];

	aw_emu_guid(guid);
	json_object_object_add(o, "statusCode", json_object_new_int((int)status));
	json_object_object_add(o, "message", json_object_new_string(msg));
	json_object_object_add(o, "correlationId", json_object_new_string(guid));
	aw_emu_resp_json(resp, status, o);
}

static void appservice_token(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	static const char *const keys[3] = {"client_id", "principal_id", "mi_res_id"};
	static const char *const fields[3] = {"client_id", "object_id", "msi_res_id"};
	const char *given = aw_emu_header(rq, "X-IDENTITY-HEADER");
	const char *resource = aw_emu_query(rq, "resource");
	const char *version = aw_emu_query(rq, "api-version");
	const char *field, *value, *client, *expected;
	json_object *cfg = aw_emu_config_acquire(rq->st), *o;
	int64_t exp, life;
	char num[32], *token;

	/* Without a configured identity_header any value will do, but one must be sent. */
	expected = aw_emu_cfg_str(cfg, "identity_header", NULL);
	if (!given || !*given || (expected && strcmp(given, expected) != 0)) {
		appservice_error(resp, 401, "The X-IDENTITY-HEADER header is missing or wrong.");
		goto out;
	}
	if (!version || strcmp(version, "2019-08-01") != 0) {
		appservice_error(resp, 400,
				 "The api-version is missing or not supported "
				 "(the emulator speaks 2019-08-01).");
		goto out;
	}
	if (!resource || !*resource) {
		appservice_error(resp, 400, "The resource parameter is missing.");
		goto out;
	}
	if (pick_selector(rq, keys, fields, &field, &value) < 0) {
		appservice_error(resp, 400,
				 "Only one of client_id, principal_id or mi_res_id may be given.");
		goto out;
	}
	client = find_identity(cfg, field, value);
	if (!client) {
		appservice_error(resp, 400, "Unable to load the proper Managed Identity.");
		goto out;
	}
	token = aw_emu_token_mint(rq->st, resource, client, "appservice", &exp, &life);
	o = aw_emu_need(json_object_new_object());
	json_object_object_add(o, "access_token", json_object_new_string(token));
	free(token);
	snprintf(num, sizeof(num), "%lld", (long long)exp);
	json_object_object_add(o, "expires_on", json_object_new_string(num));
	json_object_object_add(o, "resource", json_object_new_string(resource));
	json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
	json_object_object_add(o, "client_id", json_object_new_string(client));
	aw_emu_resp_json(resp, 200, o);
	aw_emu_count_token(rq->st, AW_EMU_KIND_APPSERVICE);
out:
	aw_emu_config_release(rq->st, cfg);
}

static int validate(json_object *cfg, char *err, size_t errlen)
{
	static const char *const fields[] = {"client_id", "object_id", "msi_res_id"};
	json_object *list;
	size_t i, j;

	if (aw_emu_cfg_check(cfg, "identity_header", json_type_string, err, errlen) < 0 ||
	    aw_emu_cfg_check(cfg, "managed_identities", json_type_array, err, errlen) < 0)
		return -1;
	if (!json_object_object_get_ex(cfg, "managed_identities", &list))
		return 0;
	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *mi = json_object_array_get_idx(list, i);

		if (!json_object_is_type(mi, json_type_object) ||
		    !aw_emu_cfg_str(mi, "client_id", NULL)) {
			snprintf(err, errlen,
				 "config: managed_identities[%zu] needs a \"client_id\"", i);
			return -1;
		}
		for (j = 0; j < 3; j++) {
			if (aw_emu_cfg_check(mi, fields[j], json_type_string, err, errlen) < 0)
				return -1;
		}
	}
	return 0;
}

static const struct aw_emu_route routes[] = {
    {"GET", "/metadata/identity/oauth2/token", NULL, AW_EMU_F_OAUTH, imds_token},
    {"GET", "/msi/token", NULL, AW_EMU_F_OAUTH, appservice_token},
    {NULL, NULL, NULL, 0, NULL},
};

const struct aw_emu_module aw_emu_mi_module = {"managed_identity", routes, validate, NULL};
