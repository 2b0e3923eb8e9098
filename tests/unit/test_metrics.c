/* Metrics registry: exposition text, escaping, series identity, validation, collectors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "testutil.h"

static struct aw_metrics *m;

static void setup(void)
{
	m = aw_metrics_new();
	ck_assert_ptr_nonnull(m);
}

static void teardown(void)
{
	aw_metrics_free(m);
	m = NULL;
}

static char *render(void)
{
	char *out = NULL;
	size_t len = 0;

	ck_assert_int_eq(aw_metrics_render(m, &out, &len), 0);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(len, strlen(out));
	return out;
}

START_TEST(render_exact_text)
{
	struct aw_metric *a = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_events_total",
					    "Events read by input", "input", "file", NULL);
	struct aw_metric *b = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_events_total",
					    "ignored: help is kept from the first call", "input",
					    "loganalytics", NULL);
	struct aw_metric *q =
	    aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_queue_depth", "Events waiting", NULL);
	struct aw_metric *r =
	    aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_ratio", "A ratio", "kind", "nan", NULL);
	struct aw_metric *r2 =
	    aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_ratio", "A ratio", "kind", "pinf", NULL);
	struct aw_metric *r3 =
	    aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_ratio", "A ratio", "kind", "ninf", NULL);
	struct aw_metric *big =
	    aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_bytes", "Bytes", "a", "1", "b", "2", NULL);

	aw_metric_inc(a);
	aw_metric_inc(a);
	aw_metric_inc(a);
	aw_metric_add(b, 1e6);
	aw_metric_set(q, 2.5);
	aw_metric_set(r, NAN);
	aw_metric_set(r2, INFINITY);
	aw_metric_set(r3, -INFINITY);
	aw_metric_set(big, 123456789012345.0);

	char *out = render();
	ck_assert_str_eq(out, "# HELP aiwatch_bytes Bytes\n"
			      "# TYPE aiwatch_bytes gauge\n"
			      "aiwatch_bytes{a=\"1\",b=\"2\"} 123456789012345\n"
			      "# HELP aiwatch_events_total Events read by input\n"
			      "# TYPE aiwatch_events_total counter\n"
			      "aiwatch_events_total{input=\"file\"} 3\n"
			      "aiwatch_events_total{input=\"loganalytics\"} 1000000\n"
			      "# HELP aiwatch_queue_depth Events waiting\n"
			      "# TYPE aiwatch_queue_depth gauge\n"
			      "aiwatch_queue_depth 2.5\n"
			      "# HELP aiwatch_ratio A ratio\n"
			      "# TYPE aiwatch_ratio gauge\n"
			      "aiwatch_ratio{kind=\"nan\"} NaN\n"
			      "aiwatch_ratio{kind=\"pinf\"} +Inf\n"
			      "aiwatch_ratio{kind=\"ninf\"} -Inf\n");
	free(out);
}
END_TEST

START_TEST(values_print_readably)
{
	struct aw_metric *g = aw_metric_get(m, AW_METRIC_GAUGE, "g", "", NULL);
	const struct {
		double v;
		const char *text;
	} cases[] = {
	    {0, "g 0\n"},
	    {0.1, "g 0.1\n"},
	    {-3, "g -3\n"},
	    {1.0 / 3, "g 0.3333333333333333\n"},
	    {1e20, "g 1e+20\n"},
	    {9007199254740993.0, "g 9007199254740992\n"},
	    {1.5e-7, "g 1.5e-07\n"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		aw_metric_set(g, cases[i].v);
		char *out = render();
		const char *line = strstr(out, "\ng ");
		ck_assert_ptr_nonnull(line);
		ck_assert_str_eq(line + 1, cases[i].text);
		free(out);
	}
}
END_TEST

START_TEST(escaping)
{
	struct aw_metric *s =
	    aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_x_total", "Help with \\ and\nnewline",
			  "rule", "say \"hi\"\\now\nthen", "empty", "", "nullv", NULL, NULL);
	ck_assert_ptr_nonnull(s);
	char *out = render();
	ck_assert_str_eq(out, "# HELP aiwatch_x_total Help with \\\\ and\\nnewline\n"
			      "# TYPE aiwatch_x_total counter\n"
			      "aiwatch_x_total{rule=\"say \\\"hi\\\"\\\\now\\nthen\",empty=\"\","
			      "nullv=\"\"} 0\n");
	free(out);
}
END_TEST

START_TEST(same_series_twice)
{
	struct aw_metric *a = aw_metric_get(m, AW_METRIC_COUNTER, "c_total", "h", "k", "v", NULL);
	struct aw_metric *b = aw_metric_get(m, AW_METRIC_COUNTER, "c_total", "h", "k", "v", NULL);
	struct aw_metric *c = aw_metric_get(m, AW_METRIC_COUNTER, "c_total", "h", "k", "w", NULL);
	struct aw_metric *d = aw_metric_get(m, AW_METRIC_COUNTER, "c_total", "h", NULL);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(a, b);
	ck_assert_ptr_ne(a, c);
	ck_assert_ptr_ne(a, d);
	aw_metric_inc(a);
	aw_metric_inc(b);
	ck_assert(aw_metric_value(a) == 2);
	ck_assert(aw_metric_value(c) == 0);
}
END_TEST

START_TEST(type_clash)
{
	ck_assert_ptr_nonnull(aw_metric_get(m, AW_METRIC_COUNTER, "x_total", "h", "k", "v", NULL));
	ck_assert_ptr_null(aw_metric_get(m, AW_METRIC_GAUGE, "x_total", "h", "k", "v", NULL));
	ck_assert_ptr_null(aw_metric_get(m, AW_METRIC_GAUGE, "x_total", "h", "k", "other", NULL));
	char *out = render();
	ck_assert_ptr_null(strstr(out, "gauge"));
	ck_assert_ptr_null(strstr(out, "other"));
	free(out);
}
END_TEST

START_TEST(invalid_names)
{
	ck_assert_ptr_null(aw_metric_get(m, AW_METRIC_GAUGE, "1abc", "h", NULL));
	ck_assert_ptr_null(aw_metric_get(m, AW_METRIC_GAUGE, "a-b", "h", NULL));
	ck_assert_ptr_null(aw_metric_get(m, AW_METRIC_GAUGE, "", "h", NULL));
	ck_assert_ptr_null(aw_metric_get(m, AW_METRIC_GAUGE, NULL, "h", NULL));
	ck_assert_ptr_null(aw_metric_get(m, AW_METRIC_GAUGE, "ok", "h", "bad-label", "v", NULL));
	ck_assert_ptr_null(aw_metric_get(m, AW_METRIC_GAUGE, "ok", "h", "9x", "v", NULL));
	ck_assert_ptr_null(aw_metric_get(m, AW_METRIC_GAUGE, "ok", "h", "a:b", "v", NULL));
	ck_assert_ptr_null(aw_metric_get(m, AW_METRIC_GAUGE, "ok", "h", "k", "1", "k", "2", NULL));
	ck_assert_ptr_nonnull(aw_metric_get(m, AW_METRIC_GAUGE, "ns:sub_x", "h", "_k9", "v", NULL));
	ck_assert_ptr_nonnull(aw_metric_get(m, AW_METRIC_GAUGE, "_x", "h", NULL));

	/* A rejected series is a NULL that every setter accepts. */
	aw_metric_inc(NULL);
	aw_metric_add(NULL, 1);
	aw_metric_set(NULL, 1);
	ck_assert(aw_metric_value(NULL) == 0);

	char *out = render();
	ck_assert_str_eq(out, "# HELP _x h\n# TYPE _x gauge\n_x 0\n"
			      "# HELP ns:sub_x h\n# TYPE ns:sub_x gauge\nns:sub_x{_k9=\"v\"} 0\n");
	free(out);
}
END_TEST

