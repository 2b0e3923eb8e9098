/* Key Vault references among a loaded configuration's secrets: collected from the
 * core sections and every plugin instance, fetched together (keyvault.c), and put
 * in place of their placeholders. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "keyvault.h"
#include "log.h"
#include "../plugins/plugin.h"

#define AW_KV_MAX_REFS 256 /* references in one configuration */

struct collect {
	struct aw_kv_item *items;
	struct aw_secret **secrets;
	char **keys;
	size_t n;
	bool too_many, oom;
	struct aw_error_list *errs;
};

static void visit(struct aw_secret *s, const char *key, void *ud)
{
	struct collect *c = ud;
	char why[256];

	if (!s->ref)
		return;
	if (c->n == AW_KV_MAX_REFS) {
		c->too_many = true;
		return;
	}
	if (aw_kv_ref_parse(s->ref, &c->items[c->n].ref, why, sizeof why) != 1) {
		/* parsed once at load already; only memory corruption gets here */
		aw_error_list_add(c->errs, "%s: %s", key, why);
		return;
	}
	if (!(c->keys[c->n] = strdup(key))) {
		c->oom = true;
		return;
	}
	c->items[c->n].key = c->keys[c->n];
	c->secrets[c->n] = s;
	c->n++;
}

static void visit_instances(struct collect *c, struct aw_instance_conf *ics, size_t n,
			    const char *kind)
{
	char prefix[256];

	for (size_t i = 0; i < n; i++) {
		if (!ics[i].desc || !ics[i].conf)
			continue;
		snprintf(prefix, sizeof prefix, "%s.%s", kind, ics[i].name);
		aw_options_each_secret(ics[i].desc->options, ics[i].conf, prefix, visit, c);
	}
}

int aw_config_resolve_secrets(struct aw_config *cfg, struct aw_error_list *errs)
{
	struct collect c = {.errs = errs};
	size_t before = aw_error_list_count(errs);
	int rc = -1;

	c.items = calloc(AW_KV_MAX_REFS, sizeof *c.items);
	c.secrets = calloc(AW_KV_MAX_REFS, sizeof *c.secrets);
	c.keys = calloc(AW_KV_MAX_REFS, sizeof *c.keys);
	if (!c.items || !c.secrets || !c.keys) {
		aw_error_list_add(errs, "%s: out of memory", cfg->path);
		goto out;
	}
	aw_options_each_secret(aw_core_options, &cfg->core, "", visit, &c);
	visit_instances(&c, cfg->inputs, cfg->ninputs, "inputs");
	visit_instances(&c, cfg->outputs, cfg->noutputs, "outputs");
	if (c.oom)
		aw_error_list_add(errs, "%s: out of memory", cfg->path);
	if (c.too_many)
		aw_error_list_add(errs, "%s: more than %d Key Vault references", cfg->path,
				  AW_KV_MAX_REFS);
	if (c.n == 0 || aw_error_list_count(errs) != before) {
		rc = aw_error_list_count(errs) == before ? 0 : -1;
		goto out;
	}
	/* The daemon's own credential cannot come from Key Vault: it is what reads it. */
	if (cfg->core.azure.credential.client_secret.ref) {
		aw_error_list_add(errs, "azure.credential.client_secret: cannot be a Key Vault "
					"reference (it is the identity that reads Key Vault)");
		goto out;
	}
	const struct aw_kv_conf kc = {
		.credential = &cfg->core.azure.credential,
		.endpoint = cfg->core.azure.keyvault_endpoint,
		.scope = cfg->core.azure.keyvault_scope,
		.insecure_http_for_tests = cfg->core.azure.insecure_http_for_tests,
	};
	rc = aw_kv_fetch_all(&kc, c.items, c.n, errs);
	for (size_t i = 0; i < c.n; i++) {
		struct aw_secret *s = c.secrets[i];
		if (!c.items[i].value)
			continue;
		free(s->value);
		s->value = c.items[i].value;
		aw_log_redact_add(s->value);
	}
	if (rc == 0)
		aw_log(AW_LOG_INFO, "config", "Key Vault references resolved", AW_U("count", c.n));
out:
	for (size_t i = 0; c.keys && i < c.n; i++)
		free(c.keys[i]);
	free(c.keys);
	free(c.items);
	free(c.secrets);
	return rc;
}
