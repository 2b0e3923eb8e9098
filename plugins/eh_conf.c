/* The `eventhubs` input's configuration (eh.h): option table, checks, and the
 * librdkafka consumer (and two-stage producer) configuration built from it.
 *
 * Authentication, in the order it is looked for: `connection_string` (SASL PLAIN over
 * TLS with the literal user $ConnectionString, as Event Hubs wants), `entra: true`
 * (SASL OAUTHBEARER over TLS with tokens from the daemon's credential), or whatever
 * `rdkafka:` says (sasl.mechanism=OAUTHBEARER there also gets the daemon's tokens,
 * unless sasl.oauthbearer.method=oidc asks librdkafka to fetch its own). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eh.h"

#define AW_EH_TOPIC_PREFIX "aiwatch.repartition."

static const char *const start_choices[] = {"earliest", "latest", NULL};

static const struct aw_option repartition_options[] = {
    AW_OPT_STR("rule_set", struct aw_eh_repartition_conf, rule_set, NULL, 0,
	       "makes this input the first stage of the two-stage mode: events are not "
	       "evaluated here but written, keyed by key_fields, to the internal topic "
	       "aiwatch.repartition.<rule_set>, which the second stage (an eventhubs input "
	       "reading that topic) evaluates"),
    AW_OPT_STR("topic", struct aw_eh_repartition_conf, topic, NULL, 0,
	       "the internal topic, if not aiwatch.repartition.<rule_set>"),
    AW_OPT_LIST("key_fields", struct aw_eh_repartition_conf, key_fields, 0,
		"Log Analytics columns that make the correlation key, the first one set "
		"wins (e.g. identity_claim_oid_g, CallerIPAddress): every correlation rule "
		"of the rule set must group by it"),
    AW_OPT_DUR("message_timeout", struct aw_eh_repartition_conf, message_timeout_ms, "2m", 1000,
	       86400000,
	       "how long librdkafka retries writing to the internal topic before the source "
	       "messages are read again"),
    AW_OPT_END,
};

const struct aw_option aw_eh_options[] = {
    AW_OPT_LIST("brokers", struct aw_eh_conf, brokers, AW_OPT_REQUIRED,
		"bootstrap brokers as host:port, a list or one comma-separated string; for "
		"Event Hubs <namespace>.servicebus.windows.net:9093"),
    AW_OPT_LIST("topics", struct aw_eh_conf, topics, AW_OPT_REQUIRED,
		"topics to read (on Event Hubs: the event hubs the diagnostic settings "
		"write to); a name starting with ^ is a regular expression"),
    AW_OPT_STR("group", struct aw_eh_conf, group, "aiwatchd", 0,
	       "consumer group: aiwatchd instances in one group share the partitions"),
    AW_OPT_CHOICE("start_at", struct aw_eh_conf, start_at, "earliest", start_choices,
		  "where a partition the group has never committed starts: earliest (all "
		  "that is retained) or latest"),
    AW_OPT_SECRETV("connection_string", struct aw_eh_conf, connection_string, 0,
		   "Event Hubs: the namespace's (or event hub's) connection string, "
		   "Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...; used as "
		   "the SASL PLAIN password of user $ConnectionString over TLS"),
    AW_OPT_BOOLEAN("entra", struct aw_eh_conf, entra, "false",
		   "Event Hubs: authenticate with SASL OAUTHBEARER and Entra ID tokens of the "
		   "daemon's identity (azure.credential; role Azure Event Hubs Data Receiver)"),
    AW_OPT_STR("entra_scope", struct aw_eh_conf, entra_scope, NULL, 0,
	       "token scope for entra (default https://<namespace>.servicebus.windows.net/"
	       ".default from the first broker)"),
    AW_OPT_DUR("commit_interval", struct aw_eh_conf, commit_interval_ms, "1s", 10, 600000,
	       "how often the offsets of messages whose events are durable are committed"),
    AW_OPT_DUR("close_timeout", struct aw_eh_conf, close_timeout_ms, "5s", 0, 120000,
	       "on shutdown or removal, how long the last commit and leaving the group may "
	       "take (what is not committed is read again, by this or another instance)"),
    AW_OPT_LIST("rdkafka", struct aw_eh_conf, rdkafka, 0,
		"librdkafka properties as name=value, passed as they are "
		"(security.protocol=SASL_SSL, sasl.mechanism=..., ssl.ca.location=..., "
		"partition.assignment.strategy=...); secrets go in rdkafka_secrets"),
    AW_OPT_SUB("rdkafka_secrets", struct aw_eh_conf, secrets, aw_kafka_secret_options,
	       "secret librdkafka properties, each {file: PATH}, {credential: NAME}, "
	       "{env: VAR} or {keyvault: REF}"),
    AW_OPT_SUB("repartition", struct aw_eh_conf, repartition, repartition_options,
	       "two-stage mode for correlation rules across several instances (see "
	       "doc/streaming.md)"),
    AW_OPT_END,
};

/* What `rdkafka:` may not set, and why. */
static const struct aw_kafka_reserved eh_reserved[] = {
    {"bootstrap.servers", "use brokers"},
    {"metadata.broker.list", "use brokers"},
    {"group.id", "use group"},
    {"enable.auto.commit", "offsets are committed only once the events are durable"},
    {"enable.auto.offset.store", "offsets are committed only once the events are durable"},
    {"auto.commit.interval.ms", "use commit_interval"},
    {"auto.offset.reset", "use start_at"},
    {"log.queue", "log lines must come out on the event loop"},
    {"enabled_events", "aiwatch serves librdkafka's callbacks itself"},
    {"statistics.interval.ms", "statistics give /readyz and the lag metrics"},
    {"plugin.library.paths", "aiwatch does not load librdkafka plugins"},
    {"transactional.id", "transactions are not used (Event Hubs does not support them)"},
    {NULL, NULL},
};

