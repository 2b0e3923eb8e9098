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

#include <json-c/json.h>
#include <signal.h>
#include <strings.h>
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

/* --- HTTP -------------------------------------------------------------------------- */

/* No answer a test asks for comes near this: a runaway one fails the test. */
#define AW_TEST_HTTP_MAX_BYTES (256u * 1024 * 1024)

static size_t grow(char **buf, size_t *len, const char *p, size_t n)
{
	char *nb;

	ck_assert_msg(*len + n <= AW_TEST_HTTP_MAX_BYTES, "an HTTP answer of more than %u bytes",
		      AW_TEST_HTTP_MAX_BYTES);
	nb = realloc(*buf, *len + n + 1);
	ck_assert_ptr_nonnull(nb);
	*buf = nb;
	memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
	return n;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct aw_test_resp *r = ud;

	return grow(&r->body, &r->len, p, sz * n);
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct aw_test_resp *r = ud;

	return grow(&r->headers, &r->hlen, p, sz * n);
}

void aw_test_http(const char *method, const char *url, const char *const *headers, const char *body,
		  long timeout_ms, struct aw_test_resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;

	memset(r, 0, sizeof *r);
	ck_assert_ptr_nonnull(c);
	for (; headers && *headers; headers++)
		hl = curl_slist_append(hl, *headers);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	r->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->secs);
	if (!r->body)
		grow(&r->body, &r->len, "", 0);
	if (!r->headers)
		grow(&r->headers, &r->hlen, "", 0);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
}

void aw_test_resp_free(struct aw_test_resp *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof *r);
}

char *aw_test_resp_header(const struct aw_test_resp *r, const char *name)
{
	size_t nl = strlen(name);
	const char *line = r->headers;
	char *found = NULL;

	while (line && *line) {
		const char *end = strstr(line, "\r\n");
		size_t ll = end ? (size_t)(end - line) : strlen(line);

		if (ll > nl && !strncasecmp(line, name, nl) && line[nl] == ':') {
			const char *v = line + nl + 1;

			while (*v == ' ')
				v++;
			free(found);
			found = strndup(v, (size_t)(line + ll - v));
		}
		line = end ? end + 2 : NULL;
	}
	return found;
}

long aw_test_http_get(unsigned port, const char *path, char **body)
{
	char url[256];
	struct aw_test_resp r;
	long status;

	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
	aw_test_http("GET", url, NULL, NULL, 5000, &r);
	status = r.rc == CURLE_OK ? r.status : 0;
	if (body) {
		*body = r.body;
		r.body = NULL;
	}
	aw_test_resp_free(&r);
	return status;
}

double aw_test_metric_in(const char *text, const char *series)
{
	size_t sl = strlen(series);

	for (const char *line = text; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, series, sl) == 0 && line[sl] == ' ')
			return strtod(line + sl + 1, NULL);
	}
	return -1;
}

double aw_test_metric(unsigned port, const char *series)
{
	char *body = NULL;
	double v = -1;

	if (aw_test_http_get(port, "/metrics", &body) == 200)
		v = aw_test_metric_in(body, series);
	free(body);
	return v;
}

