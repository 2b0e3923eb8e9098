/* The durable spool of one output (design in spool.h).
 *
 * Positions. The writer appends to the open segment (w_id) through a write buffer;
 * "the end" is the writer's logical end, buffer included. The reader position (r_id,
 * r_off) is the first record not in the memory cache: the cache holds every
 * unacknowledged record before it, in order. When the reader is at the end ("caught
 * up"), an appended record goes straight into the cache (if it fits) and the reader
 * moves with the end; otherwise the reader falls behind and aw_spool_fill reads the
 * records back from the segment files. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spool_segment.h"
#include "state.h"

#define SPOOL_ACK_NAME "ack"
#define SPOOL_WBUF ((size_t)256 * 1024)
/* Bytes read from disk per fill: a long backlog is loaded over several loop passes
 * instead of stalling one. */
#define SPOOL_FILL_CHUNK ((uint64_t)4 << 20)
#define SPOOL_ERROR_PAUSE_MS 5000
#define SPOOL_DROP_LOG_MS 60000
#define SPOOL_DEFAULT_SEGMENT ((uint64_t)8 << 20)
#define SPOOL_DEFAULT_MAX ((uint64_t)1 << 30)

struct spool_seg {
	uint64_t id;
	uint64_t last_seq;   /* highest sequence number in it; 0: none */
	bool old;            /* from before this start: the scan counted its damage */
	bool damage_logged;
};

struct aw_spool {
	char *dir;
	char *name;
	struct aw_spool_conf conf;
	bool open;

	struct spool_seg *segs;     /* by increasing id; the open segment is the last */
	size_t nsegs, segcap;
	uint64_t next_seg_id;

	int w_fd;                   /* -1: none; the next append starts a segment */
	uint64_t w_id, w_size;      /* w_size: bytes in the file */
	char *wbuf;
	size_t wlen, wcap;
	uint64_t w_uncached_recs, w_uncached_bytes; /* buffered records not in the cache */
	bool w_dirty;               /* w_fd holds data no sync has covered */
	bool dir_dirty;             /* a segment was created since the last sync */
	int *rolled;                /* closed segments with data no sync has covered */
	size_t nrolled, rolledcap;
	uint64_t next_seq;

	uint64_t r_id, r_off;       /* first record not in the cache */
	struct aw_seg_reader rd;
	bool rd_open;
	uint64_t rd_id;

	struct aw_spool_rec **q;    /* the cache: a ring of the unacknowledged head */
	size_t qhead, qlen, qcap;
	uint64_t qbytes;            /* record bytes (rec.len) in the cache */

	uint64_t records, bytes;    /* unacknowledged: count and frame bytes */
	uint64_t acked;             /* every record up to this seq is done */
	uint64_t persisted;         /* what `ack` on disk says */
	uint64_t error_until_ms;    /* wall clock: writes failed, inputs pause until then */
	uint64_t drops_unlogged, last_drop_log_ms;

	struct aw_metrics *metrics; /* where collect() is registered */
	struct aw_metric *m_bytes, *m_records, *m_age, *m_segments;
	struct aw_metric *m_torn, *m_dropped, *m_written, *m_werr;
};

/* --- small helpers -------------------------------------------------------------------- */

static void seg_path(const struct aw_spool *s, uint64_t id, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s/%012" PRIu64 ".seg", s->dir, id);
}

static struct spool_seg *seg_find(struct aw_spool *s, uint64_t id)
{
	size_t lo = 0, hi = s->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->segs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nsegs && s->segs[lo].id == id ? &s->segs[lo] : NULL;
}

/* The first segment with an id above `id`, or NULL. */
static struct spool_seg *seg_after(struct aw_spool *s, uint64_t id)
{
	for (size_t i = 0; i < s->nsegs; i++)
		if (s->segs[i].id > id)
			return &s->segs[i];
	return NULL;
}

static int seg_push(struct aw_spool *s, uint64_t id, bool old)
{
	if (s->nsegs == s->segcap) {
		size_t ncap = s->segcap ? s->segcap * 2 : 16;
		struct spool_seg *ns = realloc(s->segs, ncap * sizeof *ns);
		if (!ns)
			return -1;
		s->segs = ns;
		s->segcap = ncap;
	}
	s->segs[s->nsegs++] = (struct spool_seg){.id = id, .old = old};
	return 0;
}

static void end_pos(const struct aw_spool *s, uint64_t *id, uint64_t *off)
{
	if (s->w_fd >= 0) {
		*id = s->w_id;
		*off = s->w_size + s->wlen;
	} else {
		*id = s->next_seg_id;
		*off = 0;
	}
}

static bool caught_up(const struct aw_spool *s)
{
	uint64_t id, off;

	end_pos(s, &id, &off);
	return s->r_id == id && s->r_off == off;
}

