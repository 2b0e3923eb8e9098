/* One librdkafka handle served from the libuv loop (kafka_common.h).
 *
 * Wake-up: librdkafka writes 8 bytes to a non-blocking eventfd when its main queue goes
 * from empty to non-empty (rd_kafka_queue_io_event_enable). A blocking fd would hang
 * the producer, which writes it holding a queue lock (librdkafka #2932), and a queue not
 * drained to empty never wakes us again: so every wake-up reads the eventfd first and
 * then polls until nothing is left. A 100 ms timer serves the queue as well, in case a
 * wake-up is ever missed.
 *
 * Threads: with log.queue and the callbacks below, librdkafka calls us only from
 * rd_kafka_poll() on the loop thread. rd_kafka_destroy() runs on libuv's thread pool
 * (it joins librdkafka's threads, which can take a while when a broker is unreachable);
 * every callback checks it is on the loop thread and the client is not retired, so
 * nothing reaches the owner or the logger from another thread.
 *
 * Consumers: the main queue is redirected to the consumer queue, which is the one the
 * eventfd watches; rd_kafka_consumer_poll() then serves messages, rebalances, commit
 * results, statistics and log lines alike. The client performs the assignment calls a
 * rebalance needs (incremental for the cooperative protocol, whole for eager), telling
 * the owner after an assignment and before a revocation. Closing leaves the group with
 * rd_kafka_consumer_close_queue() while the loop keeps serving, so nothing blocks. */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../daemon/auth.h"
#include "../daemon/log.h"
#include "kafka_common.h"

#define SERVE_INTERVAL_MS 100
#define DRAIN_TICK_MS	  10
/* Statistics drive readiness (which brokers are up); once a second costs little. */
#define STATS_INTERVAL "1000"
/* rd_kafka_poll() rounds per wake-up; more is left for the next (the fd is written
 * again when the queue refills), so a busy producer cannot starve the loop. */
#define MAX_POLL_ROUNDS 64
/* A token without a readable expiry is handed over as valid this long, so librdkafka
 * asks again soon (the credential's cache answers from memory until it is stale). */
#define TOKEN_FALLBACK_LIFETIME_MS (10 * 60 * 1000)

struct aw_kafka_client;

/* One token request in flight; outlives the client when the credential answers late
 * (c is cleared then). */
struct token_req {
	struct aw_kafka_client *c;
};

struct aw_kafka_client {
	uv_loop_t *loop;
	rd_kafka_t *rk;
	rd_kafka_queue_t *mainq; /* the queue served: the consumer queue for a consumer */
	bool consumer;
	bool consumer_closed; /* rd_kafka_consumer_close_queue() finished */
	int efd;
	uv_poll_t poll;
	uv_timer_t timer;
	uv_work_t work;
	pthread_t loop_thread;
	char *name;
	const struct aw_kafka_client_ops *ops;
	void *ud;
	bool retired; /* close began: the owner hears nothing more */
	bool stats_seen;
	unsigned brokers_up;
	char last_error[256];
	uint64_t deadline; /* close: end of the drain */
	unsigned open_handles;
	void (*closed)(void *ud);
	void *closed_ud;
	/* OAUTHBEARER from an Entra ID credential */
	struct aw_credential *cred;
	char *scope;
	struct token_req *token_req;
	unsigned tokens_set, token_failures;
};

static bool on_loop(const struct aw_kafka_client *c)
{
	return pthread_equal(pthread_self(), c->loop_thread);
}

