/* Reading the members of the posture inventory's elements (posture.h): the ARM fields
 * every part of posture reads by their exact name (id, name, type, subscriptionId). The
 * checks read properties with their own rules (posture_value.c). */
#ifndef AW_POSTURE_JSON_H
#define AW_POSTURE_JSON_H

#include <json-c/json.h>

/* The string member key of o, or NULL (o NULL, no such member, or not a string). */
static inline const char *aw_posture_str(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

#endif
