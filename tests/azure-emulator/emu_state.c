/* Shared state: config (copy-on-write, merge-patched), request log, faults, counters. */
#include "emu_state.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct aw_emu_log_entry {
	json_object *obj;
	size_t bytes;
	struct aw_emu_log_entry *next;
};

int aw_emu_state_init(struct aw_emu_state *st, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	atomic_init(&st->stopping, false);
	if (pthread_mutex_init(&st->mu, NULL) != 0) {
		snprintf(err, errlen, "cannot create the state mutex");
		return -1;
	}
	if (RAND_bytes(st->hmac_key, (int)sizeof(st->hmac_key)) != 1) {
		snprintf(err, errlen, "cannot draw the token signing key from OpenSSL");
		pthread_mutex_destroy(&st->mu);
		return -1;
	}
	st->config = aw_emu_need(json_object_new_object());
	return 0;
}

static void log_clear(struct aw_emu_state *st)
{
	struct aw_emu_log_entry *e = st->log_head, *next;

	for (; e; e = next) {
		next = e->next;
		json_object_put(e->obj);
		free(e);
	}
	st->log_head = st->log_tail = NULL;
	st->log_n = st->log_bytes = 0;
}

static void faults_clear(struct aw_emu_state *st)
{
	struct aw_emu_fault *f = st->faults, *next;

	for (; f; f = next) {
		next = f->next;
		aw_emu_fault_clear(f);
		free(f);
	}
	st->faults = st->faults_tail = NULL;
	st->n_faults = 0;
}

void aw_emu_state_free(struct aw_emu_state *st)
{
	log_clear(st);
	faults_clear(st);
	json_object_put(st->config);
	st->config = NULL;
	pthread_mutex_destroy(&st->mu);
}

/* --- configuration ----------------------------------------------------------------- */

static json_object *deep_copy(json_object *v)
{
	json_object *out = NULL;

	if (json_object_deep_copy(v, &out, NULL) != 0)
		aw_emu_need(NULL);
	return out;
}

/* RFC 7386: the result of applying `patch` to `target` (both borrowed; NULL target is
 * "absent"). */
static json_object *merge_patch(json_object *target, json_object *patch)
{
	json_object *out;

	if (!json_object_is_type(patch, json_type_object))
		return deep_copy(patch);
	out = aw_emu_need(json_object_new_object());
	if (json_object_is_type(target, json_type_object)) {
		json_object_object_foreach(target, k, v)
		{
			if (v && !json_object_object_get_ex(patch, k, NULL))
				json_object_object_add(out, k, deep_copy(v));
		}
	}
	json_object_object_foreach(patch, pk, pv)
	{
		json_object *old = NULL;

		if (!pv)
			continue; /* null deletes */
		if (json_object_is_type(target, json_type_object))
			json_object_object_get_ex(target, pk, &old);
		json_object_object_add(out, pk, merge_patch(old, pv));
	}
	return out;
}

int aw_emu_cfg_check(json_object *cfg, const char *key, json_type type, char *err, size_t errlen)
{
	json_object *v;

	if (!json_object_object_get_ex(cfg, key, &v))
		return 0;
	if (!json_object_is_type(v, type)) {
		snprintf(err, errlen, "config: \"%s\" must be a %s", key, json_type_to_name(type));
		return -1;
	}
	return 0;
}

int aw_emu_cfg_check_int(json_object *cfg, const char *key, int64_t min, int64_t max, char *err,
			 size_t errlen)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(cfg, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int)) {
		snprintf(err, errlen, "config: \"%s\" must be an integer", key);
		return -1;
	}
	n = json_object_get_int64(v);
	if (n < min || n > max) {
		snprintf(err, errlen, "config: \"%s\" is %lld, outside [%lld, %lld]", key,
			 (long long)n, (long long)min, (long long)max);
		return -1;
	}
	return 0;
}

