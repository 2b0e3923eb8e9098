/* Option values as text: parse durations, sizes and booleans (the public
 * aw_parse_* functions), and format sizes, durations, ranges, choices and what the
 * user wrote, for messages and --help. Nothing here allocates. */
#include "options_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char DURATION_UNITS[] = "accepted units: ms, s, m, h, d, e.g. 250ms, 30s, 1h30m";
static const char SIZE_UNITS[] =
    "accepted: bytes, or B; KB, MB, GB, TB (1000^n); K, KiB, M, MiB, G, GiB, T, TiB "
    "(1024^n), e.g. 64KiB, 10MB";

/* --- scalar parsers ------------------------------------------------------------ */

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Digits at *s into *v; advances *s. -1 on no digits or overflow. */
static int take_uint(const char **s, uint64_t *v)
{
	const char *p = *s;

	*v = 0;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (*v > (UINT64_MAX - d) / 10)
			return -2;
		*v = *v * 10 + d;
	}
	*s = p;
	return 0;
}

int aw_parse_duration_ms(const char *s, uint64_t *out, struct aw_error *err)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
	const char *p = s;
	uint64_t total = 0;

	if (!s || !*s)
		return aw_error_set(err, "empty duration (%s)", DURATION_UNITS);
	/* A bare number is ambiguous (`timeout: 30`: seconds? ms?) except for 0. */
	if (all_digits(s)) {
		if (strspn(s, "0") == strlen(s)) {
			*out = 0;
			return 0;
		}
		return aw_error_set(err, "'%.40s' has no unit: write %.20ss or %.20sms (%s)", s, s,
				    s, DURATION_UNITS);
	}
	while (*p) {
		uint64_t v, mult = 0;
		size_t ulen = 0;
		int rc = take_uint(&p, &v);
		if (rc == -2)
			return aw_error_set(err, "duration '%.40s' is too large", s);
		if (rc < 0)
			return aw_error_set(err,
					    "invalid duration '%.40s': expected a number at "
					    "'%.20s' (%s)",
					    s, p, DURATION_UNITS);
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
			size_t l = strlen(units[i].unit);
			/* "ms" before "m": take the longest unit that matches */
			if (l > ulen && strncmp(p, units[i].unit, l) == 0 &&
			    (p[l] == '\0' || (p[l] >= '0' && p[l] <= '9'))) {
				ulen = l;
				mult = units[i].ms;
			}
		}
		if (!mult)
			return aw_error_set(
			    err, "invalid duration '%.40s': %s after %" PRIu64 " (%s)", s,
			    *p ? "unknown unit" : "missing unit", v, DURATION_UNITS);
		if (v > UINT64_MAX / mult || v * mult > UINT64_MAX - total)
			return aw_error_set(err, "duration '%.40s' is too large", s);
		total += v * mult;
		p += ulen;
	}
	*out = total;
	return 0;
}

int aw_parse_size(const char *s, uint64_t *out, struct aw_error *err)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {
	    {"", 1},
	    {"B", 1},
	    {"k", 1024},
	    {"K", 1024},
	    {"KiB", 1024},
	    {"kB", 1000},
	    {"KB", 1000},
	    {"M", 1024 * 1024},
	    {"MiB", 1024 * 1024},
	    {"MB", 1000 * 1000},
	    {"G", 1024ull * 1024 * 1024},
	    {"GiB", 1024ull * 1024 * 1024},
	    {"GB", 1000ull * 1000 * 1000},
	    {"T", 1024ull * 1024 * 1024 * 1024},
	    {"TiB", 1024ull * 1024 * 1024 * 1024},
	    {"TB", 1000ull * 1000 * 1000 * 1000},
	};
	const char *p = s;
	uint64_t v;
	int rc;

	if (!s || !*s)
		return aw_error_set(err, "empty size (%s)", SIZE_UNITS);
	rc = take_uint(&p, &v);
	if (rc == -2)
		return aw_error_set(err, "size '%.40s' is too large", s);
	if (rc < 0)
		return aw_error_set(err, "invalid size '%.40s' (%s)", s, SIZE_UNITS);
	if (*p == ' ')
		p++;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(p, units[i].unit) != 0)
			continue;
		if (v > UINT64_MAX / units[i].mult)
			return aw_error_set(err, "size '%.40s' is too large", s);
		*out = v * units[i].mult;
		return 0;
	}
	return aw_error_set(err, "invalid size '%.40s': unknown unit '%.10s' (%s)", s, p,
			    SIZE_UNITS);
}

int aw_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};

	if (!s)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* --- formatting ---------------------------------------------------------------- */

