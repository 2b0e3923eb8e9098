/* Key Vault secret references: any secret in the configuration may be
 * `keyvault://VAULT/NAME[/VERSION]` (or the secret's URL,
 * `https://VAULT.vault.azure.net/secrets/NAME[/VERSION]`), fetched with the daemon's
 * own identity when the configuration is loaded (start, reload, `aiwatchd check`).
 * This is how a SOC host keeps Kafka passwords and client secrets out of files.
 *
 * The values live only in memory (wiped when freed) and are registered with the log
 * redactor like every other secret. Failures name the configuration key and the
 * reference, with Key Vault's error code (SecretNotFound, Forbidden...), never a
 * value or a token. */
#ifndef AW_KEYVAULT_H
#define AW_KEYVAULT_H

#include <stdbool.h>
#include <stddef.h>

#include "auth.h"
#include "error.h"

#define AW_KV_NAME_MAX 128

/* A parsed reference. `vault` is the vault's name (keyvault://) or its host
 * (https://); `url` is set for the https form. */
struct aw_kv_ref {
	char vault[256];
	char name[AW_KV_NAME_MAX];
	char version[64];
	bool url;
};

/* Whether text is a Key Vault reference (keyvault:// or an https URL on a Key Vault
 * host with /secrets/), and its parts. Returns 1 for a valid reference, 0 when text
 * is not a reference at all, -1 when it looks like one but is malformed (why says
 * what is wrong). */
int aw_kv_ref_parse(const char *text, struct aw_kv_ref *ref, char *why, size_t whysz);

/* How to reach Key Vault. */
struct aw_kv_conf {
	const struct aw_credential_conf *credential; /* the daemon's own identity */
	const char *endpoint;  /* template for keyvault:// refs: "https://{vault}.vault.azure.net" */
	const char *scope;     /* token scope: "https://vault.azure.net/.default" */
	bool insecure_http_for_tests;
	long timeout_ms;       /* the whole resolution; 0 = 20 s */
};

/* One secret to fetch: ref is parsed from the configuration, key names the setting
 * for messages, value receives the malloc'd value (the caller wipes and frees it). */
struct aw_kv_item {
	struct aw_kv_ref ref;
	const char *key;
	char *value;
};

/* Fetch every item, concurrently, on a private event loop (this call blocks until all
 * have answered or timed out; it runs before the daemon's loop or, on reload, briefly
 * inside one of its callbacks). Each failure is added to errs; returns 0 when every
 * item has its value. */
int aw_kv_fetch_all(const struct aw_kv_conf *conf, struct aw_kv_item *items, size_t n,
		    struct aw_error_list *errs);

#endif
