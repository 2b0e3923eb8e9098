/* The shipped rule pack against its fixtures, and the recorded day scenario.
 *
 * For every tests/data/rules/<rule>/: positive.jsonl must raise between min_alerts and
 * max_alerts alerts of the rule named in expect.json, negative.jsonl none of it. The
 * scenario (tests/data/scenarios/day.jsonl) must raise every alert day.expected.json
 * lists under must_alert, and none of the listed rules on the listed look-alike records. */
#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "records.h"
#include "testutil.h"

struct alert_log {
	struct json_object *alerts; /* array of parsed alerts */
	struct aw_engine *engine;
	size_t events;
};

static int on_alert(void *ud, const struct aw_record *rec)
{
	struct alert_log *l = ud;
	struct json_object *o = json_tokener_parse(rec->data);

	ck_assert_msg(o != NULL, "alert is not JSON: %s", rec->data);
	json_object_array_add(l->alerts, o);
	return 0;
}

static int on_event(void *ud, const struct aw_event *ev)
{
	struct alert_log *l = ud;
	struct aw_error err;

	l->events++;
	ck_assert_msg(aw_engine_eval(l->engine, ev, on_alert, l, &err) >= 0, "%s", err.msg);
	return 0;
}

static struct aw_engine *pack_engine(void)
{
	char *rules = aw_test_srcpath("conf/rules");
	const char *paths[] = {rules};
	struct aw_engine_conf conf = {
		.rule_paths = paths,
		.nrule_paths = 1,
		.allowed_lateness_ms = 10 * 60 * 1000,
		.host = "test",
	};
	struct aw_error_list errs = {0};
	struct aw_engine *e = aw_engine_new(&conf, &errs);

	ck_assert_ptr_nonnull(e);
	ck_assert_msg(errs.n == 0, "rule pack does not load cleanly: %s", errs.n ? errs.msgs[0] : "");
	aw_error_list_free(&errs);
	free(rules);
	return e;
}

/* Replay a file through a fresh engine; returns the alerts (caller puts). */
static struct json_object *replay(const char *path, size_t *events)
{
	struct alert_log l = {.alerts = json_object_new_array(), .engine = pack_engine()};
	FILE *f = fopen(path, "r");
	char *line = NULL, origin[512];
	size_t cap = 0, lineno = 0;
	ssize_t n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	while ((n = getline(&line, &cap, f)) > 0) {
		struct aw_error err;
		lineno++;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (!n)
			continue;
		snprintf(origin, sizeof origin, "%s:%zu", path, lineno);
		ck_assert_msg(aw_records_parse(line, (size_t)n, origin, on_event, &l, NULL, &err) >= 0,
			      "%s: %s", origin, err.msg);
	}
	free(line);
	fclose(f);
	aw_engine_free(l.engine);
	if (events)
		*events = l.events;
	return l.alerts;
}

static size_t count_rule(struct json_object *alerts, const char *rule_id)
{
	size_t n = 0;

	for (size_t i = 0; i < json_object_array_length(alerts); i++) {
		struct json_object *a = json_object_array_get_idx(alerts, i), *v;
		if (json_object_object_get_ex(a, "RuleId", &v) &&
		    strcmp(json_object_get_string(v), rule_id) == 0)
			n++;
	}
	return n;
}

START_TEST(every_rule_meets_its_fixtures)
{
	char *dir = aw_test_srcpath("tests/data/rules");
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, alphasort);
	size_t checked = 0;
	char failures[8192] = "";
	size_t flen = 0;

	ck_assert_msg(n > 2, "no fixtures under %s", dir);
	for (int i = 0; i < n; i++) {
		char path[1024];
		struct json_object *expect, *v, *pos, *neg;
		const char *rule_id;
		long long min = 1, max = 1000000;
		if (ents[i]->d_name[0] == '.') {
			free(ents[i]);
			continue;
		}
		snprintf(path, sizeof path, "%s/%s/expect.json", dir, ents[i]->d_name);
		expect = json_object_from_file(path);
		ck_assert_msg(expect != NULL, "%s: missing or not JSON", path);
		ck_assert(json_object_object_get_ex(expect, "rule_id", &v));
		rule_id = json_object_get_string(v);
		if (json_object_object_get_ex(expect, "min_alerts", &v))
			min = json_object_get_int64(v);
		if (json_object_object_get_ex(expect, "max_alerts", &v))
			max = json_object_get_int64(v);

		snprintf(path, sizeof path, "%s/%s/positive.jsonl", dir, ents[i]->d_name);
		pos = replay(path, NULL);
		size_t got = count_rule(pos, rule_id);
		if ((long long)got < min || (long long)got > max)
			flen += (size_t)snprintf(failures + flen, sizeof failures - flen,
						 "%s: positive raised %zu alerts of %s (want %lld..%lld)\n",
						 ents[i]->d_name, got, rule_id, min, max);
		snprintf(path, sizeof path, "%s/%s/negative.jsonl", dir, ents[i]->d_name);
		neg = replay(path, NULL);
		got = count_rule(neg, rule_id);
		if (got)
			flen += (size_t)snprintf(failures + flen, sizeof failures - flen,
						 "%s: negative raised %zu alerts of %s\n",
						 ents[i]->d_name, got, rule_id);
		if (flen >= sizeof failures)
			flen = sizeof failures - 1;
		json_object_put(pos);
		json_object_put(neg);
		json_object_put(expect);
		checked++;
		free(ents[i]);
	}
	free(ents);
	free(dir);
	ck_assert_msg(failures[0] == '\0', "%zu rules checked; failures:\n%s", checked, failures);
}
END_TEST

