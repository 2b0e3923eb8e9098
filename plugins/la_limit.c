/* The process-wide Log Analytics query limiter (see la.h).
 *
 * The service queues a sixth concurrent query for up to 3 minutes and then answers
 * 429, and throttles past 200 queries in 30 s; both limits count per identity and
 * client address across every workspace. With many workspaces configured, the inputs
 * take turns here instead of finding out from 429s. Loop thread only: every instance
 * runs on the daemon's one loop. */
#include <stddef.h>

#include "la.h"

static struct {
	struct aw_la_slot *head, *tail;
	unsigned inflight;
	uint64_t starts[AW_LA_MAX_PER_WINDOW]; /* ring of grant times (ms, monotonic) */
	size_t first, n;
} lim;

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

static void forget_old(uint64_t now)
{
	while (lim.n && lim.starts[lim.first] + AW_LA_WINDOW_MS <= now) {
		lim.first = (lim.first + 1) % AW_LA_MAX_PER_WINDOW;
		lim.n--;
	}
}

static void unlink_slot(struct aw_la_slot *s)
{
	struct aw_la_slot **pp = &lim.head, *prev = NULL;

	while (*pp && *pp != s) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = s->next;
	if (lim.tail == s)
		lim.tail = prev;
	s->next = NULL;
	s->queued = false;
}

static void pump_cb(uv_timer_t *t)
{
	(void)t;
	aw_la_limit_pump();
}

void aw_la_limit_pump(void)
{
	while (lim.head && lim.inflight < AW_LA_MAX_CONCURRENT) {
		struct aw_la_slot *s = lim.head;
		uint64_t now = now_ms();

		forget_old(now);
		if (lim.n == AW_LA_MAX_PER_WINDOW) {
			uint64_t wait = lim.starts[lim.first] + AW_LA_WINDOW_MS - now;
			if (s->timer && !uv_is_closing((uv_handle_t *)s->timer))
				uv_timer_start(s->timer, pump_cb, wait + 1, 0);
			return;
		}
		unlink_slot(s);
		s->held = true;
		lim.inflight++;
		lim.starts[(lim.first + lim.n) % AW_LA_MAX_PER_WINDOW] = now;
		lim.n++;
		s->grant(s);
	}
}

void aw_la_limit_request(struct aw_la_slot *s)
{
	if (s->queued || s->held)
		return;
	s->next = NULL;
	s->queued = true;
	if (lim.tail)
		lim.tail->next = s;
	else
		lim.head = s;
	lim.tail = s;
	aw_la_limit_pump();
}

void aw_la_limit_release(struct aw_la_slot *s)
{
	if (!s->held)
		return;
	s->held = false;
	if (lim.inflight)
		lim.inflight--;
	aw_la_limit_pump();
}

void aw_la_limit_cancel(struct aw_la_slot *s)
{
	if (s->queued) {
		unlink_slot(s);
		/* It may have been the head waiting on its timer: the next one takes over. */
		aw_la_limit_pump();
	}
	aw_la_limit_release(s);
}
