/* The emulator's shared state: configuration, request log, fault queue, counters.
 *
 * One mutex guards it all. The configuration is copy-on-write: a merge builds a new
 * tree, validates it, then swaps it in, so a handler that acquired the tree reads it
 * without the lock (and must not change or serialise it). Everything returned
 * malloc'd is the caller's to free. */
#ifndef AW_EMU_STATE_H
#define AW_EMU_STATE_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "emu.h"

#define AW_EMU_LOG_MAX_ENTRIES 10000u		      /* oldest dropped beyond */
#define AW_EMU_LOG_MAX_BYTES   (256u * 1024u * 1024u) /* bodies kept in the log */
#define AW_EMU_FAULTS_MAX      1000u
#define AW_EMU_FAULT_HEADERS   16u
#define AW_EMU_DELAY_MAX_MS    600000

enum aw_emu_token_kind {
	AW_EMU_KIND_IMDS,
	AW_EMU_KIND_APPSERVICE,
	AW_EMU_KIND_ENTRA,
	AW_EMU_KINDS
};

struct aw_emu_fault {
	char *path;   /* prefix */
	char *method; /* NULL: any */
	int64_t times;
	unsigned status; /* 0: answer normally */
	char *body;	 /* NULL: a fitting error body */
	struct aw_emu_header headers[AW_EMU_FAULT_HEADERS];
	size_t n_headers;
	int64_t retry_after_s; /* < 0: none */
	bool has_retry_after_date;
	int64_t retry_after_date_s;
	int64_t delay_ms;
	enum aw_emu_action action;
	struct aw_emu_fault *next;
};

struct aw_emu_log_entry;

struct aw_emu_state {
	pthread_mutex_t mu;
	json_object *config; /* current merged config (copy-on-write) */
	unsigned port;	     /* the bound port, for URLs the emulator writes */
	bool verbose;
	atomic_bool stopping; /* SIGTERM seen: delays end early */
	unsigned char hmac_key[32];
	uint64_t token_serial; /* makes every minted token distinct */

	struct aw_emu_log_entry *log_head, *log_tail;
	size_t log_n, log_bytes;
	uint64_t log_seq;

	struct aw_emu_fault *faults, *faults_tail;
	size_t n_faults;

	uint64_t requests;
	uint64_t tokens[AW_EMU_KINDS];
};

int aw_emu_state_init(struct aw_emu_state *st, char *err, size_t errlen);
void aw_emu_state_free(struct aw_emu_state *st);

/* --- configuration ----------------------------------------------------------------- */

/* Merge `patch` (RFC 7386 JSON Merge Patch: objects merge, null deletes, anything else
 * replaces) into a copy of the config, validate the result with every module, and
 * install it. On error the config is unchanged and err says why. */
int aw_emu_config_merge(struct aw_emu_state *st, json_object *patch, char *err, size_t errlen);
/* Take / give back a reference to the current config tree (read-only). */
json_object *aw_emu_config_acquire(struct aw_emu_state *st);
void aw_emu_config_release(struct aw_emu_state *st, json_object *cfg);
/* Field readers for a config tree (or any object). */
int64_t aw_emu_cfg_int(json_object *cfg, const char *key, int64_t def);
const char *aw_emu_cfg_str(json_object *cfg, const char *key, const char *def);
/* 0 when cfg[key] is absent or has `type`; else err names the key. */
int aw_emu_cfg_check(json_object *cfg, const char *key, json_type type, char *err, size_t errlen);
/* 0 when cfg[key] is absent or an integer in [min, max]. */
int aw_emu_cfg_check_int(json_object *cfg, const char *key, int64_t min, int64_t max, char *err,
			 size_t errlen);
/* The current config as JSON text, malloc'd. */
char *aw_emu_config_text(struct aw_emu_state *st);

/* --- request log, counters --------------------------------------------------------- */

/* Append an entry (takes ownership of `entry`; "seq" is added). */
void aw_emu_log_add(struct aw_emu_state *st, json_object *entry, size_t body_bytes);
/* JSON array text of logged requests whose path starts with prefix (NULL: all). */
char *aw_emu_log_text(struct aw_emu_state *st, const char *prefix);
void aw_emu_count_token(struct aw_emu_state *st, enum aw_emu_token_kind kind);
char *aw_emu_stats_text(struct aw_emu_state *st);

/* --- faults -------------------------------------------------------------------------- */

/* Queue one fault object or an array of them (all or none). Returns how many. */
int aw_emu_faults_add(struct aw_emu_state *st, json_object *spec, char *err, size_t errlen);
/* The first queued fault matching (method, path), copied into *out (release it with
 * aw_emu_fault_clear); its count drops and it leaves the queue at zero. 1 if found. */
int aw_emu_faults_take(struct aw_emu_state *st, const char *method, const char *path,
		       struct aw_emu_fault *out);
void aw_emu_fault_clear(struct aw_emu_fault *f);
char *aw_emu_faults_text(struct aw_emu_state *st);

/* Clear the log, the faults, the counters, and every module's stored data. */
void aw_emu_state_reset(struct aw_emu_state *st);

/* --- server glue (emu_dispatch.c): MHD callbacks, cls is the state ------------------- */

void *aw_emu_on_uri(void *cls, const char *uri, struct MHD_Connection *conn);
enum MHD_Result aw_emu_on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **req_cls);
void aw_emu_on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe);

#endif
