/* Azure access the daemon shares with every plugin: one HTTP client on the loop (one
 * connection pool, one set of metrics) and the daemon's own identity, the `azure:`
 * section of the configuration. Plugins reach them through plugin.h (aw_ctx_http,
 * aw_ctx_credential); a plugin with its own `credential:` section makes its own
 * aw_auth on the shared client.
 *
 * The services are created once at start from the first configuration and live until
 * exit: a reload that changes `azure:` is reported and takes effect at the next
 * restart (credentials and tokens in use by running plugins must not change under
 * them). */
#ifndef AW_AZURE_H
#define AW_AZURE_H

#include <stdbool.h>
#include <uv.h>

#include "auth.h"
#include "error.h"
#include "http.h"
#include "metrics.h"
#include "options.h"

struct aw_azure_conf {
	struct aw_credential_conf credential;
	bool insecure_http_for_tests; /* plain http to loopback hosts (the emulator) */
	char *keyvault_endpoint;      /* template for keyvault://VAULT/NAME */
	char *keyvault_scope;
};
extern const struct aw_option aw_azure_options[];

/* Cross-field checks of the section (credential settings); adds to errs. */
int aw_azure_conf_check(const struct aw_azure_conf *c, struct aw_error_list *errs);

struct aw_azure;

/* Create the shared client and credential on loop. conf must outlive the services.
 * Becomes the process's current services (what aw_ctx_http returns). */
int aw_azure_start(uv_loop_t *loop, const struct aw_azure_conf *conf, struct aw_metrics *m,
		   struct aw_azure **out, struct aw_error *err);
/* Fail pending token requests, close the client; closed(ud) once every handle is
 * closed. */
void aw_azure_close(struct aw_azure *a, void (*closed)(void *ud), void *ud);

struct aw_http *aw_azure_http(struct aw_azure *a);
struct aw_credential *aw_azure_credential(struct aw_azure *a);
const struct aw_azure_conf *aw_azure_conf(struct aw_azure *a);

#endif
