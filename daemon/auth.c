/* Entra ID credentials: the `credential:` options, their checks, and turning a conf
 * into the sources a credential gets its tokens from.
 *
 * Settings the platform provides come from the environment when the configuration
 * leaves them out, as the Azure SDKs do (AZURE_TENANT_ID, AZURE_CLIENT_ID,
 * AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST, IDENTITY_ENDPOINT/IDENTITY_HEADER;
 * for `default` also AZURE_CLIENT_SECRET and AZURE_CLIENT_CERTIFICATE_PATH). They are
 * read when the credential is added and copied: a later setenv() changes nothing. The
 * requests themselves are in auth_fetch.c, the cache in auth_cache.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"
#include "log.h"

#define AW_AUTH_MAX_CREDENTIALS 64
#define AW_AUTH_NAME_MAX 64
#define AW_PUBLIC_AUTHORITY "https://login.microsoftonline.com"
#define AW_IMDS_DEFAULT "http://169.254.169.254"

static const char *const aw_credential_kinds[] = {
    "default", "managed_identity", "workload_identity", "client_secret", "client_certificate",
    NULL,
};

const struct aw_option aw_credential_options[] = {
    AW_OPT_STR("kind", struct aw_credential_conf, kind, "default", 0,
	       "default | managed_identity | workload_identity | client_secret | "
	       "client_certificate; default tries the environment (AZURE_CLIENT_SECRET or "
	       "AZURE_CLIENT_CERTIFICATE_PATH), workload identity, then managed identity"),
    AW_OPT_STR("tenant_id", struct aw_credential_conf, tenant_id, NULL, 0,
	       "directory (tenant) id; default $AZURE_TENANT_ID"),
    AW_OPT_STR("client_id", struct aw_credential_conf, client_id, NULL, 0,
	       "application (client) id, or the client id of a user-assigned managed "
	       "identity; default $AZURE_CLIENT_ID where the SDKs read it"),
    AW_OPT_STR("object_id", struct aw_credential_conf, object_id, NULL, 0,
	       "managed identity: select a user-assigned identity by object (principal) id"),
    AW_OPT_STR("msi_res_id", struct aw_credential_conf, msi_res_id, NULL, 0,
	       "managed identity: select a user-assigned identity by its ARM resource id"),
    AW_OPT_SECRETV("client_secret", struct aw_credential_conf, client_secret, 0,
		   "client_secret: the application's secret ({file: P}, {credential: N} or "
		   "{env: V})"),
    AW_OPT_STR("certificate", struct aw_credential_conf, certificate, NULL, 0,
	       "client_certificate: PEM file holding the RSA private key (unencrypted) and "
	       "its certificate; re-read for every token"),
    AW_OPT_STR("federated_token_file", struct aw_credential_conf, federated_token_file, NULL,
	       0, "workload_identity: projected service-account token, re-read for every "
		  "token; default $AZURE_FEDERATED_TOKEN_FILE"),
    AW_OPT_STR("authority_host", struct aw_credential_conf, authority_host, NULL, 0,
	       "Entra ID host (sovereign clouds: https://login.microsoftonline.us, "
	       "https://login.chinacloudapi.cn); default $AZURE_AUTHORITY_HOST or "
	       "https://login.microsoftonline.com"),
    AW_OPT_STR("imds_endpoint", struct aw_credential_conf, imds_endpoint, AW_IMDS_DEFAULT, 0,
	       "instance metadata service (managed identity on VMs)"),
    AW_OPT_STR("identity_endpoint", struct aw_credential_conf, identity_endpoint, NULL, 0,
	       "App Service / Container Apps identity endpoint; default $IDENTITY_ENDPOINT "
	       "(its header secret is always $IDENTITY_HEADER)"),
    AW_OPT_DUR("refresh_before", struct aw_credential_conf, refresh_before_ms, "5m", 1000,
	       12ll * 3600 * 1000,
	       "refresh a token this long before it expires (sooner at half-life for "
	       "tokens of 2 h or more, or when the server says refresh_in)"),
    AW_OPT_END,
};

/* --- settings and the environment ------------------------------------------------- */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static const char *pick(const char *conf, const char *envname)
{
	return conf && *conf ? conf : env(envname);
}