static void reader_close(struct aw_spool *s)
{
	if (s->rd_open)
		aw_seg_reader_close(&s->rd);
	s->rd_open = false;
}

static void count_damage(struct aw_spool *s, struct spool_seg *g, unsigned bad, const char *why)
{
	char path[PATH_MAX];

	aw_metric_add(s->m_torn, bad);
	if (g && g->damage_logged)
		return;
	if (g) {
		g->damage_logged = true;
		seg_path(s, g->id, path, sizeof path);
	} else {
		snprintf(path, sizeof path, "%s", why);
	}
	aw_log(AW_LOG_WARN, "spool",
	       "damaged spool records skipped (torn write or bad checksum); the records after "
	       "them are kept",
	       AW_S("output", s->name), AW_S("path", path), AW_U("damaged", bad));
}

/* --- the cache -------------------------------------------------------------------------- */

/* One allocation: the struct, then data, id and key, each NUL-terminated. */
static struct aw_spool_rec *rec_new(const char *data, size_t len, const char *id, size_t idlen,
				    const char *key, size_t keylen, uint64_t seq, uint64_t time_ms,
				    uint32_t frame_bytes)
{
	size_t sz = sizeof(struct aw_spool_rec) + len + 1 + (id ? idlen + 1 : 0) +
		    (key ? keylen + 1 : 0);
	struct aw_spool_rec *r = malloc(sz);
	char *p;

	if (!r)
		return NULL;
	p = (char *)(r + 1);
	r->rec.data = p;
	memcpy(p, data, len);
	p[len] = '\0';
	p += len + 1;
	r->rec.len = len;
	r->rec.id = NULL;
	r->rec.key = NULL;
	if (id) {
		r->rec.id = p;
		memcpy(p, id, idlen);
		p[idlen] = '\0';
		p += idlen + 1;
	}
	if (key) {
		r->rec.key = p;
		memcpy(p, key, keylen);
		p[keylen] = '\0';
	}
	r->seq = seq;
	r->time_ms = time_ms;
	r->frame_bytes = frame_bytes;
	return r;
}

static int q_push(struct aw_spool *s, struct aw_spool_rec *r)
{
	if (s->qlen == s->qcap) {
		size_t ncap = s->qcap ? s->qcap * 2 : 256;
		struct aw_spool_rec **nq = malloc(ncap * sizeof *nq);
		if (!nq)
			return -1;
		for (size_t i = 0; i < s->qlen; i++)
			nq[i] = s->q[(s->qhead + i) % s->qcap];
		free(s->q);
		s->q = nq;
		s->qhead = 0;
		s->qcap = ncap;
	}
	s->q[(s->qhead + s->qlen) % s->qcap] = r;
	s->qlen++;
	s->qbytes += r->rec.len;
	return 0;
}

/* Take the front record out as done: it moves the acknowledged position. */
static void q_pop_done(struct aw_spool *s)
{
	struct aw_spool_rec *r = s->q[s->qhead];

	s->qhead = (s->qhead + 1) % s->qcap;
	s->qlen--;
	s->qbytes -= r->rec.len;
	s->acked = r->seq;
	s->records--;
	s->bytes -= r->frame_bytes;
	free(r);
}

size_t aw_spool_cached(const struct aw_spool *s)
{
	return s->qlen;
}

uint64_t aw_spool_cached_bytes(const struct aw_spool *s)
{
	return s->qbytes;
}

struct aw_spool_rec *aw_spool_at(struct aw_spool *s, size_t i)
{
	return i < s->qlen ? s->q[(s->qhead + i) % s->qcap] : NULL;
}

void aw_spool_ack(struct aw_spool *s, size_t n)
{
	for (size_t i = 0; i < n && s->qlen; i++)
		q_pop_done(s);
}

/* --- the writer -------------------------------------------------------------------------- */

static int push_fd(int **fds, size_t *n, size_t *cap, int fd)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		int *nf = realloc(*fds, ncap * sizeof *nf);
		if (!nf)
			return -1;
		*fds = nf;
		*cap = ncap;
	}
	(*fds)[(*n)++] = fd;
	return 0;
}

