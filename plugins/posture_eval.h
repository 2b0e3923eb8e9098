/* Inside the posture checks: the row of the check table (posture_checks.c: the rows and
 * their accessors), the rules that evaluate a row against one inventory element
 * (posture_eval.c, with aw_posture_evaluate) and what they read and write with
 * (posture_value.c). Shared by those three files only. */
#ifndef AW_POSTURE_EVAL_H
#define AW_POSTURE_EVAL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "posture.h"

enum aw_posture_rule {
	AW_RULE_ENUM,	     /* a string among `want` ("A|B"), case-insensitive */
	AW_RULE_BOOL,	     /* a JSON boolean equal to `want` ("true"/"false") */
	AW_RULE_NO_OPEN_IP,  /* an array of {value} rules, none open to every address */
	AW_RULE_APPROVED_PE, /* an array with one private endpoint connection Approved */
	AW_RULE_IDENTITY,    /* SystemAssigned and/or UserAssigned */
	AW_RULE_DIAGNOSTICS, /* a setting sending an enabled log to a Log Analytics workspace */
	AW_RULE_NAMED,	     /* a non-empty string */
	AW_RULE_DURATION,    /* an ISO 8601 duration */
	AW_RULE_EPOCH,	     /* a date, in epoch seconds */
};

struct aw_posture_check {
	const char *id;
	const char *title;
	const char *area;
	const char *type;
	const char *only_path;	/* applies only where this property ... */
	const char *only_value; /* ... is this string (case-insensitive) */
	const char *path;
	enum aw_posture_rule rule;
	const char *want;	  /* AW_RULE_ENUM, AW_RULE_BOOL */
	const char *absent_value; /* the same two: what an absent property stands for */
	bool absent_passes;	  /* the other rules */
	bool separate_read;	  /* read apart from Resource Graph: UNKNOWN when that failed */
	const char *expected;
	const char *dflt;
	const char *severity;
	const char *baseline;
	const char *remediation;
};

/* --- values (posture_value.c) ---------------------------------------------------------- */

enum aw_pv_lookup { AW_PV_FOUND, AW_PV_ABSENT, AW_PV_NOT_OBJECT };

/* The member name[0..len) of obj: the exact spelling first, then ignoring case. */
json_object *aw_pv_member(json_object *obj, const char *name, size_t len);
/* The value at a dotted path of res (*out). NULL members count as absent.
 * AW_PV_NOT_OBJECT: a step on the way is not an object; *out is then that value and
 * *depth the length of the path prefix that named it. */
enum aw_pv_lookup aw_pv_lookup(json_object *res, const char *path, json_object **out,
			       size_t *depth);
/* The string at a dotted path, or NULL (absent, or not a string). */
const char *aw_pv_string(json_object *res, const char *path);

/* r->actual from a format, cut at a UTF-8 boundary with "..." when it is too long. */
void aw_pv_say(struct aw_posture_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* v as short JSON text (cut like aw_pv_say). */
void aw_pv_json_text(json_object *v, char *buf, size_t size);
/* r fails with "wrong type: WHAT is A TYPE (VALUE), expected WANT". */
void aw_pv_wrong_type(struct aw_posture_result *r, const char *what, json_object *v,
		      const char *want);
/* s is one of "A|B|C", ignoring case. */
bool aw_pv_one_of(const char *s, const char *alternatives);

#endif
