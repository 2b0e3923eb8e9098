/* The KQL subset of emu_kql.h: a tokenizer, a recursive-descent parser into a small
 * tree, and an evaluator over JSON records. Errors name the token where parsing
 * stopped, as the service's SyntaxError does (with less detail). */
#include "emu_kql.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "emu.h"

/* --- time ---------------------------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;

	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

int aw_emu_time_parse(const char *s, int64_t *ticks)
{
	int y, mo, d, h, mi, sec, n = 0;
	int64_t frac = 0;
	size_t nfrac = 0;
	const char *p;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			if (nfrac < 7) {
				frac = frac * 10 + (*p - '0');
				nfrac++;
			}
		}
		for (; nfrac < 7; nfrac++)
			frac *= 10;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return -1;
	*ticks =
	    (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * AW_EMU_TICKS_PER_SEC +
	    frac;
	return 0;
}

void aw_emu_time_format(int64_t ticks, char buf[32])
{
	time_t secs = (time_t)(ticks / AW_EMU_TICKS_PER_SEC);
	long frac = (long)(ticks % AW_EMU_TICKS_PER_SEC);
	struct tm tm;
	char tmp[64];

	if (frac < 0) {
		frac += AW_EMU_TICKS_PER_SEC;
		secs--;
	}
	if (!gmtime_r(&secs, &tm))
		memset(&tm, 0, sizeof(tm));
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%07ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	snprintf(buf, 32, "%.31s", tmp);
}

/* --- tokens -------------------------------------------------------------------------- */

enum tk { TK_EOF, TK_IDENT, TK_STR, TK_NUM, TK_OP, TK_RAW };

struct token {
	enum tk k;
	char *s;
	double num;
};

struct parser {
	struct token *t;
	size_t n, i, cap;
	char *err;
	size_t errlen;
	bool failed;
};

static void fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;
	char msg[256];
	const struct token *t = ps->i < ps->n ? &ps->t[ps->i] : NULL;

	if (ps->failed)
		return;
	ps->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "%s near '%s'", msg,
		 t && t->k != TK_EOF ? t->s : "end of query");
}

static void push(struct parser *ps, enum tk k, const char *s, size_t len)
{
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 64;
		ps->t = aw_emu_need(realloc(ps->t, ps->cap * sizeof(*ps->t)));
	}
	ps->t[ps->n].k = k;
	ps->t[ps->n].s = aw_emu_need(strndup(s, len));
	ps->t[ps->n].num = k == TK_NUM ? strtod(ps->t[ps->n].s, NULL) : 0;
	ps->n++;
}

static bool ident_char(int c)
{
	return isalnum(c) || c == '_';
}

static int lex(struct parser *ps, const char *p)
{
	bool raw_next = false;

	while (*p) {
		if (isspace((unsigned char)*p)) {
			p++;
		} else if (p[0] == '/' && p[1] == '/') {
			while (*p && *p != '\n')
				p++;
		} else if (raw_next && *p == '(') {
			const char *e = strchr(p, ')');
			if (!e) {
				snprintf(ps->err, ps->errlen, "unterminated datetime(...)");
				return -1;
			}
			push(ps, TK_OP, "(", 1);
			push(ps, TK_RAW, p + 1, (size_t)(e - p - 1));
			push(ps, TK_OP, ")", 1);
			p = e + 1;
			raw_next = false;
		} else if (*p == '"' || *p == '\'') {
			char q = *p++, *buf = aw_emu_need(malloc(strlen(p) + 1));
			size_t n = 0;
			while (*p && *p != q) {
				if (*p == '\\' && p[1]) {
					p++;
					buf[n++] = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
				} else {
					buf[n++] = *p;
				}
				p++;
			}
			if (!*p) {
				free(buf);
				snprintf(ps->err, ps->errlen, "unterminated string literal");
				return -1;
			}
			p++;
			push(ps, TK_STR, buf, n);
			free(buf);
		} else if (isdigit((unsigned char)*p)) {
			const char *s = p;
			while (isdigit((unsigned char)*p) || *p == '.')
				p++;
			push(ps, TK_NUM, s, (size_t)(p - s));
		} else if (isalpha((unsigned char)*p) || *p == '_') {
			const char *s = p;
			while (ident_char((unsigned char)*p))
				p++;
			if (p - s == 2 && !strncmp(s, "in", 2)) {
				bool ci = *p == '~';
				push(ps, TK_OP, ci ? "in~" : "in", ci ? 3 : 2);
				p += ci;
				continue;
			}
			push(ps, TK_IDENT, s, (size_t)(p - s));
			raw_next = p - s == 8 && !strncmp(s, "datetime", 8);
			while (raw_next && isspace((unsigned char)*p))
				p++;
		} else if (p[0] == '!' && p[1] == 'i' && p[2] == 'n' &&
			   !ident_char((unsigned char)p[3]) && p[3] != '~') {
			push(ps, TK_OP, "!in", 3);
			p += 3;
		} else if (p[0] == '!' && p[1] == 'i' && p[2] == 'n' && p[3] == '~') {
			push(ps, TK_OP, "!in~", 4);
			p += 4;
		} else {
			static const char *const two[] = {"==", "!=", "<=", ">=", "=~", "!~", NULL};
			size_t len = 1;
			for (size_t i = 0; two[i]; i++)
				if (!strncmp(p, two[i], 2))
					len = 2;
			if (len == 1 && !strchr("|(),=<>.", *p)) {
				snprintf(ps->err, ps->errlen, "unexpected character '%c'", *p);
				return -1;
			}
			push(ps, TK_OP, p, len);
			p += len;
		}
	}
	push(ps, TK_EOF, "", 0);
	return 0;
}

