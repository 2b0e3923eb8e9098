/* Option tables: apply a YAML map, set defaults, compare, free and print help.
 *
 * aw_options_apply() checks a whole map and reports every problem it finds, each as
 * "file:line:col: where.key: reason", so one run of `aiwatchd check` shows them all.
 * A YAML null (`key:`, `key: ~`) means "not set": the default stays. Secret values
 * never appear in a message: only their key and where they came from. Parsing and
 * formatting of values live in optparse.c, resolving secrets in secret.c. */
#include "options_int.h"
#include "strutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AW_KEY_MAX 256 /* a dotted key in a message; longer ones are cut */

#define FIELD(conf, opt, T) ((T *)(void *)((char *)(conf) + (opt)->offset))

static void join_key(char *buf, size_t sz, const char *where, const char *key)
{
	if (where && *where)
		snprintf(buf, sz, "%s.%s", where, key);
	else
		snprintf(buf, sz, "%s", key);
}

void aw_opt_add_at(struct aw_error_list *errs, const struct aw_node *n, const char *fmt, ...)
{
	char msg[AW_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n)
		aw_error_list_add(errs, "%s:%u:%u: %s", n->file ? n->file : "<config>", n->line,
				  n->col, msg);
	else
		aw_error_list_add(errs, "%s", msg);
}

/* --- freeing ------------------------------------------------------------------- */

