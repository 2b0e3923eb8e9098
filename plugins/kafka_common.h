/* librdkafka on the libuv loop, and librdkafka property pass-through: what every Kafka
 * plugin needs (out_kafka now; in_eventhubs reuses both). kafka_client.c holds the
 * first, kafka_props.c the second.
 *
 * A struct aw_kafka_client owns one rd_kafka_t whose main queue wakes the loop: an
 * eventfd given to rd_kafka_queue_io_event_enable() and watched by uv_poll, drained to
 * empty on every wake-up (librdkafka writes it only when the queue goes from empty to
 * non-empty), plus a uv_timer as a fallback. Every librdkafka callback (delivery
 * reports, errors, statistics, and log lines, through log.queue) therefore runs on the
 * loop thread and nothing blocks it. Closing drains briefly, purges, and destroys the
 * handle on libuv's thread pool.
 *
 * Properties: `rdkafka:` is a list of "name=value" strings handed to rd_kafka_conf_set()
 * unchanged; properties that hold secrets are refused there and read only from
 * `rdkafka_secrets:` (struct aw_kafka_secrets, each an AW_OPT_SECRET), so a password
 * never sits inline in the configuration.
 *
 * Consumers (in_eventhubs) are served the same way: the consumer queue, to which the
 * main queue is redirected, wakes the loop; messages, rebalances and commit results
 * reach the owner through the ops below, on the loop thread. SASL OAUTHBEARER tokens
 * can come from an Entra ID credential (kafka_token.c), fetched without blocking. */
#ifndef AW_KAFKA_COMMON_H
#define AW_KAFKA_COMMON_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../daemon/error.h"
#include "../daemon/options.h"

/* --- properties ------------------------------------------------------------------ */

/* `rdkafka_secrets:`: the librdkafka properties that hold secrets. */
struct aw_kafka_secrets {
	struct aw_secret sasl_password;		    /* sasl.password */
	struct aw_secret ssl_key_password;	    /* ssl.key.password */
	struct aw_secret ssl_keystore_password;	    /* ssl.keystore.password */
	struct aw_secret ssl_key_pem;		    /* ssl.key.pem */
	struct aw_secret oauthbearer_client_secret; /* sasl.oauthbearer.client.secret */
};

/* The table for an AW_OPT_SUB("rdkafka_secrets", ...) row. */
extern const struct aw_option aw_kafka_secret_options[];

/* A property the plugin sets itself: `rdkafka:` may not; `why` tells the user what to
 * use instead. Lists end with {NULL, NULL}. */
struct aw_kafka_reserved {
	const char *name;
	const char *why;
};

/* True for a property whose value is a secret (it must come from rdkafka_secrets). */
bool aw_kafka_is_secret_property(const char *name);

/* Check `rdkafka:` (list named `key` under `where`): each entry is name=value, not a
 * secret, not reserved, not set twice, and accepted by rd_kafka_conf_set() on a scratch
 * configuration (the message names the property and quotes librdkafka's reason). Also
 * checks the secrets librdkafka cannot take (a property this build lacks), without ever
 * quoting a secret. Adds each problem to errs as "where.key...: reason"; 0 when none. */
int aw_kafka_validate_properties(const struct aw_strlist *props,
				 const struct aw_kafka_secrets *secrets,
				 const struct aw_kafka_reserved *reserved, const char *where,
				 const char *key, struct aw_error_list *errs);

/* The value of property `name` in `rdkafka:` (pointer into the list), or NULL. */
const char *aw_kafka_property(const struct aw_strlist *props, const char *name);

/* Set one property; err quotes librdkafka's reason (never use it for secrets). */
int aw_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
		      struct aw_error *err);

/* Apply `rdkafka:` then the secrets to conf. err names the property, never a value. */
int aw_kafka_apply_properties(rd_kafka_conf_t *conf, const struct aw_strlist *props,
			      const struct aw_kafka_secrets *secrets, struct aw_error *err);

/* The broker list as librdkafka wants it: entries (each may itself be comma separated)
 * trimmed and joined with commas. malloc'd; NULL when out of memory. *count gets the
 * number of brokers (0: the list is empty or has an empty entry). */
char *aw_kafka_join_brokers(const struct aw_strlist *brokers, size_t *count);

/* True when a broker is an Azure Event Hubs namespace (*.servicebus.*). */
bool aw_kafka_is_event_hubs(const char *brokers);

/* Event Hubs' Kafka endpoint closes idle connections after 240 s and answers slowly
 * (azure-contract.md §6, §8 item 14): the settings it needs, applied before the user's
 * own properties so those can still override them. */
int aw_kafka_event_hubs_defaults(rd_kafka_conf_t *conf, struct aw_error *err);

/* Check the user's `rdkafka:` against Event Hubs' limits (metadata.max.age.ms and
 * connections.max.idle.ms below 240000, request.timeout.ms above 20000, message.max.bytes
 * below 1046528). Adds problems to errs; 0 when none. */
int aw_kafka_check_event_hubs(const struct aw_strlist *props, const char *where, const char *key,
			      struct aw_error_list *errs);

