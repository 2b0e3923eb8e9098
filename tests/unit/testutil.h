/* Helpers shared by the Check tests: scratch directories, files, and the runner.
 * Everything allocated here is freed by the caller with free(). */
#ifndef AW_TESTUTIL_H
#define AW_TESTUTIL_H

#include <check.h>
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

#endif