static const struct token *peek(const struct parser *ps)
{
	return &ps->t[ps->i < ps->n ? ps->i : ps->n - 1];
}

static bool is_op(const struct parser *ps, const char *op)
{
	return peek(ps)->k == TK_OP && !strcmp(peek(ps)->s, op);
}

static bool is_word(const struct parser *ps, const char *w)
{
	return peek(ps)->k == TK_IDENT && !strcmp(peek(ps)->s, w);
}

static bool accept_op(struct parser *ps, const char *op)
{
	if (!is_op(ps, op))
		return false;
	ps->i++;
	return true;
}

static bool accept_word(struct parser *ps, const char *w)
{
	if (!is_word(ps, w))
		return false;
	ps->i++;
	return true;
}

static void expect_op(struct parser *ps, const char *op)
{
	if (!accept_op(ps, op))
		fail(ps, "expected '%s'", op);
}

static char *ident(struct parser *ps)
{
	if (peek(ps)->k != TK_IDENT) {
		fail(ps, "expected a name");
		return aw_emu_strdup("");
	}
	return aw_emu_strdup(ps->t[ps->i++].s);
}

/* --- expressions ----------------------------------------------------------------------- */

enum vk { V_NULL, V_BOOL, V_NUM, V_STR, V_TIME };

struct val {
	enum vk k;
	bool b;
	double n;
	int64_t t;
	const char *s;
};

enum nk { N_LIT, N_COL, N_CALL, N_AND, N_OR, N_NOT, N_CMP, N_IN };

struct node {
	enum nk k;
	struct val lit;
	char *text;	    /* literal string, column, function or operator */
	struct node **args; /* operands, function arguments, or lhs + list */
	size_t nargs;
};

static struct node *new_node(enum nk k, const char *text)
{
	struct node *n = aw_emu_need(calloc(1, sizeof(*n)));

	n->k = k;
	n->text = aw_emu_strdup(text ? text : "");
	return n;
}

static void add_arg(struct node *n, struct node *a)
{
	n->args = aw_emu_need(realloc(n->args, (n->nargs + 1) * sizeof(*n->args)));
	n->args[n->nargs++] = a;
}

static void free_node(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nargs; i++)
		free_node(n->args[i]);
	free(n->args);
	free(n->text);
	free(n);
}

static struct node *expr(struct parser *ps);

static struct node *primary(struct parser *ps)
{
	const struct token *t = peek(ps);
	struct node *n;