static int kind_index(const char *kind)
{
	for (int i = 0; aw_credential_kinds[i]; i++)
		if (strcmp(kind ? kind : "default", aw_credential_kinds[i]) == 0)
			return i;
	return -1;
}

enum { KIND_DEFAULT, KIND_MI, KIND_WORKLOAD, KIND_SECRET, KIND_CERT };

/* Tenant ids go into a URL path: a GUID or a domain name. */
static bool tenant_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '-' && s[n] != '.' && s[n] != '_')
			return false;
	return n > 0 && n <= 128;
}

/* Printable, no spaces: ids and paths that go into queries and headers. */
static bool value_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
			return false;
	return n > 0 && n <= 1024;
}

static bool loopback_host(const char *url)
{
	const char *h = strstr(url, "://");

	if (!h)
		return false;
	h += 3;
	return strncmp(h, "127.", 4) == 0 || strncmp(h, "localhost", 9) == 0 ||
	       strncmp(h, "[::1]", 5) == 0;
}

/* https://host[/...]: the authority; plain http only on loopback (the emulator). */
static bool authority_ok(const char *s)
{
	return value_ok(s) && (strncmp(s, "https://", 8) == 0 ||
			       (strncmp(s, "http://", 7) == 0 && loopback_host(s))) &&
	       !strchr(s, '?') && !strchr(s, '#');
}

static bool endpoint_ok(const char *s)
{
	return value_ok(s) && (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0) &&
	       !strchr(s, '?') && !strchr(s, '#');
}

static const char *kinds_list(void)
{
	return "default, managed_identity, workload_identity, client_secret, client_certificate";
}

/* Settings that mean nothing for the kind: a user who wrote them expected them used. */
static void check_unused(const struct aw_credential_conf *c, int kind, const char *where,
			 struct aw_error_list *errs)
{
	struct {
		const char *key;
		bool set;
		unsigned kinds; /* bit per kind index where the key applies */
	} keys[] = {
	    {"object_id", c->object_id != NULL, 1u << KIND_DEFAULT | 1u << KIND_MI},
	    {"msi_res_id", c->msi_res_id != NULL, 1u << KIND_DEFAULT | 1u << KIND_MI},
	    {"client_secret", c->client_secret.value != NULL,
	     1u << KIND_DEFAULT | 1u << KIND_SECRET},
	    {"certificate", c->certificate != NULL, 1u << KIND_DEFAULT | 1u << KIND_CERT},
	    {"federated_token_file", c->federated_token_file != NULL,
	     1u << KIND_DEFAULT | 1u << KIND_WORKLOAD},
	    {"identity_endpoint", c->identity_endpoint != NULL,
	     1u << KIND_DEFAULT | 1u << KIND_MI},
	    {"tenant_id", c->tenant_id != NULL, ~(1u << KIND_MI)},
	    {"authority_host", c->authority_host != NULL, ~(1u << KIND_MI)},
	};

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].set && !(keys[i].kinds & (1u << kind)))
			aw_error_list_add(errs, "%s.%s: not used by kind %s", where, keys[i].key,
					  aw_credential_kinds[kind]);
}

int aw_credential_conf_check(const struct aw_credential_conf *c, const char *where,
			     struct aw_error_list *errs)
{
	size_t before = aw_error_list_count(errs);
	const char *tenant, *client, *authority, *idep;
	int kind = kind_index(c->kind), nsel;

