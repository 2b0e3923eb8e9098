/* Option tables: one row per configuration key (name, type, default, bounds, help).
 *
 * The same table validates a YAML map into a C struct, prints --help, generates the
 * configuration reference and compares two configurations on reload. Core sections and
 * every plugin describe their options this way. A struct filled by aw_options_apply()
 * owns its strings, lists and secrets; aw_options_free() releases them. */
#ifndef AW_OPTIONS_H
#define AW_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

enum aw_opt_type {
	AW_OPT_STRING,   /* char *, strdup'd; NULL when absent without default */
	AW_OPT_INT,      /* long long, within [min, max] when min < max */
	AW_OPT_BOOL,     /* bool: true/false/yes/no/on/off */
	AW_OPT_SIZE,     /* uint64_t bytes: 1048576, "64KiB", "64MiB", "1GiB", "10MB" */
	AW_OPT_DURATION, /* uint64_t milliseconds: "250ms", "30s", "5m", "1h", "1d", "1h30m" */
	AW_OPT_ENUM,     /* int: index into choices[] */
	AW_OPT_STRLIST,  /* struct aw_strlist: a sequence of scalars, or one scalar */
	AW_OPT_SECRET,   /* struct aw_secret: {file: P} | {credential: N} | {env: V} | {keyvault: R} | inline */
	AW_OPT_SECTION,  /* nested map described by .sub, stored in place at .offset */
};

#define AW_OPT_REQUIRED 0x1u

struct aw_strlist {
	char **v;
	size_t n;
};

/* A resolved secret. `value` is the secret (NUL-terminated, trailing newline from a
 * file removed) and is registered with the log redactor; `origin` says where it came
 * from ("file /run/x", "credential kafka", "env KAFKA_PW", "inline") and is safe to
 * log. Freed (and wiped) by aw_options_free(). */
/* The value a Key Vault reference holds until it is fetched (never sent anywhere:
 * resolution happens before any plugin starts). */
#define AW_SECRET_PENDING "(keyvault reference, not fetched yet)"

struct aw_secret {
	char *value;
	char *origin;
	/* A Key Vault reference (keyvault://VAULT/NAME or the secret's URL) still to be
	 * fetched: `value` holds a placeholder until aw_config_resolve_secrets() replaces
	 * it; NULL for every other source. */
	char *ref;
};

struct aw_option {
	const char *key;
	enum aw_opt_type type;
	size_t offset;               /* offsetof(conf struct, field) */
	const char *defval;          /* written as in YAML; NULL: zero / NULL / empty */
	long long min, max;          /* INT, SIZE, DURATION (ms); ignored when min >= max */
	const char *const *choices;  /* ENUM: NULL-terminated */
	const struct aw_option *sub; /* SECTION: its table */
	unsigned flags;              /* AW_OPT_REQUIRED */
	const char *help;
};

/* Table rows. A table ends with AW_OPT_END. */
#define AW_OPT_END {.key = NULL}
#define AW_OPT_STR(k, st, f, def, fl, h) \
	{.key = (k), .type = AW_OPT_STRING, .offset = offsetof(st, f), .defval = (def), .flags = (fl), .help = (h)}
#define AW_OPT_INTEGER(k, st, f, def, lo, hi, h) \
	{.key = (k), .type = AW_OPT_INT, .offset = offsetof(st, f), .defval = (def), .min = (lo), .max = (hi), .help = (h)}
#define AW_OPT_BOOLEAN(k, st, f, def, h) \
	{.key = (k), .type = AW_OPT_BOOL, .offset = offsetof(st, f), .defval = (def), .help = (h)}
#define AW_OPT_BYTES(k, st, f, def, lo, hi, h) \
	{.key = (k), .type = AW_OPT_SIZE, .offset = offsetof(st, f), .defval = (def), .min = (lo), .max = (hi), .help = (h)}
#define AW_OPT_DUR(k, st, f, def, lo, hi, h) \
	{.key = (k), .type = AW_OPT_DURATION, .offset = offsetof(st, f), .defval = (def), .min = (lo), .max = (hi), .help = (h)}
#define AW_OPT_CHOICE(k, st, f, def, ch, h) \
	{.key = (k), .type = AW_OPT_ENUM, .offset = offsetof(st, f), .defval = (def), .choices = (ch), .help = (h)}
#define AW_OPT_LIST(k, st, f, fl, h) \
	{.key = (k), .type = AW_OPT_STRLIST, .offset = offsetof(st, f), .flags = (fl), .help = (h)}
#define AW_OPT_SECRETV(k, st, f, fl, h) \
	{.key = (k), .type = AW_OPT_SECRET, .offset = offsetof(st, f), .flags = (fl), .help = (h)}
#define AW_OPT_SUB(k, st, f, tbl, h) \
	{.key = (k), .type = AW_OPT_SECTION, .offset = offsetof(st, f), .sub = (tbl), .help = (h)}

/* Parsers shared with the rest of the daemon. 0 or -1 (err says why). */
int aw_parse_duration_ms(const char *s, uint64_t *out, struct aw_error *err);
int aw_parse_size(const char *s, uint64_t *out, struct aw_error *err);
int aw_parse_bool(const char *s, bool *out);

/* Set every field of `conf` to its default (conf is zeroed first). 0 or -1. */
int aw_options_defaults(const struct aw_option *tbl, void *conf, struct aw_error *err);

/* Deep comparison of two structs filled from the same table (secrets by value). */
bool aw_options_equal(const struct aw_option *tbl, const void *a, const void *b);

/* Release what apply/defaults allocated; the struct itself is the caller's. */
void aw_options_free(const struct aw_option *tbl, void *conf);

/* Call fn for every secret of conf (filled from tbl), sections included; key is its
 * dotted name under prefix ("outputs.kafka.rdkafka_secrets.sasl.password"). */
typedef void (*aw_secret_visit_fn)(struct aw_secret *s, const char *key, void *ud);
void aw_options_each_secret(const struct aw_option *tbl, void *conf, const char *prefix,
			    aw_secret_visit_fn fn, void *ud);

/* Print the table as help text: `  key  (type, default X, min..max)  help`, nested
 * sections indented under `prefix.`. Used by --help and the README reference. */
void aw_options_print_help(FILE *out, const struct aw_option *tbl, const char *prefix);

#endif