	if (accept_op(ps, "(")) {
		n = expr(ps);
		expect_op(ps, ")");
		return n;
	}
	if (t->k == TK_STR || t->k == TK_NUM) {
		n = new_node(N_LIT, t->s);
		n->lit.k = t->k == TK_STR ? V_STR : V_NUM;
		n->lit.n = t->num;
		n->lit.s = n->text;
		ps->i++;
		return n;
	}
	if (t->k != TK_IDENT) {
		fail(ps, "expected a value");
		return new_node(N_LIT, "");
	}
	if (accept_word(ps, "true") || accept_word(ps, "false")) {
		n = new_node(N_LIT, ps->t[ps->i - 1].s);
		n->lit.k = V_BOOL;
		n->lit.b = !strcmp(n->text, "true");
		return n;
	}
	if (accept_word(ps, "not")) {
		n = new_node(N_NOT, "not");
		expect_op(ps, "(");
		add_arg(n, expr(ps));
		expect_op(ps, ")");
		return n;
	}
	if (accept_word(ps, "datetime")) {
		n = new_node(N_LIT, "");
		expect_op(ps, "(");
		if (peek(ps)->k != TK_RAW) {
			fail(ps, "expected a date");
			return n;
		}
		n->lit.k = V_TIME;
		if (aw_emu_time_parse(peek(ps)->s, &n->lit.t) != 0)
			fail(ps, "bad datetime literal");
		ps->i++;
		expect_op(ps, ")");
		return n;
	}
	char *name = ident(ps);
	if (accept_op(ps, "(")) {
		static const char *const fns[] = {"ingestion_time", "now",	"strcmp", "isempty",
						  "isnotempty",	    "tostring", NULL};
		bool known = false;
		for (size_t i = 0; fns[i]; i++)
			known = known || !strcmp(fns[i], name);
		n = new_node(N_CALL, name);
		if (!known)
			fail(ps, "unknown function %s()", name);
		if (!is_op(ps, ")")) {
			do
				add_arg(n, expr(ps));
			while (!ps->failed && accept_op(ps, ","));
		}
		expect_op(ps, ")");
	} else {
		n = new_node(N_COL, name);
	}
	free(name);
	return n;
}

static struct node *comparison(struct parser *ps)
{
	static const char *const ops[] = {"==", "!=", "<=", ">=", "<", ">", "=~", "!~", NULL};
	static const char *const words[] = {"has", "contains", "startswith", NULL};
	struct node *lhs = primary(ps), *n;

	for (size_t i = 0; ops[i]; i++) {
		if (accept_op(ps, ops[i])) {
			n = new_node(N_CMP, ops[i]);
			add_arg(n, lhs);
			add_arg(n, primary(ps));
			return n;
		}
	}
	for (size_t i = 0; words[i]; i++) {
		if (accept_word(ps, words[i])) {
			n = new_node(N_CMP, words[i]);
			add_arg(n, lhs);
			add_arg(n, primary(ps));
			return n;
		}
	}
	if (is_op(ps, "in") || is_op(ps, "in~") || is_op(ps, "!in") || is_op(ps, "!in~")) {
		n = new_node(N_IN, ps->t[ps->i++].s);
		add_arg(n, lhs);
		expect_op(ps, "(");
		do
			add_arg(n, primary(ps));
		while (!ps->failed && accept_op(ps, ","));
		expect_op(ps, ")");
		return n;
	}
	return lhs;
}

static struct node *conjunction(struct parser *ps)
{
	struct node *n = comparison(ps);

	while (!ps->failed && accept_word(ps, "and")) {
		struct node *a = new_node(N_AND, "and");
		add_arg(a, n);
		add_arg(a, comparison(ps));
		n = a;
	}
	return n;
}

static struct node *expr(struct parser *ps)
{
	struct node *n = conjunction(ps);

	while (!ps->failed && accept_word(ps, "or")) {
		struct node *o = new_node(N_OR, "or");
		add_arg(o, n);
		add_arg(o, conjunction(ps));
		n = o;
	}
	return n;
}

/* --- operators and the query --------------------------------------------------------------- */

enum opk { OP_WHERE, OP_EXTEND, OP_ORDER, OP_TAKE, OP_PROJECT };

struct op {
	enum opk k;
	struct node **exprs; /* where: 1; extend: one per name */
	char **names;	     /* extend, order, project */
	bool *desc;	     /* order */
	size_t n;
	long long take;
};

struct leg {
	char *table;
	struct op *ops;
	size_t nops;
};

struct aw_emu_kql {
	struct leg *legs;
	size_t nlegs;
	struct op *ops;
	size_t nops;
};