static int writer_open(struct aw_spool *s, struct aw_error *err)
{
	char path[PATH_MAX];
	bool cu = caught_up(s);
	uint64_t id = s->next_seg_id;
	int fd = -1;

	/* A name can be taken only by a file the scan could not read; skip past it. */
	for (int tries = 0; tries < 1000; tries++, id++) {
		seg_path(s, id, path, sizeof path);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		return aw_error_set(err, "%s: cannot create spool segment: %s", path,
				    strerror(errno));
	if (seg_push(s, id, false) != 0) {
		close(fd);
		unlink(path);
		return aw_error_set(err, "%s: out of memory", path);
	}
	s->w_fd = fd;
	s->w_id = id;
	s->w_size = 0;
	s->w_dirty = false;
	s->next_seg_id = id + 1;
	if (s->conf.fsync == AW_SPOOL_FSYNC_BATCH)
		s->dir_dirty = true;
	if (cu) {
		s->r_id = id;
		s->r_off = 0;
	}
	return 0;
}

/* Stop writing to the open segment (its buffer already flushed or discarded). */
static void writer_close(struct aw_spool *s)
{
	bool cu;

	if (s->w_fd < 0)
		return;
	cu = caught_up(s);
	if (!s->w_dirty || s->conf.fsync != AW_SPOOL_FSYNC_BATCH) {
		close(s->w_fd);
	} else if (push_fd(&s->rolled, &s->nrolled, &s->rolledcap, s->w_fd) != 0) {
		/* no memory to defer its sync: sync now rather than lose the guarantee */
		if (fdatasync(s->w_fd) != 0)
			s->error_until_ms = aw_spool_wall_ms() + SPOOL_ERROR_PAUSE_MS;
		close(s->w_fd);
	}
	s->w_fd = -1;
	s->w_dirty = false;
	if (cu) {
		s->r_id = s->next_seg_id;
		s->r_off = 0;
	}
}

/* A write failed: take the buffer back out, leave the segment as it was before it and
 * start a new one with the next record. */
static void writer_fail(struct aw_spool *s, const char *what, int errnum, struct aw_error *err)
{
	char path[PATH_MAX];

	seg_path(s, s->w_id, path, sizeof path);
	aw_error_set(err, "%s: %s failed: %s", path, what, strerror(errnum));
	aw_log(AW_LOG_ERR, "spool",
	       "cannot write the spool; the inputs' checkpoints stay before the records "
	       "affected and the inputs pause",
	       AW_S("output", s->name), AW_S("error", err ? err->msg : strerror(errnum)));
	aw_metric_inc(s->m_werr);
	/* the reader may hold bytes of the buffer that are about to be cut off */
	reader_close(s);
	if (caught_up(s))
		s->r_off = s->w_size;
	if (ftruncate(s->w_fd, (off_t)s->w_size) != 0) {
		/* the reader will skip whatever part of the buffer reached the file */
	}
	s->records -= s->w_uncached_recs;
	s->bytes -= s->w_uncached_bytes;
	s->wlen = 0;
	s->w_uncached_recs = s->w_uncached_bytes = 0;
	writer_close(s);
	s->error_until_ms = aw_spool_wall_ms() + SPOOL_ERROR_PAUSE_MS;
}

int aw_spool_flush(struct aw_spool *s, struct aw_error *err)
{
	if (!s->open || s->wlen == 0)
		return 0;
	if (aw_spool_write_all(s->w_fd, s->wbuf, s->wlen) != 0) {
		writer_fail(s, "write", errno, err);
		return -1;
	}
	s->w_size += s->wlen;
	aw_metric_add(s->m_written, (double)s->wlen);
	s->wlen = 0;
	s->w_uncached_recs = s->w_uncached_bytes = 0;
	s->w_dirty = true;
	return 0;
}

int aw_spool_append(struct aw_spool *s, const struct aw_record *rec, struct aw_error *err)
{
	size_t fb = aw_spool_frame_size(rec);
	uint64_t seq, now;
	bool cu;

	if (!s->open)
		return aw_error_set(err, "spool of %s is closed", s->name);
	if (fb == 0)
		return aw_error_set(err, "a record of %zu bytes is too large to spool", rec->len);
	if (s->w_fd >= 0 && s->w_size + s->wlen > 0 &&
	    s->w_size + s->wlen + fb > s->conf.segment_bytes) {
		if (aw_spool_flush(s, err) != 0)
			return -1;
		writer_close(s);
	}
	if (s->w_fd < 0 && writer_open(s, err) != 0) {
		aw_metric_inc(s->m_werr);
		s->error_until_ms = aw_spool_wall_ms() + SPOOL_ERROR_PAUSE_MS;
		aw_log(AW_LOG_ERR, "spool", "cannot start a spool segment", AW_S("output", s->name),
		       AW_S("error", err ? err->msg : ""));
		return -1;
	}
	if (s->wlen + fb > s->wcap) {
		if (s->wlen && aw_spool_flush(s, err) != 0)
			return -1;
		if (fb > s->wcap) {
			size_t ncap = fb > SPOOL_WBUF ? fb : SPOOL_WBUF;
			char *nb = realloc(s->wbuf, ncap);
			if (!nb)
				return aw_error_set(err, "spool of %s: out of memory", s->name);
			s->wbuf = nb;
			s->wcap = ncap;
		}
	}
	cu = caught_up(s);
	seq = s->next_seq++;
	now = aw_spool_wall_ms();
	aw_spool_frame_encode(s->wbuf + s->wlen, rec, seq, now);
	s->wlen += fb;
	s->segs[s->nsegs - 1].last_seq = seq;
	s->records++;
	s->bytes += fb;
	if (cu && (s->qlen == 0 || s->qbytes + rec->len <= s->conf.cache_bytes)) {
		struct aw_spool_rec *r =
			rec_new(rec->data, rec->len, rec->id, rec->id ? strlen(rec->id) : 0,
				rec->key, rec->key ? strlen(rec->key) : 0, seq, now, (uint32_t)fb);
		if (r && q_push(s, r) == 0) {
			s->r_off += fb;
			return 0;
		}
		free(r); /* no memory for the cache: it is read back from disk later */
	}
	s->w_uncached_recs++;
	s->w_uncached_bytes += fb;
	return 0;
}

int aw_spool_take_sync_fds(struct aw_spool *s, int **fds, size_t *n, size_t *cap)
{
	if (s->conf.fsync != AW_SPOOL_FSYNC_BATCH) {
		for (size_t i = 0; i < s->nrolled; i++)
			close(s->rolled[i]);
		s->nrolled = 0;
		s->w_dirty = s->dir_dirty = false;
		return 0;
	}
	while (s->nrolled) {
		if (push_fd(fds, n, cap, s->rolled[s->nrolled - 1]) != 0)
			return -1;
		s->nrolled--;
	}
	if (s->w_fd >= 0 && s->w_dirty) {
		int fd = dup(s->w_fd);
		if (fd < 0 || push_fd(fds, n, cap, fd) != 0) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		s->w_dirty = false;
	}
	if (s->dir_dirty) {
		int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || push_fd(fds, n, cap, fd) != 0) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		s->dir_dirty = false;
	}
	return 0;
}

