/* Inside the posture collector (posture.h's aw_posture_collect): its state, shared by
 * the files that read the estate one part each:
 *   - posture_collect.c: the collector's life (new, collect, close), what the parts
 *     write on an element (a read that failed), and the inventory assembled at the end;
 *   - posture_graph.c: the Resource Graph listing of the AI resources, which queues the
 *     reads each row needs;
 *   - posture_fanout.c: those ARM reads (children, diagnostic settings, the Defender
 *     plan of each subscription), at most `concurrency` in flight.
 * Loop thread only. */
#ifndef AW_POSTURE_COLLECTOR_H
#define AW_POSTURE_COLLECTOR_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arm_pager.h"
#include "posture.h"
#include "posture_json.h"

#define PC_URL_MAX   4096
/* Subscriptions per Resource Graph query: Microsoft's guidance is to batch fewer than
 * about 300 per query (contract §4.4); a longer list is read in several listings. */
#define PC_GRAPH_BATCH 300
#define PC_LOG_FIRST 5 /* failed reads logged at warning level per collection */

/* What Resource Graph names the three types (lower case) and their child collection. */
struct pc_type {
	const char *type;
	const char *child;	/* path segment of the child listing */
	const char *child_type; /* ARM type of a child */
	const char *api;	/* api-version of the child listing */
};

enum pc_task_kind { PC_T_CHILDREN, PC_T_DIAG, PC_T_PRICING };
enum pc_task_state { PC_PENDING, PC_RUNNING, PC_DONE };

struct pc_task {
	uint8_t kind, state;
	size_t target; /* index of the resource, or of the subscription for a plan */
};

struct pc_top {
	json_object *obj;      /* the Resource Graph row; owned */
	json_object *children; /* owned array; NULL when none were read */
	const struct pc_type *t;
};

struct pc_sub {
	char *id;
	json_object *pricing; /* owned */
};

struct aw_posture_collector;

struct pc_slot {
	struct aw_posture_collector *c;
	struct aw_arm_pager *pg;
	struct aw_http_req *req; /* a plan read in flight */
	size_t task;
	bool busy;
	bool cut;	    /* the listing was stopped at max_resources */
	json_object *items; /* what the listing returned so far; owned */
};

struct aw_posture_collector {
	struct aw_posture_collect_conf conf;
	char *component, *endpoint;
	struct aw_arm_pager *graph;
	struct pc_slot *slots;
	unsigned nslots;
	/* the collection in progress */
	bool collecting, graph_done, pumping, repump, capped;
	size_t graph_batch; /* the Resource Graph listing in progress (PC_GRAPH_BATCH each) */
	void (*done)(void *ud, struct aw_posture_inventory *inv);
	void *ud;
	struct aw_posture_inventory *inv;
	struct pc_top *tops;
	size_t ntops, captops;
	struct pc_sub *subs;
	size_t nsubs, capsubs;
	struct pc_task *tasks;
	size_t ntasks, captasks, next_task;
	unsigned inflight;
	size_t elements; /* resources and children, against max_resources */
	size_t skipped, logged, nchildren;
	uint64_t start_ms;
	/* closing */
	bool closing;
	unsigned outstanding;
	void (*closed)(void *ud);
	void *closed_ud;
};

/* --- posture_collect.c ------------------------------------------------------------------ */

/* The AW_POSTURE_META object of an element, created when missing; NULL when out of
 * memory. */
json_object *aw_pc_meta(json_object *obj);
/* Add "what: why" to the element's error (several are joined with "; "). */
void aw_pc_mark_error(json_object *obj, const char *what, const char *why);
/* A read failed: on the element, in the inventory's count and first error, logged (the
 * first PC_LOG_FIRST at warning level). */
void aw_pc_read_failed(struct aw_posture_collector *c, json_object *obj, const char *what,
		       const char *why);
/* Room for need elements of size in *v (*cap of them), doubling; -1 when out of memory. */
int aw_pc_grow(void **v, size_t *cap, size_t need, size_t size);
/* The inventory reached max_resources: no more resources or children are read. */
void aw_pc_hit_ceiling(struct aw_posture_collector *c);
/* Hand the inventory over once the listing has ended and no read is left. */
void aw_pc_maybe_finish(struct aw_posture_collector *c);

/* --- posture_graph.c -------------------------------------------------------------------- */

extern const struct aw_arm_pager_ops aw_pc_graph_ops;
/* The Resource Graph request of a collection (the caller owns it), NULL when out of
 * memory. */
json_object *aw_pc_graph_request(const struct aw_posture_collector *c);
/* Start the listing with req (taken over); a failure to start ends it at once. */
void aw_pc_graph_start(struct aw_posture_collector *c, json_object *req);

/* --- posture_fanout.c ------------------------------------------------------------------- */

extern const struct aw_arm_pager_ops aw_pc_slot_ops;
int aw_pc_add_task(struct aw_posture_collector *c, enum pc_task_kind kind, size_t target);
/* Start queued reads while slots are free; then maybe finish. */
void aw_pc_pump(struct aw_posture_collector *c);

#endif
