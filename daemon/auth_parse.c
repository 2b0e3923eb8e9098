/* Token endpoint answers: the token and its times, and the reason when refused.
 *
 * The three token services disagree on types: Entra v2 sends expires_in as a JSON
 * number, IMDS and App Service 2019 send every number as a string, and App Service
 * 2017 sends expires_on as a date whose shape depends on the host OS. All of them are
 * accepted here; anything else is refused with a message that never quotes the token. */
#include <ctype.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"

/* A token answer is a few KiB; an error page a little more. */
#define AW_TOKEN_ANSWER_MAX ((size_t)1 << 20)
#define AW_TOKEN_JSON_DEPTH 16
/* Ten years: no token lives longer, and it keeps the arithmetic far from overflow. */
#define AW_TOKEN_MAX_SECONDS ((int64_t)10 * 366 * 86400)
/* Epoch bounds for expires_on: 2000-01-01 .. 2200-01-01. */
#define AW_EPOCH_MIN ((int64_t)946684800)
#define AW_EPOCH_MAX ((int64_t)7258118400)

static json_object *parse_object(const char *body, size_t len, struct aw_error *err)
{
	struct json_tokener *tok;
	json_object *o = NULL;
	size_t end;

	if (len > AW_TOKEN_ANSWER_MAX) {
		aw_error_set(err, "answer is larger than %zu KiB", AW_TOKEN_ANSWER_MAX >> 10);
		return NULL;
	}
	tok = json_tokener_new_ex(AW_TOKEN_JSON_DEPTH);
	if (!tok) {
		aw_error_set(err, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (!o) {
		enum json_tokener_error e = json_tokener_get_error(tok);
		aw_error_set(err, "answer is not valid JSON (%s)",
			     e == json_tokener_continue ? "cut short" : json_tokener_error_desc(e));
		goto out;
	}
	end = json_tokener_get_parse_end(tok);
	while (end < len && isspace((unsigned char)body[end]))
		end++;
	if (end < len) {
		aw_error_set(err, "answer has data after the JSON document");
		goto fail;
	}
	if (!json_object_is_type(o, json_type_object)) {
		aw_error_set(err, "answer is not a JSON object");
		goto fail;
	}
	goto out;
fail:
	json_object_put(o);
	o = NULL;
out:
	json_tokener_free(tok);
	return o;
}

/* A whole number of seconds from a JSON number or a numeric string ("3599", " 3599 ",
 * "3599.0"). Fractions are dropped. 0 or -1. */
static int seconds_value(json_object *v, int64_t lo, int64_t hi, int64_t *out)
{
	double d;

	switch (json_object_get_type(v)) {
	case json_type_int:
		/* json-c saturates huge integers; the bounds check catches those too */
		if (json_object_get_int64(v) < lo || json_object_get_int64(v) > hi)
			return -1;
		*out = json_object_get_int64(v);
		return 0;
	case json_type_double:
		d = json_object_get_double(v);
		break;
	case json_type_string: {
		const char *s = json_object_get_string(v);
		size_t n = (size_t)json_object_get_string_len(v), i = 0, digits = 0;
		int64_t val = 0;

		while (i < n && s[i] == ' ')
			i++;
		for (; i < n && isdigit((unsigned char)s[i]); i++, digits++) {
			if (val > hi)
				return -1;
			val = val * 10 + (s[i] - '0');
		}
		if (!digits)
			return -1;
		if (i < n && s[i] == '.') {
			i++;
			while (i < n && isdigit((unsigned char)s[i]))
				i++;
		}
		while (i < n && s[i] == ' ')
			i++;
		if (i != n || val < lo || val > hi)
			return -1;
		*out = val;
		return 0;
	}
	default:
		return -1;
	}
	if (!isfinite(d) || d < (double)lo || d > (double)hi)
		return -1;
	*out = (int64_t)d;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Up to maxd digits at *p; advances p. -1 when there are none. */
static long take_num(const char **p, int maxd)
{
	long v = 0;
	int n = 0;

	while (n < maxd && isdigit((unsigned char)**p)) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n ? v : -1;
}

static bool take_char(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

int aw_token_parse_legacy_date(const char *s, int64_t *out)
{
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = s;
	long mon, day, year, hh, mm, ss, oh = 0, om = 0;
	int sign = 1;
	bool leap;

	mon = take_num(&p, 2);
	if (mon < 1 || mon > 12 || !take_char(&p, '/'))
		return -1;
	day = take_num(&p, 2);
	if (day < 1 || !take_char(&p, '/'))
		return -1;
	year = take_num(&p, 4);
	if (year < 1970 || year > 9999 || !take_char(&p, ' '))
		return -1;
	leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if ((unsigned long)day > mdays[mon - 1] || (mon == 2 && day == 29 && !leap))
		return -1;
	hh = take_num(&p, 2);
	if (hh < 0 || !take_char(&p, ':'))
		return -1;
	mm = take_num(&p, 2);
	if (mm < 0 || mm > 59 || !take_char(&p, ':'))
		return -1;
	ss = take_num(&p, 2);
	if (ss < 0 || ss > 60)
		return -1;
	/* Windows hosts: "5:24:12 AM" (12-hour clock) */
	if (p[0] == ' ' && (p[1] == 'A' || p[1] == 'P') && p[2] == 'M') {
		if (hh < 1 || hh > 12)
			return -1;
		if (p[1] == 'A')
			hh = hh == 12 ? 0 : hh;
		else
			hh = hh == 12 ? 12 : hh + 12;
		p += 3;
	} else if (hh > 23) {
		return -1;
	}
	if (*p == ' ') {
		p++;
		if (*p == '+' || *p == '-') {
			sign = *p == '-' ? -1 : 1;
			p++;
			oh = take_num(&p, 2);
			if (oh < 0 || oh > 14 || !take_char(&p, ':'))
				return -1;
			om = take_num(&p, 2);
			if (om < 0 || om > 59)
				return -1;
		} else {
			return -1;
		}
	}
	if (*p)
		return -1;
	*out = days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 + hh * 3600 + mm * 60 +
	       ss - sign * (oh * 3600 + om * 60);
	return 0;
}

/* expires_on: epoch seconds (number or string) or the legacy date. */
static int expires_on_value(json_object *v, int64_t *out)
{
	if (seconds_value(v, AW_EPOCH_MIN, AW_EPOCH_MAX, out) == 0)
		return 0;
	if (json_object_is_type(v, json_type_string) &&
	    aw_token_parse_legacy_date(json_object_get_string(v), out) == 0)
		return 0;
	return -1;
}

/* The token goes into an Authorization header as it is: printable ASCII only, so a
 * hostile answer cannot smuggle a header line. */
static bool token_ok(const char *s, size_t n)
{
	if (n == 0 || n > AW_TOKEN_MAX_BYTES || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

int aw_token_answer_parse(const char *body, size_t len, int64_t now,
			  struct aw_token_answer *out, struct aw_error *err)
{
	json_object *o, *v;
	int64_t secs, expires_on = 0, refresh_in;
	int rc = -1;

	*out = (struct aw_token_answer){0};
	o = parse_object(body, len, err);
	if (!o)
		return -1;
	if (!json_object_object_get_ex(o, "access_token", &v)) {
		aw_error_set(err, "answer has no access_token");
		goto out;
	}
	if (!json_object_is_type(v, json_type_string) ||
	    !token_ok(json_object_get_string(v), (size_t)json_object_get_string_len(v))) {
		aw_error_set(err, "access_token is not a non-empty string of printable characters "
				  "(at most %zu bytes)",
			     AW_TOKEN_MAX_BYTES);
		goto out;
	}
	/* expires_in is relative to the server's answer, so it is immune to a skewed local
	 * clock: it wins over expires_on when both are there. */
	if (json_object_object_get_ex(o, "expires_in", &v)) {
		if (seconds_value(v, 0, AW_TOKEN_MAX_SECONDS, &secs) < 0) {
			aw_error_set(err, "expires_in is not a number of seconds");
			goto out;
		}
		expires_on = now + secs;
	} else if (json_object_object_get_ex(o, "expires_on", &v)) {
		if (expires_on_value(v, &expires_on) < 0) {
			aw_error_set(err, "expires_on is neither epoch seconds nor a date like "
					  "\"06/19/2019 23:42:01 +00:00\"");
			goto out;
		}
	} else {
		aw_error_set(err, "answer has neither expires_in nor expires_on");
		goto out;
	}
	if (expires_on <= now) {
		aw_error_set(err, "token is already expired (%lld s ago)",
			     (long long)(now - expires_on));
		goto out;
	}
	if (expires_on - now > AW_TOKEN_MAX_SECONDS) {
		aw_error_set(err, "token lifetime of %lld s is implausible",
			     (long long)(expires_on - now));
		goto out;
	}
	if (json_object_object_get_ex(o, "refresh_in", &v) && !json_object_is_type(v, json_type_null)) {
		if (seconds_value(v, 0, AW_TOKEN_MAX_SECONDS, &refresh_in) < 0) {
			aw_error_set(err, "refresh_in is not a number of seconds");
			goto out;
		}
		out->refresh_on = now + refresh_in < expires_on ? now + refresh_in : expires_on;
	}
	out->token = strdup(json_object_get_string(json_object_object_get(o, "access_token")));
	if (!out->token) {
		aw_error_set(err, "out of memory");
		goto out;
	}
	out->expires_on = expires_on;
	rc = 0;
out:
	if (rc < 0)
		out->refresh_on = 0;
	json_object_put(o);
	return rc;
}

/* First line of s, at most sz - 1 bytes, control characters dropped. */
static void first_line(char *dst, size_t sz, const char *s)
{
	size_t n = 0;

	for (; *s && *s != '\r' && *s != '\n' && n + 1 < sz; s++)
		if ((unsigned char)*s >= 0x20 && *s != 0x7f)
			dst[n++] = *s;
	dst[n] = '\0';
}

static const char *str_member(json_object *o, const char *key)
{
	json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

int aw_token_error_describe(const char *body, size_t len, char *buf, size_t sz)
{
	json_object *o, *v;
	const char *code = NULL, *desc = NULL;
	char line[512], cbuf[100];
	int rc = -1;

	if (sz)
		buf[0] = '\0';
	o = parse_object(body, len, NULL);
	if (!o)
		return -1;
	if (json_object_object_get_ex(o, "error", &v) && json_object_is_type(v, json_type_object)) {
		code = str_member(v, "code");       /* OneAPI */
		desc = str_member(v, "message");
	} else {
		code = str_member(o, "error");      /* OAuth2 (Entra, IMDS) */
		desc = str_member(o, "error_description");
		if (!desc)
			desc = str_member(o, "message"); /* App Service */
	}
	if (!code && !desc)
		goto out;
	first_line(line, sizeof line, desc ? desc : "");
	first_line(cbuf, sizeof cbuf, code ? code : "");
	if (*cbuf && *line)
		snprintf(buf, sz, "%s: %s", cbuf, line);
	else
		snprintf(buf, sz, "%s", *cbuf ? cbuf : line);
	rc = 0;
out:
	json_object_put(o);
	return rc;
}
