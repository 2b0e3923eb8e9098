/* The Containerfile and the Kubernetes manifests (conf/k8s/) agree with the daemon.
 *
 * No container engine or cluster is needed: the files are parsed (YAML with the
 * daemon's own loader, the Containerfile line by line), the aiwatchd.yaml each one
 * ships is extracted and given to the real `aiwatchd check` with the environment the
 * image or the pod would give it, and what must match is compared: probes on
 * /healthz and /readyz at the port http_listen names, scrape annotations, the
 * non-root uid, the state directory on a writable volume, a read-only root that
 * nothing else needs to write, the packages the build and the binary need, and a
 * build context (.dockerignore) from which the Containerfile's meson setup works.
 *
 * Paths inside the image are mapped to this machine only where the image's files
 * come from this tree: /usr/share/aiwatch/rules (meson install with --prefix=/usr) is
 * conf/rules, and a rules directory the Containerfile creates empty is an empty
 * directory. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/testutil.h"
#include "config.h"

#define IMAGE_RULESDIR "/usr/share/aiwatch/rules"
#define IMAGE_BINARY   "/usr/sbin/aiwatchd"
#define IMAGE_CONFIG   "/etc/aiwatch/aiwatchd.yaml" /* AW_DEFAULT_CONFIG for prefix /usr */
#define MAX_ITEMS      128

/* --- small helpers ----------------------------------------------------------------- */

struct kv {
	char *k[MAX_ITEMS];
	char *v[MAX_ITEMS];
	size_t n;
};

static void kv_set(struct kv *m, const char *k, size_t klen, const char *v, size_t vlen)
{
	for (size_t i = 0; i < m->n; i++) {
		if (strlen(m->k[i]) == klen && strncmp(m->k[i], k, klen) == 0) {
			free(m->v[i]);
			m->v[i] = strndup(v, vlen);
			return;
		}
	}
	ck_assert_uint_lt(m->n, MAX_ITEMS);
	m->k[m->n] = strndup(k, klen);
	m->v[m->n++] = strndup(v, vlen);
}

static const char *kv_get(const struct kv *m, const char *k)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->k[i], k) == 0)
			return m->v[i];
	return NULL;
}

static void kv_free(struct kv *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->k[i]);
		free(m->v[i]);
	}
	m->n = 0;
}

/* Every occurrence of `from` in s replaced by `to`; malloc'd. */
static char *replace_all(const char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	const char *p;
	char *out, *o;

	for (p = s; (p = strstr(p, from)) != NULL; p += fl)
		n++;
	out = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1);
	ck_assert_ptr_nonnull(out);
	for (o = out, p = s;;) {
		const char *hit = strstr(p, from);
		size_t len = hit ? (size_t)(hit - p) : strlen(p);
		memcpy(o, p, len);
		o += len;
		if (!hit)
			break;
		memcpy(o, to, tl);
		o += tl;
		p = hit + fl;
	}
	*o = '\0';
	return out;
}

/* A node by a path of map keys (keys may hold dots, as label names do). */
__attribute__((sentinel)) static const struct aw_node *nget(const struct aw_node *n, ...)
{
	va_list ap;
	const char *k;

	va_start(ap, n);
	while (n && (k = va_arg(ap, const char *)) != NULL)
		n = n->kind == AW_NODE_MAP ? aw_node_get(n, k) : NULL;
	va_end(ap);
	return n;
}

static const char *scalar(const struct aw_node *n)
{
	return n && n->kind == AW_NODE_SCALAR ? n->value : NULL;
}

/* A whole decimal number, or -1. */
static long long num(const char *s)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno || *end ? -1 : v;
}

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* "20s", "1m30s", "500ms" -> milliseconds; -1 when not such a duration. */
static long long duration_ms(const char *s)
{
	long long total = 0;

	if (!s || !*s)
		return -1;
	while (*s) {
		char *end;
		long long v;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno || end == s)
			return -1;
		if (strncmp(end, "ms", 2) == 0)
			total += v, s = end + 2;
		else if (*end == 's')
			total += v * 1000, s = end + 1;
		else if (*end == 'm')
			total += v * 60000, s = end + 1;
		else if (*end == 'h')
			total += v * 3600000, s = end + 1;
		else
			return -1;
	}
	return total;
}

static void clear_identity_env(void)
{
	static const char *const vars[] = {
	    "AZURE_TENANT_ID",
	    "AZURE_CLIENT_ID",
	    "AZURE_CLIENT_SECRET",
	    "AZURE_CLIENT_CERTIFICATE_PATH",
	    "AZURE_FEDERATED_TOKEN_FILE",
	    "AZURE_AUTHORITY_HOST",
	    "IDENTITY_ENDPOINT",
	    "IDENTITY_HEADER",
	    "CREDENTIALS_DIRECTORY",
	};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	/* and every AIWATCH_* the developer's shell may have */
	for (;;) {
		extern char **environ;
		char name[256] = "";
		for (char **e = environ; *e; e++)
			if (strncmp(*e, "AIWATCH_", 8) == 0) {
				size_t len = strcspn(*e, "=");
				if (len < sizeof name) {
					memcpy(name, *e, len);
					name[len] = '\0';
				}
				break;
			}
		if (!name[0])
			break;
		unsetenv(name);
	}
}

/* --- the configuration a file ships -------------------------------------------------- */

struct shipped {
	char *dir;	    /* scratch */
	char *text;	    /* the aiwatchd.yaml as shipped */
	struct aw_doc *doc; /* parsed with the environment applied */
	unsigned port;
	char host[64];
};