/* --- librdkafka callbacks (loop thread, from rd_kafka_poll) ---------------------------- */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *line)
{
	struct aw_kafka_client *c = rd_kafka_opaque(rk);
	enum aw_log_level lvl = level <= 3   ? AW_LOG_ERR
				: level == 4 ? AW_LOG_WARN
				: level == 5 ? AW_LOG_NOTICE
				: level == 6 ? AW_LOG_INFO
					     : AW_LOG_DEBUG;

	/* A broker that cannot be reached (FAIL) is logged at LOG_ERR on every reconnect
	 * attempt; librdkafka retries by itself and "all brokers down" has its own
	 * warning, so one broker's failure is a warning. */
	if (lvl == AW_LOG_ERR && strcmp(fac, "FAIL") == 0)
		lvl = AW_LOG_WARN;

	/* The logger is single-threaded; a line from elsewhere (during destroy) is
	 * dropped rather than raced. Secrets it may hold are redacted by aw_log. */
	if (!c || !on_loop(c))
		return;
	aw_log(lvl, "rdkafka", line, AW_S("client", c->name), AW_S("facility", fac));
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct aw_kafka_client *c = opaque;

	if (!on_loop(c) || c->retired)
		return;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char fatal[512];
		rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof fatal);
		if (snprintf(c->last_error, sizeof c->last_error, "%s: %s", rd_kafka_err2name(orig),
			     fatal) < 0)
			c->last_error[0] = '\0';
		if (c->ops->fatal) /* the owner logs it, with what it does about it */
			c->ops->fatal(c->ud, c->last_error);
		return;
	}
	if (snprintf(c->last_error, sizeof c->last_error, "%s: %s",
		     rd_kafka_err2name((rd_kafka_resp_err_t)err), reason) < 0)
		c->last_error[0] = '\0';
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		c->brokers_up = 0;
	/* A connection failure was already logged by librdkafka itself (facility FAIL);
	 * it reconnects on its own. */
	if (err != RD_KAFKA_RESP_ERR__TRANSPORT)
		aw_log(AW_LOG_WARN, "kafka", "librdkafka error", AW_S("client", c->name),
		       AW_S("error", c->last_error));
}

/* Count the brokers whose state is UP in a statistics document. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct aw_kafka_client *c = opaque;
	struct json_tokener *tok;
	struct json_object *root, *brokers;

	if (!on_loop(c) || c->retired)
		return 0;
	tok = json_tokener_new();
	if (!tok)
		return 0;
	root = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (root && json_object_object_get_ex(root, "brokers", &brokers) &&
	    json_object_is_type(brokers, json_type_object)) {
		unsigned up = 0;
		json_object_object_foreach(brokers, bname, b)
		{
			struct json_object *st = NULL;
			const char *state;
			(void)bname;
			json_object_object_get_ex(b, "state", &st);
			state = json_object_get_string(st);
			if (state && strcmp(state, "UP") == 0)
				up++;
		}
		c->brokers_up = up;
		c->stats_seen = true;
	}
	if (root && c->ops->stats)
		c->ops->stats(c->ud, root);
	json_object_put(root);
	return 0; /* librdkafka frees json */
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct aw_kafka_client *c = opaque;

	if (!on_loop(c) || c->retired)
		return;
	/* A broker acknowledged it: one is up, whatever the last statistics said. */
	if (!m->err && c->brokers_up == 0)
		c->brokers_up = 1;
	if (c->ops->delivered)
		c->ops->delivered(c->ud, m);
}

static void log_rebalance_error(struct aw_kafka_client *c, const char *what,
				rd_kafka_error_t *e)
{
	if (!e)
		return;
	if (on_loop(c))
		aw_log(AW_LOG_ERR, "kafka", "rebalance: cannot change the assignment",
		       AW_S("client", c->name), AW_S("call", what),
		       AW_S("error", rd_kafka_error_string(e)));
	rd_kafka_error_destroy(e);
}

/* The assignment changes here, whoever else is told: a consumer that does not call
 * (incremental_)assign would stall the whole group. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct aw_kafka_client *c = opaque;
	const char *proto = rd_kafka_rebalance_protocol(rk);
	bool coop = proto && strcmp(proto, "COOPERATIVE") == 0;
	bool tell = on_loop(c) && !c->retired;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (coop)
			log_rebalance_error(c, "incremental_assign",
					    rd_kafka_incremental_assign(rk, parts));
		else if (rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR && on_loop(c))
			aw_log(AW_LOG_ERR, "kafka", "rebalance: cannot take the assignment",
			       AW_S("client", c->name));
		if (tell && c->ops->assigned)
			c->ops->assigned(c->ud, parts);
		return;
	}
	if (tell && c->ops->revoked)
		c->ops->revoked(c->ud, parts, rd_kafka_assignment_lost(rk) == 1);
	if (coop)
		log_rebalance_error(c, "incremental_unassign",
				    rd_kafka_incremental_unassign(rk, parts));
	else
		rd_kafka_assign(rk, NULL);
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	struct aw_kafka_client *c = opaque;

	if (!on_loop(c) || c->retired || !c->ops->committed)
		return;
	c->ops->committed(c->ud, err, offsets);
}

/* --- OAUTHBEARER tokens from an Entra ID credential ------------------------------------- */

