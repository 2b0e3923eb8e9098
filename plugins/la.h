/* Internals of the `loganalytics` input (in_loganalytics.c), shared by its parts:
 *
 *   la_conf.c    the options, their checks, the KQL source they name
 *   la_poll.c    the poll cycle: scheduling, the query, rows to events, the cursor
 *   la_time.c    ingestion-time and TimeGenerated values: 100 ns ticks since the epoch
 *   la_query.c   the KQL the input sends and the request body
 *   la_answer.c  a query answer: the `tables` format, its `error` member, and rows
 *                turned into events by column name
 *   la_cursor.c  the de-duplication set of _ItemIds, the marks that tie a watermark to
 *                a sequence number, and the checkpoint file
 *   la_limit.c   the process-wide query limiter (5 concurrent, 200 per 30 s)
 *
 * Not a public interface: only the input's files include it. */
#ifndef AW_LA_H
#define AW_LA_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../daemon/auth.h"
#include "../daemon/error.h"
#include "../daemon/http.h"
#include "../daemon/options.h"
#include "plugin.h"

/* --- time ------------------------------------------------------------------------- */

#define AW_LA_TICKS_PER_SEC 10000000LL /* Log Analytics datetimes carry 7 fractional digits */
#define AW_LA_TICKS_PER_MS  10000LL
#define AW_LA_TIME_LEN	    29 /* "2026-05-01T10:00:01.1234567Z" + NUL */

/* ISO 8601 UTC ("...Z" or "+00:00", 0..9 fractional digits; more than 7 are cut) to
 * ticks. 0 or -1 when s is not such a date. */
int aw_la_time_parse(const char *s, size_t len, int64_t *ticks);
/* Always 7 fractional digits and "Z": the form KQL's datetime() and the API accept. */
void aw_la_time_format(int64_t ticks, char buf[AW_LA_TIME_LEN]);
int64_t aw_la_now_ticks(void);

/* --- queries ---------------------------------------------------------------------- */

/* Dedup keys: the _ItemId (a GUID) when it fits, else a hash of the row. */
#define AW_LA_KEY_MAX 48

/* One request's range of ingestion_time(): (lo, hi], or with `keyset` the rows after
 * (lo, lo_id) in the answer order (ingestion time, then _ItemId), up to hi. */
struct aw_la_range {
	int64_t lo;
	int64_t hi;
	bool keyset;
	char lo_id[AW_LA_KEY_MAX];
	size_t take;
};

/* The union of `tables` entries (a table name, or a table followed by KQL operators:
 * "AzureActivity | where ..."), as one tabular source. NULL when out of memory. */
char *aw_la_tables_source(const struct aw_strlist *tables);
/* Check one `tables` entry or the `query` source: a table or expression we can append
 * our clauses to. 0, or -1 with why. */
int aw_la_source_check(const char *src, bool single_table_head, char *why, size_t whysz);

/* The request body {"query": ..., "timespan": "start/end"} for source over r.
 * max_lateness widens the TimeGenerated range below r->lo (records may be stamped that
 * long before they were ingested); future covers TimeGenerated after hi. Returns
 * malloc'd JSON text or NULL (out of memory). */
char *aw_la_request_body(const char *source, const struct aw_la_range *r, int64_t max_lateness,
			 int64_t future);

/* --- answers ---------------------------------------------------------------------- */

enum aw_la_type {
	AW_LA_T_STRING,
	AW_LA_T_DATETIME,
	AW_LA_T_BOOL,
	AW_LA_T_INT,  /* int, long */
	AW_LA_T_REAL, /* real, double */
	AW_LA_T_DYNAMIC,
	AW_LA_T_OTHER, /* guid, timespan, decimal, unknown: kept as they come */
};

struct aw_la_col {
	const char *name; /* borrowed from the answer's tree */
	enum aw_la_type type;
	bool json_text; /* a string column known to hold JSON text (properties_s, ...) */
};

/* A parsed 200 answer. `error` is its top-level error member: PartialError (or any
 * other code) means the rows may be incomplete unless every detail is a warning. */
struct aw_la_answer {
	json_object *root;
	json_object *rows; /* borrowed: the first table's rows */
	size_t nrows;
	struct aw_la_col *cols;
	size_t ncols;
	int i_ing, i_id, i_type; /* column indexes, -1 when absent */
	bool has_error;
	bool warnings_only; /* every detail of `error` has severity Warning */
	char error_code[96];
	char error_detail[512]; /* the innermost message, for the log */
};

/* Parse body (len bytes). An empty body is an answer with no rows. 0, or -1 with err
 * (not JSON, no tables, columns malformed). The answer owns its tree. */
