/* Durable state files: framed (length + CRC-32), replaced atomically.
 *
 * File layout: one text header line `aiwatch-state v1 len=<N> crc32=<8 hex>\n` and
 * then exactly N bytes of payload. The header makes a torn or bit-flipped file
 * detectable and leaves the payload format (usually JSON) to the caller. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Correlation state of 100,000 groups is ~30 MB; leave room above that. */
#define AW_STATE_MAX_PAYLOAD ((size_t)256 * 1024 * 1024)
#define AW_STATE_MAGIC "aiwatch-state v1 len="
#define AW_STATE_HEADER_MAX 64

/* IEEE 802.3 CRC-32 (the zlib/PNG one), reflected, polynomial 0xEDB88320. The table is
 * rebuilt per call: 256 entries cost nothing next to an fsync, and no global state
 * needs initialising. */
static uint32_t aw_crc32(const void *data, size_t len)
{
	uint32_t table[256];
	const unsigned char *p = data;
	uint32_t crc = 0xFFFFFFFFu;

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
	return crc ^ 0xFFFFFFFFu;
}

static int check_name(const char *dir, const char *name, struct aw_error *err)
{
	if (!dir || !*dir)
		return aw_error_set(err, "state: no state directory given");
	if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return aw_error_set(err, "%s: invalid state file name \"%s\"", dir,
				    name ? name : "");
	return 0;
}

int aw_state_mkdir(const char *dir, struct aw_error *err)
{
	char path[PATH_MAX];
	size_t len;
	struct stat st;

	if (!dir || !*dir)
		return aw_error_set(err, "state: no state directory given");
	len = strlen(dir);
	if (len >= sizeof path)
		return aw_error_set(err, "%s: path too long", dir);
	memcpy(path, dir, len + 1);
	/* Walk the path one component at a time, creating what is missing; a component
	 * that exists must be a directory. The final component gets the same 0700. */
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		if (path[i - 1] == '/')
			continue;
		char saved = path[i];
		path[i] = '\0';
		if (mkdir(path, 0700) != 0) {
			if (errno != EEXIST)
				return aw_error_set(err, "%s: cannot create directory: %s", path,
						    strerror(errno));
			if (stat(path, &st) != 0)
				return aw_error_set(err, "%s: %s", path, strerror(errno));
			if (!S_ISDIR(st.st_mode))
				return aw_error_set(err, "%s: exists and is not a directory", path);
		}
		path[i] = saved;
	}
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

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

int aw_state_write(const char *dir, const char *name, const void *data, size_t len,
		   struct aw_error *err)
{
	char path[PATH_MAX], tmp[PATH_MAX], header[AW_STATE_HEADER_MAX];
	int fd = -1, dfd = -1, rc = -1, hlen;
	bool tmp_made = false;