static void token_answer(void *cbud, const char *token, const struct aw_error *err)
{
	struct token_req *req = cbud;
	struct aw_kafka_client *c = req->c;
	char principal[128], why[512] = "";
	int64_t exp = 0, lifetime_ms;

	free(req);
	if (!c)
		return; /* the client went away meanwhile */
	c->token_req = NULL;
	if (!token) {
		c->token_failures++;
		snprintf(why, sizeof why, "cannot get an Entra ID token for %.100s: %.360s",
			 c->scope, err ? err->msg : "no token");
		aw_log(AW_LOG_WARN, "kafka", "OAUTHBEARER token refresh failed",
		       AW_S("client", c->name), AW_S("error", why),
		       AW_U("failures", c->token_failures));
		rd_kafka_oauthbearer_set_token_failure(c->rk, why);
		return;
	}
	if (aw_kafka_token_claims(token, &exp, principal, sizeof principal) == 0)
		lifetime_ms = exp * 1000;
	else
		lifetime_ms = (int64_t)time(NULL) * 1000 + TOKEN_FALLBACK_LIFETIME_MS;
	if (rd_kafka_oauthbearer_set_token(c->rk, token, lifetime_ms, principal, NULL, 0, why,
					   sizeof why) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		c->token_failures++;
		aw_log(AW_LOG_WARN, "kafka", "librdkafka refused the Entra ID token",
		       AW_S("client", c->name), AW_S("error", why),
		       AW_U("failures", c->token_failures));
		rd_kafka_oauthbearer_set_token_failure(c->rk, why);
		return;
	}
	c->tokens_set++;
	aw_log(AW_LOG_DEBUG, "kafka", "OAUTHBEARER token set", AW_S("client", c->name),
	       AW_S("scope", c->scope), AW_I("expires_on", lifetime_ms / 1000),
	       AW_U("tokens_set", c->tokens_set));
}

static void token_refresh_cb(rd_kafka_t *rk, const char *oauthbearer_config, void *opaque)
{
	struct aw_kafka_client *c = opaque;
	struct token_req *req;

	(void)oauthbearer_config;
	if (!on_loop(c) || c->retired || c->token_req)
		return; /* one request at a time; its answer serves this refresh too */
	req = calloc(1, sizeof *req);
	if (!req) {
		rd_kafka_oauthbearer_set_token_failure(rk, "out of memory");
		return;
	}
	req->c = c;
	c->token_req = req;
	/* May answer before returning (a fresh cached token). */
	aw_credential_get_token(c->cred, c->scope, token_answer, req);
}

static void token_detach(struct aw_kafka_client *c)
{
	if (c->token_req)
		c->token_req->c = NULL;
	c->token_req = NULL;
}

/* --- serving ------------------------------------------------------------------------ */

static void serve(struct aw_kafka_client *c)
{
	uint64_t v, one = 1;
	int i = 0;

	/* Reset the eventfd before polling: an event queued after the read writes it
	 * again, so nothing queued after this point can be missed. */
	while (read(c->efd, &v, sizeof v) < 0 && errno == EINTR)
		;
	if (c->consumer) {
		rd_kafka_message_t *m;
		while (i < MAX_POLL_ROUNDS && (m = rd_kafka_consumer_poll(c->rk, 0)) != NULL) {
			if (!m->err && c->brokers_up == 0)
				c->brokers_up = 1; /* fetched: a broker is up */
			if (!c->retired && c->ops->consumed)
				c->ops->consumed(c->ud, m);
			rd_kafka_message_destroy(m);
			i++;
		}
		if (c->retired && !c->consumer_closed && rd_kafka_consumer_closed(c->rk))
			c->consumer_closed = true;
	} else {
		while (i < MAX_POLL_ROUNDS && rd_kafka_poll(c->rk, 0) > 0)
			i++;
	}
	/* Still busy: let the loop run other work, then come back at once (the queue
	 * is not empty, so librdkafka would not write the eventfd for us). */
	if (i == MAX_POLL_ROUNDS) {
		/* EAGAIN can only mean the counter is full: readable anyway */
		ssize_t w = write(c->efd, &one, sizeof one);
		(void)w;
	}
	/* Last: served() may close this client. */
	if (!c->retired && c->ops->served)
		c->ops->served(c->ud);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	serve(h->data);
}

