/* Saving and restoring a correlation's state (aw_corr_save / aw_corr_load): JSON Lines,
 * one object per group, every field validated on load. The format is described at the top
 * of correlation.c. */
#include "rules/corr_int.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AW_CORR_SAVE_MAX ((size_t)1 << 30) /* bytes of saved state */

/* --- persistence: byte strings ------------------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool utf8_valid(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char b = p[i];
		size_t len;
		uint32_t cp;
		if (b == 0)
			return false;
		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xC2 && b <= 0xDF) {
			len = 2;
			cp = b & 0x1Fu;
		} else if (b >= 0xE0 && b <= 0xEF) {
			len = 3;
			cp = b & 0x0Fu;
		} else if (b >= 0xF0 && b <= 0xF4) {
			len = 4;
			cp = b & 0x07u;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xC0u) != 0x80u)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3Fu);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
			return false;
		i += len;
	}
	return true;
}

static struct json_object *jbytes(const char *p, size_t n)
{
	struct json_object *o;
	char *b;
	size_t k = 0;

	if (utf8_valid((const unsigned char *)p, n))
		return json_object_new_string_len(n ? p : "", (int)n);
	b = malloc((n + 2) / 3 * 4 + 1);
	if (!b)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)p[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)p[i + 2];
		b[k++] = b64chars[(v >> 18) & 63];
		b[k++] = b64chars[(v >> 12) & 63];
		b[k++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		b[k++] = i + 2 < n ? b64chars[v & 63] : '=';
	}
	b[k] = '\0';
	o = json_object_new_object();
	if (o && json_object_object_add(o, "b", json_object_new_string_len(b, (int)k)) != 0) {
		json_object_put(o);
		o = NULL;
	}
	free(b);
	return o;
}

/* Decode a byte string (see jbytes) into out (capacity cap). Returns its length, or -1
 * when it is not one or does not fit. */
static long jbytes_get(struct json_object *o, char *out, size_t cap)
{
	struct json_object *b;
	const char *s;
	size_t n, k = 0;
	uint32_t v = 0;
	int bits = 0;

	if (json_object_is_type(o, json_type_string)) {
		n = (size_t)json_object_get_string_len(o);
		if (n > cap)
			return -1;
		memcpy(out, json_object_get_string(o), n);
		return (long)n;
	}
	if (!json_object_is_type(o, json_type_object) || json_object_object_length(o) != 1 ||
	    !json_object_object_get_ex(o, "b", &b) || !json_object_is_type(b, json_type_string))
		return -1;
	s = json_object_get_string(b);
	n = (size_t)json_object_get_string_len(b);
	if (n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *q;
		if (s[i] == '=') {
			if (i < n - 2 || (i == n - 2 && s[n - 1] != '='))
				return -1;
			continue;
		}
		if (!s[i] || !(q = strchr(b64chars, s[i])))
			return -1;
		v = (v << 6) | (uint32_t)(q - b64chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (k >= cap)
				return -1;
			out[k++] = (char)((v >> bits) & 0xFFu);
		}
	}
	return (long)k;
}

/* --- persistence: save --------------------------------------------------------------- */

struct aw_corr_out {
	char *p;
	size_t n, cap;
};

