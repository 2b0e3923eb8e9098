/* Logging: logfmt and JSON lines, escaping, thresholds, journal prefix, redaction. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "testutil.h"

/* Lines go to an unlinked scratch file (a pipe would fill up and block the writer);
 * captured() returns what was added since the last call. */
static int cap_fd = -1;
static off_t cap_off;

static void setup(void)
{
	char path[] = "/tmp/aiwatch-log-XXXXXX";

	cap_fd = mkostemp(path, O_CLOEXEC | O_APPEND);
	ck_assert_int_ge(cap_fd, 0);
	unlink(path);
	cap_off = 0;
	aw_log_configure(AW_LOG_INFO, AW_LOG_LOGFMT);
	aw_log_set_fd(cap_fd);
}

static void teardown(void)
{
	aw_log_set_fd(-1);
	aw_log_redact_clear();
	close(cap_fd);
}

/* Everything logged since the last call, NUL-terminated, malloc'd. */
static char *captured(void)
{
	struct stat st;
	char *buf;
	size_t n;

	ck_assert_int_eq(fstat(cap_fd, &st), 0);
	n = (size_t)(st.st_size - cap_off);
	buf = malloc(n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(cap_fd, buf, n, cap_off), (ssize_t)n);
	buf[n] = '\0';
	cap_off = st.st_size;
	return buf;
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == c;
	return n;
}