	if (kind < 0) {
		aw_error_list_add(errs, "%s.kind: unknown credential kind '%.40s' (expected %s)",
				  where, c->kind, kinds_list());
		return -1;
	}
	check_unused(c, kind, where, errs);
	tenant = c->tenant_id;
	client = c->client_id;
	if (kind == KIND_WORKLOAD || kind == KIND_DEFAULT) {
		tenant = pick(tenant, "AZURE_TENANT_ID");
		client = pick(client, "AZURE_CLIENT_ID");
	}
	authority = pick(c->authority_host, "AZURE_AUTHORITY_HOST");
	if (tenant && !tenant_ok(tenant))
		aw_error_list_add(errs, "%s.tenant_id: '%.60s' is not a tenant id or domain",
				  where, tenant);
	if (client && !value_ok(client))
		aw_error_list_add(errs, "%s.client_id: contains spaces or control characters",
				  where);
	if (c->object_id && !value_ok(c->object_id))
		aw_error_list_add(errs, "%s.object_id: contains spaces or control characters",
				  where);
	if (c->msi_res_id && !value_ok(c->msi_res_id))
		aw_error_list_add(errs, "%s.msi_res_id: contains spaces or control characters",
				  where);
	if (authority && !authority_ok(authority))
		aw_error_list_add(errs,
				  "%s.authority_host: '%.100s' is not an https:// URL without query "
				  "(plain http only for a loopback host)",
				  where, authority);
	if (c->imds_endpoint && !endpoint_ok(c->imds_endpoint))
		aw_error_list_add(errs, "%s.imds_endpoint: '%.100s' is not an http(s):// URL "
					"without query",
				  where, c->imds_endpoint);
	idep = pick(c->identity_endpoint, "IDENTITY_ENDPOINT");
	if (idep && !endpoint_ok(idep))
		aw_error_list_add(errs, "%s.identity_endpoint: '%.100s' is not an http(s):// URL "
					"without query",
				  where, idep);
	if (kind == KIND_DEFAULT && (c->client_secret.value || c->certificate) &&
	    (!tenant || !client))
		aw_error_list_add(errs, "%s: %s is set, so tenant_id and client_id are needed too "
					"(or $AZURE_TENANT_ID and $AZURE_CLIENT_ID)",
				  where, c->client_secret.value ? "client_secret" : "certificate");
	if (c->client_secret.value && c->certificate)
		aw_error_list_add(errs, "%s: client_secret and certificate are both set; keep one",
				  where);
	switch (kind) {
	case KIND_SECRET:
	case KIND_CERT:
		if (!c->tenant_id)
			aw_error_list_add(errs, "%s.tenant_id: required by kind %s", where,
					  aw_credential_kinds[kind]);
		if (!c->client_id)
			aw_error_list_add(errs, "%s.client_id: required by kind %s", where,
					  aw_credential_kinds[kind]);
		if (kind == KIND_SECRET && !c->client_secret.value)
			aw_error_list_add(errs, "%s.client_secret: required by kind client_secret",
					  where);
		if (kind == KIND_CERT && !c->certificate)
			aw_error_list_add(errs,
					  "%s.certificate: required by kind client_certificate",
					  where);
		break;
	case KIND_WORKLOAD:
		if (!tenant)
			aw_error_list_add(errs, "%s.tenant_id: required by kind workload_identity "
						"(or $AZURE_TENANT_ID)",
					  where);
		if (!client)
			aw_error_list_add(errs, "%s.client_id: required by kind workload_identity "
						"(or $AZURE_CLIENT_ID)",
					  where);
		if (!pick(c->federated_token_file, "AZURE_FEDERATED_TOKEN_FILE"))
			aw_error_list_add(errs, "%s.federated_token_file: required by kind "
						"workload_identity (or $AZURE_FEDERATED_TOKEN_FILE)",
					  where);
		break;
	case KIND_MI:
		nsel = (c->client_id != NULL) + (c->object_id != NULL) + (c->msi_res_id != NULL);
		if (nsel > 1)
			aw_error_list_add(errs, "%s: client_id, object_id and msi_res_id each "
						"select a user-assigned identity; set at most one",
					  where);
		if (idep && !env("IDENTITY_HEADER"))
			aw_error_list_add(errs, "%s.identity_endpoint: set, but $IDENTITY_HEADER "
						"(the App Service identity secret) is not",
					  where);
		break;
	default:
		break;
	}
	if (c->certificate || (kind == KIND_DEFAULT && env("AZURE_CLIENT_CERTIFICATE_PATH") &&
			       !c->client_secret.value && !env("AZURE_CLIENT_SECRET"))) {
		const char *path = c->certificate ? c->certificate
						  : env("AZURE_CLIENT_CERTIFICATE_PATH");
		struct aw_jwt_key *k = NULL;
		struct aw_error err;

		if (aw_jwt_key_load(path, &k, &err) < 0)
			aw_error_list_add(errs, "%s.certificate: %s", where, err.msg);
		aw_jwt_key_free(k);
	}
	return aw_error_list_count(errs) > before ? -1 : 0;
}

