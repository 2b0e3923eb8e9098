/* Sigma condition compiler: a tokenizer, a recursive-descent parser and the evaluator.
 *
 * The compiled form is one array of nodes. And/or nodes are n-ary and link their
 * children through `next`, so the parser appends a child in O(1) without a temporary
 * list, and a flat chain `a and b and c` is one node, not a deep binary tree. Selectors
 * become and/or nodes over identifier leaves at compile time. Parentheses and `not`
 * count as nesting levels; capping them (AW_COND_MAX_DEPTH) bounds both the parser's
 * and the evaluator's recursion. */
#include "rules/sigma_cond.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AW_COND_MAX_LEN	  16384 /* bytes of condition text */
#define AW_COND_MAX_DEPTH 64	/* parentheses + `not`, nested */
#define AW_COND_MAX_NODES 32768 /* after selector expansion */
#define AW_COND_NONE	  UINT32_MAX
/* Longest identifier or token echoed back in an error message. */
#define AW_COND_ECHO_MAX 64
/* Budget for the "known: a, b, ..." list in an unknown-identifier error. */
#define AW_COND_KNOWN_MAX 300

enum aw_cond_op {
	AW_COND_IDENT,
	AW_COND_NOT,
	AW_COND_AND,
	AW_COND_OR,
};

struct aw_cond_node {
	uint8_t op;
	uint32_t arg;  /* IDENT: identifier index; NOT/AND/OR: first child */
	uint32_t next; /* next sibling under the parent and/or, or AW_COND_NONE */
};

struct aw_cond {
	struct aw_cond_node *nodes;
	uint32_t n;
	uint32_t cap;
	uint32_t root;
};

enum aw_cond_tok {
	TOK_END,
	TOK_WORD,    /* [A-Za-z0-9_-]+: identifier or quantifier */
	TOK_PATTERN, /* a word with at least one `*` */
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_AND,
	TOK_OR,
	TOK_NOT,
	TOK_OF,
	TOK_THEM,
};

struct aw_cond_token {
	enum aw_cond_tok kind;
	size_t pos; /* byte offset in the text */
	size_t len;
};

struct aw_cond_parser {
	const char *text;
	size_t len;
	const char *const *idents;
	size_t nidents;
	struct aw_cond *c;
	struct aw_cond_token cur;
	unsigned depth;
	struct aw_error *err;
};

/* --- errors ------------------------------------------------------------------------- */

/* 1-based column in code points, so that a UTF-8 byte earlier on the line does not
 * shift the caret a user counts by eye. */
static size_t column_of(const char *text, size_t pos)
{
	size_t col = 1;

	for (size_t i = 0; i < pos; i++)
		if (((unsigned char)text[i] & 0xC0) != 0x80)
			col++;
	return col;
}

static int fail(struct aw_cond_parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct aw_cond_parser *p, size_t pos, const char *fmt, ...)
{
	char msg[AW_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return aw_error_set(p->err, "condition column %zu: %s", column_of(p->text, pos), msg);
}

/* A token as the user wrote it, for "found ..." in messages. */
static void tok_text(const struct aw_cond_parser *p, const struct aw_cond_token *t, char *buf,
		     size_t size)
{
	if (t->kind == TOK_END) {
		snprintf(buf, size, "end of condition");
		return;
	}
	int shown = t->len > AW_COND_ECHO_MAX ? AW_COND_ECHO_MAX : (int)t->len;
	snprintf(buf, size, "'%.*s%s'", shown, p->text + t->pos,
		 t->len > AW_COND_ECHO_MAX ? "..." : "");
}

static const char *const keywords[] = {"and", "or", "not", "of", "them", "any", "all"};

/* " (keywords are lower-case: use 'and')" when the word is a keyword in other case. */
static void keyword_hint(const char *s, size_t len, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++) {
		if (strlen(keywords[k]) == len && strncasecmp(keywords[k], s, len) == 0) {
			snprintf(buf, size, " (keywords are lower-case: use '%s')", keywords[k]);
			return;
		}
	}
}