/* Apply env, parse the configuration (expanding ${VAR}) and read http_listen. */
static void shipped_parse(struct shipped *s, const char *what, const struct kv *env)
{
	struct aw_error_list errs = {0};
	const char *listen, *colon;

	clear_identity_env();
	for (size_t i = 0; i < env->n; i++)
		setenv(env->k[i], env->v[i], 1);
	ck_assert_msg(aw_doc_load_buffer(what, s->text, strlen(s->text), &s->doc, &errs) == 0,
		      "%s: %s", what, errs.n ? errs.msgs[0] : "does not parse");
	aw_error_list_free(&errs);
	listen = scalar(nget(s->doc->root, "http_listen", NULL));
	ck_assert_msg(listen && (colon = strrchr(listen, ':')) != NULL,
		      "%s: http_listen must be set to address:port for the probes", what);
	s->port = (unsigned)strtoul(colon + 1, NULL, 10);
	snprintf(s->host, sizeof s->host, "%.*s", (int)(colon - listen), listen);
	ck_assert_msg(s->port > 0, "%s: http_listen %s has no port", what, listen);
	ck_assert_msg(strcmp(s->host, "127.0.0.1") != 0 && strcmp(s->host, "localhost") != 0 &&
			  strcmp(s->host, "[::1]") != 0,
		      "%s: http_listen %s is loopback: probes and scrapers come from outside", what,
		      listen);
}

/* `aiwatchd check` on the shipped text, the image's rule pack mapped to conf/rules
 * and each of `empty_dirs` to an empty scratch directory. */
static void shipped_check(struct shipped *s, const char *what, const char *const *empty_dirs)
{
	char *rules = aw_test_srcpath("conf/rules"), *text, *path, *out = NULL;
	int rc;

	text = replace_all(s->text, IMAGE_RULESDIR, rules);
	for (size_t i = 0; empty_dirs && empty_dirs[i]; i++) {
		char *local, *next;
		ck_assert_int_ge(asprintf(&local, "%s/empty%zu", s->dir, i), 0);
		ck_assert_int_eq(mkdir(local, 0700), 0);
		next = replace_all(text, empty_dirs[i], local);
		free(text);
		free(local);
		text = next;
	}
	path = aw_test_write(s->dir, "aiwatchd.yaml", text, 0640);
	const char *args[] = {"check", "--config", path, NULL};
	rc = aw_test_aiwatchd(args, &out);
	ck_assert_msg(rc == 0 && strstr(out, "configuration OK"),
		      "aiwatchd check rejects the configuration of %s (exit %d):\n%s", what, rc,
		      out);
	printf("%s: %s", what, out);
	free(out);
	free(path);
	free(text);
	free(rules);
}

static void shipped_free(struct shipped *s)
{
	aw_doc_free(s->doc);
	free(s->text);
	if (s->dir) {
		aw_test_rmtree(s->dir);
		free(s->dir);
	}
	memset(s, 0, sizeof *s);
}

/* --- the Containerfile ----------------------------------------------------------- */

struct instr {
	char *op;   /* upper case: FROM, RUN, ... */
	char *args; /* the rest, continuation lines joined */
};

struct stage {
	char *image, *alias;
	struct instr ins[MAX_ITEMS];
	size_t n;
};

struct containerfile {
	struct stage st[8];
	size_t n;
};

static void cf_add(struct containerfile *cf, const char *line)
{
	const char *sp;
	struct instr in;

	while (isspace((unsigned char)*line))
		line++;
	if (!*line || *line == '#')
		return;
	sp = line + strcspn(line, " \t");
	in.op = strndup(line, (size_t)(sp - line));
	for (char *c = in.op; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	while (isspace((unsigned char)*sp))
		sp++;
	in.args = strdup(sp);
	if (strcmp(in.op, "FROM") == 0) {
		struct stage *s;
		char *as;
		ck_assert_uint_lt(cf->n, sizeof cf->st / sizeof cf->st[0]);
		s = &cf->st[cf->n++];
		memset(s, 0, sizeof *s);
		as = strstr(in.args, " AS ");
		if (!as)
			as = strstr(in.args, " as ");
		s->image = strndup(in.args, as ? (size_t)(as - in.args) : strcspn(in.args, " "));
		s->alias = as ? strdup(as + 4) : NULL;
		free(in.op);
		free(in.args);
		return;
	}
	ck_assert_msg(cf->n > 0, "Containerfile: %s before FROM", in.op);
	ck_assert_uint_lt(cf->st[cf->n - 1].n, MAX_ITEMS);
	cf->st[cf->n - 1].ins[cf->st[cf->n - 1].n++] = in;
}

/* Lines ending in a backslash continue; comment lines inside a continuation are
 * dropped, as the Dockerfile syntax says. */
static void cf_load(struct containerfile *cf, const char *text)
{
	char *buf = malloc(strlen(text) + 1), *o = buf;
	const char *p = text;

	ck_assert_ptr_nonnull(buf);
	memset(cf, 0, sizeof *cf);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *t = p;
		while (t < p + len && isspace((unsigned char)*t))
			t++;
		bool comment = *t == '#';
		if (!(comment && o != buf)) {
			bool cont = len > 0 && p[len - 1] == '\\';
			if (!comment || o == buf) {
				memcpy(o, p, cont ? len - 1 : len);
				o += cont ? len - 1 : len;
			}
			if (!cont || comment) {
				*o = '\0';
				cf_add(cf, buf);
				o = buf;
			} else {
				*o++ = ' ';
			}
		}
		p = nl ? nl + 1 : p + len;
	}
	*o = '\0';
	cf_add(cf, buf);
	free(buf);
}

static void cf_free(struct containerfile *cf)
{
	for (size_t i = 0; i < cf->n; i++) {
		for (size_t j = 0; j < cf->st[i].n; j++) {
			free(cf->st[i].ins[j].op);
			free(cf->st[i].ins[j].args);
		}
		free(cf->st[i].image);
		free(cf->st[i].alias);
	}
	cf->n = 0;
}

/* Words of the `apt-get install` commands of a stage's RUN lines. */
static void cf_packages(const struct stage *s, struct kv *pkgs)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *p;
		if (strcmp(s->ins[i].op, "RUN") != 0)
			continue;
		for (p = s->ins[i].args; (p = strstr(p, "apt-get install")) != NULL;) {
			p += strlen("apt-get install");
			for (;;) {
				while (*p == ' ' || *p == '\t')
					p++;
				size_t len = strcspn(p, " \t");
				if (len == 0 || strncmp(p, "&&", 2) == 0 || *p == ';' || *p == '|')
					break;
				if (*p != '-')
					kv_set(pkgs, p, len, "", 0);
				p += len;
			}
		}
	}
}

