/* Helpers shared by the Check tests: scratch directories, files, and the runner.
 * Everything allocated here is freed by the caller with free(). */
#ifndef AW_TESTUTIL_H
#define AW_TESTUTIL_H

#include <check.h>
#include <curl/curl.h>
#include <stddef.h>
#include <sys/types.h>

/* mkdtemp under $TMPDIR (or /tmp); the path is malloc'd. Aborts the test on failure. */
char *aw_test_tmpdir(void);
/* Remove a directory tree (best effort). */
void aw_test_rmtree(const char *path);
/* Write `content` to dir/name (or name when dir is NULL) with `mode`; returns the
 * malloc'd full path. */
char *aw_test_write(const char *dir, const char *name, const char *content, mode_t mode);
/* Read a whole file, NUL-terminated, malloc'd; NULL when missing. */
char *aw_test_read(const char *path, size_t *len);
/* Path of a file in the source tree ($AW_SRCDIR/rel), malloc'd. */
char *aw_test_srcpath(const char *rel);
/* How many times needle occurs in hay (occurrences do not overlap). */
size_t aw_test_occurrences(const char *hay, const char *needle);
/* Value of the first line of a Prometheus text that is `series`, a space and a value
 * (series is the exact text up to the value), or -1 when there is none. */
double aw_test_metric_in(const char *text, const char *series);

/* Runs the suite with CK_FORK (unless CK_FORK=no), prints results, returns the exit
 * status for main(). */
int aw_test_run(Suite *s);

#define AW_TEST_MAIN(suite_fn)                                                             \
	int main(void)                                                                     \
	{                                                                                  \
		return aw_test_run(suite_fn());                                            \
	}

/* --- driving the real aiwatchd (integration tests) --------------------------------- */

struct aw_test_daemon {
	pid_t pid;
	char *log_path;      /* its stderr */
	unsigned port;       /* metrics port, parsed from the log; 0 until known */
};

/* Start $AIWATCHD with `args` (NULL-terminated, without argv[0]); stderr goes to
 * log_path. Does not wait for readiness. */
void aw_test_daemon_start(struct aw_test_daemon *d, const char *log_path, const char *const *args);
/* Wait until the log contains `needle` (up to timeout_ms); returns 1 if found. */
int aw_test_wait_log(const struct aw_test_daemon *d, const char *needle, int timeout_ms);
/* Wait for "metrics server listening" and parse port=N. Aborts the test on timeout. */
unsigned aw_test_daemon_port(struct aw_test_daemon *d);
/* Send sig; wait for exit up to timeout_ms; returns the exit status, or -1 on timeout
 * (then it is killed), or 128+signal when killed by a signal. */
int aw_test_daemon_stop(struct aw_test_daemon *d, int sig, int timeout_ms);
void aw_test_daemon_free(struct aw_test_daemon *d);

/* --- HTTP (blocking, libcurl, never through a proxy) ----------------------------------- */

struct aw_test_resp {
	CURLcode rc; /* of curl_easy_perform */
	long status; /* 0 when nothing was answered */
	char *body;  /* always allocated, NUL-terminated */
	size_t len;
	char *headers; /* the raw header lines, always allocated */
	size_t hlen;
	double secs; /* total time */
};

/* One request: `headers` is NULL-terminated ("Name: value") or NULL, `body` may be
 * NULL. Never asserts on the outcome: the caller looks at r->rc and r->status. */
void aw_test_http(const char *method, const char *url, const char *const *headers, const char *body,
		  long timeout_ms, struct aw_test_resp *r);
void aw_test_resp_free(struct aw_test_resp *r);
/* Value of response header `name` (the last one, any case), malloc'd; NULL when absent. */
char *aw_test_resp_header(const struct aw_test_resp *r, const char *name);

/* GET http://127.0.0.1:port/path; returns the HTTP status (0 on connection failure) and
 * the body (malloc'd) in *body when body is non-NULL. */
long aw_test_http_get(unsigned port, const char *path, char **body);
/* Value of the first metric line starting with `series` (e.g.
 * "aiwatch_events_total{input=\"in\"}"), or -1 when absent. */
double aw_test_metric(unsigned port, const char *series);

/* Lines in a file (0 when missing). */
size_t aw_test_count_lines(const char *path);
/* Wait until count_lines(path) >= n (up to timeout_ms); returns the last count. */
size_t aw_test_wait_lines(const char *path, size_t n, int timeout_ms);
/* Run $AIWATCHD with args (without argv[0], NULL-terminated) to completion; its
 * stdout and stderr together in *output (malloc'd). Returns the exit status. */
int aw_test_aiwatchd(const char *const *args, char **output);

/* Sleep in milliseconds. */
void aw_test_sleep_ms(int ms);

/* --- the Azure emulator (tests/azure-emulator, path in $AW_EMULATOR) ----------------- */

struct aw_test_emu {
	pid_t pid;
	unsigned port;
	char base[64]; /* "http://127.0.0.1:PORT" */
	char *dir;     /* its scratch directory (config, port file, log) */
};

/* Start the emulator with config_json (may be NULL); aborts the test when $AW_EMULATOR
 * is unset or it does not come up: without it an Azure test proves nothing. */
void aw_test_emu_start(struct aw_test_emu *e, const char *config_json);
/* SIGTERM, wait, remove its directory; asserts it exited 0 (no leak under ASan). */
void aw_test_emu_stop(struct aw_test_emu *e);
/* A blocking request to the emulator (control routes); returns the body (malloc'd)
 * and the status in *status. */
char *aw_test_emu_call(const struct aw_test_emu *e, const char *method, const char *path,
		       const char *body, long *status);
/* POST a control request and assert it was taken. */
void aw_test_emu_post(const struct aw_test_emu *e, const char *path, const char *json);
/* The control requests tests make most: a JSON merge patch of the config, a fault (or
 * an array of them) to queue, and a reset (request log and queued faults). */
void aw_test_emu_configure(const struct aw_test_emu *e, const char *patch);
void aw_test_emu_fault(const struct aw_test_emu *e, const char *fault);
void aw_test_emu_reset(const struct aw_test_emu *e);
/* GET a control route and assert 200; the body, malloc'd. */
char *aw_test_emu_get(const struct aw_test_emu *e, const char *path);
/* The request log: the entries whose path starts with prefix, as a JSON array (release
 * it with json_object_put). */
struct json_object;
struct json_object *aw_test_emu_request_log(const struct aw_test_emu *e, const char *prefix);
/* How many logged requests have a path that starts with prefix and, when part is not
 * NULL, contains part. */
size_t aw_test_emu_requests(const struct aw_test_emu *e, const char *prefix, const char *part);
/* A token from the managed identity endpoint (IMDS) at base for resource, malloc'd. */
char *aw_test_imds_token(const char *base, const char *resource);

/* --- configuration errors ------------------------------------------------------------ */

/* Load "state_directory: DIR\n" + body (written to DIR/aiwatchd.yaml) with the daemon's
 * loader; errs is emptied first and receives every error. The loader's return code. */
struct aw_error_list;
int aw_test_config_load(const char *dir, const char *body, struct aw_error_list *errs);
/* Fail unless an error holds a (and b, when not NULL); prints every error when none does. */
void aw_test_want_error(const struct aw_error_list *errs, const char *a, const char *b);
/* Fail when an error holds s (a secret must never reach a message). */
void aw_test_no_error_mentions(const struct aw_error_list *errs, const char *s);

#endif
