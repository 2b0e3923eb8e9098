/* Structured logging: each event is built into one bounded buffer and written with a
 * single write(2), so lines from concurrent writers never interleave and a value can
 * never break a line. Registered secrets are replaced while values are copied (so a
 * truncated or escaped value cannot leak a fragment) and once more on the final line. */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One line, including the journal prefix and the newline. Longer values are cut with
 * a "..." marker; fields that no longer fit are dropped. */
#define AW_LOG_LINE_MAX 8192
/* Room always kept for the truncation marker and the line's closing bytes: `..."}\n`. */
#define AW_LOG_TAIL	  8
#define AW_LOG_REDACT_MAX 64
#define AW_LOG_REDACT_MIN 4

static const char aw_redacted[] = "[REDACTED]";

struct aw_secret_entry {
	char *s;
	size_t len;
};

static struct {
	enum aw_log_level threshold;
	enum aw_log_format fmt;
	int fd;	     /* -1: stderr with journal detection */
	int journal; /* -1: not detected yet, 0 or 1 */
	struct aw_secret_entry secrets[AW_LOG_REDACT_MAX];
	size_t nsecrets; /* sorted longest first so a longer secret wins over its prefix */
	bool full_warned;
} aw_log_state = {
    .threshold = AW_LOG_INFO,
    .fmt = AW_LOG_LOGFMT,
    .fd = -1,
    .journal = -1,
};

struct aw_line {
	char buf[AW_LOG_LINE_MAX];
	size_t len;
	bool full; /* a field was cut or dropped: add nothing more */
};

/* --- settings -------------------------------------------------------------------- */

static const char *const aw_level_names[] = {
    [AW_LOG_DEBUG] = "debug",  [AW_LOG_INFO] = "info", [AW_LOG_NOTICE] = "notice",
    [AW_LOG_WARN] = "warning", [AW_LOG_ERR] = "error",
};

static const char *level_name(enum aw_log_level lvl)
{
	if ((int)lvl >= AW_LOG_ERR && (int)lvl <= AW_LOG_DEBUG)
		return aw_level_names[lvl];
	return (int)lvl < AW_LOG_ERR ? "error" : "debug";
}

void aw_log_configure(enum aw_log_level threshold, enum aw_log_format fmt)
{
	aw_log_state.threshold = threshold;
	aw_log_state.fmt = fmt;
	aw_log_state.journal = -1; /* stderr may have been redirected since */
}

enum aw_log_level aw_log_threshold(void)
{
	return aw_log_state.threshold;
}

int aw_log_level_parse(const char *s, enum aw_log_level *out)
{
	if (!s)
		return -1;
	for (int l = AW_LOG_ERR; l <= AW_LOG_DEBUG; l++) {
		if (strcmp(s, aw_level_names[l]) == 0) {
			*out = (enum aw_log_level)l;
			return 0;
		}
	}
	return -1;
}

int aw_log_format_parse(const char *s, enum aw_log_format *out)
{
	if (!s)
		return -1;
	if (strcmp(s, "logfmt") == 0)
		*out = AW_LOG_LOGFMT;
	else if (strcmp(s, "json") == 0)
		*out = AW_LOG_JSON;
	else
		return -1;
	return 0;
}

/* fd < 0 goes back to stderr with journal detection (not part of the header's
 * contract, but lets a test undo a capture). */
void aw_log_set_fd(int fd)
{
	aw_log_state.fd = fd < 0 ? -1 : fd;
	aw_log_state.journal = fd < 0 ? -1 : 0;
}

/* systemd sets JOURNAL_STREAM="<dev>:<inode>" of the stream it connected; it only
 * counts while stderr is still that stream (a child may have redirected it). */
