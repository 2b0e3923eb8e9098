/* The bookkeeping of an input that polls on an interval and keeps a findings table in
 * its state directory (in_defender, in_posture), apart from what it polls: the timer
 * that starts each poll, the table loaded at start and written at most once per
 * AW_POLL_SAVE_EVERY_MS (and a last time at close), /readyz from the last poll's
 * result, and stop and close, which waits for both timers and the input's readers
 * before it frees the input. Written once so both inputs keep the same pacing, the same
 * readiness and the same close order.
 *
 * The input embeds a struct aw_poll_input and hands it to the daemon as its plugin
 * state: start, stop, ready and close are the functions below; the input's own
 * callbacks (durable, resume) find the input in ud. The input sets last_ok / last_error
 * as its polls end. Loop thread only. */
#ifndef AW_POLL_INPUT_H
#define AW_POLL_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../daemon/error.h"
#include "plugin.h"

#define AW_POLL_SAVE_EVERY_MS 1000
#define AW_POLL_ISO_MAX	      32

/* What the input does; every op gets the input (ud). */
struct aw_poll_input_desc {
	const char *log_group;	/* "in_defender": the group of the log lines written here */
	const char *noun;	/* "poll" or "pass": /readyz says "first poll not finished" */
	const char *reported;	/* "finding" or "failure": what a poll with no table reports */
	unsigned readers;	/* what close waits for besides the timers (a pager, ...) */
	void (*poll)(void *ud); /* the poll timer fired */
	void (*stop)(void *ud); /* stop reading; may be NULL */
	void (*close_readers)(void *ud);	     /* each ends in aw_poll_input_part_closed */
	int (*load)(void *ud, struct aw_error *err); /* 0, 1 no table, -1 corrupt */
	int (*save)(void *ud, struct aw_error *err); /* write the durable table */
	bool (*dirty)(void *ud);		     /* the table has news to write */
	void (*free)(void *ud);			     /* free the input, and this with it */
};

struct aw_poll_input {
	const struct aw_poll_input_desc *desc;
	struct aw_plugin_ctx *ctx;
	void *ud; /* the input */
	uv_loop_t *loop;
	uv_timer_t poll_timer, save_timer;
	uint64_t last_save_ms;
	/* the last finished poll: -1 none yet, 0 failed (last_error says why), 1 succeeded */
	int last_ok;
	char last_error[AW_ERROR_MAX];
	bool started, stopped, closing;
	unsigned close_pending;
	void (*closed)(struct aw_plugin_ctx *ctx);
};

/* At the end of the plugin's init, which then returns p as its state. */
void aw_poll_input_init(struct aw_poll_input *p, const struct aw_poll_input_desc *desc,
			struct aw_plugin_ctx *ctx, void *ud);

/* The plugin callbacks (state: the struct aw_poll_input). start loads the table (logged
 * when there is none or it is corrupt) and polls at once; stop ends polling; close
 * stops, closes the timers and the readers, writes the table when it is dirty, frees the
 * input (desc->free) and calls closed(ctx). */
int aw_poll_input_start(void *state, struct aw_error *err);
void aw_poll_input_stop(void *state);
int aw_poll_input_ready(void *state, char *why, size_t whysz);
void aw_poll_input_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx));
/* One of desc->readers has closed (p: the struct aw_poll_input). */
void aw_poll_input_part_closed(void *p);

/* The next poll at loop time due_ms (at once when that has passed). */
void aw_poll_input_next(struct aw_poll_input *p, uint64_t due_ms);
/* The table changed: write it once AW_POLL_SAVE_EVERY_MS have passed since the last
 * write (not once closing: close writes it). */
void aw_poll_input_save_soon(struct aw_poll_input *p);

/* Now, as TimeGenerated holds it: ISO 8601 UTC with milliseconds. */
void aw_poll_input_now_iso(char out[AW_POLL_ISO_MAX]);

#endif
