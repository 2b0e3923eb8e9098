/* Posture: the hardening the AI workloads are supposed to have, checked continuously.
 *
 * Three parts share this header:
 *   - the inventory (posture_collect.c): what Resource Graph and ARM say about the AI
 *     resources and what protects them, as one JSON array of resource objects;
 *   - the checks (posture_checks.c, posture_controls.c): one table of checks, each a
 *     property of one resource type with its expected value and the service default
 *     that an absent property stands for (contract §5), mapped to compliance controls;
 *   - the users: the `posture` input (in_posture.c, findings as AIWatchPosture events
 *     when they appear, change or are resolved) and `aiwatchd posture` (posture_main.c,
 *     posture_report.c: a report once, as text, JSON or self-contained HTML).
 *
 * The inventory is a document, so it is json-c (design.md: json-c for documents). Each
 * element is an ARM resource object as Resource Graph or ARM returned it (`id`, `name`,
 * `type` in any case, `kind`, `location`, `subscriptionId`, `properties`, `identity`,
 * `sku`), plus, under the member AW_POSTURE_META that ARM never uses, what the
 * collector read about it separately:
 *
 *   "_aiwatch": {
 *     "diagnosticSettings": [ ...ARM diagnosticSettings items... ],   // accounts, workspaces, vaults
 *     "error": "why something about this resource could not be read"  // absent when all was read
 *   }
 *
 * Children are elements of their own, with their ARM type: model deployments
 * (Microsoft.CognitiveServices/accounts/deployments), ML computes
 * (Microsoft.MachineLearningServices/workspaces/computes), Key Vault secrets' list
 * metadata (Microsoft.KeyVault/vaults/secrets, never values), and one
 * Microsoft.Security/pricings element per subscription for the Defender for AI plan
 * (name "AI"; absent when the subscription has none: the collector then adds
 * {"id": "/subscriptions/S/providers/Microsoft.Security/pricings/AI", "type":
 * "Microsoft.Security/pricings", "name": "AI", "subscriptionId": "S", "properties": {}}
 * so that an absent plan is evaluated as the Free tier). */
#ifndef AW_POSTURE_H
#define AW_POSTURE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../daemon/error.h"
#include "../daemon/http.h"
#include "../daemon/options.h"

#define AW_POSTURE_META	 "_aiwatch"
#define AW_POSTURE_TABLE "AIWatchPosture"

/* --- the checks ------------------------------------------------------------------------ */

enum aw_posture_status {
	AW_POSTURE_PASS,
	AW_POSTURE_FAIL,
	AW_POSTURE_UNKNOWN, /* what the check reads could not be read (AW_POSTURE_META.error) */
};

enum aw_posture_framework {
	AW_FW_MCSB,	/* Microsoft cloud security benchmark v1 */
	AW_FW_NIST,	/* NIST SP 800-53 rev. 5 */
	AW_FW_ISO27001, /* ISO/IEC 27001:2022 Annex A */
	AW_FW_SOC2,	/* AICPA SOC 2 trust services criteria (2017, revised 2022) */
	AW_FW_COUNT
};

#define AW_POSTURE_MAX_CONTROLS 6 /* per check and framework */

struct aw_posture_check;

/* What one check found on one resource. */
struct aw_posture_result {
	const struct aw_posture_check *check;
	json_object *resource;	     /* borrowed: the inventory element */
	enum aw_posture_status status;
	bool absent;		     /* the property was absent: the default was evaluated */
	char actual[160];	     /* the value seen, as text: "Enabled", "absent (default: Enabled)" */
};

/* The table. */
size_t aw_posture_check_count(void);
const struct aw_posture_check *aw_posture_check_at(size_t i);
const struct aw_posture_check *aw_posture_check_find(const char *id);

