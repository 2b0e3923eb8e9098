/* Entra ID credentials and the token cache.
 *
 * A credential is configured once (the `azure.credential` section, or a plugin's own
 * `credential:`) with one of the kinds below. Tokens are cached per (credential,
 * scope): refreshed ahead of expiry (5 minutes before, or earlier when the server gave
 * refresh_in or the lifetime is 2 h or more: half-life), one refresh in flight per key
 * with every waiting caller queued behind it; a failed early refresh keeps the old
 * token and is retried no sooner than 30 s later; a 401 from a resource drops the
 * token (aw_credential_invalidate). Tokens never reach a log line or a metric.
 *
 * Kinds:
 *   managed_identity   IMDS (client_id | object_id | msi_res_id for a user-assigned
 *                      identity), or App Service / Container Apps / Functions when
 *                      IDENTITY_ENDPOINT and IDENTITY_HEADER are set (mi_res_id)
 *   workload_identity  AKS: federated token file (re-read on every request),
 *                      AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_AUTHORITY_HOST
 *   client_secret      tenant_id, client_id, client_secret (a secret)
 *   client_certificate tenant_id, client_id, certificate (PEM: key and certificate),
 *                      assertion signed PS256 with x5t#S256
 *   default            the first that applies, in the Azure SDKs' order: environment
 *                      (AZURE_CLIENT_SECRET / AZURE_CLIENT_CERTIFICATE_PATH), workload
 *                      identity, managed identity. Once one works it is kept. */
#ifndef AW_AUTH_H
#define AW_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "http.h"
#include "metrics.h"
#include "options.h"

/* The `credential:` section, filled from aw_credential_options. Endpoints default to
 * the public cloud and are all configurable (sovereign clouds, the emulator). */
struct aw_credential_conf {
	char *kind;                 /* see above; default "default" */
	char *tenant_id;
	char *client_id;
	char *object_id;            /* IMDS user-assigned selection */
	char *msi_res_id;           /* IMDS / App Service (mi_res_id) user-assigned selection */
	struct aw_secret client_secret;
	char *certificate;          /* PEM file with private key and certificate */
	char *federated_token_file; /* default $AZURE_FEDERATED_TOKEN_FILE */
	char *authority_host;       /* default $AZURE_AUTHORITY_HOST or login.microsoftonline.com */
	char *imds_endpoint;        /* default http://169.254.169.254 */
	char *identity_endpoint;    /* default $IDENTITY_ENDPOINT */
	uint64_t refresh_before_ms; /* default 5 min */
};
extern const struct aw_option aw_credential_options[];

/* Check a filled conf: the kind, what it needs (settings, or the environment variables
 * that stand in for them), settings that contradict the kind, URL shapes, and that a
 * certificate file loads. Adds "where.key: reason" messages to errs; 0 or -1. */
int aw_credential_conf_check(const struct aw_credential_conf *c, const char *where,
			     struct aw_error_list *errs);

struct aw_auth;
struct aw_credential;

int aw_auth_new(struct aw_http *http, struct aw_metrics *m, struct aw_auth **out,
		struct aw_error *err);
/* The loop the aw_http client runs on: managed-identity answers 404 and 410 ("IMDS is
 * updating", up to 70 s) are retried on its timers. Without it they fail at once
 * (429 and 5xx are still retried by the shared policy). */
void aw_auth_set_loop(struct aw_auth *a, uv_loop_t *loop);
/* Pending token requests are answered with an error; every credential is freed.
 * Handles still closing are freed by the loop afterwards. */
void aw_auth_free(struct aw_auth *a);

/* Add a credential named `name` (for logs and metrics labels). The conf must outlive
 * the auth object. Errors name the missing or contradictory settings. */
int aw_auth_add(struct aw_auth *a, const char *name, const struct aw_credential_conf *conf,
		struct aw_credential **out, struct aw_error *err);
struct aw_credential *aw_auth_find(struct aw_auth *a, const char *name);

/* A token for scope ("https://management.azure.com/.default"; the managed-identity
 * kinds drop the "/.default" to form their `resource`). cb runs exactly once, maybe
 * before this returns when the cached token is fresh. */
int aw_credential_get_token(struct aw_credential *c, const char *scope, aw_token_cb cb,
			    void *cbud);
/* Drop `token` for scope if it is still the cached one (a resource answered 401). */
void aw_credential_invalidate(struct aw_credential *c, const char *scope, const char *token);

/* A bearer source for aw_http_call for (c, scope). The returned struct is owned by the
 * credential and valid while it lives. */
const struct aw_http_bearer *aw_credential_bearer(struct aw_credential *c, const char *scope);

/* --- parsers (exposed for tests and fuzzing) --------------------------------------- */

/* A token endpoint's JSON answer: access_token, expires_in / expires_on (numbers or
 * numeric strings; App Service's legacy date string too), refresh_in. Times are
 * seconds since the epoch; refresh_on is 0 when the answer had no refresh_in. The
 * token is malloc'd into *token (the caller wipes and frees it). */
struct aw_token_answer {
	char *token;
	int64_t expires_on;
	int64_t refresh_on;
};
int aw_token_answer_parse(const char *body, size_t len, int64_t now,
			  struct aw_token_answer *out, struct aw_error *err);

#endif
