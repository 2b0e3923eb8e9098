/* The `defender` input's configuration: its option table, the checks across options,
 * and the requests a poll makes from it (the ARM list URLs, the Resource Graph query).
 * in_defender.c runs the polls. */
#ifndef AW_DEFENDER_CONF_H
#define AW_DEFENDER_CONF_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../daemon/auth.h"
#include "../daemon/error.h"
#include "../daemon/options.h"

#define AW_DEF_API_ASSESSMENTS "2021-06-01"
#define AW_DEF_API_ALERTS      "2022-01-01"
#define AW_DEF_API_GRAPH       "2022-10-01"

struct aw_def_conf {
	struct aw_strlist subscriptions;
	bool use_resource_graph;
	bool assessments;
	bool alerts;
	char *arm_endpoint;
	char *scope;
	struct aw_credential_conf credential;
	uint64_t interval_ms;
	uint64_t request_timeout_ms;
	long long max_pages;
	long long max_empty_pages;
	uint64_t max_page_bytes;
	long long min_remaining_reads;
	long long graph_batch;
	long long graph_page_size;
	long long max_findings;
};
extern const struct aw_option aw_def_options[];

/* The plugin's validate(): adds "where.key: reason" for every problem; 0 when none. */
int aw_def_conf_validate(const void *conf, const char *where, struct aw_error_list *errs);

/* Lists per poll: two per subscription over ARM (one when assessments or alerts is
 * off), or one Resource Graph query per resource_graph_batch subscriptions (at least
 * one: no subscriptions means all the identity can see). */
size_t aw_def_list_count(const struct aw_def_conf *c);
/* List i of a poll: *graph tells which kind; for ARM, *kind_alerts whether it is the
 * alerts list; the URL (endpoint without a trailing '/') is written to url. For
 * Resource Graph *request is the body (the caller owns it). 0, or -1 when out of
 * memory or the URL does not fit. */
int aw_def_list_request(const struct aw_def_conf *c, const char *endpoint, size_t i, bool *graph,
			bool *kind_alerts, char *url, size_t urlsz, json_object **request);

#endif
