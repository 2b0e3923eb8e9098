/* The retry policy every Azure caller shares (aw_http_call), and its parts: response
 * classes, full-jitter backoff and Retry-After.
 *
 * A call is a request that runs attempts until one succeeds or may not be retried.
 * Each attempt takes a fresh token from the bearer source (so a refreshed token is
 * always the one sent), then transfers. 401 drops that token and tries once more at
 * once; 408, 429, 5xx and transport errors wait (never less than the server's
 * Retry-After) up to max_attempts; a Retry-After beyond max_retry_after_ms ends the
 * call, since the caller can plan better than a timer held for that long. */
#include "http_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define AW_HTTP_DEFAULT_ATTEMPTS	6u
#define AW_HTTP_DEFAULT_INITIAL_MS	500u
#define AW_HTTP_DEFAULT_CAP_MS		60000u
#define AW_HTTP_DEFAULT_MAX_RETRY_AFTER ((uint64_t)15 * 60 * 1000)

/* --- classes, backoff, Retry-After ------------------------------------------------ */

enum aw_http_class aw_http_classify(const struct aw_http_response *r)
{
	if (!r || r->cancelled)
		return AW_HTTP_FAIL;
	if (r->transport_error) {
		switch (r->transport_error) {
		/* Our body ceiling, or a request curl cannot make: repeating it changes
		 * nothing. */
		case CURLE_FILESIZE_EXCEEDED:
		case CURLE_URL_MALFORMAT:
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_NOT_BUILT_IN:
		case CURLE_BAD_FUNCTION_ARGUMENT:
			return AW_HTTP_FAIL;
		default:
			return AW_HTTP_RETRY;
		}
	}
	if (r->status == 0) /* no exchange: no token, or a local failure */
		return AW_HTTP_RETRY;
	if (r->status >= 200 && r->status < 300)
		return AW_HTTP_SUCCESS;
	if (r->status == 401)
		return AW_HTTP_AUTH;
	if (r->status == 408 || r->status == 429 || (r->status >= 500 && r->status < 600))
		return AW_HTTP_RETRY;
	return AW_HTTP_FAIL;
}

