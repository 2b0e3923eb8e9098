/* Reading an inventory element's values and writing what a check saw (see
 * posture_eval.h): members by name, dotted paths, and the Actual text of a result. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "posture_eval.h"

/* --- reading the resource --------------------------------------------------------------- */

/* A member by name: the exact spelling first, then ignoring case (ARM property names
 * are camelCase, but a hand-written inventory or another api-version may differ). */
json_object *aw_pv_member(json_object *obj, const char *name, size_t len)
{
	char key[128];
	json_object *v = NULL;

	if (len >= sizeof key)
		return NULL;
	memcpy(key, name, len);
	key[len] = '\0';
	if (json_object_object_get_ex(obj, key, &v))
		return v;
	json_object_object_foreach(obj, k, val)
	{
		if (strlen(k) == len && strncasecmp(k, name, len) == 0)
			return val;
	}
	return NULL;
}

/* Walk a dotted path. NULL members count as absent. AW_PV_NOT_OBJECT: a step on the way is
 * something other than an object; *out is then that value and *depth the length of the
 * path prefix that named it. */
enum aw_pv_lookup aw_pv_lookup(json_object *res, const char *path, json_object **out, size_t *depth)
{
	json_object *cur = res;
	const char *p = path;

	*out = NULL;
	*depth = 0;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (!json_object_is_type(cur, json_type_object)) {
			if (cur == res)
				return AW_PV_ABSENT;
			*out = cur;
			*depth = (size_t)(p - path) - 1;
			return AW_PV_NOT_OBJECT;
		}
		cur = aw_pv_member(cur, p, len);
		if (!cur)
			return AW_PV_ABSENT;
		if (!dot)
			break;
		p = dot + 1;
	}
	*out = cur;
	return AW_PV_FOUND;
}

const char *aw_pv_string(json_object *res, const char *path)
{
	json_object *v;
	size_t depth;

	if (aw_pv_lookup(res, path, &v, &depth) != AW_PV_FOUND ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* --- results ------------------------------------------------------------------------------ */

/* Cut a string that snprintf truncated at a UTF-8 boundary, and mark the cut. */
static void clip(char *s, size_t size)
{
	size_t n = strlen(s);

	if (n + 1 < size)
		return;
	n = size >= 4 ? size - 4 : 0;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	memcpy(s + n, "...", 4);
}

void aw_pv_say(struct aw_posture_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->actual, sizeof r->actual, fmt, ap);
	va_end(ap);
	clip(r->actual, sizeof r->actual);
}

static const char *type_name(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
	case json_type_int:
		return "a number";
	case json_type_string:
		return "a string";
	case json_type_array:
		return "an array";
	case json_type_object:
		return "an object";
	default:
		return "null";
	}
}

/* The value as short JSON text, for an Actual that shows what was there. */
void aw_pv_json_text(json_object *v, char *buf, size_t size)
{
	int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;

	snprintf(buf, size, "%s", json_object_to_json_string_ext(v, flags));
	clip(buf, size);
}

void aw_pv_wrong_type(struct aw_posture_result *r, const char *what, json_object *v,
		      const char *want)
{
	char text[64];

	aw_pv_json_text(v, text, sizeof text);
	r->status = AW_POSTURE_FAIL;
	aw_pv_say(r, "wrong type: %s is %s (%s), expected %s", what, type_name(v), text, want);
}

bool aw_pv_one_of(const char *s, const char *alternatives)
{
	const char *p = alternatives;

	for (;;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (strlen(s) == len && strncasecmp(s, p, len) == 0)
			return true;
		if (!bar)
			return false;
		p = bar + 1;
	}
}
