/* The durable spool: each output's own on-disk queue of the records it has not yet
 * delivered. Loop thread only; not for plugins.
 *
 * Layout. <state_directory>/outputs/<output>/spool/ holds append-only segment files
 * named by an increasing id (000000000001.seg, ...), rolled at
 * pipeline.spool_segment_bytes (default 8 MiB), and `ack`, the acknowledged position (a
 * state.c file: replaced atomically, CRC-framed). Each record is one frame (see
 * spool_segment.h: magic, length, CRC-32C, sequence number, payload) with a
 * per-output sequence number that only grows. `ack` says "every record up to seq N is
 * done" (delivered, dead-lettered or dropped by policy). incoming/ receives whole
 * segment files written by `aiwatchd dead-letter replay`; they are appended to the
 * spool when it opens (and on SIGHUP), then removed.
 *
 * Durability. aw_spool_append() encodes a record into a write buffer; the pipeline
 * flushes every spool (write(2)) once per loop iteration, before it reports any event
 * durable, and with pipeline.spool_fsync "batch" (default) then runs one fdatasync per
 * spool touched, on the thread pool, and reports the events durable when that
 * finishes: one sync per loop iteration for all the records it wrote, never one per
 * record. A new segment also syncs the directory. "never" reports events durable
 * after the write(2): that survives kill -9 (the data is in the page cache) but not a
 * power cut. A failed write or sync keeps the affected inputs' checkpoints where they
 * were until a restart (their events are evaluated again then) and pauses inputs for a
 * few seconds before trying again.
 *
 * Start. Every segment is read and each frame checked: a torn tail (a crash in the
 * middle of a write) or a bad checksum is counted (aiwatch_spool_torn_records_total),
 * logged once per segment and skipped; the reader resynchronises on the next intact
 * frame, so damage never hides the records after it and never stops the start. Writing
 * always starts a new segment. Records after `ack` are delivered again, in order.
 *
 * Acknowledgement. Delivery takes batches from the front of the unacknowledged
 * records and acknowledges them in order; the position is written to `ack` on the
 * thread pool at most every 100 ms, and at close (a crash redelivers what was
 * acknowledged since: duplicates, never a loss), then segments whose records are all
 * acknowledged are deleted.
 *
 * Memory. The unacknowledged head is cached in memory up to pipeline.max_queue_bytes
 * (plus one record); what does not fit stays on disk and is read back, in order, as the
 * head is acknowledged. In the common case (the output keeps up) records go from the
 * write buffer to the cache and are never read back.
 *
 * Bounds. spool_max_bytes (frame bytes of unacknowledged records; the files also hold
 * the acknowledged part of the segments still in use, at most about one segment more)
 * and spool_max_age (age of the oldest one). When either is exceeded, pipeline.spool_full says what happens:
 * "backpressure" (default): inputs pause until the output catches up; nothing is
 * dropped. "drop_oldest": the oldest records are dropped (counted in
 * aiwatch_spool_dropped_total, logged at most once a minute); a batch being delivered
 * cannot be taken back, so while one is in flight the inputs pause instead.
 *
 * Metrics, labelled output=<name>: aiwatch_spool_bytes, aiwatch_spool_records,
 * aiwatch_spool_oldest_age_seconds, aiwatch_spool_segments (gauges);
 * aiwatch_spool_torn_records_total, aiwatch_spool_dropped_total,
 * aiwatch_spool_written_bytes_total, aiwatch_spool_write_errors_total (counters). */
#ifndef AW_SPOOL_H
#define AW_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "event.h"
#include "metrics.h"

#define AW_SPOOL_SUBDIR "spool"

/* Indices of the pipeline.spool_full and pipeline.spool_fsync choices. */
enum aw_spool_full { AW_SPOOL_FULL_BACKPRESSURE = 0, AW_SPOOL_FULL_DROP_OLDEST = 1 };
enum aw_spool_fsync { AW_SPOOL_FSYNC_BATCH = 0, AW_SPOOL_FSYNC_NEVER = 1 };

struct aw_spool_conf {
	uint64_t max_bytes;       /* unacknowledged frame bytes */
	uint64_t max_age_ms;      /* oldest unacknowledged record; 0: no age bound */
	uint64_t segment_bytes;   /* roll a segment at this size */
	uint64_t cache_bytes;     /* memory cache of the unacknowledged head */
	int full;                 /* enum aw_spool_full */
	int fsync;                /* enum aw_spool_fsync */
};

/* One unacknowledged record in memory. rec.data is NUL-terminated. */
struct aw_spool_rec {
	struct aw_record rec;
	uint64_t seq;
	uint64_t time_ms;         /* wall clock when first spooled */
	uint32_t frame_bytes;
};

