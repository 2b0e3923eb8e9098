/* The findings tables' state file (see findings_file.h). */
#include "findings_file.h"

#include <stdlib.h>

#include "../daemon/state.h"

int aw_findings_file_load(const struct aw_findings_file *f, const char *dir, const char *name,
			  int (*row)(void *ud, json_object *a), void (*clear)(void *ud), void *ud,
			  bool *dirty, struct aw_error *err)
{
	char *data = NULL;
	size_t len = 0;
	json_object *root = NULL, *v, *list;
	int rc = aw_state_read(dir, name, &data, &len, err);

	if (rc != 0)
		goto out;
	root = json_tokener_parse(data);
	rc = -1;
	if (!json_object_object_get_ex(root, "version", &v) ||
	    json_object_get_int(v) != f->version ||
	    !json_object_object_get_ex(root, "findings", &list) ||
	    !json_object_is_type(list, json_type_array)) {
		aw_error_set(err, "%s/%s: corrupt state file (not a version %d %s)", dir, name,
			     f->version, f->what);
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *a = json_object_array_get_idx(list, i);

		if (!json_object_is_type(a, json_type_array) ||
		    json_object_array_length(a) != f->width || row(ud, a) < 0) {
			aw_error_set(err, "%s/%s: corrupt state file (%s %zu)", dir, name, f->row,
				     i);
			clear(ud);
			goto out;
		}
	}
	rc = 0;
out:
	*dirty = false;
	json_object_put(root);
	free(data);
	return rc;
}

int aw_findings_file_row(const struct aw_findings_file *f, json_object *list,
			 json_object *const members[])
{
	json_object *a = json_object_new_array_ext((int)f->width);
	size_t i = 0;

	if (!a || json_object_array_add(list, a) != 0) {
		json_object_put(a);
		goto fail;
	}
	for (; i < f->width; i++)
		if (json_object_array_add(a, members[i]) != 0)
			goto fail;
	return 0;
fail:
	for (; i < f->width; i++)
		json_object_put(members[i]);
	return -1;
}

int aw_findings_file_save(const struct aw_findings_file *f, const char *dir, const char *name,
			  int (*rows)(void *ud, json_object *list), void *ud, bool *dirty,
			  struct aw_error *err)
{
	json_object *root = json_object_new_object(), *list = json_object_new_array();
	const char *txt = NULL;
	size_t len = 0;
	int rc;

	if (!root || !list ||
	    json_object_object_add(root, "version", json_object_new_int(f->version)) != 0 ||
	    json_object_object_add(root, "findings", list) != 0) {
		json_object_put(list);
		list = NULL;
	}
	/* ARM ids are full of slashes: written as they are, the file stays readable. */
	if (list && rows(ud, list) == 0)
		txt = json_object_to_json_string_length(
		    root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!txt)
		rc = aw_error_set(err, "%s/%s: out of memory writing the %s", dir, name, f->what);
	else if ((rc = aw_state_write(dir, name, txt, len, err)) == 0)
		*dirty = false;
	json_object_put(root);
	return rc;
}
