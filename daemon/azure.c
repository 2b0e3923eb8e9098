/* The daemon's shared Azure services (see azure.h) and the plugin.h accessors. */
#include "azure.h"

#include <stdlib.h>

#include "../plugins/plugin.h"
#include "log.h"

const struct aw_option aw_azure_options[] = {
    AW_OPT_SUB("credential", struct aw_azure_conf, credential, aw_credential_options,
	       "the daemon's own Entra ID identity: used for Key Vault references and by "
	       "every Azure plugin without a credential of its own"),
    AW_OPT_BOOLEAN("insecure_http_for_tests", struct aw_azure_conf, insecure_http_for_tests,
		   "false",
		   "allow plain http to loopback addresses (the local Azure emulator); TLS "
		   "verification is never turned off"),
    AW_OPT_STR("keyvault_endpoint", struct aw_azure_conf, keyvault_endpoint,
	       "https://{vault}.vault.azure.net", 0,
	       "where keyvault://VAULT/NAME points ({vault} is replaced; sovereign clouds: "
	       "https://{vault}.vault.usgovcloudapi.net, https://{vault}.vault.azure.cn)"),
    AW_OPT_STR("keyvault_scope", struct aw_azure_conf, keyvault_scope,
	       "https://vault.azure.net/.default", 0,
	       "token scope for Key Vault (sovereign clouds: "
	       "https://vault.usgovcloudapi.net/.default, https://vault.azure.cn/.default)"),
    AW_OPT_END,
};

struct aw_azure {
	const struct aw_azure_conf *conf;
	struct aw_http *http;
	struct aw_auth *auth;
	struct aw_credential *cred;
	void (*closed)(void *ud);
	void *closed_ud;
};

/* One daemon per process: what plugins reach through their context. */
static struct aw_azure *current;

int aw_azure_conf_check(const struct aw_azure_conf *c, struct aw_error_list *errs)
{
	return aw_credential_conf_check(&c->credential, "azure.credential", errs);
}

int aw_azure_start(uv_loop_t *loop, const struct aw_azure_conf *conf, struct aw_metrics *m,
		   struct aw_azure **out, struct aw_error *err)
{
	struct aw_azure *a = calloc(1, sizeof *a);
	struct aw_http_conf hc = {.insecure_http_for_tests = conf->insecure_http_for_tests};

	*out = NULL;
	if (!a)
		return aw_error_set(err, "azure: out of memory");
	a->conf = conf;
	if (aw_http_new(loop, &hc, m, &a->http, err) != 0) {
		free(a);
		return -1;
	}
	if (aw_auth_new(a->http, m, &a->auth, err) != 0)
		goto fail;
	aw_auth_set_loop(a->auth, loop);
	if (aw_auth_add(a->auth, "azure.credential", &conf->credential, &a->cred, err) != 0)
		goto fail;
	current = a;
	*out = a;
	return 0;
fail:
	/* nothing is in flight yet: the client closes at once */
	if (a->auth)
		aw_auth_free(a->auth);
	aw_http_close(a->http, free, a);
	return -1;
}

static void http_closed(void *ud)
{
	struct aw_azure *a = ud;

	if (a->closed)
		a->closed(a->closed_ud);
	free(a);
}

void aw_azure_close(struct aw_azure *a, void (*closed)(void *ud), void *ud)
{
	if (current == a)
		current = NULL;
	a->closed = closed;
	a->closed_ud = ud;
	aw_auth_free(a->auth);
	aw_http_close(a->http, http_closed, a);
}

struct aw_http *aw_azure_http(struct aw_azure *a)
{
	return a->http;
}

struct aw_credential *aw_azure_credential(struct aw_azure *a)
{
	return a->cred;
}

const struct aw_azure_conf *aw_azure_conf(struct aw_azure *a)
{
	return a->conf;
}

/* --- plugin.h --------------------------------------------------------------------- */

struct aw_http *aw_ctx_http(struct aw_plugin_ctx *ctx)
{
	(void)ctx;
	return current ? current->http : NULL;
}

struct aw_credential *aw_ctx_credential(struct aw_plugin_ctx *ctx)
{
	(void)ctx;
	return current ? current->cred : NULL;
}

bool aw_ctx_insecure_http(struct aw_plugin_ctx *ctx)
{
	(void)ctx;
	return current && current->conf->insecure_http_for_tests;
}
