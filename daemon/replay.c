/* `aiwatchd replay` and `aiwatchd rules list`: the engine offline.
 *
 * replay evaluates recorded events (Log Analytics JSON lines with `Type`, or
 * diagnostic-settings documents) through the same engine the daemon runs and prints the
 * alerts, for detection engineers testing rules and for benchmarks. Reading is plain
 * blocking stdio: there is no loop to keep responsive here. */
#include "replay.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "engine.h"
#include "log.h"
#include "records.h"

#define REPLAY_MAX_RULE_PATHS 64

enum replay_format { FMT_JSONL, FMT_TABLE, FMT_NONE };

struct replay {
	struct aw_engine *engine;
	enum replay_format fmt;
	uint64_t events, alerts, bad_lines, engine_errors;
	bool header_done;
};

static void print_table_row(struct replay *r, const char *json)
{
	struct json_object *o = json_tokener_parse(json), *v;
	const char *when = "", *sev = "", *title = "", *res = "";
	char group[160] = "";
	long long count = 0;

	if (!o) {
		printf("%s\n", json);
		return;
	}
	if (json_object_object_get_ex(o, "WindowStart", &v))
		when = json_object_get_string(v);
	if (json_object_object_get_ex(o, "Severity", &v))
		sev = json_object_get_string(v);
	if (json_object_object_get_ex(o, "RuleTitle", &v))
		title = json_object_get_string(v);
	if (json_object_object_get_ex(o, "EventCount", &v))
		count = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "GroupBy", &v) && json_object_object_length(v) > 0) {
		size_t n = 0;
		json_object_object_foreach(v, key, val) {
			n += (size_t)snprintf(group + n, n < sizeof group ? sizeof group - n : 0,
					      "%s%s=%s", n ? " " : "", key,
					      json_object_get_string(val));
			if (n >= sizeof group)
				break;
		}
	} else if (json_object_object_get_ex(o, "ResourceId", &v)) {
		res = strrchr(json_object_get_string(v), '/');
		res = res ? res + 1 : json_object_get_string(v);
		snprintf(group, sizeof group, "%s", res);
	}
	if (!r->header_done) {
		printf("%-24s %-13s %6s  %-58s %s\n", "WINDOW START", "SEVERITY", "EVENTS", "RULE",
		       "GROUP / RESOURCE");
		r->header_done = true;
	}
	printf("%-24.24s %-13.13s %6lld  %-58.58s %s\n", when, sev, count, title, group);
	json_object_put(o);
}

static int on_alert(void *ud, const struct aw_record *rec)
{
	struct replay *r = ud;

	r->alerts++;
	if (r->fmt == FMT_JSONL)
		printf("%.*s\n", (int)rec->len, rec->data);
	else if (r->fmt == FMT_TABLE)
		print_table_row(r, rec->data);
	return 0;
}

static int on_event(void *ud, const struct aw_event *ev)
{
	struct replay *r = ud;
	struct aw_error err;

	r->events++;
	if (aw_engine_eval(r->engine, ev, on_alert, r, &err) < 0) {
		r->engine_errors++;
		if (r->engine_errors <= 10)
			fprintf(stderr, "replay: %s\n", err.msg);
	}
	return 0;
}

/* "path:lineno" for messages, without a printf per line: the prefix is written once
 * and only the digits change; the next line's number is the last one's digits counted
 * up in place, as an odometer does. */
struct origin {
	char buf[4200];
	size_t prefix, ndigits;
	unsigned long long n; /* the number the digits show; 0 before the first */
};

static const char *line_origin(struct origin *o, unsigned long long n)
{
	char *d = o->buf + o->prefix;

	if (n == o->n + 1 && o->n != 0) {
		size_t i = o->ndigits;
		while (i > 0 && d[i - 1] == '9')
			d[--i] = '0';
		if (i > 0) {
			d[i - 1]++;
			o->n = n;
			return o->buf;
		}
		/* 99 -> 100: written anew below */
	}
	char digits[24];
	size_t k = 0;
	unsigned long long m = n;
	do {
		digits[k++] = (char)('0' + m % 10);
		m /= 10;
	} while (m);
	for (size_t i = 0; i < k; i++)
		d[i] = digits[k - 1 - i];
	d[k] = '\0';
	o->ndigits = k;
	o->n = n;
	return o->buf;
}