struct aw_spool;

/* Open (creating) the spool in dir for output `name` (metric label, log key): read the
 * ack position, check every segment (damage is counted and skipped), cache the head,
 * import incoming/. metrics may be NULL; else the spool refreshes its gauges before
 * each scrape. Fails only when the directory cannot be used. */
int aw_spool_open(const char *dir, const char *name, const struct aw_spool_conf *conf,
		  struct aw_metrics *metrics, struct aw_spool **out, struct aw_error *err);
/* New bounds (reload). The segment size applies from the next roll. */
void aw_spool_set_conf(struct aw_spool *s, const struct aw_spool_conf *conf);

/* Add a record (copied) at the end. It is in the write buffer, not yet on disk: see
 * aw_spool_flush. -1 when it cannot be written (err says why; the record is not in the
 * spool and earlier buffered records may be lost too: treat everything appended since
 * the last successful flush as not durable). */
int aw_spool_append(struct aw_spool *s, const struct aw_record *rec, struct aw_error *err);
/* write(2) the buffer. 0, or -1 as above. */
int aw_spool_flush(struct aw_spool *s, struct aw_error *err);
/* Move into (*fds)[*n...] (grown as needed) descriptors whose data must reach the disk
 * for everything flushed so far to be durable: the open segment (a dup), segments
 * rolled since the last call, the directory after a new segment. The caller
 * fdatasyncs and closes each. Nothing with spool_fsync "never". 0 or -1 (no memory). */
int aw_spool_take_sync_fds(struct aw_spool *s, int **fds, size_t *n, size_t *cap);
/* Flush and, with spool_fsync "batch", fdatasync now, on this thread. 0 or -1. */
int aw_spool_sync(struct aw_spool *s, struct aw_error *err);

/* Load records from disk into the cache while it has room. 0 or -1 (err). */
int aw_spool_fill(struct aw_spool *s, struct aw_error *err);
/* The cached head: records 0..aw_spool_cached()-1 in order. Pointers stay valid until
 * the record is acknowledged or dropped, or the spool freed. */
size_t aw_spool_cached(const struct aw_spool *s);
uint64_t aw_spool_cached_bytes(const struct aw_spool *s);
struct aw_spool_rec *aw_spool_at(struct aw_spool *s, size_t i);
/* The first n cached records are done (delivered or dead-lettered). */
void aw_spool_ack(struct aw_spool *s, size_t n);

/* Unacknowledged records and their frame bytes; age of the oldest in seconds. */
uint64_t aw_spool_records(const struct aw_spool *s);
uint64_t aw_spool_bytes(const struct aw_spool *s);
double aw_spool_oldest_age(const struct aw_spool *s, uint64_t now_wall_ms);
/* Over spool_max_bytes or spool_max_age, or failing to write. */
bool aw_spool_over(const struct aw_spool *s, uint64_t now_wall_ms);
/* Writes or syncs failed recently: inputs pause for a few seconds, whatever the policy. */
bool aw_spool_failing(const struct aw_spool *s, uint64_t now_wall_ms);
/* drop_oldest: drop from the front (nothing may be in flight) until within bounds.
 * Returns how many records were dropped. Does nothing with "backpressure". */
size_t aw_spool_enforce(struct aw_spool *s, uint64_t now_wall_ms);

/* Write the ack position if it moved, then delete fully acknowledged segments.
 * Blocking (fsync). 0 or -1 (logged; retried next time). */
int aw_spool_persist_ack(struct aw_spool *s, struct aw_error *err);
/* The same in two halves, so the write can run on the thread pool: is there a new
 * position to write (*acked), write it (any thread; touches only files), then tell the
 * spool it is on disk (loop thread; deletes the segments it covers). Only one write
 * per spool at a time, and none while aw_spool_close runs. */
bool aw_spool_ack_pending(const struct aw_spool *s, uint64_t *acked);
const char *aw_spool_dir(const struct aw_spool *s);
int aw_spool_write_ack(const char *dir, uint64_t acked, struct aw_error *err);
void aw_spool_ack_written(struct aw_spool *s, uint64_t acked);
/* Append the files in incoming/ and remove them once synced. Returns the number of
 * records imported, or -1 (what was imported stays; the file is kept). */
long aw_spool_import(struct aw_spool *s, struct aw_error *err);

/* Flush, sync, persist the ack position and close the files. The cache stays
 * readable (a batch may still be in an output's hands) until aw_spool_free. Another
 * spool may then be opened on the same directory. 0 or -1 (err). */
int aw_spool_close(struct aw_spool *s, struct aw_error *err);
/* Close if still open, and free everything. NULL-safe. */
void aw_spool_free(struct aw_spool *s);

#endif
