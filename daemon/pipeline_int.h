/* Internals shared by pipeline.c (instances, emit, acknowledgement tracking) and
 * delivery.c (output queues, batches, backoff, dead-letter). Not for plugins. */
#ifndef AW_PIPELINE_INT_H
#define AW_PIPELINE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "pipeline.h"

#define PL_DEFAULT_BATCH_RECORDS 500
#define PL_DEFAULT_BATCH_BYTES (1024 * 1024)

/* --- acknowledgement tracking (per input) --------------------------------------- */

/* One event that still has records waiting somewhere. Events with none never enter. */
struct pl_pending {
	uint64_t seq;
	uint32_t remaining;
};

struct pl_track {
	unsigned refs;
	struct aw_plugin_ctx *ctx;  /* NULL once the input is gone */
	uint64_t issued;            /* last sequence number handed out */
	uint64_t reported;          /* last durable() value given to the input */
	uint64_t held;              /* first event whose records could not all be queued
	                               (out of memory); durable never passes it, so a
	                               restart reads it again. 0: none */
	/* Ring of pending events in increasing seq order. Its size is bounded by the
	 * records queued for outputs, which max_queue_bytes bounds. */
	struct pl_pending *ring;
	size_t head, len, cap;
};

struct pl_rec {
	unsigned refs;
	struct aw_record rec;
	struct pl_track *track;
	uint64_t seq;
	uint64_t queued_ms;         /* when it entered the pipeline, for age metrics */
};

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

	/* outputs: FIFO of records; the first `inflight` are the batch being delivered */
	struct pl_rec **q;
	size_t qhead, qlen, qcap;
	size_t inflight;
	uint64_t qbytes;
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
	uv_idle_t idle;
	bool idle_live, idle_active;
	bool closing;
	unsigned closing_ctx;       /* instances whose close has not finished */
	void (*on_idle_fn)(void *ud);
	void *on_idle_ud;
	void (*done_fn)(void *ud);
	void *done_ud;
	uint64_t dl_counter;
	struct aw_metric *m_engine_errors;
};

static inline uint64_t aw_pl_now_ms(struct aw_pipeline *p)
{
	return uv_now(p->loop);
}

/* pipeline.c */
void aw_pl_kick(struct aw_pipeline *p);
void aw_pl_track_ack(struct aw_pipeline *p, struct pl_track *t, uint64_t seq);
void aw_pl_rec_unref(struct pl_rec *r);

/* delivery.c */
struct pl_rec *aw_pl_q_at(struct aw_plugin_ctx *o, size_t i);
int aw_pl_q_push(struct aw_plugin_ctx *o, struct pl_rec *r);
/* Remove the first n records, acknowledging each to its input. */
void aw_pl_q_ack_front(struct aw_pipeline *p, struct aw_plugin_ctx *o, size_t n);
bool aw_pl_outputs_over_limit(const struct aw_pipeline *p);
/* The idle pass for one output: handle its answer, then submit the next batch. */
void aw_pl_deliver(struct aw_pipeline *p, struct aw_plugin_ctx *o);

#endif