static void fmt_size(uint64_t v, char *buf, size_t sz)
{
	static const char *const unit[] = {"TiB", "GiB", "MiB", "KiB"};
	static const int shift[] = {40, 30, 20, 10};

	for (size_t i = 0; i < 4; i++) {
		uint64_t m = (uint64_t)1 << shift[i];
		if (v && v % m == 0) {
			snprintf(buf, sz, "%" PRIu64 "%s", v / m, unit[i]);
			return;
		}
	}
	snprintf(buf, sz, "%" PRIu64, v);
}

static void fmt_duration(uint64_t ms, char *buf, size_t sz)
{
	static const char *const unit[] = {"d", "h", "m", "s", "ms"};
	static const uint64_t mult[] = {86400000, 3600000, 60000, 1000, 1};
	size_t len = 0;

	buf[0] = '\0';
	if (ms == 0) {
		snprintf(buf, sz, "0");
		return;
	}
	for (size_t i = 0; i < 5 && len < sz; i++) {
		if (ms >= mult[i]) {
			int w =
			    snprintf(buf + len, sz - len, "%" PRIu64 "%s", ms / mult[i], unit[i]);
			if (w < 0)
				return;
			len += (size_t)w;
			ms %= mult[i];
		}
	}
}

void aw_opt_fmt_range(const struct aw_option *o, char *buf, size_t sz)
{
	char lo[32], hi[32];
	uint64_t ulo = o->min < 0 ? 0 : (uint64_t)o->min, uhi = o->max < 0 ? 0 : (uint64_t)o->max;

	if (o->type == AW_OPT_SIZE) {
		fmt_size(ulo, lo, sizeof lo);
		fmt_size(uhi, hi, sizeof hi);
	} else if (o->type == AW_OPT_DURATION) {
		fmt_duration(ulo, lo, sizeof lo);
		fmt_duration(uhi, hi, sizeof hi);
	} else {
		snprintf(lo, sizeof lo, "%lld", o->min);
		snprintf(hi, sizeof hi, "%lld", o->max);
	}
	snprintf(buf, sz, "%s..%s", lo, hi);
}

void aw_opt_fmt_choices(const struct aw_option *o, const char *sep, char *buf, size_t sz)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; o->choices && o->choices[i] && len < sz; i++) {
		int w = snprintf(buf + len, sz - len, "%s%s", i ? sep : "", o->choices[i]);
		if (w < 0)
			return;
		len += (size_t)w;
	}
}

const char *aw_opt_type_name(const struct aw_option *o)
{
	switch (o->type) {
	case AW_OPT_STRING:
		return "string";
	case AW_OPT_INT:
		return "integer";
	case AW_OPT_BOOL:
		return "boolean";
	case AW_OPT_SIZE:
		return "size";
	case AW_OPT_DURATION:
		return "duration";
	case AW_OPT_ENUM:
		return "enum";
	case AW_OPT_STRLIST:
		return "list of strings";
	case AW_OPT_SECRET:
		return "secret";
	case AW_OPT_SECTION:
		return "section";
	}
	return "?";
}

const char *aw_opt_expected(const struct aw_option *o)
{
	switch (o->type) {
	case AW_OPT_STRING:
		return "a string";
	case AW_OPT_INT:
		return "an integer";
	case AW_OPT_BOOL:
		return "a boolean (true/false, yes/no, on/off)";
	case AW_OPT_SIZE:
		return "a size";
	case AW_OPT_DURATION:
		return "a duration";
	case AW_OPT_ENUM:
		return "one of the choices";
	case AW_OPT_STRLIST:
		return "a string or a list of strings";
	case AW_OPT_SECRET:
		return "a secret ({file: PATH}, {credential: NAME}, {env: VAR})";
	case AW_OPT_SECTION:
		return "a map";
	}
	return "?";
}

/* What the user wrote, quoted, cut and made printable: safe for a message. */
void aw_opt_show_node(const struct aw_node *n, char *buf, size_t sz)
{
	size_t j = 0;

	if (n->kind == AW_NODE_MAP) {
		snprintf(buf, sz, "a map");
		return;
	}
	if (n->kind == AW_NODE_SEQ) {
		snprintf(buf, sz, "a list");
		return;
	}
	buf[j++] = '\'';
	for (size_t i = 0; n->value[i] && j + 5 < sz; i++) {
		unsigned char c = (unsigned char)n->value[i];
		if (i == 60) {
			memcpy(buf + j, "...", 3);
			j += 3;
			break;
		}
		buf[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[j++] = '\'';
	buf[j] = '\0';
}

bool aw_opt_is_null(const struct aw_node *n)
{
	return n->kind == AW_NODE_SCALAR && !n->quoted &&
	       (!*n->value || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
		strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0);
}
