/* The token cache of one credential: one entry per scope.
 *
 * An entry holds at most one token and at most one request in flight. Callers that
 * find no usable token queue behind that request (single flight: a burst of callers at
 * startup costs one token request, which is what keeps IMDS from answering 429).
 * A token is refreshed ahead of its expiry, lazily: the first caller past the refresh
 * time starts the request and is served the old, still valid token at once, as is
 * everyone until the answer comes. If that early refresh fails the old token stays in
 * use and the next try waits AW_TOKEN_EAGER_RETRY_MS. Times are kept on the monotonic
 * clock, converted from the answer's epoch seconds when it arrives, so a wall-clock
 * step cannot expire every token at once.
 *
 * Callbacks are made last, from copies: a caller's callback may re-enter the cache
 * (ask again, invalidate, even close the credential) without pulling anything from
 * under the loop that answers the others. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth_int.h"
#include "log.h"

#define AW_TOKEN_SCOPE_MAX 512
#define AW_TOKEN_DEFAULT_REFRESH_BEFORE_MS ((uint64_t)5 * 60 * 1000)
#define AW_TOKEN_HALF_LIFE_FROM_MS ((int64_t)2 * 3600 * 1000)

struct aw_token_waiter {
	aw_token_cb cb;
	void *cbud;
	struct aw_token_waiter *next;
};

struct aw_token_entry {
	struct aw_token_cache *tc;
	char *scope;
	char *token;              /* NULL when none is cached */
	int64_t refresh_ms;       /* monotonic: refresh from here on */
	int64_t usable_ms;        /* monotonic: not handed out from here on */
	int64_t eager_after_ms;   /* no early refresh before this (one just failed) */
	int64_t failed_ms;        /* last failure without a usable token, -1 when none */
	struct aw_error last_err; /* that failure */
	bool fetching;
	void *handle;             /* the source's request while fetching */
	struct aw_token_waiter *wait_head, *wait_tail;
	size_t nwait;
	unsigned fail_streak;
	struct aw_http_bearer bearer;
	struct aw_token_entry *next;
};

struct aw_token_cache {
	char *name, *kind;
	uint64_t refresh_before_ms;
	struct aw_token_source source;
	struct aw_token_clock clock;
	struct aw_token_entry *entries;
	size_t nentries;
	bool closed;
	struct aw_metric *m_refreshes, *m_failures;
};

static int64_t real_mono_ms(void *ud)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_wall_s(void *ud)
{
	return (int64_t)time(NULL);
}

static const struct aw_token_clock aw_real_clock = {real_mono_ms, real_wall_s, NULL};

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

int aw_token_cache_new(const struct aw_token_cache_conf *conf, struct aw_token_cache **out,
		       struct aw_error *err)
{
	struct aw_token_cache *tc = calloc(1, sizeof *tc);

	*out = NULL;
	if (!tc || !(tc->name = strdup(conf->name)) ||
	    !(tc->kind = strdup(conf->kind ? conf->kind : ""))) {
		aw_token_cache_free(tc);
		return aw_error_set(err, "credential '%s': out of memory", conf->name);
	}
	tc->refresh_before_ms =
	    conf->refresh_before_ms ? conf->refresh_before_ms : AW_TOKEN_DEFAULT_REFRESH_BEFORE_MS;
	tc->source = conf->source;
	tc->clock = conf->clock ? *conf->clock : aw_real_clock;
	if (conf->metrics) {
		tc->m_refreshes = aw_metric_get(conf->metrics, AW_METRIC_COUNTER,
						"aiwatch_token_refreshes_total",
						"tokens obtained from a token endpoint",
						"credential", conf->name, NULL);
		tc->m_failures = aw_metric_get(conf->metrics, AW_METRIC_COUNTER,
					       "aiwatch_token_failures_total",
					       "token requests that failed", "credential",
					       conf->name, NULL);
	}
	*out = tc;
	return 0;
}