/* ENV KEY=VALUE [KEY=VALUE...] and ENV KEY VALUE; quotes removed. */
static void cf_env(const struct stage *s, struct kv *env)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *p = s->ins[i].args;
		if (strcmp(s->ins[i].op, "ENV") != 0)
			continue;
		if (!strchr(p, '=')) {
			size_t kl = strcspn(p, " \t");
			const char *v = p + kl;
			while (*v == ' ')
				v++;
			kv_set(env, p, kl, v, strlen(v));
			continue;
		}
		while (*p) {
			while (*p == ' ' || *p == '\t')
				p++;
			const char *eq = strchr(p, '=');
			if (!eq)
				break;
			const char *v = eq + 1, *ve;
			if (*v == '"') {
				ve = strchr(++v, '"');
				ck_assert_ptr_nonnull(ve);
				kv_set(env, p, (size_t)(eq - p), v, (size_t)(ve - v));
				p = ve + 1;
			} else {
				ve = v + strcspn(v, " \t");
				kv_set(env, p, (size_t)(eq - p), v, (size_t)(ve - v));
				p = ve;
			}
		}
	}
}

static const char *cf_last(const struct stage *s, const char *op)
{
	const char *found = NULL;

	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->ins[i].op, op) == 0)
			found = s->ins[i].args;
	return found;
}

/* The JSON-array (exec form) words of ENTRYPOINT or CMD. */
static size_t exec_words(const char *args, char words[][256], size_t max)
{
	size_t n = 0;
	const char *p = args;

	ck_assert_msg(args && *args == '[', "ENTRYPOINT and CMD must use the exec form [...]: %s",
		      args ? args : "(missing)");
	while (n < max && (p = strchr(p, '"')) != NULL) {
		const char *e = strchr(p + 1, '"');
		ck_assert_ptr_nonnull(e);
		snprintf(words[n++], 256, "%.*s", (int)(e - p - 1), p + 1);
		p = e + 1;
	}
	return n;
}

/* Expand $VAR and ${VAR} from env (unknown ones stay). malloc'd. */
static char *expand(const char *s, const struct kv *env)
{
	char *out = strdup(s);

	for (size_t i = 0; i < env->n; i++) {
		char pat[300], *next;
		snprintf(pat, sizeof pat, "${%s}", env->k[i]);
		next = replace_all(out, pat, env->v[i]);
		free(out);
		snprintf(pat, sizeof pat, "$%s", env->k[i]);
		out = replace_all(next, pat, env->v[i]);
		free(next);
	}
	return out;
}

/* --- .dockerignore ------------------------------------------------------------------ */

struct ignore {
	char *pat[MAX_ITEMS];
	size_t n;
};

static void ignore_load(struct ignore *ig)
{
	char *path = aw_test_srcpath(".dockerignore"), *text = aw_test_read(path, NULL), *line;

	ck_assert_msg(text != NULL, "no .dockerignore: the build context would hold build/");
	memset(ig, 0, sizeof *ig);
	for (line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		while (*line == ' ')
			line++;
		if (*line && *line != '#') {
			if (strncmp(line, "./", 2) == 0)
				line += 2;
			else if (*line == '/')
				line++;
			ck_assert_uint_lt(ig->n, MAX_ITEMS);
			ig->pat[ig->n++] = strdup(line);
		}
		line = nl ? nl + 1 : NULL;
	}
	free(text);
	free(path);
}

static bool ignore_one(const char *pat, const char *rel)
{
	const char *base = strrchr(rel, '/');

	if (strncmp(pat, "**/", 3) == 0)
		return fnmatch(pat + 3, base ? base + 1 : rel, 0) == 0 ||
		       fnmatch(pat + 3, rel, FNM_PATHNAME) == 0;
	return fnmatch(pat, rel, FNM_PATHNAME) == 0;
}

/* Docker's rule: the last matching pattern wins; "!" re-includes. */
static bool ignored(const struct ignore *ig, const char *rel)
{
	bool out = false;

	for (size_t i = 0; i < ig->n; i++) {
		bool neg = ig->pat[i][0] == '!';
		if (ignore_one(ig->pat[i] + (neg ? 1 : 0), rel))
			out = !neg;
	}
	return out;
}

/* A path is out of the context when it or a directory above it is ignored. */
static bool ignored_path(const struct ignore *ig, const char *rel)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof buf, "%s", rel);
	for (char *slash = buf; (slash = strchr(slash, '/')) != NULL; slash++) {
		*slash = '\0';
		if (ignored(ig, buf))
			return true;
		*slash = '/';
	}
	return ignored(ig, buf);
}

static void ignore_free(struct ignore *ig)
{
	for (size_t i = 0; i < ig->n; i++)
		free(ig->pat[i]);
	ig->n = 0;
}

/* The build context as the builder sees it: a tree of symlinks to what is not
 * ignored (directories that are ignored are not entered). */
static void context_copy(const struct ignore *ig, const char *src, const char *dst, const char *rel)
{
	DIR *d = opendir(src);
	struct dirent *de;

	ck_assert_msg(d != NULL, "%s: %s", src, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char *s, *t, *r;
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		ck_assert_int_ge(asprintf(&s, "%s/%s", src, de->d_name), 0);
		ck_assert_int_ge(asprintf(&t, "%s/%s", dst, de->d_name), 0);
		ck_assert_int_ge(asprintf(&r, "%s%s%s", rel, *rel ? "/" : "", de->d_name), 0);
		if (!ignored(ig, r) && lstat(s, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				ck_assert_int_eq(mkdir(t, 0700), 0);
				context_copy(ig, s, t, r);
			} else {
				ck_assert_int_eq(symlink(s, t), 0);
			}
		}
		free(s);
		free(t);
		free(r);
	}
	closedir(d);
}