static void op_add_name(struct op *o, char *name, struct node *e, bool desc)
{
	o->names = aw_emu_need(realloc(o->names, (o->n + 1) * sizeof(*o->names)));
	o->exprs = aw_emu_need(realloc(o->exprs, (o->n + 1) * sizeof(*o->exprs)));
	o->desc = aw_emu_need(realloc(o->desc, (o->n + 1) * sizeof(*o->desc)));
	o->names[o->n] = name;
	o->exprs[o->n] = e;
	o->desc[o->n] = desc;
	o->n++;
}

static void free_ops(struct op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < ops[i].n; k++) {
			free(ops[i].names[k]);
			free_node(ops[i].exprs[k]);
		}
		free(ops[i].names);
		free(ops[i].exprs);
		free(ops[i].desc);
	}
	free(ops);
}

static void parse_op(struct parser *ps, struct op **ops, size_t *nops)
{
	struct op o = {0};

	if (accept_word(ps, "where") || accept_word(ps, "filter")) {
		o.k = OP_WHERE;
		op_add_name(&o, NULL, expr(ps), false);
	} else if (accept_word(ps, "extend")) {
		o.k = OP_EXTEND;
		do {
			char *name = ident(ps);
			expect_op(ps, "=");
			op_add_name(&o, name, expr(ps), false);
		} while (!ps->failed && accept_op(ps, ","));
	} else if (accept_word(ps, "order") || accept_word(ps, "sort")) {
		o.k = OP_ORDER;
		if (!accept_word(ps, "by"))
			fail(ps, "expected 'by'");
		do {
			char *name = ident(ps);
			bool desc = true; /* Kusto sorts descending unless told */
			if (accept_word(ps, "asc"))
				desc = false;
			else
				accept_word(ps, "desc");
			op_add_name(&o, name, NULL, desc);
		} while (!ps->failed && accept_op(ps, ","));
	} else if (accept_word(ps, "take") || accept_word(ps, "limit")) {
		o.k = OP_TAKE;
		if (peek(ps)->k != TK_NUM)
			fail(ps, "expected a row count");
		else
			o.take = (long long)ps->t[ps->i++].num;
	} else if (accept_word(ps, "project")) {
		o.k = OP_PROJECT;
		do
			op_add_name(&o, ident(ps), NULL, false);
		while (!ps->failed && accept_op(ps, ","));
	} else {
		fail(ps, "unsupported operator");
	}
	*ops = aw_emu_need(realloc(*ops, (*nops + 1) * sizeof(**ops)));
	(*ops)[(*nops)++] = o;
}

static void add_leg(struct aw_emu_kql *q, struct parser *ps, bool parens)
{
	struct leg l = {0};

	l.table = ident(ps);
	while (parens && !ps->failed && accept_op(ps, "|"))
		parse_op(ps, &l.ops, &l.nops);
	q->legs = aw_emu_need(realloc(q->legs, (q->nlegs + 1) * sizeof(*q->legs)));
	q->legs[q->nlegs++] = l;
}

void aw_emu_kql_free(struct aw_emu_kql *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->nlegs; i++) {
		free(q->legs[i].table);
		free_ops(q->legs[i].ops, q->legs[i].nops);
	}
	free(q->legs);
	free_ops(q->ops, q->nops);
	free(q);
}

struct aw_emu_kql *aw_emu_kql_parse(const char *text, char *err, size_t errlen)
{
	struct parser ps = {.err = err, .errlen = errlen};
	struct aw_emu_kql *q = aw_emu_need(calloc(1, sizeof(*q)));

	if (lex(&ps, text) < 0) {
		ps.failed = true;
		goto out;
	}
	if (accept_word(&ps, "union")) {
		/* options: isfuzzy=true, withsource=Name, kind=outer */
		while (peek(&ps)->k == TK_IDENT && ps.i + 1 < ps.n && ps.t[ps.i + 1].k == TK_OP &&
		       !strcmp(ps.t[ps.i + 1].s, "=")) {
			ps.i += 3;
		}
		do {
			bool parens = accept_op(&ps, "(");
			add_leg(q, &ps, parens);
			if (parens)
				expect_op(&ps, ")");
		} while (!ps.failed && accept_op(&ps, ","));
	} else {
		add_leg(q, &ps, false);
	}
	while (!ps.failed && accept_op(&ps, "|"))
		parse_op(&ps, &q->ops, &q->nops);
	if (!ps.failed && peek(&ps)->k != TK_EOF)
		fail(&ps, "unexpected text");
out:
	for (size_t i = 0; i < ps.n; i++)
		free(ps.t[i].s);
	free(ps.t);
	if (ps.failed) {
		aw_emu_kql_free(q);
		return NULL;
	}
	return q;
}

