/* Internals of the Entra credentials, shared by auth.c (credentials and the chain),
 * auth_cache.c (the token cache), auth_parse.c (token and error answers) and
 * auth_jwt.c (client assertions), and by their tests. Nothing else includes this. */
#ifndef AW_AUTH_INT_H
#define AW_AUTH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "auth.h"

/* Real tokens are 1-4 KiB; a longer answer is not a token we would send. */
#define AW_TOKEN_MAX_BYTES ((size_t)32 << 10)

/* --- auth_parse.c ------------------------------------------------------------------- */

/* "M/D/YYYY H:MM:SS [AM|PM] +HH:MM" (App Service 2017-09-01, Linux and Windows forms)
 * to seconds since the epoch. 0 or -1. */
int aw_token_parse_legacy_date(const char *s, int64_t *out);

/* What a token endpoint said when it refused: "invalid_client: AADSTS7000215: Invalid
 * client secret provided." (OAuth2 envelope, first line of error_description), or App
 * Service's {"statusCode","message"}, or the OneAPI envelope. Safe to log: descriptions
 * never carry the secret. Returns 0 when something was found, else -1 (buf is ""). */
int aw_token_error_describe(const char *body, size_t len, char *buf, size_t sz);

/* --- auth_jwt.c --------------------------------------------------------------------- */

/* A client certificate: its RSA private key and the base64url SHA-256 of its DER. */
struct aw_jwt_key;

/* Read a PEM file holding an unencrypted RSA private key and its certificate. Errors
 * name the file and what is missing or wrong, never key material. */
int aw_jwt_key_load(const char *pem_path, struct aw_jwt_key **out, struct aw_error *err);
void aw_jwt_key_free(struct aw_jwt_key *k);
/* base64url(SHA-256(certificate DER)), the x5t#S256 header value. */
const char *aw_jwt_key_x5t_s256(const struct aw_jwt_key *k);

/* The signed assertion for the client-credentials grant: PS256, x5t#S256, aud = the
 * token endpoint URL, iss = sub = client_id, a random jti, nbf = iat = now, exp = now +
 * 10 min. *out is malloc'd (the caller wipes and frees it). */
int aw_jwt_client_assertion(const struct aw_jwt_key *k, const char *aud, const char *client_id,
			    int64_t now, char **out, struct aw_error *err);

/* base64url without padding of len bytes into out (size >= 4 * ceil(len / 3) + 1). */
void aw_base64url(const unsigned char *in, size_t len, char *out);

/* --- auth_cache.c ------------------------------------------------------------------- */

/* Where the cache gets tokens from (auth.c's credential). fetch() starts one request and
 * returns 0, or returns -1 with err and never calls done. Once started, done runs
 * exactly once, later (never inside fetch), with a parsed answer (the cache takes
 * ans->token) or an error -- unless abandon() is called first, after which it never
 * runs. */
typedef void (*aw_token_fetch_done)(void *cbud, struct aw_token_answer *ans,
				    const struct aw_error *err);
struct aw_token_source {
	int (*fetch)(void *ud, const char *scope, aw_token_fetch_done done, void *cbud,
		     void **handle, struct aw_error *err);
	void (*abandon)(void *ud, void *handle);
	void *ud;
};

/* Monotonic milliseconds (for scheduling) and wall seconds (token answers are in epoch
 * seconds). Tests pass a fake; NULL in the conf means the real clocks. */
struct aw_token_clock {
	int64_t (*mono_ms)(void *ud);
	int64_t (*wall_s)(void *ud);
	void *ud;
};

struct aw_token_cache_conf {
	const char *name;           /* credential name: log lines and metric label */
	const char *kind;           /* configured kind, for log lines */
	uint64_t refresh_before_ms; /* 0 = 5 min */
	struct aw_metrics *metrics; /* may be NULL */
	struct aw_token_source source;
	const struct aw_token_clock *clock;
};

/* Scopes per credential and callers queued per scope: beyond these, requests are
 * answered at once with an error (a daemon asks for a handful of scopes; thousands of
 * waiters mean a caller is looping). */
#define AW_TOKEN_MAX_SCOPES 64
#define AW_TOKEN_MAX_WAITERS 4096
/* After a failed eager refresh the old token is served; the next try waits this long. */
#define AW_TOKEN_EAGER_RETRY_MS 30000
/* Without a usable token, a failure is repeated to new callers this long instead of
 * sending another request (a burst of callers after a failure costs one request). */
#define AW_TOKEN_FAIL_HOLD_MS 2000
/* A token this close to its expiry is not handed out (it could expire in flight). */
#define AW_TOKEN_EXPIRY_SKEW_MS 30000

struct aw_token_cache;