/* --- shared by both halves --------------------------------------------------------- */

static char *read_src(const char *rel)
{
	char *p = aw_test_srcpath(rel), *t = aw_test_read(p, NULL);

	ck_assert_msg(t != NULL, "cannot read %s", p);
	free(p);
	return t;
}

static void load_containerfile(struct containerfile *cf)
{
	char *text = read_src("Containerfile");

	cf_load(cf, text);
	free(text);
	ck_assert_msg(cf->n >= 2, "the Containerfile must have a build and a runtime stage");
}

/* USER of the runtime stage: numeric uid and gid, not root. */
static void image_user(const struct containerfile *cf, long *uid, long *gid)
{
	const char *user = cf_last(&cf->st[cf->n - 1], "USER");
	char *end;

	ck_assert_msg(user != NULL, "the runtime stage has no USER: it would run as root");
	*uid = strtol(user, &end, 10);
	ck_assert_msg(end != user && (*end == ':' || *end == '\0'),
		      "USER %s: use a numeric uid so runAsNonRoot can verify it", user);
	ck_assert_msg(*uid > 0, "USER %s is root", user);
	*gid = *end == ':' ? strtol(end + 1, NULL, 10) : *uid;
}

START_TEST(containerfile_builds_what_the_daemon_needs)
{
	struct containerfile cf;
	struct kv pkgs = {0}, needed = {0};
	const struct stage *build, *run;
	char *boot = read_src("scripts/bootstrap"), *p;
	/* bootstrap packages the image build does not need: the second compiler and
	 * its sanitizer runtime, the test framework, and tools the tests use */
	static const char *const test_only[] = {
	    "clang", "libclang-rt-14-dev", "check", "curl", "systemd", "chromium", NULL};

	load_containerfile(&cf);
	build = &cf.st[0];
	run = &cf.st[cf.n - 1];
	ck_assert_msg(strncmp(build->image, "debian:12", 9) == 0, "build stage FROM %s",
		      build->image);
	ck_assert_msg(str_eq(run->image, "debian:12-slim"),
		      "runtime stage FROM %s, want "
		      "debian:12-slim",
		      run->image);

	/* Build stage: every package scripts/bootstrap installs to build. */
	cf_packages(build, &pkgs);
	p = strstr(boot, "packages=(");
	ck_assert_msg(p != NULL, "scripts/bootstrap has no packages=( list");
	for (p += 10; *p && *p != ')';) {
		if (*p == '#') {
			p += strcspn(p, "\n");
			continue;
		}
		if (isspace((unsigned char)*p)) {
			p++;
			continue;
		}
		size_t len = strcspn(p, " \t\n)#");
		char *name = strndup(p, len);
		bool skip = false;
		for (size_t i = 0; test_only[i]; i++)
			skip |= strcmp(test_only[i], name) == 0;
		ck_assert_msg(skip || kv_get(&pkgs, name),
			      "scripts/bootstrap installs %s; the Containerfile's build stage does "
			      "not",
			      name);
		free(name);
		p += len;
	}

	/* Runtime stage: the package of every shared library aiwatchd links (what ldd
	 * resolves its NEEDED entries to, owned per dpkg), except the C library and
	 * libgcc that every Debian image has. */
	cf_packages(run, &pkgs);
	if (system("command -v dpkg-query >/dev/null && command -v readelf >/dev/null") != 0) {
		printf("dpkg-query or readelf missing: runtime libraries not checked\n");
	} else {
		char cmd[PATH_MAX + 64], line[1024];
		FILE *f;
		snprintf(cmd, sizeof cmd, "ldd '%s'", getenv("AIWATCHD"));
		f = popen(cmd, "r");
		ck_assert_ptr_nonnull(f);
		while (fgets(line, sizeof line, f)) {
			char lib[256], path[768];
			if (sscanf(line, " %255s => %767s", lib, path) == 2 && path[0] == '/')
				kv_set(&needed, lib, strlen(lib), path, strlen(path));
		}
		pclose(f);
		/* One dpkg-query for every path, as is and under /usr (merged /usr: dpkg
		 * may know a library under /usr/lib only); "pkg:arch: path" lines. */
		struct kv owner = {0};
		char *q = strdup("dpkg-query -S"), *nq;
		for (size_t i = 0; i < needed.n; i++) {
			ck_assert_int_ge(
			    asprintf(&nq, "%s '%s' '/usr%s'", q, needed.v[i], needed.v[i]), 0);
			free(q);
			q = nq;
		}
		ck_assert_int_ge(asprintf(&nq, "%s 2>/dev/null", q), 0);
		free(q);
		f = popen(nq, "r");
		ck_assert_ptr_nonnull(f);
		while (fgets(line, sizeof line, f)) {
			char *colon = strchr(line, ':'), *path = strstr(line, ": /");
			if (!colon || !path)
				continue;
			path += 2;
			path[strcspn(path, "\n")] = '\0';
			if (strncmp(path, "/usr/", 5) == 0)
				path += 4;
			kv_set(&owner, path, strlen(path), line, (size_t)(colon - line));
		}
		pclose(f);
		free(nq);
		snprintf(cmd, sizeof cmd, "readelf -d '%s'", getenv("AIWATCHD"));
		f = popen(cmd, "r");
		ck_assert_ptr_nonnull(f);
		size_t checked = 0;
		while (fgets(line, sizeof line, f)) {
			char *b = strstr(line, "(NEEDED)"), lib[256];
			const char *path, *pkg;
			if (!b ||
			    sscanf(strchr(b, '[') ? strchr(b, '[') + 1 : "", "%255[^]]", lib) != 1)
				continue;
			path = kv_get(&needed, lib);
			ck_assert_msg(path != NULL, "ldd does not resolve %s", lib);
			pkg = kv_get(&owner, strncmp(path, "/usr/", 5) == 0 ? path + 4 : path);
			ck_assert_msg(pkg != NULL, "no Debian package owns %s (%s)", path, lib);
			if (strcmp(pkg, "libc6") == 0 || strcmp(pkg, "libgcc-s1") == 0)
				continue;
			ck_assert_msg(kv_get(&pkgs, pkg),
				      "aiwatchd needs %s from %s; the runtime stage does not "
				      "install it",
				      lib, pkg);
			checked++;
		}
		pclose(f);
		kv_free(&owner);
		ck_assert_msg(checked >= 5, "only %zu libraries checked", checked);
	}
	ck_assert_msg(kv_get(&pkgs, "ca-certificates"), "no ca-certificates: TLS to Azure fails");
	const char *hc = cf_last(run, "HEALTHCHECK");
	ck_assert_msg(hc && strstr(hc, "/healthz"), "the runtime stage needs a HEALTHCHECK on "
						    "/healthz");
	if (strstr(hc, "curl "))
		ck_assert_msg(kv_get(&pkgs, "curl"), "HEALTHCHECK uses curl, which is not "
						     "installed");

	/* The binary the ENTRYPOINT runs comes from the build stage's install. */
	char words[8][256];
	size_t nw = exec_words(cf_last(run, "ENTRYPOINT"), words, 8);
	ck_assert_msg(nw >= 1 && strcmp(words[0], IMAGE_BINARY) == 0, "ENTRYPOINT must run %s",
		      IMAGE_BINARY);
	bool copied = false;
	for (size_t i = 0; i < run->n; i++) {
		char from[300];
		if (strcmp(run->ins[i].op, "COPY") == 0 && build->alias &&
		    snprintf(from, sizeof from, "--from=%s ", build->alias) > 0 &&
		    strncmp(run->ins[i].args, from, strlen(from)) == 0 &&
		    strstr(run->ins[i].args, IMAGE_BINARY))
			copied = true;
	}
	ck_assert_msg(copied, "no COPY --from=%s puts %s in the image",
		      build->alias ? build->alias : "(unnamed build stage)", IMAGE_BINARY);
	kv_free(&pkgs);
	kv_free(&needed);
	cf_free(&cf);
	free(boot);
}
END_TEST