static int validate_core(json_object *cfg, char *err, size_t errlen)
{
	if (aw_emu_cfg_check(cfg, "tenant_id", json_type_string, err, errlen) < 0 ||
	    aw_emu_cfg_check_int(cfg, "token_lifetime_s", 1, 10LL * 365 * 86400, err, errlen) < 0 ||
	    aw_emu_cfg_check_int(cfg, "refresh_in_s", 0, 10LL * 365 * 86400, err, errlen) < 0)
		return -1;
	return 0;
}

int aw_emu_config_merge(struct aw_emu_state *st, json_object *patch, char *err, size_t errlen)
{
	json_object *cur, *next, *old;
	size_t i;

	if (!json_object_is_type(patch, json_type_object)) {
		snprintf(err, errlen, "config: expected a JSON object");
		return -1;
	}
	cur = aw_emu_config_acquire(st);
	next = merge_patch(cur, patch);
	aw_emu_config_release(st, cur);
	if (validate_core(next, err, errlen) < 0)
		goto fail;
	for (i = 0; aw_emu_modules[i]; i++) {
		if (aw_emu_modules[i]->validate &&
		    aw_emu_modules[i]->validate(next, err, errlen) < 0)
			goto fail;
	}
	/* Two merges racing would lose one: the later swap wins. Tests configure from one
	 * thread, so last-writer-wins is enough. */
	pthread_mutex_lock(&st->mu);
	old = st->config;
	st->config = next;
	json_object_put(old);
	pthread_mutex_unlock(&st->mu);
	return 0;
fail:
	pthread_mutex_lock(&st->mu);
	json_object_put(next);
	pthread_mutex_unlock(&st->mu);
	return -1;
}

/* json-c's reference counts are not atomic in Debian's build: take and drop them under
 * the lock. */
json_object *aw_emu_config_acquire(struct aw_emu_state *st)
{
	json_object *cfg;

	pthread_mutex_lock(&st->mu);
	cfg = json_object_get(st->config);
	pthread_mutex_unlock(&st->mu);
	return cfg;
}

void aw_emu_config_release(struct aw_emu_state *st, json_object *cfg)
{
	pthread_mutex_lock(&st->mu);
	json_object_put(cfg);
	pthread_mutex_unlock(&st->mu);
}

int64_t aw_emu_cfg_int(json_object *cfg, const char *key, int64_t def)
{
	json_object *v;

	if (!json_object_object_get_ex(cfg, key, &v) || !json_object_is_type(v, json_type_int))
		return def;
	return json_object_get_int64(v);
}

const char *aw_emu_cfg_str(json_object *cfg, const char *key, const char *def)
{
	json_object *v;

	if (!json_object_object_get_ex(cfg, key, &v) || !json_object_is_type(v, json_type_string))
		return def;
	return json_object_get_string(v);
}

char *aw_emu_config_text(struct aw_emu_state *st)
{
	char *text;

	/* Serialising caches text inside the tree: do it under the lock. */
	pthread_mutex_lock(&st->mu);
	text = aw_emu_strdup(aw_emu_json_text(st->config, NULL));
	pthread_mutex_unlock(&st->mu);
	return text;
}

/* --- request log, counters --------------------------------------------------------- */

void aw_emu_log_add(struct aw_emu_state *st, json_object *entry, size_t body_bytes)
{
	struct aw_emu_log_entry *e = aw_emu_need(calloc(1, sizeof(*e)));

	e->obj = entry;
	e->bytes = body_bytes;
	pthread_mutex_lock(&st->mu);
	json_object_object_add(entry, "seq", json_object_new_int64((int64_t)++st->log_seq));
	st->requests++;
	if (st->log_tail)
		st->log_tail->next = e;
	else
		st->log_head = e;
	st->log_tail = e;
	st->log_n++;
	st->log_bytes += body_bytes;
	/* Bounded: the oldest entries go first (the newest is always kept). */
	while (st->log_head != st->log_tail &&
	       (st->log_n > AW_EMU_LOG_MAX_ENTRIES || st->log_bytes > AW_EMU_LOG_MAX_BYTES)) {
		struct aw_emu_log_entry *old = st->log_head;

		st->log_head = old->next;
		st->log_n--;
		st->log_bytes -= old->bytes;
		json_object_put(old->obj);
		free(old);
	}
	pthread_mutex_unlock(&st->mu);
}

