/* Paged reads from Azure Resource Manager and Azure Resource Graph, for the inputs that
 * list ARM collections (in_defender now, a posture input later).
 *
 * A listing is either GET url and then every nextLink exactly as returned (contract
 * §4.0), or a Resource Graph POST sent again with each $skipToken until none is left
 * (§4.4; resultTruncated is not the continuation signal). One request is in flight per
 * pager, through aw_http_call (bearer token per attempt, Retry-After, backoff). Pages
 * reach the owner one at a time. A listing also ends, without looping, when a link or
 * token comes back that was already followed, after max_empty_pages empty pages in a
 * row that still carry a continuation, or at max_pages (pitfalls §8.11-12). A nextLink
 * to another scheme or host than the listing started on is not followed (the bearer
 * token goes with every request): the listing fails.
 *
 * Throttling (§4.0, §4.4, §8.13): a x-ms-ratelimit-remaining-* header below
 * min_remaining_reads delays the next request by AW_ARM_QUOTA_PAUSE_MS; a Resource
 * Graph x-ms-user-quota-remaining of 0 delays it until x-ms-user-quota-resets-after; a
 * 429 that outlasts aw_http_call's own retries is waited out here (Retry-After or
 * resets-after, up to AW_ARM_MAX_THROTTLE_WAIT_MS), at most max_throttled times per
 * listing. Loop thread only. */
#ifndef AW_ARM_PAGER_H
#define AW_ARM_PAGER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../daemon/error.h"
#include "../daemon/http.h"

#define AW_ARM_QUOTA_PAUSE_MS	    1000u /* ARM refills 25 reads/s: a second restores 25 */
#define AW_ARM_MAX_THROTTLE_WAIT_MS (15u * 60u * 1000u)

enum aw_arm_end {
	AW_ARM_END_COMPLETE,  /* no continuation left: everything was read */
	AW_ARM_END_REPEATED,  /* a nextLink / $skipToken already followed came back */
	AW_ARM_END_EMPTY_RUN, /* max_empty_pages empty pages in a row with a continuation */
	AW_ARM_END_PAGE_CAP,  /* max_pages read and a continuation still offered */
	AW_ARM_END_TRUNCATED, /* Resource Graph said resultTruncated without a $skipToken */
	AW_ARM_END_FAILED,    /* HTTP error or a body that is not a page; why says which */
	AW_ARM_END_CANCELLED, /* aw_arm_pager_cancel */
};
/* "complete", "repeated_link", "empty_pages", "page_cap", "truncated", "failed",
 * "cancelled": for log lines and metric labels. */
const char *aw_arm_end_name(enum aw_arm_end e);

enum aw_arm_throttle {
	AW_ARM_THR_RETRIED, /* attempts aw_http_call repeated (429, 5xx, transport) */
	AW_ARM_THR_429,	    /* a call ended in 429: the pager waited and asked again */
	AW_ARM_THR_QUOTA,   /* a remaining-requests header was low: the pager paused */
};
const char *aw_arm_throttle_name(enum aw_arm_throttle t);

struct aw_arm_pager_conf {
	uv_loop_t *loop;
	struct aw_http *http;
	const struct aw_http_bearer *bearer; /* borrowed; outlives the pager */
	const char *component;		     /* copied; for log lines ("in_defender/x") */
	unsigned max_pages;		     /* per listing; 0 = 1000 */
	unsigned max_empty_pages;	     /* 0 = 3 */
	size_t max_page_bytes;		     /* response ceiling; 0 = the client's */
	long timeout_ms;		     /* per request; 0 = the client's */
	long long min_remaining_reads;	     /* 0: never pause on the ARM headers */
	unsigned max_throttled;		     /* 0 = 5 */
};

struct aw_arm_pager_ops {
	/* One page: its items (the `value` or `data` array), borrowed for the call. The
	 * owner may call aw_arm_pager_pause or _cancel from here. */
	void (*page)(void *ud, json_object *items);
	/* The listing ended. why: "" unless FAILED (method, URL without query, status,
	 * Azure error code and message, x-ms-request-id). A new listing may start from
	 * here. */
	void (*done)(void *ud, enum aw_arm_end end, const char *why);
	/* Throttling seen, n times (optional). */
	void (*throttled)(void *ud, enum aw_arm_throttle kind, unsigned n);
};

struct aw_arm_pager;

int aw_arm_pager_new(const struct aw_arm_pager_conf *conf, const struct aw_arm_pager_ops *ops,
		     void *ud, struct aw_arm_pager **out, struct aw_error *err);

/* Start a GET listing at url (copied). -1 when a listing is already running. */
int aw_arm_pager_get(struct aw_arm_pager *pg, const char *url, struct aw_error *err);
/* Start a Resource Graph listing: POST url with `request` ({"query", "subscriptions",
 * "options"}; the pager takes it over and sets options.$skipToken per page). */
int aw_arm_pager_query(struct aw_arm_pager *pg, const char *url, json_object *request,
		       struct aw_error *err);
bool aw_arm_pager_busy(const struct aw_arm_pager *pg);

/* Back-pressure: no new request until resume (the one in flight still completes). */
void aw_arm_pager_pause(struct aw_arm_pager *pg);
void aw_arm_pager_resume(struct aw_arm_pager *pg);
/* End the running listing with AW_ARM_END_CANCELLED: at once when nothing is in flight
 * (done() runs before this returns), else when the cancelled request comes back. */
void aw_arm_pager_cancel(struct aw_arm_pager *pg);

/* Cancel, close the timer, free; closed(ud) runs once nothing is outstanding. No other
 * callback runs after this call. */
void aw_arm_pager_close(struct aw_arm_pager *pg, void (*closed)(void *ud), void *ud);

#endif
