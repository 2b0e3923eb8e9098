/* Dead-letter files (format in deadletter.h) and `aiwatchd dead-letter list|replay`.
 *
 * Replay never talks to a running daemon: it writes each batch as a complete segment
 * file into the output's spool/incoming/ (see spool.h), which the daemon appends to the
 * output's spool when it next opens it (start, or SIGHUP), and removes the dead-letter
 * file only once that segment file is on disk. */
#include "deadletter.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "spool.h"
#include "spool_segment.h"
#include "state.h"

#define DL_MAX_FILE ((size_t)512 << 20)
#define DL_FORMAT_VERSION 2

/* --- writing ---------------------------------------------------------------------------- */

static void format_time(uint64_t ms, char *buf, size_t sz)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char base[32];

	gmtime_r(&t, &tm);
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, sz, "%s.%03uZ", base, (unsigned)(ms % 1000));
}

/* "HTTP 400: body", "HTTP 400 body", "status 400: body" -> 400 and body. */
static int split_status(const char *reason, const char **body)
{
	const char *p = reason;
	int status = 0;

	*body = NULL;
	if (!reason)
		return 0;
	if (strncasecmp(p, "HTTP ", 5) == 0)
		p += 5;
	else if (strncasecmp(p, "status ", 7) == 0)
		p += 7;
	else
		return 0;
	for (int i = 0; i < 3; i++, p++) {
		if (*p < '0' || *p > '9')
			return 0;
		status = status * 10 + (*p - '0');
	}
	if (status < 100 || status > 599 || (*p && *p != ':' && *p != ' '))
		return 0;
	while (*p == ':' || *p == ' ')
		p++;
	if (*p)
		*body = p;
	return status;
}

static json_object *header_json(const char *output, const struct aw_record *recs, size_t n,
				unsigned attempts, const char *reason, uint64_t now_ms)
{
	json_object *root = json_object_new_object(), *h = json_object_new_object();
	json_object *ids = NULL, *keys = NULL;
	char ts[40];
	const char *body;
	int status = split_status(reason, &body);
	bool any_id = false, any_key = false;

	if (!root || !h) {
		json_object_put(root);
		json_object_put(h);
		return NULL;
	}
	json_object_object_add(root, "aiwatch_dead_letter", h);
	format_time(now_ms, ts, sizeof ts);
	json_object_object_add(h, "version", json_object_new_int(DL_FORMAT_VERSION));
	json_object_object_add(h, "output", json_object_new_string(output));
	json_object_object_add(h, "time", json_object_new_string(ts));
	json_object_object_add(h, "reason", json_object_new_string(reason ? reason : ""));
	if (status) {
		json_object_object_add(h, "status", json_object_new_int(status));
		if (body)
			json_object_object_add(h, "body", json_object_new_string(body));
	}
	json_object_object_add(h, "records", json_object_new_int64((int64_t)n));
	json_object_object_add(h, "attempts", json_object_new_int((int)attempts));
	for (size_t i = 0; i < n; i++) {
		any_id |= recs[i].id != NULL;
		any_key |= recs[i].key != NULL;
	}
	if (any_id && (ids = json_object_new_array()) != NULL) {
		for (size_t i = 0; i < n; i++)
			json_object_array_add(ids, recs[i].id ? json_object_new_string(recs[i].id)
							      : NULL);
		json_object_object_add(h, "ids", ids);
	}
	if (any_key && (keys = json_object_new_array()) != NULL) {
		for (size_t i = 0; i < n; i++)
			json_object_array_add(keys, recs[i].key ? json_object_new_string(recs[i].key)
								: NULL);
		json_object_object_add(h, "keys", keys);
	}
	return root;
}

static int write_record_line(FILE *f, const struct aw_record *r)
{
	const char *p = r->data, *end = r->data + r->len;

	while (p < end) {
		const char *nl = p;
		while (nl < end && *nl != '\n' && *nl != '\r')
			nl++;
		if (nl > p && fwrite(p, 1, (size_t)(nl - p), f) != (size_t)(nl - p))
			return -1;
		if (nl < end && fputc(' ', f) == EOF)
			return -1;
		p = nl < end ? nl + 1 : end;
	}
	return fputc('\n', f) == EOF ? -1 : 0;
}