/* The line after its timestamp, which is checked for the documented shape. */
static const char *after_ts(const char *line)
{
	regex_t re;

	ck_assert_int_eq(regcomp(&re,
				 "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\."
				 "[0-9]{3}Z ",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "no timestamp in: %s", line);
	regfree(&re);
	return strchr(line, ' ') + 1;
}

START_TEST(logfmt_line)
{
	aw_log(AW_LOG_WARN, "in_file", "malformed line skipped", AW_S("file", "/x"),
	       AW_U("line", 3), AW_I("delta", -2), AW_D("ratio", 0.25), AW_D("big", 1e6));
	char *out = captured();
	ck_assert_str_eq(after_ts(out), "level=warning component=in_file "
					"msg=\"malformed line skipped\" file=/x line=3 "
					"delta=-2 ratio=0.25 big=1000000\n");
	free(out);
}
END_TEST

START_TEST(logfmt_escaping_keeps_one_line)
{
	aw_log(AW_LOG_INFO, "t", "m", AW_S("v", "a\nb \"c\" \\d\te\x01"), AW_S("empty", ""),
	       AW_S("eq", "a=b"), AW_S("plain", "x/y:z"), AW_S("nul", NULL), AW_S("bs", "C:\\tmp"));
	char *out = captured();
	ck_assert_uint_eq(count_char(out, '\n'), 1);
	ck_assert_str_eq(after_ts(out),
			 "level=info component=t msg=m v=\"a\\nb \\\"c\\\" \\\\d\\te\\u0001\" "
			 "empty=\"\" eq=\"a=b\" plain=x/y:z nul=\"\" bs=\"C:\\\\tmp\"\n");
	free(out);
}
END_TEST

START_TEST(json_line)
{
	aw_log_configure(AW_LOG_INFO, AW_LOG_JSON);
	aw_log(AW_LOG_ERR, "in_file", "bad \"record\"\n", AW_S("file", "/x y"), AW_I("line", -3),
	       AW_U("n", 18446744073709551615ULL), AW_D("ratio", 1.5),
	       AW_S("text", "caf\xc3\xa9 \xff\x01"), AW_S("none", NULL));
	char *out = captured();
	ck_assert_uint_eq(count_char(out, '\n'), 1);
	ck_assert_msg(strncmp(out, "{\"ts\":\"", 7) == 0, "%s", out);

	json_object *o = json_tokener_parse(out);
	ck_assert_msg(o != NULL, "not JSON: %s", out);
	json_object *v;
	ck_assert(json_object_object_get_ex(o, "level", &v));
	ck_assert_str_eq(json_object_get_string(v), "error");
	ck_assert(json_object_object_get_ex(o, "component", &v));
	ck_assert_str_eq(json_object_get_string(v), "in_file");
	ck_assert(json_object_object_get_ex(o, "msg", &v));
	ck_assert_str_eq(json_object_get_string(v), "bad \"record\"\n");
	ck_assert(json_object_object_get_ex(o, "file", &v));
	ck_assert_str_eq(json_object_get_string(v), "/x y");
	ck_assert(json_object_object_get_ex(o, "line", &v));
	ck_assert(json_object_is_type(v, json_type_int));
	ck_assert_int_eq(json_object_get_int64(v), -3);
	ck_assert(json_object_object_get_ex(o, "n", &v));
	ck_assert(json_object_is_type(v, json_type_int));
	ck_assert_uint_eq(json_object_get_uint64(v), 18446744073709551615ULL);
	ck_assert(json_object_object_get_ex(o, "ratio", &v));
	ck_assert(json_object_is_type(v, json_type_double));
	ck_assert(json_object_object_get_ex(o, "text", &v));
	/* Invalid UTF-8 becomes U+FFFD; valid UTF-8 passes through. */
	ck_assert_str_eq(json_object_get_string(v), "caf\xc3\xa9 \xef\xbf\xbd\x01");
	ck_assert(json_object_object_get_ex(o, "none", &v));
	ck_assert(v == NULL);
	json_object_put(o);
	/* Exact bytes of the tail, so the field order is the one written. */
	ck_assert_ptr_nonnull(strstr(out, "\",\"level\":\"error\",\"component\":\"in_file\","
					  "\"msg\":\"bad \\\"record\\\"\\n\",\"file\":\"/x y\","
					  "\"line\":-3,"));
	free(out);
}
END_TEST

START_TEST(threshold_filters)
{
	ck_assert_int_eq(aw_log_threshold(), AW_LOG_INFO);
	aw_log(AW_LOG_DEBUG, "t", "hidden");
	aw_log(AW_LOG_INFO, "t", "shown-info");
	aw_log_configure(AW_LOG_ERR, AW_LOG_LOGFMT);
	aw_log(AW_LOG_WARN, "t", "hidden-warn");
	aw_log(AW_LOG_ERR, "t", "shown-error");
	aw_log_configure(AW_LOG_DEBUG, AW_LOG_LOGFMT);
	aw_log(AW_LOG_DEBUG, "t", "shown-debug");
	/* Direct calls obey the threshold too. */
	aw_log_configure(AW_LOG_NOTICE, AW_LOG_LOGFMT);
	aw_log_fields(AW_LOG_INFO, "t", "hidden-direct", 0, NULL);
	aw_log_fields(AW_LOG_NOTICE, "t", "shown-notice", 0, NULL);

	char *out = captured();
	ck_assert_ptr_null(strstr(out, "hidden"));
	ck_assert_ptr_nonnull(strstr(out, "level=info component=t msg=shown-info\n"));
	ck_assert_ptr_nonnull(strstr(out, "level=error component=t msg=shown-error\n"));
	ck_assert_ptr_nonnull(strstr(out, "level=debug component=t msg=shown-debug\n"));
	ck_assert_ptr_nonnull(strstr(out, "level=notice component=t msg=shown-notice\n"));
	ck_assert_uint_eq(count_char(out, '\n'), 4);
	free(out);
}
END_TEST

/* With stderr being the stream named by $JOURNAL_STREAM, lines carry the priority and
 * no timestamp. */
START_TEST(journal_prefix)
{
	struct stat st;
	char js[64];
	int saved = dup(STDERR_FILENO);

	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(cap_fd, STDERR_FILENO), STDERR_FILENO);
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	aw_log_set_fd(-1);
	aw_log_configure(AW_LOG_INFO, AW_LOG_LOGFMT);
	aw_log(AW_LOG_WARN, "daemon", "disk low", AW_U("pct", 95));
	aw_log_configure(AW_LOG_INFO, AW_LOG_JSON);
	aw_log(AW_LOG_ERR, "daemon", "failed");
	aw_log(AW_LOG_NOTICE, "daemon", "noted");

	/* Another stream: no prefix, timestamp back. */
	setenv("JOURNAL_STREAM", "1:2", 1);
	aw_log_configure(AW_LOG_INFO, AW_LOG_LOGFMT);
	aw_log(AW_LOG_INFO, "daemon", "plain");

	dup2(saved, STDERR_FILENO);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	char *out = captured();
	const char *plain = strstr(out, "ts=");
	ck_assert_ptr_nonnull(plain);
	ck_assert_str_eq(after_ts(plain), "level=info component=daemon msg=plain\n");
	ck_assert_int_eq(
	    strncmp(out,
		    "<4>level=warning component=daemon msg=\"disk low\" pct=95\n"
		    "<3>{\"level\":\"error\",\"component\":\"daemon\",\"msg\":\"failed\"}\n"
		    "<5>{\"level\":\"notice\",\"component\":\"daemon\",\"msg\":\"noted\"}\n"
		    "ts=",
		    strlen("<4>level=warning component=daemon msg=\"disk low\" pct=95\n"
			   "<3>{\"level\":\"error\",\"component\":\"daemon\","
			   "\"msg\":\"failed\"}\n"
			   "<5>{\"level\":\"notice\",\"component\":\"daemon\","
			   "\"msg\":\"noted\"}\n"
			   "ts=")),
	    0);
	free(out);
}
END_TEST