/* --- evaluation ---------------------------------------------------------------------------- */

static struct val from_json(json_object *v)
{
	struct val r = {.k = V_NULL};

	switch (json_object_get_type(v)) {
	case json_type_boolean:
		r.k = V_BOOL;
		r.b = json_object_get_boolean(v);
		break;
	case json_type_int:
	case json_type_double:
		r.k = V_NUM;
		r.n = json_object_get_double(v);
		break;
	case json_type_string:
		r.k = V_STR;
		r.s = json_object_get_string(v);
		break;
	case json_type_object:
	case json_type_array:
		r.k = V_STR;
		r.s = aw_emu_json_text(v, NULL);
		break;
	case json_type_null:
		break;
	}
	return r;
}

static json_object *column(const struct aw_emu_kql_row *row, const char *name)
{
	json_object *v = NULL;

	if (row->ext && json_object_object_get_ex(row->ext, name, &v))
		return v;
	if (json_object_object_get_ex(row->obj, name, &v))
		return v;
	return NULL;
}

static int as_time(const struct val *v, int64_t *t)
{
	if (v->k == V_TIME) {
		*t = v->t;
		return 0;
	}
	return v->k == V_STR ? aw_emu_time_parse(v->s, t) : -1;
}

static const char *as_text(const struct val *v, char *buf, size_t size)
{
	switch (v->k) {
	case V_STR:
		return v->s;
	case V_NUM:
		snprintf(buf, size, "%.17g", v->n);
		return buf;
	case V_BOOL:
		return v->b ? "true" : "false";
	case V_TIME:
		aw_emu_time_format(v->t, buf);
		return buf;
	case V_NULL:
		break;
	}
	return NULL;
}

/* Ordering of two values; -2 when they cannot be compared (a null, mixed kinds). */
static int compare(const struct val *a, const struct val *b, bool ci)
{
	char ba[64], bb[64];
	const char *sa, *sb;

	if (a->k == V_NULL || b->k == V_NULL)
		return -2;
	if (a->k == V_TIME || b->k == V_TIME) {
		int64_t ta, tb;
		if (as_time(a, &ta) || as_time(b, &tb))
			return -2;
		return ta < tb ? -1 : ta > tb;
	}
	if (a->k == V_NUM && b->k == V_NUM)
		return a->n < b->n ? -1 : a->n > b->n;
	sa = as_text(a, ba, sizeof(ba));
	sb = as_text(b, bb, sizeof(bb));
	if (a->k == V_NUM || b->k == V_NUM) {
		/* "200" == 200: Log Analytics often carries numbers as strings */
		char *e1, *e2;
		double x = strtod(sa, &e1), y = strtod(sb, &e2);
		if (*sa && *sb && !*e1 && !*e2)
			return x < y ? -1 : x > y;
	}
	int c = ci ? strcasecmp(sa, sb) : strcmp(sa, sb);
	return c < 0 ? -1 : c > 0;
}

static struct val eval(const struct node *n, const struct aw_emu_kql_row *row);

static bool truthy(const struct node *n, const struct aw_emu_kql_row *row)
{
	struct val v = eval(n, row);

	return v.k == V_BOOL && v.b;
}

static struct val bool_val(bool b)
{
	return (struct val){.k = V_BOOL, .b = b};
}

static struct val eval_cmp(const struct node *n, const struct aw_emu_kql_row *row)
{
	struct val a = eval(n->args[0], row), b = eval(n->args[1], row);
	const char *op = n->text;
	char ba[64], bb[64];
	int c;