int aw_spool_sync(struct aw_spool *s, struct aw_error *err)
{
	int *fds = NULL, rc = 0;
	size_t n = 0, cap = 0;

	if (aw_spool_flush(s, err) != 0)
		return -1;
	if (aw_spool_take_sync_fds(s, &fds, &n, &cap) != 0)
		rc = aw_error_set(err, "spool of %s: cannot sync: %s", s->name, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		if (fdatasync(fds[i]) != 0 && rc == 0)
			rc = aw_error_set(err, "spool of %s: fdatasync failed: %s", s->name,
					  strerror(errno));
		close(fds[i]);
	}
	free(fds);
	if (rc != 0) {
		aw_metric_inc(s->m_werr);
		s->error_until_ms = aw_spool_wall_ms() + SPOOL_ERROR_PAUSE_MS;
	}
	return rc;
}

/* --- reading back ----------------------------------------------------------------------- */

static struct spool_seg *reader_seek(struct aw_spool *s, struct aw_error *err, int *rc)
{
	struct spool_seg *g;
	char path[PATH_MAX];

	*rc = 0;
	for (;;) {
		uint64_t eid, eoff;
		end_pos(s, &eid, &eoff);
		if (s->r_id == eid && s->r_off == eoff)
			return NULL;
		g = seg_find(s, s->r_id);
		if (g)
			break;
		/* the reader's segment is gone (never created, or deleted): the next one */
		reader_close(s);
		g = seg_after(s, s->r_id);
		s->r_id = g ? g->id : s->next_seg_id;
		s->r_off = 0;
	}
	if (s->rd_open && s->rd_id == s->r_id) {
		if (aw_seg_reader_offset(&s->rd) != s->r_off) {
			s->rd.base = s->r_off;
			s->rd.len = s->rd.pos = 0;
		}
		return g;
	}
	reader_close(s);
	seg_path(s, g->id, path, sizeof path);
	if (aw_seg_reader_open(&s->rd, path, s->r_off, err) != 0) {
		if (errno != ENOENT) {
			*rc = -1;
			return NULL;
		}
		/* Deleted under us: what it held is gone; carry on with the next one. */
		aw_log(AW_LOG_ERR, "spool", "spool segment missing; its records are lost",
		       AW_S("output", s->name), AW_S("path", path));
		struct spool_seg *next = seg_after(s, g->id);
		s->r_id = next ? next->id : s->next_seg_id;
		s->r_off = 0;
		if (s->w_fd >= 0 && g->id == s->w_id) {
			s->r_id = s->w_id;
			s->r_off = s->w_size + s->wlen;
		}
		return reader_seek(s, err, rc);
	}
	s->rd_open = true;
	s->rd_id = g->id;
	return g;
}

