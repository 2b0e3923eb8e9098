/* The Logs Ingestion API body (see sentinel_body.h): array, Evidence trimming, gzip. */
#include "sentinel_body.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SEN_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define SEN_JSON_DEPTH 64 /* the alert builder accepts samples this deep */

/* --- Evidence ---------------------------------------------------------------------- */

static size_t json_len(struct json_object *o)
{
	size_t n = 0;

	if (!json_object_to_json_string_length(o, SEN_JSON_FLAGS, &n))
		return SIZE_MAX;
	return n;
}

/* Drop elements from the end of arr until about `over` bytes are gone; an element
 * costs its serialized length plus a comma. False when arr was already empty. The
 * caller serializes again to check, so a miscount costs a round, never a wrong size. */
static bool drop_tail(struct json_object *arr, size_t over)
{
	size_t n;
	bool dropped = false;

	if (!arr || !json_object_is_type(arr, json_type_array))
		return false;
	while (over > 0 && (n = json_object_array_length(arr)) > 0) {
		size_t el = json_len(json_object_array_get_idx(arr, n - 1));

		el = el == SIZE_MAX ? over : el + (n > 1);
		over = el >= over ? 0 : over - el;
		json_object_array_del_idx(arr, n - 1, 1);
		dropped = true;
	}
	return dropped;
}

static int mark(struct json_object *ev, size_t original)
{
	struct json_object *t = json_object_new_boolean(1);
	struct json_object *b = json_object_new_uint64(original);

	if (!t || !b || json_object_object_add(ev, "EvidenceTruncated", t) != 0) {
		json_object_put(t);
		json_object_put(b);
		return -1;
	}
	if (json_object_object_add(ev, "OriginalBytes", b) != 0) {
		json_object_put(b);
		return -1;
	}
	return 0;
}

/* Shrink root's Evidence under max. 0 or -1 (out of memory). */
static int shrink(struct json_object *root, struct json_object *ev, size_t original, size_t max)
{
	struct json_object *samples = NULL, *ids = NULL, *bare;
	size_t cur;

	if (json_object_is_type(ev, json_type_object)) {
		json_object_object_get_ex(ev, "Samples", &samples);
		json_object_object_get_ex(ev, "ItemIds", &ids);
		if (mark(ev, original) < 0)
			return -1;
		while ((cur = json_len(ev)) != SIZE_MAX && cur > max)
			if (!drop_tail(samples, cur - max) && !drop_tail(ids, cur - max))
				break;
		if (cur != SIZE_MAX && cur <= max)
			return 0;
	}
	/* Not an object, or too big without samples and ids (other keys): keep the marks. */
	bare = json_object_new_object();
	if (!bare || mark(bare, original) < 0 ||
	    json_object_object_add(root, "Evidence", bare) != 0) {
		json_object_put(bare);
		return -1;
	}
	return 0;
}

int aw_sentinel_trim_evidence(const char *data, size_t len, size_t field_max, char **out,
			      size_t *outlen, struct aw_error *err)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL, *ev;
	const char *js;
	size_t evlen, n;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	/* No column can be longer than the whole record. */
	if (len <= field_max)
		return 0;
	if (len > (size_t)INT32_MAX)
		return aw_error_set(err, "record of %zu bytes is too large to parse", len);
	tok = json_tokener_new_ex(SEN_JSON_DEPTH);
	if (!tok)
		return aw_error_set(err, "out of memory");
	root = json_tokener_parse_ex(tok, data, (int)len);
	if (!root || !json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "Evidence", &ev)) {
		rc = 0;
		goto out;
	}
	evlen = json_len(ev);
	if (evlen == SIZE_MAX) {
		aw_error_set(err, "out of memory");
		goto out;
	}
	if (evlen <= field_max) {
		rc = 0;
		goto out;
	}
	if (shrink(root, ev, evlen, field_max) < 0 ||
	    !(js = json_object_to_json_string_length(root, SEN_JSON_FLAGS, &n)) ||
	    !(*out = malloc(n + 1))) {
		aw_error_set(err, "out of memory trimming Evidence");
		goto out;
	}
	memcpy(*out, js, n + 1);
	*outlen = n;
	rc = 1;
