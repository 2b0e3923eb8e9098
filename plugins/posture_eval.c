/* The evaluation of the posture checks (posture.h): a row of the table (posture_eval.h)
 * against one inventory element.
 *
 * The property a row reads is found by its dotted path, member names compared exactly
 * first, then ignoring case. Absent (or a JSON null), it stands for the service default
 * (contract §5). A value of the wrong JSON type fails, with an Actual that says what was
 * there. A check that reads something the collector reads separately (diagnostic
 * settings, the Defender pricing) is UNKNOWN, never PASS or FAIL, when that read failed
 * (AW_POSTURE_META.error) and the value is absent. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "posture_eval.h"

/* --- the rules --------------------------------------------------------------------------- */

/* Each judges a value that is there and of the rule's JSON type (evaluate_one sees to
 * both). */

static void eval_enum(const struct aw_posture_check *c, json_object *v, struct aw_posture_result *r)
{
	const char *s;

	s = json_object_get_string(v);
	r->status = aw_pv_one_of(s, c->want) ? AW_POSTURE_PASS : AW_POSTURE_FAIL;
	if (*s)
		aw_pv_say(r, "%s", s);
	else
		aw_pv_say(r, "\"\" (empty)");
}

static void eval_bool(const struct aw_posture_check *c, json_object *v, struct aw_posture_result *r)
{
	bool want = strcmp(c->want, "true") == 0;

	r->status = (bool)json_object_get_boolean(v) == want ? AW_POSTURE_PASS : AW_POSTURE_FAIL;
	aw_pv_say(r, "%s", json_object_get_boolean(v) ? "true" : "false");
}

/* An IP rule that admits every address: any prefix of length 0, or the unspecified
 * address itself, which the services read as "any". */
static bool open_to_all(const char *rule)
{
	size_t n;

	while (isspace((unsigned char)*rule))
		rule++;
	n = strlen(rule);
	while (n > 0 && isspace((unsigned char)rule[n - 1]))
		n--;
	if (n >= 2 && rule[n - 2] == '/' && rule[n - 1] == '0')
		return true;
	return (n == 7 && strncmp(rule, "0.0.0.0", 7) == 0) ||
	       (n == 2 && strncmp(rule, "::", 2) == 0) || (n == 1 && rule[0] == '*');
}

static void eval_ip_rules(const struct aw_posture_check *c, json_object *v,
			  struct aw_posture_result *r)
{
	size_t n, open = 0;
	const char *first = NULL;

	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(v, i), *value = NULL;
		char what[48];

		if (json_object_is_type(e, json_type_string))
			value = e;
		else if (json_object_is_type(e, json_type_object))
			value = aw_pv_member(e, "value", 5);
		if (!value || !json_object_is_type(value, json_type_string)) {
			snprintf(what, sizeof what, "ipRules[%zu]", i);
			aw_pv_wrong_type(r, what, e, "{\"value\": \"address or range\"}");
			return;
		}
		if (open_to_all(json_object_get_string(value)) && open++ == 0)
			first = json_object_get_string(value);
	}
	if (open) {
		r->status = AW_POSTURE_FAIL;
		aw_pv_say(r, "open to every address: %s%s", first, open > 1 ? " (and more)" : "");
		return;
	}
	r->status = AW_POSTURE_PASS;
	if (n == 0)
		aw_pv_say(r, "no rules");
	else
		aw_pv_say(r, "%zu rule%s, none open to every address", n, n == 1 ? "" : "s");
}

static void eval_private_endpoints(const struct aw_posture_check *c, json_object *v,
				   struct aw_posture_result *r)
{
	size_t n, approved = 0;
	const char *other = NULL;

	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		const char *st =
		    aw_pv_string(json_object_array_get_idx(v, i),
				 "properties.privateLinkServiceConnectionState.status");

		if (st && strcasecmp(st, "Approved") == 0)
			approved++;
		else if (st && *st && !other)
			other = st;
	}
	r->status = approved ? AW_POSTURE_PASS : AW_POSTURE_FAIL;
	if (n == 0)
		aw_pv_say(r, "no connections");
	else if (approved)
		aw_pv_say(r, "%zu of %zu connection%s Approved", approved, n, n == 1 ? "" : "s");
	else if (other)
		aw_pv_say(r, "none Approved of %zu connection%s (%s)", n, n == 1 ? "" : "s", other);
	else
		aw_pv_say(r, "none Approved of %zu connection%s", n, n == 1 ? "" : "s");
}

/* "SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned" (the ARM spelling,
 * with or without the space). */
static void eval_identity(const struct aw_posture_check *c, json_object *v,
			  struct aw_posture_result *r)
{
	const char *s, *p;

