/* Internals of the `eventhubs` input (in_eventhubs.c), shared by its parts:
 *
 *   eh_conf.c     the option table, the checks of a configuration, and the librdkafka
 *                 consumer configuration built from it
 *   eh_offsets.c  the partitions this instance owns, the marks that tie each message's
 *                 offset to the sequence number of its last event, commits of what is
 *                 durable, and consumer lag from librdkafka's statistics
 *   eh_lag.c      consumer lag per partition: high watermarks from librdkafka's
 *                 statistics, or asked of the broker off the loop for partitions that
 *                 are paused or not fetched yet
 *   eh_repartition.c  the first stage of the two-stage mode: events re-keyed by their
 *                 correlation key onto the internal topic, source offsets committed
 *                 once the broker confirmed them
 *
 * Not a public interface: only the input's files include it. */
#ifndef AW_EH_H
#define AW_EH_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kafka_common.h"
#include "plugin.h"

/* --- configuration ----------------------------------------------------------------- */

/* `repartition:`: with a rule_set, this input is the first stage of the two-stage mode. */
struct aw_eh_repartition_conf {
	char *rule_set;		      /* topic aiwatch.repartition.<rule_set> */
	char *topic;		      /* override of that name */
	struct aw_strlist key_fields; /* the correlation key: the first field set */
	uint64_t message_timeout_ms;
};

struct aw_eh_conf {
	struct aw_strlist brokers;
	struct aw_strlist topics;
	char *group;
	int start_at;
	struct aw_secret connection_string;
	bool entra;
	char *entra_scope;
	uint64_t commit_interval_ms;
	uint64_t close_timeout_ms;
	struct aw_strlist rdkafka;
	struct aw_kafka_secrets secrets;
	struct aw_eh_repartition_conf repartition;
};

extern const struct aw_option aw_eh_options[];

int aw_eh_validate(const void *conf, const char *where, struct aw_error_list *errs);

/* The consumer configuration (`name` is the instance name, for client.id). */
rd_kafka_conf_t *aw_eh_consumer_conf(const struct aw_eh_conf *c, const char *name,
				     struct aw_error *err);
/* The producer configuration for the internal topic (two-stage mode). */
rd_kafka_conf_t *aw_eh_producer_conf(const struct aw_eh_conf *c, const char *name,
				     struct aw_error *err);
/* True when the consumer (and producer) authenticate with Entra ID tokens; the scope
 * is written to scope. */
bool aw_eh_uses_entra(const struct aw_eh_conf *c, char *scope, size_t scopesz);
/* The internal topic of the two-stage mode, or NULL when this is not a first stage. */
const char *aw_eh_repartition_topic(const struct aw_eh_conf *c, char *buf, size_t bufsz);

/* --- the instance ------------------------------------------------------------------ */

struct aw_eh_part;
struct aw_eh_repart;

struct aw_eh_parts {
	struct aw_eh_part *v;
	size_t n, cap;
};

struct aw_eh {
	struct aw_plugin_ctx *ctx;
	const struct aw_eh_conf *conf;
	uv_loop_t *loop;
	rd_kafka_conf_t *tmpl;	       /* every consumer is made from a copy */
	struct aw_kafka_tokens tokens; /* .credential NULL: no OAUTHBEARER from us */
	char scope[512];
	struct aw_kafka_client *kc; /* NULL between a fatal error and the next consumer */
	struct aw_eh_parts parts;
	uint64_t last_seq;    /* of the last event emitted */
	uint64_t durable_seq; /* the pipeline's last durable() */
	bool started, paused, stopped, closing, restart_pending;
	char fatal_reason[256];
	uint64_t restart_delay_ms;
	uv_timer_t tick;	  /* commits and gauges */
	uv_timer_t restart_timer; /* the next consumer after a fatal error; at close, the
				     wait for the first stage's delivery reports */
	uint64_t close_deadline;
	unsigned closing_handles;
	void (*closed)(struct aw_plugin_ctx *ctx);
	int last_err; /* consumer errors: logged once a minute per code */
	uint64_t last_err_ms;
	/* lag: one watermark query at a time on the thread pool, on a consumer that is
	 * not destroyed before it ends (retiring waits for it) */
	uv_work_t lag_work;
	bool lag_busy;
	uint64_t lag_next_query_ms;
	struct aw_kafka_client *kc_retiring; /* retired once the query ends */
	uint64_t retire_drain_ms;
	struct aw_eh_repart *rp; /* two-stage mode, first stage */

	struct aw_metric *m_messages, *m_records, *m_bytes, *m_assigned, *m_brokers_up;
	struct aw_metric *m_assign, *m_revoke, *m_lost, *m_commit_ok, *m_commit_failed;
	struct aw_metric *m_restarts;
};

/* Pause (or resume) fetching every assigned partition. */
void aw_eh_set_fetching(struct aw_eh *in, bool on);
/* The origin of a message's events in messages and logs: "topic/partition@offset". */
void aw_eh_origin(const rd_kafka_message_t *m, char *buf, size_t bufsz);
/* Count and log a malformed message or records of one (rate limited per partition). */
void aw_eh_skip(struct aw_eh *in, struct aw_eh_part *p, const rd_kafka_message_t *m, size_t n,
		const char *why);

/* --- two-stage mode (eh_repartition.c) ------------------------------------------------- */

int aw_eh_repart_new(struct aw_eh *in, struct aw_eh_repart **out, struct aw_error *err);
/* Parse one source message and write its events to the internal topic. */
void aw_eh_repart_message(struct aw_eh_repart *rp, struct aw_eh_part *p,
			  const rd_kafka_message_t *m);
