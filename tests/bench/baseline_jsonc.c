/* Baseline: what a json-c tree per record costs. Parse each line's top-level object with
 * a reused json_tokener and free it; with --properties also parse the JSON text held in
 * the properties_s column, as a rule reading properties_s.x would need.
 *
 *     baseline_jsonc [--properties] FILE
 *
 * The target for `aiwatchd replay` with the full rule pack is at most half the
 * CPU time of this program without --properties, on the same file. */
#include <json-c/json.h>
#include <string.h>

#include "bench_lines.h"

struct state {
	struct json_tokener *tok;
	int properties;
	long long keys, props, bad;
};

static struct json_object *parse(struct state *s, const char *text, size_t len)
{
	json_tokener_reset(s->tok);
	struct json_object *o = json_tokener_parse_ex(s->tok, text, (int)len);
	if (!o || json_tokener_get_error(s->tok) != json_tokener_success) {
		json_object_put(o);
		s->bad++;
		return NULL;
	}
	return o;
}

static void on_line(void *ud, char *line, size_t len)
{
	struct state *s = ud;
	struct json_object *o = parse(s, line, len), *v;

	if (!o)
		return;
	s->keys += json_object_object_length(o);
	if (s->properties && json_object_object_get_ex(o, "properties_s", &v) &&
	    json_object_is_type(v, json_type_string)) {
		struct json_object *p =
			parse(s, json_object_get_string(v), (size_t)json_object_get_string_len(v));
		if (p) {
			s->props += json_object_object_length(p);
			json_object_put(p);
		}
	}
	json_object_put(o);
}

int main(int argc, char **argv)
{
	struct state s = {0};
	const char *path = NULL;
	char extra[160];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--properties") == 0)
			s.properties = 1;
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			fprintf(stderr, "usage: baseline_jsonc [--properties] FILE\n");
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "usage: baseline_jsonc [--properties] FILE\n");
		return 2;
	}
	s.tok = json_tokener_new();
	if (!s.tok)
		return 1;
	long long n = bench_each_line(path, on_line, &s);
	json_tokener_free(s.tok);
	if (n < 0)
		return 1;
	snprintf(extra, sizeof extra, "%s, %lld top-level keys, %lld properties_s keys, %lld unparsable",
		 s.properties ? "top level + properties_s" : "top level", s.keys, s.props, s.bad);
	bench_report(s.properties ? "baseline_jsonc_props" : "baseline_jsonc", n, extra);
	return 0;
}