/* The configuration the image ships passes `aiwatchd check` with the image's ENV, and
 * agrees with VOLUME, EXPOSE, HEALTHCHECK and the rules directories it creates. */
START_TEST(containerfile_configuration_is_valid)
{
	struct containerfile cf;
	struct kv env = {0};
	struct shipped s = {0};
	const struct stage *run;
	char words[8][256], *hc;
	const char *config = IMAGE_CONFIG, *src = NULL, *vol, *expose, *state;
	const char *empty[8] = {NULL};
	size_t nw, nempty = 0;

	load_containerfile(&cf);
	run = &cf.st[cf.n - 1];
	cf_env(run, &env);
	nw = exec_words(cf_last(run, "CMD"), words, 8);
	for (size_t i = 0; i + 1 < nw; i++)
		if (strcmp(words[i], "--config") == 0 || strcmp(words[i], "-c") == 0)
			config = words[i + 1];
	/* the file COPY puts at that path, from the build context */
	for (size_t i = 0; i < run->n; i++) {
		const char *a = run->ins[i].args, *sp;
		if (strcmp(run->ins[i].op, "COPY") != 0 || strncmp(a, "--", 2) == 0)
			continue;
		sp = strchr(a, ' ');
		if (sp && strcmp(sp + 1, config) == 0)
			src = strndup(a, (size_t)(sp - a));
	}
	ck_assert_msg(src != NULL, "no COPY from the build context to %s", config);
	s.text = read_src(src);
	s.dir = aw_test_tmpdir();
	shipped_parse(&s, src, &env);

	/* the port */
	expose = cf_last(run, "EXPOSE");
	ck_assert_msg(expose && num(expose) == (long long)s.port,
		      "EXPOSE %s, but http_listen's port is %u", expose ? expose : "(none)",
		      s.port);
	hc = expand(cf_last(run, "HEALTHCHECK"), &env);
	char want[64];
	snprintf(want, sizeof want, "127.0.0.1:%u/healthz", s.port);
	ck_assert_msg(strstr(hc, want), "HEALTHCHECK does not ask %s: %s", want, hc);
	free(hc);

	/* the state directory is the volume, and the only place written */
	state = scalar(nget(s.doc->root, "state_directory", NULL));
	vol = cf_last(run, "VOLUME");
	ck_assert_msg(state && vol && strstr(vol, state),
		      "state_directory %s is not a VOLUME (%s): a read-only root cannot hold it",
		      state ? state : "(default)", vol ? vol : "none");
	const struct aw_node *outs = nget(s.doc->root, "outputs", NULL);
	for (size_t i = 0; outs && i < outs->n; i++) {
		const char *path = scalar(nget(outs->items[i], "path", NULL));
		if (str_eq(scalar(nget(outs->items[i], "type", NULL)), "file"))
			ck_assert_msg(str_eq(path, "-") || strncmp(path, state, strlen(state)) == 0,
				      "output file %s is outside the volume", path);
	}

	/* rules: the installed pack, or directories the image creates */
	const struct aw_node *paths = nget(s.doc->root, "rules", "paths", NULL);
	ck_assert_msg(paths && paths->kind == AW_NODE_SEQ, "rules.paths must be a list");
	for (size_t i = 0; i < paths->n; i++) {
		const char *p = scalar(paths->items[i]);
		bool made = false;
		if (str_eq(p, IMAGE_RULESDIR))
			continue;
		for (size_t j = 0; j < run->n; j++)
			made |= strcmp(run->ins[j].op, "RUN") == 0 && strstr(run->ins[j].args, p);
		ck_assert_msg(made, "rules path %s is neither %s nor created by the Containerfile",
			      p, IMAGE_RULESDIR);
		ck_assert_uint_lt(nempty, 7);
		empty[nempty++] = p;
	}
	shipped_check(&s, src, empty);
	free((char *)src);
	shipped_free(&s);
	kv_free(&env);
	cf_free(&cf);
}
END_TEST