int aw_deadletter_write(const char *state_dir, const char *output, const struct aw_record *recs,
			size_t n, unsigned attempts, const char *reason, char *path,
			size_t pathsz, struct aw_error *err)
{
	static unsigned counter;
	char dir[PATH_MAX], name[96], tmp[PATH_MAX], fin[PATH_MAX];
	uint64_t now = aw_spool_wall_ms();
	json_object *hdr = NULL;
	const char *htxt;
	FILE *f = NULL;
	int fd = -1, dfd = -1, rc = -1;

	if ((size_t)snprintf(dir, sizeof dir, "%s/%s/%s", state_dir, AW_DEADLETTER_DIR, output) >=
	    sizeof dir)
		return aw_error_set(err, "%s: path too long", state_dir);
	if (aw_state_mkdir(dir, err) != 0)
		return -1;
	/* A name already taken (a clock step back) just moves on to the next number. */
	for (int tries = 0; tries < 100; tries++) {
		snprintf(name, sizeof name, "%013" PRIu64 "-%ld-%u.jsonl", now, (long)getpid(),
			 ++counter);
		if ((size_t)snprintf(fin, sizeof fin, "%s/%s", dir, name) >= sizeof fin ||
		    (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= sizeof tmp)
			return aw_error_set(err, "%s: path too long", dir);
		if (access(fin, F_OK) != 0)
			break;
	}
	hdr = header_json(output, recs, n, attempts, reason, now);
	if (!hdr) {
		aw_error_set(err, "%s: out of memory", dir);
		goto out;
	}
	htxt = json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		aw_error_set(err, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (!htxt || fputs(htxt, f) == EOF || fputc('\n', f) == EOF)
		goto werr;
	for (size_t i = 0; i < n; i++)
		if (write_record_line(f, &recs[i]) != 0)
			goto werr;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		goto werr;
	if (fclose(f) != 0) {
		f = NULL;
		goto werr;
	}
	f = NULL;
	if (rename(tmp, fin) != 0) {
		aw_error_set(err, "%s: cannot rename: %s", tmp, strerror(errno));
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		aw_error_set(err, "%s: cannot sync the directory: %s", dir, strerror(errno));
		goto out;
	}
	if (path)
		snprintf(path, pathsz, "%s", fin);
	rc = 0;
	goto out;
werr:
	aw_error_set(err, "%s: write failed: %s", tmp, strerror(errno));
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (rc != 0)
		unlink(tmp);
	json_object_put(hdr);
	return rc;
}

/* --- reading ---------------------------------------------------------------------------- */

void aw_deadletter_free(struct aw_deadletter *dl)
{
	if (!dl)
		return;
	for (size_t i = 0; i < dl->n; i++) {
		free(dl->recs[i].data);
		free(dl->recs[i].id);
		free(dl->recs[i].key);
	}
	free(dl->recs);
	free(dl->output);
	free(dl->time);
	free(dl->reason);
	free(dl->body);
	memset(dl, 0, sizeof *dl);
}

static char *get_str(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return strdup(json_object_get_string(v));
}

static char *array_str(json_object *arr, size_t i)
{
	json_object *v = arr ? json_object_array_get_idx(arr, i) : NULL;

	return v && json_object_is_type(v, json_type_string) ? strdup(json_object_get_string(v))
							      : NULL;
}

static int parse(const char *path, char *text, size_t len, const struct stat *st,
		 struct aw_deadletter *dl, struct aw_error *err)
{
	char *nl = memchr(text, '\n', len), *p;
	json_object *root = NULL, *h, *v, *ids = NULL, *keys = NULL;
	size_t cap = 0;
	int rc = -1;

	if (!nl)
		return aw_error_set(err, "%s: not a dead-letter file (no header line)", path);
	*nl = '\0';
	root = json_tokener_parse(text);
	if (!root || !json_object_object_get_ex(root, "aiwatch_dead_letter", &h) ||
	    !json_object_is_type(h, json_type_object)) {
		aw_error_set(err, "%s: not a dead-letter file (bad header line)", path);
		goto out;
	}
	dl->output = get_str(h, "output");
	dl->reason = get_str(h, "reason");
	dl->time = get_str(h, "time");
	dl->body = get_str(h, "body");
	if (json_object_object_get_ex(h, "status", &v))
		dl->status = json_object_get_int(v);
	if (json_object_object_get_ex(h, "attempts", &v))
		dl->attempts = (unsigned)json_object_get_int(v);
	if (json_object_object_get_ex(h, "ids", &ids) && !json_object_is_type(ids, json_type_array))
		ids = NULL;
	if (json_object_object_get_ex(h, "keys", &keys) &&
	    !json_object_is_type(keys, json_type_array))
		keys = NULL;
	if (!dl->output) {
		aw_error_set(err, "%s: dead-letter header names no output", path);
		goto out;
	}
	if (!dl->time) {
		char ts[40];
		format_time((uint64_t)st->st_mtime * 1000u, ts, sizeof ts);
		dl->time = strdup(ts);
	}
	for (p = nl + 1; p < text + len;) {
		char *e = memchr(p, '\n', (size_t)(text + len - p));
		size_t l = e ? (size_t)(e - p) : (size_t)(text + len - p);
		if (l == 0) {
			p += 1;
			continue;
		}
		if (dl->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct aw_record *nr = realloc(dl->recs, ncap * sizeof *nr);
			if (!nr) {
				aw_error_set(err, "%s: out of memory", path);
				goto out;
			}
			dl->recs = nr;
			cap = ncap;
		}
		struct aw_record *r = &dl->recs[dl->n];
		memset(r, 0, sizeof *r);
		r->data = strndup(p, l);
		r->len = l;
		r->id = array_str(ids, dl->n);
		r->key = array_str(keys, dl->n);
		dl->n++;
		if (!r->data) {
			aw_error_set(err, "%s: out of memory", path);
			goto out;
		}
		p += l + 1;
	}
	rc = 0;
out:
	json_object_put(root);
	return rc;
}

int aw_deadletter_read(const char *path, struct aw_deadletter *dl, struct aw_error *err)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int rc = -1;
	FILE *f;

	memset(dl, 0, sizeof *dl);
	f = fopen(path, "re");
	if (!f)
		return aw_error_set(err, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		aw_error_set(err, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > DL_MAX_FILE) {
		aw_error_set(err, "%s: larger than %zu bytes; not a dead-letter file", path,
			     DL_MAX_FILE);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		aw_error_set(err, "%s: out of memory", path);
		goto out;
	}
	len = fread(text, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		aw_error_set(err, "%s: read failed: %s", path, strerror(errno));
		goto out;
	}
	text[len] = '\0';
	rc = parse(path, text, len, &st, dl, err);
out:
	if (rc != 0)
		aw_deadletter_free(dl);
	free(text);
	fclose(f);
	return rc;
}

/* --- the command ------------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: aiwatchd dead-letter list [--config FILE] [--output NAME]\n"
		"       aiwatchd dead-letter replay [--config FILE] [--output NAME] [FILE...]\n"
		"\n"
		"list    one line per dead-lettered batch: file, output, time, records, reason\n"
		"        (tab-separated)\n"
		"replay  move batches (all, those of --output, or the FILEs named) back into\n"
		"        their output's spool; the daemon sends them after its next start or\n"
		"        SIGHUP. A file is removed only once its records are safely on disk.\n"
		"\n"
		"Exit codes: 0 done; 1 the configuration is invalid; 2 bad command line or no\n"
		"such output; 3 a file could not be read, written or removed (the others are\n"
		"still processed).\n");
}

struct dl_list {
	char **paths;
	size_t n, cap;
};

static int list_push(struct dl_list *l, const char *path)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 32;
		char **np = realloc(l->paths, ncap * sizeof *np);
		if (!np)
			return -1;
		l->paths = np;
		l->cap = ncap;
	}
	if (!(l->paths[l->n] = strdup(path)))
		return -1;
	l->n++;
	return 0;
}

static void list_free(struct dl_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every dead-letter file, optionally of one output, sorted (output, then time). */
static int collect(const char *state_dir, const char *only, struct dl_list *l)
{
	char root[PATH_MAX], sub[PATH_MAX], file[PATH_MAX];
	DIR *d, *sd;
	struct dirent *e, *f;

	snprintf(root, sizeof root, "%s/%s", state_dir, AW_DEADLETTER_DIR);
	d = opendir(root);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || (only && strcmp(e->d_name, only) != 0))
			continue;
		if ((size_t)snprintf(sub, sizeof sub, "%s/%s", root, e->d_name) >= sizeof sub ||
		    !(sd = opendir(sub)))
			continue;
		while ((f = readdir(sd)) != NULL) {
			size_t nl = strlen(f->d_name);
			if (f->d_name[0] == '.' || nl < 7 || strcmp(f->d_name + nl - 6, ".jsonl") != 0)
				continue;
			if ((size_t)snprintf(file, sizeof file, "%s/%s", sub, f->d_name) >=
			    sizeof file)
				continue;
			if (list_push(l, file) != 0) {
				closedir(sd);
				closedir(d);
				return -1;
			}
		}
		closedir(sd);
	}
	closedir(d);
	if (l->n)
		qsort(l->paths, l->n, sizeof *l->paths, cmp_path);
	return 0;
}