/* With the reader at the end, the unacknowledged records are exactly the cached ones:
 * realign the counts if records were lost on the way (a failed write, a segment
 * deleted by hand), so the spool can still become empty. */
static void recount_if_caught_up(struct aw_spool *s)
{
	uint64_t bytes = 0;

	if (!caught_up(s) || s->records == s->qlen)
		return;
	for (size_t i = 0; i < s->qlen; i++)
		bytes += s->q[(s->qhead + i) % s->qcap]->frame_bytes;
	s->records = s->qlen;
	s->bytes = bytes;
}

int aw_spool_fill(struct aw_spool *s, struct aw_error *err)
{
	uint64_t loaded = 0;

	if (!s->open || caught_up(s) || (s->qlen && s->qbytes >= s->conf.cache_bytes))
		return 0;
	/* The records to read may still be in the write buffer. */
	if (aw_spool_flush(s, err) != 0)
		return -1;
	while (!caught_up(s) && (s->qlen == 0 || s->qbytes < s->conf.cache_bytes) &&
	       loaded < SPOOL_FILL_CHUNK) {
		struct aw_spool_frame f;
		unsigned bad = 0;
		int rc;
		struct spool_seg *g = reader_seek(s, err, &rc);
		if (rc != 0)
			return -1;
		if (!g)
			break;
		rc = aw_seg_reader_next(&s->rd, &f, &bad, err);
		if (bad && !g->old)
			count_damage(s, g, bad, NULL);
		if (rc < 0) {
			reader_close(s);
			return -1;
		}
		if (rc == 0) {
			if (s->w_fd >= 0 && g->id == s->w_id) {
				s->r_off = s->w_size; /* everything flushed has been read */
				break;
			}
			struct spool_seg *next = seg_after(s, g->id);
			reader_close(s);
			s->r_id = next ? next->id : s->next_seg_id;
			s->r_off = 0;
			continue;
		}
		s->r_off = f.offset + f.frame_bytes;
		if (f.seq <= s->acked)
			continue;
		struct aw_spool_rec *r = rec_new(f.data, f.len, f.id, f.idlen, f.key, f.keylen,
						 f.seq, f.time_ms, f.frame_bytes);
		if (!r || q_push(s, r) != 0) {
			free(r);
			s->r_off = f.offset;
			return aw_error_set(err, "spool of %s: out of memory reading back", s->name);
		}
		loaded += f.frame_bytes;
	}
	recount_if_caught_up(s);
	return 0;
}

/* --- bounds ---------------------------------------------------------------------------- */

uint64_t aw_spool_records(const struct aw_spool *s)
{
	return s->records;
}

uint64_t aw_spool_bytes(const struct aw_spool *s)
{
	return s->bytes;
}

double aw_spool_oldest_age(const struct aw_spool *s, uint64_t now)
{
	if (!s->qlen)
		return 0.0;
	uint64_t t = s->q[s->qhead]->time_ms;
	return now > t ? (double)(now - t) / 1000.0 : 0.0;
}

static bool too_old(const struct aw_spool *s, uint64_t now)
{
	return s->conf.max_age_ms && s->qlen &&
	       now > s->q[s->qhead]->time_ms + s->conf.max_age_ms;
}

bool aw_spool_over(const struct aw_spool *s, uint64_t now)
{
	return now < s->error_until_ms || s->bytes > s->conf.max_bytes || too_old(s, now);
}

bool aw_spool_failing(const struct aw_spool *s, uint64_t now)
{
	return now < s->error_until_ms;
}

size_t aw_spool_enforce(struct aw_spool *s, uint64_t now)
{
	size_t dropped = 0;
	struct aw_error err;

	if (s->conf.full != AW_SPOOL_FULL_DROP_OLDEST || !s->open)
		return 0;
	for (;;) {
		if (!s->qlen && (!s->records || aw_spool_fill(s, &err) != 0 || !s->qlen))
			break;
		if (s->bytes <= s->conf.max_bytes && !too_old(s, now))
			break;
		q_pop_done(s);
		dropped++;
	}
	if (dropped) {
		aw_metric_add(s->m_dropped, (double)dropped);
		s->drops_unlogged += dropped;
		if (now - s->last_drop_log_ms >= SPOOL_DROP_LOG_MS) {
			aw_log(AW_LOG_WARN, "spool",
			       "spool full: oldest records dropped (pipeline.spool_full: drop_oldest)",
			       AW_S("output", s->name), AW_U("dropped", s->drops_unlogged),
			       AW_U("max_bytes", s->conf.max_bytes),
			       AW_U("max_age_ms", s->conf.max_age_ms));
			s->drops_unlogged = 0;
			s->last_drop_log_ms = now;
		}
	}
	return dropped;
}

