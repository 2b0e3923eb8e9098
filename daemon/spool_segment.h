/* Spool segment files: the record frame, its checksum, and a reader that finds every
 * intact frame in a file however damaged the rest is. Shared by the spool (spool.c),
 * the dead-letter commands (deadletter.c) and tests; not for plugins.
 *
 * A frame is [magic u32][len u32][crc u32][seq u64][payload: len bytes], integers
 * little-endian. crc is CRC-32C (Castagnoli) over len, seq and the payload, so a torn
 * write (the file ends inside a frame) or a flipped bit anywhere but the magic is
 * detected. The payload is [time_ms u64][idlen u32][keylen u32][id][key][data]:
 * time_ms is the wall-clock time the record was first spooled (for the age bound and
 * aiwatch_spool_oldest_age_seconds); an id or key length of AW_SPOOL_NULL_LEN means
 * the record has none. */
#ifndef AW_SPOOL_SEGMENT_H
#define AW_SPOOL_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "event.h"

#define AW_SPOOL_MAGIC 0x31535741u       /* "AWS1" on disk */
#define AW_SPOOL_FRAME_HDR 20u           /* magic, len, crc, seq */
#define AW_SPOOL_PAYLOAD_HDR 16u         /* time_ms, idlen, keylen */
#define AW_SPOOL_NULL_LEN 0xFFFFFFFFu
/* Larger than any record the daemon makes (a 64 MiB forwarded line plus its id): a
 * length above this is corruption, not a record. */
#define AW_SPOOL_INCOMING "incoming"
#define AW_SPOOL_MAX_PAYLOAD ((uint32_t)128 << 20)

/* CRC-32C of data, continuing from crc (0 to start). Uses the SSE4.2 instruction
 * when the CPU has it, else a table (both give the same values). */
uint32_t aw_crc32c(uint32_t crc, const void *data, size_t len);

/* Bytes the frame of rec takes on disk; 0 when it is too large to spool. */
size_t aw_spool_frame_size(const struct aw_record *rec);
/* Write the frame of rec into dst, which has aw_spool_frame_size(rec) bytes. */
void aw_spool_frame_encode(char *dst, const struct aw_record *rec, uint64_t seq,
			   uint64_t time_ms);

/* One decoded frame. The pointers point into the reader's buffer and are valid until
 * its next call; data is not NUL-terminated. */
struct aw_spool_frame {
	uint64_t seq;
	uint64_t time_ms;
	uint64_t offset;          /* of the frame in its file */
	uint32_t frame_bytes;
	const char *data;
	size_t len;
	const char *id;           /* NULL when the record had none */
	size_t idlen;
	const char *key;
	size_t keylen;
};

/* A buffered reader over one segment file, by explicit offsets (pread), so a file
 * that is still being appended to can be read up to its current end and read again
 * later from where it stopped. */
struct aw_seg_reader {
	int fd;
	uint64_t base;            /* file offset of buf[0] */
	char *buf;
	size_t cap, len, pos;
};

/* Open path for reading from offset off. 0 or -1. */
int aw_seg_reader_open(struct aw_seg_reader *r, const char *path, uint64_t off,
		       struct aw_error *err);
/* The next intact frame: 1 with *f filled, 0 at the end of the file, -1 on a read
 * error. Damaged bytes (a torn tail, a bad checksum, garbage) are skipped up to the
 * next intact frame; each damaged stretch adds 1 to *bad. */
int aw_seg_reader_next(struct aw_seg_reader *r, struct aw_spool_frame *f, unsigned *bad,
		       struct aw_error *err);
/* Offset of the next byte the reader will look at. */
uint64_t aw_seg_reader_offset(const struct aw_seg_reader *r);
void aw_seg_reader_close(struct aw_seg_reader *r);

/* write(2) all of buf, retrying on EINTR and short writes. 0 or -1 (errno set). */
int aw_spool_write_all(int fd, const void *buf, size_t len);

/* Wall-clock milliseconds since the epoch. */
uint64_t aw_spool_wall_ms(void);

/* Write recs as one complete segment file into <spool_dir>/incoming/ (temporary name,
 * fsync, rename, directory fsync), for a spool to import when it next opens. The path
 * written is put in path (may be NULL). 0 or -1. */
int aw_spool_write_incoming(const char *spool_dir, const struct aw_record *recs, size_t n,
			    char *path, size_t pathsz, struct aw_error *err);

#endif