/* Answer a detached list of waiters and free it. Nothing of the cache is touched. */
static void answer_all(struct aw_token_waiter *w, const char *token, const struct aw_error *err)
{
	while (w) {
		struct aw_token_waiter *next = w->next;
		aw_token_cb cb = w->cb;
		void *cbud = w->cbud;

		free(w);
		cb(cbud, token, err);
		w = next;
	}
}

static struct aw_token_waiter *detach_waiters(struct aw_token_entry *e)
{
	struct aw_token_waiter *w = e->wait_head;

	e->wait_head = e->wait_tail = NULL;
	e->nwait = 0;
	return w;
}

void aw_token_cache_close(struct aw_token_cache *tc)
{
	struct aw_token_waiter *all = NULL, **tail = &all;
	struct aw_error err;

	if (!tc || tc->closed)
		return;
	tc->closed = true;
	for (struct aw_token_entry *e = tc->entries; e; e = e->next) {
		if (e->fetching && tc->source.abandon)
			tc->source.abandon(tc->source.ud, e->handle);
		e->fetching = false;
		e->handle = NULL;
		*tail = detach_waiters(e);
		while (*tail)
			tail = &(*tail)->next;
	}
	aw_error_set(&err, "credential '%s' is shutting down", tc->name);
	answer_all(all, NULL, &err);
}

void aw_token_cache_free(struct aw_token_cache *tc)
{
	struct aw_token_entry *e, *next;

	if (!tc)
		return;
	aw_token_cache_close(tc);
	for (e = tc->entries; e; e = next) {
		next = e->next;
		wipe_free(e->token);
		free(e->scope);
		free(e);
	}
	free(tc->name);
	free(tc->kind);
	free(tc);
}

static bool scope_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
			return false;
	return n > 0 && n <= AW_TOKEN_SCOPE_MAX;
}

static int bearer_get(void *ud, aw_token_cb cb, void *cbud);
static void bearer_invalidate(void *ud, const char *token);

static struct aw_token_entry *entry_find(struct aw_token_cache *tc, const char *scope)
{
	for (struct aw_token_entry *e = tc->entries; e; e = e->next)
		if (strcmp(e->scope, scope) == 0)
			return e;
	return NULL;
}

static struct aw_token_entry *entry_get(struct aw_token_cache *tc, const char *scope,
					struct aw_error *err)
{
	struct aw_token_entry *e = entry_find(tc, scope);

	if (e)
		return e;
	if (!scope_ok(scope)) {
		aw_error_set(err, "credential '%s': invalid scope (empty, too long or not "
				  "printable)",
			     tc->name);
		return NULL;
	}
	if (tc->nentries >= AW_TOKEN_MAX_SCOPES) {
		aw_error_set(err, "credential '%s': more than %d scopes", tc->name,
			     AW_TOKEN_MAX_SCOPES);
		return NULL;
	}
	e = calloc(1, sizeof *e);
	if (!e || !(e->scope = strdup(scope))) {
		free(e);
		aw_error_set(err, "credential '%s': out of memory", tc->name);
		return NULL;
	}
	e->tc = tc;
	e->failed_ms = -1;
	e->bearer = (struct aw_http_bearer){.get = bearer_get, .invalidate = bearer_invalidate,
					    .ud = e};
	e->next = tc->entries;
	tc->entries = e;
	tc->nentries++;
	return e;
}

static void drop_token(struct aw_token_entry *e)
{
	wipe_free(e->token);
	e->token = NULL;
	e->eager_after_ms = 0;
}

