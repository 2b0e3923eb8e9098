/* What the inputs that read Azure Resource Manager (in_defender, in_posture) do the same
 * way with their configuration: the checks their sections share (subscription ids,
 * arm_endpoint, the token scope, a `credential:` section of their own) and the ARM
 * bearer made from it. Written once so the two inputs cannot drift apart on who they
 * authenticate as or what endpoint they accept. */
#ifndef AW_ARM_CONF_H
#define AW_ARM_CONF_H

#include <stdbool.h>
#include <uv.h>

#include "../daemon/auth.h"
#include "../daemon/error.h"
#include "../daemon/http.h"
#include "../daemon/metrics.h"

/* True when the input has a `credential:` section of its own. A section left out holds
 * the defaults, and then the daemon's azure.credential is used. */
bool aw_arm_own_credential(const struct aw_credential_conf *c);

/* A subscription id: a GUID, either case. */
bool aw_arm_is_guid(const char *s);

/* The checks every ARM input's section ends with: arm_endpoint an https:// (or, for the
 * emulator, http://) URL, scope not empty, and its own credential section complete
 * when it has one. Adds "where.key: reason" to errs; 0 when all hold, else -1. */
int aw_arm_conf_check(const char *where, const char *arm_endpoint, const char *scope,
		      const struct aw_credential_conf *credential, struct aw_error_list *errs);

/* At init: plain http only when the daemon allows it for the test emulator. */
int aw_arm_endpoint_usable(const char *arm_endpoint, bool insecure_http, struct aw_error *err);

/* Who an input authenticates as, and where the tokens come from. */
struct aw_arm_identity {
	const struct aw_credential_conf *credential; /* the input's section */
	const char *scope;			     /* the token scope */
	const char *kind;			     /* "posture": names the credential kind/name */
	const char *name;			     /* the input; NULL: kind */
	uv_loop_t *loop;			     /* where tokens are fetched */
	struct aw_http *http;
	struct aw_metrics *metrics;
	struct aw_credential *fallback; /* the daemon's azure.credential; may be NULL */
};

/* The ARM bearer: from the input's own credential when it has one (a new aw_auth,
 * returned in *own_auth for the caller to free once nothing uses the bearer), else from
 * the fallback. -1 with err (naming the input) when there is no identity or out of
 * memory; *own_auth is then NULL. */
int aw_arm_bearer(const struct aw_arm_identity *id, struct aw_auth **own_auth,
		  const struct aw_http_bearer **bearer, struct aw_error *err);

#endif