char *aw_emu_log_text(struct aw_emu_state *st, const char *prefix)
{
	json_object *arr = aw_emu_need(json_object_new_array());
	struct aw_emu_log_entry *e;
	char *text;

	pthread_mutex_lock(&st->mu);
	for (e = st->log_head; e; e = e->next) {
		json_object *p;

		if (prefix && *prefix &&
		    (!json_object_object_get_ex(e->obj, "path", &p) ||
		     !aw_emu_starts_with(json_object_get_string(p), prefix)))
			continue;
		json_object_array_add(arr, json_object_get(e->obj));
	}
	text = aw_emu_strdup(aw_emu_json_text(arr, NULL));
	json_object_put(arr);
	pthread_mutex_unlock(&st->mu);
	return text;
}

void aw_emu_count_token(struct aw_emu_state *st, enum aw_emu_token_kind kind)
{
	pthread_mutex_lock(&st->mu);
	st->tokens[kind]++;
	pthread_mutex_unlock(&st->mu);
}

char *aw_emu_stats_text(struct aw_emu_state *st)
{
	json_object *o = aw_emu_need(json_object_new_object());
	json_object *t = aw_emu_need(json_object_new_object());
	char *text;

	pthread_mutex_lock(&st->mu);
	json_object_object_add(o, "requests", json_object_new_int64((int64_t)st->requests));
	json_object_object_add(t, "imds",
			       json_object_new_int64((int64_t)st->tokens[AW_EMU_KIND_IMDS]));
	json_object_object_add(t, "appservice",
			       json_object_new_int64((int64_t)st->tokens[AW_EMU_KIND_APPSERVICE]));
	json_object_object_add(t, "entra",
			       json_object_new_int64((int64_t)st->tokens[AW_EMU_KIND_ENTRA]));
	json_object_object_add(o, "tokens_issued", t);
	json_object_object_add(o, "logged", json_object_new_int64((int64_t)st->log_n));
	json_object_object_add(o, "faults_queued", json_object_new_int64((int64_t)st->n_faults));
	pthread_mutex_unlock(&st->mu);
	text = aw_emu_strdup(aw_emu_json_text(o, NULL));
	json_object_put(o);
	return text;
}

/* --- faults -------------------------------------------------------------------------- */

void aw_emu_fault_clear(struct aw_emu_fault *f)
{
	size_t i;

	free(f->path);
	free(f->method);
	free(f->body);
	for (i = 0; i < f->n_headers; i++) {
		free(f->headers[i].name);
		free(f->headers[i].value);
	}
	memset(f, 0, sizeof(*f));
}

static int fault_int(json_object *v, const char *key, int64_t min, int64_t max, int64_t *out,
		     char *err, size_t errlen)
{
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < min ||
	    json_object_get_int64(v) > max) {
		snprintf(err, errlen, "fault: \"%s\" must be an integer in [%lld, %lld]", key,
			 (long long)min, (long long)max);
		return -1;
	}
	*out = json_object_get_int64(v);
	return 0;
}