out:
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

/* --- the array --------------------------------------------------------------------- */

/* Room for `more` bytes and a NUL, within AW_SENTINEL_BODY_MAX. 1 when over it. */
static int reserve(struct aw_sentinel_body *b, size_t more, struct aw_error *err)
{
	size_t need = b->len + more + 1, cap;
	char *nb;

	if (more > AW_SENTINEL_BODY_MAX || b->len + more > AW_SENTINEL_BODY_MAX)
		return 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64 * 1024;
	while (cap < need)
		cap *= 2;
	if (cap > AW_SENTINEL_BODY_MAX + 1)
		cap = AW_SENTINEL_BODY_MAX + 1;
	nb = realloc(b->json, cap);
	if (!nb)
		return aw_error_set(err, "out of memory building a %zu-byte body", need);
	b->json = nb;
	b->cap = cap;
	return 0;
}

static int append(struct aw_sentinel_body *b, const char *s, size_t n, struct aw_error *err)
{
	int rc = reserve(b, n, err);

	if (rc != 0)
		return rc;
	memcpy(b->json + b->len, s, n);
	b->len += n;
	b->json[b->len] = '\0';
	return 0;
}

int aw_sentinel_body_build(struct aw_sentinel_body *b, const struct aw_record *recs, size_t n,
			   struct aw_error *err)
{
	int rc;

	b->len = 0;
	b->gz_len = 0;
	b->trimmed = 0;
	if ((rc = append(b, "[", 1, err)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		char *trim = NULL;
		size_t tlen = 0;
		const char *data = recs[i].data;
		size_t len = recs[i].len;

		int t =
		    aw_sentinel_trim_evidence(data, len, AW_SENTINEL_FIELD_MAX, &trim, &tlen, err);
		if (t < 0)
			return -1;
		if (t == 1) {
			data = trim;
			len = tlen;
			b->trimmed++;
		}
		rc = i ? append(b, ",", 1, err) : 0;
		if (rc == 0)
			rc = append(b, data, len, err);
		free(trim);
		if (rc != 0)
			return rc;
	}
	/* The closing bracket must fit too: the cap is on the whole body. */
	return append(b, "]", 1, err);
}

int aw_sentinel_body_gzip(struct aw_sentinel_body *b, struct aw_error *err)
{
	z_stream zs;
	uLong bound;
	int zrc;

	memset(&zs, 0, sizeof zs);
	b->gz_len = 0;
	/* windowBits 15 + 16: a gzip wrapper, which Content-Encoding: gzip names. Level 1:
	 * the cap counts uncompressed bytes, so a better ratio would only save bandwidth,
	 * at twice the CPU per batch. */
	if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return aw_error_set(err, "gzip: cannot initialise zlib");
	bound = deflateBound(&zs, (uLong)b->len);
	if (bound > b->gz_cap) {
		unsigned char *ng = realloc(b->gz, bound);
		if (!ng) {
			deflateEnd(&zs);
			return aw_error_set(err, "gzip: out of memory");
		}
		b->gz = ng;
		b->gz_cap = bound;
	}
	zs.next_in = (Bytef *)b->json;
	zs.avail_in = (uInt)b->len;
	zs.next_out = b->gz;
	zs.avail_out = (uInt)b->gz_cap;
	zrc = deflate(&zs, Z_FINISH);
	if (zrc != Z_STREAM_END) {
		deflateEnd(&zs);
		return aw_error_set(err, "gzip: deflate failed (%d)", zrc);
	}
	b->gz_len = (size_t)zs.total_out;
	deflateEnd(&zs);
	return 0;
}

void aw_sentinel_body_free(struct aw_sentinel_body *b)
{
	free(b->json);
	free(b->gz);
	memset(b, 0, sizeof *b);
}
