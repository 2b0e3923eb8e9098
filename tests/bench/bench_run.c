/* Run one command and report what the kernel accounted to it alone: user and system CPU
 * time and peak resident set size (wait4), plus wall time.
 *
 *     bench_run -o RESULT_FILE COMMAND [ARG]...
 *
 * Writes one line "user_s sys_s maxrss_kib wall_s exit_code" to RESULT_FILE; the command's
 * stdout and stderr pass through. Exit status: the command's (128+signal if killed).
 *
 * Why not Python's resource/os.wait4 directly: Linux keeps, across exec, the peak RSS of
 * the process image that called exec, so a child forked from a 15 MiB Python interpreter
 * reports at least 15 MiB. Forked from this small program, the floor is what `bench_run
 * /bin/true` reports (about 1 MiB), which run.sh prints next to the figures. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *out_path;
	struct timespec t0, t1;
	struct rusage ru;
	int status, code;
	pid_t pid;

	if (argc < 4 || strcmp(argv[1], "-o") != 0) {
		fprintf(stderr, "usage: bench_run -o RESULT_FILE COMMAND [ARG]...\n");
		return 2;
	}
	out_path = argv[2];
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "bench_run: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		execvp(argv[3], argv + 3);
		fprintf(stderr, "bench_run: %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "bench_run: wait4: %s\n", strerror(errno));
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

	FILE *f = fopen(out_path, "w");
	if (!f) {
		fprintf(stderr, "bench_run: %s: %s\n", out_path, strerror(errno));
		return 2;
	}
	fprintf(f, "%ld.%06ld %ld.%06ld %ld %.6f %d\n", (long)ru.ru_utime.tv_sec,
		(long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec,
		ru.ru_maxrss,
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, code);
	if (fclose(f) != 0) {
		fprintf(stderr, "bench_run: %s: write failed\n", out_path);
		return 2;
	}
	return code;
}
