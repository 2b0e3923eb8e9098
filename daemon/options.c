/* Option tables: parse, validate, default, compare, free and print.
 *
 * aw_options_apply() checks a whole map and reports every problem it finds, each as
 * "file:line:col: where.key: reason", so one run of `aiwatchd check` shows them all.
 * A YAML null (`key:`, `key: ~`) means "not set": the default stays. Secret values
 * never appear in a message: only their key and where they came from. */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define AW_SECRET_MAX ((size_t)64 << 10)
#define AW_KEY_MAX    256 /* a dotted key in a message; longer ones are cut */

#define FIELD(conf, opt, T) ((T *)(void *)((char *)(conf) + (opt)->offset))

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

static void fmt_range(const struct aw_option *o, char *buf, size_t sz)
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

static void fmt_choices(const struct aw_option *o, const char *sep, char *buf, size_t sz)
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

static const char *type_name(const struct aw_option *o)
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

static const char *expected(const struct aw_option *o)
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
static void show_node(const struct aw_node *n, char *buf, size_t sz)
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

static bool is_null(const struct aw_node *n)
{
	return n->kind == AW_NODE_SCALAR && !n->quoted &&
	       (!*n->value || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
		strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0);
}

static void join_key(char *buf, size_t sz, const char *where, const char *key)
{
	if (where && *where)
		snprintf(buf, sz, "%s.%s", where, key);
	else
		snprintf(buf, sz, "%s", key);
}

