/* Structured logging: one line per event on stderr.
 *
 * logfmt by default (`ts=... level=info component=in_file msg="..." key=value`), JSON
 * with log.format: json. When stderr is the journal ($JOURNAL_STREAM matches stderr),
 * each line starts with the syslog priority prefix "<N>" and the timestamp is left to
 * journald. Values registered with aw_log_redact_add() (secrets, tokens) are replaced
 * by "[REDACTED]" wherever they appear in a line, as a last line of defence: callers
 * still never pass secrets. Single-threaded: call from the loop thread (or before it
 * starts). */
#ifndef AW_LOG_H
#define AW_LOG_H

#include <stddef.h>

enum aw_log_level {
	AW_LOG_DEBUG = 7,  /* syslog priorities, so the journal prefix is the value */
	AW_LOG_INFO = 6,
	AW_LOG_NOTICE = 5,
	AW_LOG_WARN = 4,
	AW_LOG_ERR = 3,
};

enum aw_log_format { AW_LOG_LOGFMT = 0, AW_LOG_JSON = 1 };

enum aw_log_field_kind { AW_LF_STR = 1, AW_LF_INT, AW_LF_UINT, AW_LF_DBL };

struct aw_log_field {
	const char *key;
	enum aw_log_field_kind kind;
	const char *str;
	long long i;
	unsigned long long u;
	double d;
};

#define AW_S(k, v) ((struct aw_log_field){.key = (k), .kind = AW_LF_STR, .str = (v)})
#define AW_I(k, v) ((struct aw_log_field){.key = (k), .kind = AW_LF_INT, .i = (long long)(v)})
#define AW_U(k, v) ((struct aw_log_field){.key = (k), .kind = AW_LF_UINT, .u = (unsigned long long)(v)})
#define AW_D(k, v) ((struct aw_log_field){.key = (k), .kind = AW_LF_DBL, .d = (double)(v)})

/* aw_log(AW_LOG_WARN, "in_file", "malformed line skipped", AW_S("file", p), AW_U("line", n)); */
#define aw_log(lvl, component, msg, ...)                                                   \
	do {                                                                               \
		if ((int)(lvl) <= (int)aw_log_threshold()) {                               \
			const struct aw_log_field aw_f_[] = {{0}, __VA_ARGS__};            \
			aw_log_fields((lvl), (component), (msg),                           \
				      sizeof aw_f_ / sizeof aw_f_[0] - 1, aw_f_ + 1);      \
		}                                                                          \
	} while (0)

void aw_log_fields(enum aw_log_level lvl, const char *component, const char *msg,
		   size_t nfields, const struct aw_log_field *fields);

/* Process-wide settings; defaults: info, logfmt, journal auto-detected from env. */
void aw_log_configure(enum aw_log_level threshold, enum aw_log_format fmt);
enum aw_log_level aw_log_threshold(void);
/* Parse "debug|info|notice|warning|error" / "logfmt|json"; 0 or -1. */
int aw_log_level_parse(const char *s, enum aw_log_level *out);
int aw_log_format_parse(const char *s, enum aw_log_format *out);

/* Redaction list: the logger copies the value (strings shorter than 4 bytes are not
 * registered, they would redact ordinary words). aw_log_redact_clear() wipes it. */
void aw_log_redact_add(const char *secret);
void aw_log_redact_clear(void);

/* Tests capture output: lines go to fd instead of 2 (and journal detection is off);
 * fd -1 returns to stderr with journal detection. */
void aw_log_set_fd(int fd);

#endif