/* Fields of a check (the struct is private to posture_checks.c). */
const char *aw_posture_check_id(const struct aw_posture_check *c);	   /* "AIW-OAI-001" */
const char *aw_posture_check_title(const struct aw_posture_check *c);
const char *aw_posture_check_area(const struct aw_posture_check *c);	   /* "Network", ... */
const char *aw_posture_check_type(const struct aw_posture_check *c);	   /* ARM type */
const char *aw_posture_check_path(const struct aw_posture_check *c);	   /* property path */
const char *aw_posture_check_expected(const struct aw_posture_check *c); /* as text */
const char *aw_posture_check_default(const struct aw_posture_check *c);  /* when absent */
const char *aw_posture_check_severity(const struct aw_posture_check *c); /* High|Medium|Low */
const char *aw_posture_check_baseline(const struct aw_posture_check *c); /* baseline item */
const char *aw_posture_check_remediation(const struct aw_posture_check *c);
/* The controls a check supports in one framework, NULL-terminated (posture_controls.c). */
const char *const *aw_posture_check_controls(const struct aw_posture_check *c,
					     enum aw_posture_framework fw);

/* "mcsb", "nist", "iso27001", "soc2" and back (-1 for an unknown name). */
const char *aw_posture_framework_name(enum aw_posture_framework fw);
int aw_posture_framework_parse(const char *name);
/* A control's title ("NS-2" -> "Secure cloud services with network controls"), or NULL. */
const char *aw_posture_control_title(enum aw_posture_framework fw, const char *control);

/* Run every check that applies to one inventory element (by type, and kind where a check
 * names one); fn is called once per result. Returns the number of checks that applied. */
size_t aw_posture_evaluate(json_object *resource,
			   void (*fn)(void *ud, const struct aw_posture_result *r), void *ud);

/* --- the inventory ---------------------------------------------------------------------- */

/* Resource Graph's `subscriptions` (also where pricings are read), or its
 * `managementGroups`; both empty: everything the identity can see, and pricings are read
 * for every subscription that appears in the answers. */
struct aw_posture_scope {
	struct aw_strlist subscriptions;
	struct aw_strlist management_groups;
};

struct aw_posture_collect_conf {
	uv_loop_t *loop;
	struct aw_http *http;
	const struct aw_http_bearer *bearer; /* ARM scope; borrowed, outlives the collector */
	const char *component;		     /* for log lines ("in_posture/x", "posture") */
	const char *arm_endpoint;	     /* "https://management.azure.com" (no trailing /) */
	const struct aw_posture_scope *scope; /* borrowed */
	unsigned page_size;		     /* Resource Graph $top, 1..1000; 0 = 1000 */
	unsigned concurrency;		     /* ARM reads in flight for children; 0 = 4 */
	bool children;			     /* read deployments, computes, secrets */
	bool diagnostics;		     /* read diagnostic settings */
	size_t max_resources;		     /* inventory ceiling; 0 = 100000 */
	long timeout_ms;		     /* per request; 0 = the HTTP client's */
};

struct aw_posture_inventory {
	json_object *resources; /* array, owned */
	bool complete;		/* every listing read to its end */
	size_t failed_reads;	/* child / diagnostics / pricing reads that failed */
	char error[AW_ERROR_MAX]; /* the first failure, "" when none */
};

void aw_posture_inventory_free(struct aw_posture_inventory *inv);

struct aw_posture_collector;

int aw_posture_collector_new(const struct aw_posture_collect_conf *conf,
			     struct aw_posture_collector **out, struct aw_error *err);
/* Read the estate once; done(ud, inv) runs on the loop with an inventory it then owns
 * (also when reads failed: inv->complete false and inv->error say so), possibly before
 * this returns (when the Resource Graph request cannot even start). -1 when a
 * collection is already running. */
int aw_posture_collect(struct aw_posture_collector *c,
		       void (*done)(void *ud, struct aw_posture_inventory *inv), void *ud,
		       struct aw_error *err);
bool aw_posture_collecting(const struct aw_posture_collector *c);
/* Cancel what runs (done() is not called), free; closed(ud) once nothing is outstanding. */
void aw_posture_collector_close(struct aw_posture_collector *c, void (*closed)(void *ud),
				void *ud);

#endif