/* Reasons come from destinations: keep each on one line. */
static void print_oneline(const char *s)
{
	for (; s && *s; s++)
		putchar((unsigned char)*s < 0x20 ? ' ' : *s);
}

static bool output_configured(const struct aw_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->noutputs; i++)
		if (strcmp(cfg->outputs[i].name, name) == 0)
			return true;
	return false;
}

static int do_list(const struct aw_config *cfg, const char *only)
{
	struct dl_list l = {0};
	int rc = AW_EXIT_OK;

	if (collect(cfg->core.state_directory, only, &l) != 0) {
		fprintf(stderr, "aiwatchd: cannot list %s/%s: %s\n", cfg->core.state_directory,
			AW_DEADLETTER_DIR, strerror(errno));
		list_free(&l);
		return AW_EXIT_RUNTIME;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct aw_deadletter dl;
		struct aw_error err;
		if (aw_deadletter_read(l.paths[i], &dl, &err) != 0) {
			fprintf(stderr, "aiwatchd: %s\n", err.msg);
			rc = AW_EXIT_RUNTIME;
			continue;
		}
		printf("%s\t%s\t%s\t%zu\t", l.paths[i], dl.output, dl.time, dl.n);
		print_oneline(dl.reason);
		putchar('\n');
		aw_deadletter_free(&dl);
	}
	if (l.n == 0)
		fprintf(stderr, "aiwatchd: no dead-lettered batches in %s/%s\n",
			cfg->core.state_directory, AW_DEADLETTER_DIR);
	list_free(&l);
	return rc;
}

