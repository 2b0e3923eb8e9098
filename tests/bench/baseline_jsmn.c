/* Baseline: a zero-allocation tokenizer (jsmn, Debian libjsmn-dev) over each record's
 * top-level object; with --properties also unescape the properties_s column and
 * tokenize it. This is the reference for what reading records without building a tree
 * can cost (design.md, "JSON, hot path").
 *
 *     baseline_jsmn [--properties] FILE */
#define JSMN_STATIC
#include <jsmn.h>
#include <string.h>

#include "bench_lines.h"

#define MAX_TOKENS 1024

struct state {
	int properties;
	jsmntok_t toks[MAX_TOKENS];
	jsmntok_t ptoks[MAX_TOKENS];
	char unesc[1 << 16];
	long long tokens, ptokens, bad;
};

/* Index of the token after the value starting at i. */
static int skip(const jsmntok_t *t, int i)
{
	int n = 1;

	while (n > 0) {
		if (t[i].type == JSMN_OBJECT || t[i].type == JSMN_ARRAY)
			n += t[i].size * (t[i].type == JSMN_OBJECT ? 2 : 1);
		n--;
		i++;
	}
	return i;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* JSON string body -> bytes (ASCII \u escapes only; enough for the corpus). */
static long unescape(const char *s, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\\' && i + 1 < len) {
			c = s[++i];
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u':
				if (i + 4 >= len)
					return -1;
				{
					int v = 0;
					for (int k = 1; k <= 4; k++) {
						int h = hexval(s[i + k]);
						if (h < 0)
							return -1;
						v = v * 16 + h;
					}
					c = v < 128 ? (char)v : '?';
					i += 4;
				}
				break;
			default: break; /* \" \\ \/ */
			}
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}

static void on_line(void *ud, char *line, size_t len)
{
	struct state *s = ud;
	jsmn_parser p;

	jsmn_init(&p);
	int n = jsmn_parse(&p, line, len, s->toks, MAX_TOKENS);
	if (n < 1 || s->toks[0].type != JSMN_OBJECT) {
		s->bad++;
		return;
	}
	s->tokens += n;
	if (!s->properties)
		return;
	for (int i = 1; i < n;) {
		const jsmntok_t *k = &s->toks[i], *v = &s->toks[i + 1];
		if (k->end - k->start == 12 && memcmp(line + k->start, "properties_s", 12) == 0 &&
		    v->type == JSMN_STRING) {
			long m = unescape(line + v->start, (size_t)(v->end - v->start), s->unesc,
					  sizeof s->unesc);
			if (m < 0) {
				s->bad++;
				return;
			}
			jsmn_init(&p);
			int pn = jsmn_parse(&p, s->unesc, (size_t)m, s->ptoks, MAX_TOKENS);
			if (pn < 1)
				s->bad++;
			else
				s->ptokens += pn;
			return;
		}
		i = skip(s->toks, i + 1);
	}
}

int main(int argc, char **argv)
{
	static struct state s;
	const char *path = NULL;
	char extra[160];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--properties") == 0)
			s.properties = 1;
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			fprintf(stderr, "usage: baseline_jsmn [--properties] FILE\n");
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "usage: baseline_jsmn [--properties] FILE\n");
		return 2;
	}
	long long n = bench_each_line(path, on_line, &s);
	if (n < 0)
		return 1;
	snprintf(extra, sizeof extra, "%s, %lld tokens, %lld properties_s tokens, %lld unparsable",
		 s.properties ? "top level + properties_s" : "top level", s.tokens, s.ptokens, s.bad);
	bench_report(s.properties ? "baseline_jsmn_props" : "baseline_jsmn", n, extra);
	return 0;
}