static int fault_parse(json_object *o, struct aw_emu_fault *f, char *err, size_t errlen)
{
	int64_t n;

	memset(f, 0, sizeof(*f));
	f->times = 1;
	f->retry_after_s = -1;
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "fault: expected a JSON object");
		return -1;
	}
	json_object_object_foreach(o, k, v)
	{
		if (!strcmp(k, "path") || !strcmp(k, "method") || !strcmp(k, "body")) {
			char **dst = !strcmp(k, "path")	    ? &f->path
				     : !strcmp(k, "method") ? &f->method
							    : &f->body;

			if (!json_object_is_type(v, json_type_string)) {
				snprintf(err, errlen, "fault: \"%s\" must be a string", k);
				return -1;
			}
			*dst = aw_emu_strdup(json_object_get_string(v));
		} else if (!strcmp(k, "times")) {
			if (fault_int(v, k, 1, 1000000, &f->times, err, errlen) < 0)
				return -1;
		} else if (!strcmp(k, "status")) {
			if (fault_int(v, k, 200, 599, &n, err, errlen) < 0)
				return -1;
			f->status = (unsigned)n;
		} else if (!strcmp(k, "retry_after_s")) {
			if (fault_int(v, k, 0, 86400 * 30, &f->retry_after_s, err, errlen) < 0)
				return -1;
		} else if (!strcmp(k, "retry_after_date_s")) {
			if (fault_int(v, k, -86400 * 30, 86400 * 30, &f->retry_after_date_s, err,
				      errlen) < 0)
				return -1;
			f->has_retry_after_date = true;
		} else if (!strcmp(k, "delay_ms")) {
			if (fault_int(v, k, 0, AW_EMU_DELAY_MAX_MS, &f->delay_ms, err, errlen) < 0)
				return -1;
		} else if (!strcmp(k, "action")) {
			const char *a = json_object_get_string(v);

			if (!json_object_is_type(v, json_type_string))
				a = "";
			if (!strcmp(a, "reset"))
				f->action = AW_EMU_ACT_RESET;
			else if (!strcmp(a, "cut"))
				f->action = AW_EMU_ACT_CUT;
			else if (!strcmp(a, "expired_token"))
				f->action = AW_EMU_ACT_EXPIRED_TOKEN;
			else if (!strcmp(a, "wrong_audience"))
				f->action = AW_EMU_ACT_WRONG_AUDIENCE;
			else {
				snprintf(err, errlen,
					 "fault: \"action\" must be reset, cut, expired_token or "
					 "wrong_audience");
				return -1;
			}
		} else if (!strcmp(k, "headers")) {
			if (!json_object_is_type(v, json_type_object)) {
				snprintf(err, errlen,
					 "fault: \"headers\" must be an object of strings");
				return -1;
			}
			json_object_object_foreach(v, hk, hv)
			{
				if (!json_object_is_type(hv, json_type_string) ||
				    f->n_headers == AW_EMU_FAULT_HEADERS || strpbrk(hk, ":\r\n") ||
				    strpbrk(json_object_get_string(hv), "\r\n")) {
					snprintf(
					    err, errlen,
					    "fault: \"headers\" must be an object of at most %u "
					    "single-line strings",
					    AW_EMU_FAULT_HEADERS);
					return -1;
				}
				f->headers[f->n_headers].name = aw_emu_strdup(hk);
				f->headers[f->n_headers].value =
				    aw_emu_strdup(json_object_get_string(hv));
				f->n_headers++;
			}
		} else {
			/* Unknown keys are refused: a misspelt field would silently do nothing. */
			snprintf(err, errlen, "fault: unknown field \"%s\"", k);
			return -1;
		}
	}
	if (!f->path || f->path[0] != '/') {
		snprintf(err, errlen,
			 "fault: \"path\" (a path prefix starting with /) is required");
		return -1;
	}
	return 0;
}

int aw_emu_faults_add(struct aw_emu_state *st, json_object *spec, char *err, size_t errlen)
{
	struct aw_emu_fault *head = NULL, *tail = NULL, *f;
	size_t i,
	    n = json_object_is_type(spec, json_type_array) ? json_object_array_length(spec) : 1;
	int ret = -1;

	for (i = 0; i < n; i++) {
		json_object *o = json_object_is_type(spec, json_type_array)
				     ? json_object_array_get_idx(spec, i)
				     : spec;

		f = aw_emu_need(calloc(1, sizeof(*f)));
		if (fault_parse(o, f, err, errlen) < 0) {
			aw_emu_fault_clear(f);
			free(f);
			goto out;
		}
		if (tail)
			tail->next = f;
		else
			head = f;
		tail = f;
	}
	pthread_mutex_lock(&st->mu);
	if (st->n_faults + n > AW_EMU_FAULTS_MAX) {
		pthread_mutex_unlock(&st->mu);
		snprintf(err, errlen, "fault: the queue holds at most %u faults",
			 AW_EMU_FAULTS_MAX);
		goto out;
	}
	if (head) {
		if (st->faults_tail)
			st->faults_tail->next = head;
		else
			st->faults = head;
		st->faults_tail = tail;
		st->n_faults += n;
		head = NULL;
	}
	pthread_mutex_unlock(&st->mu);
	ret = (int)n;
out:
	while (head) {
		f = head->next;
		aw_emu_fault_clear(head);
		free(head);
		head = f;
	}
	return ret;
}

