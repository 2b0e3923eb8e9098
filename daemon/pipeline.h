/* The pipeline: plugin instances, the engine between them, and delivery bookkeeping.
 *
 * Inputs emit events (aw_input_emit); each event is evaluated by the engine and the
 * records it yields are appended to every output's durable spool (spool.h). Once they
 * are written (and, with pipeline.spool_fsync "batch", synced) the event is durable:
 * each input learns, in order, the highest sequence number below which everything is,
 * and may checkpoint past it even if no output has delivered anything yet. Outputs take
 * batches from the front of their spool: AW_DONE acknowledges them (the spool's ack
 * position moves), AW_RETRY schedules a full-jitter backoff (or a split on "too
 * large"), AW_REJECT or a batch older than retry_max_age writes it to dead-letter/ and
 * acknowledges it. What is not acknowledged is delivered again after a restart. A
 * spool over pipeline.spool_max_bytes or spool_max_age pauses the inputs
 * (back-pressure, the default) or drops its oldest records (spool_full: drop_oldest);
 * pipeline.max_queue_bytes bounds the part of each spool kept in memory. Loop thread
 * only. */
#ifndef AW_PIPELINE_H
#define AW_PIPELINE_H

#include <stdbool.h>
#include <uv.h>

#include "config.h"
#include "engine.h"
#include "error.h"
#include "metrics.h"
#include "plugin.h"

struct aw_pipeline;

/* conf is copied. state_dir must exist. The engine is borrowed (it must outlive the
 * pipeline, or be replaced with aw_pipeline_set_engine). */
int aw_pipeline_new(uv_loop_t *loop, const struct aw_pipeline_conf *conf,
		    struct aw_metrics *metrics, const char *state_dir, struct aw_engine *engine,
		    struct aw_pipeline **out, struct aw_error *err);

/* Reload: new bounds and engine take effect for what is emitted from now on. */
void aw_pipeline_set_conf(struct aw_pipeline *p, const struct aw_pipeline_conf *conf);
void aw_pipeline_set_engine(struct aw_pipeline *p, struct aw_engine *engine);

/* Create an instance (its state directory, ctx, desc->init). The instance conf is
 * borrowed and must outlive the instance. Outputs should be added before inputs start.
 * On failure nothing is left behind. */
int aw_pipeline_add(struct aw_pipeline *p, const struct aw_instance_conf *ic,
		    struct aw_plugin_ctx **out, struct aw_error *err);
/* desc->start. */
int aw_pipeline_start(struct aw_plugin_ctx *ctx, struct aw_error *err);
/* Take an instance out: inputs are stopped; outputs stop receiving new records, get
 * up to 5 s to answer a batch they have in flight, and leave what they did not deliver
 * in their spool, which a new instance of the same name (a reload) takes over; then
 * the plugin's close runs and the ctx is freed. `owned_conf` (may be NULL) is the
 * plugin conf the instance was created with, detached from its config: it is freed
 * (through the plugin's table) after the close, since the plugin may use it until
 * then. */
void aw_pipeline_remove(struct aw_plugin_ctx *ctx, void *owned_conf);
/* Swap the conf an instance was created from (the new one compares equal). */
void aw_pipeline_rebind(struct aw_plugin_ctx *ctx, const struct aw_instance_conf *ic);

/* Every instance, for reload diffing: calls fn for each. */
void aw_pipeline_foreach(struct aw_pipeline *p, void (*fn)(struct aw_plugin_ctx *ctx, void *ud),
			 void *ud);
const struct aw_instance_conf *aw_ctx_instance_conf(struct aw_plugin_ctx *ctx);

/* SIGHUP for outputs: reopen, and take in batches `aiwatchd dead-letter replay` put
 * back into their spools. */
void aw_pipeline_reopen_outputs(struct aw_pipeline *p);

/* Shutdown, step 1: stop every input. */
void aw_pipeline_stop_inputs(struct aw_pipeline *p);
/* True when every spool is empty (nothing unacknowledged) and every event emitted so
 * far has been reported durable. */
bool aw_pipeline_idle(const struct aw_pipeline *p);
/* Records not yet acknowledged, across outputs (what a shutdown leaves in the spools). */
size_t aw_pipeline_pending(const struct aw_pipeline *p);
/* Called (once) whenever the pipeline becomes idle while shutting down. */
void aw_pipeline_on_idle(struct aw_pipeline *p, void (*fn)(void *ud), void *ud);

/* Readiness over all instances: 1 ready, else 0 and the first reason. */
int aw_pipeline_ready(struct aw_pipeline *p, char *why, size_t whysz);

/* Shutdown, last step: close every instance and the pipeline's own handles; `done`
 * runs when everything is closed and the pipeline freed. */
void aw_pipeline_close(struct aw_pipeline *p, void (*done)(void *ud), void *ud);

#endif
