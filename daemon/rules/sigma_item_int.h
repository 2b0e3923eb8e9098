/* Internals of Sigma detection items, shared by sigma_item.c (compiling values into
 * matchers, matching events) and sigma_modifiers.c (the modifier chain of a key, YAML
 * scalar typing, the modifiers that rewrite a value into patterns). Not for other
 * modules: their API is sigma_item.h. */
#ifndef AW_SIGMA_ITEM_INT_H
#define AW_SIGMA_ITEM_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "error.h"
#include "sigma_item.h"
#include "sigma_string.h"

#define AW_SIGMA_MAX_MODS 16 /* modifiers in one key */

/* --- modifier chain (sigma.md §1.5) ---------------------------------------------- */

/* clang-format off */
enum aw_sigma_mod {
	AW_MOD_CONTAINS, AW_MOD_STARTSWITH, AW_MOD_ENDSWITH, AW_MOD_ALL, AW_MOD_BASE64,
	AW_MOD_BASE64OFFSET, AW_MOD_UTF16LE, AW_MOD_UTF16BE, AW_MOD_UTF16, AW_MOD_WINDASH,
	AW_MOD_RE, AW_MOD_I, AW_MOD_M, AW_MOD_S, AW_MOD_CIDR, AW_MOD_EXISTS, AW_MOD_CASED,
	AW_MOD_GT, AW_MOD_GTE, AW_MOD_LT, AW_MOD_LTE, AW_MOD_NEQ, AW_MOD_FIELDREF, AW_MOD_EXPAND,
	AW_MOD_TIME, AW_MOD_COUNT
};
/* clang-format on */

/* The modifier chain of one key, in the order written. */
struct aw_sigma_chain {
	enum aw_sigma_mod m[AW_SIGMA_MAX_MODS];
	const char *name[AW_SIGMA_MAX_MODS]; /* canonical spelling, for messages */
	size_t n;
	bool has[AW_MOD_COUNT];
	enum aw_sigma_mod cmp; /* AW_MOD_GT..AW_MOD_LTE when a comparison is present,
				  else AW_MOD_COUNT */
};

/* An empty chain (a keyword list has no key, so no modifiers). */
void aw_sigma_chain_init(struct aw_sigma_chain *c);

/* Split "field|m1|m2" and check the chain (sigma.md §1.5 composition rules). *field is
 * malloc'd, the caller frees it (NULL when empty: keywords). Errors name the modifier
 * ("unknown modifier 'contans' (did you mean 'contains'?)"). */
int aw_sigma_chain_parse(const char *key, char **field, struct aw_sigma_chain *c,
			 struct aw_error *err);

/* Where m stands in the chain (SIZE_MAX when absent). */
size_t aw_sigma_chain_find(const struct aw_sigma_chain *c, enum aw_sigma_mod m);

/* --- YAML scalars ------------------------------------------------------------------ */

enum aw_sigma_scalar_kind {
	AW_SCALAR_STR,
	AW_SCALAR_INT,
	AW_SCALAR_FLOAT,
	AW_SCALAR_BOOL,
	AW_SCALAR_NULL,
};

/* A scalar typed the way PyYAML (YAML 1.1) types it; text is borrowed from the node. */
struct aw_sigma_scalar {
	enum aw_sigma_scalar_kind k;
	const char *text;
	long long i; /* INT */
	double d;    /* INT and FLOAT */
	bool b;	     /* BOOL */
};

/* Type scalar node n. Forms YAML 1.1 and 1.2 read differently (012, 0o12, 1:30) and
 * numbers out of range are errors rather than guesses. */
int aw_sigma_scalar_type(const struct aw_node *n, struct aw_sigma_scalar *tv, struct aw_error *err);

/* --- value transforms -------------------------------------------------------------- */

/* The patterns one value has become so far. Bounded by the variant cap the transforms
 * enforce (struct aw_sigma_build.max_variants). */
struct aw_sigma_patvec {
	struct aw_sigma_pat *v;
	size_t n, cap;
};

/* A new empty pattern at the end (NULL on OOM). */
struct aw_sigma_pat *aw_sigma_patvec_push(struct aw_sigma_patvec *pv);
void aw_sigma_patvec_free(struct aw_sigma_patvec *pv);

/* What the transforms need while one value is compiled. */
struct aw_sigma_build {
	const struct aw_sigma_compile_ctx *ctx;
	size_t max_variants;
	const char *vtext; /* the YAML value, for messages */
	struct aw_error *err;
};

/* Whether m rewrites the value (contains/startswith/endswith add `*`; base64,
 * base64offset, utf16*, windash, expand re-encode or multiply it). */
bool aw_sigma_mod_is_transform(enum aw_sigma_mod m);

/* Apply transform m (spelled mname in messages) to every pattern of pv; some turn one
 * pattern into several. On error bd->err says why; pv still belongs to the caller. */
int aw_sigma_transform(enum aw_sigma_mod m, const char *mname, struct aw_sigma_patvec *pv,
		       struct aw_sigma_build *bd);

#endif