/* --- acknowledged position and clean-up -------------------------------------------------- */

/* Delete segments before the reader whose records are all acknowledged on disk. */
static void delete_done_segments(struct aw_spool *s)
{
	size_t keep = 0;
	char path[PATH_MAX];

	for (size_t i = 0; i < s->nsegs; i++) {
		struct spool_seg *g = &s->segs[i];
		bool open_seg = s->w_fd >= 0 && g->id == s->w_id;
		if (!open_seg && g->id < s->r_id && g->last_seq <= s->persisted) {
			seg_path(s, g->id, path, sizeof path);
			if (s->rd_open && s->rd_id == g->id)
				reader_close(s);
			if (unlink(path) == 0 || errno == ENOENT)
				continue;
			aw_log(AW_LOG_WARN, "spool", "cannot delete an acknowledged spool segment",
			       AW_S("output", s->name), AW_S("path", path),
			       AW_S("error", strerror(errno)));
		}
		s->segs[keep++] = *g;
	}
	s->nsegs = keep;
}

int aw_spool_write_ack(const char *dir, uint64_t acked, struct aw_error *err)
{
	char buf[64];
	int len = snprintf(buf, sizeof buf, "{\"acked\":%" PRIu64 "}\n", acked);

	return aw_state_write(dir, SPOOL_ACK_NAME, buf, (size_t)len, err);
}

bool aw_spool_ack_pending(const struct aw_spool *s, uint64_t *acked)
{
	*acked = s->acked;
	return s->open && s->acked != s->persisted;
}

const char *aw_spool_dir(const struct aw_spool *s)
{
	return s->dir;
}

void aw_spool_ack_written(struct aw_spool *s, uint64_t acked)
{
	if (!s->open)
		return;
	if (acked > s->persisted)
		s->persisted = acked;
	delete_done_segments(s);
}

int aw_spool_persist_ack(struct aw_spool *s, struct aw_error *err)
{
	if (!s->open)
		return 0;
	if (s->acked != s->persisted) {
		if (aw_spool_write_ack(s->dir, s->acked, err) != 0) {
			aw_log(AW_LOG_WARN, "spool", "cannot write the acknowledged position",
			       AW_S("output", s->name), AW_S("error", err ? err->msg : ""));
			return -1;
		}
		s->persisted = s->acked;
	}
	delete_done_segments(s);
	return 0;
}

static uint64_t read_ack(const char *dir, const char *name)
{
	struct aw_error err;
	char *data = NULL, *end;
	size_t len;
	const char *p;
	uint64_t v = 0;
	int rc = aw_state_read(dir, SPOOL_ACK_NAME, &data, &len, &err);

	if (rc == 1)
		return 0;
	if (rc == 0 && (p = strstr(data, "\"acked\":")) != NULL) {
		errno = 0;
		unsigned long long x = strtoull(p + 8, &end, 10);
		if (errno == 0 && end != p + 8 && (*end == '}' || *end == ' ')) {
			v = x;
			free(data);
			return v;
		}
		snprintf(err.msg, sizeof err.msg, "%s/%s: bad content", dir, SPOOL_ACK_NAME);
	}
	free(data);
	aw_log(AW_LOG_WARN, "spool",
	       "acknowledged position unreadable; every record in the spool is delivered again",
	       AW_S("output", name), AW_S("error", err.msg));
	return 0;
}

/* --- open: scan ------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Segment ids in dir, sorted. Names are <digits>.seg; anything else is left alone. */
static int list_segments(const char *dir, uint64_t **ids, size_t *n, struct aw_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0;

	*ids = NULL;
	*n = 0;
	if (!d)
		return aw_error_set(err, "%s: cannot list: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		const char *nm = e->d_name;
		size_t digits = strspn(nm, "0123456789");
		if (digits == 0 || digits > 19 || strcmp(nm + digits, ".seg") != 0)
			continue;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			uint64_t *ni = realloc(*ids, ncap * sizeof *ni);
			if (!ni) {
				closedir(d);
				return aw_error_set(err, "%s: out of memory", dir);
			}
			*ids = ni;
			cap = ncap;
		}
		(*ids)[(*n)++] = strtoull(nm, NULL, 10);
	}
	closedir(d);
	if (*n)
		qsort(*ids, *n, sizeof **ids, cmp_u64);
	return 0;
}

