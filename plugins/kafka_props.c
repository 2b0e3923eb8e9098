/* librdkafka properties from the configuration: `rdkafka:` name=value pass-through,
 * `rdkafka_secrets:`, the broker list and Event Hubs' settings (kafka_common.h).
 *
 * Validation tries every property on a scratch rd_kafka_conf_t, so a typo or a bad value
 * is reported when the configuration is loaded (`aiwatchd check`), naming the property
 * and quoting librdkafka's reason, instead of when the producer is created. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kafka_common.h"

#define NAME_MAX_LEN 128

/* Event Hubs closes a connection idle for 240 s (azure-contract.md §6). */
#define EH_IDLE_CLOSE_MS	  240000
#define EH_MIN_REQUEST_TIMEOUT_MS 20000
#define EH_MAX_REQUEST_BYTES	  1046528

static const struct {
	const char *name;
	size_t offset;
} secret_props[] = {
    {"sasl.password", offsetof(struct aw_kafka_secrets, sasl_password)},
    {"ssl.key.password", offsetof(struct aw_kafka_secrets, ssl_key_password)},
    {"ssl.keystore.password", offsetof(struct aw_kafka_secrets, ssl_keystore_password)},
    {"ssl.key.pem", offsetof(struct aw_kafka_secrets, ssl_key_pem)},
    {"sasl.oauthbearer.client.secret",
     offsetof(struct aw_kafka_secrets, oauthbearer_client_secret)},
};
#define NSECRETS (sizeof secret_props / sizeof secret_props[0])

const struct aw_option aw_kafka_secret_options[] = {
    AW_OPT_SECRETV("sasl.password", struct aw_kafka_secrets, sasl_password, 0,
		   "SASL password (Event Hubs with SASL PLAIN: the namespace's connection "
		   "string, with sasl.username=$ConnectionString)"),
    AW_OPT_SECRETV("ssl.key.password", struct aw_kafka_secrets, ssl_key_password, 0,
		   "passphrase of the client key in ssl.key.location"),
    AW_OPT_SECRETV("ssl.keystore.password", struct aw_kafka_secrets, ssl_keystore_password, 0,
		   "password of the PKCS#12 keystore in ssl.keystore.location"),
    AW_OPT_SECRETV("ssl.key.pem", struct aw_kafka_secrets, ssl_key_pem, 0,
		   "the client's private key, PEM"),
    AW_OPT_SECRETV("sasl.oauthbearer.client.secret", struct aw_kafka_secrets,
		   oauthbearer_client_secret, 0, "client secret for sasl.oauthbearer.method=oidc"),
    AW_OPT_END,
};

static const struct aw_secret *secret_at(const struct aw_kafka_secrets *s, size_t i)
{
	return (const struct aw_secret *)(const void *)((const char *)s + secret_props[i].offset);
}

bool aw_kafka_is_secret_property(const char *name)
{
	for (size_t i = 0; i < NSECRETS; i++)
		if (strcmp(name, secret_props[i].name) == 0)
			return true;
	/* Anything else that looks like one (a future property, a typo of one) is
	 * refused as well: better a clear error than a password in a config file. */
	return strcasestr(name, "password") || strcasestr(name, "secret");
}

/* Split "name=value" into trimmed parts in the caller's buffers. -1 without '='. */
static int split_prop(const char *entry, char *name, size_t namesz, const char **value,
		      size_t *valuelen)
{
	const char *eq = strchr(entry, '='), *b = entry, *e;

	if (!eq)
		return -1;
	while (b < eq && isspace((unsigned char)*b))
		b++;
	e = eq;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	if ((size_t)(e - b) >= namesz)
		return -2;
	memcpy(name, b, (size_t)(e - b));
	name[e - b] = '\0';
	b = eq + 1;
	while (*b && isspace((unsigned char)*b))
		b++;
	e = b + strlen(b);
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	*value = b;
	*valuelen = (size_t)(e - b);
	return 0;
}