static int replay_one(const struct aw_config *cfg, const char *path, const char *only)
{
	struct aw_deadletter dl;
	struct aw_error err;
	char spool[PATH_MAX], written[PATH_MAX], dir[PATH_MAX], *slash;
	int rc = AW_EXIT_RUNTIME;

	if (aw_deadletter_read(path, &dl, &err) != 0) {
		fprintf(stderr, "aiwatchd: %s\n", err.msg);
		return AW_EXIT_RUNTIME;
	}
	if (only && strcmp(dl.output, only) != 0) {
		fprintf(stderr, "aiwatchd: %s: belongs to output %s, not %s; left in place\n", path,
			dl.output, only);
		goto out;
	}
	if (!output_configured(cfg, dl.output)) {
		fprintf(stderr,
			"aiwatchd: %s: output %s is not in %s; left in place (add the output, or "
			"move the file)\n",
			path, dl.output, cfg->path);
		goto out;
	}
	/* The layout pipeline.c gives each output: <state>/outputs/<name>/spool. */
	snprintf(spool, sizeof spool, "%s/outputs/%s/%s", cfg->core.state_directory, dl.output,
		 AW_SPOOL_SUBDIR);
	if (aw_spool_write_incoming(spool, dl.recs, dl.n, written, sizeof written, &err) != 0) {
		fprintf(stderr, "aiwatchd: %s: not replayed: %s\n", path, err.msg);
		goto out;
	}
	if (unlink(path) != 0) {
		fprintf(stderr,
			"aiwatchd: %s: replayed, but cannot remove it (%s): remove it by hand or "
			"it will be sent again by the next replay\n",
			path, strerror(errno));
		goto out;
	}
	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
	printf("replayed %s: %zu record%s queued for output %s\n", path, dl.n,
	       dl.n == 1 ? "" : "s", dl.output);
	rc = AW_EXIT_OK;
out:
	aw_deadletter_free(&dl);
	return rc;
}