/* .dockerignore keeps build trees and .git out of the context, and the Containerfile's
 * own `meson setup` works in what is left. */
START_TEST(build_context_configures)
{
	struct containerfile cf;
	struct ignore ig;
	static const char *const needed[] = {"meson.build",
					     "meson_options.txt",
					     "daemon/main.c",
					     "plugins/plugin.h",
					     "conf/aiwatchd.yaml",
					     "conf/rules",
					     "systemd/aiwatchd.service.in",
					     "doc/aiwatchd.8",
					     "doc/meson.build",
					     NULL};
	char *dir, *ctx, *cmd, *out, *setup = NULL;
	const char *p;
	int rc;

	ignore_load(&ig);
	ck_assert_msg(ignored(&ig, ".git"), ".dockerignore does not exclude .git");
	ck_assert_msg(ignored(&ig, "build") && ignored(&ig, "build-ops"),
		      ".dockerignore does not exclude build directories");
	for (size_t i = 0; needed[i]; i++)
		ck_assert_msg(!ignored_path(&ig, needed[i]), ".dockerignore excludes %s",
			      needed[i]);

	load_containerfile(&cf);
	for (size_t i = 0; i < cf.st[0].n && !setup; i++)
		if (strcmp(cf.st[0].ins[i].op, "RUN") == 0 &&
		    (p = strstr(cf.st[0].ins[i].args, "meson setup ")) != NULL)
			setup = strndup(p, strcspn(p, "&;|"));
	ck_assert_msg(setup != NULL, "the build stage runs no meson setup");
	ck_assert_msg(strstr(setup, "--prefix=/usr"),
		      "meson setup without --prefix=/usr: "
		      "the paths in the image differ (%s)",
		      setup);
	/* "meson setup BUILDDIR SRCDIR options": run the options on a copy of the context */
	p = setup + strlen("meson setup ");
	for (int skip = 0; skip < 2; skip++) {
		p += strcspn(p, " ");
		p += strspn(p, " ");
	}
	dir = aw_test_tmpdir();
	ck_assert_int_ge(asprintf(&ctx, "%s/src", dir), 0);
	ck_assert_int_eq(mkdir(ctx, 0700), 0);
	char *src = aw_test_srcpath("");
	context_copy(&ig, src, ctx, "");
	ck_assert_int_ge(
	    asprintf(&cmd, "meson setup '%s/build' '%s' %s >'%s/setup.log' 2>&1", dir, ctx, p, dir),
	    0);
	rc = system(cmd);
	char *logp;
	ck_assert_int_ge(asprintf(&logp, "%s/setup.log", dir), 0);
	out = aw_test_read(logp, NULL);
	ck_assert_msg(rc == 0,
		      "the Containerfile's meson setup fails in the build context "
		      "(.dockerignore):\n%s\n%s",
		      cmd, out ? out : "");
	free(out);
	free(logp);
	free(cmd);
	free(src);
	free(ctx);
	free(setup);
	aw_test_rmtree(dir);
	free(dir);
	ignore_free(&ig);
	cf_free(&cf);
}
END_TEST

/* --- Kubernetes ------------------------------------------------------------------ */

struct k8s {
	struct aw_doc **docs[16];
	size_t ndocs[16];
	size_t nfiles;
	const struct aw_node *sa, *cm, *workload;
};

static void k8s_load(struct k8s *k)
{
	char *dir = aw_test_srcpath("conf/k8s");
	DIR *d = opendir(dir);
	struct dirent *de;

	memset(k, 0, sizeof *k);
	ck_assert_msg(d != NULL, "no %s", dir);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct aw_error_list errs = {0};
		char *path;
		if (len < 6 || (strcmp(de->d_name + len - 5, ".yaml") != 0 &&
				strcmp(de->d_name + len - 4, ".yml") != 0))
			continue;
		ck_assert_uint_lt(k->nfiles, 16);
		ck_assert_int_ge(asprintf(&path, "%s/%s", dir, de->d_name), 0);
		ck_assert_msg(aw_doc_load_all_file(path, &k->docs[k->nfiles], &k->ndocs[k->nfiles],
						   &errs) == 0,
			      "%s", errs.n ? errs.msgs[0] : path);
		for (size_t i = 0; i < k->ndocs[k->nfiles]; i++) {
			const struct aw_node *root = k->docs[k->nfiles][i]->root;
			const char *kind = scalar(nget(root, "kind", NULL));
			if (str_eq(kind, "ServiceAccount"))
				k->sa = root;
			else if (str_eq(kind, "ConfigMap"))
				k->cm = root;
			else if (str_eq(kind, "Deployment") || str_eq(kind, "StatefulSet") ||
				 str_eq(kind, "DaemonSet") || str_eq(kind, "Pod"))
				k->workload = root;
		}
		k->nfiles++;
		aw_error_list_free(&errs);
		free(path);
	}
	closedir(d);
	free(dir);
	ck_assert_msg(k->sa && k->cm && k->workload,
		      "conf/k8s needs a ServiceAccount, a ConfigMap and a workload");
}

static void k8s_free(struct k8s *k)
{
	for (size_t i = 0; i < k->nfiles; i++)
		aw_doc_free_all(k->docs[i], k->ndocs[i]);
}

static const struct aw_node *pod_spec(const struct aw_node *w)
{
	return str_eq(scalar(nget(w, "kind", NULL)), "Pod")
		   ? nget(w, "spec", NULL)
		   : nget(w, "spec", "template", "spec", NULL);
}

static const struct aw_node *pod_meta(const struct aw_node *w)
{
	return str_eq(scalar(nget(w, "kind", NULL)), "Pod")
		   ? nget(w, "metadata", NULL)
		   : nget(w, "spec", "template", "metadata", NULL);
}