/* The Entra ID scope for an Event Hubs namespace: https://<namespace host>/.default from
 * the first broker of a *.servicebus.* list (port dropped). 0, or -1 when the list names
 * no Event Hubs namespace. */
int aw_kafka_event_hubs_scope(const char *brokers, char *out, size_t outsz);

/* True when `rdkafka:` asks for SASL OAUTHBEARER with tokens from the application (not
 * librdkafka's own sasl.oauthbearer.method=oidc). */
bool aw_kafka_wants_app_tokens(const struct aw_strlist *props);

/* The `exp` claim of a JWT-shaped token, in seconds since the epoch, and a principal
 * name for librdkafka (oid, else sub, else appid; "aiwatchd" when none). 0, or -1 when
 * the token carries no readable exp. Never logs the token. */
int aw_kafka_token_claims(const char *token, int64_t *exp, char *principal, size_t psz);

/* True when this librdkafka was built with `feature` (builtin.features: "zstd", ...). */
bool aw_kafka_has_feature(const char *feature);

struct json_object;

/* --- a handle served from the loop ---------------------------------------------------- */

struct aw_kafka_client;

/* Called on the loop thread while the client is open (never after close begins). */
struct aw_kafka_client_ops {
	/* A producer's delivery report; m->_private is the message's opaque. */
	void (*delivered)(void *ud, const rd_kafka_message_t *m);
	/* After every drain of the queue: a chance to produce what did not fit before. */
	void (*served)(void *ud);
	/* The handle hit a fatal error (rd_kafka_fatal_error) and can do nothing more:
	 * close it and create another. Called from inside a drain: act in served(). */
	void (*fatal)(void *ud, const char *reason);

	/* Consumers. A message or a consumer error (m->err set); m is the client's and
	 * valid during the call only. */
	void (*consumed)(void *ud, const rd_kafka_message_t *m);
	/* Partitions now assigned (after librdkafka took them: they may be paused). */
	void (*assigned)(void *ud, const rd_kafka_topic_partition_list_t *parts);
	/* Partitions about to be given up (before librdkafka lets them go: what is
	 * durable may still be committed). lost: the group already gave them to another
	 * member, so nothing may be committed for them. */
	void (*revoked)(void *ud, const rd_kafka_topic_partition_list_t *parts, bool lost);
	/* The result of an asynchronous rd_kafka_commit(). */
	void (*committed)(void *ud, rd_kafka_resp_err_t err,
			  const rd_kafka_topic_partition_list_t *offsets);
	/* Each statistics document (statistics.interval.ms), parsed; borrowed. */
	void (*stats)(void *ud, struct json_object *root);
};

/* SASL OAUTHBEARER tokens from an Entra ID credential (sasl.mechanism=OAUTHBEARER
 * without sasl.oauthbearer.method=oidc): when librdkafka asks for a token, the client
 * asks the credential (never blocking the loop) and hands the answer to
 * rd_kafka_oauthbearer_set_token(), its lifetime read from the token's `exp` claim. */
struct aw_credential;
struct aw_kafka_tokens {
	struct aw_credential *credential;
	const char *scope; /* https://<namespace>.servicebus.windows.net/.default */
};

/* Create the handle from conf (consumed on success and on failure). `name` labels its
 * log lines (the instance name; copied). The client sets log.queue, the callbacks and a
 * statistics interval that tracks which brokers are up. */
int aw_kafka_client_new(uv_loop_t *loop, rd_kafka_type_t type, rd_kafka_conf_t *conf,
			const char *name, const struct aw_kafka_client_ops *ops, void *ud,
			struct aw_kafka_client **out, struct aw_error *err);

/* The same with OAUTHBEARER tokens from tokens->credential (tokens and its strings are
 * copied; NULL: none). A consumer (RD_KAFKA_CONSUMER, conf with group.id) has its main
 * queue redirected to the consumer queue and must be subscribed by the owner
 * (rd_kafka_subscribe); rebalances are handled by the client (eager or cooperative,
 * whichever protocol the assignor negotiated) around ops->assigned / ops->revoked. */
int aw_kafka_client_new_ex(uv_loop_t *loop, rd_kafka_type_t type, rd_kafka_conf_t *conf,
			   const char *name, const struct aw_kafka_client_ops *ops, void *ud,
			   const struct aw_kafka_tokens *tokens, struct aw_kafka_client **out,
			   struct aw_error *err);

rd_kafka_t *aw_kafka_client_rk(struct aw_kafka_client *c);

/* Brokers whose connection is up, from the last statistics (and errors since). */
unsigned aw_kafka_client_brokers_up(const struct aw_kafka_client *c);

/* 1 when at least one broker is up; else 0 with the reason (and the last error). */
int aw_kafka_client_ready(const struct aw_kafka_client *c, char *why, size_t whysz);

/* Stop calling ops; serve for up to drain_ms while messages are still in flight (a
 * consumer: while it leaves its group, rd_kafka_consumer_close_queue; commits already
 * sent complete first); purge what is left; destroy the handle off the loop. closed(ud)
 * runs on the loop once everything is released; the client is freed by then. */
void aw_kafka_client_close(struct aw_kafka_client *c, uint64_t drain_ms, void (*closed)(void *ud),
			   void *ud);

#endif