size_t aw_test_occurrences(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
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

char *aw_test_emu_call(const struct aw_test_emu *e, const char *method, const char *path,
		       const char *body, long *status)
{
	char url[1024];
	struct aw_test_resp r;
	char *answer;

	snprintf(url, sizeof url, "%s%s", e->base, path);
	aw_test_http(method, url, NULL, body, 10000, &r);
	ck_assert_int_eq(r.rc, CURLE_OK);
	if (status)
		*status = r.status;
	answer = r.body;
	r.body = NULL;
	aw_test_resp_free(&r);
	return answer;
}

void aw_test_emu_post(const struct aw_test_emu *e, const char *path, const char *json)
{
	long st = 0;
	char *r = aw_test_emu_call(e, "POST", path, json, &st);

	ck_assert_msg(st == 200, "POST %s refused (%ld): %s", path, st, r);
	free(r);
}

void aw_test_emu_configure(const struct aw_test_emu *e, const char *patch)
{
	aw_test_emu_post(e, "/_emulator/config", patch);
}

void aw_test_emu_fault(const struct aw_test_emu *e, const char *fault)
{
	aw_test_emu_post(e, "/_emulator/faults", fault);
}

void aw_test_emu_reset(const struct aw_test_emu *e)
{
	aw_test_emu_post(e, "/_emulator/reset", "");
}

char *aw_test_emu_get(const struct aw_test_emu *e, const char *path)
{
	long st = 0;
	char *r = aw_test_emu_call(e, "GET", path, NULL, &st);

	ck_assert_msg(st == 200, "GET %s -> %ld %s", path, st, r);
	return r;
}

json_object *aw_test_emu_request_log(const struct aw_test_emu *e, const char *prefix)
{
	char path[512];
	char *text;
	json_object *log;

	snprintf(path, sizeof path, "/_emulator/requests?path=%s", prefix);
	text = aw_test_emu_get(e, path);
	log = json_tokener_parse(text);
	ck_assert_msg(log && json_object_is_type(log, json_type_array),
		      "the request log is not a JSON array: %s", text);
	free(text);
	return log;
}

size_t aw_test_emu_requests(const struct aw_test_emu *e, const char *prefix, const char *part)
{
	json_object *log = aw_test_emu_request_log(e, prefix), *p;
	size_t n = 0;

	for (size_t i = 0; i < json_object_array_length(log); i++) {
		json_object *entry = json_object_array_get_idx(log, i);
		if (!part || (json_object_object_get_ex(entry, "path", &p) &&
			      strstr(json_object_get_string(p), part)))
			n++;
	}
	json_object_put(log);
	return n;
}

char *aw_test_imds_token(const char *base, const char *resource)
{
	static const char *const meta[] = {"Metadata: true", NULL};
	char *esc = curl_easy_escape(NULL, resource, 0), url[1024], *tok;
	struct aw_test_resp r;
	json_object *j, *v;

	ck_assert_ptr_nonnull(esc);
	snprintf(url, sizeof url,
		 "%s/metadata/identity/oauth2/token?api-version=2018-02-01&resource=%s", base, esc);
	curl_free(esc);
	aw_test_http("GET", url, meta, NULL, 30000, &r);
	ck_assert_msg(r.rc == CURLE_OK && r.status == 200, "IMDS token for %s: %ld %s", resource,
		      r.status, r.body);
	j = json_tokener_parse(r.body);
	ck_assert_msg(j && json_object_object_get_ex(j, "access_token", &v),
		      "no access_token in the IMDS answer");
	tok = strdup(json_object_get_string(v));
	ck_assert_ptr_nonnull(tok);
	json_object_put(j);
	aw_test_resp_free(&r);
	return tok;
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

/* --- configuration errors ------------------------------------------------------------ */

#include "config.h"

int aw_test_config_load(const char *dir, const char *body, struct aw_error_list *errs)
{
	struct aw_config *cfg = NULL;
	char *yaml, *path;
	int rc;

	aw_error_list_free(errs);
	memset(errs, 0, sizeof *errs);
	ck_assert_int_ge(asprintf(&yaml, "state_directory: %s\n%s", dir, body), 0);
	path = aw_test_write(dir, "aiwatchd.yaml", yaml, 0600);
	rc = aw_config_load(path, &cfg, errs);
	aw_config_free(cfg);
	free(yaml);
	free(path);
	return rc;
}

void aw_test_want_error(const struct aw_error_list *errs, const char *a, const char *b)
{
	for (size_t i = 0; i < errs->n; i++)
		if (strstr(errs->msgs[i], a) && (!b || strstr(errs->msgs[i], b)))
			return;
	for (size_t i = 0; i < errs->n; i++)
		fprintf(stderr, "error: %s\n", errs->msgs[i]);
	ck_abort_msg("no error with '%s' and '%s'", a, b ? b : "");
}

void aw_test_no_error_mentions(const struct aw_error_list *errs, const char *s)
{
	for (size_t i = 0; i < errs->n; i++)
		ck_assert_msg(!strstr(errs->msgs[i], s), "leaked into: %s", errs->msgs[i]);
}