int aw_la_answer_parse(const char *body, size_t len, struct aw_la_answer *a, struct aw_error *err);
void aw_la_answer_free(struct aw_la_answer *a);

/* Row i as an event. The key (dedup) and item id (logs) are filled whenever they can
 * be; `ing` when has_ing. On success json is the malloc'd event (column name to typed
 * value, null values left out, dynamic values as JSON text, `Type` present) and
 * 0 is returned; a malformed row returns -1 with reason (a metric label) and why. */
struct aw_la_row {
	char key[AW_LA_KEY_MAX];
	char item_id[AW_LA_KEY_MAX + 8];
	char table[128];
	bool has_ing;
	bool has_id;
	int64_t ing;
	char *json;
	size_t len;
	const char *reason;
	char why[256];
};
int aw_la_row_event(const struct aw_la_answer *a, size_t i, const char *default_type,
		    struct aw_la_row *out);
/* The key and ingestion time of row i without building the event. */
void aw_la_row_key(const struct aw_la_answer *a, size_t i, struct aw_la_row *out);

/* --- de-duplication set ---------------------------------------------------------- */

/* Keys seen recently, in insertion order, bounded: at `max` the oldest is forgotten.
 * Each remembers the ingestion time of its row (to forget it once the watermark has
 * passed it by more than the overlap) and the sequence number at which it was
 * handled (to persist only what is durable). */
struct aw_la_seen;
struct aw_la_seen *aw_la_seen_new(size_t max);
void aw_la_seen_free(struct aw_la_seen *s);
bool aw_la_seen_has(const struct aw_la_seen *s, const char *key);
/* Add (key must not be present). Returns 1 when an older key was forgotten to make
 * room, 0 otherwise, -1 when out of memory (then nothing is added). */
int aw_la_seen_add(struct aw_la_seen *s, const char *key, int64_t ing, uint64_t seq);
/* Forget the oldest keys while their ingestion time is <= before. */
void aw_la_seen_prune(struct aw_la_seen *s, int64_t before);
size_t aw_la_seen_count(const struct aw_la_seen *s);
void aw_la_seen_foreach(const struct aw_la_seen *s,
			void (*fn)(void *ud, const char *key, int64_t ing, uint64_t seq), void *ud);

/* --- marks: watermark W is safe to persist once sequence seq is durable ----------- */

struct aw_la_mark {
	uint64_t seq;
	int64_t w;
};
struct aw_la_marks {
	struct aw_la_mark *v;
	size_t head, len, cap;
};
#define AW_LA_MAX_MARKS 4096
/* Append; at the bound (or out of memory) it merges into the last mark: a later commit,
 * never a wrong one. */
void aw_la_marks_push(struct aw_la_marks *m, uint64_t seq, int64_t w);
/* Pop every mark with seq <= durable; returns true and the newest w if any. */
bool aw_la_marks_pop(struct aw_la_marks *m, uint64_t durable, int64_t *w);
void aw_la_marks_free(struct aw_la_marks *m);

/* --- checkpoint ------------------------------------------------------------------- */

struct aw_la_ckpt {
	int64_t watermark; /* everything ingested at or before it has been handled */
	char workspace[64];
	char source_hash[17]; /* of the KQL source, to notice a changed query */
};
/* Write dir/name atomically: the watermark and the keys of `seen` whose seq <= durable
 * and whose ingestion time is after min_ing (the overlap a restart re-reads). */
int aw_la_ckpt_write(const char *dir, const char *name, const struct aw_la_ckpt *c,
		     const struct aw_la_seen *seen, uint64_t durable, int64_t min_ing,
		     struct aw_error *err);
/* Read dir/name: 0 (c filled, keys added to seen as durable), 1 when missing, -1 when
 * unreadable or corrupt (err says why; seen is left empty). */
int aw_la_ckpt_read(const char *dir, const char *name, struct aw_la_ckpt *c,
		    struct aw_la_seen *seen, struct aw_error *err);
/* FNV-1a 64 of s as 16 hex digits. */
void aw_la_hash_hex(const char *s, size_t len, char out[17]);

/* --- the query limiter -------------------------------------------------------------- */

/* Log Analytics allows 5 concurrent queries and 200 per 30 s per identity and client
 * address, across workspaces: every instance of the input in this process shares one
 * limiter. A slot is granted in FIFO order through grant(), possibly from inside
 * aw_la_limit_request(). When the rate window is full the head's `timer` (owned by its
 * instance, on its loop; the limiter sets its callback) is armed to pump again later. */