static int do_replay(const struct aw_config *cfg, const char *only, char **files, int nfiles)
{
	struct dl_list l = {0};
	int rc = AW_EXIT_OK;
	size_t done = 0;

	if (nfiles == 0 && collect(cfg->core.state_directory, only, &l) != 0) {
		fprintf(stderr, "aiwatchd: cannot list %s/%s: %s\n", cfg->core.state_directory,
			AW_DEADLETTER_DIR, strerror(errno));
		list_free(&l);
		return AW_EXIT_RUNTIME;
	}
	for (int i = 0; i < nfiles; i++)
		if (list_push(&l, files[i]) != 0) {
			list_free(&l);
			return AW_EXIT_RUNTIME;
		}
	for (size_t i = 0; i < l.n; i++) {
		if (replay_one(cfg, l.paths[i], only) != AW_EXIT_OK)
			rc = AW_EXIT_RUNTIME;
		else
			done++;
	}
	if (l.n == 0)
		fprintf(stderr, "aiwatchd: no dead-lettered batches to replay\n");
	else if (done)
		printf("%zu batch%s queued: a running aiwatchd sends them after SIGHUP or its "
		       "next start\n",
		       done, done == 1 ? "" : "es");
	list_free(&l);
	return rc;
}

int aw_deadletter_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = AW_DEFAULT_CONFIG, *only = NULL, *cmd;
	struct aw_error_list errs = {0};
	struct aw_config *cfg = NULL;
	int opt, rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? AW_EXIT_USAGE : AW_EXIT_OK;
	}
	cmd = argv[1];
	if (strcmp(cmd, "list") != 0 && strcmp(cmd, "replay") != 0) {
		fprintf(stderr, "aiwatchd: unknown dead-letter command '%s'\n", cmd);
		usage(stderr);
		return AW_EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'o':
			only = optarg;
			break;
		case 'h':
			usage(stdout);
			return AW_EXIT_OK;
		default:
			usage(stderr);
			return AW_EXIT_USAGE;
		}
	}
	if (strcmp(cmd, "list") == 0 && optind < argc) {
		fprintf(stderr, "aiwatchd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return AW_EXIT_USAGE;
	}
	if (aw_config_load(config, &cfg, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		aw_error_list_free(&errs);
		return AW_EXIT_CONFIG;
	}
	if (only && strcmp(cmd, "replay") == 0 && !output_configured(cfg, only)) {
		fprintf(stderr, "aiwatchd: no output named '%s' in %s\n", only, config);
		aw_config_free(cfg);
		aw_log_redact_clear();
		return AW_EXIT_USAGE;
	}
	if (strcmp(cmd, "list") == 0)
		rc = do_list(cfg, only);
	else
		rc = do_replay(cfg, only, argv + optind, argc - optind);
	aw_config_free(cfg);
	aw_log_redact_clear();
	return rc;
}