	s = json_object_get_string(v);
	r->status = AW_POSTURE_FAIL;
	for (p = s; *p;) {
		size_t len = strcspn(p, ",");
		const char *w = p;
		size_t wl = len;

		while (wl && isspace((unsigned char)*w))
			w++, wl--;
		while (wl && isspace((unsigned char)w[wl - 1]))
			wl--;
		if ((wl == 14 && strncasecmp(w, "SystemAssigned", 14) == 0) ||
		    (wl == 12 && strncasecmp(w, "UserAssigned", 12) == 0))
			r->status = AW_POSTURE_PASS;
		p += len;
		if (*p == ',')
			p++;
	}
	if (*s)
		aw_pv_say(r, "%s", s);
	else
		aw_pv_say(r, "\"\" (empty)");
}

/* One setting that sends at least one enabled log category (or category group) to a
 * Log Analytics workspace: metrics alone, or logs only to storage or Event Hubs, do not
 * reach the SIEM. */
static bool setting_sends_logs(json_object *s)
{
	json_object *logs;
	size_t depth;
	const char *ws = aw_pv_string(s, "properties.workspaceId");

	if (!ws || !*ws)
		return false;
	if (aw_pv_lookup(s, "properties.logs", &logs, &depth) != AW_PV_FOUND ||
	    !json_object_is_type(logs, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(logs); i++) {
		json_object *l = json_object_array_get_idx(logs, i), *en;
		const char *cat = aw_pv_string(l, "category"),
			   *grp = aw_pv_string(l, "categoryGroup");

		if (aw_pv_lookup(l, "enabled", &en, &depth) != AW_PV_FOUND ||
		    !json_object_is_type(en, json_type_boolean) || !json_object_get_boolean(en))
			continue;
		if ((cat && *cat) || (grp && *grp))
			return true;
	}
	return false;
}

static void eval_diagnostics(const struct aw_posture_check *c, json_object *v,
			     struct aw_posture_result *r)
{
	size_t n;

	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(v, i);

		if (setting_sends_logs(s)) {
			const char *name = aw_pv_string(s, "name");

			r->status = AW_POSTURE_PASS;
			aw_pv_say(r, "setting '%s' sends logs to a workspace",
				  name ? name : "(unnamed)");
			return;
		}
	}
	r->status = AW_POSTURE_FAIL;
	if (n == 0)
		aw_pv_say(r, "no diagnostic settings");
	else
		aw_pv_say(r, "%zu setting%s, none sending enabled logs to a workspace", n,
			  n == 1 ? "" : "s");
}

static void eval_named(const struct aw_posture_check *c, json_object *v,
		       struct aw_posture_result *r)
{
	const char *s;

	s = json_object_get_string(v);
	while (isspace((unsigned char)*s))
		s++;
	r->status = *s ? AW_POSTURE_PASS : AW_POSTURE_FAIL;
	if (*s)
		aw_pv_say(r, "%s", json_object_get_string(v));
	else
		aw_pv_say(r, "\"%s\" (empty)", json_object_get_string(v));
}

/* ISO 8601 durations as ARM writes them: P[nY][nM][nW][nD][T[nH][nM][n[.n]S]], at
 * least one component, a T only before a time component. */
static bool iso_duration(const char *s)
{
	bool time = false, any = false;
	const char *units = "YMWD";

	if (*s != 'P' && *s != 'p')
		return false;
	s++;
	while (*s) {
		size_t digits = 0;
		bool frac = false;
		const char *u;

		if ((*s == 'T' || *s == 't') && !time) {
			time = true;
			units = "HMS";
			s++;
			if (!*s)
				return false;
			continue;
		}
		while (isdigit((unsigned char)*s))
			s++, digits++;
		if ((*s == '.' || *s == ',') && digits) {
			s++;
			frac = true;
			if (!isdigit((unsigned char)*s))
				return false;
			while (isdigit((unsigned char)*s))
				s++;
		}
		if (!digits || !*s)
			return false;
		u = strchr(units, toupper((unsigned char)*s));
		if (!u || (frac && *u != 'S'))
			return false;
		units = u + 1; /* components come in order, each once */
		any = true;
		s++;
	}
	return any;
}

static void eval_duration(const struct aw_posture_check *c, json_object *v,
			  struct aw_posture_result *r)
{
	const char *s;

	s = json_object_get_string(v);
	if (iso_duration(s)) {
		r->status = AW_POSTURE_PASS;
		aw_pv_say(r, "%s", s);
	} else {
		r->status = AW_POSTURE_FAIL;
		aw_pv_say(r, "\"%s\" is not an ISO 8601 duration", s);
	}
}

#define EPOCH_MAX 253402300799.0 /* 9999-12-31T23:59:59Z */

static void eval_epoch(const struct aw_posture_check *c, json_object *v,
		       struct aw_posture_result *r)
{
	double d;
	time_t t;
	struct tm tm;
	char when[32];

	d = json_object_get_double(v);
	if (!(d > 0 && d <= EPOCH_MAX)) {
		char text[64];

		aw_pv_json_text(v, text, sizeof text);
		r->status = AW_POSTURE_FAIL;
		aw_pv_say(r, "%s is not a date in epoch seconds", text);
		return;
	}
	t = (time_t)d;
	if (!gmtime_r(&t, &tm) || !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		r->status = AW_POSTURE_FAIL;
		aw_pv_say(r, "%.0f is not a date in epoch seconds", d);
		return;
	}
	r->status = AW_POSTURE_PASS;
	aw_pv_say(r, "expires %s", when);
}

