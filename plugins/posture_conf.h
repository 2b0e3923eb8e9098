/* The `posture` input's configuration (option table in posture_conf.c), shared by the
 * input (in_posture.c) and by `aiwatchd posture` (posture_main.c), which reads the same
 * section of the daemon's config so a report covers exactly what the daemon watches. */
#ifndef AW_POSTURE_CONF_H
#define AW_POSTURE_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "../daemon/auth.h"
#include "../daemon/error.h"
#include "../daemon/metrics.h"
#include "../daemon/options.h"
#include "posture.h"

#define AW_POSTURE_SCOPE_ARM "https://management.azure.com/.default"

struct aw_posture_conf {
	struct aw_posture_scope scope;	/* subscriptions / management_groups */
	char *arm_endpoint;		/* default "https://management.azure.com" */
	char *token_scope;		/* default AW_POSTURE_SCOPE_ARM */
	struct aw_credential_conf credential; /* own identity; else the daemon's azure: one */
	uint64_t interval_ms;		/* between two reads of the estate; default 1h */
	uint64_t request_timeout_ms;
	long long page_size;		/* Resource Graph $top, default 1000 */
	long long concurrency;		/* ARM child reads in flight, default 4 */
	bool children;			/* deployments, computes, secrets; default true */
	bool diagnostics;		/* diagnostic settings; default true */
	long long max_resources;	/* default 100000 */
	long long max_findings;		/* known findings kept in state, default 200000 */
};
extern const struct aw_option aw_posture_options[];

int aw_posture_conf_validate(const void *conf, const char *where, struct aw_error_list *errs);

/* The ARM bearer for a conf: the conf's own credential when it has one (a new aw_auth on
 * http, returned in *own_auth for the caller to free after the collector is closed),
 * else default_cred's. loop is where tokens are fetched. */
int aw_posture_bearer(const struct aw_posture_conf *c, const char *name, uv_loop_t *loop,
		      struct aw_http *http, struct aw_metrics *m, struct aw_credential *default_cred,
		      struct aw_auth **own_auth, const struct aw_http_bearer **bearer,
		      struct aw_error *err);

/* Fill a collector conf from an input conf (pointers borrowed from c). */
void aw_posture_collect_conf_from(const struct aw_posture_conf *c,
				  struct aw_posture_collect_conf *out);

#endif