const char *aw_kafka_property(const struct aw_strlist *props, const char *name)
{
	char n[NAME_MAX_LEN];
	const char *v;
	size_t vl;

	for (size_t i = props->n; i-- > 0;) {
		if (split_prop(props->v[i], n, sizeof n, &v, &vl) == 0 && strcmp(n, name) == 0)
			return v;
	}
	return NULL;
}

int aw_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
		      struct aw_error *err)
{
	char why[512] = "";

	if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK)
		return aw_error_set(err, "librdkafka property %s: %s", name, why);
	return 0;
}

/* Set a property whose value is in a non-terminated span. */
static int conf_set_span(rd_kafka_conf_t *conf, const char *name, const char *v, size_t vl,
			 char *why, size_t whysz)
{
	char *value = strndup(v, vl);
	rd_kafka_conf_res_t r;

	if (!value) {
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	r = rd_kafka_conf_set(conf, name, value, why, whysz);
	free(value);
	return r == RD_KAFKA_CONF_OK ? 0 : -1;
}

/* Set a secret; on failure `why` never carries the value (librdkafka may quote it). */
static int conf_set_secret(rd_kafka_conf_t *conf, const char *name, const char *value, char *why,
			   size_t whysz)
{
	if (rd_kafka_conf_set(conf, name, value, why, whysz) == RD_KAFKA_CONF_OK)
		return 0;
	if (*value && strstr(why, value))
		snprintf(why, whysz, "librdkafka refused the value");
	return -1;
}

static const char *reserved_why(const struct aw_kafka_reserved *r, const char *name)
{
	for (; r && r->name; r++)
		if (strcmp(r->name, name) == 0)
			return r->why;
	return NULL;
}

int aw_kafka_validate_properties(const struct aw_strlist *props,
				 const struct aw_kafka_secrets *secrets,
				 const struct aw_kafka_reserved *reserved, const char *where,
				 const char *key, struct aw_error_list *errs)
{
	rd_kafka_conf_t *scratch = rd_kafka_conf_new();
	size_t before = aw_error_list_count(errs);

	if (!scratch)
		return aw_error_list_add(errs, "%s.%s: out of memory", where, key);
	for (size_t i = 0; i < props->n; i++) {
		char name[NAME_MAX_LEN], why[512] = "", other[NAME_MAX_LEN];
		const char *v, *rw, *ov;
		size_t vl, ol;
		int rc = split_prop(props->v[i], name, sizeof name, &v, &vl);

		if (rc == -1 || (rc == 0 && !name[0])) {
			aw_error_list_add(errs,
					  "%s.%s[%zu]: expected name=value (a librdkafka property "
					  "such as security.protocol=SASL_SSL)",
					  where, key, i);
			continue;
		}
		if (rc < 0) {
			aw_error_list_add(errs, "%s.%s[%zu]: property name is too long", where, key,
					  i);
			continue;
		}
		if (aw_kafka_is_secret_property(name)) {
			bool known = false;
			for (size_t k = 0; k < NSECRETS; k++)
				known = known || strcmp(name, secret_props[k].name) == 0;
			if (known)
				aw_error_list_add(
				    errs,
				    "%s.%s[%zu]: '%s' is a secret and may not be written in the "
				    "rdkafka list: set it under rdkafka_secrets as {file: PATH}, "
				    "{credential: NAME} or {env: VAR}",
				    where, key, i, name);
			else
				aw_error_list_add(
				    errs,
				    "%s.%s[%zu]: '%s' looks like a secret; secrets are "
				    "taken only from rdkafka_secrets (sasl.password, "
				    "ssl.key.password, ssl.keystore.password, "
				    "ssl.key.pem, sasl.oauthbearer.client.secret)",
				    where, key, i, name);
			continue;
		}
		if ((rw = reserved_why(reserved, name))) {
			aw_error_list_add(errs, "%s.%s[%zu]: '%s' is set by aiwatch: %s", where,
					  key, i, name, rw);
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (split_prop(props->v[j], other, sizeof other, &ov, &ol) == 0 &&
			    strcmp(other, name) == 0) {
				aw_error_list_add(errs,
						  "%s.%s[%zu]: '%s' is already set by %s[%zu]",
						  where, key, i, name, key, j);
				break;
			}
		}
		if (conf_set_span(scratch, name, v, vl, why, sizeof why) != 0)
			aw_error_list_add(errs, "%s.%s[%zu]: librdkafka rejects '%s': %s", where,
					  key, i, name, why);
	}
	for (size_t i = 0; secrets && i < NSECRETS; i++) {
		const struct aw_secret *s = secret_at(secrets, i);
		char why[512] = "";
		if (s->value &&
		    conf_set_secret(scratch, secret_props[i].name, s->value, why, sizeof why) != 0)
			aw_error_list_add(errs, "%s.rdkafka_secrets.%s: librdkafka rejects it: %s",
					  where, secret_props[i].name, why);
	}
	rd_kafka_conf_destroy(scratch);
	return aw_error_list_count(errs) == before ? 0 : -1;
}

int aw_kafka_apply_properties(rd_kafka_conf_t *conf, const struct aw_strlist *props,
			      const struct aw_kafka_secrets *secrets, struct aw_error *err)
{
	for (size_t i = 0; props && i < props->n; i++) {
		char name[NAME_MAX_LEN], why[512] = "";
		const char *v;
		size_t vl;
		if (split_prop(props->v[i], name, sizeof name, &v, &vl) != 0)
			return aw_error_set(err, "rdkafka[%zu]: expected name=value", i);
		if (aw_kafka_is_secret_property(name))
			return aw_error_set(err, "rdkafka[%zu]: '%s' must be in rdkafka_secrets", i,
					    name);
		if (conf_set_span(conf, name, v, vl, why, sizeof why) != 0)
			return aw_error_set(err, "librdkafka property %s: %s", name, why);
	}
	for (size_t i = 0; secrets && i < NSECRETS; i++) {
		const struct aw_secret *s = secret_at(secrets, i);
		char why[512] = "";
		if (s->value &&
		    conf_set_secret(conf, secret_props[i].name, s->value, why, sizeof why) != 0)
			return aw_error_set(err, "rdkafka_secrets.%s (%s): %s",
					    secret_props[i].name, s->origin ? s->origin : "?", why);
	}
	return 0;
}

char *aw_kafka_join_brokers(const struct aw_strlist *brokers, size_t *count)
{
	size_t cap = 1, len = 0, n = 0;
	bool empty = brokers->n == 0;
	char *out;

	for (size_t i = 0; i < brokers->n; i++)
		cap += strlen(brokers->v[i]) + 1;
	out = malloc(cap);
	if (!out)
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i < brokers->n; i++) {
		const char *p = brokers->v[i];
		for (;;) {
			size_t l = strcspn(p, ",");
			const char *b = p, *e = p + l;
			while (b < e && isspace((unsigned char)*b))
				b++;
			while (e > b && isspace((unsigned char)e[-1]))
				e--;
			if (e == b) {
				empty = true;
			} else {
				if (len)
					out[len++] = ',';
				memcpy(out + len, b, (size_t)(e - b));
				len += (size_t)(e - b);
				n++;
			}
			if (!p[l])
				break;
			p += l + 1;
		}
	}
	out[len] = '\0';
	if (count)
		*count = empty ? 0 : n;
	return out;
}