START_TEST(counter_only_increases)
{
	struct aw_metric *c = aw_metric_get(m, AW_METRIC_COUNTER, "c_total", "h", NULL);
	struct aw_metric *g = aw_metric_get(m, AW_METRIC_GAUGE, "g", "h", NULL);

	aw_metric_add(c, 5);
	aw_metric_add(c, -2);
	aw_metric_add(c, NAN);
	ck_assert(aw_metric_value(c) == 5);
	aw_metric_add(g, 5);
	aw_metric_add(g, -7.5);
	ck_assert(aw_metric_value(g) == -2.5);
}
END_TEST

struct scrape_count {
	struct aw_metric *g;
	int calls;
};

static void collect(void *ud)
{
	struct scrape_count *sc = ud;
	aw_metric_set(sc->g, ++sc->calls);
}

START_TEST(collectors_run_before_render)
{
	struct scrape_count sc = {0};
	sc.g = aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_scrapes", "Scrapes", NULL);

	ck_assert_int_eq(aw_metrics_add_collector(m, collect, &sc), 0);
	char *out = render();
	ck_assert_ptr_nonnull(strstr(out, "\naiwatch_scrapes 1\n"));
	free(out);
	out = render();
	ck_assert_ptr_nonnull(strstr(out, "\naiwatch_scrapes 2\n"));
	free(out);
	aw_metrics_remove_collector(m, collect, &sc);
	out = render();
	ck_assert_ptr_nonnull(strstr(out, "\naiwatch_scrapes 2\n"));
	free(out);
	ck_assert_int_eq(sc.calls, 2);
}
END_TEST

