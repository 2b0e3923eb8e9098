/* The emulated Azure estate (emu_estate.c) and what it shares with emu_arm.c.
 *
 * Resource Graph is one route (POST /providers/Microsoft.ResourceGraph/resources) in
 * emu_arm.c, which owns its quota, options and $skipToken paging; when a query's table
 * is `resources` it asks the estate for the rows. The estate's ARM child listings page
 * with emu_arm.c's nextLink and $skipToken format, so both kinds of list read alike. */
#ifndef AW_EMU_ESTATE_H
#define AW_EMU_ESTATE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "emu.h"

extern const struct aw_emu_module aw_emu_estate_module;

/* Is the query's table `resources` (its first word, any case)? `securityresources` and
 * the other tables are not. */
bool aw_emu_estate_rg_table(const char *query);

/* The `resources` rows for a Resource Graph request: the estate's top-level resources
 * (fixtures and generated) in the body's scope (`subscriptions`, `managementGroups`;
 * neither: all) whose type the query names (`type in~ (...)`, `type =~ '...'`; none
 * named: every type), each as Resource Graph answers it. Appended, unsorted, to `rows`
 * (a JSON array). 0, or -1 with resp filled (an unknown management group). */
int aw_emu_estate_rg_rows(json_object *cfg, json_object *body, const char *query, json_object *rows,
			  struct aw_emu_response *resp);

/* emu_arm.c: the request's own URL with $skipToken set to the token of `page`
 * (malloc'd), and the page a $skipToken stands for (-1 when it is not one of ours). */
char *aw_emu_arm_next_link(const struct aw_emu_request *rq, int64_t page);
int64_t aw_emu_arm_token_page(const char *token);

#endif