uint64_t aw_http_backoff_ms(unsigned attempt, uint64_t initial_ms, uint64_t cap_ms,
			    int64_t retry_after_ms)
{
	uint64_t ceil = initial_ms, d = 0, rnd;

	for (unsigned i = 1; i < attempt && ceil < cap_ms; i++)
		ceil = ceil > UINT64_MAX / 2 ? UINT64_MAX : ceil * 2;
	if (ceil > cap_ms)
		ceil = cap_ms;
	if (ceil) {
		aw_http_random(&rnd, sizeof rnd);
		d = ceil == UINT64_MAX ? rnd : rnd % (ceil + 1);
	}
	if (retry_after_ms >= 0 && d < (uint64_t)retry_after_ms)
		d = (uint64_t)retry_after_ms;
	return d;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's method). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

struct aw_cursor {
	const char *p, *end;
};

static bool lit(struct aw_cursor *c, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool digits(struct aw_cursor *c, int n, int *out)
{
	int v = 0;

	if (c->end - c->p < n)
		return false;
	for (int i = 0; i < n; i++) {
		if (c->p[i] < '0' || c->p[i] > '9')
			return false;
		v = v * 10 + (c->p[i] - '0');
	}
	c->p += n;
	*out = v;
	return true;
}

static bool one_of(struct aw_cursor *c, const char *const *names, int count, int *idx)
{
	for (int i = 0; i < count; i++)
		if (lit(c, names[i])) {
			*idx = i;
			return true;
		}
	return false;
}

static const char *const aw_months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const aw_days[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const aw_days_long[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
					    "Friday", "Saturday", "Sunday"};

static bool hms(struct aw_cursor *c, int *h, int *mi, int *s)
{
	return digits(c, 2, h) && lit(c, ":") && digits(c, 2, mi) && lit(c, ":") &&
	       digits(c, 2, s) && *h < 24 && *mi < 60 && *s <= 60;
}

/* The three forms RFC 9110 §5.6.7 asks recipients to accept: IMF-fixdate
 * "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and
 * asctime "Sun Nov  6 08:49:37 1994". The weekday is checked for form only. */
static int parse_http_date(const char *s, size_t n, int64_t *out)
{
	struct aw_cursor c = {s, s + n};
	int wd, d, mo, y, h, mi, sec;

	if (one_of(&c, aw_days_long, 7, &wd)) {
		if (!(lit(&c, ", ") && digits(&c, 2, &d) && lit(&c, "-") &&
		      one_of(&c, aw_months, 12, &mo) && lit(&c, "-") && digits(&c, 2, &y) &&
		      lit(&c, " ") && hms(&c, &h, &mi, &sec) && lit(&c, " GMT")))
			return -1;
		y += y < 70 ? 2000 : 1900;
	} else if (one_of(&c, aw_days, 7, &wd)) {
		if (lit(&c, ", ")) {
			if (!(digits(&c, 2, &d) && lit(&c, " ") && one_of(&c, aw_months, 12, &mo) &&
			      lit(&c, " ") && digits(&c, 4, &y) && lit(&c, " ") &&
			      hms(&c, &h, &mi, &sec) && lit(&c, " GMT")))
				return -1;
		} else {
			if (!(lit(&c, " ") && one_of(&c, aw_months, 12, &mo) && lit(&c, " ")))
				return -1;
			/* The day is " 6" or "16". */
			if (lit(&c, " ") ? !digits(&c, 1, &d) : !digits(&c, 2, &d))
				return -1;
			if (!(lit(&c, " ") && hms(&c, &h, &mi, &sec) && lit(&c, " ") &&
			      digits(&c, 4, &y)))
				return -1;
		}
	} else {
		return -1;
	}
	if (c.p != c.end || d < 1 || d > days_in_month(y, mo + 1))
		return -1;
	*out = days_from_civil(y, mo + 1, d) * 86400 + h * 3600 + mi * 60 + (sec > 59 ? 59 : sec);
	return 0;
}

int aw_http_parse_retry_after(const char *value, int64_t now, int64_t *ms)
{
	const char *s = value, *e;
	int64_t t;

	if (!value)
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (e == s)
		return -1;
	if (*s >= '0' && *s <= '9') {
		int64_t secs = 0;

		for (const char *p = s; p < e; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			if (secs > (INT64_MAX / 1000 - (*p - '0')) / 10)
				return -1;
			secs = secs * 10 + (*p - '0');
		}
		*ms = secs * 1000;
		return 0;
	}
	if (parse_http_date(s, (size_t)(e - s), &t) < 0)
		return -1;
	*ms = t > now ? (t - now) * 1000 : 0;
	return 0;
}

/* --- the call ----------------------------------------------------------------------- */

static void fail_now(struct aw_http_req *r, const char *error)
{
	struct aw_http_response resp = {
	    .error = error,
	    .body = "",
	    .request_id = "",
	    .client_request_id = r->client_request_id,
	    .retry_after_ms = -1,
	    .attempts = r->attempts,
	};

	aw_http_log_failure(r, &resp, -1, NULL);
	aw_http_req_fail(r, error, false);
}

static void start_xfer(struct aw_http_req *r)
{
	struct aw_error err;

	if (aw_http_xfer_start(r, &err) < 0)
		fail_now(r, err.msg);
}

static void on_token(void *cbud, const char *token, const struct aw_error *err)
{
	struct aw_http_req *r = cbud;
	char msg[AW_ERROR_MAX + 32];

	if (!r->token_wait)
		return; /* answered twice: the contract says once; ignore the extra */
	r->token_wait = false;
	if (r->state != AW_HS_TOKEN) {
		/* Cancelled (or the client closed) while the token was on its way. */
		aw_http_req_release(r);
		return;
	}
	if (!token || !*token || strpbrk(token, "\r\n")) {
		snprintf(msg, sizeof msg, "no token: %s",
			 err && err->msg[0] ? err->msg
					    : (token && *token ? "the token is not a header value"
							       : "the token source gave none"));
		fail_now(r, msg);
		return;
	}
	if (r->token) {
		aw_http_wipe(r->token, strlen(r->token));
		free(r->token);
	}
	r->token = strdup(token);
	if (!r->token) {
		fail_now(r, "no token: out of memory");
		return;
	}
	start_xfer(r);
}

void aw_http_attempt(struct aw_http_req *r)
{
	int rc;

	r->attempts++;
	if (r->attempts > 1)
		aw_http_count_retry(r->h, r->host);
	if (!r->has_bearer) {
		start_xfer(r);
		return;
	}
	r->state = AW_HS_TOKEN;
	r->token_wait = true;
	/* The answer may come before get() returns and finish r; hold it till then. */
	r->hold++;
	rc = r->bearer.get(r->bearer.ud, on_token, r);
	r->hold--;
	if (rc < 0 && r->token_wait) {
		/* Refused without an answer (only when given no callback, per auth). */
		r->token_wait = false;
		if (r->state == AW_HS_TOKEN) {
			fail_now(r, "no token: the token source refused the request");
			return;
		}
	}
	aw_http_req_release(r);
}

void aw_http_attempt_done(struct aw_http_req *r, const struct aw_http_response *resp)
{
	struct aw_http *h = r->h;
	const struct aw_http_policy *p = &r->policy;
	enum aw_http_class cls = aw_http_classify(resp);
	bool more = r->is_call && r->attempts < p->max_attempts && h && !h->closing;

	if (more && cls == AW_HTTP_AUTH && r->has_bearer && !r->auth_retried) {
		aw_http_log_failure(r, resp, 0, "the token was refused; retrying with a new one");
		r->auth_retried = true;
		if (r->token && r->bearer.invalidate)
			r->bearer.invalidate(r->bearer.ud, r->token);
		aw_http_wait(h, r, 0);
		return;
	}
	if (more && cls == AW_HTTP_RETRY) {
		uint64_t delay;

		if (resp->retry_after_ms >= 0 &&
		    (uint64_t)resp->retry_after_ms > p->max_retry_after_ms) {
			aw_http_log_failure(r, resp, -1,
					    "Retry-After is longer than max_retry_after_ms");
			aw_http_req_finish(r, resp);
			return;
		}
		delay =
		    aw_http_backoff_ms(r->attempts, p->initial_ms, p->cap_ms, resp->retry_after_ms);
		/* The loop clock counts whole milliseconds: one more keeps the next attempt
		 * from landing a fraction before the server's time. */
		if (resp->retry_after_ms >= 0)
			delay++;
		aw_http_log_failure(r, resp, (int64_t)delay, NULL);
		aw_http_wait(h, r, delay);
		return;
	}
	if (aw_http_failed(resp)) {
		const char *why = NULL;

		if (r->is_call && cls == AW_HTTP_AUTH)
			why = r->auth_retried ? "the token was refused again"
					      : "the token was refused";
		else if (r->is_call && cls == AW_HTTP_RETRY)
			why = "no attempts left";
		aw_http_log_failure(r, resp, -1, why);
	}
	aw_http_req_finish(r, resp);
}

int aw_http_call(struct aw_http *h, const struct aw_http_request *req,
		 const struct aw_http_policy *policy, aw_http_done_fn done, void *ud,
		 struct aw_http_req **out, struct aw_error *err)
{
	struct aw_http_req *r;

	if (out)
		*out = NULL;
	if (aw_http_req_new(h, req, done, ud, &r, err) < 0)
		return -1;
	r->is_call = true;
	if (policy)
		r->policy = *policy;
	if (!r->policy.max_attempts)
		r->policy.max_attempts = AW_HTTP_DEFAULT_ATTEMPTS;
	if (!r->policy.initial_ms)
		r->policy.initial_ms = AW_HTTP_DEFAULT_INITIAL_MS;
	if (!r->policy.cap_ms)
		r->policy.cap_ms = AW_HTTP_DEFAULT_CAP_MS;
	if (!r->policy.max_retry_after_ms)
		r->policy.max_retry_after_ms = AW_HTTP_DEFAULT_MAX_RETRY_AFTER;
	if (policy && policy->bearer && policy->bearer->get) {
		r->bearer = *policy->bearer;
		r->has_bearer = true;
	}
	r->policy.bearer = NULL;
	/* The first attempt starts from the loop, so every outcome after this returns
	 * reaches done(), never the caller's stack. */
	aw_http_wait(h, r, 0);
	if (out)
		*out = r;
	return 0;
}
