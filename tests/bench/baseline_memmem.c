/* Baseline: the floor of any line-oriented reader. Split the file into lines and run one
 * memmem per line (default needle `"ResultSignature":"429"`), nothing else.
 *
 *     baseline_memmem [--needle TEXT] FILE
 *
 * Prints the CPU time (getrusage) and ns per record; see tests/bench/README.md. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>

#include "bench_lines.h"

struct state {
	const char *needle;
	size_t nlen;
	long long hits;
};

static void on_line(void *ud, char *line, size_t len)
{
	struct state *s = ud;

	if (memmem(line, len, s->needle, s->nlen))
		s->hits++;
}

int main(int argc, char **argv)
{
	struct state s = {.needle = "\"ResultSignature\":\"429\""};
	const char *path = NULL;
	char extra[128];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--needle") == 0 && i + 1 < argc)
			s.needle = argv[++i];
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			fprintf(stderr, "usage: baseline_memmem [--needle TEXT] FILE\n");
			return 2;
		}
	}
	if (!path || !*s.needle) {
		fprintf(stderr, "usage: baseline_memmem [--needle TEXT] FILE\n");
		return 2;
	}
	s.nlen = strlen(s.needle);
	long long n = bench_each_line(path, on_line, &s);
	if (n < 0)
		return 1;
	snprintf(extra, sizeof extra, "%lld lines contain the needle", s.hits);
	bench_report("baseline_memmem", n, extra);
	return 0;
}
