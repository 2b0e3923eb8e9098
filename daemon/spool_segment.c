/* Spool frames, CRC-32C, the damage-tolerant segment reader and whole segment files for
 * incoming/ (see spool_segment.h). */
#include "spool_segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "state.h"

#define SEG_READ_CHUNK ((size_t)256 * 1024)

/* --- CRC-32C ------------------------------------------------------------------------ */

/* Slicing-by-8 tables for the reflected Castagnoli polynomial; built once. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static bool crc_hw;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1u) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xFFu];
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t c, const unsigned char *p, size_t len)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		w ^= c;
		c = crc_table[7][w & 0xFF] ^ crc_table[6][(w >> 8) & 0xFF] ^
		    crc_table[5][(w >> 16) & 0xFF] ^ crc_table[4][(w >> 24) & 0xFF] ^
		    crc_table[3][(w >> 32) & 0xFF] ^ crc_table[2][(w >> 40) & 0xFF] ^
		    crc_table[1][(w >> 48) & 0xFF] ^ crc_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
#endif
	while (len--)
		c = crc_table[0][(c ^ *p++) & 0xFFu] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const unsigned char *p,
							     size_t len)
{
	uint64_t c64 = c;

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c64 = __builtin_ia32_crc32di(c64, w);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#endif

uint32_t aw_crc32c(uint32_t crc, const void *data, size_t len)
{
	uint32_t c = ~crc;

	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	if (crc_hw)
		return ~crc_sse42(c, data, len);
#endif
	return ~crc_sw(c, data, len);
}

/* --- frames ------------------------------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

size_t aw_spool_frame_size(const struct aw_record *rec)
{
	uint64_t n = AW_SPOOL_PAYLOAD_HDR + (uint64_t)rec->len;

	if (rec->id)
		n += strlen(rec->id);
	if (rec->key)
		n += strlen(rec->key);
	if (n > AW_SPOOL_MAX_PAYLOAD)
		return 0;
	return (size_t)(AW_SPOOL_FRAME_HDR + n);
}

void aw_spool_frame_encode(char *dst, const struct aw_record *rec, uint64_t seq,
			   uint64_t time_ms)
{
	unsigned char *h = (unsigned char *)dst, *p = h + AW_SPOOL_FRAME_HDR;
	size_t idlen = rec->id ? strlen(rec->id) : 0, keylen = rec->key ? strlen(rec->key) : 0;
	uint32_t len = (uint32_t)(AW_SPOOL_PAYLOAD_HDR + idlen + keylen + rec->len), crc;

	put32(h, AW_SPOOL_MAGIC);
	put32(h + 4, len);
	put64(h + 12, seq);
	put64(p, time_ms);
	put32(p + 8, rec->id ? (uint32_t)idlen : AW_SPOOL_NULL_LEN);
	put32(p + 12, rec->key ? (uint32_t)keylen : AW_SPOOL_NULL_LEN);
	p += AW_SPOOL_PAYLOAD_HDR;
	if (idlen)
		memcpy(p, rec->id, idlen);
	p += idlen;
	if (keylen)
		memcpy(p, rec->key, keylen);
	p += keylen;
	if (rec->len)
		memcpy(p, rec->data, rec->len);
	crc = aw_crc32c(0, h + 4, 4);
	crc = aw_crc32c(crc, h + 12, 8 + (size_t)len);
	put32(h + 8, crc);
}

/* Check and decode the frame at h (hdr + len bytes present). */
static bool frame_decode(const unsigned char *h, uint32_t len, struct aw_spool_frame *f)
{
	const unsigned char *p = h + AW_SPOOL_FRAME_HDR;
	uint32_t crc = aw_crc32c(0, h + 4, 4), idlen, keylen;
	uint64_t idl, keyl;

	crc = aw_crc32c(crc, h + 12, 8 + (size_t)len);
	if (crc != get32(h + 8))
		return false;
	idlen = get32(p + 8);
	keylen = get32(p + 12);
	idl = idlen == AW_SPOOL_NULL_LEN ? 0 : idlen;
	keyl = keylen == AW_SPOOL_NULL_LEN ? 0 : keylen;
	if (idl + keyl > len - AW_SPOOL_PAYLOAD_HDR)
		return false;
	f->seq = get64(h + 12);
	f->time_ms = get64(p);
	f->frame_bytes = AW_SPOOL_FRAME_HDR + len;
	p += AW_SPOOL_PAYLOAD_HDR;
	f->id = idlen == AW_SPOOL_NULL_LEN ? NULL : (const char *)p;
	f->idlen = (size_t)idl;
	p += idl;
	f->key = keylen == AW_SPOOL_NULL_LEN ? NULL : (const char *)p;
	f->keylen = (size_t)keyl;
	p += keyl;
	f->data = (const char *)p;
	f->len = (size_t)(len - AW_SPOOL_PAYLOAD_HDR - idl - keyl);
	return true;
}

/* --- reader ------------------------------------------------------------------------- */

int aw_seg_reader_open(struct aw_seg_reader *r, const char *path, uint64_t off,
		       struct aw_error *err)
{
	memset(r, 0, sizeof *r);
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return aw_error_set(err, "%s: cannot open: %s", path, strerror(errno));
	r->buf = malloc(SEG_READ_CHUNK);
	if (!r->buf) {
		close(r->fd);
		r->fd = -1;
		return aw_error_set(err, "%s: out of memory", path);
	}
	r->cap = SEG_READ_CHUNK;
	r->base = off;
	return 0;
}

