/* libFuzzer target: the spool's segment reader and the dead-letter reader over
 * arbitrary file contents (a crash can leave any bytes behind). With an odd first
 * byte the rest is first turned into well-formed frames (one record per line) and
 * then cut at a length the input picks, so intact frames followed by a torn tail are
 * reached without the fuzzer having to find CRC-32C values. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "deadletter.h"
#include "spool_segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Frames for each '\n'-separated record of in; returns the malloc'd bytes. */
static char *frames(const uint8_t *in, size_t n, size_t *outlen)
{
	size_t cap = 64 + n * 2 + 64 * (n + 1), len = 0, start = 0;
	char *out = malloc(cap);
	uint64_t seq = 1;

	if (!out)
		return NULL;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && in[i] != '\n')
			continue;
		char *rec = strndup((const char *)in + start, i - start);
		struct aw_record r = {.data = rec, .len = rec ? strlen(rec) : 0,
				      .id = seq % 2 ? "id" : NULL, .key = seq % 3 ? NULL : "k"};
		size_t fs = rec ? aw_spool_frame_size(&r) : 0;
		if (fs && len + fs <= cap) {
			aw_spool_frame_encode(out + len, &r, seq++, 1000);
			len += fs;
		}
		free(rec);
		start = i + 1;
	}
	*outlen = len;
	return out;
}

static void read_segment(const char *bytes, size_t len)
{
	struct aw_seg_reader r;
	struct aw_spool_frame f;
	struct aw_error err;
	char path[64];
	unsigned bad = 0, sum = 0;
	int fd = memfd_create("seg", 0);

	if (fd < 0)
		return;
	if (write(fd, bytes, len) == (ssize_t)len) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		if (aw_seg_reader_open(&r, path, 0, &err) == 0) {
			while (aw_seg_reader_next(&r, &f, &bad, &err) == 1) {
				for (size_t i = 0; i < f.len; i++)
					sum += (unsigned char)f.data[i];
				for (size_t i = 0; f.id && i < f.idlen; i++)
					sum += (unsigned char)f.id[i];
				for (size_t i = 0; f.key && i < f.keylen; i++)
					sum += (unsigned char)f.key[i];
			}
			aw_seg_reader_close(&r);
		}
		struct aw_deadletter dl;
		if (aw_deadletter_read(path, &dl, &err) == 0)
			aw_deadletter_free(&dl);
	}
	close(fd);
	(void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		size_t len = 0;
		char *f = frames(data + 1, size - 1, &len);
		if (f) {
			/* cut at a point the input chooses: a torn tail */
			size_t cut = size > 2 ? len - (len ? (data[size - 1] % (len + 1)) / 4 : 0) : len;
			read_segment(f, cut);
			free(f);
		}
	} else {
		read_segment((const char *)data + 1, size - 1);
	}
	return 0;
}
