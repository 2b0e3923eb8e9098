/* Internals shared by pipeline.c (instances, emit, durability tracking) and
 * delivery.c (batches from the spools, backoff, dead-letter). Not for plugins. */
#ifndef AW_PIPELINE_INT_H
#define AW_PIPELINE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "pipeline.h"
#include "spool.h"

#define PL_DEFAULT_BATCH_RECORDS 500
#define PL_DEFAULT_BATCH_BYTES (1024 * 1024)
/* Ack positions are written at most this often; age bounds are looked at as often. */
#define PL_TICK_MS 100

struct pl_sync;
struct pl_ackjob;

/* --- durability tracking (per input) -------------------------------------------- */

/* Events become durable by "epoch": every record an event produces is appended to the
 * outputs' spools during aw_input_emit, tagged with the pipeline's open epoch; the idle
 * pass closes the epoch by flushing every spool (and, with spool_fsync "batch",
 * syncing them on the thread pool), and then every event of that epoch is durable. A
 * span is a run of an input's events that produced records in one epoch; events that
 * produced none need no span (they are durable as soon as everything before them). */
struct pl_span {
	uint64_t first, last;       /* event sequence numbers */
	uint64_t epoch;
};

/* At most one epoch is being synced while the next one fills, so an input has spans in
 * at most two epochs; a few more slots only absorb the hold-and-retry path. */
#define PL_TRACK_SPANS 8

struct pl_track {
	struct aw_plugin_ctx *ctx;
	uint64_t issued;            /* last sequence number handed out */
	uint64_t reported;          /* last durable() value given to the input */
	uint64_t held;              /* first event whose records may not all be in the
	                               spools (out of memory, a failed write or sync);
	                               durable never passes it, so a restart reads it
	                               again. 0: none */
	struct pl_span spans[PL_TRACK_SPANS];
	size_t head, len;
};

/* --- spools ------------------------------------------------------------------------ */

/* An output's spool, by output name. On reload an output that changed is replaced by a
 * new instance of the same name; both hold the spool until the old one has closed, and
 * only the owner submits from it, so what the old instance had in flight is answered
 * (and acknowledged) before the new one sends anything: no loss, and no duplicate. */
struct pl_spool {
	struct pl_spool *next;
	char *name;
	struct aw_spool *s;
	unsigned refs;
	struct aw_plugin_ctx *owner;    /* the instance delivering from it */
};

/* How long a removed output may take to answer the batch it has in flight. */
#define PL_RETIRE_MS 5000

/* --- instances ------------------------------------------------------------------- */

enum pl_phase { PL_CREATED, PL_RUNNING, PL_STOPPED, PL_CLOSING };

struct aw_plugin_ctx {
	struct aw_pipeline *p;
	struct aw_plugin_ctx *next, *prev;
	const struct aw_instance_conf *ic;
	const struct aw_plugin_desc *desc;
	void *state;
	char *name;
	char *state_dir;
	enum pl_phase phase;

	/* inputs */
	struct pl_track *track;
	bool paused;                /* told to pause, waiting for resume() */
	struct aw_metric *m_events, *m_paused;

	/* outputs: the spool; the first `inflight` cached records are the batch being
	 * delivered */
	struct pl_spool *ps;
	struct aw_spool *spool;     /* ps->s */
	bool retiring;              /* removed: waiting for its in-flight answer */
	size_t inflight;
	struct aw_batch batch;
	struct aw_record *batch_recs;
	bool in_submit;             /* submit() is running: done() must defer */
	bool done_pending;          /* done() was called; handled by the idle pass */
	enum aw_result done_r;
	uint64_t done_retry_ms;
	char done_reason[256];
	unsigned attempt;
	uint64_t first_try_ms;
	size_t split_limit;         /* after "too large": records per batch, 0 = none */
	uv_timer_t retry_timer;
	bool timer_live, waiting_retry;
	struct aw_metric *m_records, *m_delivered, *m_retries, *m_dead, *m_rejected;
	struct aw_metric *m_pend_bytes, *m_pend_recs, *m_oldest;

	unsigned close_pending;     /* handles and plugin close still to finish */
	void *owned_conf;           /* freed after close (instance removed on reload) */
};

struct aw_pipeline {
	uv_loop_t *loop;
	struct aw_pipeline_conf conf;
	struct aw_metrics *metrics;
	char *state_dir;
	struct aw_engine *engine;
	struct aw_plugin_ctx *head;
	struct pl_spool *spools;
	uv_idle_t idle;
	bool idle_live, idle_active;
	bool closing;
	unsigned closing_ctx;       /* instances whose close has not finished */
	void (*on_idle_fn)(void *ud);
	void *on_idle_ud;
	void (*done_fn)(void *ud);
	void *done_ud;
	struct aw_metric *m_engine_errors;

	/* durability epochs (see struct pl_span) */
	uint64_t epoch_open;        /* events emitted now get this epoch */
	bool epoch_used;            /* some event of epoch_open has records */
	bool epoch_failed;          /* a spool write for epoch_open failed */
	struct pl_sync *sync;       /* the sync in flight on the thread pool, or NULL */
	struct pl_ackjob *ackjob;   /* ack positions being written on the thread pool */
	bool finish_after_jobs;     /* close is waiting for those two */
	uv_timer_t tick;            /* PL_TICK_MS: ack positions, age bounds */
	unsigned handles_open;      /* idle + tick, until closed */
};

static inline uint64_t aw_pl_now_ms(struct aw_pipeline *p)
{
	return uv_now(p->loop);
}

/* pipeline.c */
void aw_pl_kick(struct aw_pipeline *p);
/* The spool bounds from the pipeline conf. */
void aw_pl_spool_conf(const struct aw_pipeline *p, struct aw_spool_conf *sc);

/* delivery.c */
/* True when this output's spool is full (or failing) in a way that pauses inputs. */
bool aw_pl_output_full(const struct aw_pipeline *p, const struct aw_plugin_ctx *c,
		       uint64_t now_wall_ms);
/* ... for some output. */
bool aw_pl_outputs_over_limit(const struct aw_pipeline *p);
/* The idle pass for one output: handle its answer, apply drop_oldest, read back from
 * disk, then submit the next batch. */
void aw_pl_deliver(struct aw_pipeline *p, struct aw_plugin_ctx *o);

#endif
