/* Shared by the benchmark baselines: read a file of JSON lines in large blocks and hand
 * each line (without its newline, NUL-terminated in place) to a callback, and report the
 * process's CPU time. Header-only so each baseline stays one `cc` command.
 *
 * Blocks rather than getline: splitting lines should cost what a tight loop costs, so
 * the memmem baseline measures the floor of any line-oriented reader. */
#ifndef BENCH_LINES_H
#define BENCH_LINES_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BENCH_BLOCK (1u << 20)          /* read size */
#define BENCH_MAX_LINE (64u << 20)      /* a longer line is an error, not a reason to grow */

typedef void (*bench_line_fn)(void *ud, char *line, size_t len);

/* Calls fn for every non-empty line of path. Returns the number of lines, or -1 with a
 * message on stderr. */
static long long bench_each_line(const char *path, bench_line_fn fn, void *ud)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 2 * (size_t)BENCH_BLOCK, have = 0;
	char *buf = malloc(cap + 1);
	long long n = -1, count = 0;

	if (!f || !buf) {
		fprintf(stderr, "%s: %s\n", path, !f ? strerror(errno) : "out of memory");
		goto out;
	}
	for (;;) {
		if (cap - have < BENCH_BLOCK) {
			if (cap >= BENCH_MAX_LINE) {
				fprintf(stderr, "%s: a line is longer than %u bytes\n", path,
					BENCH_MAX_LINE);
				goto out;
			}
			char *nb = realloc(buf, 2 * cap + 1);
			if (!nb) {
				fprintf(stderr, "%s: out of memory\n", path);
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + have, 1, BENCH_BLOCK, f);
		if (got == 0 && ferror(f)) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			goto out;
		}
		have += got;
		char *p = buf, *end = buf + have, *nl;
		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			size_t len = (size_t)(nl - p);
			if (len && p[len - 1] == '\r')
				len--;
			if (len) {
				p[len] = '\0';
				fn(ud, p, len);
				count++;
			}
			p = nl + 1;
		}
		have = (size_t)(end - p);
		memmove(buf, p, have);
		if (got == 0) {
			if (have) { /* last line without a newline */
				buf[have] = '\0';
				fn(ud, buf, have);
				count++;
			}
			break;
		}
	}
	n = count;
out:
	if (f)
		fclose(f);
	free(buf);
	return n;
}

/* Prints "<name>: N records, CPU X s (user U s, sys S s), Y ns/record, <extra>". */
static void bench_report(const char *name, long long records, const char *extra)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	double user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	double sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	printf("%s: %lld records, CPU %.3f s (user %.3f s, sys %.3f s), %.1f ns/record, "
	       "peak RSS %ld KiB, %s\n",
	       name, records, user + sys, user, sys,
	       records > 0 ? (user + sys) * 1e9 / (double)records : 0.0, ru.ru_maxrss, extra);
}

#endif
