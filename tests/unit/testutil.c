/* Helpers shared by the Check tests. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *aw_test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&p, "%s/aiwatch-test-XXXXXX", base) < 0)
		ck_abort_msg("asprintf");
	if (!mkdtemp(p))
		ck_abort_msg("mkdtemp %s: %s", p, strerror(errno));
	return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void aw_test_rmtree(const char *path)
{
	if (path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *aw_test_write(const char *dir, const char *name, const char *content, mode_t mode)
{
	char *p;
	int fd;
	size_t len = strlen(content);

	if (dir) {
		if (asprintf(&p, "%s/%s", dir, name) < 0)
			ck_abort_msg("asprintf");
	} else {
		p = strdup(name);
		ck_assert_ptr_nonnull(p);
	}
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		ck_abort_msg("open %s: %s", p, strerror(errno));
	if (fchmod(fd, mode) != 0 || write(fd, content, len) != (ssize_t)len)
		ck_abort_msg("write %s: %s", p, strerror(errno));
	close(fd);
	return p;
}

char *aw_test_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

char *aw_test_srcpath(const char *rel)
{
	const char *src = getenv("AW_SRCDIR");
	char *p;

	if (asprintf(&p, "%s/%s", src ? src : ".", rel) < 0)
		ck_abort_msg("asprintf");
	return p;
}

int aw_test_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* --- driving the real aiwatchd ------------------------------------------------------ */

#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

void aw_test_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void aw_test_daemon_start(struct aw_test_daemon *d, const char *log_path, const char *const *args)
{
	const char *bin = getenv("AIWATCHD");
	const char *argv[32];
	size_t n = 0;

	ck_assert_msg(bin && *bin, "AIWATCHD is not set (run through meson test)");
	argv[n++] = bin;
	for (size_t i = 0; args && args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	memset(d, 0, sizeof *d);
	d->log_path = strdup(log_path);
	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0)
			_exit(127);
		dup2(fd, 2);
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
}

int aw_test_wait_log(const struct aw_test_daemon *d, const char *needle, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		char *log = aw_test_read(d->log_path, NULL);
		int found = log && strstr(log, needle) != NULL;
		free(log);
		if (found)
			return 1;
		aw_test_sleep_ms(20);
	}
	return 0;
}

unsigned aw_test_daemon_port(struct aw_test_daemon *d)
{
	char *log, *p;

	if (d->port)
		return d->port;
	if (!aw_test_wait_log(d, "metrics server listening", 10000)) {
		log = aw_test_read(d->log_path, NULL);
		ck_abort_msg("daemon did not start its metrics server; log:\n%s", log ? log : "");
	}
	log = aw_test_read(d->log_path, NULL);
	p = strstr(log, "metrics server listening");
	p = p ? strstr(p, "port=") : NULL;
	ck_assert_ptr_nonnull(p);
	d->port = (unsigned)strtoul(p + 5, NULL, 10);
	free(log);
	return d->port;
}

int aw_test_daemon_stop(struct aw_test_daemon *d, int sig, int timeout_ms)
{
	int status;

	if (d->pid <= 0)
		return -1;
	if (sig)
		kill(d->pid, sig);
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		pid_t r = waitpid(d->pid, &status, WNOHANG);
		if (r == d->pid) {
			d->pid = 0;
			if (WIFEXITED(status))
				return WEXITSTATUS(status);
			return 128 + WTERMSIG(status);
		}
		aw_test_sleep_ms(20);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
	return -1;
}

void aw_test_daemon_free(struct aw_test_daemon *d)
{
	if (d->pid > 0)
		aw_test_daemon_stop(d, SIGKILL, 2000);
	free(d->log_path);
	d->log_path = NULL;
}

struct body_buf {
	char *p;
	size_t n;
};

static size_t body_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct body_buf *b = ud;
	size_t len = size * nmemb;
	char *np = realloc(b->p, b->n + len + 1);

	if (!np)
		return 0;
	memcpy(np + b->n, data, len);
	b->n += len;
	np[b->n] = '\0';
	b->p = np;
	return len;
}

long aw_test_http_get(unsigned port, const char *path, char **body)
{
	char url[256];
	struct body_buf b = {0};
	long status = 0;
	CURL *c = curl_easy_init();

	ck_assert_ptr_nonnull(c);
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (body)
		*body = b.p ? b.p : strdup("");
	else
		free(b.p);
	return status;
}

