/* A polling input's timers, table writes, readiness and close (see poll_input.h). */
#include "poll_input.h"

#include <stdio.h>
#include <time.h>

#include "../daemon/log.h"

static void poll_cb(uv_timer_t *t)
{
	struct aw_poll_input *p = t->data;

	p->desc->poll(p->ud);
}

static void save_now(struct aw_poll_input *p)
{
	struct aw_error err;

	p->last_save_ms = uv_now(p->loop);
	if (p->desc->save(p->ud, &err) != 0)
		aw_log(AW_LOG_WARN, p->desc->log_group, "cannot write the findings table",
		       AW_S("input", aw_ctx_name(p->ctx)), AW_S("error", err.msg));
}

static void save_cb(uv_timer_t *t)
{
	save_now(t->data);
}

void aw_poll_input_init(struct aw_poll_input *p, const struct aw_poll_input_desc *desc,
			struct aw_plugin_ctx *ctx, void *ud)
{
	p->desc = desc;
	p->ctx = ctx;
	p->ud = ud;
	p->loop = aw_ctx_loop(ctx);
	p->last_ok = -1;
	uv_timer_init(p->loop, &p->poll_timer);
	uv_timer_init(p->loop, &p->save_timer);
	p->poll_timer.data = p;
	p->save_timer.data = p;
}

/* A missing or corrupt table is no reason not to start: the first poll reports what it
 * finds, once. */
int aw_poll_input_start(void *state, struct aw_error *err)
{
	struct aw_poll_input *p = state;
	struct aw_error why;
	char msg[128];
	int rc;

	p->started = true;
	p->last_save_ms = uv_now(p->loop) - AW_POLL_SAVE_EVERY_MS;
	rc = p->desc->load(p->ud, &why);
	if (rc == 1) {
		snprintf(msg, sizeof msg,
			 "no findings table yet: every current %s is reported once",
			 p->desc->reported);
		aw_log(AW_LOG_INFO, p->desc->log_group, msg, AW_S("input", aw_ctx_name(p->ctx)));
	} else if (rc < 0) {
		snprintf(msg, sizeof msg,
			 "ignoring the findings table; every current %s is reported once",
			 p->desc->reported);
		aw_log(AW_LOG_WARN, p->desc->log_group, msg, AW_S("input", aw_ctx_name(p->ctx)),
		       AW_S("error", why.msg));
	}
	uv_timer_start(&p->poll_timer, poll_cb, 0, 0);
	return 0;
}

void aw_poll_input_next(struct aw_poll_input *p, uint64_t due_ms)
{
	uint64_t now = uv_now(p->loop);

	uv_timer_start(&p->poll_timer, poll_cb, due_ms > now ? due_ms - now : 0, 0);
}

void aw_poll_input_stop(void *state)
{
	struct aw_poll_input *p = state;

	p->stopped = true;
	uv_timer_stop(&p->poll_timer);
	if (p->desc->stop)
		p->desc->stop(p->ud);
}

/* At most one write per AW_POLL_SAVE_EVERY_MS; close writes the last one. */
void aw_poll_input_save_soon(struct aw_poll_input *p)
{
	uint64_t now = uv_now(p->loop), due = p->last_save_ms + AW_POLL_SAVE_EVERY_MS;

	if (p->closing || uv_is_active((uv_handle_t *)&p->save_timer))
		return;
	uv_timer_start(&p->save_timer, save_cb, due > now ? due - now : 0, 0);
}

int aw_poll_input_ready(void *state, char *why, size_t whysz)
{
	const struct aw_poll_input *p = state;

	if (p->last_ok == 1)
		return 1;
	if (p->last_ok < 0)
		snprintf(why, whysz, "first %s not finished", p->desc->noun);
	else
		snprintf(why, whysz, "last %s failed: %s", p->desc->noun, p->last_error);
	return 0;
}

void aw_poll_input_part_closed(void *state)
{
	struct aw_poll_input *p = state;
	void (*closed)(struct aw_plugin_ctx *) = p->closed;
	struct aw_plugin_ctx *ctx = p->ctx;

	if (--p->close_pending > 0)
		return;
	if (p->started && p->desc->dirty(p->ud))
		save_now(p);
	p->desc->free(p->ud); /* p goes with it */
	closed(ctx);
}

static void timer_closed(uv_handle_t *h)
{
	aw_poll_input_part_closed(h->data);
}

void aw_poll_input_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	struct aw_poll_input *p = state;

	aw_poll_input_stop(p);
	p->closing = true;
	p->closed = closed;
	uv_timer_stop(&p->save_timer);
	/* Set before anything closes: a reader may report back before close_readers
	 * returns. */
	p->close_pending = 2 + p->desc->readers;
	uv_close((uv_handle_t *)&p->poll_timer, timer_closed);
	uv_close((uv_handle_t *)&p->save_timer, timer_closed);
	p->desc->close_readers(p->ud);
}

void aw_poll_input_now_iso(char out[AW_POLL_ISO_MAX])
{
	struct timespec ts;
	struct tm tm;
	char base[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, AW_POLL_ISO_MAX, "%s.%03uZ", base, (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}
