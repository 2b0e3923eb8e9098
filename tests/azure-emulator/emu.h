/* The Azure emulator's route interface.
 *
 * One Azure service per source file: the file exports a struct aw_emu_module (its
 * routes, its part of config validation, what /_emulator/reset clears) and
 * emu_dispatch.c lists it in aw_emu_modules[]. A handler gets a parsed request and
 * fills a response; the dispatcher owns everything else: the request log, faults,
 * the bearer-token check of resource routes, and the wire (cut, reset, delay).
 * Handlers run on MHD's per-connection threads, concurrently. */
#ifndef AW_EMU_H
#define AW_EMU_H

#include <json-c/json.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct aw_emu_state;

#define AW_EMU_BODY_MAX		  (8u * 1024u * 1024u) /* larger request bodies: 413 */
#define AW_EMU_MAX_PARAMS	  8		       /* {name} captures per route */
#define AW_EMU_MAX_HEADERS	  32		       /* extra response headers */
#define AW_EMU_DEFAULT_TENANT	  "00000000-0000-0000-0000-0000000000aa"
#define AW_EMU_DEFAULT_LIFETIME_S 3600

/* What a fault does besides (or instead of) a status. */
enum aw_emu_action {
	AW_EMU_ACT_NONE = 0,
	AW_EMU_ACT_RESET,	   /* close the connection without answering */
	AW_EMU_ACT_CUT,		   /* headers + half the body, then close */
	AW_EMU_ACT_EXPIRED_TOKEN,  /* resource routes: treat the token as expired */
	AW_EMU_ACT_WRONG_AUDIENCE, /* resource routes: treat the token as for another audience */
};

/* A bearer token the emulator issued (see emu_token.c). */
struct aw_emu_token {
	char kind[16]; /* imds | appservice | entra */
	char aud[512];
	char sub[256];
	int64_t exp; /* epoch seconds */
};

struct aw_emu_param {
	const char *name; /* points into the route pattern */
	size_t name_len;
	char *value; /* malloc'd, percent-decoded */
};

struct aw_emu_request {
	struct aw_emu_state *st;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;  /* percent-decoded, without the query */
	const char *query; /* raw query string, "" when none */
	const char *body;  /* NUL-terminated (the NUL is not counted) */
	size_t body_len;
	struct aw_emu_param params[AW_EMU_MAX_PARAMS];
	size_t n_params;
	enum aw_emu_action action; /* token override from a fault */
	struct aw_emu_token token; /* the checked token, for routes with an audience */
};

struct aw_emu_header {
	char *name;
	char *value;
};

/* Built by a handler, sent by the dispatcher, freed with aw_emu_resp_free. */
struct aw_emu_response {
	unsigned status;
	char *body; /* malloc'd */
	size_t len;
	const char *content_type; /* static string */
	struct aw_emu_header headers[AW_EMU_MAX_HEADERS];
	size_t n_headers;
};

/* Route flags. */
#define AW_EMU_F_CONTROL   0x1u /* not logged, no faults, never a token */
#define AW_EMU_F_CHALLENGE 0x2u /* 401s carry WWW-Authenticate (Key Vault) */
#define AW_EMU_F_OAUTH	   0x4u /* errors use the OAuth envelope {"error","error_description"} */

/* A route: method + pattern. Pattern segments are literal, "{name}" (one segment) or a
 * final "{name*}" (the rest of the path, one segment or more). With `audience` set,
 * the dispatcher answers 401 unless the request carries a valid token for it; the
 * handler then finds it in rq->token. */
struct aw_emu_route {
	const char *method;
	const char *pattern;
	const char *audience;
	unsigned flags;
	void (*handler)(struct aw_emu_request *rq, struct aw_emu_response *resp);
};

/* One Azure service. `routes` ends with an entry whose method is NULL. */
struct aw_emu_module {
	const char *name;
	const struct aw_emu_route *routes;
	/* Check this module's keys of a merged config (NULL: none); on error fill err. */
	int (*validate)(json_object *config, char *err, size_t errlen);
	/* Clear what this module stored (NULL: nothing); runs on /_emulator/reset. */
	void (*reset)(struct aw_emu_state *st);
};

/* Every module, NULL-terminated (emu_dispatch.c). */
extern const struct aw_emu_module *const aw_emu_modules[];
extern const struct aw_emu_module aw_emu_control_module;
extern const struct aw_emu_module aw_emu_mi_module;
extern const struct aw_emu_module aw_emu_entra_module;
extern const struct aw_emu_module aw_emu_keyvault_module;
extern const struct aw_emu_module aw_emu_loganalytics_module;
extern const struct aw_emu_module aw_emu_ingestion_module;
extern const struct aw_emu_module aw_emu_arm_module;