/* --- sources --------------------------------------------------------------------- */

const char *aw_src_label(enum aw_src_kind k)
{
	switch (k) {
	case AW_SRC_SECRET:
		return "client_secret";
	case AW_SRC_CERT:
		return "client_certificate";
	case AW_SRC_WORKLOAD:
		return "workload_identity";
	case AW_SRC_IMDS:
		return "managed_identity (IMDS)";
	case AW_SRC_APPSVC:
		return "managed_identity (App Service)";
	}
	return "?";
}

static void src_free(struct aw_cred_src *s)
{
	free(s->client_id);
	free(s->endpoint);
	if (s->secret) {
		explicit_bzero(s->secret, strlen(s->secret));
		free(s->secret);
	}
	free(s->path);
	free(s->sel_val);
	*s = (struct aw_cred_src){0};
}

static int dup_opt(char **dst, const char *s)
{
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -1;
}

/* {authority}/{tenant}/oauth2/v2.0/token, whatever trailing slashes authority has. */
static char *token_url(const char *authority, const char *tenant)
{
	size_t n = strlen(authority);
	char *url;

	while (n > 0 && authority[n - 1] == '/')
		n--;
	if (asprintf(&url, "%.*s/%s/oauth2/v2.0/token", (int)n, authority, tenant) < 0)
		return NULL;
	return url;
}

static int add_entra_src(struct aw_credential *cr, enum aw_src_kind kind, const char *tenant,
			 const char *client, const char *authority, const char *secret,
			 const char *path)
{
	struct aw_cred_src *s = &cr->src[cr->nsrc];

	*s = (struct aw_cred_src){.kind = kind};
	s->endpoint = token_url(authority, tenant);
	if (!s->endpoint || dup_opt(&s->client_id, client) < 0 || dup_opt(&s->secret, secret) < 0 ||
	    dup_opt(&s->path, path) < 0) {
		src_free(s);
		return -1;
	}
	cr->nsrc++;
	return 0;
}

/* IMDS, or App Service when it has an endpoint and its header secret. User-assigned
 * selection: client_id (the conf's, or the environment's when allowed), object_id,
 * msi_res_id. */
static int add_mi_src(struct aw_credential *cr, const struct aw_credential_conf *c,
		      const char *client, bool probe)
{
	struct aw_cred_src *s = &cr->src[cr->nsrc];
	const char *idep = pick(c->identity_endpoint, "IDENTITY_ENDPOINT");
	const char *hdr = env("IDENTITY_HEADER");
	const char *val = NULL;
	size_t n;

	*s = (struct aw_cred_src){.kind = idep && hdr ? AW_SRC_APPSVC : AW_SRC_IMDS,
				  .probe = probe};
	if (client) {
		s->sel_key = "client_id";
		val = client;
	} else if (c->object_id) {
		s->sel_key = s->kind == AW_SRC_APPSVC ? "principal_id" : "object_id";
		val = c->object_id;
	} else if (c->msi_res_id) {
		s->sel_key = s->kind == AW_SRC_APPSVC ? "mi_res_id" : "msi_res_id";
		val = c->msi_res_id;
	}
	if (s->kind == AW_SRC_APPSVC) {
		s->endpoint = strdup(idep);
		if (!s->endpoint || dup_opt(&s->secret, hdr) < 0)
			goto fail;
		aw_log_redact_add(hdr);
	} else {
		const char *base = c->imds_endpoint ? c->imds_endpoint : AW_IMDS_DEFAULT;
		n = strlen(base);
		while (n > 0 && base[n - 1] == '/')
			n--;
		if (asprintf(&s->endpoint, "%.*s/metadata/identity/oauth2/token", (int)n, base) < 0) {
			s->endpoint = NULL;
			goto fail;
		}
	}
	if (dup_opt(&s->sel_val, val) < 0)
		goto fail;
	cr->nsrc++;
	return 0;
fail:
	src_free(s);
	return -1;
}