/* The container that runs the aiwatch image (regular or native sidecar). */
static const struct aw_node *aiwatch_container(const struct aw_node *spec)
{
	const struct aw_node *found = NULL;
	const char *lists[] = {"containers", "initContainers"};

	for (size_t l = 0; l < 2; l++) {
		const struct aw_node *cs = nget(spec, lists[l], NULL);
		for (size_t i = 0; cs && i < cs->n; i++) {
			const char *image = scalar(nget(cs->items[i], "image", NULL));
			if (image && strstr(image, "aiwatch:")) {
				ck_assert_msg(!found, "two containers run the aiwatch image");
				found = cs->items[i];
			}
		}
	}
	ck_assert_msg(found != NULL, "no container runs an aiwatch:TAG image");
	return found;
}

static const struct aw_node *named(const struct aw_node *list, const char *name)
{
	for (size_t i = 0; list && i < list->n; i++)
		if (str_eq(scalar(nget(list->items[i], "name", NULL)), name))
			return list->items[i];
	return NULL;
}

static const struct aw_node *mount_at(const struct aw_node *c, const char *path)
{
	const struct aw_node *mounts = nget(c, "volumeMounts", NULL);
	const struct aw_node *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; mounts && i < mounts->n; i++) {
		const char *mp = scalar(nget(mounts->items[i], "mountPath", NULL));
		size_t len = mp ? strlen(mp) : 0;
		if (mp && strncmp(path, mp, len) == 0 && (path[len] == '/' || !path[len]) &&
		    len > best_len) {
			best = mounts->items[i];
			best_len = len;
		}
	}
	return best;
}

/* A probe's port: a number, or the name of one of the container's ports. */
static unsigned probe_port(const struct aw_node *c, const struct aw_node *probe)
{
	const char *port = scalar(nget(probe, "httpGet", "port", NULL));
	const struct aw_node *p;

	ck_assert_ptr_nonnull(port);
	if (isdigit((unsigned char)port[0]))
		return (unsigned)num(port);
	p = named(nget(c, "ports", NULL), port);
	ck_assert_msg(p != NULL, "probe port %s is not a named port of the container", port);
	return (unsigned)num(scalar(nget(p, "containerPort", NULL)));
}

static const char *sec_opt(const struct aw_node *c, const struct aw_node *spec, const char *k)
{
	const char *v = scalar(nget(c, "securityContext", k, NULL));

	return v ? v : scalar(nget(spec, "securityContext", k, NULL));
}