	if (check_name(dir, name, err) != 0)
		return -1;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path ||
	    (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= sizeof tmp)
		return aw_error_set(err, "%s/%s: path too long", dir, name);
	if (len > AW_STATE_MAX_PAYLOAD)
		return aw_error_set(err, "%s: state too large (%zu bytes, limit %zu)", path, len,
				    AW_STATE_MAX_PAYLOAD);
	hlen = snprintf(header, sizeof header, AW_STATE_MAGIC "%zu crc32=%08" PRIx32 "\n", len,
			aw_crc32(data, len));

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		aw_error_set(err, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	tmp_made = true;
	if (write_all(fd, header, (size_t)hlen) != 0 || write_all(fd, data, len) != 0) {
		aw_error_set(err, "%s: write failed: %s", tmp, strerror(errno));
		goto out;
	}
	if (fsync(fd) != 0) {
		aw_error_set(err, "%s: fsync failed: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		aw_error_set(err, "%s: close failed: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		aw_error_set(err, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	tmp_made = false;
	/* The rename is durable only once the directory entry is on disk. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		aw_error_set(err, "%s: cannot open directory: %s", dir, strerror(errno));
		goto out;
	}
	if (fsync(dfd) != 0) {
		aw_error_set(err, "%s: fsync of directory failed: %s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0 && close(dfd) != 0 && rc == 0)
		rc = aw_error_set(err, "%s: close failed: %s", dir, strerror(errno));
	if (tmp_made)
		unlink(tmp);
	return rc;
}

/* Parse the header line; on success *hdr_len is its length including '\n'. */
static int parse_header(const char *buf, size_t n, size_t *hdr_len, uint64_t *plen,
			uint32_t *crc)
{
	size_t ml = sizeof AW_STATE_MAGIC - 1, i;
	uint64_t v = 0;
	uint32_t c = 0;

	if (n < ml || memcmp(buf, AW_STATE_MAGIC, ml) != 0)
		return -1;
	i = ml;
	if (i >= n || buf[i] < '0' || buf[i] > '9')
		return -1;
	for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
		v = v * 10 + (uint64_t)(buf[i] - '0');
		if (v > AW_STATE_MAX_PAYLOAD)
			return -1;
	}
	if (n - i < 7 + 8 + 1 || memcmp(buf + i, " crc32=", 7) != 0)
		return -1;
	i += 7;
	for (int k = 0; k < 8; k++, i++) {
		char ch = buf[i];
		unsigned d;
		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			d = (unsigned)(ch - 'A' + 10);
		else
			return -1;
		c = (c << 4) | d;
	}
	if (buf[i] != '\n')
		return -1;
	*hdr_len = i + 1;
	*plen = v;
	*crc = c;
	return 0;
}

int aw_state_read(const char *dir, const char *name, char **data, size_t *len,
		  struct aw_error *err)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t cap, n = 0, hdr_len = 0;
	uint64_t plen = 0;
	uint32_t crc = 0;
	struct stat st;
	int fd = -1, rc = -1;

	*data = NULL;
	*len = 0;
	if (check_name(dir, name, err) != 0)
		return -1;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return aw_error_set(err, "%s/%s: path too long", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		return aw_error_set(err, "%s: cannot open: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		aw_error_set(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		aw_error_set(err, "%s: not a regular file", path);
		goto out;
	}
	/* Read one byte past the largest valid file so an oversized one is caught even if
	 * it grew after fstat. */
	cap = (size_t)AW_STATE_MAX_PAYLOAD + AW_STATE_HEADER_MAX + 1;
	if (st.st_size >= 0 && (uint64_t)st.st_size < cap)
		cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	if (!buf) {
		aw_error_set(err, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= (size_t)AW_STATE_MAX_PAYLOAD + AW_STATE_HEADER_MAX + 1)
				break;
			size_t ncap = cap * 2;
			if (ncap > (size_t)AW_STATE_MAX_PAYLOAD + AW_STATE_HEADER_MAX + 1)
				ncap = (size_t)AW_STATE_MAX_PAYLOAD + AW_STATE_HEADER_MAX + 1;
			char *nb = realloc(buf, ncap + 1);
			if (!nb) {
				aw_error_set(err, "%s: out of memory", path);
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			aw_error_set(err, "%s: read failed: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > (size_t)AW_STATE_MAX_PAYLOAD + AW_STATE_HEADER_MAX) {
		aw_error_set(err, "%s: corrupt checkpoint (larger than %zu bytes)", path,
			     AW_STATE_MAX_PAYLOAD);
		goto out;
	}
	if (parse_header(buf, n, &hdr_len, &plen, &crc) != 0) {
		aw_error_set(err, "%s: corrupt checkpoint (bad header)", path);
		goto out;
	}
	if (n - hdr_len != plen) {
		aw_error_set(err,
			     "%s: corrupt checkpoint (length mismatch: header says %" PRIu64
			     " bytes, file holds %zu)",
			     path, plen, n - hdr_len);
		goto out;
	}
	if (aw_crc32(buf + hdr_len, (size_t)plen) != crc) {
		aw_error_set(err, "%s: corrupt checkpoint (crc mismatch)", path);
		goto out;
	}
	memmove(buf, buf + hdr_len, (size_t)plen);
	buf[plen] = '\0';
	*data = buf;
	*len = (size_t)plen;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}
