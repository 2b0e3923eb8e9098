/* Correlation state: Sigma correlation rules (event_count, value_count, temporal,
 * temporal_ordered, value_sum, value_avg) and two aiwatch extensions (first_seen,
 * baseline), evaluated over the events' own time.
 *
 * The engine feeds each match of a referenced rule (which rule, event time, group key,
 * the correlated field's value, the event's id) and learns when a group's window
 * satisfies the condition. Windows slide over event time; a match up to
 * allowed_lateness older than the newest time seen is still counted in the window it
 * belongs to, an older one is dropped and counted. State is bounded per correlation
 * and in total (shared budget), least-recently-used groups are evicted and counted.
 * State is saved and restored so a restart does not forget open windows. */
#ifndef AW_CORRELATION_H
#define AW_CORRELATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum aw_corr_type {
	AW_CORR_EVENT_COUNT,
	AW_CORR_VALUE_COUNT,
	AW_CORR_TEMPORAL,
	AW_CORR_TEMPORAL_ORDERED,
	AW_CORR_VALUE_SUM,
	AW_CORR_VALUE_AVG,
	AW_CORR_FIRST_SEEN,  /* aiwatch: a value never seen for the group after learning */
	AW_CORR_BASELINE,    /* aiwatch: bucket count far above the group's own history */
};

/* A range condition: every operator that is set must hold (AND). */
struct aw_corr_cond {
	bool has_gt, has_gte, has_lt, has_lte, has_eq, has_neq;
	double gt, gte, lt, lte, eq, neq;
};

struct aw_corr_spec {
	enum aw_corr_type type;
	uint64_t timespan_ms;       /* window length; for baseline the bucket length */
	size_t nrules;              /* referenced rules; temporal_ordered: in this order */
	struct aw_corr_cond cond;   /* temporal default: gte nrules */
	/* first_seen */
	uint64_t learning_ms;       /* values seen during this period after a group's first
	                               event only teach, never alert */
	/* baseline */
	size_t history_buckets;     /* how many past buckets form the baseline */
	double factor;              /* alert when count > factor * baseline mean ... */
	double min_count;           /* ... and count >= min_count */
};

/* Shared by all correlations of a rule set: the total group budget and the lateness. */
struct aw_corr_budget {
	size_t max_groups_total;
	size_t groups;              /* current total, maintained by the correlations */
	uint64_t allowed_lateness_ms;
	uint64_t evicted;           /* groups evicted (LRU) because of a bound */
	uint64_t too_late;          /* matches dropped as later than allowed_lateness */
	uint64_t dropped;           /* matches (oldest first) or first_seen values dropped at
	                               a per-group bound */
};

/* What a firing reports. Pointers are valid until the next call on this correlation. */
struct aw_corr_fire {
	int64_t window_start_ms;    /* time of the first event in the firing window */
	int64_t window_end_ms;      /* time of the last */
	uint64_t count;             /* events in the window */
	double aggregate;           /* distinct values / sum / avg / rules seen / bucket count */
	const char *group_key;      /* as fed */
	size_t group_key_len;
	const char *const *event_ids; /* ids of (up to 16) contributing events */
	size_t nevent_ids;
	const char *const *values;  /* value_count/first_seen: distinct values (up to 16) */
	size_t nvalues;
};

struct aw_corr;

struct aw_corr *aw_corr_new(const struct aw_corr_spec *spec, size_t max_groups,
			    struct aw_corr_budget *budget, struct aw_error *err);
void aw_corr_free(struct aw_corr *c);

/* Feed one match. rule_idx is the referenced rule's position in the spec; t_ms the
 * event time (ms since the epoch); key the group key (the group-by values joined by
 * the caller); value/vlen the correlated field's text (value_count, first_seen; may be
 * NULL) and num its number (value_sum, value_avg); event_id for evidence.
 * Returns 1 and fills *fire when the group's window satisfies the condition (one fire
 * per window episode: the group's window restarts after a fire), 0 otherwise, -1 on
 * allocation failure. With an upper bound in the condition (lt, lte, eq, neq) or for
 * value_avg a window is judged when event time has passed its end, so the fire may be
 * another group's: collect the rest with aw_corr_next. Semantics in correlation.c. */
int aw_corr_feed(struct aw_corr *c, size_t rule_idx, int64_t t_ms, const char *key,
		 size_t keylen, const char *value, size_t vlen, double num, const char *event_id,
		 struct aw_corr_fire *fire);

/* Further fires: in episode mode (conditions with an upper bound, value_avg) one feed
 * can close the windows of several groups. Call after aw_corr_feed until it returns 0;
 * returns 1 and fills *fire like aw_corr_feed. Fires not collected are returned by
 * later calls (feed or next), never lost. */
int aw_corr_next(struct aw_corr *c, struct aw_corr_fire *fire);

/* Number of live groups. */
size_t aw_corr_groups(const struct aw_corr *c);

/* Serialize the state to a malloc'd buffer / restore it (replacing current state).
 * load validates everything and fails cleanly (state unchanged) on corrupt input. */
int aw_corr_save(const struct aw_corr *c, char **buf, size_t *len, struct aw_error *err);
int aw_corr_load(struct aw_corr *c, const char *buf, size_t len, struct aw_error *err);

#endif