static void timer_cb(uv_timer_t *t)
{
	serve(t->data);
}

/* --- lifecycle ------------------------------------------------------------------------ */

static int set_all(rd_kafka_conf_t *conf, const char *const (*kv)[2], size_t n,
		   struct aw_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (aw_kafka_conf_set(conf, kv[i][0], kv[i][1], err) != 0)
			return -1;
	return 0;
}

int aw_kafka_client_new(uv_loop_t *loop, rd_kafka_type_t type, rd_kafka_conf_t *conf,
			const char *name, const struct aw_kafka_client_ops *ops, void *ud,
			struct aw_kafka_client **out, struct aw_error *err)
{
	return aw_kafka_client_new_ex(loop, type, conf, name, ops, ud, NULL, out, err);
}

int aw_kafka_client_new_ex(uv_loop_t *loop, rd_kafka_type_t type, rd_kafka_conf_t *conf,
			   const char *name, const struct aw_kafka_client_ops *ops, void *ud,
			   const struct aw_kafka_tokens *tokens, struct aw_kafka_client **out,
			   struct aw_error *err)
{
	static const char *const ours[][2] = {
	    {"log.queue", "true"},
	    {"statistics.interval.ms", STATS_INTERVAL},
	};
	struct aw_kafka_client *c = calloc(1, sizeof *c);
	char why[512] = "";
	uint64_t one = 1;

	if (!c || !(c->name = strdup(name))) {
		free(c);
		rd_kafka_conf_destroy(conf);
		return aw_error_set(err, "%s: out of memory", name);
	}
	c->loop = loop;
	c->loop_thread = pthread_self();
	c->ops = ops;
	c->ud = ud;
	c->consumer = type == RD_KAFKA_CONSUMER;
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->efd < 0) {
		aw_error_set(err, "%s: eventfd: %s", name, strerror(errno));
		goto fail;
	}
	if (set_all(conf, ours, sizeof ours / sizeof ours[0], err) != 0)
		goto fail;
	if (tokens && tokens->credential) {
		c->cred = tokens->credential;
		c->scope = strdup(tokens->scope ? tokens->scope : "");
		if (!c->scope) {
			aw_error_set(err, "%s: out of memory", name);
			goto fail;
		}
		rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf, token_refresh_cb);
	}
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_stats_cb(conf, stats_cb);
	if (type == RD_KAFKA_PRODUCER)
		rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	if (c->consumer) {
		rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
		rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
	}
	c->rk = rd_kafka_new(type, conf, why, sizeof why);
	if (!c->rk) {
		aw_error_set(err, "%s: cannot create the Kafka client: %s", name, why);
		goto fail;
	}
	conf = NULL; /* the handle owns it now */
	/* Log lines come out of rd_kafka_poll() on the loop, not from librdkafka's
	 * threads (anchors.md §3.2 pitfall 4). */
	rd_kafka_set_log_queue(c->rk, NULL);
	if (c->consumer) {
		rd_kafka_poll_set_consumer(c->rk);
		c->mainq = rd_kafka_queue_get_consumer(c->rk);
	} else {
		c->mainq = rd_kafka_queue_get_main(c->rk);
	}
	rd_kafka_queue_io_event_enable(c->mainq, c->efd, &one, sizeof one);
	uv_poll_init(loop, &c->poll, c->efd);
	uv_timer_init(loop, &c->timer);
	c->poll.data = c->timer.data = c;
	c->open_handles = 2;
	uv_poll_start(&c->poll, UV_READABLE, poll_cb);
	uv_timer_start(&c->timer, timer_cb, SERVE_INTERVAL_MS, SERVE_INTERVAL_MS);
	*out = c;
	return 0;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	if (c->efd >= 0)
		close(c->efd);
	free(c->scope);
	free(c->name);
	free(c);
	return -1;
}