/* --- requests (emu_util.c) ---------------------------------------------------------- */

/* Decoded query argument, header (case-insensitive) or pattern capture; NULL if absent. */
const char *aw_emu_query(const struct aw_emu_request *rq, const char *key);
const char *aw_emu_header(const struct aw_emu_request *rq, const char *name);
const char *aw_emu_param(const struct aw_emu_request *rq, const char *name);
/* Value of `key` in an application/x-www-form-urlencoded body, malloc'd; NULL if absent. */
char *aw_emu_form_value(const char *body, size_t len, const char *key);

/* --- responses (emu_util.c) --------------------------------------------------------- */

/* Serialise obj (and release it) as the JSON body. */
void aw_emu_resp_json(struct aw_emu_response *resp, unsigned status, json_object *obj);
void aw_emu_resp_raw(struct aw_emu_response *resp, unsigned status, const char *ctype,
		     const char *body, size_t len);
/* ARM / data-plane envelope {"error":{"code","message"}}. */
void aw_emu_resp_oneapi(struct aw_emu_response *resp, unsigned status, const char *code,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Managed-identity envelope {"error","error_description"}. */
void aw_emu_resp_oauth(struct aw_emu_response *resp, unsigned status, const char *error,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Add a header (copied; a later one with the same name replaces it). */
void aw_emu_resp_header(struct aw_emu_response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A fitting error body for `status` in the route's style (faults without a body). */
void aw_emu_resp_default_error(struct aw_emu_response *resp, unsigned status, unsigned flags);
void aw_emu_resp_free(struct aw_emu_response *resp);

/* --- small helpers (emu_util.c) ----------------------------------------------------- */

/* json-c serialisation as Azure writes it: compact, '/' not escaped. Owned by obj. */
const char *aw_emu_json_text(json_object *obj, size_t *len);
/* base64url without padding; malloc'd. */
char *aw_emu_b64url_encode(const unsigned char *data, size_t len);
/* Decode base64url (padding optional); malloc'd into *out (NUL-terminated). -1 if invalid. */
int aw_emu_b64url_decode(const char *s, size_t len, unsigned char **out, size_t *outlen);
void aw_emu_hex(const unsigned char *data, size_t len, char *out /* 2*len+1 */);
/* "Sun, 06 Nov 1994 08:49:37 GMT" */
void aw_emu_http_date(time_t t, char *buf, size_t size);
void aw_emu_guid(char out[37]);
int64_t aw_emu_now_ms(void);
/* Audiences compare equal ignoring one trailing slash on either side. */
bool aw_emu_audience_eq(const char *a, const char *b);
bool aw_emu_starts_with(const char *s, const char *prefix);
/* Allocation results go through this: out of memory ends the emulator (a test tool). */
void *aw_emu_need(void *p);
char *aw_emu_strdup(const char *s);

/* --- bearer tokens (emu_token.c) ---------------------------------------------------- */

/* Mint a token for (aud, sub, kind) lasting the configured token_lifetime_s; malloc'd.
 * *expires_on receives its expiry (epoch seconds), *lifetime its length. */
char *aw_emu_token_mint(struct aw_emu_state *st, const char *aud, const char *sub, const char *kind,
			int64_t *expires_on, int64_t *lifetime);
/* 0 when `s` is a token this process minted (expiry not checked), filling *out. */
int aw_emu_token_parse(struct aw_emu_state *st, const char *s, struct aw_emu_token *out);
/* 0 when rq carries a valid, unexpired token for `audience` (rq->token filled); else
 * fills resp with the 401 an Azure resource answers and returns -1. */
int aw_emu_require_token(struct aw_emu_request *rq, const char *audience, unsigned flags,
			 struct aw_emu_response *resp);

/* --- client assertions (emu_jwt.c) ------------------------------------------------- */

/* Check a client-assertion JWT (RS256 or PS256) against the certificate in cert_path:
 * header x5t#S256 / x5t, signature, aud = <any host>/<tenant>/oauth2/v2.0/token,
 * iss = sub = client_id, exp in the future, nbf not far ahead. 0 when good; else
 * *aadsts and why describe the failure. */
int aw_emu_jwt_verify_cert(const char *jwt, const char *cert_path, const char *client_id,
			   const char *tenant, int *aadsts, char *why, size_t whylen);
/* The claims of a compact JWT, unverified (federated tokens); NULL when s is not one. */
json_object *aw_emu_jwt_peek(const char *s);

#endif