/* Read every segment: sequence numbers, what is unacknowledged, damage. */
static int scan(struct aw_spool *s, struct aw_error *err)
{
	uint64_t *ids = NULL, max_seq = 0, max_id = 0;
	size_t n = 0;
	bool found_first = false;
	char path[PATH_MAX];

	if (list_segments(s->dir, &ids, &n, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct aw_seg_reader rd;
		struct aw_spool_frame f;
		struct aw_error rerr;
		unsigned bad = 0;
		int rc;

		if (ids[i] > max_id)
			max_id = ids[i];
		seg_path(s, ids[i], path, sizeof path);
		if (aw_seg_reader_open(&rd, path, 0, &rerr) != 0) {
			/* Left in place and out of the spool's list: never read, never deleted. */
			aw_log(AW_LOG_ERR, "spool", "cannot read a spool segment; skipping it",
			       AW_S("output", s->name), AW_S("error", rerr.msg));
			continue;
		}
		if (seg_push(s, ids[i], true) != 0) {
			aw_seg_reader_close(&rd);
			free(ids);
			return aw_error_set(err, "%s: out of memory", s->dir);
		}
		struct spool_seg *g = &s->segs[s->nsegs - 1];
		while ((rc = aw_seg_reader_next(&rd, &f, &bad, &rerr)) == 1) {
			if (f.seq > g->last_seq)
				g->last_seq = f.seq;
			if (f.seq > max_seq)
				max_seq = f.seq;
			if (f.seq <= s->acked)
				continue;
			s->records++;
			s->bytes += f.frame_bytes;
			if (!found_first) {
				found_first = true;
				s->r_id = g->id;
				s->r_off = f.offset;
			}
		}
		if (rc < 0)
			aw_log(AW_LOG_ERR, "spool", "read error in a spool segment; the rest of it "
						    "is skipped",
			       AW_S("output", s->name), AW_S("error", rerr.msg));
		if (bad)
			count_damage(s, g, bad, NULL);
		aw_seg_reader_close(&rd);
	}
	free(ids);
	s->next_seq = (max_seq > s->acked ? max_seq : s->acked) + 1;
	s->next_seg_id = max_id + 1;
	if (!found_first) {
		s->r_id = s->next_seg_id;
		s->r_off = 0;
	}
	return 0;
}

/* Before each scrape: the gauges. */
static void collect(void *ud)
{
	struct aw_spool *s = ud;

	aw_metric_set(s->m_bytes, (double)s->bytes);
	aw_metric_set(s->m_records, (double)s->records);
	aw_metric_set(s->m_age, aw_spool_oldest_age(s, aw_spool_wall_ms()));
	aw_metric_set(s->m_segments, (double)s->nsegs);
}

static void metrics_init(struct aw_spool *s, struct aw_metrics *m)
{
	if (!m)
		return;
	if (aw_metrics_add_collector(m, collect, s) == 0)
		s->metrics = m;
	s->m_bytes = aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_spool_bytes",
				   "Bytes of records in the output's spool not yet acknowledged",
				   "output", s->name, NULL);
	s->m_records = aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_spool_records",
				     "Records in the output's spool not yet acknowledged", "output",
				     s->name, NULL);
	s->m_age = aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_spool_oldest_age_seconds",
				 "Age of the oldest record in the spool not yet acknowledged",
				 "output", s->name, NULL);
	s->m_segments = aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_spool_segments",
				      "Segment files in the output's spool", "output", s->name,
				      NULL);
	s->m_torn = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_spool_torn_records_total",
				  "Damaged spool records (torn writes, bad checksums) skipped",
				  "output", s->name, NULL);
	s->m_dropped = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_spool_dropped_total",
				     "Records dropped from a full spool (spool_full: drop_oldest)",
				     "output", s->name, NULL);
	s->m_written = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_spool_written_bytes_total",
				     "Bytes written to the output's spool segments", "output",
				     s->name, NULL);
	s->m_werr = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_spool_write_errors_total",
				  "Failed writes or syncs of the output's spool", "output", s->name,
				  NULL);
}

static void conf_defaults(struct aw_spool_conf *c)
{
	if (!c->segment_bytes)
		c->segment_bytes = SPOOL_DEFAULT_SEGMENT;
	if (!c->max_bytes)
		c->max_bytes = SPOOL_DEFAULT_MAX;
}

void aw_spool_set_conf(struct aw_spool *s, const struct aw_spool_conf *conf)
{
	s->conf = *conf;
	conf_defaults(&s->conf);
}

int aw_spool_open(const char *dir, const char *name, const struct aw_spool_conf *conf,
		  struct aw_metrics *metrics, struct aw_spool **out, struct aw_error *err)
{
	struct aw_spool *s;
	struct aw_error ierr;