/* A partition was let go: rewinding it is no longer ours to do. */
void aw_eh_repart_forget(struct aw_eh_repart *rp, const struct aw_eh_part *p);
int aw_eh_repart_ready(struct aw_eh_repart *rp, char *why, size_t whysz);
/* Fetching is paused until the backlog is written. */
bool aw_eh_repart_blocked(const struct aw_eh_repart *rp);
/* Events produced or waiting to be, without a delivery report yet. */
uint64_t aw_eh_repart_inflight(const struct aw_eh_repart *rp);
/* Close the producer (drain_ms for what is in flight); done(in) when it is gone. */
void aw_eh_repart_close(struct aw_eh_repart *rp, uint64_t drain_ms, void (*done)(struct aw_eh *in));

/* --- partitions and offsets --------------------------------------------------------- */

/* Past this many marks a partition merges new ones into its last (a later commit,
 * never a wrong one). */
#define AW_EH_MAX_MARKS 65536
/* Partitions tracked per instance (across topics). */
#define AW_EH_MAX_PARTS 4096

/* Everything in the partition before `next` is covered once sequence `seq` is durable
 * (two-stage mode: once `pending` produced messages are confirmed). */
struct aw_eh_mark {
	uint64_t seq;
	int64_t next;
	uint32_t pending;
	uint64_t id; /* two-stage mode: the mark's number, carried by its messages */
};

struct aw_eh_part {
	char *topic;
	int32_t partition;
	bool assigned;
	/* Revoked, its marks kept: if it comes back (an eager rebalance usually gives a
	 * consumer its partitions again) and the group's offset is still behind what was
	 * read here, the messages in between are not read twice: their events are in
	 * flight in this pipeline already (skip_below). */
	bool parked;
	bool check_first; /* assigned from parked: the first message decides */
	int64_t skip_below;
	int64_t floor;	   /* the group's offset when taken back: never commit below it */
	int64_t position;  /* offset after the last message handed on; -1: none yet */
	int64_t durable;   /* commit point: every message before it is done; -1: none */
	int64_t committed; /* the last commit point sent; -1: none */
	struct aw_eh_mark *marks;
	size_t head, len, cap;
	uint64_t next_id;  /* two-stage mode */
	int64_t start;	   /* two-stage mode: the first offset read since assigned; -1 */
	uint64_t bad;	   /* malformed messages, for log rate limiting */
	int64_t stat_hi;   /* high watermark from the last statistics; -1 */
	int64_t stat_next; /* librdkafka's next fetch offset from them; -1 */
	int64_t query_hi;  /* high watermark asked of the broker; -1 */
	struct aw_metric *m_lag;
};

/* The partition, created (unassigned) when absent; NULL when out of memory or past
 * AW_EH_MAX_PARTS. */
struct aw_eh_part *aw_eh_part_get(struct aw_eh_parts *ps, const char *topic, int32_t partition);
struct aw_eh_part *aw_eh_part_find(struct aw_eh_parts *ps, const char *topic, int32_t partition);
void aw_eh_parts_free(struct aw_eh_parts *ps);

/* Take a partition (assign) or let it go (revoke): marks, position and commit point
 * start over. */
void aw_eh_part_reset(struct aw_eh_part *p, bool assigned);
/* Let a partition go but keep what is in flight (see parked). */
void aw_eh_part_park(struct aw_eh_part *p);
/* Take a parked partition back; the first message read decides what is kept. */
void aw_eh_part_unpark(struct aw_eh_part *p);
/* The first message after unparking is at `offset` (the group's committed offset):
 * below the position read here, the messages up to that position are skipped; at or
 * past it (another consumer got further), the parked state is dropped. */
void aw_eh_part_first(struct aw_eh_part *p, int64_t offset);

/* A message was handled; everything before `next` is done once `seq` is durable.
 * durable_seq: what is durable now (a mark already covered moves the commit point at
 * once). */
void aw_eh_part_mark(struct aw_eh_part *p, uint64_t seq, int64_t next, uint64_t durable_seq);
/* Two-stage mode: a mark waiting for `pending` confirmations; returns its id. */
uint64_t aw_eh_part_mark_pending(struct aw_eh_part *p, int64_t next, uint32_t pending);
/* Two-stage mode: one message of mark `id` confirmed (ok) or failed. Returns false for
 * a mark that no longer exists (the partition was let go since). */
bool aw_eh_part_confirm(struct aw_eh_part *p, uint64_t id);
/* Every mark with seq <= durable_seq (two-stage: with nothing pending) moves the commit
 * point. Returns true when it moved. */
bool aw_eh_part_advance(struct aw_eh_part *p, uint64_t durable_seq);

/* The assigned partitions whose commit point is past what was last committed (all of
 * `only` when given: the partitions of a revocation), as a list for rd_kafka_commit();
 * NULL when there is none. Their `committed` is updated. */
rd_kafka_topic_partition_list_t *aw_eh_commit_list(struct aw_eh_parts *ps,
						   const rd_kafka_topic_partition_list_t *only);
/* A commit failed for these offsets: they are committed again on the next tick. */
void aw_eh_commit_failed(struct aw_eh_parts *ps, const rd_kafka_topic_partition_list_t *offs);

/* --- lag (eh_lag.c) ------------------------------------------------------------------- */

/* Take what a statistics document says about the assigned partitions. */
void aw_eh_lag_stats(struct aw_eh *in, json_object *root);
/* Refresh the lag gauges (high watermark minus position) and, when some partition is
 * paused or was never fetched, ask the broker for its watermark off the loop. */
void aw_eh_lag_tick(struct aw_eh *in);
/* The watermark query in flight has ended (or none was): the consumer it used may go. */
void aw_eh_lag_query_done(struct aw_eh *in);

#endif