static void replay_line(struct replay *r, char *line, size_t len, const char *origin)
{
	struct aw_error err;
	size_t bad = 0;

	while (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len == 0)
		return;
	/* the reader puts a NUL where the newline was */
	if (aw_records_parse_z(line, len, origin, on_event, r, &bad, &err) < 0) {
		r->bad_lines++;
		if (r->bad_lines <= 10)
			fprintf(stderr, "replay: %s: skipped: %s\n", origin, err.msg);
	}
	r->bad_lines += bad;
}

/* Lines are read in 128 KiB blocks with read(2) and split in place: recorded corpora
 * are large, and stdio's line reading cost more than tokenizing them; a block that
 * small is still in the core's cache while its records are tokenized. A line longer
 * than REPLAY_MAX_LINE is skipped with a message. */
#define REPLAY_BLOCK	((size_t)1 << 17)
#define REPLAY_MAX_LINE ((size_t)64 << 20)

static int replay_file(struct replay *r, const char *path)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	struct origin origin = {.n = 0};
	size_t cap = REPLAY_BLOCK, have = 0;
	unsigned long long lineno = 0;
	bool skipping = false;
	char *buf;
	int rc = 0;

	if (fd < 0) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	/* room for the digits (a 64-bit count has at most 20) and the NUL */
	origin.prefix = (size_t)snprintf(origin.buf, sizeof origin.buf - 24, "%s:", path);
	if (origin.prefix >= sizeof origin.buf - 24)
		origin.prefix = sizeof origin.buf - 25;
	if (!(buf = malloc(cap + 1))) {
		fprintf(stderr, "replay: out of memory\n");
		rc = -1;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
			rc = -1;
			break;
		}
		size_t end = have + (size_t)n, start = 0;
		char *nl;
		while ((nl = memchr(buf + start, '\n', end - start))) {
			*nl = '\0';
			lineno++;
			if (!skipping)
				replay_line(r, buf + start, (size_t)(nl - (buf + start)),
					    line_origin(&origin, lineno));
			skipping = false;
			start = (size_t)(nl - buf) + 1;
		}
		if (n == 0) { /* the last line may lack its newline */
			if (start < end && !skipping) {
				buf[end] = '\0';
				replay_line(r, buf + start, end - start,
					    line_origin(&origin, ++lineno));
			}
			break;
		}
		have = end - start;
		memmove(buf, buf + start, have);
		if (have == cap) { /* one line fills the buffer */
			if (cap * 2 > REPLAY_MAX_LINE) {
				if (!skipping)
					fprintf(stderr, "replay: %s:%llu: skipped: line longer than "
							"%zu MiB\n",
						path, lineno + 1, REPLAY_MAX_LINE >> 20);
				skipping = true;
				r->bad_lines += 1;
				have = 0;
				continue;
			}
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb) {
				fprintf(stderr, "replay: out of memory\n");
				rc = -1;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
out:
	free(buf);
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

static void replay_usage(FILE *out)
{
	fprintf(out, "Usage: aiwatchd replay [--rules PATH]... [--format jsonl|table|none] "
		     "FILE...\n"
		     "       aiwatchd rules list [--rules PATH]...\n"
		     "PATH is a rule file or directory (default %s); FILE is JSON lines, or - "
		     "for stdin.\n",
		AW_RULESDIR);
}

static struct aw_engine *load_engine(const char *const *paths, size_t n, int *rule_errors)
{
	struct aw_error_list errs = {0};
	struct aw_engine_conf conf = {
		.rule_paths = paths,
		.nrule_paths = n,
		.allowed_lateness_ms = 5 * 60 * 1000,
	};
	struct aw_engine *e = aw_engine_new(&conf, &errs);

	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	*rule_errors = (int)aw_error_list_count(&errs);
	aw_error_list_free(&errs);
	return e;
}

static int parse_rule_args(int argc, char **argv, const char **paths, size_t *npaths,
			   enum replay_format *fmt)
{
	static const struct option longopts[] = {
		{"rules", required_argument, NULL, 'r'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "r:f:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (*npaths >= REPLAY_MAX_RULE_PATHS) {
				fprintf(stderr, "replay: at most %d --rules\n", REPLAY_MAX_RULE_PATHS);
				return -1;
			}
			paths[(*npaths)++] = optarg;
			break;
		case 'f':
			if (!fmt)
				return -1;
			if (strcmp(optarg, "jsonl") == 0)
				*fmt = FMT_JSONL;
			else if (strcmp(optarg, "table") == 0)
				*fmt = FMT_TABLE;
			else if (strcmp(optarg, "none") == 0)
				*fmt = FMT_NONE;
			else {
				fprintf(stderr, "replay: --format is jsonl, table or none\n");
				return -1;
			}
			break;
		case 'h':
			replay_usage(stdout);
			return 1;
		default:
			return -1;
		}
	}
	if (*npaths == 0)
		paths[(*npaths)++] = AW_RULESDIR;
	return 0;
}