static void add_at(struct aw_error_list *errs, const struct aw_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_at(struct aw_error_list *errs, const struct aw_node *n, const char *fmt, ...)
{
	char msg[AW_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n)
		aw_error_list_add(errs, "%s:%u:%u: %s", n->file ? n->file : "<config>", n->line,
				  n->col, msg);
	else
		aw_error_list_add(errs, "%s", msg);
}

/* --- freeing ------------------------------------------------------------------- */

static void strlist_free(struct aw_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void secret_free(struct aw_secret *s)
{
	if (s->value) {
		explicit_bzero(s->value, strlen(s->value));
		free(s->value);
	}
	free(s->origin);
	s->value = NULL;
	s->origin = NULL;
}

void aw_options_free(const struct aw_option *tbl, void *conf)
{
	for (const struct aw_option *o = tbl; o && o->key; o++) {
		switch (o->type) {
		case AW_OPT_STRING:
			free(*FIELD(conf, o, char *));
			*FIELD(conf, o, char *) = NULL;
			break;
		case AW_OPT_STRLIST:
			strlist_free(FIELD(conf, o, struct aw_strlist));
			break;
		case AW_OPT_SECRET:
			secret_free(FIELD(conf, o, struct aw_secret));
			break;
		case AW_OPT_SECTION:
			aw_options_free(o->sub, FIELD(conf, o, char));
			break;
		default:
			break;
		}
	}
}

/* --- setting one value from text ----------------------------------------------- */

static int check_range(const struct aw_option *o, uint64_t v, const char *text,
		       struct aw_error *err)
{
	char range[80];

	if (o->min >= o->max)
		return 0;
	if ((o->min > 0 && v < (uint64_t)o->min) || (o->max < 0 || v > (uint64_t)o->max)) {
		fmt_range(o, range, sizeof range);
		return aw_error_set(err, "'%.40s' is out of range %s", text, range);
	}
	return 0;
}

/* Convert `text` for a scalar option into its field. err gets the reason only. */
static int set_scalar(const struct aw_option *o, const char *text, void *conf, struct aw_error *err)
{
	char buf[256];

	switch (o->type) {
	case AW_OPT_STRING: {
		char *d = strdup(text);
		if (!d)
			return aw_error_set(err, "out of memory");
		free(*FIELD(conf, o, char *));
		*FIELD(conf, o, char *) = d;
		return 0;
	}
	case AW_OPT_INT: {
		char *end;
		long long v;
		errno = 0;
		v = strtoll(text, &end, 10);
		if (!*text || *end || isspace((unsigned char)text[0]) || errno == ERANGE)
			return aw_error_set(err, "expected an integer, got '%.40s'", text);
		if (o->min < o->max && (v < o->min || v > o->max)) {
			fmt_range(o, buf, sizeof buf);
			return aw_error_set(err, "%lld is out of range %s", v, buf);
		}
		*FIELD(conf, o, long long) = v;
		return 0;
	}
	case AW_OPT_BOOL:
		if (aw_parse_bool(text, FIELD(conf, o, bool)) < 0)
			return aw_error_set(err, "expected %s, got '%.40s'", expected(o), text);
		return 0;
	case AW_OPT_SIZE:
	case AW_OPT_DURATION: {
		uint64_t v;
		int rc = o->type == AW_OPT_SIZE ? aw_parse_size(text, &v, err)
						: aw_parse_duration_ms(text, &v, err);
		if (rc < 0 || check_range(o, v, text, err) < 0)
			return -1;
		*FIELD(conf, o, uint64_t) = v;
		return 0;
	}
	case AW_OPT_ENUM:
		for (int i = 0; o->choices && o->choices[i]; i++) {
			if (strcasecmp(o->choices[i], text) == 0) {
				*FIELD(conf, o, int) = i;
				return 0;
			}
		}
		fmt_choices(o, ", ", buf, sizeof buf);
		return aw_error_set(err, "'%.40s' is not one of: %s", text, buf);
	case AW_OPT_STRLIST: {
		struct aw_strlist *l = FIELD(conf, o, struct aw_strlist);
		char **v = malloc(sizeof *v);
		char *d = strdup(text);
		if (!v || !d) {
			free(v);
			free(d);
			return aw_error_set(err, "out of memory");
		}
		strlist_free(l);
		v[0] = d;
		l->v = v;
		l->n = 1;
		return 0;
	}
	case AW_OPT_SECRET:
	case AW_OPT_SECTION:
		break;
	}
	return aw_error_set(err, "not a scalar option");
}

/* --- defaults ------------------------------------------------------------------ */

static void zero_field(const struct aw_option *o, void *conf)
{
	switch (o->type) {
	case AW_OPT_STRING:
		*FIELD(conf, o, char *) = NULL;
		break;
	case AW_OPT_INT:
		*FIELD(conf, o, long long) = 0;
		break;
	case AW_OPT_BOOL:
		*FIELD(conf, o, bool) = false;
		break;
	case AW_OPT_SIZE:
	case AW_OPT_DURATION:
		*FIELD(conf, o, uint64_t) = 0;
		break;
	case AW_OPT_ENUM:
		*FIELD(conf, o, int) = 0;
		break;
	case AW_OPT_STRLIST:
		memset(FIELD(conf, o, struct aw_strlist), 0, sizeof(struct aw_strlist));
		break;
	case AW_OPT_SECRET:
		memset(FIELD(conf, o, struct aw_secret), 0, sizeof(struct aw_secret));
		break;
	case AW_OPT_SECTION:
		break;
	}
}

static int defaults(const struct aw_option *tbl, void *conf, const char *where,
		    struct aw_error *err)
{
	char name[AW_KEY_MAX];
	int rc = 0;

	/* zero every field first, so a failure part-way leaves conf safe to free */
	for (const struct aw_option *o = tbl; o && o->key; o++) {
		if (o->type == AW_OPT_SECTION)
			continue;
		zero_field(o, conf);
	}
	for (const struct aw_option *o = tbl; o && o->key; o++) {
		join_key(name, sizeof name, where, o->key);
		if (o->type == AW_OPT_SECTION) {
			if (defaults(o->sub, FIELD(conf, o, char), name, err) < 0)
				rc = -1;
			continue;
		}
		if (!o->defval || o->type == AW_OPT_SECRET)
			continue;
		if (set_scalar(o, o->defval, conf, err) < 0) {
			aw_error_prefix(err, "built-in default of %s", name);
			rc = -1;
		}
	}
	return rc;
}

int aw_options_defaults(const struct aw_option *tbl, void *conf, struct aw_error *err)
{
	return defaults(tbl, conf, "", err);
}

/* --- secrets ------------------------------------------------------------------- */

/* Read a secret file into *out (malloc'd, wiped by whoever frees it). why gets the
 * reason on failure; it never contains the file's content. */
static int read_secret_file(const char *path, char **out, char *why, size_t whysz)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd, rc = -1;

	/* O_NONBLOCK: a FIFO must not hang the load; it is refused below anyway */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, whysz, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whysz, "%s is not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size > AW_SECRET_MAX) {
		snprintf(why, whysz, "%s is larger than %zu KiB", path, AW_SECRET_MAX >> 10);
		goto out;
	}
	buf = malloc(AW_SECRET_MAX + 1);
	if (!buf) {
		snprintf(why, whysz, "out of memory reading %s", path);
		goto out;
	}
	while (n <= AW_SECRET_MAX) {
		ssize_t r = read(fd, buf + n, AW_SECRET_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whysz, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > AW_SECRET_MAX) {
		snprintf(why, whysz, "%s is larger than %zu KiB", path, AW_SECRET_MAX >> 10);
		goto out;
	}
	if (n && buf[n - 1] == '\n') {
		n--;
		if (n && buf[n - 1] == '\r')
			n--;
	}
	if (memchr(buf, '\0', n)) {
		snprintf(why, whysz, "%s contains a NUL byte", path);
		goto out;
	}
	if (n == 0) {
		snprintf(why, whysz, "%s is empty", path);
		goto out;
	}
	*out = malloc(n + 1);
	if (!*out) {
		snprintf(why, whysz, "out of memory reading %s", path);
		goto out;
	}
	memcpy(*out, buf, n);
	(*out)[n] = '\0';
	rc = 0;
out:
	if (buf) {
		explicit_bzero(buf, n < AW_SECRET_MAX + 1 ? n : AW_SECRET_MAX + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

static bool credential_name_ok(const char *s)
{
	return *s && strlen(s) <= 255 && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

/* Takes value; origin is "<kind> <arg>" ("file /run/x") or just "inline". */
static int set_secret(struct aw_secret *sec, char *value, const char *kind, const char *arg)
{
	char origin[512];

	snprintf(origin, sizeof origin, "%s%s%s", kind, arg ? " " : "", arg ? arg : "");
	sec->origin = strdup(origin);
	if (!sec->origin) {
		explicit_bzero(value, strlen(value));
		free(value);
		return -1;
	}
	sec->value = value;
	aw_log_redact_add(value);
	return 0;
}

static void apply_secret(const struct aw_option *o, const struct aw_node *v, void *conf,
			 const char *name, unsigned file_mode, struct aw_error_list *errs)
{
	struct aw_secret *sec = FIELD(conf, o, struct aw_secret);
	const struct aw_node *arg;
	const char *kind;
	char why[AW_ERROR_MAX / 2];
	char *value = NULL;
	int rc;

	secret_free(sec);
	if (v->kind == AW_NODE_SCALAR) {
		/* Inline: only acceptable where nobody else can read the file, or when the
		 * text came from the environment rather than from the file. */
		if (!v->from_env && (file_mode & 077)) {
			add_at(errs, v,
			       "%s: inline secret in a file readable by group or others (mode "
			       "%04o); use {file: PATH}, {credential: NAME} or {env: VAR}, or "
			       "chmod 600 %s",
			       name, file_mode & 07777, v->file ? v->file : "the file");
			return;
		}
		if (!*v->value) {
			add_at(errs, v, "%s: the secret is empty", name);
			return;
		}
		value = strdup(v->value);
		if (!value || set_secret(sec, value, "inline", NULL) < 0)
			add_at(errs, v, "%s: out of memory", name);
		return;
	}
	if (v->kind != AW_NODE_MAP || v->n != 1) {
		add_at(errs, v,
		       "%s: expected exactly one of {file: PATH}, {credential: NAME} or "
		       "{env: VAR}, or an inline value",
		       name);
		return;
	}
	kind = v->keys[0];
	arg = v->items[0];
	if (arg->kind != AW_NODE_SCALAR || is_null(arg) || !*arg->value) {
		add_at(errs, arg, "%s.%.40s: expected a non-empty string", name, kind);
		return;
	}
	if (strcmp(kind, "file") == 0) {
		rc = read_secret_file(arg->value, &value, why, sizeof why);
		if (rc == 0 && set_secret(sec, value, "file", arg->value) < 0)
			snprintf(why, sizeof why, "out of memory");
		else if (rc == 0)
			return;
		add_at(errs, arg, "%s: secret file: %s", name, why);
	} else if (strcmp(kind, "credential") == 0) {
		const char *dir = getenv("CREDENTIALS_DIRECTORY");
		char path[4096];
		if (!credential_name_ok(arg->value)) {
			add_at(errs, arg, "%s: invalid credential name (no '/', not '.' or '..')",
			       name);
			return;
		}
		if (!dir || !*dir) {
			add_at(
			    errs, arg,
			    "%s: credential '%.100s' needs $CREDENTIALS_DIRECTORY, which systemd "
			    "sets when the unit has LoadCredential=%.100s:PATH",
			    name, arg->value, arg->value);
			return;
		}
		snprintf(path, sizeof path, "%s/%s", dir, arg->value);
		rc = read_secret_file(path, &value, why, sizeof why);
		if (rc == 0 && set_secret(sec, value, "credential", arg->value) < 0)
			snprintf(why, sizeof why, "out of memory");
		else if (rc == 0)
			return;
		add_at(errs, arg, "%s: credential '%.100s': %s", name, arg->value, why);
	} else if (strcmp(kind, "env") == 0) {
		const char *e = getenv(arg->value);
		if (!e) {
			add_at(errs, arg, "%s: environment variable %.100s is not set", name,
			       arg->value);
			return;
		}
		if (!*e) {
			add_at(errs, arg, "%s: environment variable %.100s is empty", name,
			       arg->value);
			return;
		}
		value = strdup(e);
		if (!value || set_secret(sec, value, "env", arg->value) < 0)
			add_at(errs, arg, "%s: out of memory", name);
	} else {
		add_at(errs, v->keynodes[0],
		       "%s: unknown key '%.40s'; a secret is {file: PATH}, {credential: NAME} or "
		       "{env: VAR}, or an inline value",
		       name, kind);
	}
}

/* --- applying a map ------------------------------------------------------------ */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static const struct aw_option *find_option(const struct aw_option *tbl, const char *key)
{
	for (const struct aw_option *o = tbl; o && o->key; o++)
		if (strcmp(o->key, key) == 0)
			return o;
	return NULL;
}

static void unknown_key(const struct aw_option *tbl, const struct aw_node *keynode,
			const char *name, struct aw_error_list *errs)
{
	const struct aw_option *best = NULL;
	size_t bestd = 3;

	for (const struct aw_option *o = tbl; o && o->key; o++) {
		size_t d = edit_distance(keynode->value, o->key);
		if (d < bestd) {
			bestd = d;
			best = o;
		}
	}
	if (best)
		add_at(errs, keynode, "unknown key '%s' (did you mean '%s'?)", name, best->key);
	else
		add_at(errs, keynode, "unknown key '%s'", name);
}

static void apply_map(const struct aw_option *tbl, const struct aw_node *map, void *conf,
		      const char *where, unsigned file_mode, struct aw_error_list *errs);

static void apply_one(const struct aw_option *o, const struct aw_node *v, void *conf,
		      const char *name, unsigned file_mode, struct aw_error_list *errs)
{
	struct aw_error err = {{0}};
	char shown[80];

	if (is_null(v))
		return; /* explicit "not set": the default stays */
	switch (o->type) {
	case AW_OPT_SECTION:
		if (v->kind != AW_NODE_MAP) {
			show_node(v, shown, sizeof shown);
			add_at(errs, v, "%s: expected a map, got %s", name, shown);
			return;
		}
		apply_map(o->sub, v, FIELD(conf, o, char), name, file_mode, errs);
		return;
	case AW_OPT_SECRET:
		apply_secret(o, v, conf, name, file_mode, errs);
		return;
	case AW_OPT_STRLIST:
		if (v->kind == AW_NODE_SEQ) {
			struct aw_strlist *l = FIELD(conf, o, struct aw_strlist);
			char **nv = calloc(v->n ? v->n : 1, sizeof *nv);
			size_t k = 0;
			if (!nv) {
				add_at(errs, v, "%s: out of memory", name);
				return;
			}
			for (size_t i = 0; i < v->n; i++) {
				const struct aw_node *it = v->items[i];
				if (it->kind != AW_NODE_SCALAR) {
					show_node(it, shown, sizeof shown);
					add_at(errs, it, "%s[%zu]: expected a string, got %s", name,
					       i, shown);
				} else if (!(nv[k] = strdup(it->value))) {
					add_at(errs, it, "%s: out of memory", name);
				} else {
					k++;
				}
			}
			strlist_free(l);
			l->v = nv;
			l->n = k;
			return;
		}
		break;
	default:
		break;
	}
	if (v->kind != AW_NODE_SCALAR) {
		show_node(v, shown, sizeof shown);
		if (o->type == AW_OPT_ENUM) {
			char ch[200];
			fmt_choices(o, ", ", ch, sizeof ch);
			add_at(errs, v, "%s: expected one of %s, got %s", name, ch, shown);
		} else {
			add_at(errs, v, "%s: expected %s, got %s", name, expected(o), shown);
		}
		return;
	}
	if (set_scalar(o, v->value, conf, &err) < 0)
		add_at(errs, v, "%s: %s", name, err.msg);
}

static void apply_map(const struct aw_option *tbl, const struct aw_node *map, void *conf,
		      const char *where, unsigned file_mode, struct aw_error_list *errs)
{
	char name[AW_KEY_MAX];

	for (size_t i = 0; i < map->n; i++) {
		const struct aw_option *o = find_option(tbl, map->keys[i]);
		join_key(name, sizeof name, where, map->keys[i]);
		if (!o)
			unknown_key(tbl, map->keynodes[i], name, errs);
		else
			apply_one(o, map->items[i], conf, name, file_mode, errs);
	}
	for (const struct aw_option *o = tbl; o && o->key; o++) {
		const struct aw_node *v;
		if (!(o->flags & AW_OPT_REQUIRED))
			continue;
		v = aw_node_get(map, o->key);
		join_key(name, sizeof name, where, o->key);
		if (!v) {
			if (where && *where)
				add_at(errs, map, "%s: missing required key '%s'", where, o->key);
			else
				add_at(errs, map, "missing required key '%s'", o->key);
		} else if (is_null(v)) {
			add_at(errs, v, "%s: a value is required", name);
		}
	}
}

static void required_without_map(const struct aw_option *tbl, const char *where,
				 struct aw_error_list *errs)
{
	for (const struct aw_option *o = tbl; o && o->key; o++)
		if (o->flags & AW_OPT_REQUIRED)
			add_at(errs, NULL, "%s%smissing required key '%s'", where ? where : "",
			       where && *where ? ": " : "", o->key);
}

int aw_options_apply(const struct aw_option *tbl, const struct aw_node *map, void *conf,
		     const char *where, unsigned file_mode, struct aw_error_list *errs)
{
	size_t before = aw_error_list_count(errs);
	struct aw_error err = {{0}};
	char shown[80];

	if (!where)
		where = "";
	if (defaults(tbl, conf, where, &err) < 0)
		aw_error_list_add(errs, "%s", err.msg);
	if (!map || is_null(map)) {
		required_without_map(tbl, where, errs);
	} else if (map->kind != AW_NODE_MAP) {
		show_node(map, shown, sizeof shown);
		if (*where)
			add_at(errs, map, "%s: expected a map, got %s", where, shown);
		else
			add_at(errs, map, "expected a map, got %s", shown);
	} else {
		apply_map(tbl, map, conf, where, file_mode, errs);
	}
	return aw_error_list_count(errs) == before ? 0 : -1;
}

/* --- comparing ----------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool aw_options_equal(const struct aw_option *tbl, const void *a, const void *b)
{
	for (const struct aw_option *o = tbl; o && o->key; o++) {
		switch (o->type) {
		case AW_OPT_STRING:
			if (!str_eq(*FIELD(a, o, char *), *FIELD(b, o, char *)))
				return false;
			break;
		case AW_OPT_INT:
			if (*FIELD(a, o, long long) != *FIELD(b, o, long long))
				return false;
			break;
		case AW_OPT_BOOL:
			if (*FIELD(a, o, bool) != *FIELD(b, o, bool))
				return false;
			break;
		case AW_OPT_SIZE:
		case AW_OPT_DURATION:
			if (*FIELD(a, o, uint64_t) != *FIELD(b, o, uint64_t))
				return false;
			break;
		case AW_OPT_ENUM:
			if (*FIELD(a, o, int) != *FIELD(b, o, int))
				return false;
			break;
		case AW_OPT_STRLIST: {
			const struct aw_strlist *la = FIELD(a, o, struct aw_strlist);
			const struct aw_strlist *lb = FIELD(b, o, struct aw_strlist);
			if (la->n != lb->n)
				return false;
			for (size_t i = 0; i < la->n; i++)
				if (!str_eq(la->v[i], lb->v[i]))
					return false;
			break;
		}
		case AW_OPT_SECRET:
			if (!str_eq(FIELD(a, o, struct aw_secret)->value,
				    FIELD(b, o, struct aw_secret)->value))
				return false;
			break;
		case AW_OPT_SECTION:
			if (!aw_options_equal(o->sub, FIELD(a, o, char), FIELD(b, o, char)))
				return false;
			break;
		}
	}
	return true;
}

/* --- help ---------------------------------------------------------------------- */

static size_t key_width(const struct aw_option *tbl, size_t plen)
{
	size_t w = 0;

	for (const struct aw_option *o = tbl; o && o->key; o++) {
		size_t l = plen + strlen(o->key);
		if (l > w)
			w = l;
		if (o->type == AW_OPT_SECTION) {
			l = key_width(o->sub, l + 1);
			if (l > w)
				w = l;
		}
	}
	return w;
}

static void print_table(FILE *out, const struct aw_option *tbl, const char *prefix, int width)
{
	char name[AW_KEY_MAX], desc[512], tmp[256];

	for (const struct aw_option *o = tbl; o && o->key; o++) {
		size_t len = 0;
		join_key(name, sizeof name, prefix, o->key);
		if (o->type == AW_OPT_ENUM) {
			fmt_choices(o, "|", tmp, sizeof tmp);
			len += (size_t)snprintf(desc, sizeof desc, "%s", tmp);
		} else {
			len += (size_t)snprintf(desc, sizeof desc, "%s", type_name(o));
		}
		if (o->flags & AW_OPT_REQUIRED)
			len += (size_t)snprintf(desc + len, sizeof desc - len, ", required");
		else if (o->type != AW_OPT_SECTION && o->type != AW_OPT_SECRET)
			len += (size_t)snprintf(desc + len, sizeof desc - len, ", default %s",
						o->defval ? (*o->defval ? o->defval : "\"\"")
						: o->type == AW_OPT_BOOL    ? "false"
						: o->type == AW_OPT_STRLIST ? "empty"
						: o->type == AW_OPT_STRING  ? "none"
									    : "0");
		if (o->min < o->max &&
		    (o->type == AW_OPT_INT || o->type == AW_OPT_SIZE ||
		     o->type == AW_OPT_DURATION) &&
		    len < sizeof desc) {
			fmt_range(o, tmp, sizeof tmp);
			snprintf(desc + len, sizeof desc - len, ", %s", tmp);
		}
		fprintf(out, "  %-*s  (%s)  %s\n", width, name, desc, o->help ? o->help : "");
		if (o->type == AW_OPT_SECTION)
			print_table(out, o->sub, name, width);
	}
}

void aw_options_print_help(FILE *out, const struct aw_option *tbl, const char *prefix)
{
	size_t plen = prefix && *prefix ? strlen(prefix) + 1 : 0;
	size_t w = key_width(tbl, plen);

	print_table(out, tbl, prefix, w > 40 ? 40 : (int)w);
}