static void fault_copy(const struct aw_emu_fault *src, struct aw_emu_fault *dst)
{
	size_t i;

	*dst = *src;
	dst->next = NULL;
	dst->path = aw_emu_strdup(src->path);
	dst->method = src->method ? aw_emu_strdup(src->method) : NULL;
	dst->body = src->body ? aw_emu_strdup(src->body) : NULL;
	for (i = 0; i < src->n_headers; i++) {
		dst->headers[i].name = aw_emu_strdup(src->headers[i].name);
		dst->headers[i].value = aw_emu_strdup(src->headers[i].value);
	}
}

int aw_emu_faults_take(struct aw_emu_state *st, const char *method, const char *path,
		       struct aw_emu_fault *out)
{
	struct aw_emu_fault *f, *prev = NULL;
	int found = 0;

	pthread_mutex_lock(&st->mu);
	for (f = st->faults; f; prev = f, f = f->next) {
		if (!aw_emu_starts_with(path, f->path) ||
		    (f->method && strcasecmp(f->method, method) != 0))
			continue;
		fault_copy(f, out);
		found = 1;
		if (--f->times == 0) {
			if (prev)
				prev->next = f->next;
			else
				st->faults = f->next;
			if (st->faults_tail == f)
				st->faults_tail = prev;
			st->n_faults--;
			aw_emu_fault_clear(f);
			free(f);
		}
		break;
	}
	pthread_mutex_unlock(&st->mu);
	return found;
}

char *aw_emu_faults_text(struct aw_emu_state *st)
{
	static const char *const actions[] = {NULL, "reset", "cut", "expired_token",
					      "wrong_audience"};
	json_object *arr = aw_emu_need(json_object_new_array());
	struct aw_emu_fault *f;
	char *text;
	size_t i;

	pthread_mutex_lock(&st->mu);
	for (f = st->faults; f; f = f->next) {
		json_object *o = aw_emu_need(json_object_new_object());

		json_object_object_add(o, "path", json_object_new_string(f->path));
		if (f->method)
			json_object_object_add(o, "method", json_object_new_string(f->method));
		json_object_object_add(o, "times", json_object_new_int64(f->times));
		if (f->status)
			json_object_object_add(o, "status", json_object_new_int((int)f->status));
		if (f->body)
			json_object_object_add(o, "body", json_object_new_string(f->body));
		if (f->n_headers) {
			json_object *h = aw_emu_need(json_object_new_object());

			for (i = 0; i < f->n_headers; i++)
				json_object_object_add(h, f->headers[i].name,
						       json_object_new_string(f->headers[i].value));
			json_object_object_add(o, "headers", h);
		}
		if (f->retry_after_s >= 0)
			json_object_object_add(o, "retry_after_s",
					       json_object_new_int64(f->retry_after_s));
		if (f->has_retry_after_date)
			json_object_object_add(o, "retry_after_date_s",
					       json_object_new_int64(f->retry_after_date_s));
		if (f->delay_ms)
			json_object_object_add(o, "delay_ms", json_object_new_int64(f->delay_ms));
		if (f->action)
			json_object_object_add(o, "action",
					       json_object_new_string(actions[f->action]));
		json_object_array_add(arr, o);
	}
	pthread_mutex_unlock(&st->mu);
	text = aw_emu_strdup(aw_emu_json_text(arr, NULL));
	json_object_put(arr);
	return text;
}

void aw_emu_state_reset(struct aw_emu_state *st)
{
	size_t i;

	pthread_mutex_lock(&st->mu);
	log_clear(st);
	faults_clear(st);
	st->requests = 0;
	memset(st->tokens, 0, sizeof(st->tokens));
	pthread_mutex_unlock(&st->mu);
	for (i = 0; aw_emu_modules[i]; i++) {
		if (aw_emu_modules[i]->reset)
			aw_emu_modules[i]->reset(st);
	}
}