static void strlist_free(struct aw_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void aw_options_free(const struct aw_option *tbl, void *conf)
{
	for (const struct aw_option *o = tbl; o && o->key; o++) {
		switch (o->type) {
		case AW_OPT_STRING:
			free(*FIELD(conf, o, char *));
			*FIELD(conf, o, char *) = NULL;
			break;
		case AW_OPT_STRLIST:
			strlist_free(FIELD(conf, o, struct aw_strlist));
			break;
		case AW_OPT_SECRET:
			aw_secret_clear(FIELD(conf, o, struct aw_secret));
			break;
		case AW_OPT_SECTION:
			aw_options_free(o->sub, FIELD(conf, o, char));
			break;
		default:
			break;
		}
	}
}

/* --- setting one value from text ----------------------------------------------- */

static int check_range(const struct aw_option *o, uint64_t v, const char *text,
		       struct aw_error *err)
{
	char range[80];

	if (o->min >= o->max)
		return 0;
	if ((o->min > 0 && v < (uint64_t)o->min) || (o->max < 0 || v > (uint64_t)o->max)) {
		aw_opt_fmt_range(o, range, sizeof range);
		return aw_error_set(err, "'%.40s' is out of range %s", text, range);
	}
	return 0;
}

/* Convert `text` for a scalar option into its field. err gets the reason only. */
static int set_scalar(const struct aw_option *o, const char *text, void *conf, struct aw_error *err)
{
	char buf[256];

	switch (o->type) {
	case AW_OPT_STRING: {
		char *d = strdup(text);
		if (!d)
			return aw_error_set(err, "out of memory");
		free(*FIELD(conf, o, char *));
		*FIELD(conf, o, char *) = d;
		return 0;
	}
	case AW_OPT_INT: {
		char *end;
		long long v;
		errno = 0;
		v = strtoll(text, &end, 10);
		if (!*text || *end || isspace((unsigned char)text[0]) || errno == ERANGE)
			return aw_error_set(err, "expected an integer, got '%.40s'", text);
		if (o->min < o->max && (v < o->min || v > o->max)) {
			aw_opt_fmt_range(o, buf, sizeof buf);
			return aw_error_set(err, "%lld is out of range %s", v, buf);
		}
		*FIELD(conf, o, long long) = v;
		return 0;
	}
	case AW_OPT_BOOL:
		if (aw_parse_bool(text, FIELD(conf, o, bool)) < 0)
			return aw_error_set(err, "expected %s, got '%.40s'", aw_opt_expected(o),
					    text);
		return 0;
	case AW_OPT_SIZE:
	case AW_OPT_DURATION: {
		uint64_t v;
		int rc = o->type == AW_OPT_SIZE ? aw_parse_size(text, &v, err)
						: aw_parse_duration_ms(text, &v, err);
		if (rc < 0 || check_range(o, v, text, err) < 0)
			return -1;
		*FIELD(conf, o, uint64_t) = v;
		return 0;
	}
	case AW_OPT_ENUM:
		for (int i = 0; o->choices && o->choices[i]; i++) {
			if (strcasecmp(o->choices[i], text) == 0) {
				*FIELD(conf, o, int) = i;
				return 0;
			}
		}
		aw_opt_fmt_choices(o, ", ", buf, sizeof buf);
		return aw_error_set(err, "'%.40s' is not one of: %s", text, buf);
	case AW_OPT_STRLIST: {
		struct aw_strlist *l = FIELD(conf, o, struct aw_strlist);
		char **v = malloc(sizeof *v);
		char *d = strdup(text);
		if (!v || !d) {
			free(v);
			free(d);
			return aw_error_set(err, "out of memory");
		}
		strlist_free(l);
		v[0] = d;
		l->v = v;
		l->n = 1;
		return 0;
	}
	case AW_OPT_SECRET:
	case AW_OPT_SECTION:
		break;
	}
	return aw_error_set(err, "not a scalar option");
}

/* --- defaults ------------------------------------------------------------------ */

static void zero_field(const struct aw_option *o, void *conf)
{
	switch (o->type) {
	case AW_OPT_STRING:
		*FIELD(conf, o, char *) = NULL;
		break;
	case AW_OPT_INT:
		*FIELD(conf, o, long long) = 0;
		break;
	case AW_OPT_BOOL:
		*FIELD(conf, o, bool) = false;
		break;
	case AW_OPT_SIZE:
	case AW_OPT_DURATION:
		*FIELD(conf, o, uint64_t) = 0;
		break;
	case AW_OPT_ENUM:
		*FIELD(conf, o, int) = 0;
		break;
	case AW_OPT_STRLIST:
		memset(FIELD(conf, o, struct aw_strlist), 0, sizeof(struct aw_strlist));
		break;
	case AW_OPT_SECRET:
		memset(FIELD(conf, o, struct aw_secret), 0, sizeof(struct aw_secret));
		break;
	case AW_OPT_SECTION:
		break;
	}
}

static int defaults(const struct aw_option *tbl, void *conf, const char *where,
		    struct aw_error *err)
{
	char name[AW_KEY_MAX];
	int rc = 0;

	/* zero every field first, so a failure part-way leaves conf safe to free */
	for (const struct aw_option *o = tbl; o && o->key; o++) {
		if (o->type == AW_OPT_SECTION)
			continue;
		zero_field(o, conf);
	}
	for (const struct aw_option *o = tbl; o && o->key; o++) {
		join_key(name, sizeof name, where, o->key);
		if (o->type == AW_OPT_SECTION) {
			if (defaults(o->sub, FIELD(conf, o, char), name, err) < 0)
				rc = -1;
			continue;
		}
		if (!o->defval || o->type == AW_OPT_SECRET)
			continue;
		if (set_scalar(o, o->defval, conf, err) < 0) {
			aw_error_prefix(err, "built-in default of %s", name);
			rc = -1;
		}
	}
	return rc;
}

int aw_options_defaults(const struct aw_option *tbl, void *conf, struct aw_error *err)
{
	return defaults(tbl, conf, "", err);
}

/* --- applying a map ------------------------------------------------------------ */

static const struct aw_option *find_option(const struct aw_option *tbl, const char *key)
{
	for (const struct aw_option *o = tbl; o && o->key; o++)
		if (strcmp(o->key, key) == 0)
			return o;
	return NULL;
}

static void unknown_key(const struct aw_option *tbl, const struct aw_node *keynode,
			const char *name, struct aw_error_list *errs)
{
	const struct aw_option *best = NULL;
	size_t bestd = 3;

	for (const struct aw_option *o = tbl; o && o->key; o++) {
		size_t d = aw_edit_distance(keynode->value, o->key, false);
		if (d < bestd) {
			bestd = d;
			best = o;
		}
	}
	if (best)
		aw_opt_add_at(errs, keynode, "unknown key '%s' (did you mean '%s'?)", name,
			      best->key);
	else
		aw_opt_add_at(errs, keynode, "unknown key '%s'", name);
}

static void apply_map(const struct aw_option *tbl, const struct aw_node *map, void *conf,
		      const char *where, unsigned file_mode, struct aw_error_list *errs);

static void apply_one(const struct aw_option *o, const struct aw_node *v, void *conf,
		      const char *name, unsigned file_mode, struct aw_error_list *errs)
{
	struct aw_error err = {{0}};
	char shown[80];

	if (aw_opt_is_null(v))
		return; /* explicit "not set": the default stays */
	switch (o->type) {
	case AW_OPT_SECTION:
		if (v->kind != AW_NODE_MAP) {
			aw_opt_show_node(v, shown, sizeof shown);
			aw_opt_add_at(errs, v, "%s: expected a map, got %s", name, shown);
			return;
		}
		apply_map(o->sub, v, FIELD(conf, o, char), name, file_mode, errs);
		return;
	case AW_OPT_SECRET:
		aw_secret_resolve(FIELD(conf, o, struct aw_secret), v, name, file_mode, errs);
		return;
	case AW_OPT_STRLIST:
		if (v->kind == AW_NODE_SEQ) {
			struct aw_strlist *l = FIELD(conf, o, struct aw_strlist);
			char **nv = calloc(v->n ? v->n : 1, sizeof *nv);
			size_t k = 0;
			if (!nv) {
				aw_opt_add_at(errs, v, "%s: out of memory", name);
				return;
			}
			for (size_t i = 0; i < v->n; i++) {
				const struct aw_node *it = v->items[i];
				if (it->kind != AW_NODE_SCALAR) {
					aw_opt_show_node(it, shown, sizeof shown);
					aw_opt_add_at(errs, it,
						      "%s[%zu]: expected a string, got %s", name, i,
						      shown);
				} else if (!(nv[k] = strdup(it->value))) {
					aw_opt_add_at(errs, it, "%s: out of memory", name);
				} else {
					k++;
				}
			}
			strlist_free(l);
			l->v = nv;
			l->n = k;
			return;
		}
		break;
	default:
		break;
	}
	if (v->kind != AW_NODE_SCALAR) {
		aw_opt_show_node(v, shown, sizeof shown);
		if (o->type == AW_OPT_ENUM) {
			char ch[200];
			aw_opt_fmt_choices(o, ", ", ch, sizeof ch);
			aw_opt_add_at(errs, v, "%s: expected one of %s, got %s", name, ch, shown);
		} else {
			aw_opt_add_at(errs, v, "%s: expected %s, got %s", name, aw_opt_expected(o),
				      shown);
		}
		return;
	}
	if (set_scalar(o, v->value, conf, &err) < 0)
		aw_opt_add_at(errs, v, "%s: %s", name, err.msg);
}

static void apply_map(const struct aw_option *tbl, const struct aw_node *map, void *conf,
		      const char *where, unsigned file_mode, struct aw_error_list *errs)
{
	char name[AW_KEY_MAX];

	for (size_t i = 0; i < map->n; i++) {
		const struct aw_option *o = find_option(tbl, map->keys[i]);
		join_key(name, sizeof name, where, map->keys[i]);
		if (!o)
			unknown_key(tbl, map->keynodes[i], name, errs);
		else
			apply_one(o, map->items[i], conf, name, file_mode, errs);
	}
	for (const struct aw_option *o = tbl; o && o->key; o++) {
		const struct aw_node *v;
		if (!(o->flags & AW_OPT_REQUIRED))
			continue;
		v = aw_node_get(map, o->key);
		join_key(name, sizeof name, where, o->key);
		if (!v) {
			if (where && *where)
				aw_opt_add_at(errs, map, "%s: missing required key '%s'", where,
					      o->key);
			else
				aw_opt_add_at(errs, map, "missing required key '%s'", o->key);
		} else if (aw_opt_is_null(v)) {
			aw_opt_add_at(errs, v, "%s: a value is required", name);
		}
	}
}

static void required_without_map(const struct aw_option *tbl, const char *where,
				 struct aw_error_list *errs)
{
	for (const struct aw_option *o = tbl; o && o->key; o++)
		if (o->flags & AW_OPT_REQUIRED)
			aw_opt_add_at(errs, NULL, "%s%smissing required key '%s'",
				      where ? where : "", where && *where ? ": " : "", o->key);
}

int aw_options_apply(const struct aw_option *tbl, const struct aw_node *map, void *conf,
		     const char *where, unsigned file_mode, struct aw_error_list *errs)
{
	size_t before = aw_error_list_count(errs);
	struct aw_error err = {{0}};
	char shown[80];

	if (!where)
		where = "";
	if (defaults(tbl, conf, where, &err) < 0)
		aw_error_list_add(errs, "%s", err.msg);
	if (!map || aw_opt_is_null(map)) {
		required_without_map(tbl, where, errs);
	} else if (map->kind != AW_NODE_MAP) {
		aw_opt_show_node(map, shown, sizeof shown);
		if (*where)
			aw_opt_add_at(errs, map, "%s: expected a map, got %s", where, shown);
		else
			aw_opt_add_at(errs, map, "expected a map, got %s", shown);
	} else {
		apply_map(tbl, map, conf, where, file_mode, errs);
	}
	return aw_error_list_count(errs) == before ? 0 : -1;
}

/* --- comparing ----------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool aw_options_equal(const struct aw_option *tbl, const void *a, const void *b)
{
	for (const struct aw_option *o = tbl; o && o->key; o++) {
		switch (o->type) {
		case AW_OPT_STRING:
			if (!str_eq(*FIELD(a, o, char *), *FIELD(b, o, char *)))
				return false;
			break;
		case AW_OPT_INT:
			if (*FIELD(a, o, long long) != *FIELD(b, o, long long))
				return false;
			break;
		case AW_OPT_BOOL:
			if (*FIELD(a, o, bool) != *FIELD(b, o, bool))
				return false;
			break;
		case AW_OPT_SIZE:
		case AW_OPT_DURATION:
			if (*FIELD(a, o, uint64_t) != *FIELD(b, o, uint64_t))
				return false;
			break;
		case AW_OPT_ENUM:
			if (*FIELD(a, o, int) != *FIELD(b, o, int))
				return false;
			break;
		case AW_OPT_STRLIST: {
			const struct aw_strlist *la = FIELD(a, o, struct aw_strlist);
			const struct aw_strlist *lb = FIELD(b, o, struct aw_strlist);
			if (la->n != lb->n)
				return false;
			for (size_t i = 0; i < la->n; i++)
				if (!str_eq(la->v[i], lb->v[i]))
					return false;
			break;
		}
		case AW_OPT_SECRET:
			if (!str_eq(FIELD(a, o, struct aw_secret)->value,
				    FIELD(b, o, struct aw_secret)->value))
				return false;
			break;
		case AW_OPT_SECTION:
			if (!aw_options_equal(o->sub, FIELD(a, o, char), FIELD(b, o, char)))
				return false;
			break;
		}
	}
	return true;
}

void aw_options_each_secret(const struct aw_option *tbl, void *conf, const char *prefix,
			    aw_secret_visit_fn fn, void *ud)
{
	char key[512];

	for (const struct aw_option *o = tbl; o && o->key; o++) {
		snprintf(key, sizeof key, "%s%s%s", prefix && *prefix ? prefix : "",
			 prefix && *prefix ? "." : "", o->key);
		if (o->type == AW_OPT_SECRET)
			fn(FIELD(conf, o, struct aw_secret), key, ud);
		else if (o->type == AW_OPT_SECTION)
			aw_options_each_secret(o->sub, FIELD(conf, o, char), key, fn, ud);
	}
}

/* --- help ---------------------------------------------------------------------- */

static size_t key_width(const struct aw_option *tbl, size_t plen)
{
	size_t w = 0;

	for (const struct aw_option *o = tbl; o && o->key; o++) {
		size_t l = plen + strlen(o->key);
		if (l > w)
			w = l;
		if (o->type == AW_OPT_SECTION) {
			l = key_width(o->sub, l + 1);
			if (l > w)
				w = l;
		}
	}
	return w;
}

static void print_table(FILE *out, const struct aw_option *tbl, const char *prefix, int width)
{
	char name[AW_KEY_MAX], desc[512], tmp[256];

	for (const struct aw_option *o = tbl; o && o->key; o++) {
		size_t len = 0;
		join_key(name, sizeof name, prefix, o->key);
		if (o->type == AW_OPT_ENUM) {
			aw_opt_fmt_choices(o, "|", tmp, sizeof tmp);
			len += (size_t)snprintf(desc, sizeof desc, "%s", tmp);
		} else {
			len += (size_t)snprintf(desc, sizeof desc, "%s", aw_opt_type_name(o));
		}
		if (o->flags & AW_OPT_REQUIRED)
			len += (size_t)snprintf(desc + len, sizeof desc - len, ", required");
		else if (o->type != AW_OPT_SECTION && o->type != AW_OPT_SECRET)
			len += (size_t)snprintf(desc + len, sizeof desc - len, ", default %s",
						o->defval ? (*o->defval ? o->defval : "\"\"")
						: o->type == AW_OPT_BOOL    ? "false"
						: o->type == AW_OPT_STRLIST ? "empty"
						: o->type == AW_OPT_STRING  ? "none"
									    : "0");
		if (o->min < o->max &&
		    (o->type == AW_OPT_INT || o->type == AW_OPT_SIZE ||
		     o->type == AW_OPT_DURATION) &&
		    len < sizeof desc) {
			aw_opt_fmt_range(o, tmp, sizeof tmp);
			snprintf(desc + len, sizeof desc - len, ", %s", tmp);
		}
		fprintf(out, "  %-*s  (%s)  %s\n", width, name, desc, o->help ? o->help : "");
		if (o->type == AW_OPT_SECTION)
			print_table(out, o->sub, name, width);
	}
}

void aw_options_print_help(FILE *out, const struct aw_option *tbl, const char *prefix)
{
	size_t plen = prefix && *prefix ? strlen(prefix) + 1 : 0;
	size_t w = key_width(tbl, plen);

	print_table(out, tbl, prefix, w > 40 ? 40 : (int)w);
}