bool aw_kafka_is_event_hubs(const char *brokers)
{
	return brokers && strcasestr(brokers, ".servicebus.") != NULL;
}

int aw_kafka_event_hubs_defaults(rd_kafka_conf_t *conf, struct aw_error *err)
{
	static const char *const settings[][2] = {
	    {"socket.keepalive.enable", "true"},
	    /* below the 240 s after which Event Hubs drops an idle connection */
	    {"metadata.max.age.ms", "180000"},
	    {"connections.max.idle.ms", "180000"},
	    /* librdkafka's default is far below what Event Hubs needs */
	    {"request.timeout.ms", "60000"},
	    {"message.max.bytes", "1000000"},
	};

	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
		if (aw_kafka_conf_set(conf, settings[i][0], settings[i][1], err) != 0)
			return -1;
	return 0;
}

/* Integer value of a property set in the list; false when absent or not a number. */
static bool prop_number(const struct aw_strlist *props, const char *name, long long *out)
{
	const char *v = aw_kafka_property(props, name);
	char *end;

	if (!v)
		return false;
	errno = 0;
	*out = strtoll(v, &end, 10);
	return errno == 0 && end != v;
}

int aw_kafka_check_event_hubs(const struct aw_strlist *props, const char *where, const char *key,
			      struct aw_error_list *errs)
{
	static const struct {
		const char *name;
		long long lo, hi; /* exclusive bounds */
		const char *why;
	} limits[] = {
	    {"metadata.max.age.ms", -1, EH_IDLE_CLOSE_MS,
	     "must stay below 240000: Event Hubs closes connections idle for 240 s"},
	    {"connections.max.idle.ms", -1, EH_IDLE_CLOSE_MS,
	     "must stay below 240000: Event Hubs closes connections idle for 240 s"},
	    {"request.timeout.ms", EH_MIN_REQUEST_TIMEOUT_MS, -1,
	     "must be above 20000 for Event Hubs"},
	    {"message.max.bytes", -1, EH_MAX_REQUEST_BYTES,
	     "must stay below 1046528, Event Hubs' largest request"},
	};
	size_t before = aw_error_list_count(errs);
	long long v;

	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		if (!prop_number(props, limits[i].name, &v))
			continue;
		if ((limits[i].lo >= 0 && v <= limits[i].lo) ||
		    (limits[i].hi >= 0 && v >= limits[i].hi))
			aw_error_list_add(errs, "%s.%s: %s=%lld %s", where, key, limits[i].name, v,
					  limits[i].why);
	}
	return aw_error_list_count(errs) == before ? 0 : -1;
}

