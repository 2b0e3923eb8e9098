/* The body of one Logs Ingestion API call (out_sentinel): the batch's alerts as one JSON
 * array under the service's 1,048,576-byte cap, each alert's Evidence kept under the
 * 64 KB column limit, and the array gzipped when that makes it smaller.
 *
 * A struct aw_sentinel_body is reused from batch to batch; its buffers never grow past
 * AW_SENTINEL_BODY_MAX (plus gzip's own bound). aw_sentinel_body_free releases them. */
#ifndef AW_SENTINEL_BODY_H
#define AW_SENTINEL_BODY_H

#include <stddef.h>

#include "../daemon/error.h"
#include "../daemon/event.h"

/* The service answers 413 above this Content-Length (contract §3); the uncompressed
 * array is kept under it too, since the documented limit covers both. */
#define AW_SENTINEL_BODY_MAX ((size_t)1048576)
/* What a batch aims at, envelope included: the margin under the cap is where
 * OpenShift's and the Azure SDKs' batchers stop as well. */
#define AW_SENTINEL_BATCH_TARGET ((size_t)1000000)
/* A column value longer than 64 KB is truncated by the service, which turns a dynamic
 * column into broken JSON; Evidence is trimmed below this instead. */
#define AW_SENTINEL_FIELD_MAX ((size_t)64000)
/* Smaller bodies go uncompressed: gzip's header costs more than it saves. */
#define AW_SENTINEL_GZIP_MIN ((size_t)1024)

struct aw_sentinel_body {
	char *json; /* "[rec,rec,...]", NUL-terminated */
	size_t len, cap;
	unsigned char *gz; /* gzip of json, when made */
	size_t gz_len, gz_cap;
	size_t trimmed; /* records of this body whose Evidence was trimmed */
};

/* Build the array from recs. 0 when it fits AW_SENTINEL_BODY_MAX; 1 when it does not
 * (the caller answers "too large" so the core splits the batch); -1 on error. */
int aw_sentinel_body_build(struct aw_sentinel_body *b, const struct aw_record *recs, size_t n,
			   struct aw_error *err);

/* gzip b->json into b->gz (a gzip member, RFC 1952). 0 or -1. Touches only b: safe on a
 * worker thread while nothing else uses b. */
int aw_sentinel_body_gzip(struct aw_sentinel_body *b, struct aw_error *err);

void aw_sentinel_body_free(struct aw_sentinel_body *b);

/* Keep one alert's Evidence under field_max serialized bytes: samples are dropped from
 * the end, then item ids; if that is not enough Evidence keeps only the marks. A
 * trimmed Evidence carries "EvidenceTruncated": true and "OriginalBytes": its size
 * before. Returns 0 when nothing needed trimming (also for a record that is not a JSON
 * object: the service judges it), 1 with the new record in *out (malloc'd, *outlen
 * bytes, NUL-terminated), -1 on error. */
int aw_sentinel_trim_evidence(const char *data, size_t len, size_t field_max, char **out,
			      size_t *outlen, struct aw_error *err);

#endif