int aw_token_cache_new(const struct aw_token_cache_conf *conf, struct aw_token_cache **out,
		       struct aw_error *err);
/* Abandon fetches in flight and answer every queued caller with an error; later calls
 * are answered with an error at once. Safe to call more than once. */
void aw_token_cache_close(struct aw_token_cache *tc);
/* Close (if not done) and free. */
void aw_token_cache_free(struct aw_token_cache *tc);

/* See aw_credential_get_token(): cb runs exactly once, maybe before this returns.
 * Returns -1 (cb not called) only when cb is NULL. */
int aw_token_cache_get(struct aw_token_cache *tc, const char *scope, aw_token_cb cb,
		       void *cbud);
void aw_token_cache_invalidate(struct aw_token_cache *tc, const char *scope, const char *token);
const struct aw_http_bearer *aw_token_cache_bearer(struct aw_token_cache *tc, const char *scope);

/* When the cached token for scope is next refreshed and when it stops being handed
 * out (monotonic ms); -1 when none is cached. For tests. */
int aw_token_cache_times(struct aw_token_cache *tc, const char *scope, int64_t *refresh_ms,
			 int64_t *expires_ms);

/* --- auth.c and auth_fetch.c -------------------------------------------------------- */

/* Managed-identity retry timing: first delay and ceiling, attempts for 404/429/5xx, how
 * long a 410 ("IMDS is updating") is retried, and the `default` chain's probe timeout
 * (the SDKs give an unknown host 1 s to show it has an IMDS). Tests shorten them. */
struct aw_auth_tuning {
	uint64_t mi_initial_ms;   /* default 1 s */
	uint64_t mi_cap_ms;       /* default 30 s */
	unsigned mi_attempts;     /* default 5 */
	uint64_t mi_410_ms;       /* default 70 s */
	long mi_probe_timeout_ms; /* default 1 s */
	uint64_t entra_initial_ms; /* default 500 ms: Entra token endpoint 429/5xx */
};
void aw_auth_set_tuning(struct aw_auth *a, const struct aw_auth_tuning *t);

/* One way of getting a token. A credential has one, or up to three for `default`. */
enum aw_src_kind {
	AW_SRC_SECRET,   /* client_secret */
	AW_SRC_CERT,     /* client_certificate */
	AW_SRC_WORKLOAD, /* workload_identity */
	AW_SRC_IMDS,     /* managed_identity on a VM */
	AW_SRC_APPSVC,   /* managed_identity on App Service, Functions, Container Apps */
};

struct aw_cred_src {
	enum aw_src_kind kind;
	char *client_id;
	char *endpoint;  /* token URL without query: what log lines name */
	char *secret;    /* client secret or IDENTITY_HEADER; wiped on free */
	char *path;      /* certificate PEM or federated token file */
	const char *sel_key; /* managed identity: "client_id", "object_id", ... or NULL */
	char *sel_val;
	bool probe;      /* `default` chain: no answer at all means "not on Azure" */
	bool answered;   /* the endpoint has answered once: no more probing */
};

struct aw_fetch;

struct aw_credential {
	struct aw_auth *auth;
	char *name;
	const char *kind;  /* the configured kind (static string) */
	struct aw_cred_src src[3];
	size_t nsrc;
	int chosen;        /* the source that worked (kept from then on), -1 before */
	struct aw_token_cache *cache;
	struct aw_fetch *fetches; /* in flight, for aw_auth_free */
	struct aw_credential *next;
};

struct aw_auth {
	struct aw_http *http;
	struct aw_metrics *metrics;
	uv_loop_t *loop;   /* for managed-identity retry timers; NULL: no 404/410 retry */
	struct aw_auth_tuning tuning;
	struct aw_credential *creds;
	size_t ncreds;
};

/* "client_secret", "managed_identity (IMDS)", ...: for messages. */
const char *aw_src_label(enum aw_src_kind k);
/* The cache's token source for c (auth_fetch.c). */
int aw_cred_fetch(void *ud, const char *scope, aw_token_fetch_done done, void *cbud,
		  void **handle, struct aw_error *err);
void aw_cred_abandon(void *ud, void *handle);

/* An application/x-www-form-urlencoded body, grown up to AW_FORM_MAX bytes. Values
 * are escaped: unreserved bytes as they are, everything else %XX. The body holds
 * secrets: aw_form_free wipes it. */
#define AW_FORM_MAX ((size_t)512 << 10)
struct aw_form {
	char *buf;
	size_t len, cap;
};
/* Append "key=value" (with '&' before all but the first). 0, or -1 when the body would
 * pass AW_FORM_MAX or memory ran out. */
int aw_form_add(struct aw_form *f, const char *key, const char *value);
void aw_form_free(struct aw_form *f);

#endif