#define AW_LA_MAX_CONCURRENT 5
#define AW_LA_MAX_PER_WINDOW 200
#define AW_LA_WINDOW_MS	     30000

struct aw_la_slot {
	struct aw_la_slot *next;
	void (*grant)(struct aw_la_slot *s);
	uv_timer_t *timer;
	bool queued;
	bool held;
};
void aw_la_limit_request(struct aw_la_slot *s);
/* The granted query finished. */
void aw_la_limit_release(struct aw_la_slot *s);
/* Leave the queue, or give back a held slot. */
void aw_la_limit_cancel(struct aw_la_slot *s);
void aw_la_limit_pump(void);

/* --- the input ---------------------------------------------------------------------- */

#define AW_LA_COMPONENT "in_loganalytics"
#define AW_LA_TAKE_MAX	500000 /* the service's own row limit */

/* The options (aw_la_options in la_conf.c). */
struct aw_la_conf {
	char *workspace_id;
	char *endpoint;
	char *scope;
	struct aw_credential_conf credential;
	struct aw_strlist tables;
	char *query;
	char *type;
	uint64_t interval_ms;
	uint64_t settle_delay_ms;
	uint64_t overlap_ms;
	uint64_t max_lateness_ms;
	long long row_cap;
	uint64_t lookback_ms;
	uint64_t query_timeout_ms;
	long long dedup_max;
	uint64_t max_response_bytes;
};

/* Where a poll stands: waiting for its timer, for a limiter slot, for the answer, or
 * handing the answer's rows to the pipeline. */
enum aw_la_phase { AW_LA_IDLE, AW_LA_WAIT_SLOT, AW_LA_QUERY, AW_LA_EMIT };

/* The instance (in_loganalytics.c, la_poll.c). Loop thread only. */
struct aw_la_input {
	struct aw_plugin_ctx *ctx;
	const struct aw_la_conf *conf;
	uv_loop_t *loop;
	struct aw_http *http;
	struct aw_auth *own_auth;
	struct aw_credential *cred;
	const struct aw_http_bearer *bearer;
	char *source, *url, *component;
	char source_hash[17];
	char prefer[48];

	uv_timer_t poll, ckpt, step, limit;
	struct aw_la_slot slot;
	struct aw_http_req *req;
	enum aw_la_phase phase;
	uint64_t query_start_ns;

	/* cursor */
	int64_t w, ck_w, newest_ing;
	int64_t cycle_hi;
	uint64_t cycle_start_ms;
	struct aw_la_range range;
	size_t take_now;
	int64_t span_now; /* 0: the whole cycle in one range */
	struct aw_la_answer ans;
	size_t next_row;
	bool have_last, last_has_id, have_prev_cap;
	int64_t last_ing, prev_cap_ing;
	char last_id[AW_LA_KEY_MAX], prev_cap_id[AW_LA_KEY_MAX];
	struct aw_la_seen *seen;
	struct aw_la_marks marks;
	uint64_t last_seq, durable_seq;

	bool started, stopped, closing, paused, want_cycle, ck_dirty;
	bool first_done, ready_ok, logged_204, logged_empty;
	char why[512];
	unsigned fails;
	uint64_t bad, partial_warnings, last_ckpt_ms;
	unsigned close_pending;
	void (*closed)(struct aw_plugin_ctx *ctx);

	struct aw_metric *m_rows, *m_dups, *m_lag, *m_qsec, *m_throttled, *m_partial, *m_retries,
	    *m_wm, *m_dedup, *m_evicted, *m_ok, *m_failed;
};

extern const struct aw_option aw_la_options[];
int aw_la_validate(const void *conf, const char *where, struct aw_error_list *errs);
/* A credential section that only restates the defaults means "the daemon's". */
bool aw_la_own_credential(const struct aw_credential_conf *c);
/* The KQL source: `query`, the `tables` union, or the default tables. malloc'd. */
char *aw_la_source(const struct aw_la_conf *c);

static inline const char *aw_la_name(const struct aw_la_input *in)
{
	return aw_ctx_name(in->ctx);
}

/* la_poll.c */
void aw_la_schedule_poll(struct aw_la_input *in, uint64_t delay_ms);
void aw_la_begin_cycle(struct aw_la_input *in);
void aw_la_emit_some(struct aw_la_input *in);
void aw_la_grant(struct aw_la_slot *s);
/* in_loganalytics.c: everything ingested up to w is handled (once what was emitted so
 * far is durable, the checkpoint may say so). */
void aw_la_advance(struct aw_la_input *in, int64_t w);
/* One more handle or request of a closing instance is done. */
void aw_la_close_step(struct aw_la_input *in);

#endif