int aw_replay_main(int argc, char **argv)
{
	const char *paths[REPLAY_MAX_RULE_PATHS];
	size_t npaths = 0;
	struct replay r = {.fmt = FMT_JSONL};
	int rule_errors = 0, rc;
	struct timespec t0, t1;

	rc = parse_rule_args(argc, argv, paths, &npaths, &r.fmt);
	if (rc != 0)
		return rc > 0 ? AW_EXIT_OK : (replay_usage(stderr), AW_EXIT_USAGE);
	if (optind >= argc) {
		replay_usage(stderr);
		return AW_EXIT_USAGE;
	}
	r.engine = load_engine(paths, npaths, &rule_errors);
	if (!r.engine)
		return AW_EXIT_RUNTIME;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = optind; i < argc; i++) {
		if (replay_file(&r, argv[i]) != 0) {
			aw_engine_free(r.engine);
			return AW_EXIT_RUNTIME;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fflush(stdout);
	fprintf(stderr,
		"replay: %llu events, %llu alerts, %llu malformed, %.3f s (%.0f events/s)%s\n",
		(unsigned long long)r.events, (unsigned long long)r.alerts,
		(unsigned long long)r.bad_lines, secs, secs > 0 ? (double)r.events / secs : 0.0,
		rule_errors ? "; some rules failed to load (above)" : "");
	aw_engine_free(r.engine);
	aw_log_redact_clear();
	return rule_errors ? AW_EXIT_CONFIG : AW_EXIT_OK;
}

int aw_rules_main(int argc, char **argv)
{
	const char *paths[REPLAY_MAX_RULE_PATHS];
	size_t npaths = 0;
	int rule_errors = 0, rc;
	struct aw_engine *e;
	struct aw_engine_stats st;

	if (argc < 2 || strcmp(argv[1], "list") != 0) {
		replay_usage(stderr);
		return AW_EXIT_USAGE;
	}
	rc = parse_rule_args(argc - 1, argv + 1, paths, &npaths, NULL);
	if (rc != 0)
		return rc > 0 ? AW_EXIT_OK : (replay_usage(stderr), AW_EXIT_USAGE);
	e = load_engine(paths, npaths, &rule_errors);
	if (!e)
		return AW_EXIT_RUNTIME;
	aw_engine_describe(e, stdout);
	aw_engine_stats(e, &st);
	printf("%zu detection rules, %zu correlations, %zu filters, %zu not routed to any input; "
	       "%d load error%s\n",
	       st.detection_rules, st.correlation_rules, st.filters, st.unrouted, rule_errors,
	       rule_errors == 1 ? "" : "s");
	aw_engine_free(e);
	return rule_errors ? AW_EXIT_CONFIG : AW_EXIT_OK;
}