START_TEST(redaction)
{
	const char *secret = "s3cr3t-t0ken-VALUE";

	aw_log_redact_add(secret);
	aw_log_redact_add("pa\"ss\\word");
	aw_log_redact_add("abc"); /* too short: would mask ordinary words */
	aw_log(AW_LOG_WARN, "auth", "token s3cr3t-t0ken-VALUE rejected",
	       AW_S("header", "Bearer s3cr3t-t0ken-VALUE"), AW_S("quoted", "x pa\"ss\\word y"),
	       AW_S("word", "abc"));
	aw_log_configure(AW_LOG_INFO, AW_LOG_JSON);
	aw_log(AW_LOG_WARN, "auth", "again", AW_S("s3cr3t-t0ken-VALUE", "key as well"));

	char *out = captured();
	ck_assert_ptr_null(strstr(out, "s3cr3t"));
	ck_assert_ptr_null(strstr(out, "ss\\\\word"));
	ck_assert_ptr_nonnull(strstr(out, "msg=\"token [REDACTED] rejected\" "
					  "header=\"Bearer [REDACTED]\" quoted=\"x [REDACTED] y\" "
					  "word=abc\n"));
	ck_assert_ptr_nonnull(strstr(out, "\"[REDACTED]\":\"key as well\""));
	free(out);

	/* Cleared: the value is an ordinary string again. */
	aw_log_redact_clear();
	aw_log(AW_LOG_WARN, "auth", "s3cr3t-t0ken-VALUE");
	out = captured();
	ck_assert_ptr_nonnull(strstr(out, "\"msg\":\"s3cr3t-t0ken-VALUE\""));
	free(out);
}
END_TEST

/* A secret cut by the line limit must not leave a readable prefix behind. */
START_TEST(redaction_at_truncation)
{
	char *big = malloc(20001);
	const char *secret = "ZZsecretZZ-0123456789";

	ck_assert_ptr_nonnull(big);
	aw_log_redact_add(secret);
	for (size_t off = 8100; off < 8200; off += 7) {
		memset(big, 'x', 20000);
		big[20000] = '\0';
		memcpy(big + off, secret, strlen(secret));
		aw_log(AW_LOG_INFO, "t", "m", AW_S("v", big));
	}
	char *out = captured();
	ck_assert_ptr_null(strstr(out, "ZZsecret"));
	ck_assert_ptr_null(strstr(out, "ZZsec"));
	free(out);
	free(big);
}
END_TEST