void aw_seg_reader_close(struct aw_seg_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	memset(r, 0, sizeof *r);
	r->fd = -1;
}

uint64_t aw_seg_reader_offset(const struct aw_seg_reader *r)
{
	return r->base + r->pos;
}

/* Make `need` bytes from pos available if the file has them; *got says how many are. */
static int reader_fill(struct aw_seg_reader *r, size_t need, size_t *got, struct aw_error *err)
{
	if (r->len - r->pos >= need) {
		*got = r->len - r->pos;
		return 0;
	}
	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->base += r->pos;
		r->len -= r->pos;
		r->pos = 0;
	}
	if (need > r->cap) {
		/* Only grow for a frame the file can hold: a damaged length must not make
		 * us allocate up to the 128 MiB limit. */
		struct stat st;
		if (fstat(r->fd, &st) != 0)
			return aw_error_set(err, "spool segment: fstat: %s", strerror(errno));
		if ((uint64_t)st.st_size < r->base + need) {
			*got = r->len;
			if ((uint64_t)st.st_size <= r->base + r->len)
				return 0;
			/* read what there is, so the caller sees it as incomplete */
			need = (size_t)((uint64_t)st.st_size - r->base);
			if (need <= r->cap)
				goto read;
		}
		char *nb = realloc(r->buf, need);
		if (!nb)
			return aw_error_set(err, "spool segment: out of memory (%zu bytes)", need);
		r->buf = nb;
		r->cap = need;
	}
read:
	while (r->len < need) {
		ssize_t n = pread(r->fd, r->buf + r->len, r->cap - r->len, (off_t)(r->base + r->len));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return aw_error_set(err, "spool segment: read: %s", strerror(errno));
		}
		if (n == 0)
			break;
		r->len += (size_t)n;
	}
	*got = r->len - r->pos;
	return 0;
}

int aw_seg_reader_next(struct aw_seg_reader *r, struct aw_spool_frame *f, unsigned *bad,
		       struct aw_error *err)
{
	bool damaged = false;

	for (;;) {
		size_t got = 0; /* reader_fill sets it on success; -O3 cannot see that */
		const unsigned char *h;
		if (reader_fill(r, AW_SPOOL_FRAME_HDR, &got, err) != 0)
			return -1;
		if (got == 0)
			return 0;
		if (got < AW_SPOOL_FRAME_HDR) {
			/* the file ends inside a frame header: a torn tail */
			if (!damaged)
				(*bad)++;
			r->pos = r->len;
			return 0;
		}
		h = (const unsigned char *)r->buf + r->pos;
		uint32_t len = get32(h + 4);
		if (get32(h) == AW_SPOOL_MAGIC && len >= AW_SPOOL_PAYLOAD_HDR &&
		    len <= AW_SPOOL_MAX_PAYLOAD) {
			size_t need = AW_SPOOL_FRAME_HDR + (size_t)len;
			if (reader_fill(r, need, &got, err) != 0)
				return -1;
			h = (const unsigned char *)r->buf + r->pos;
			if (got >= need && frame_decode(h, len, f)) {
				f->offset = r->base + r->pos;
				r->pos += need;
				return 1;
			}
		}
		/* Damaged here: look for the next frame from the next byte on. */
		if (!damaged) {
			(*bad)++;
			damaged = true;
		}
		r->pos++;
		const char *m = memchr(r->buf + r->pos, (int)(AW_SPOOL_MAGIC & 0xFFu),
				       r->len - r->pos);
		r->pos = m ? (size_t)(m - r->buf) : r->len;
	}
}

/* --- small helpers ------------------------------------------------------------------- */

int aw_spool_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

uint64_t aw_spool_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- a whole segment file for a spool to import ------------------------------------ */

int aw_spool_write_incoming(const char *spool_dir, const struct aw_record *recs, size_t n,
			    char *path, size_t pathsz, struct aw_error *err)
{
	static unsigned counter;
	char dir[PATH_MAX], name[128], tmp[PATH_MAX], fin[PATH_MAX];
	char *buf = NULL;
	size_t cap = 0;
	uint64_t now = aw_spool_wall_ms();
	int fd = -1, dfd = -1, rc = -1;

	snprintf(name, sizeof name, "%013" PRIu64 "-%ld-%u.seg", now, (long)getpid(), ++counter);
	if ((size_t)snprintf(dir, sizeof dir, "%s/%s", spool_dir, AW_SPOOL_INCOMING) >= sizeof dir ||
	    (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= sizeof tmp ||
	    (size_t)snprintf(fin, sizeof fin, "%s/%s", dir, name) >= sizeof fin)
		return aw_error_set(err, "%s: path too long", spool_dir);
	if (aw_state_mkdir(dir, err) != 0)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		aw_error_set(err, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t fb = aw_spool_frame_size(&recs[i]);
		if (fb == 0) {
			aw_error_set(err, "record %zu is too large to spool", i + 1);
			goto out;
		}
		if (fb > cap) {
			char *nb = realloc(buf, fb);
			if (!nb) {
				aw_error_set(err, "out of memory");
				goto out;
			}
			buf = nb;
			cap = fb;
		}
		aw_spool_frame_encode(buf, &recs[i], i + 1, now);
		if (aw_spool_write_all(fd, buf, fb) != 0) {
			aw_error_set(err, "%s: write failed: %s", tmp, strerror(errno));
			goto out;
		}
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		aw_error_set(err, "%s: fsync failed: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
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
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (rc != 0)
		unlink(tmp);
	free(buf);
	return rc;
}