/* --- tokenizer ---------------------------------------------------------------------- */

static bool is_word_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '-' || ch == '*';
}

static bool word_is(const char *s, size_t len, const char *kw)
{
	return strlen(kw) == len && memcmp(s, kw, len) == 0;
}

/* Describe a character we cannot tokenize: printable ASCII and well-formed UTF-8 as
 * written, anything else as \xNN. */
static void char_text(const char *s, size_t avail, char *buf, size_t size)
{
	unsigned char ch = (unsigned char)s[0];
	size_t need = 0;

	if (ch >= 0x20 && ch < 0x7F) {
		snprintf(buf, size, "'%c'", ch);
		return;
	}
	if (ch >= 0xC2 && ch <= 0xDF)
		need = 1;
	else if (ch >= 0xE0 && ch <= 0xEF)
		need = 2;
	else if (ch >= 0xF0 && ch <= 0xF4)
		need = 3;
	if (need && need < avail) {
		bool ok = true;
		for (size_t i = 1; i <= need; i++)
			if (((unsigned char)s[i] & 0xC0) != 0x80)
				ok = false;
		if (ok) {
			snprintf(buf, size, "'%.*s'", (int)(need + 1), s);
			return;
		}
	}
	snprintf(buf, size, "'\\x%02X'", ch);
}