START_TEST(long_values_truncated)
{
	char *big = malloc(20001);

	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 20000);
	big[20000] = '\0';
	big[5] = ' ';
	aw_log(AW_LOG_INFO, "t", "m", AW_S("v", big), AW_S("after", "dropped"));
	char *out = captured();
	size_t n = strlen(out);
	ck_assert_uint_le(n, 8192);
	ck_assert_uint_eq(count_char(out, '\n'), 1);
	ck_assert_str_eq(out + n - 6, "a...\"\n");
	free(out);

	/* A later value that no longer fits is cut the same way. */
	big[5] = 'a';
	big[8100] = '\0';
	aw_log(AW_LOG_INFO, "t", "m", AW_S("v", big), AW_S("after", "a value too long to fit"));
	out = captured();
	n = strlen(out);
	ck_assert_uint_le(n, 8192);
	ck_assert_uint_eq(count_char(out, '\n'), 1);
	ck_assert_str_eq(out + n - 5, "...\"\n");
	free(out);

	/* A field whose key no longer fits is dropped, and the line says so. */
	aw_log(AW_LOG_INFO, "t", "m", AW_S("v", ""));
	out = captured();
	size_t base = strlen(out) - 1 - 2; /* without `""` and the newline */
	free(out);
	size_t vlen = 8180 - base;
	memset(big, 'a', 20000);
	big[vlen] = '\0';
	aw_log(AW_LOG_INFO, "t", "m", AW_S("v", big), AW_S("after", "x"));
	out = captured();
	n = strlen(out);
	ck_assert_uint_eq(n, 8180 + 5);
	ck_assert_str_eq(out + n - 6, "a ...\n");
	ck_assert_ptr_null(strstr(out, "after"));
	free(out);
	big[vlen] = 'a';

	/* JSON stays parseable. */
	big[8100] = 'a';
	aw_log_configure(AW_LOG_INFO, AW_LOG_JSON);
	aw_log(AW_LOG_INFO, "t", "m", AW_S("v", big), AW_I("after", 1));
	out = captured();
	ck_assert_uint_le(strlen(out), 8192);
	json_object *o = json_tokener_parse(out);
	ck_assert_msg(o != NULL, "truncated JSON line does not parse");
	json_object *v;
	ck_assert(json_object_object_get_ex(o, "v", &v));
	const char *s = json_object_get_string(v);
	ck_assert_str_eq(s + strlen(s) - 3, "...");
	json_object_put(o);
	free(out);
	free(big);
}
END_TEST

START_TEST(parse_names)
{
	enum aw_log_level l;
	enum aw_log_format f;

	ck_assert_int_eq(aw_log_level_parse("debug", &l), 0);
	ck_assert_int_eq(l, AW_LOG_DEBUG);
	ck_assert_int_eq(aw_log_level_parse("info", &l), 0);
	ck_assert_int_eq(l, AW_LOG_INFO);
	ck_assert_int_eq(aw_log_level_parse("notice", &l), 0);
	ck_assert_int_eq(l, AW_LOG_NOTICE);
	ck_assert_int_eq(aw_log_level_parse("warning", &l), 0);
	ck_assert_int_eq(l, AW_LOG_WARN);
	ck_assert_int_eq(aw_log_level_parse("error", &l), 0);
	ck_assert_int_eq(l, AW_LOG_ERR);
	ck_assert_int_eq(aw_log_level_parse("verbose", &l), -1);
	ck_assert_int_eq(aw_log_level_parse("", &l), -1);
	ck_assert_int_eq(aw_log_level_parse(NULL, &l), -1);

	ck_assert_int_eq(aw_log_format_parse("logfmt", &f), 0);
	ck_assert_int_eq(f, AW_LOG_LOGFMT);
	ck_assert_int_eq(aw_log_format_parse("json", &f), 0);
	ck_assert_int_eq(f, AW_LOG_JSON);
	ck_assert_int_eq(aw_log_format_parse("text", &f), -1);
	ck_assert_int_eq(aw_log_format_parse(NULL, &f), -1);
}
END_TEST

/* Logging must not clobber errno: callers log and then report strerror(errno). */
START_TEST(errno_preserved)
{
	errno = ENOENT;
	aw_log(AW_LOG_INFO, "t", "m");
	ck_assert_int_eq(errno, ENOENT);
	free(captured());
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, logfmt_line);
	tcase_add_test(tc, logfmt_escaping_keeps_one_line);
	tcase_add_test(tc, json_line);
	tcase_add_test(tc, threshold_filters);
	tcase_add_test(tc, journal_prefix);
	tcase_add_test(tc, redaction);
	tcase_add_test(tc, redaction_at_truncation);
	tcase_add_test(tc, long_values_truncated);
	tcase_add_test(tc, parse_names);
	tcase_add_test(tc, errno_preserved);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(log_suite)
