/* AIWatchPosture events (see posture_event.h). */
#include "posture_event.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "posture_json.h"

static const char *const changes[] = {"", "Appeared", "Changed", "Resolved"};

/* Hex SHA-256 prefix of check|resource|change|actual|n (the resource lower-cased: ARM
 * ids compare case-insensitively). The change count n keeps a failure that comes back
 * after it was resolved from reusing its first event's id; a crash re-reports with the
 * same n, so under the same id. */
static void item_id(const char *check, const char *resource, const char *change, const char *actual,
		    uint32_t n, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE] = {0};
	unsigned int len = 0;
	char num[16], low[256];
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	snprintf(num, sizeof num, "%u", (unsigned)n);
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(c, check, strlen(check));
		EVP_DigestUpdate(c, "|", 1);
		for (const char *p = resource; *p;) {
			size_t k = 0;
			for (; *p && k < sizeof low; p++)
				low[k++] = (char)tolower((unsigned char)*p);
			EVP_DigestUpdate(c, low, k);
		}
		EVP_DigestUpdate(c, "|", 1);
		EVP_DigestUpdate(c, change, strlen(change));
		EVP_DigestUpdate(c, "|", 1);
		EVP_DigestUpdate(c, actual, strlen(actual));
		EVP_DigestUpdate(c, "|", 1);
		EVP_DigestUpdate(c, num, strlen(num));
		EVP_DigestFinal_ex(c, md, &len);
	}
	EVP_MD_CTX_free(c);
	for (size_t i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
}

/* The subscription of an ARM id ("/subscriptions/S/...") into out. */
static const char *id_subscription(const char *id, char *out, size_t sz)
{
	size_t n;

	out[0] = '\0';
	if (strncasecmp(id, "/subscriptions/", 15) == 0) {
		n = strcspn(id + 15, "/");
		snprintf(out, sz, "%.*s", (int)n, id + 15);
	}
	return out;
}

static int add_str(json_object *o, const char *k, const char *v)
{
	return json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

static json_object *controls_of(const struct aw_posture_check *chk)
{
	json_object *o = json_object_new_object();

	for (int fw = 0; o && fw < AW_FW_COUNT; fw++) {
		const char *const *list =
		    aw_posture_check_controls(chk, (enum aw_posture_framework)fw);
		json_object *a = json_object_new_array();

		for (size_t i = 0; a && list && list[i]; i++)
			json_object_array_add(a, json_object_new_string(list[i]));
		if (!a ||
		    json_object_object_add(
			o, aw_posture_framework_name((enum aw_posture_framework)fw), a) != 0) {
			json_object_put(a);
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

char *aw_posture_event_json(const struct aw_posture_change *c, const char *time_generated,
			    size_t *len)
{
	const struct aw_posture_check *chk = c->check;
	json_object *ev = json_object_new_object(), *ctl = controls_of(chk);
	const char *name = aw_posture_str(c->resource, "name"),
		   *sub = aw_posture_str(c->resource, "subscriptionId");
	const char *slash = strrchr(c->resource_id, '/'), *txt;
	char id[33], subbuf[64];
	char *out = NULL;
	int bad = 0;

	if (!ev || !ctl)
		goto out;
	if (!name)
		name = slash ? slash + 1 : c->resource_id;
	if (!sub)
		sub = id_subscription(c->resource_id, subbuf, sizeof subbuf);
	item_id(aw_posture_check_id(chk), c->resource_id, changes[c->change], c->actual, c->n, id);
	bad |= add_str(ev, "TimeGenerated", time_generated);
	bad |= add_str(ev, "Type", AW_POSTURE_TABLE);
	bad |= add_str(ev, "_ItemId", id);
	bad |= add_str(ev, "CheckId", aw_posture_check_id(chk));
	bad |= add_str(ev, "CheckTitle", aw_posture_check_title(chk));
	bad |= add_str(ev, "Area", aw_posture_check_area(chk));
	bad |= add_str(ev, "Severity", aw_posture_check_severity(chk));
	bad |= add_str(ev, "ResourceId", c->resource_id);
	bad |= add_str(ev, "_ResourceId", c->resource_id);
	bad |= add_str(ev, "ResourceType", aw_posture_check_type(chk));
	bad |= add_str(ev, "ResourceName", name);
	bad |= add_str(ev, "SubscriptionId", sub);
	bad |= add_str(ev, "PropertyPath", aw_posture_check_path(chk));
	bad |= add_str(ev, "Expected", aw_posture_check_expected(chk));
	bad |= add_str(ev, "Actual", c->actual);
	bad |= add_str(ev, "PreviousActual", c->change == AW_PK_CHANGED ? c->previous : "");
	bad |= add_str(ev, "Status", c->change == AW_PK_RESOLVED ? "Passed" : "Failed");
	bad |= add_str(ev, "Change", changes[c->change]);
	bad |= add_str(ev, "Baseline", aw_posture_check_baseline(chk));
	bad |= add_str(ev, "Remediation", aw_posture_check_remediation(chk));
	bad |= json_object_object_add(ev, "Controls", ctl);
	ctl = NULL;
	if (bad)
		goto out;
	txt = json_object_to_json_string_length(
	    ev, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
	if (txt)
		out = strdup(txt);
out:
	json_object_put(ctl);
	json_object_put(ev);
	return out;
}