/* Schedule from an answer: see auth.h for the rule. */
static void set_times(struct aw_token_entry *e, const struct aw_token_answer *ans)
{
	struct aw_token_cache *tc = e->tc;
	int64_t now = tc->clock.mono_ms(tc->clock.ud), wall = tc->clock.wall_s(tc->clock.ud);
	int64_t life = (ans->expires_on - wall) * 1000, margin, skew, refresh;

	if (life < 1000)
		life = 1000;
	skew = life / 10 < AW_TOKEN_EXPIRY_SKEW_MS ? life / 10 : AW_TOKEN_EXPIRY_SKEW_MS;
	/* a short-lived token (tests, odd tenants) is refreshed at half-life, not
	 * continuously */
	margin = (int64_t)tc->refresh_before_ms < life / 2 ? (int64_t)tc->refresh_before_ms
							   : life / 2;
	refresh = now + life - margin;
	if (life >= AW_TOKEN_HALF_LIFE_FROM_MS && now + life / 2 < refresh)
		refresh = now + life / 2;
	if (ans->refresh_on > 0) {
		int64_t r = now + (ans->refresh_on - wall) * 1000;
		if (r < now)
			r = now;
		if (r < refresh)
			refresh = r;
	}
	e->refresh_ms = refresh;
	e->usable_ms = now + life - skew;
	e->eager_after_ms = 0;
}

static void on_fetched(void *cbud, struct aw_token_answer *ans, const struct aw_error *err)
{
	struct aw_token_entry *e = cbud;
	struct aw_token_cache *tc = e->tc;
	struct aw_token_waiter *w;
	int64_t now = tc->clock.mono_ms(tc->clock.ud);
	struct aw_error failure;
	char *copy = NULL;

	e->fetching = false;
	e->handle = NULL;
	if (err) {
		bool kept = e->token && now < e->usable_ms;

		failure = *err;
		aw_metric_inc(tc->m_failures);
		if (e->fail_streak++ == 0) {
			if (kept)
				aw_log(AW_LOG_WARN, "auth",
				       "token refresh failed; the current token is used until it "
				       "expires",
				       AW_S("credential", tc->name), AW_S("kind", tc->kind),
				       AW_S("scope", e->scope), AW_S("error", err->msg),
				       AW_I("expires_in_s", (e->usable_ms - now) / 1000));
			else
				aw_log(AW_LOG_ERR, "auth", "token request failed",
				       AW_S("credential", tc->name), AW_S("kind", tc->kind),
				       AW_S("scope", e->scope), AW_S("error", err->msg));
		}
		if (kept) {
			e->eager_after_ms = now + AW_TOKEN_EAGER_RETRY_MS;
		} else {
			e->failed_ms = now;
			e->last_err = *err;
		}
		w = detach_waiters(e);
		answer_all(w, NULL, &failure);
		return;
	}
	aw_metric_inc(tc->m_refreshes);
	if (e->fail_streak)
		aw_log(AW_LOG_NOTICE, "auth", "token request works again",
		       AW_S("credential", tc->name), AW_S("scope", e->scope),
		       AW_U("failures", e->fail_streak));
	e->fail_streak = 0;
	e->failed_ms = -1;
	wipe_free(e->token);
	e->token = ans->token;
	ans->token = NULL;
	set_times(e, ans);
	aw_log(AW_LOG_DEBUG, "auth", "token obtained", AW_S("credential", tc->name),
	       AW_S("scope", e->scope), AW_I("expires_in_s", ans->expires_on - tc->clock.wall_s(tc->clock.ud)));
	w = detach_waiters(e);
	if (!w)
		return;
	copy = strdup(e->token);
	if (!copy) {
		aw_error_set(&failure, "credential '%s': out of memory", tc->name);
		answer_all(w, NULL, &failure);
		return;
	}
	answer_all(w, copy, NULL);
	wipe_free(copy);
}

/* Start the entry's request. 0, or -1 with err (counted and logged like a failed
 * answer, without waiters being touched). */
static int start_fetch(struct aw_token_entry *e, struct aw_error *err)
{
	struct aw_token_cache *tc = e->tc;

	e->fetching = true;
	if (tc->source.fetch(tc->source.ud, e->scope, on_fetched, e, &e->handle, err) == 0)
		return 0;
	e->fetching = false;
	e->handle = NULL;
	aw_metric_inc(tc->m_failures);
	if (e->fail_streak++ == 0)
		aw_log(AW_LOG_ERR, "auth", "token request failed", AW_S("credential", tc->name),
		       AW_S("kind", tc->kind), AW_S("scope", e->scope), AW_S("error", err->msg));
	return -1;
}