START_TEST(k8s_sidecar_is_consistent)
{
	struct k8s k;
	struct kv env = {0};
	struct shipped s = {0};
	struct containerfile cf;
	const struct aw_node *spec, *meta, *c, *args, *m, *vol, *probe, *cenv;
	const char *config = IMAGE_CONFIG, *client_id, *tenant, *v, *state;
	char *dir, *base;
	long uid, gid;

	k8s_load(&k);
	spec = pod_spec(k.workload);
	meta = pod_meta(k.workload);
	ck_assert_ptr_nonnull(spec);
	c = aiwatch_container(spec);

	/* workload identity */
	client_id = scalar(
	    nget(k.sa, "metadata", "annotations", "azure.workload.identity/client-id", NULL));
	ck_assert_msg(client_id && *client_id,
		      "the ServiceAccount needs azure.workload.identity/client-id");
	const struct aw_node *use = nget(meta, "labels", "azure.workload.identity/use", NULL);
	ck_assert_msg(use && str_eq(use->value, "true") && use->quoted,
		      "the pod needs the label azure.workload.identity/use: \"true\" (quoted)");
	ck_assert_msg(str_eq(scalar(nget(spec, "serviceAccountName", NULL)),
			     scalar(nget(k.sa, "metadata", "name", NULL))),
		      "the pod does not run as the annotated ServiceAccount");

	/* the environment the container gets: its env, and what the webhook injects */
	cenv = nget(c, "env", NULL);
	for (size_t i = 0; cenv && i < cenv->n; i++) {
		const char *name = scalar(nget(cenv->items[i], "name", NULL));
		v = scalar(nget(cenv->items[i], "value", NULL));
		ck_assert_ptr_nonnull(name);
		/* valueFrom (a Secret, a field): present at run time, unknown here */
		if (!v)
			v = "value-from-kubernetes";
		kv_set(&env, name, strlen(name), v, strlen(v));
	}
	tenant = scalar(
	    nget(k.sa, "metadata", "annotations", "azure.workload.identity/tenant-id", NULL));
	kv_set(&env, "AZURE_CLIENT_ID", 15, client_id, strlen(client_id));
	tenant = tenant ? tenant : "00000000-0000-0000-0000-0000000000aa";
	kv_set(&env, "AZURE_TENANT_ID", 15, tenant, strlen(tenant));
	v = "/var/run/secrets/azure/tokens/azure-identity-token";
	kv_set(&env, "AZURE_FEDERATED_TOKEN_FILE", 26, v, strlen(v));
	v = "https://login.microsoftonline.com/";
	kv_set(&env, "AZURE_AUTHORITY_HOST", 20, v, strlen(v));

	/* the configuration: --config PATH in the mounted ConfigMap */
	args = nget(c, "args", NULL);
	for (size_t i = 0; args && i + 1 < args->n; i++)
		if (str_eq(scalar(args->items[i]), "--config") ||
		    str_eq(scalar(args->items[i]), "-c"))
			config = scalar(args->items[i + 1]);
	m = mount_at(c, config);
	ck_assert_msg(m != NULL, "nothing is mounted at %s", config);
	vol = named(nget(spec, "volumes", NULL), scalar(nget(m, "name", NULL)));
	ck_assert_msg(vol && str_eq(scalar(nget(vol, "configMap", "name", NULL)),
				    scalar(nget(k.cm, "metadata", "name", NULL))),
		      "%s does not come from the ConfigMap", config);
	dir = strdup(config);
	base = strrchr(dir, '/');
	ck_assert_ptr_nonnull(base);
	*base++ = '\0';
	ck_assert_msg(str_eq(scalar(nget(m, "mountPath", NULL)), dir),
		      "mount the ConfigMap's directory at %s (a subPath mount does not follow "
		      "updates, so SIGHUP would reload the old file)",
		      dir);
	v = scalar(nget(k.cm, "data", base, NULL));
	ck_assert_msg(v != NULL, "the ConfigMap has no key %s", base);
	s.text = strdup(v);
	s.dir = aw_test_tmpdir();
	shipped_parse(&s, "conf/k8s ConfigMap", &env);
	shipped_check(&s, "conf/k8s ConfigMap", NULL);

	/* probes, scraping, ports */
	probe = nget(c, "livenessProbe", NULL);
	ck_assert_msg(str_eq(scalar(nget(probe, "httpGet", "path", NULL)), "/healthz"),
		      "livenessProbe must GET /healthz");
	ck_assert_uint_eq(probe_port(c, probe), s.port);
	probe = nget(c, "readinessProbe", NULL);
	ck_assert_msg(str_eq(scalar(nget(probe, "httpGet", "path", NULL)), "/readyz"),
		      "readinessProbe must GET /readyz");
	ck_assert_uint_eq(probe_port(c, probe), s.port);
	if ((probe = nget(c, "startupProbe", NULL)) != NULL) {
		ck_assert(str_eq(scalar(nget(probe, "httpGet", "path", NULL)), "/healthz"));
		ck_assert_uint_eq(probe_port(c, probe), s.port);
	}
	const struct aw_node *ann = nget(meta, "annotations", NULL);
	const struct aw_node *scrape = nget(ann, "prometheus.io/scrape", NULL);
	const struct aw_node *pport = nget(ann, "prometheus.io/port", NULL);
	ck_assert_msg(scrape && str_eq(scrape->value, "true") && scrape->quoted,
		      "annotation prometheus.io/scrape: \"true\" (quoted) missing");
	ck_assert_msg(pport && pport->quoted && num(pport->value) == (long long)s.port,
		      "annotation prometheus.io/port must be \"%u\" (quoted)", s.port);
	v = scalar(nget(ann, "prometheus.io/path", NULL));
	ck_assert_msg(!v || str_eq(v, "/metrics"), "prometheus.io/path is %s", v);

	/* hardening, and the image's user */
	ck_assert_msg(str_eq(sec_opt(c, spec, "runAsNonRoot"), "true"), "runAsNonRoot");
	ck_assert_msg(
	    str_eq(scalar(nget(c, "securityContext", "readOnlyRootFilesystem", NULL)), "true"),
	    "readOnlyRootFilesystem");
	ck_assert_msg(
	    str_eq(scalar(nget(c, "securityContext", "allowPrivilegeEscalation", NULL)), "false"),
	    "allowPrivilegeEscalation: false");
	const struct aw_node *drop = nget(c, "securityContext", "capabilities", "drop", NULL);
	bool all = false;
	for (size_t i = 0; drop && i < drop->n; i++)
		all |= str_eq(scalar(drop->items[i]), "ALL");
	ck_assert_msg(all, "capabilities.drop must hold ALL");
	load_containerfile(&cf);
	image_user(&cf, &uid, &gid);
	v = sec_opt(c, spec, "runAsUser");
	ck_assert_msg(!v || num(v) == uid, "runAsUser %s, but the image's USER is %ld", v, uid);
	v = scalar(nget(spec, "securityContext", "fsGroup", NULL));
	ck_assert_msg(!v || num(v) == gid, "fsGroup %s, but the image's group is %ld", v, gid);

	/* where the daemon writes and reads */
	state = scalar(nget(s.doc->root, "state_directory", NULL));
	ck_assert_ptr_nonnull(state);
	m = mount_at(c, state);
	ck_assert_msg(m && !str_eq(scalar(nget(m, "readOnly", NULL)), "true"),
		      "state_directory %s is not on a writable volume (the root is read-only)",
		      state);
	vol = named(nget(spec, "volumes", NULL), scalar(nget(m, "name", NULL)));
	ck_assert_msg(vol && (nget(vol, "emptyDir", NULL) ||
			      nget(vol, "persistentVolumeClaim", NULL) ||
			      nget(vol, "ephemeral", NULL)),
		      "state_directory %s must be an emptyDir or a PersistentVolumeClaim", state);
	const struct aw_node *ins = nget(s.doc->root, "inputs", NULL);
	for (size_t i = 0; ins && i < ins->n; i++) {
		const struct aw_node *paths = nget(ins->items[i], "paths", NULL);
		if (!str_eq(scalar(nget(ins->items[i], "type", NULL)), "file"))
			continue;
		for (size_t j = 0; paths && j < (paths->kind == AW_NODE_SEQ ? paths->n : 1); j++) {
			const char *p =
			    paths->kind == AW_NODE_SEQ ? scalar(paths->items[j]) : paths->value;
			ck_assert_msg(str_eq(p, "-") || mount_at(c, p),
				      "input file %s is on no volume the workload can share", p);
		}
	}
	v = scalar(nget(spec, "terminationGracePeriodSeconds", NULL));
	long long grace = v ? num(v) * 1000 : 30000;
	long long drain = duration_ms(scalar(nget(s.doc->root, "shutdown_timeout", NULL)));
	ck_assert_msg(drain > 0 && drain < grace,
		      "shutdown_timeout must be below terminationGracePeriodSeconds (%lld ms), "
		      "or the kubelet kills the daemon while it drains",
		      grace);

	cf_free(&cf);
	free(dir);
	shipped_free(&s);
	kv_free(&env);
	k8s_free(&k);
}
END_TEST

static Suite *manifests_suite(void)
{
	Suite *s = suite_create("manifests");
	TCase *tc = tcase_create("containerfile");
	TCase *tk = tcase_create("k8s");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, containerfile_builds_what_the_daemon_needs);
	tcase_add_test(tc, containerfile_configuration_is_valid);
	tcase_add_test(tc, build_context_configures);
	tcase_add_test(tk, k8s_sidecar_is_consistent);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, tk);
	return s;
}

AW_TEST_MAIN(manifests_suite)
