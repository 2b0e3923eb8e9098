/* The KQL the input sends (contract §2, incremental polling):
 *
 *   <source>
 *   | where TimeGenerated > datetime(<lo - max_lateness>)
 *   | where ingestion_time() > datetime(<lo>) and ingestion_time() <= datetime(<hi>)
 *   | extend _aw_ingested = ingestion_time()
 *   | order by _aw_ingested asc, _ItemId asc
 *   | take <N>
 *
 * with the request's `timespan` covering the same TimeGenerated range (it filters
 * TimeGenerated, not ingestion time, and is intersected with the query's own filter).
 * A follow-up after a capped answer continues after the last row in answer order:
 * `ingestion_time() > lo or (ingestion_time() == lo and strcmp(_ItemId, "<id>") > 0)`.
 * Our clauses start on new lines so a `//` comment ending the source cannot swallow
 * them. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "la.h"

/* A growable string, bounded by what a query can sensibly be. */
#define LA_QUERY_MAX (1024 * 1024)

struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *np = cap <= LA_QUERY_MAX ? realloc(b->p, cap) : NULL;
		if (!np) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		b->failed = true;
		return;
	}
	sb_add(b, tmp, (size_t)n);
}

static char *sb_take(struct sbuf *b)
{
	if (b->failed || !b->p) {
		free(b->p);
		return NULL;
	}
	return b->p;
}

/* --- sources ----------------------------------------------------------------------- */

static bool is_ident_start(int c)
{
	return isalpha(c) || c == '_';
}

static bool is_ident(int c)
{
	return isalnum(c) || c == '_';
}

/* A bare table name: no operators, nothing to parenthesise. */
static bool bare_table(const char *s)
{
	size_t i = 0;

	while (isspace((unsigned char)s[i]))
		i++;
	if (!is_ident_start((unsigned char)s[i]))
		return false;
	while (is_ident((unsigned char)s[i]))
		i++;
	while (isspace((unsigned char)s[i]))
		i++;
	return s[i] == '\0';
}

int aw_la_source_check(const char *src, bool single_table_head, char *why, size_t whysz)
{
	int depth = 0;
	char quote = 0;
	size_t i = 0;

	while (isspace((unsigned char)src[i]))
		i++;
	if (!src[i]) {
		snprintf(why, whysz, "empty");
		return -1;
	}
	if (single_table_head && !is_ident_start((unsigned char)src[i])) {
		snprintf(why, whysz, "must start with a table name");
		return -1;
	}
	for (; src[i]; i++) {
		char c = src[i];
		if (quote) {
			if (c == '\\' && src[i + 1])
				i++;
			else if (c == quote)
				quote = 0;
			continue;
		}
		if (c == '"' || c == '\'') {
			quote = c;
		} else if (c == '(' || c == '[' || c == '{') {
			depth++;
		} else if (c == ')' || c == ']' || c == '}') {
			if (--depth < 0) {
				snprintf(why, whysz, "unbalanced '%c'", c);
				return -1;
			}
		} else if (c == ';' && single_table_head) {
			snprintf(why, whysz, "';' is not allowed in a table entry (use `query:`)");
			return -1;
		} else if ((unsigned char)c < 0x20 && c != '\n' && c != '\t' && c != '\r') {
			snprintf(why, whysz, "control character");
			return -1;
		}
	}
	if (quote) {
		snprintf(why, whysz, "unterminated string");
		return -1;
	}
	if (depth) {
		snprintf(why, whysz, "unbalanced parentheses");
		return -1;
	}
	return 0;
}

char *aw_la_tables_source(const struct aw_strlist *tables)
{
	struct sbuf b = {0};

	sb_str(&b, "union isfuzzy=true");
	for (size_t i = 0; i < tables->n; i++) {
		sb_str(&b, i ? ",\n  " : "\n  ");
		if (bare_table(tables->v[i])) {
			sb_str(&b, tables->v[i]);
		} else {
			sb_str(&b, "(");
			sb_str(&b, tables->v[i]);
			sb_str(&b, ")");
		}
	}
	return sb_take(&b);
}

/* --- the request --------------------------------------------------------------------- */

/* A KQL string literal: double quotes, backslash escapes. */
static void sb_kql_string(struct sbuf *b, const char *s)
{
	sb_str(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_add(b, "\\", 1);
		if ((unsigned char)*s < 0x20)
			continue;
		sb_add(b, s, 1);
	}
	sb_str(b, "\"");
}

char *aw_la_request_body(const char *source, const struct aw_la_range *r, int64_t max_lateness,
			 int64_t future)
{
	char lo[AW_LA_TIME_LEN], hi[AW_LA_TIME_LEN], tg_lo[AW_LA_TIME_LEN], tg_hi[AW_LA_TIME_LEN];
	char span[2 * AW_LA_TIME_LEN + 2];
	struct sbuf q = {0};
	json_object *body = NULL;
	char *out = NULL;

	aw_la_time_format(r->lo, lo);
	aw_la_time_format(r->hi, hi);
	aw_la_time_format(r->lo - max_lateness, tg_lo);
	aw_la_time_format(r->hi + future, tg_hi);
	sb_str(&q, source);
	sb_fmt(&q, "\n| where TimeGenerated > datetime(%s)", tg_lo);
	if (r->keyset) {
		sb_fmt(&q,
		       "\n| where (ingestion_time() > datetime(%s) or (ingestion_time() == "
		       "datetime(%s) and strcmp(_ItemId, ",
		       lo, lo);
		sb_kql_string(&q, r->lo_id);
		sb_fmt(&q, ") > 0)) and ingestion_time() <= datetime(%s)", hi);
	} else {
		sb_fmt(&q,
		       "\n| where ingestion_time() > datetime(%s) and ingestion_time() <= "
		       "datetime(%s)",
		       lo, hi);
	}
	sb_str(&q, "\n| extend _aw_ingested = ingestion_time()"
		   "\n| order by _aw_ingested asc, _ItemId asc");
	sb_fmt(&q, "\n| take %zu", r->take);
	if (q.failed)
		goto out;
	snprintf(span, sizeof span, "%s/%s", tg_lo, tg_hi);
	body = json_object_new_object();
	if (!body ||
	    json_object_object_add(body, "query", json_object_new_string_len(q.p, (int)q.len)) ||
	    json_object_object_add(body, "timespan", json_object_new_string(span)))
		goto out;
	const char *txt = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (txt)
		out = strdup(txt);
out:
	json_object_put(body);
	free(q.p);
	return out;
}