static int journal_detect(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	char *end;
	struct stat st;

	if (!js || !*js)
		return 0;
	errno = 0;
	dev = strtoull(js, &end, 10);
	if (errno || end == js || *end != ':')
		return 0;
	js = end + 1;
	ino = strtoull(js, &end, 10);
	if (errno || end == js || *end != '\0')
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* --- redaction ------------------------------------------------------------------- */

void aw_log_redact_add(const char *secret)
{
	size_t len, pos;
	char *copy;

	if (!secret)
		return;
	len = strlen(secret);
	if (len < AW_LOG_REDACT_MIN)
		return;
	for (size_t i = 0; i < aw_log_state.nsecrets; i++)
		if (aw_log_state.secrets[i].len == len &&
		    memcmp(aw_log_state.secrets[i].s, secret, len) == 0)
			return;
	if (aw_log_state.nsecrets == AW_LOG_REDACT_MAX) {
		if (!aw_log_state.full_warned) {
			aw_log_state.full_warned = true;
			aw_log(AW_LOG_WARN, "log",
			       "redaction list full; further secrets are not masked in logs",
			       AW_U("max", AW_LOG_REDACT_MAX));
		}
		return;
	}
	copy = malloc(len + 1);
	if (!copy)
		return;
	memcpy(copy, secret, len + 1);
	for (pos = 0; pos < aw_log_state.nsecrets; pos++)
		if (aw_log_state.secrets[pos].len < len)
			break;
	memmove(&aw_log_state.secrets[pos + 1], &aw_log_state.secrets[pos],
		(aw_log_state.nsecrets - pos) * sizeof aw_log_state.secrets[0]);
	aw_log_state.secrets[pos] = (struct aw_secret_entry){.s = copy, .len = len};
	aw_log_state.nsecrets++;
}

void aw_log_redact_clear(void)
{
	for (size_t i = 0; i < aw_log_state.nsecrets; i++) {
		explicit_bzero(aw_log_state.secrets[i].s, aw_log_state.secrets[i].len);
		free(aw_log_state.secrets[i].s);
		aw_log_state.secrets[i] = (struct aw_secret_entry){0};
	}
	aw_log_state.nsecrets = 0;
	aw_log_state.full_warned = false;
}

/* Length of the registered secret starting at p (p has `left` bytes), or 0. */
static size_t secret_at(const char *p, size_t left)
{
	for (size_t i = 0; i < aw_log_state.nsecrets; i++) {
		const struct aw_secret_entry *e = &aw_log_state.secrets[i];
		if (e->len <= left && e->s[0] == p[0] && memcmp(p, e->s, e->len) == 0)
			return e->len;
	}
	return 0;
}

/* --- line building --------------------------------------------------------------- */

/* Structural bytes (keys, separators, numbers): all or nothing. */
static bool put(struct aw_line *l, const char *s, size_t n)
{
	if (l->full || l->len + n > sizeof l->buf - AW_LOG_TAIL) {
		l->full = true;
		return false;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return true;
}

static bool put_str(struct aw_line *l, const char *s)
{
	return put(l, s, strlen(s));
}

/* One unit of a value (a character, its escape or the redaction marker). When it does
 * not fit the value ends in "..." (the tail reserve holds it) and the line is full. */
static bool put_unit(struct aw_line *l, const char *s, size_t n)
{
	if (l->full)
		return false;
	if (l->len + n > sizeof l->buf - AW_LOG_TAIL) {
		memcpy(l->buf + l->len, "...", 3);
		l->len += 3;
		l->full = true;
		return false;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return true;
}

/* Bytes of the UTF-8 sequence at p, or 0 when it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
	size_t n;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* Copy s escaped for a quoted logfmt or JSON string, replacing registered secrets.
 * JSON also replaces invalid UTF-8 with U+FFFD so the line stays parseable. */
static void put_escaped(struct aw_line *l, const char *s, bool json)
{
	size_t n = strlen(s);
	size_t i = 0;
	char esc[8];

	while (i < n && !l->full) {
		unsigned char c = (unsigned char)s[i];
		size_t sl = secret_at(s + i, n - i);

		if (sl) {
			put_unit(l, aw_redacted, sizeof aw_redacted - 1);
			i += sl;
			continue;
		}
		switch (c) {
		case '"':
			put_unit(l, "\\\"", 2);
			break;
		case '\\':
			put_unit(l, "\\\\", 2);
			break;
		case '\n':
			put_unit(l, "\\n", 2);
			break;
		case '\r':
			put_unit(l, "\\r", 2);
			break;
		case '\t':
			put_unit(l, "\\t", 2);
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				snprintf(esc, sizeof esc, "\\u%04x", c);
				put_unit(l, esc, 6);
			} else if (c >= 0x80 && json) {
				size_t ul = utf8_len((const unsigned char *)s + i, n - i);
				if (ul == 0) {
					put_unit(l, "\\ufffd", 6);
				} else {
					put_unit(l, s + i, ul);
					i += ul - 1;
				}
			} else {
				put_unit(l, s + i, 1);
			}
		}
		i++;
	}
}

/* logfmt leaves simple values bare; anything that could be misread is quoted. */
static bool logfmt_needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p == 0x7f)
			return true;
	return false;
}

static void put_string_value(struct aw_line *l, const char *s, bool json)
{
	bool quote = json || logfmt_needs_quotes(s);

	if (quote)
		put_unit(l, "\"", 1);
	put_escaped(l, s, json);
	/* The tail reserve guarantees room for the closing quote even after "...". */
	if (quote)
		l->buf[l->len++] = '"';
}

/* Keys come from code, but a bad one must still not break the line. */
static void put_key(struct aw_line *l, const char *key, bool json)
{
	char k[64];
	size_t n = 0;

	for (const char *p = key ? key : ""; *p && n < sizeof k - 1; p++) {
		unsigned char c = (unsigned char)*p;
		k[n++] =
		    (c <= ' ' || c == '=' || c == '"' || c == '\\' || c >= 0x7f) ? '_' : (char)c;
	}
	if (n == 0)
		k[n++] = '_';
	k[n] = '\0';
	if (json) {
		put(l, "\"", 1);
		put(l, k, n);
		put(l, "\":", 2);
	} else {
		put(l, k, n);
		put(l, "=", 1);
	}
}