static int entry_get_token(struct aw_token_entry *e, aw_token_cb cb, void *cbud)
{
	struct aw_token_cache *tc = e->tc;
	int64_t now = tc->clock.mono_ms(tc->clock.ud);
	struct aw_token_waiter *w;
	struct aw_error err;

	if (e->token && now < e->usable_ms) {
		if (now >= e->refresh_ms && !e->fetching && now >= e->eager_after_ms &&
		    start_fetch(e, &err) < 0)
			e->eager_after_ms = now + AW_TOKEN_EAGER_RETRY_MS;
		cb(cbud, e->token, NULL);
		return 0;
	}
	if (e->token)
		drop_token(e);
	if (!e->fetching && e->failed_ms >= 0 && now - e->failed_ms < AW_TOKEN_FAIL_HOLD_MS) {
		err = e->last_err;
		cb(cbud, NULL, &err);
		return 0;
	}
	if (e->nwait >= AW_TOKEN_MAX_WAITERS) {
		aw_error_set(&err, "credential '%s': %d callers already wait for a token",
			     tc->name, AW_TOKEN_MAX_WAITERS);
		cb(cbud, NULL, &err);
		return 0;
	}
	w = malloc(sizeof *w);
	if (!w) {
		aw_error_set(&err, "credential '%s': out of memory", tc->name);
		cb(cbud, NULL, &err);
		return 0;
	}
	*w = (struct aw_token_waiter){.cb = cb, .cbud = cbud};
	if (e->wait_tail)
		e->wait_tail->next = w;
	else
		e->wait_head = w;
	e->wait_tail = w;
	e->nwait++;
	if (!e->fetching && start_fetch(e, &err) < 0) {
		e->failed_ms = now;
		e->last_err = err;
		answer_all(detach_waiters(e), NULL, &err);
	}
	return 0;
}

int aw_token_cache_get(struct aw_token_cache *tc, const char *scope, aw_token_cb cb,
		       void *cbud)
{
	struct aw_token_entry *e;
	struct aw_error err;

	if (!cb)
		return -1;
	if (tc->closed) {
		aw_error_set(&err, "credential '%s' is shutting down", tc->name);
		cb(cbud, NULL, &err);
		return 0;
	}
	e = scope ? entry_get(tc, scope, &err) : NULL;
	if (!e) {
		if (!scope)
			aw_error_set(&err, "credential '%s': no scope given", tc->name);
		cb(cbud, NULL, &err);
		return 0;
	}
	return entry_get_token(e, cb, cbud);
}

void aw_token_cache_invalidate(struct aw_token_cache *tc, const char *scope, const char *token)
{
	struct aw_token_entry *e = scope ? entry_find(tc, scope) : NULL;

	if (e && e->token && token && strcmp(e->token, token) == 0)
		drop_token(e);
}

static int bearer_get(void *ud, aw_token_cb cb, void *cbud)
{
	struct aw_token_entry *e = ud;
	struct aw_error err;

	if (!cb)
		return -1;
	if (e->tc->closed) {
		aw_error_set(&err, "credential '%s' is shutting down", e->tc->name);
		cb(cbud, NULL, &err);
		return 0;
	}
	return entry_get_token(e, cb, cbud);
}

static void bearer_invalidate(void *ud, const char *token)
{
	struct aw_token_entry *e = ud;

	if (e->token && token && strcmp(e->token, token) == 0)
		drop_token(e);
}

const struct aw_http_bearer *aw_token_cache_bearer(struct aw_token_cache *tc, const char *scope)
{
	struct aw_token_entry *e = scope ? entry_get(tc, scope, NULL) : NULL;

	return e ? &e->bearer : NULL;
}

int aw_token_cache_times(struct aw_token_cache *tc, const char *scope, int64_t *refresh_ms,
			 int64_t *expires_ms)
{
	struct aw_token_entry *e = entry_find(tc, scope);

	if (!e || !e->token)
		return -1;
	*refresh_ms = e->refresh_ms;
	*expires_ms = e->usable_ms;
	return 0;
}