	*out = NULL;
	if (aw_state_mkdir(dir, err) != 0)
		return -1;
	s = calloc(1, sizeof *s);
	if (!s || !(s->dir = strdup(dir)) || !(s->name = strdup(name))) {
		if (s)
			free(s->dir);
		free(s);
		return aw_error_set(err, "%s: out of memory", dir);
	}
	s->w_fd = -1;
	s->rd.fd = -1;
	aw_spool_set_conf(s, conf);
	metrics_init(s, metrics);
	s->acked = s->persisted = read_ack(dir, name);
	if (scan(s, err) != 0) {
		aw_spool_free(s);
		return -1;
	}
	s->open = true;
	delete_done_segments(s);
	if (aw_spool_fill(s, &ierr) != 0)
		aw_log(AW_LOG_WARN, "spool", "cannot read the spool back yet; will retry",
		       AW_S("output", name), AW_S("error", ierr.msg));
	if (s->records)
		aw_log(AW_LOG_INFO, "spool", "unacknowledged records found; delivering them again",
		       AW_S("output", name), AW_U("records", s->records), AW_U("bytes", s->bytes),
		       AW_U("segments", s->nsegs));
	if (aw_spool_import(s, &ierr) < 0)
		aw_log(AW_LOG_ERR, "spool", "cannot import replayed dead-letter batches",
		       AW_S("output", name), AW_S("error", ierr.msg));
	*out = s;
	return 0;
}

/* --- incoming (dead-letter replay) ------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append the records of one incoming file. Returns records appended or -1. */
static long import_file(struct aw_spool *s, const char *path, struct aw_error *err)
{
	struct aw_seg_reader rd;
	struct aw_spool_frame f;
	unsigned bad = 0;
	long count = 0;
	int rc;

	if (aw_seg_reader_open(&rd, path, 0, err) != 0)
		return -1;
	while ((rc = aw_seg_reader_next(&rd, &f, &bad, err)) == 1) {
		char *id = f.id ? strndup(f.id, f.idlen) : NULL;
		char *key = f.key ? strndup(f.key, f.keylen) : NULL;
		struct aw_record rec = {.data = (char *)f.data, .len = f.len, .id = id, .key = key};
		int arc = (f.id && !id) || (f.key && !key)
				  ? aw_error_set(err, "%s: out of memory", path)
				  : aw_spool_append(s, &rec, err);
		free(id);
		free(key);
		if (arc != 0) {
			rc = -1;
			break;
		}
		count++;
	}
	aw_seg_reader_close(&rd);
	if (bad)
		count_damage(s, NULL, bad, path);
	return rc < 0 ? -1 : count;
}

long aw_spool_import(struct aw_spool *s, struct aw_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char **names = NULL;
	size_t n = 0, cap = 0;
	long total = 0;
	DIR *d;
	struct dirent *e;

	if (!s->open)
		return 0;
	snprintf(dir, sizeof dir, "%s/%s", s->dir, AW_SPOOL_INCOMING);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : aw_error_set(err, "%s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".seg") != 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nn = realloc(names, ncap * sizeof *nn);
			if (!nn)
				break;
			names = nn;
			cap = ncap;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n && total >= 0; i++) {
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path)
			continue;
		long c = import_file(s, path, err);
		/* Durable in the spool before the file goes: a crash in between imports it
		 * twice (duplicates), never zero times. */
		if (c < 0 || aw_spool_sync(s, err) != 0) {
			total = -1;
			break;
		}
		if (unlink(path) != 0)
			aw_log(AW_LOG_WARN, "spool", "cannot remove an imported file",
			       AW_S("path", path), AW_S("error", strerror(errno)));
		aw_log(AW_LOG_INFO, "spool", "replayed dead-letter batch queued for delivery",
		       AW_S("output", s->name), AW_S("file", names[i]), AW_U("records", c));
		total += c;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return total;
}

/* --- metrics, close -------------------------------------------------------------------- */


int aw_spool_close(struct aw_spool *s, struct aw_error *err)
{
	int rc = 0;
	struct aw_error perr;

	if (!s || !s->open)
		return 0;
	if (aw_spool_sync(s, err) != 0)
		rc = -1;
	if (aw_spool_persist_ack(s, &perr) != 0 && rc == 0) {
		if (err)
			*err = perr;
		rc = -1;
	}
	if (s->w_fd >= 0)
		close(s->w_fd);
	s->w_fd = -1;
	for (size_t i = 0; i < s->nrolled; i++)
		close(s->rolled[i]);
	s->nrolled = 0;
	reader_close(s);
	s->open = false;
	return rc;
}

void aw_spool_free(struct aw_spool *s)
{
	if (!s)
		return;
	aw_spool_close(s, NULL);
	if (s->metrics)
		aw_metrics_remove_collector(s->metrics, collect, s);
	for (size_t i = 0; i < s->qlen; i++)
		free(s->q[(s->qhead + i) % s->qcap]);
	free(s->q);
	free(s->segs);
	free(s->wbuf);
	free(s->rolled);
	free(s->dir);
	free(s->name);
	free(s);
}