static int build_sources(struct aw_credential *cr, const struct aw_credential_conf *c, int kind)
{
	const char *authority = pick(c->authority_host, "AZURE_AUTHORITY_HOST");
	const char *tenant = c->tenant_id, *client = c->client_id, *file, *secret, *cert;

	if (!authority)
		authority = AW_PUBLIC_AUTHORITY;
	switch (kind) {
	case KIND_SECRET:
		return add_entra_src(cr, AW_SRC_SECRET, tenant, client, authority,
				     c->client_secret.value, NULL);
	case KIND_CERT:
		return add_entra_src(cr, AW_SRC_CERT, tenant, client, authority, NULL,
				     c->certificate);
	case KIND_WORKLOAD:
		return add_entra_src(cr, AW_SRC_WORKLOAD, pick(tenant, "AZURE_TENANT_ID"),
				     pick(client, "AZURE_CLIENT_ID"), authority, NULL,
				     pick(c->federated_token_file, "AZURE_FEDERATED_TOKEN_FILE"));
	case KIND_MI:
		return add_mi_src(cr, c, client, false);
	default:
		break;
	}
	/* default: the SDKs' order, each only when its settings are all there */
	tenant = pick(tenant, "AZURE_TENANT_ID");
	client = pick(client, "AZURE_CLIENT_ID");
	secret = c->client_secret.value ? c->client_secret.value : env("AZURE_CLIENT_SECRET");
	cert = pick(c->certificate, "AZURE_CLIENT_CERTIFICATE_PATH");
	if (tenant && client && secret) {
		if (!c->client_secret.value)
			aw_log_redact_add(secret);
		if (add_entra_src(cr, AW_SRC_SECRET, tenant, client, authority, secret, NULL) < 0)
			return -1;
	} else if (tenant && client && cert) {
		if (add_entra_src(cr, AW_SRC_CERT, tenant, client, authority, NULL, cert) < 0)
			return -1;
	}
	file = pick(c->federated_token_file, "AZURE_FEDERATED_TOKEN_FILE");
	if (tenant && client && file &&
	    add_entra_src(cr, AW_SRC_WORKLOAD, tenant, client, authority, NULL, file) < 0)
		return -1;
	/* $AZURE_CLIENT_ID selects a user-assigned identity, as in the SDKs, unless the
	 * configuration selects one itself */
	if (!c->client_id && (c->object_id || c->msi_res_id))
		client = NULL;
	return add_mi_src(cr, c, client, true);
}

/* --- the auth object ------------------------------------------------------------- */

int aw_auth_new(struct aw_http *http, struct aw_metrics *m, struct aw_auth **out,
		struct aw_error *err)
{
	struct aw_auth *a = calloc(1, sizeof *a);

	*out = NULL;
	if (!a)
		return aw_error_set(err, "auth: out of memory");
	a->http = http;
	a->metrics = m;
	aw_auth_set_tuning(a, NULL);
	*out = a;
	return 0;
}

void aw_auth_set_loop(struct aw_auth *a, uv_loop_t *loop)
{
	a->loop = loop;
}

void aw_auth_set_tuning(struct aw_auth *a, const struct aw_auth_tuning *t)
{
	static const struct aw_auth_tuning defaults = {
	    .mi_initial_ms = 1000,
	    .mi_cap_ms = 30000,
	    .mi_attempts = 5,
	    .mi_410_ms = 70000,
	    .mi_probe_timeout_ms = 1000,
	    .entra_initial_ms = 500,
	};

	a->tuning = t ? *t : defaults;
}

static void credential_free(struct aw_credential *cr)
{
	aw_token_cache_free(cr->cache);
	for (size_t i = 0; i < cr->nsrc; i++)
		src_free(&cr->src[i]);
	free(cr->name);
	free(cr);
}

