/* The built-in plugins: one const table, no dlopen. */
#ifndef AW_REGISTRY_H
#define AW_REGISTRY_H

#include <stddef.h>

#include "plugin.h"

/* NULL-terminated list of every built-in plugin descriptor. */
extern const struct aw_plugin_desc *const aw_builtin_plugins[];

/* The descriptor of `name` of that kind, or NULL. */
const struct aw_plugin_desc *aw_plugin_find(enum aw_plugin_kind kind, const char *name);

#endif
