/* The ARM inputs' shared configuration rules and identity (see arm_conf.h). */
#include "arm_conf.h"

#include <stdio.h>
#include <string.h>

bool aw_arm_own_credential(const struct aw_credential_conf *c)
{
	struct aw_credential_conf d;
	bool own = true;

	if (aw_options_defaults(aw_credential_options, &d, NULL) == 0)
		own = !aw_options_equal(aw_credential_options, c, &d);
	aw_options_free(aw_credential_options, &d);
	return own;
}

bool aw_arm_is_guid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	}
	return true;
}

int aw_arm_conf_check(const char *where, const char *arm_endpoint, const char *scope,
		      const struct aw_credential_conf *credential, struct aw_error_list *errs)
{
	char sub[256];
	int rc = 0;

	if (!arm_endpoint ||
	    (strncmp(arm_endpoint, "https://", 8) != 0 && strncmp(arm_endpoint, "http://", 7) != 0))
		rc = aw_error_list_add(errs, "%s.arm_endpoint: expected an https:// URL", where);
	if (!scope || !*scope)
		rc = aw_error_list_add(errs, "%s.scope: empty", where);
	if (aw_arm_own_credential(credential)) {
		snprintf(sub, sizeof sub, "%s.credential", where);
		if (aw_credential_conf_check(credential, sub, errs) < 0)
			rc = -1;
	}
	return rc;
}

int aw_arm_endpoint_usable(const char *arm_endpoint, bool insecure_http, struct aw_error *err)
{
	if (strncmp(arm_endpoint, "http://", 7) == 0 && !insecure_http)
		return aw_error_set(err,
				    "arm_endpoint %s: plain http is only for the test emulator "
				    "(azure.insecure_http_for_tests)",
				    arm_endpoint);
	return 0;
}

int aw_arm_bearer(const struct aw_arm_identity *id, struct aw_auth **own_auth,
		  const struct aw_http_bearer **bearer, struct aw_error *err)
{
	const char *name = id->name ? id->name : id->kind;
	struct aw_credential *cred = id->fallback;
	char cname[160];

	*own_auth = NULL;
	*bearer = NULL;
	if (aw_arm_own_credential(id->credential)) {
		snprintf(cname, sizeof cname, "%s/%s", id->kind, name);
		if (aw_auth_new(id->http, id->metrics, own_auth, err) != 0)
			return -1;
		aw_auth_set_loop(*own_auth, id->loop);
		if (aw_auth_add(*own_auth, cname, id->credential, &cred, err) != 0)
			goto fail;
	}
	if (!cred) {
		aw_error_set(err,
			     "%s: no Azure identity (no credential: section, and the daemon's "
			     "azure services are not running)",
			     name);
		goto fail;
	}
	if (!(*bearer = aw_credential_bearer(cred, id->scope))) {
		aw_error_set(err, "%s: out of memory", name);
		goto fail;
	}
	return 0;
fail:
	if (*own_auth)
		aw_auth_free(*own_auth);
	*own_auth = NULL;
	return -1;
}