/* Lex the token starting at or after byte `pos`. */
static int lex(struct aw_cond_parser *p, size_t pos, struct aw_cond_token *t)
{
	const char *s = p->text;

	while (pos < p->len &&
	       (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r'))
		pos++;
	t->pos = pos;
	t->len = 0;
	if (pos == p->len) {
		t->kind = TOK_END;
		return 0;
	}
	if (s[pos] == '(' || s[pos] == ')') {
		t->kind = s[pos] == '(' ? TOK_LPAREN : TOK_RPAREN;
		t->len = 1;
		return 0;
	}
	if (!is_word_char((unsigned char)s[pos])) {
		char ch[16];
		char_text(s + pos, p->len - pos, ch, sizeof ch);
		return fail(p, pos, "unexpected character %s", ch);
	}
	bool star = false;
	size_t end = pos;
	while (end < p->len && is_word_char((unsigned char)s[end])) {
		if (s[end] == '*')
			star = true;
		end++;
	}
	t->len = end - pos;
	const char *w = s + pos;
	if (star)
		t->kind = TOK_PATTERN;
	else if (word_is(w, t->len, "and"))
		t->kind = TOK_AND;
	else if (word_is(w, t->len, "or"))
		t->kind = TOK_OR;
	else if (word_is(w, t->len, "not"))
		t->kind = TOK_NOT;
	else if (word_is(w, t->len, "of"))
		t->kind = TOK_OF;
	else if (word_is(w, t->len, "them"))
		t->kind = TOK_THEM;
	else
		t->kind = TOK_WORD;
	return 0;
}

static int advance(struct aw_cond_parser *p)
{
	return lex(p, p->cur.pos + p->cur.len, &p->cur);
}

/* --- node storage ------------------------------------------------------------------- */

static long node_add(struct aw_cond_parser *p, size_t pos, enum aw_cond_op op, uint32_t arg)
{
	struct aw_cond *c = p->c;

	if (c->n == c->cap) {
		if (c->cap >= AW_COND_MAX_NODES)
			return fail(p, pos, "condition expands to more than %d terms",
				    AW_COND_MAX_NODES);
		uint32_t cap = c->cap ? c->cap * 2 : 16;
		struct aw_cond_node *nodes = realloc(c->nodes, cap * sizeof *nodes);
		if (!nodes)
			return fail(p, pos, "out of memory");
		c->nodes = nodes;
		c->cap = cap;
	}
	c->nodes[c->n] = (struct aw_cond_node){.op = (uint8_t)op, .arg = arg, .next = AW_COND_NONE};
	return c->n++;
}

/* An n-ary and/or under construction: `node` is created lazily on the second child so
 * that a single operand stays itself. */
struct aw_cond_list {
	long first;
	long node;
	long tail;
};

static int list_add(struct aw_cond_parser *p, struct aw_cond_list *l, enum aw_cond_op op,
		    long child, size_t pos)
{
	if (l->first < 0) {
		l->first = l->tail = child;
		return 0;
	}
	if (l->node < 0) {
		l->node = node_add(p, pos, op, (uint32_t)l->first);
		if (l->node < 0)
			return -1;
	}
	p->c->nodes[l->tail].next = (uint32_t)child;
	l->tail = child;
	return 0;
}

static long list_result(const struct aw_cond_list *l)
{
	return l->node >= 0 ? l->node : l->first;
}

/* --- selectors ---------------------------------------------------------------------- */

/* Full match of `pat` (with `*` for any run) against `s`; iterative, linear in
 * practice: on a mismatch only the last `*` is retried. */
static bool glob_match(const char *pat, size_t plen, const char *s)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (s[si]) {
		if (pi < plen && pat[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < plen && pat[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < plen && pat[pi] == '*')
		pi++;
	return pi == plen;
}

/* `1 of P` / `any of P` / `all of P` / `... of them`, cur on the quantifier and the
 * next token known to be `of`. */
static long parse_selector(struct aw_cond_parser *p)
{
	struct aw_cond_token q = p->cur;
	const char *qw = p->text + q.pos;
	bool all;
	char found[AW_COND_ECHO_MAX + 32];

	if (q.kind == TOK_WORD && (word_is(qw, q.len, "1") || word_is(qw, q.len, "any"))) {
		all = false;
	} else if (q.kind == TOK_WORD && word_is(qw, q.len, "all")) {
		all = true;
	} else {
		char hint[64];
		tok_text(p, &q, found, sizeof found);
		keyword_hint(qw, q.len, hint, sizeof hint);
		return fail(p, q.pos, "only 1, any and all are allowed before 'of', found %s%s",
			    found, hint);
	}
	if (advance(p) < 0 || advance(p) < 0) /* the quantifier, then `of` */
		return -1;
	struct aw_cond_token pat = p->cur;
	bool them = pat.kind == TOK_THEM;
	if (!them && pat.kind != TOK_WORD && pat.kind != TOK_PATTERN) {
		tok_text(p, &pat, found, sizeof found);
		return fail(p, pat.pos,
			    "expected 'them' or an identifier pattern after 'of', found %s", found);
	}
	/* Lex past the pattern first so that an error further left wins ("sel?"). */
	if (advance(p) < 0)
		return -1;
	const char *pw = p->text + pat.pos;
	bool underscore_ok = !them && pw[0] == '_';
	struct aw_cond_list l = {-1, -1, -1};
	for (size_t i = 0; i < p->nidents; i++) {
		const char *id = p->idents[i];
		if (id[0] == '_' && !underscore_ok)
			continue;
		if (!them && !glob_match(pw, pat.len, id))
			continue;
		long leaf = node_add(p, pat.pos, AW_COND_IDENT, (uint32_t)i);
		if (leaf < 0 || list_add(p, &l, all ? AW_COND_AND : AW_COND_OR, leaf, pat.pos) < 0)
			return -1;
	}
	if (l.first < 0) {
		int shown = pat.len > AW_COND_ECHO_MAX ? AW_COND_ECHO_MAX : (int)pat.len;
		return fail(p, q.pos, "'%.*s of %.*s%s' matches no identifier%s", (int)q.len, qw,
			    shown, pw, (size_t)shown < pat.len ? "..." : "",
			    them ? " (them excludes identifiers starting with '_')" : "");
	}
	return list_result(&l);
}

/* --- parser ------------------------------------------------------------------------- */

static long parse_or(struct aw_cond_parser *p);

static int enter(struct aw_cond_parser *p)
{
	if (p->depth >= AW_COND_MAX_DEPTH)
		return fail(p, p->cur.pos,
			    "condition nested deeper than %d levels (parentheses and 'not')",
			    AW_COND_MAX_DEPTH);
	p->depth++;
	return 0;
}

static long unknown_ident(struct aw_cond_parser *p, const struct aw_cond_token *t)
{
	const char *w = p->text + t->pos;
	char known[AW_COND_KNOWN_MAX + 64];
	char hint[128];
	size_t used = 0;
	size_t i;

	known[0] = '\0';
	for (i = 0; i < p->nidents; i++) {
		size_t l = strlen(p->idents[i]);
		if (used + l + 2 > AW_COND_KNOWN_MAX)
			break;
		used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
					 p->idents[i]);
	}
	if (i < p->nidents)
		snprintf(known + used, sizeof known - used, "%s... %zu more", i ? ", " : "",
			 p->nidents - i);
	keyword_hint(w, t->len, hint, sizeof hint);
	if (!hint[0]) {
		for (i = 0; i < p->nidents; i++) {
			if (strlen(p->idents[i]) == t->len &&
			    strncasecmp(p->idents[i], w, t->len) == 0) {
				snprintf(hint, sizeof hint, " (did you mean '%.*s'?)",
					 AW_COND_ECHO_MAX, p->idents[i]);
				break;
			}
		}
	}
	int shown = t->len > AW_COND_ECHO_MAX ? AW_COND_ECHO_MAX : (int)t->len;
	if (p->nidents == 0)
		return fail(p, t->pos, "unknown identifier '%.*s%s'%s (the rule defines none)",
			    shown, w, (size_t)shown < t->len ? "..." : "", hint);
	return fail(p, t->pos, "unknown identifier '%.*s%s'%s (known: %s)", shown, w,
		    (size_t)shown < t->len ? "..." : "", hint, known);
}

/* primary = "(" or_expr ")" | selector | identifier */
static long parse_primary(struct aw_cond_parser *p, const char *after)
{
	struct aw_cond_token t = p->cur;
	char found[AW_COND_ECHO_MAX + 32];

	if (t.kind == TOK_LPAREN) {
		if (enter(p) < 0 || advance(p) < 0)
			return -1;
		long inner = parse_or(p);
		if (inner < 0)
			return -1;
		if (p->cur.kind != TOK_RPAREN) {
			tok_text(p, &p->cur, found, sizeof found);
			return fail(p, p->cur.pos,
				    "missing ')' to close '(' at column %zu, found %s",
				    column_of(p->text, t.pos), found);
		}
		p->depth--;
		if (advance(p) < 0)
			return -1;
		return inner;
	}
	if (t.kind == TOK_WORD || t.kind == TOK_PATTERN) {
		struct aw_cond_token next;
		if (lex(p, t.pos + t.len, &next) < 0)
			return -1;
		if (next.kind == TOK_OF)
			return parse_selector(p);
	}
	if (t.kind == TOK_PATTERN) {
		tok_text(p, &t, found, sizeof found);
		return fail(p, t.pos,
			    "pattern %s is only allowed after '1 of', 'any of' or 'all of'", found);
	}
	if (t.kind == TOK_WORD) {
		for (size_t i = 0; i < p->nidents; i++) {
			if (word_is(p->text + t.pos, t.len, p->idents[i])) {
				if (advance(p) < 0)
					return -1;
				return node_add(p, t.pos, AW_COND_IDENT, (uint32_t)i);
			}
		}
		return unknown_ident(p, &t);
	}
	if (t.kind == TOK_OF)
		return fail(p, t.pos, "'of' needs a quantifier before it: 1, any or all");
	if (t.kind == TOK_THEM)
		return fail(p, t.pos, "'them' is only allowed after '1 of', 'any of' or 'all of'");
	tok_text(p, &t, found, sizeof found);
	return fail(p, t.pos, "expected an identifier, 'not', '(' or '1 of'/'all of' %s, found %s",
		    after, found);
}

/* not_expr = "not" not_expr | primary */
static long parse_not(struct aw_cond_parser *p, const char *after)
{
	if (p->cur.kind != TOK_NOT)
		return parse_primary(p, after);
	size_t pos = p->cur.pos;
	if (enter(p) < 0 || advance(p) < 0)
		return -1;
	long child = parse_not(p, "after 'not'");
	if (child < 0)
		return -1;
	p->depth--;
	return node_add(p, pos, AW_COND_NOT, (uint32_t)child);
}

/* and_expr = not_expr { "and" not_expr } */
static long parse_and(struct aw_cond_parser *p, const char *after)
{
	struct aw_cond_list l = {-1, -1, -1};

	for (;;) {
		size_t pos = p->cur.pos;
		long child = parse_not(p, after);
		if (child < 0 || list_add(p, &l, AW_COND_AND, child, pos) < 0)
			return -1;
		if (p->cur.kind != TOK_AND)
			return list_result(&l);
		if (advance(p) < 0)
			return -1;
		after = "after 'and'";
	}
}

/* or_expr = and_expr { "or" and_expr } */
static long parse_or(struct aw_cond_parser *p)
{
	struct aw_cond_list l = {-1, -1, -1};
	const char *after = "at the start";

	if (p->depth > 0)
		after = "after '('";
	for (;;) {
		size_t pos = p->cur.pos;
		long child = parse_and(p, after);
		if (child < 0 || list_add(p, &l, AW_COND_OR, child, pos) < 0)
			return -1;
		if (p->cur.kind != TOK_OR)
			return list_result(&l);
		if (advance(p) < 0)
			return -1;
		after = "after 'or'";
	}
}

int aw_cond_compile(const char *text, const char *const *idents, size_t n, struct aw_cond **out,
		    struct aw_error *err)
{
	struct aw_cond_parser p = {.text = text, .idents = idents, .nidents = n, .err = err};
	int rc = -1;

	*out = NULL;
	if (!text)
		return aw_error_set(err, "condition is missing");
	p.len = strnlen(text, AW_COND_MAX_LEN + 1);
	if (p.len > AW_COND_MAX_LEN)
		return aw_error_set(err, "condition is longer than %d bytes", AW_COND_MAX_LEN);
	if (n >= AW_COND_NONE)
		return aw_error_set(err, "condition: too many identifiers (%zu)", n);
	p.c = calloc(1, sizeof *p.c);
	if (!p.c)
		return aw_error_set(err, "condition: out of memory");
	if (lex(&p, 0, &p.cur) < 0)
		goto out;
	if (p.cur.kind == TOK_END) {
		fail(&p, 0, "empty condition");
		goto out;
	}
	long root = parse_or(&p);
	if (root < 0)
		goto out;
	if (p.cur.kind != TOK_END) {
		char found[AW_COND_ECHO_MAX + 32];
		char hint[64] = "";
		tok_text(&p, &p.cur, found, sizeof found);
		if (p.cur.kind == TOK_RPAREN) {
			fail(&p, p.cur.pos, "unexpected ')' without a matching '('");
			goto out;
		}
		if (p.cur.kind == TOK_WORD || p.cur.kind == TOK_PATTERN)
			keyword_hint(text + p.cur.pos, p.cur.len, hint, sizeof hint);
		fail(&p, p.cur.pos, "expected 'and', 'or' or the end of the condition, found %s%s",
		     found, hint);
		goto out;
	}
	p.c->root = (uint32_t)root;
	*out = p.c;
	p.c = NULL;
	rc = 0;
out:
	aw_cond_free(p.c);
	return rc;
}

/* --- combining ---------------------------------------------------------------------- */

int aw_cond_any(struct aw_cond **parts, size_t n, struct aw_cond **out, struct aw_error *err)
{
	struct aw_cond *c = NULL;
	size_t total = 1;
	int rc = -1;

	*out = NULL;
	if (n == 0)
		return aw_error_set(err, "condition list is empty");
	for (size_t i = 0; i < n; i++) {
		if (!parts[i]) {
			aw_error_set(err, "condition list: part %zu is missing", i + 1);
			goto out;
		}
		total += parts[i]->n;
	}
	if (n == 1) {
		*out = parts[0];
		parts[0] = NULL;
		return 0;
	}
	if (total > AW_COND_MAX_NODES) {
		aw_error_set(err, "condition list expands to more than %d terms",
			     AW_COND_MAX_NODES);
		goto out;
	}
	c = calloc(1, sizeof *c);
	if (c)
		c->nodes = malloc(total * sizeof *c->nodes);
	if (!c || !c->nodes) {
		aw_error_set(err, "condition list: out of memory");
		goto out;
	}
	c->cap = (uint32_t)total;
	/* Node 0 is the OR; each part is copied after it with its links shifted. */
	c->nodes[0] =
	    (struct aw_cond_node){.op = AW_COND_OR, .arg = AW_COND_NONE, .next = AW_COND_NONE};
	c->n = 1;
	uint32_t prev_root = AW_COND_NONE;
	for (size_t i = 0; i < n; i++) {
		uint32_t base = c->n;
		for (uint32_t k = 0; k < parts[i]->n; k++) {
			struct aw_cond_node nd = parts[i]->nodes[k];
			if (nd.op != AW_COND_IDENT)
				nd.arg += base;
			if (nd.next != AW_COND_NONE)
				nd.next += base;
			c->nodes[base + k] = nd;
		}
		c->n += parts[i]->n;
		uint32_t root = base + parts[i]->root;
		if (prev_root == AW_COND_NONE)
			c->nodes[0].arg = root;
		else
			c->nodes[prev_root].next = root;
		prev_root = root;
	}
	c->root = 0;
	*out = c;
	c = NULL;
	rc = 0;
out:
	aw_cond_free(c);
	for (size_t i = 0; i < n; i++) {
		aw_cond_free(parts[i]);
		parts[i] = NULL;
	}
	return rc;
}

/* --- evaluation and analysis -------------------------------------------------------- */

static bool eval_node(const struct aw_cond_node *nodes, uint32_t k, aw_cond_ident_fn ident,
		      void *ud)
{
	const struct aw_cond_node *nd = &nodes[k];

	switch (nd->op) {
	case AW_COND_IDENT:
		return ident(ud, nd->arg);
	case AW_COND_NOT:
		return !eval_node(nodes, nd->arg, ident, ud);
	case AW_COND_AND:
		for (uint32_t ch = nd->arg; ch != AW_COND_NONE; ch = nodes[ch].next)
			if (!eval_node(nodes, ch, ident, ud))
				return false;
		return true;
	default:
		for (uint32_t ch = nd->arg; ch != AW_COND_NONE; ch = nodes[ch].next)
			if (eval_node(nodes, ch, ident, ud))
				return true;
		return false;
	}
}

bool aw_cond_eval(const struct aw_cond *c, aw_cond_ident_fn ident, void *ud)
{
	return eval_node(c->nodes, c->root, ident, ud);
}

void aw_cond_used(const struct aw_cond *c, bool *used, size_t n)
{
	for (uint32_t k = 0; k < c->n; k++)
		if (c->nodes[k].op == AW_COND_IDENT && c->nodes[k].arg < n)
			used[c->nodes[k].arg] = true;
}

/* What must_be_true asks about: identifier `ident`, or node `node` when that is not
 * AW_COND_NONE (an identifier may stand in several places; a node is one place). */
struct cond_target {
	uint32_t ident, node;
};

/* Must the target be true whenever node k evaluates to `want`? Negation flips `want`,
 * so `not (not a)` still requires a and `not (not a or not b)` requires both; for
 * `want == false`, and/or swap roles (De Morgan). */
static bool must_be_true(const struct aw_cond_node *nodes, uint32_t k,
			 const struct cond_target *t, bool want)
{
	const struct aw_cond_node *nd = &nodes[k];
	bool every;

	if (k == t->node)
		return want;
	switch (nd->op) {
	case AW_COND_IDENT:
		return want && t->node == AW_COND_NONE && nd->arg == t->ident;
	case AW_COND_NOT:
		return must_be_true(nodes, nd->arg, t, !want);
	case AW_COND_AND:
		every = !want; /* true: all children hold, so any one suffices (union) */
		break;
	default:
		every = want; /* true: some child holds, so every one must require it */
		break;
	}
	for (uint32_t ch = nd->arg; ch != AW_COND_NONE; ch = nodes[ch].next) {
		bool r = must_be_true(nodes, ch, t, want);
		if (every && !r)
			return false;
		if (!every && r)
			return true;
	}
	return every;
}

/* One walk per identifier: O(identifiers x nodes), paid once per rule at load. */
void aw_cond_required(const struct aw_cond *c, bool *required, size_t n)
{
	for (size_t i = 0; i < n && i < AW_COND_NONE; i++) {
		struct cond_target t = {.ident = (uint32_t)i, .node = AW_COND_NONE};
		if (!required[i] && must_be_true(c->nodes, c->root, &t, true))
			required[i] = true;
	}
}

void aw_cond_required_any(const struct aw_cond *c, aw_cond_set_fn fn, void *ud)
{
	uint32_t ids[AW_COND_ANY_MAX];

	for (uint32_t k = 0; k < c->n; k++) {
		const struct aw_cond_node *nd = &c->nodes[k];
		size_t n = 0;
		bool idents = nd->op == AW_COND_OR;
		for (uint32_t ch = nd->arg; idents && ch != AW_COND_NONE; ch = c->nodes[ch].next) {
			idents = c->nodes[ch].op == AW_COND_IDENT && n < AW_COND_ANY_MAX;
			if (idents)
				ids[n++] = c->nodes[ch].arg;
		}
		struct cond_target t = {.ident = AW_COND_NONE, .node = k};
		if (idents && n > 0 && must_be_true(c->nodes, c->root, &t, true))
			fn(ud, ids, n);
	}
}

/* --- describe ----------------------------------------------------------------------- */

static void put(char *buf, size_t *len, const char *s)
{
	size_t l = strlen(s);

	if (buf)
		memcpy(buf + *len, s, l);
	*len += l;
}

/* Writes node k into buf (when non-NULL) at *len and advances *len either way, so one
 * pass measures and a second one writes. */
static void describe_node(const struct aw_cond_node *nodes, uint32_t k, const char *const *idents,
			  char *buf, size_t *len)
{
	const struct aw_cond_node *nd = &nodes[k];

	switch (nd->op) {
	case AW_COND_IDENT:
		if (idents) {
			put(buf, len, idents[nd->arg]);
		} else {
			char tmp[32];
			snprintf(tmp, sizeof tmp, "#%u", nd->arg);
			put(buf, len, tmp);
		}
		return;
	case AW_COND_NOT:
		put(buf, len, "(not ");
		describe_node(nodes, nd->arg, idents, buf, len);
		put(buf, len, ")");
		return;
	default:
		put(buf, len, "(");
		for (uint32_t ch = nd->arg; ch != AW_COND_NONE; ch = nodes[ch].next) {
			if (ch != nd->arg)
				put(buf, len, nd->op == AW_COND_AND ? " and " : " or ");
			describe_node(nodes, ch, idents, buf, len);
		}
		put(buf, len, ")");
		return;
	}
}

char *aw_cond_describe(const struct aw_cond *c, const char *const *idents)
{
	size_t len = 0;
	char *buf;

	describe_node(c->nodes, c->root, idents, NULL, &len);
	buf = malloc(len + 1);
	if (!buf)
		return NULL;
	len = 0;
	describe_node(c->nodes, c->root, idents, buf, &len);
	buf[len] = '\0';
	return buf;
}

void aw_cond_free(struct aw_cond *c)
{
	if (!c)
		return;
	free(c->nodes);
	free(c);
}