rd_kafka_t *aw_kafka_client_rk(struct aw_kafka_client *c)
{
	return c->rk;
}


unsigned aw_kafka_client_brokers_up(const struct aw_kafka_client *c)
{
	return c->brokers_up;
}

int aw_kafka_client_ready(const struct aw_kafka_client *c, char *why, size_t whysz)
{
	if (c->brokers_up > 0)
		return 1;
	if (!c->stats_seen && !c->last_error[0])
		snprintf(why, whysz, "connecting to the Kafka brokers");
	else if (c->last_error[0])
		snprintf(why, whysz, "no Kafka broker is up (last error: %s)", c->last_error);
	else
		snprintf(why, whysz, "no Kafka broker is up");
	return 0;
}

static void destroy_work(uv_work_t *w)
{
	struct aw_kafka_client *c = w->data;

	/* A consumer that could not leave its group in time is not made to try again
	 * here: that would block this thread on a broker that is not answering. */
	if (c->consumer && !c->consumer_closed)
		rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	else
		rd_kafka_destroy(c->rk);
}

static void destroy_done(uv_work_t *w, int status)
{
	struct aw_kafka_client *c = w->data;
	void (*closed)(void *) = c->closed;
	void *ud = c->closed_ud;

	close(c->efd);
	free(c->scope);
	free(c->name);
	free(c);
	if (closed)
		closed(ud);
}

static void handle_closed(uv_handle_t *h)
{
	struct aw_kafka_client *c = h->data;

	if (--c->open_handles > 0)
		return;
	c->work.data = c;
	if (uv_queue_work(c->loop, &c->work, destroy_work, destroy_done) != 0) {
		destroy_work(&c->work);
		destroy_done(&c->work, 0);
	}
}

/* Purge what is still queued or in flight (those messages are simply not confirmed:
 * the pipeline keeps them), stop the wake-ups, and hand the handle to the thread pool.
 * The queue reference goes before rd_kafka_destroy(), which otherwise waits for it. */
static void finish(struct aw_kafka_client *c)
{
	if (rd_kafka_type(c->rk) == RD_KAFKA_PRODUCER)
		rd_kafka_purge(c->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
					  RD_KAFKA_PURGE_F_NON_BLOCKING);
	serve(c);
	token_detach(c);
	rd_kafka_queue_io_event_enable(c->mainq, -1, NULL, 0);
	rd_kafka_queue_destroy(c->mainq);
	c->mainq = NULL;
	uv_timer_stop(&c->timer);
	uv_poll_stop(&c->poll);
	uv_close((uv_handle_t *)&c->poll, handle_closed);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
}

static void drain_cb(uv_timer_t *t)
{
	struct aw_kafka_client *c = t->data;

	serve(c);
	if ((c->consumer ? c->consumer_closed : rd_kafka_outq_len(c->rk) == 0) ||
	    uv_now(c->loop) >= c->deadline) {
		uv_timer_stop(&c->timer);
		finish(c);
	}
}

void aw_kafka_client_close(struct aw_kafka_client *c, uint64_t drain_ms, void (*closed)(void *ud),
			   void *ud)
{
	c->retired = true;
	c->closed = closed;
	c->closed_ud = ud;
	token_detach(c);
	if (c->consumer && drain_ms > 0) {
		/* Leave the group while the loop keeps serving the queue (the revocation
		 * and the commits already sent complete on it). */
		rd_kafka_error_t *e = rd_kafka_consumer_close_queue(c->rk, c->mainq);
		if (e) {
			aw_log(AW_LOG_WARN, "kafka", "cannot leave the consumer group cleanly",
			       AW_S("client", c->name), AW_S("error", rd_kafka_error_string(e)));
			rd_kafka_error_destroy(e);
			finish(c);
			return;
		}
	} else if (drain_ms == 0 || rd_kafka_outq_len(c->rk) == 0) {
		finish(c);
		return;
	}
	/* Let requests already on the wire complete (no rd_kafka_flush(): it would
	 * block the loop, and with the queue served here it would not serve it). */
	c->deadline = uv_now(c->loop) + drain_ms;
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, drain_cb, DRAIN_TICK_MS, DRAIN_TICK_MS);
}