/* Properties that `connection_string` or `entra` set themselves. */
static const char *const auth_props[] = {"security.protocol", "sasl.mechanism", "sasl.mechanisms",
					 "sasl.username", NULL};

static bool topic_ok(const char *t)
{
	size_t n = strlen(t);

	if (t[0] == '^')
		return n > 1; /* librdkafka compiles it when subscribing */
	if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
		return false;
	return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

const char *aw_eh_repartition_topic(const struct aw_eh_conf *c, char *buf, size_t bufsz)
{
	if (!c->repartition.rule_set)
		return NULL;
	if (c->repartition.topic)
		return c->repartition.topic;
	snprintf(buf, bufsz, AW_EH_TOPIC_PREFIX "%s", c->repartition.rule_set);
	return buf;
}

bool aw_eh_uses_entra(const struct aw_eh_conf *c, char *scope, size_t scopesz)
{
	char *brokers;
	bool ok;

	if (!c->entra && !aw_kafka_wants_app_tokens(&c->rdkafka))
		return false;
	scope[0] = '\0';
	if (c->entra_scope) {
		snprintf(scope, scopesz, "%s", c->entra_scope);
		return true;
	}
	brokers = aw_kafka_join_brokers(&c->brokers, NULL);
	ok = brokers && aw_kafka_event_hubs_scope(brokers, scope, scopesz) == 0;
	free(brokers);
	if (!ok)
		scope[0] = '\0';
	return true;
}

static void check_auth(const struct aw_eh_conf *c, const char *where, const char *brokers,
		       struct aw_error_list *errs)
{
	const char *how = c->connection_string.value ? "connection_string" : "entra";
	char scope[512];

	if (c->connection_string.value && c->entra)
		aw_error_list_add(errs,
				  "%s: connection_string and entra are two ways to authenticate; "
				  "choose one",
				  where);
	if (c->connection_string.value || c->entra) {
		for (size_t i = 0; auth_props[i]; i++)
			if (aw_kafka_property(&c->rdkafka, auth_props[i]))
				aw_error_list_add(errs, "%s.rdkafka: '%s' is set by %s", where,
						  auth_props[i], how);
	}
	if (c->connection_string.value && c->secrets.sasl_password.value)
		aw_error_list_add(errs,
				  "%s.rdkafka_secrets.sasl.password: connection_string is the "
				  "password already",
				  where);
	if (c->connection_string.value && !c->connection_string.ref &&
	    strncasecmp(c->connection_string.value, "Endpoint=sb://", 14) != 0)
		aw_error_list_add(errs,
				  "%s.connection_string (%s): not an Event Hubs connection string "
				  "(expected Endpoint=sb://<namespace>.servicebus.windows.net/;"
				  "SharedAccessKeyName=...;SharedAccessKey=...)",
				  where,
				  c->connection_string.origin ? c->connection_string.origin : "?");
	if (aw_eh_uses_entra(c, scope, sizeof scope) && !scope[0])
		aw_error_list_add(errs,
				  "%s.entra_scope: needed when the brokers are not an Event Hubs "
				  "namespace (%s)",
				  where, brokers);
	if (c->entra_scope && strncmp(c->entra_scope, "https://", 8) != 0 &&
	    strncmp(c->entra_scope, "api://", 6) != 0)
		aw_error_list_add(errs, "%s.entra_scope: '%.128s' is not a scope URI (https://...)",
				  where, c->entra_scope);
}

static void check_repartition(const struct aw_eh_conf *c, const char *where,
			      struct aw_error_list *errs)
{
	const struct aw_eh_repartition_conf *r = &c->repartition;
	char buf[300];
	const char *t;

	if (!r->rule_set) {
		if (r->topic || r->key_fields.n)
			aw_error_list_add(
			    errs,
			    "%s.repartition: topic and key_fields need rule_set (which "
			    "turns the two-stage mode on)",
			    where);
		return;
	}
	if (!r->rule_set[0] ||
	    strspn(r->rule_set, "abcdefghijklmnopqrstuvwxyz"
				"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(r->rule_set))
		aw_error_list_add(errs,
				  "%s.repartition.rule_set: '%.64s' must be letters, digits, '.', "
				  "'_' or '-' (it names a topic)",
				  where, r->rule_set);
	if (r->key_fields.n == 0)
		aw_error_list_add(errs,
				  "%s.repartition.key_fields: at least one field is needed (the "
				  "group-by field of the rule set's correlations)",
				  where);
	for (size_t i = 0; i < r->key_fields.n; i++)
		if (!r->key_fields.v[i][0])
			aw_error_list_add(errs, "%s.repartition.key_fields[%zu]: empty", where, i);
	t = aw_eh_repartition_topic(c, buf, sizeof buf);
	if (t && (!topic_ok(t) || t[0] == '^'))
		aw_error_list_add(errs, "%s.repartition.topic: '%.64s' is not a Kafka topic name",
				  where, t);
	for (size_t i = 0; t && i < c->topics.n; i++)
		if (strcmp(c->topics.v[i], t) == 0)
			aw_error_list_add(errs,
					  "%s.topics[%zu]: the first stage cannot read its own "
					  "internal topic %s",
					  where, i, t);
}

int aw_eh_validate(const void *conf, const char *where, struct aw_error_list *errs)
{
	const struct aw_eh_conf *c = conf;
	size_t before = aw_error_list_count(errs), nbrokers = 0;
	char *brokers = aw_kafka_join_brokers(&c->brokers, &nbrokers);

	if (!brokers)
		return aw_error_list_add(errs, "%s: out of memory", where);
	if (nbrokers == 0)
		aw_error_list_add(
		    errs, "%s.brokers: needs at least one host:port, and no empty entry", where);
	if (c->topics.n == 0)
		aw_error_list_add(errs, "%s.topics: at least one topic is required", where);
	for (size_t i = 0; i < c->topics.n; i++) {
		if (!topic_ok(c->topics.v[i]))
			aw_error_list_add(errs,
					  "%s.topics[%zu]: '%.64s' is not a Kafka topic name (1 to "
					  "249 of letters, digits, '.', '_' and '-', or ^regex)",
					  where, i, c->topics.v[i]);
		for (size_t k = 0; k < i; k++)
			if (strcmp(c->topics.v[i], c->topics.v[k]) == 0)
				aw_error_list_add(errs, "%s.topics[%zu]: '%.64s' is listed twice",
						  where, i, c->topics.v[i]);
	}
	if (!c->group || !c->group[0] || strlen(c->group) > 255)
		aw_error_list_add(errs, "%s.group: 1 to 255 characters", where);
	if (aw_kafka_is_event_hubs(brokers))
		aw_kafka_check_event_hubs(&c->rdkafka, where, "rdkafka", errs);
	check_auth(c, where, brokers, errs);
	check_repartition(c, where, errs);
	aw_kafka_validate_properties(&c->rdkafka, &c->secrets, eh_reserved, where, "rdkafka", errs);
	/* Each piece is fine: now the whole configuration, as init builds it. */
	if (aw_error_list_count(errs) == before) {
		struct aw_error err;
		rd_kafka_conf_t *whole = aw_eh_consumer_conf(c, "check", &err);
		if (!whole)
			aw_error_list_add(errs, "%s: %s", where, err.msg);
		else
			rd_kafka_conf_destroy(whole);
	}
	free(brokers);
	return aw_error_list_count(errs) == before ? 0 : -1;
}

/* Properties only a consumer knows: the first stage's producer leaves them out (and
 * librdkafka does not warn that it ignores them). */
static const char *const consumer_only[] = {
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "group.",
    "partition.assignment.strategy",
    "max.poll.interval.ms",
    "fetch.",
    "queued.",
    "enable.partition.eof",
    "check.crcs",
    "isolation.level",
    "auto.",
    "enable.auto.",
    "coordinator.query.interval.ms",
    "consume.callback.max.messages",
    "offset.store.",
    NULL,
};

static bool for_consumers_only(const char *entry)
{
	for (size_t i = 0; consumer_only[i]; i++) {
		size_t n = strlen(consumer_only[i]);
		if (strncmp(entry, consumer_only[i], n) == 0 &&
		    (consumer_only[i][n - 1] == '.' || entry[n] == '=' || entry[n] == ' '))
			return true;
	}
	return false;
}

/* Settings every client of this input shares: brokers, Event Hubs' needs, the
 * authentication, then the user's own properties (which may override the first two). */
static rd_kafka_conf_t *base_conf(const struct aw_eh_conf *c, const char *client_id,
				  const char *const (*own)[2], size_t nown, bool producer,
				  struct aw_error *err)
{
	struct aw_strlist props = {.v = NULL, .n = 0};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char *brokers = NULL, why[512] = "";
	int rc = -1;

	if (!conf || !(brokers = aw_kafka_join_brokers(&c->brokers, NULL))) {
		aw_error_set(err, "out of memory");
		goto out;
	}
	if (aw_kafka_conf_set(conf, "bootstrap.servers", brokers, err) != 0 ||
	    aw_kafka_conf_set(conf, "client.id", client_id, err) != 0 ||
	    /* idle disconnects are routine (Event Hubs: after 240 s) */
	    aw_kafka_conf_set(conf, "log.connection.close", "false", err) != 0)
		goto out;
	for (size_t i = 0; i < nown; i++)
		if (aw_kafka_conf_set(conf, own[i][0], own[i][1], err) != 0)
			goto out;
	if (aw_kafka_is_event_hubs(brokers) && aw_kafka_event_hubs_defaults(conf, err) != 0)
		goto out;
	if (c->connection_string.value) {
		if (aw_kafka_conf_set(conf, "security.protocol", "SASL_SSL", err) != 0 ||
		    aw_kafka_conf_set(conf, "sasl.mechanism", "PLAIN", err) != 0 ||
		    aw_kafka_conf_set(conf, "sasl.username", "$ConnectionString", err) != 0)
			goto out;
		/* A secret: librdkafka's reason is not quoted (it might quote the value). */
		if (rd_kafka_conf_set(conf, "sasl.password", c->connection_string.value, why,
				      sizeof why) != RD_KAFKA_CONF_OK) {
			aw_error_set(err, "connection_string (%s): librdkafka refused it",
				     c->connection_string.origin ? c->connection_string.origin
								 : "?");
			goto out;
		}
	} else if (c->entra) {
		if (aw_kafka_conf_set(conf, "security.protocol", "SASL_SSL", err) != 0 ||
		    aw_kafka_conf_set(conf, "sasl.mechanism", "OAUTHBEARER", err) != 0)
			goto out;
	}
	props = c->rdkafka;
	if (producer && c->rdkafka.n) {
		props.v = calloc(c->rdkafka.n, sizeof *props.v);
		props.n = 0;
		if (!props.v) {
			aw_error_set(err, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < c->rdkafka.n; i++)
			if (!for_consumers_only(c->rdkafka.v[i]))
				props.v[props.n++] = c->rdkafka.v[i];
	}
	if (aw_kafka_apply_properties(conf, &props, &c->secrets, err) != 0)
		goto out;
	rc = 0;
out:
	if (props.v != c->rdkafka.v)
		free(props.v);
	free(brokers);
	if (rc != 0 && conf) {
		rd_kafka_conf_destroy(conf);
		conf = NULL;
	}
	return conf;
}

rd_kafka_conf_t *aw_eh_consumer_conf(const struct aw_eh_conf *c, const char *name,
				     struct aw_error *err)
{
	char client_id[160];
	bool brokers_eh;
	char *brokers = aw_kafka_join_brokers(&c->brokers, NULL);
	const char *const own[][2] = {
	    {"group.id", c->group},
	    {"enable.auto.commit", "false"},
	    {"enable.auto.offset.store", "false"},
	    {"auto.offset.reset", start_choices[c->start_at]},
	    /* The eager protocol: a rebalance revokes every partition, commits what is
	     * durable, and assigns again from the committed offsets. Round-robin spreads
	     * the partitions of several topics (range would give each topic's first
	     * partition to the same instance). rdkafka: may choose cooperative-sticky,
	     * which the client handles too (only the partitions that move are revoked). */
	    {"partition.assignment.strategy", "roundrobin"},
	};
	/* Event Hubs recommends 30 s (azure-contract.md §6); a consumer-only property. */
	const char *const eh_own[][2] = {{"session.timeout.ms", "30000"}};
	rd_kafka_conf_t *conf;

	brokers_eh = brokers && aw_kafka_is_event_hubs(brokers);
	free(brokers);
	snprintf(client_id, sizeof client_id, "aiwatchd-%s", name);
	conf = base_conf(c, client_id, own, sizeof own / sizeof own[0], false, err);
	if (conf && brokers_eh && !aw_kafka_property(&c->rdkafka, "session.timeout.ms") &&
	    aw_kafka_conf_set(conf, eh_own[0][0], eh_own[0][1], err) != 0) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return conf;
}

rd_kafka_conf_t *aw_eh_producer_conf(const struct aw_eh_conf *c, const char *name,
				     struct aw_error *err)
{
	char client_id[160], timeout[32];
	const char *const own[][2] = {
	    {"enable.idempotence", "true"},
	    {"acks", "all"},
	    {"message.timeout.ms", timeout},
	    /* the Java client's partitioner: one key, one partition, whoever produces */
	    {"partitioner", "murmur2_random"},
	};

	snprintf(client_id, sizeof client_id, "aiwatchd-%s-repartition", name);
	snprintf(timeout, sizeof timeout, "%llu",
		 (unsigned long long)c->repartition.message_timeout_ms);
	/* The user's properties apply here too, but for those only consumers know. */
	return base_conf(c, client_id, own, sizeof own / sizeof own[0], true, err);
}