/* Shortest "%g" that reads back as the same double; integers without exponent. */
static void format_double(char *buf, size_t sz, double d)
{
	if (isnan(d)) {
		snprintf(buf, sz, "NaN");
		return;
	}
	if (isinf(d)) {
		snprintf(buf, sz, d > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (d == floor(d) && fabs(d) < 1e17) {
		snprintf(buf, sz, "%.0f", d);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sz, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

static void put_field(struct aw_line *l, const struct aw_log_field *f, bool json)
{
	size_t mark = l->len;
	char num[64];

	if (l->full)
		return;
	if (!put(l, json ? "," : " ", 1))
		goto dropped;
	put_key(l, f->key, json);
	if (l->full)
		goto dropped;
	switch (f->kind) {
	case AW_LF_STR:
		if (!f->str && json) {
			if (!put(l, "null", 4))
				goto dropped;
			return;
		}
		if (l->len + 2 > sizeof l->buf - AW_LOG_TAIL)
			goto dropped;
		put_string_value(l, f->str ? f->str : "", json);
		return;
	case AW_LF_INT:
		snprintf(num, sizeof num, "%lld", f->i);
		break;
	case AW_LF_UINT:
		snprintf(num, sizeof num, "%llu", f->u);
		break;
	case AW_LF_DBL:
		format_double(num, sizeof num, f->d);
		if (json && !isfinite(f->d)) {
			/* JSON has no NaN/Inf literals: keep the information as a string. */
			if (!put(l, "\"", 1) || !put_str(l, num) || !put(l, "\"", 1))
				goto dropped;
			return;
		}
		break;
	default:
		snprintf(num, sizeof num, "?");
		break;
	}
	if (put_str(l, num))
		return;
dropped:
	/* The field did not fit: cut back to the previous field so the line stays
	 * well formed, and mark the loss. */
	l->len = mark;
	l->full = true;
	if (!json) {
		/* logfmt can say so in the tail reserve; JSON has no room for a key. */
		memcpy(l->buf + l->len, " ...", 4);
		l->len += 4;
	}
}

static void put_timestamp(struct aw_line *l, bool json)
{
	struct timespec ts;
	struct tm tm;
	char buf[40];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000L);
	if (json) {
		put_str(l, "\"ts\":\"");
		put_str(l, buf);
		put_str(l, "\",");
	} else {
		put_str(l, "ts=");
		put_str(l, buf);
		put_str(l, " ");
	}
}

/* The last line of defence: replace any secret still present in the finished line
 * (e.g. one assembled across a key and a value). The result can grow by at most
 * 10/4 of the line, so `out` is sized for that. */
static const char *redact_line(const char *in, size_t len, char *out, size_t outsz, size_t *outlen)
{
	size_t i, o = 0;
	bool any = false;

	for (i = 0; i < len && !any; i++)
		any = secret_at(in + i, len - i) != 0;
	if (!any) {
		*outlen = len;
		return in;
	}
	for (i = 0; i < len;) {
		size_t sl = secret_at(in + i, len - i);
		if (sl && o + sizeof aw_redacted - 1 <= outsz) {
			memcpy(out + o, aw_redacted, sizeof aw_redacted - 1);
			o += sizeof aw_redacted - 1;
			i += sl;
		} else if (!sl && o < outsz) {
			out[o++] = in[i++];
		} else {
			break;
		}
	}
	*outlen = o;
	return out;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere left to report a logging failure */
		}
		p += w;
		n -= (size_t)w;
	}
}

void aw_log_fields(enum aw_log_level lvl, const char *component, const char *msg, size_t nfields,
		   const struct aw_log_field *fields)
{
	struct aw_line l;
	char redacted[AW_LOG_LINE_MAX * 3];
	const char *out;
	size_t outlen;
	bool json = aw_log_state.fmt == AW_LOG_JSON;
	int fd = aw_log_state.fd >= 0 ? aw_log_state.fd : STDERR_FILENO;
	int saved_errno = errno;

	if ((int)lvl > (int)aw_log_state.threshold)
		return;
	if (aw_log_state.journal < 0)
		aw_log_state.journal = journal_detect();
	l.len = 0;
	l.full = false;
	if (aw_log_state.journal) {
		char pfx[8];
		snprintf(pfx, sizeof pfx, "<%d>", (int)lvl);
		put_str(&l, pfx);
	}
	if (json)
		put_str(&l, "{");
	if (!aw_log_state.journal)
		put_timestamp(&l, json);
	if (json) {
		put_str(&l, "\"level\":\"");
		put_str(&l, level_name(lvl));
		put_str(&l, "\",\"component\":");
		put_string_value(&l, component ? component : "", true);
		put_str(&l, ",\"msg\":");
		put_string_value(&l, msg ? msg : "", true);
	} else {
		put_str(&l, "level=");
		put_str(&l, level_name(lvl));
		put_str(&l, " component=");
		put_string_value(&l, component ? component : "", false);
		put_str(&l, " msg=");
		put_string_value(&l, msg ? msg : "", false);
	}
	for (size_t i = 0; i < nfields; i++)
		put_field(&l, &fields[i], json);
	/* The tail reserve always leaves room for these two bytes. */
	if (json)
		l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';
	out = redact_line(l.buf, l.len, redacted, sizeof redacted, &outlen);
	write_all(fd, out, outlen);
	errno = saved_errno;
}
