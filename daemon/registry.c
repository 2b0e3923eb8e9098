/* The built-in plugins. Adding a plugin is one line here and one in plugins/meson.build. */
#include "registry.h"

#include <string.h>

extern const struct aw_plugin_desc aw_in_file;
extern const struct aw_plugin_desc aw_in_defender;
extern const struct aw_plugin_desc aw_in_posture;
extern const struct aw_plugin_desc aw_in_eventhubs;
extern const struct aw_plugin_desc aw_in_loganalytics;
extern const struct aw_plugin_desc aw_out_file;
extern const struct aw_plugin_desc aw_out_kafka;
extern const struct aw_plugin_desc aw_out_sentinel;

const struct aw_plugin_desc *const aw_builtin_plugins[] = {
	&aw_in_file,
	&aw_in_defender,
	&aw_in_posture,
	&aw_in_eventhubs,
	&aw_in_loganalytics,
	&aw_out_file,
	&aw_out_kafka,
	&aw_out_sentinel,
	NULL,
};

const struct aw_plugin_desc *aw_plugin_find(enum aw_plugin_kind kind, const char *name)
{
	for (size_t i = 0; aw_builtin_plugins[i]; i++) {
		const struct aw_plugin_desc *d = aw_builtin_plugins[i];
		if (d->kind == kind && strcmp(d->name, name) == 0)
			return d;
	}
	return NULL;
}