	if (!strcmp(op, "has") || !strcmp(op, "contains") || !strcmp(op, "startswith")) {
		const char *sa = as_text(&a, ba, sizeof(ba)), *sb = as_text(&b, bb, sizeof(bb));
		if (!sa || !sb)
			return bool_val(false);
		if (!strcmp(op, "startswith"))
			return bool_val(!strncasecmp(sa, sb, strlen(sb)));
		return bool_val(strcasestr(sa, sb) != NULL);
	}
	c = compare(&a, &b, op[1] == '~');
	if (c == -2)
		return bool_val(!strcmp(op, "!=") || !strcmp(op, "!~") ? a.k != b.k : false);
	if (!strcmp(op, "==") || !strcmp(op, "=~"))
		return bool_val(c == 0);
	if (!strcmp(op, "!=") || !strcmp(op, "!~"))
		return bool_val(c != 0);
	if (!strcmp(op, "<"))
		return bool_val(c < 0);
	if (!strcmp(op, "<="))
		return bool_val(c <= 0);
	if (!strcmp(op, ">"))
		return bool_val(c > 0);
	return bool_val(c >= 0);
}

static struct val eval(const struct node *n, const struct aw_emu_kql_row *row)
{
	struct val v = {.k = V_NULL};

	switch (n->k) {
	case N_LIT:
		return n->lit;
	case N_COL:
		return from_json(column(row, n->text));
	case N_AND:
		return bool_val(truthy(n->args[0], row) && truthy(n->args[1], row));
	case N_OR:
		return bool_val(truthy(n->args[0], row) || truthy(n->args[1], row));
	case N_NOT:
		return bool_val(!truthy(n->args[0], row));
	case N_CMP:
		return eval_cmp(n, row);
	case N_IN: {
		struct val a = eval(n->args[0], row);
		bool ci = strchr(n->text, '~') != NULL, neg = n->text[0] == '!', any = false;
		for (size_t i = 1; i < n->nargs && !any; i++) {
			struct val b = eval(n->args[i], row);
			any = compare(&a, &b, ci) == 0;
		}
		return bool_val(neg ? !any : any);
	}
	case N_CALL:
		if (!strcmp(n->text, "ingestion_time")) {
			v.k = V_TIME;
			v.t = row->ing;
		} else if (!strcmp(n->text, "now")) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			v.k = V_TIME;
			v.t = (int64_t)ts.tv_sec * AW_EMU_TICKS_PER_SEC + ts.tv_nsec / 100;
		} else if (!strcmp(n->text, "strcmp") && n->nargs == 2) {
			char ba[64], bb[64];
			struct val a = eval(n->args[0], row), b = eval(n->args[1], row);
			const char *sa = as_text(&a, ba, sizeof(ba)),
				   *sb = as_text(&b, bb, sizeof(bb));
			if (sa && sb) {
				int c = strcmp(sa, sb);
				v.k = V_NUM;
				v.n = c < 0 ? -1 : c > 0;
			}
		} else if ((!strcmp(n->text, "isempty") || !strcmp(n->text, "isnotempty")) &&
			   n->nargs == 1) {
			struct val a = eval(n->args[0], row);
			bool empty = a.k == V_NULL || (a.k == V_STR && !*a.s);
			v = bool_val(n->text[2] == 'e' ? empty : !empty);
		} else if (!strcmp(n->text, "tostring") && n->nargs == 1) {
			v = eval(n->args[0], row);
			if (v.k == V_NULL) {
				v.k = V_STR;
				v.s = "";
			}
		}
		return v;
	}
	return v;
}

/* --- running a query ---------------------------------------------------------------------- */

struct sort_ctx {
	const struct op *op;
};

static int sort_cmp(const void *pa, const void *pb, void *ud)
{
	const struct sort_ctx *sc = ud;
	const struct aw_emu_kql_row *a = *(struct aw_emu_kql_row *const *)pa;
	const struct aw_emu_kql_row *b = *(struct aw_emu_kql_row *const *)pb;

	for (size_t i = 0; i < sc->op->n; i++) {
		struct val va = from_json(column(a, sc->op->names[i]));
		struct val vb = from_json(column(b, sc->op->names[i]));
		int c = compare(&va, &vb, false);
		if (c == -2) /* nulls first when ascending; other mixed kinds tie */
			c = va.k == V_NULL && vb.k != V_NULL   ? -1
			    : vb.k == V_NULL && va.k != V_NULL ? 1
							       : 0;
		if (c)
			return sc->op->desc[i] ? -c : c;
	}
	return 0;
}

static void note_ext(struct aw_emu_kql_result *res, const char *name)
{
	for (size_t i = 0; i < res->n_ext; i++)
		if (!strcmp(res->ext_cols[i], name))
			return;
	res->ext_cols = aw_emu_need(realloc(res->ext_cols, (res->n_ext + 1) * sizeof(char *)));
	res->ext_cols[res->n_ext++] = aw_emu_strdup(name);
}