START_TEST(empty_registry)
{
	char *out = render();
	ck_assert_str_eq(out, "");
	free(out);
}
END_TEST

/* Many series stay distinct and findable (the table grows underneath), and the total
 * is capped: past the cap callers get the NULL no-op series. */
START_TEST(many_series_and_cap)
{
	char v[32];
	struct aw_metric **all = malloc(100000 * sizeof *all);

	ck_assert_ptr_nonnull(all);
	for (int i = 0; i < 100000; i++) {
		snprintf(v, sizeof v, "r%d", i);
		all[i] =
		    aw_metric_get(m, AW_METRIC_COUNTER,
				  i % 2 ? "aiwatch_rule_hits_total" : "aiwatch_rule_misses_total",
				  "h", "rule", v, NULL);
		ck_assert_ptr_nonnull(all[i]);
		aw_metric_add(all[i], i);
	}
	for (int i = 0; i < 100000; i += 997) {
		snprintf(v, sizeof v, "r%d", i);
		ck_assert_ptr_eq(
		    aw_metric_get(m, AW_METRIC_COUNTER,
				  i % 2 ? "aiwatch_rule_hits_total" : "aiwatch_rule_misses_total",
				  "h", "rule", v, NULL),
		    all[i]);
		ck_assert(aw_metric_value(all[i]) == i);
	}
	ck_assert_ptr_null(aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_rule_hits_total", "h",
					 "rule", "one-too-many", NULL));
	/* Existing series are still found at the cap. */
	ck_assert_ptr_eq(
	    aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_rule_hits_total", "h", "rule", "r1", NULL),
	    all[1]);
	char *out = render();
	ck_assert_ptr_nonnull(strstr(out, "\naiwatch_rule_hits_total{rule=\"r99999\"} 99999\n"));
	free(out);
	free(all);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, render_exact_text);
	tcase_add_test(tc, values_print_readably);
	tcase_add_test(tc, escaping);
	tcase_add_test(tc, same_series_twice);
	tcase_add_test(tc, type_clash);
	tcase_add_test(tc, invalid_names);
	tcase_add_test(tc, counter_only_increases);
	tcase_add_test(tc, collectors_run_before_render);
	tcase_add_test(tc, empty_registry);
	tcase_add_test(tc, many_series_and_cap);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(metrics_suite)