double aw_test_metric(unsigned port, const char *series)
{
	char *body = NULL, *line;
	double v = -1;
	size_t sl = strlen(series);

	if (aw_test_http_get(port, "/metrics", &body) != 200) {
		free(body);
		return -1;
	}
	for (line = body; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, series, sl) == 0 && line[sl] == ' ') {
			v = strtod(line + sl + 1, NULL);
			break;
		}
	}
	free(body);
	return v;
}

size_t aw_test_count_lines(const char *path)
{
	size_t len, n = 0;
	char *s = aw_test_read(path, &len);

	if (!s)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\n')
			n++;
	free(s);
	return n;
}

size_t aw_test_wait_lines(const char *path, size_t n, int timeout_ms)
{
	size_t got = 0;

	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		got = aw_test_count_lines(path);
		if (got >= n)
			return got;
		aw_test_sleep_ms(20);
	}
	return got;
}

/* --- the Azure emulator ----------------------------------------------------------- */

void aw_test_emu_start(struct aw_test_emu *e, const char *config_json)
{
	const char *bin = getenv("AW_EMULATOR");
	char portfile[512], cfgpath[512], logpath[512];
	char *txt = NULL;

	memset(e, 0, sizeof *e);
	ck_assert_msg(bin && *bin, "AW_EMULATOR is not set (run the test through meson test)");
	ck_assert_msg(access(bin, X_OK) == 0, "AW_EMULATOR=%s is not executable", bin);
	e->dir = aw_test_tmpdir();
	snprintf(portfile, sizeof portfile, "%s/port", e->dir);
	snprintf(cfgpath, sizeof cfgpath, "%s/emu.json", e->dir);
	snprintf(logpath, sizeof logpath, "%s/emu.log", e->dir);
	free(aw_test_write(e->dir, "emu.json", config_json ? config_json : "{}", 0600));
	e->pid = fork();
	ck_assert_int_ge(e->pid, 0);
	if (e->pid == 0) {
		if (!freopen(logpath, "w", stderr))
			_exit(126);
		execl(bin, bin, "--listen", "127.0.0.1:0", "--port-file", portfile, "--config",
		      cfgpath, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000 && !(txt = aw_test_read(portfile, NULL)); i++)
		aw_test_sleep_ms(10);
	ck_assert_msg(txt != NULL, "the emulator did not start (see %s)", logpath);
	e->port = (unsigned)strtoul(txt, NULL, 10);
	free(txt);
	ck_assert_uint_gt(e->port, 0);
	snprintf(e->base, sizeof e->base, "http://127.0.0.1:%u", e->port);
}

void aw_test_emu_stop(struct aw_test_emu *e)
{
	int st = 0;

	if (e->pid > 0) {
		kill(e->pid, SIGTERM);
		waitpid(e->pid, &st, 0);
		e->pid = 0;
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "the emulator did not exit cleanly (status %d)", st);
	}
	if (e->dir) {
		aw_test_rmtree(e->dir);
		free(e->dir);
		e->dir = NULL;
	}
}

struct emu_buf {
	char *p;
	size_t n;
};

static size_t emu_body(char *data, size_t sz, size_t nm, void *ud)
{
	struct emu_buf *b = ud;
	char *np = realloc(b->p, b->n + sz * nm + 1);

	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, data, sz * nm);
	b->n += sz * nm;
	b->p[b->n] = '\0';
	return sz * nm;
}

char *aw_test_emu_call(const struct aw_test_emu *e, const char *method, const char *path,
		       const char *body, long *status)
{
	CURL *c = curl_easy_init();
	struct emu_buf b = {calloc(1, 1), 0};
	char url[1024];
	long st = 0;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(b.p);
	snprintf(url, sizeof url, "%s%s", e->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, emu_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	curl_easy_cleanup(c);
	if (status)
		*status = st;
	return b.p;
}

/* --- running aiwatchd to completion ---------------------------------------------- */

int aw_test_aiwatchd(const char *const *args, char **output)
{
	const char *bin = getenv("AIWATCHD");
	const char *argv[16] = {bin};
	int pipefd[2], status;
	size_t n = 1;

	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while ((r = read(pipefd[0], buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	buf[len] = '\0';
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	*output = buf;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