void aw_auth_free(struct aw_auth *a)
{
	struct aw_credential *cr, *next;

	if (!a)
		return;
	/* Everyone waiting is answered before anything is freed: an answer may call back
	 * into another credential. */
	for (cr = a->creds; cr; cr = cr->next)
		aw_token_cache_close(cr->cache);
	for (cr = a->creds; cr; cr = next) {
		next = cr->next;
		credential_free(cr);
	}
	free(a);
}

static bool name_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && !strchr("-_./:", s[n]))
			return false;
	return n > 0 && n <= AW_AUTH_NAME_MAX;
}

int aw_auth_add(struct aw_auth *a, const char *name, const struct aw_credential_conf *conf,
		struct aw_credential **out, struct aw_error *err)
{
	struct aw_error_list errs = {0};
	struct aw_credential *cr = NULL;
	struct aw_token_cache_conf cc;
	int kind, rc = -1;

	if (out)
		*out = NULL;
	if (!name || !name_ok(name))
		return aw_error_set(err, "credential name '%.80s': 1 to %d letters, digits or "
					 "-_./:",
				    name ? name : "", AW_AUTH_NAME_MAX);
	if (aw_auth_find(a, name))
		return aw_error_set(err, "credential '%s' is defined twice", name);
	if (a->ncreds >= AW_AUTH_MAX_CREDENTIALS)
		return aw_error_set(err, "credential '%s': more than %d credentials", name,
				    AW_AUTH_MAX_CREDENTIALS);
	if (aw_credential_conf_check(conf, name, &errs) < 0) {
		aw_error_set(err, "credential %s", errs.msgs ? errs.msgs[0] : "is invalid");
		if (aw_error_list_count(&errs) > 1)
			aw_error_prefix(err, "%zu problems, the first", aw_error_list_count(&errs));
		goto out;
	}
	kind = kind_index(conf->kind);
	cr = calloc(1, sizeof *cr);
	if (!cr || !(cr->name = strdup(name)) || build_sources(cr, conf, kind) < 0) {
		aw_error_set(err, "credential '%s': out of memory", name);
		goto out;
	}
	cr->auth = a;
	cr->kind = aw_credential_kinds[kind];
	cr->chosen = cr->nsrc == 1 ? 0 : -1;
	cc = (struct aw_token_cache_conf){
	    .name = name,
	    .kind = cr->kind,
	    .refresh_before_ms = conf->refresh_before_ms,
	    .metrics = a->metrics,
	    .source = {.fetch = aw_cred_fetch, .abandon = aw_cred_abandon, .ud = cr},
	};
	if (aw_token_cache_new(&cc, &cr->cache, err) < 0)
		goto out;
	aw_log(AW_LOG_INFO, "auth", "credential configured", AW_S("credential", name),
	       AW_S("kind", cr->kind), AW_S("uses", aw_src_label(cr->src[0].kind)),
	       AW_U("alternatives", cr->nsrc - 1));
	cr->next = a->creds;
	a->creds = cr;
	a->ncreds++;
	if (out)
		*out = cr;
	cr = NULL;
	rc = 0;
out:
	if (cr)
		credential_free(cr);
	aw_error_list_free(&errs);
	return rc;
}

struct aw_credential *aw_auth_find(struct aw_auth *a, const char *name)
{
	for (struct aw_credential *cr = a->creds; cr; cr = cr->next)
		if (strcmp(cr->name, name) == 0)
			return cr;
	return NULL;
}

int aw_credential_get_token(struct aw_credential *c, const char *scope, aw_token_cb cb,
			    void *cbud)
{
	return aw_token_cache_get(c->cache, scope, cb, cbud);
}

void aw_credential_invalidate(struct aw_credential *c, const char *scope, const char *token)
{
	aw_token_cache_invalidate(c->cache, scope, token);
}

const struct aw_http_bearer *aw_credential_bearer(struct aw_credential *c, const char *scope)
{
	return aw_token_cache_bearer(c->cache, scope);
}