int aw_kafka_event_hubs_scope(const char *brokers, char *out, size_t outsz)
{
	for (const char *p = brokers; p && *p;) {
		size_t l = strcspn(p, ","), hl;
		const char *b = p, *e = p + l, *colon;
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		colon = memchr(b, ':', (size_t)(e - b));
		hl = (size_t)((colon ? colon : e) - b);
		if (hl > 0 &&
		    snprintf(out, outsz, "https://%.*s/.default", (int)hl, b) < (int)outsz) {
			for (char *q = out; *q; q++)
				*q = (char)tolower((unsigned char)*q);
			if (strstr(out, ".servicebus."))
				return 0;
		}
		p += l + (p[l] ? 1 : 0);
	}
	out[0] = '\0';
	return -1;
}

bool aw_kafka_wants_app_tokens(const struct aw_strlist *props)
{
	const char *mech = aw_kafka_property(props, "sasl.mechanism");
	const char *mechs = aw_kafka_property(props, "sasl.mechanisms");
	const char *method = aw_kafka_property(props, "sasl.oauthbearer.method");

	if (!(mech && strcasecmp(mech, "OAUTHBEARER") == 0) &&
	    !(mechs && strcasecmp(mechs, "OAUTHBEARER") == 0))
		return false;
	return !method || strcasecmp(method, "oidc") != 0;
}

bool aw_kafka_has_feature(const char *feature)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char buf[512];
	size_t sz = sizeof buf, fl = strlen(feature);
	bool found = false;

	if (!c)
		return false;
	if (rd_kafka_conf_get(c, "builtin.features", buf, &sz) == RD_KAFKA_CONF_OK) {
		for (const char *p = buf; *p;) {
			size_t l = strcspn(p, ",");
			if (l == fl && strncmp(p, feature, fl) == 0)
				found = true;
			p += l + (p[l] ? 1 : 0);
		}
	}
	rd_kafka_conf_destroy(c);
	return found;
}