/* Each rule: what its value must be, and how it is judged once it is that. */
static const struct {
	void (*eval)(const struct aw_posture_check *c, json_object *v, struct aw_posture_result *r);
	json_type type;	  /* json_type_double: any number */
	const char *want; /* the type, in the Actual of a value of another */
	const char *what; /* names the value there; NULL: the check's path */
} rules[] = {
    [AW_RULE_ENUM] = {eval_enum, json_type_string, "a string", NULL},
    [AW_RULE_BOOL] = {eval_bool, json_type_boolean, "a boolean", NULL},
    [AW_RULE_NO_OPEN_IP] = {eval_ip_rules, json_type_array, "an array of rules", NULL},
    [AW_RULE_APPROVED_PE] = {eval_private_endpoints, json_type_array, "an array of connections",
			     NULL},
    [AW_RULE_IDENTITY] = {eval_identity, json_type_string, "a string", NULL},
    [AW_RULE_DIAGNOSTICS] = {eval_diagnostics, json_type_array, "an array of settings",
			     "diagnosticSettings"},
    [AW_RULE_NAMED] = {eval_named, json_type_string, "a string", NULL},
    [AW_RULE_DURATION] = {eval_duration, json_type_string, "an ISO 8601 duration string", NULL},
    [AW_RULE_EPOCH] = {eval_epoch, json_type_double, "a date in epoch seconds", NULL},
};

/* An absent property: the service default. Enum and boolean rules evaluate the
 * default's value; the row says for the others. */
static bool absent_passes(const struct aw_posture_check *c)
{
	switch (c->rule) {
	case AW_RULE_ENUM:
		return aw_pv_one_of(c->absent_value, c->want);
	case AW_RULE_BOOL:
		return (strcmp(c->absent_value, "true") == 0) == (strcmp(c->want, "true") == 0);
	default:
		return c->absent_passes;
	}
}

/* What the collector could not read about this resource, or NULL. */
static const char *read_error(json_object *res)
{
	json_object *meta = aw_pv_member(res, AW_POSTURE_META, strlen(AW_POSTURE_META)), *e;

	if (!meta || !json_object_is_type(meta, json_type_object))
		return NULL;
	e = aw_pv_member(meta, "error", 5);
	if (!e)
		return NULL;
	if (!json_object_is_type(e, json_type_string))
		return "the read failed";
	return *json_object_get_string(e) ? json_object_get_string(e) : NULL;
}

static void evaluate_one(const struct aw_posture_check *c, json_object *res,
			 struct aw_posture_result *r)
{
	json_object *v;
	size_t depth;
	enum aw_pv_lookup l = aw_pv_lookup(res, c->path, &v, &depth);

	if (l == AW_PV_NOT_OBJECT) {
		char what[96];

		snprintf(what, sizeof what, "%.*s", (int)depth, c->path);
		aw_pv_wrong_type(r, what, v, "an object");
		return;
	}
	if (l == AW_PV_ABSENT) {
		const char *err = c->separate_read ? read_error(res) : NULL;

		r->absent = true;
		if (err) {
			r->status = AW_POSTURE_UNKNOWN;
			aw_pv_say(r, "could not be read: %s", err);
			return;
		}
		r->status = absent_passes(c) ? AW_POSTURE_PASS : AW_POSTURE_FAIL;
		aw_pv_say(r, "absent (default: %s)", c->dflt);
		return;
	}
	if (!json_object_is_type(v, rules[c->rule].type) &&
	    !(rules[c->rule].type == json_type_double && json_object_is_type(v, json_type_int))) {
		aw_pv_wrong_type(r, rules[c->rule].what ? rules[c->rule].what : c->path, v,
				 rules[c->rule].want);
		return;
	}
	rules[c->rule].eval(c, v, r);
}

size_t aw_posture_evaluate(json_object *resource,
			   void (*fn)(void *ud, const struct aw_posture_result *r), void *ud)
{
	const char *type;
	size_t n = 0;

	if (!json_object_is_type(resource, json_type_object))
		return 0;
	type = aw_pv_string(resource, "type");
	if (!type)
		return 0;
	for (size_t i = 0; i < aw_posture_check_count(); i++) {
		const struct aw_posture_check *c = aw_posture_check_at(i);
		struct aw_posture_result r;

		if (strcasecmp(c->type, type) != 0)
			continue;
		if (c->only_path) {
			const char *v = aw_pv_string(resource, c->only_path);

			if (!v || strcasecmp(v, c->only_value) != 0)
				continue;
		}
		memset(&r, 0, sizeof r);
		r.check = c;
		r.resource = resource;
		r.status = AW_POSTURE_FAIL;
		evaluate_one(c, resource, &r);
		if (fn)
			fn(ud, &r);
		n++;
	}
	return n;
}