START_TEST(scenario_day_alerts_attacks_not_lookalikes)
{
	char *data = aw_test_srcpath("tests/data/scenarios/day.jsonl");
	char *exp_path = aw_test_srcpath("tests/data/scenarios/day.expected.json");
	struct json_object *expect = json_object_from_file(exp_path), *must, *mustnot;
	struct json_object *alerts;
	char failures[8192] = "";
	size_t flen = 0, events = 0;

	ck_assert_msg(expect != NULL, "%s: missing or not JSON", exp_path);
	alerts = replay(data, &events);
	ck_assert_uint_gt(events, 1000);
	ck_assert(json_object_object_get_ex(expect, "must_alert", &must));
	for (size_t i = 0; i < json_object_array_length(must); i++) {
		struct json_object *m = json_object_array_get_idx(must, i), *v;
		const char *rule;
		long long min = 1;
		ck_assert(json_object_object_get_ex(m, "rule_id", &v));
		rule = json_object_get_string(v);
		if (json_object_object_get_ex(m, "min", &v))
			min = json_object_get_int64(v);
		size_t got = count_rule(alerts, rule);
		if ((long long)got < min)
			flen += (size_t)snprintf(failures + flen, sizeof failures - flen,
						 "attack not alerted: %s raised %zu (want >= %lld)\n",
						 rule, got, min);
		if (flen >= sizeof failures)
			flen = sizeof failures - 1;
	}
	if (json_object_object_get_ex(expect, "must_not_alert_on", &mustnot)) {
		for (size_t i = 0; i < json_object_array_length(mustnot); i++) {
			struct json_object *m = json_object_array_get_idx(mustnot, i), *v, *ids;
			const char *rule;
			ck_assert(json_object_object_get_ex(m, "rule_id", &v));
			rule = json_object_get_string(v);
			ck_assert(json_object_object_get_ex(m, "_ItemIds", &ids));
			for (size_t a = 0; a < json_object_array_length(alerts); a++) {
				struct json_object *al = json_object_array_get_idx(alerts, a), *rid,
						   *ev, *items;
				if (!json_object_object_get_ex(al, "RuleId", &rid) ||
				    strcmp(json_object_get_string(rid), rule) != 0)
					continue;
				if (!json_object_object_get_ex(al, "Evidence", &ev) ||
				    !json_object_object_get_ex(ev, "ItemIds", &items))
					continue;
				for (size_t k = 0; k < json_object_array_length(items); k++)
					for (size_t j = 0; j < json_object_array_length(ids); j++)
						if (strcmp(json_object_get_string(
								   json_object_array_get_idx(items, k)),
							   json_object_get_string(
								   json_object_array_get_idx(ids, j))) == 0)
							flen += (size_t)snprintf(
								failures + flen, sizeof failures - flen,
								"look-alike alerted: %s on %s\n", rule,
								json_object_get_string(
									json_object_array_get_idx(ids, j)));
				if (flen >= sizeof failures)
					flen = sizeof failures - 1;
			}
		}
	}
	json_object_put(alerts);
	json_object_put(expect);
	free(data);
	free(exp_path);
	ck_assert_msg(failures[0] == '\0', "%s", failures);
}
END_TEST

static Suite *rule_pack_suite(void)
{
	Suite *s = suite_create("rule_pack");
	TCase *tc = tcase_create("fixtures");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, every_rule_meets_its_fixtures);
	tcase_add_test(tc, scenario_day_alerts_attacks_not_lookalikes);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(rule_pack_suite)