/* Append obj's text and a newline; the object is released. */
static int out_obj(struct aw_corr_out *o, struct json_object *obj, struct aw_error *err)
{
	size_t len = 0;
	const char *s;

	if (!obj)
		return aw_error_set(err, "correlation state: out of memory");
	s = json_object_to_json_string_length(
	    obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!s) {
		json_object_put(obj);
		return aw_error_set(err, "correlation state: out of memory");
	}
	if (o->n + len + 2 > AW_CORR_SAVE_MAX) {
		json_object_put(obj);
		return aw_error_set(err, "correlation state: larger than %zu bytes",
				    AW_CORR_SAVE_MAX);
	}
	if (o->n + len + 2 > o->cap) {
		size_t cap = (o->n + len + 2) * 2;
		char *np = realloc(o->p, cap);
		if (!np) {
			json_object_put(obj);
			return aw_error_set(err, "correlation state: out of memory");
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->n, s, len);
	o->n += len;
	o->p[o->n++] = '\n';
	o->p[o->n] = '\0'; /* not counted in the length; handy for callers and tests */
	json_object_put(obj);
	return 0;
}

/* Add v under name; a NULL v (allocation failure) fails the whole object. */
static bool put(struct json_object *obj, const char *name, struct json_object *v)
{
	if (!v)
		return false;
	if (json_object_object_add(obj, name, v) != 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

static bool push(struct json_object *arr, struct json_object *v)
{
	if (!v)
		return false;
	if (json_object_array_add(arr, v) != 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

static bool save_window(const struct aw_corr *c, const struct aw_corr_group *g,
			struct json_object *obj)
{
	const struct aw_corr_m *m = aw_corr_entries(g);
	struct json_object *ms = json_object_new_array_ext((int)g->n);

	if (!put(obj, "m", ms))
		return false;
	for (size_t i = 0; i < g->n; i++) {
		struct json_object *e = json_object_new_array_ext(5);
		const char *id = aw_corr_m_id(c, g, &m[i]);
		bool ok = push(ms, e) && push(e, json_object_new_int64(m[i].t)) &&
			  push(e, json_object_new_int64(m[i].rule));
		if (ok && c->has_value)
			ok = m[i].vlen == AW_CORR_NOVALUE
				 ? json_object_array_add(e, NULL) == 0
				 : push(e, jbytes(aw_corr_m_value(c, g, &m[i]), m[i].vlen));
		if (ok && c->has_num)
			ok = push(e, json_object_new_double(aw_corr_m_num(c, g, &m[i])));
		if (!ok || !push(e, jbytes(id, strlen(id))))
			return false;
	}
	return true;
}

static int cmp_stamp(const void *a, const void *b)
{
	const struct aw_corr_seen_v *x = a, *y = b;
	return x->last < y->last ? -1 : x->last > y->last;
}

static bool save_seen(const struct aw_corr_seen *s, struct json_object *obj)
{
	struct json_object *vs = json_object_new_array_ext((int)s->n);
	struct aw_corr_seen_v *order;
	bool ok;

	if (!put(obj, "f", json_object_new_int64(s->first)) || !put(obj, "s", vs))
		return false;
	if (!s->n)
		return true;
	order = malloc(s->n * sizeof *order);
	if (!order)
		return false;
	for (uint32_t i = 0, k = 0; i <= s->mask && k < s->n; i++)
		if (s->t[i].len != AW_CORR_SEEN_EMPTY)
			order[k++] = s->t[i];
	qsort(order, s->n, sizeof *order, cmp_stamp);
	ok = true;
	for (uint32_t i = 0; ok && i < s->n; i++)
		ok = push(vs, jbytes(aw_corr_seen_str(&order[i]), order[i].len));
	free(order);
	return ok;
}

static bool save_base(const struct aw_corr *c, const struct aw_corr_base *b,
		      struct json_object *obj)
{
	size_t hn = c->spec.history_buckets;
	struct json_object *h = json_object_new_array_ext((int)b->nhist);
	bool ok = put(obj, "b", json_object_new_int64(b->bucket)) &&
		  put(obj, "c", json_object_new_int64(b->count)) &&
		  put(obj, "t0", json_object_new_int64(b->t0)) &&
		  put(obj, "t1", json_object_new_int64(b->t1)) &&
		  put(obj, "x", json_object_new_boolean(b->fired)) && put(obj, "h", h);

	for (uint32_t i = 0; ok && i < b->nhist; i++)
		ok = push(h, json_object_new_int64(b->hist[(b->hpos + hn - b->nhist + i) % hn]));
	return ok;
}

int aw_corr_save(const struct aw_corr *c, char **buf, size_t *len, struct aw_error *err)
{
	struct aw_corr_out o = {0};
	struct json_object *h = json_object_new_object();
	bool ok;

	*buf = NULL;
	*len = 0;
	ok = h && put(h, "v", json_object_new_int(1)) &&
	     put(h, "type", json_object_new_string(aw_corr_type_names[c->spec.type])) &&
	     put(h, "span", json_object_new_int64((int64_t)c->spec.timespan_ms)) &&
	     (c->has_newest ? put(h, "newest", json_object_new_int64(c->newest))
			    : json_object_object_add(h, "newest", NULL) == 0) &&
	     put(h, "groups", json_object_new_int64((int64_t)c->ngroups));
	if (!ok) {
		json_object_put(h);
		h = NULL;
	}
	if (out_obj(&o, h, err) != 0)
		goto fail;
	for (const struct aw_corr_group *g = c->lru_tail; g; g = g->lprev) {
		struct json_object *obj = json_object_new_object();
		ok = obj && put(obj, "k", jbytes(g->key, g->klen));
		if (ok && c->window)
			ok = save_window(c, g, obj);
		else if (ok && c->spec.type == AW_CORR_FIRST_SEEN)
			ok = save_seen(g->u.seen, obj);
		else if (ok)
			ok = save_base(c, g->u.base, obj);
		if (!ok) {
			json_object_put(obj);
			obj = NULL;
		}
		if (out_obj(&o, obj, err) != 0)
			goto fail;
	}
	*buf = o.p;
	*len = o.n;
	return 0;
fail:
	free(o.p);
	return -1;
}

/* --- persistence: load --------------------------------------------------------------- */

static struct json_object *field(struct json_object *o, const char *name)
{
	struct json_object *v = NULL;
	json_object_object_get_ex(o, name, &v);
	return v;
}

static bool jint(struct json_object *o, int64_t lo, int64_t hi, int64_t *out)
{
	if (!json_object_is_type(o, json_type_int))
		return false;
	*out = json_object_get_int64(o);
	return *out >= lo && *out <= hi;
}

static int load_window(struct aw_corr *t, struct aw_corr_group *g, struct json_object *obj,
		       size_t line, struct aw_error *err)
{
	struct json_object *ms = field(obj, "m");
	size_t width = 3 + (t->has_value ? 1 : 0) + (t->has_num ? 1 : 0), n, pos;
	char value[AW_CORR_VALUE_MAX], id[AW_CORR_ID_MAX + 1];
	int64_t prev = INT64_MIN;

	if (!json_object_is_type(ms, json_type_array) || (n = json_object_array_length(ms)) == 0 ||
	    n > AW_CORR_MAX_MATCHES)
		return aw_error_set(err, "line %zu: \"m\" must list 1 to %d matches", line,
				    AW_CORR_MAX_MATCHES);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(ms, i), *x;
		int64_t time, rule;
		long vl = -1, il;
		double num = 0;
		size_t k = 2;
		if (!json_object_is_type(e, json_type_array) ||
		    json_object_array_length(e) != width)
			return aw_error_set(err,
					    "line %zu: match %zu must be an array of %zu items",
					    line, i + 1, width);
		if (!jint(json_object_array_get_idx(e, 0), -AW_CORR_TIME_MAX, AW_CORR_TIME_MAX,
			  &time) ||
		    time < prev || !t->has_newest || time > t->newest)
			return aw_error_set(err,
					    "line %zu: match %zu: the time must be an integer, "
					    "in order and not after \"newest\"",
					    line, i + 1);
		prev = time;
		if (!jint(json_object_array_get_idx(e, 1), 0, (int64_t)t->spec.nrules - 1, &rule))
			return aw_error_set(err, "line %zu: match %zu: rule must be 0 to %zu", line,
					    i + 1, t->spec.nrules - 1);
		if (t->has_value && (x = json_object_array_get_idx(e, k++)) &&
		    (vl = jbytes_get(x, value, sizeof value)) < 0)
			return aw_error_set(err, "line %zu: match %zu: bad value", line, i + 1);
		if (t->has_num) {
			x = json_object_array_get_idx(e, k++);
			if ((!json_object_is_type(x, json_type_double) &&
			     !json_object_is_type(x, json_type_int)) ||
			    !isfinite(num = json_object_get_double(x)))
				return aw_error_set(err, "line %zu: match %zu: bad number", line,
						    i + 1);
		}
		il = jbytes_get(json_object_array_get_idx(e, k), id, sizeof id - 1);
		if (il < 0 || memchr(id, 0, (size_t)il))
			return aw_error_set(err, "line %zu: match %zu: bad event id", line, i + 1);
		id[il] = '\0';
		if (aw_corr_window_add(t, g, time, (size_t)rule, vl >= 0 ? value : NULL,
				       vl >= 0 ? (size_t)vl : 0, num, id, &pos) != 0)
			return aw_error_set(err, "out of memory");
	}
	return 0;
}

static int load_seen(struct aw_corr *t, struct aw_corr_group *g, struct json_object *obj,
		     size_t line, struct aw_error *err)
{
	struct aw_corr_seen *s = g->u.seen;
	struct json_object *vs = field(obj, "s");
	char value[AW_CORR_VALUE_MAX];
	size_t n;

	if (!jint(field(obj, "f"), -AW_CORR_TIME_MAX, AW_CORR_TIME_MAX, &s->first))
		return aw_error_set(err, "line %zu: \"f\" must be an event time", line);
	s->started = true;
	if (!json_object_is_type(vs, json_type_array) ||
	    (n = json_object_array_length(vs)) > AW_CORR_MAX_VALUES)
		return aw_error_set(err, "line %zu: \"s\" must list at most %d values", line,
				    AW_CORR_MAX_VALUES);
	for (size_t i = 0; i < n; i++) {
		long vl = jbytes_get(json_object_array_get_idx(vs, i), value, sizeof value);
		if (vl < 0)
			return aw_error_set(err,
					    "line %zu: value %zu is not a byte string of at "
					    "most %d bytes",
					    line, i + 1, AW_CORR_VALUE_MAX);
		uint32_t h = (uint32_t)aw_corr_hash(t->seed, value, (size_t)vl);
		if (aw_corr_seen_has(s, value, (size_t)vl, h))
			return aw_error_set(err, "line %zu: value %zu is a duplicate", line, i + 1);
		if (aw_corr_seen_add(s, value, (size_t)vl, h) != 0)
			return aw_error_set(err, "out of memory");
	}
	return 0;
}

static int load_base(struct aw_corr *t, struct aw_corr_group *g, struct json_object *obj,
		     size_t line, struct aw_error *err)
{
	struct aw_corr_base *b = g->u.base;
	struct json_object *h = field(obj, "h"), *x = field(obj, "x");
	int64_t span = (int64_t)t->spec.timespan_ms, v;
	size_t n;

	if (!jint(field(obj, "b"), aw_corr_floor_div(-AW_CORR_TIME_MAX, span),
		  aw_corr_floor_div(AW_CORR_TIME_MAX, span), &b->bucket) ||
	    !jint(field(obj, "c"), 1, UINT32_MAX, &v) ||
	    !jint(field(obj, "t0"), -AW_CORR_TIME_MAX, AW_CORR_TIME_MAX, &b->t0) ||
	    !jint(field(obj, "t1"), b->t0, t->newest, &b->t1) ||
	    aw_corr_floor_div(b->t0, span) != b->bucket ||
	    aw_corr_floor_div(b->t1, span) != b->bucket ||
	    !json_object_is_type(x, json_type_boolean))
		return aw_error_set(err,
				    "line %zu: baseline bucket fields b, c, t0, t1, x are "
				    "missing or inconsistent",
				    line);
	b->count = (uint32_t)v;
	b->fired = json_object_get_boolean(x);
	b->started = true;
	if (!json_object_is_type(h, json_type_array) ||
	    (n = json_object_array_length(h)) > t->spec.history_buckets)
		return aw_error_set(err, "line %zu: \"h\" must list at most %zu bucket counts",
				    line, t->spec.history_buckets);
	for (size_t i = 0; i < n; i++) {
		if (!jint(json_object_array_get_idx(h, i), 0, UINT32_MAX, &v))
			return aw_error_set(err, "line %zu: bucket count %zu is not a count", line,
					    i + 1);
		aw_corr_base_push(b, t->spec.history_buckets, (uint32_t)v);
	}
	return 0;
}

static int load_group(struct aw_corr *t, struct json_object *obj, size_t line, struct aw_error *err)
{
	char key[AW_CORR_KEY_MAX];
	long klen;
	struct aw_corr_group *g;
	bool oom;

	if (!json_object_is_type(obj, json_type_object) ||
	    (klen = jbytes_get(field(obj, "k"), key, sizeof key)) < 0)
		return aw_error_set(err, "line %zu: a group needs \"k\", a key of at most %d bytes",
				    line, AW_CORR_KEY_MAX);
	if (aw_corr_group_find(t, key, (size_t)klen,
			       (uint32_t)aw_corr_hash(t->seed, key, (size_t)klen)))
		return aw_error_set(err, "line %zu: the group key appears twice", line);
	if (!(g = aw_corr_group_get(t, key, (size_t)klen, &oom)))
		return aw_error_set(err, "out of memory");
	if (t->window)
		return load_window(t, g, obj, line, err);
	if (t->spec.type == AW_CORR_FIRST_SEEN)
		return load_seen(t, g, obj, line, err);
	return load_base(t, g, obj, line, err);
}

static int load_header(struct aw_corr *t, struct json_object *h, int64_t *ngroups,
		       struct aw_error *err)
{
	struct json_object *type = field(h, "type"), *newest;
	int64_t v;

	if (!json_object_is_type(h, json_type_object) || !jint(field(h, "v"), 1, 1, &v))
		return aw_error_set(err, "line 1: not a version 1 correlation state header");
	if (!json_object_is_type(type, json_type_string) ||
	    strcmp(json_object_get_string(type), aw_corr_type_names[t->spec.type]) != 0)
		return aw_error_set(err, "line 1: the state is for type %s, this correlation is %s",
				    json_object_is_type(type, json_type_string)
					? json_object_get_string(type)
					: "(none)",
				    aw_corr_type_names[t->spec.type]);
	if (!jint(field(h, "span"), 0, (int64_t)AW_CORR_SPAN_MAX, &v))
		return aw_error_set(err, "line 1: \"span\" must be a time span in ms");
	if (t->spec.type == AW_CORR_BASELINE && (uint64_t)v != t->spec.timespan_ms)
		return aw_error_set(err,
				    "line 1: the bucket length changed (%" PRId64 " ms saved, "
				    "%" PRIu64 " ms now)",
				    v, t->spec.timespan_ms);
	if (!json_object_object_get_ex(h, "newest", &newest))
		return aw_error_set(err, "line 1: \"newest\" is missing");
	if (newest) {
		if (!jint(newest, -AW_CORR_TIME_MAX, AW_CORR_TIME_MAX, &t->newest))
			return aw_error_set(err,
					    "line 1: \"newest\" must be an event time or null");
		t->has_newest = true;
	}
	if (!jint(field(h, "groups"), 0, INT32_MAX, ngroups))
		return aw_error_set(err, "line 1: \"groups\" must be a count");
	if (*ngroups && !t->has_newest)
		return aw_error_set(err, "line 1: groups without a \"newest\" time");
	return 0;
}

int aw_corr_load(struct aw_corr *c, const char *buf, size_t len, struct aw_error *err)
{
	struct aw_corr_budget tb = {.max_groups_total = SIZE_MAX};
	struct json_tokener *tok = NULL;
	struct aw_corr *t = NULL;
	int64_t want = -1;
	size_t line = 0, have = 0;
	int rc = -1;

	if (!c || (!buf && len))
		return aw_error_set(err, "correlation state: nothing to load");
	tb.allowed_lateness_ms = c->budget->allowed_lateness_ms;
	if (!(t = aw_corr_new(&c->spec, SIZE_MAX, &tb, err)) || !(tok = json_tokener_new_ex(16))) {
		aw_error_set(err, "out of memory");
		goto out;
	}
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - buf) : len;
		struct json_object *obj;
		line++;
		if (end - at > INT_MAX) {
			aw_error_set(err, "line %zu: too long", line);
			goto out;
		}
		json_tokener_reset(tok);
		obj = json_tokener_parse_ex(tok, buf + at, (int)(end - at));
		if (!obj || json_tokener_get_parse_end(tok) != end - at) {
			json_object_put(obj);
			aw_error_set(err, "line %zu: not one JSON value (%s)", line,
				     json_tokener_error_desc(json_tokener_get_error(tok)));
			goto out;
		}
		if (line == 1)
			rc = load_header(t, obj, &want, err);
		else if (have++ >= (size_t)want)
			rc = aw_error_set(err, "line %zu: more groups than the header's %" PRId64,
					  line, want);
		else
			rc = load_group(t, obj, line, err);
		json_object_put(obj);
		if (rc != 0)
			goto out;
		rc = -1;
		at = end + 1;
	}
	if (line == 0 || have != (size_t)want) {
		aw_error_set(err, "truncated: %zu of %" PRId64 " groups", have,
			     want < 0 ? 0 : want);
		goto out;
	}
	/* Within the bounds, keeping the most recently used groups. */
	while (t->ngroups > c->max_groups ||
	       c->budget->groups - c->ngroups + t->ngroups > c->budget->max_groups_total) {
		aw_corr_group_free(t, t->lru_tail);
		c->budget->evicted++;
	}
	/* Swap the new state in; t leaves with the old groups. */
	while (c->lru_head)
		aw_corr_group_free(c, c->lru_head);
#define AW_SWAP(f)                                                                                 \
	do {                                                                                       \
		__typeof__(c->f) tmp_ = c->f;                                                      \
		c->f = t->f;                                                                       \
		t->f = tmp_;                                                                       \
	} while (0)
	AW_SWAP(seed);
	AW_SWAP(has_newest);
	AW_SWAP(newest);
	AW_SWAP(buckets);
	AW_SWAP(nbuckets);
	AW_SWAP(ngroups);
	AW_SWAP(lru_head);
	AW_SWAP(lru_tail);
	AW_SWAP(heap);
	AW_SWAP(heap_n);
	AW_SWAP(heap_cap);
#undef AW_SWAP
	c->budget->groups += c->ngroups;
	tb.groups -= c->ngroups;
	rc = 0;
out:
	if (rc != 0)
		aw_error_prefix(err, "correlation state");
	if (tok)
		json_tokener_free(tok);
	aw_corr_free(t);
	return rc;
}