static json_object *to_json(const struct val *v)
{
	char buf[32];

	switch (v->k) {
	case V_BOOL:
		return json_object_new_boolean(v->b);
	case V_NUM:
		return v->n == (double)(int64_t)v->n ? json_object_new_int64((int64_t)v->n)
						     : json_object_new_double(v->n);
	case V_STR:
		return json_object_new_string(v->s);
	case V_TIME:
		aw_emu_time_format(v->t, buf);
		return json_object_new_string(buf);
	case V_NULL:
		break;
	}
	return NULL;
}

static void apply(const struct op *ops, size_t nops, struct aw_emu_kql_row **rows, size_t *n,
		  struct aw_emu_kql_result *res)
{
	for (size_t o = 0; o < nops; o++) {
		const struct op *op = &ops[o];
		size_t k = 0;

		switch (op->k) {
		case OP_WHERE:
			for (size_t i = 0; i < *n; i++)
				if (truthy(op->exprs[0], rows[i]))
					rows[k++] = rows[i];
			*n = k;
			break;
		case OP_EXTEND:
			for (size_t i = 0; i < *n; i++) {
				for (size_t e = 0; e < op->n; e++) {
					struct val v = eval(op->exprs[e], rows[i]);
					if (!rows[i]->ext)
						rows[i]->ext =
						    aw_emu_need(json_object_new_object());
					json_object_object_add(rows[i]->ext, op->names[e],
							       to_json(&v));
				}
			}
			for (size_t e = 0; e < op->n; e++)
				note_ext(res, op->names[e]);
			break;
		case OP_ORDER: {
			struct sort_ctx sc = {.op = op};
			qsort_r(rows, *n, sizeof(*rows), sort_cmp, &sc);
			break;
		}
		case OP_TAKE:
			if (op->take >= 0 && (size_t)op->take < *n)
				*n = (size_t)op->take;
			break;
		case OP_PROJECT:
			for (size_t i = 0; i < res->n_project; i++)
				free(res->project[i]);
			free(res->project);
			res->project = aw_emu_need(calloc(op->n ? op->n : 1, sizeof(char *)));
			for (size_t i = 0; i < op->n; i++)
				res->project[i] = aw_emu_strdup(op->names[i]);
			res->n_project = op->n;
			break;
		}
	}
}

int aw_emu_kql_run(const struct aw_emu_kql *q, const struct aw_emu_kql_row *rows, size_t n,
		   struct aw_emu_kql_result *res, char *err, size_t errlen)
{
	struct aw_emu_kql_row **leg = aw_emu_need(calloc(n ? n : 1, sizeof(*leg)));

	memset(res, 0, sizeof(*res));
	res->all = aw_emu_need(calloc(n ? n : 1, sizeof(*res->all)));
	res->nall = n;
	/* Two legs over one table each return its matching rows, as in Kusto. */
	res->rows = aw_emu_need(calloc(n && q->nlegs ? n * q->nlegs : 1, sizeof(*res->rows)));
	for (size_t i = 0; i < n; i++) {
		res->all[i] = rows[i];
		res->all[i].ext = NULL;
	}
	for (size_t l = 0; l < q->nlegs; l++) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			json_object *t;
			if (json_object_object_get_ex(res->all[i].obj, "Type", &t) &&
			    !strcmp(json_object_get_string(t), q->legs[l].table))
				leg[k++] = &res->all[i];
		}
		apply(q->legs[l].ops, q->legs[l].nops, leg, &k, res);
		for (size_t i = 0; i < k; i++)
			res->rows[res->n++] = leg[i];
	}
	free(leg);
	apply(q->ops, q->nops, res->rows, &res->n, res);
	(void)err;
	(void)errlen;
	return 0;
}

void aw_emu_kql_result_free(struct aw_emu_kql_result *res)
{
	for (size_t i = 0; i < res->nall; i++)
		json_object_put(res->all[i].ext);
	for (size_t i = 0; i < res->n_ext; i++)
		free(res->ext_cols[i]);
	for (size_t i = 0; i < res->n_project; i++)
		free(res->project[i]);
	free(res->project);
	free(res->ext_cols);
	free(res->all);
	free(res->rows);
	memset(res, 0, sizeof(*res));
}
