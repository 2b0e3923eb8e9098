/* The one interface between the core and a plugin.
 *
 * A plugin is a file that fills one const struct aw_plugin_desc: its name, kind, option
 * table and a few callbacks, all called on the loop thread. daemon/registry.c lists the
 * built-in descriptors. A plugin never reaches into another plugin or into the engine.
 *
 * Inputs hand events to the pipeline with aw_input_emit(), which returns a sequence
 * number. When every event up to a sequence number has been evaluated and every
 * record it produced is durable for every output, the core calls desc->durable(seq);
 * only then may the input advance its checkpoint past those events (invariant 1).
 *
 * Outputs receive a batch in desc->submit() and answer exactly once, later or
 * immediately, on the loop thread, with aw_output_done(): AW_DONE (the destination
 * confirmed), AW_RETRY (transient; retry_after_ms from the server or 0) or AW_REJECT
 * (permanent: the core dead-letters it). AW_RETRY with reason "too large" makes the
 * core split the batch. Timing (backoff, splitting, dead-letter) is the core's. */
#ifndef AW_PLUGIN_H
#define AW_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../daemon/error.h"
#include "../daemon/event.h"
#include "../daemon/log.h"
#include "../daemon/metrics.h"
#include "../daemon/options.h"

#define AW_PLUGIN_ABI 1

enum aw_plugin_kind { AW_PLUGIN_INPUT, AW_PLUGIN_OUTPUT };

enum aw_result { AW_DONE, AW_RETRY, AW_REJECT };

/* The reason an output gives with AW_RETRY when the destination said "too large"
 * (HTTP 413, Kafka MSG_SIZE_TOO_LARGE): the core halves the batch. */
#define AW_REASON_TOO_LARGE "too large"

/* Per-instance handle the core gives a plugin; valid until the plugin's close
 * callback has run. */
struct aw_plugin_ctx;

/* A batch of records for an output. Owned by the core; valid until aw_output_done(). */
struct aw_batch {
	const struct aw_record *records;
	size_t n;
	size_t bytes;            /* sum of record lengths */
	unsigned attempt;        /* 1 on the first submit */
	void *priv;              /* the core's */
};

struct aw_plugin_desc {
	unsigned abi;            /* AW_PLUGIN_ABI */
	const char *name;        /* `type:` in the config */
	enum aw_plugin_kind kind;
	const char *summary;     /* one line for --help */
	const struct aw_option *options;
	size_t conf_size;

	/* Cross-field checks after the table has validated each key (optional). Add every
	 * problem to errs as "where: reason"; return 0 when none. */
	int (*validate)(const void *conf, const char *where, struct aw_error_list *errs);

	/* Allocate state from a validated conf (the conf outlives the instance). No I/O
	 * that can block; may open files. */
	int (*init)(struct aw_plugin_ctx *ctx, const void *conf, void **state,
		    struct aw_error *err);
	/* Begin work on the loop: inputs start reading, outputs become able to submit. */
	int (*start)(void *state, struct aw_error *err);

	/* Inputs: every event with sequence <= seq is durable; advance the checkpoint. */
	void (*durable)(void *state, uint64_t seq);
	/* Inputs: the pipeline went back under its high-water mark; read again. */
	void (*resume)(void *state);
	/* Inputs: stop emitting (shutdown or removal). durable() may still be called. */
	void (*stop)(void *state);

	/* Outputs: limits of one batch (0 = the core's defaults). */
	size_t max_batch_records;
	size_t max_batch_bytes;
	/* Outputs: deliver a batch; call aw_output_done() exactly once for it. */
	void (*submit)(void *state, struct aw_batch *batch);
	/* Outputs: SIGHUP (reopen files for logrotate). Optional. */
	void (*reopen)(void *state);

	/* 1 when usable (for /readyz), else 0 with a short reason in why. Optional. */
	int (*ready)(void *state, char *why, size_t whysz);

	/* Close every handle; in-flight output batches are abandoned (the core keeps
	 * them). Call closed(ctx) when all handles are closed, after freeing state. */
	void (*close)(void *state, void (*closed)(struct aw_plugin_ctx *ctx));
};

/* --- core services ------------------------------------------------------------- */

uv_loop_t *aw_ctx_loop(struct aw_plugin_ctx *ctx);
const char *aw_ctx_name(struct aw_plugin_ctx *ctx);
/* The instance's own directory under the state directory, created 0700 before init. */
const char *aw_ctx_state_dir(struct aw_plugin_ctx *ctx);
struct aw_metrics *aw_ctx_metrics(struct aw_plugin_ctx *ctx);

/* Azure: the daemon's HTTP client (curl on this loop, shared connection pool; see
 * daemon/http.h) and its own identity (`azure.credential`; daemon/auth.h). Both stay
 * valid until the plugin's close. NULL when the daemon has no Azure services (a test
 * that did not start them). A plugin configured with its own `credential:` section
 * creates its own aw_auth on aw_ctx_http(). */
struct aw_http;
struct aw_credential;
struct aw_http *aw_ctx_http(struct aw_plugin_ctx *ctx);
struct aw_credential *aw_ctx_credential(struct aw_plugin_ctx *ctx);
/* azure.insecure_http_for_tests: plain http to loopback hosts is allowed (emulator). */
bool aw_ctx_insecure_http(struct aw_plugin_ctx *ctx);

/* Inputs: hand one event to the pipeline. The event's bytes are consumed before this
 * returns. Returns its sequence number (> 0; increasing per instance). *pause is set
 * when the pipeline is above its high-water mark: stop reading until resume(). The
 * event is accepted either way: nothing is dropped. */
uint64_t aw_input_emit(struct aw_plugin_ctx *ctx, const struct aw_event *ev, bool *pause);

/* Inputs: count a record that was skipped as malformed (metric
 * aiwatch_events_skipped_total{input,reason}). The input logs it. */
void aw_input_skipped(struct aw_plugin_ctx *ctx, const char *reason);

/* Outputs: answer a batch. reason is logged and kept with dead-lettered batches. */
void aw_output_done(struct aw_plugin_ctx *ctx, struct aw_batch *batch, enum aw_result r,
		    uint64_t retry_after_ms, const char *reason);

#endif
