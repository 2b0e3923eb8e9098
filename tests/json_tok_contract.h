/* The contract of aw_json_tokenize_escaped (JSON text still inside a string body), as
 * test_json_tok and fuzz_json_tok both check it: against aw_json_tokenize on the
 * body's decoding. The includer supplies the token arrays and a failure hook: Check's
 * abort with a message for the unit test, a trap for the fuzzer. */
#ifndef AW_JSON_TOK_CONTRACT_H
#define AW_JSON_TOK_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "json_tok.h"

struct aw_jtok_contract {
	jsmntok_t *etok, *dtok; /* the escaped form's tokens, then the decoded text's */
	bool *eesc, *desc;
	unsigned cap; /* of each of the four arrays */
	int max_depth;
	/* Called with a printf format when a check fails; must not return. */
	void (*fail)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

/* The hook is called only on failure: millions of passing checks cost a compare each. */
#define AW_JTC_EXPECT(c, cond, ...)                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			(c)->fail(__VA_ARGS__);                                                    \
	} while (0)

static char *aw_jtc_unescape_dup(const struct aw_jtok_contract *c, const char *s, size_t n,
				 size_t *len)
{
	char *o = malloc(n + 1);

	AW_JTC_EXPECT(c, o, "out of memory");
	AW_JTC_EXPECT(c, aw_json_unescape(s, n, o, n, len) == 0, "'%.*s': not unescaped", (int)n,
		      s);
	return o;
}

/* The value of a string token, malloc'd: raw, or unescaped `times` times when it has an
 * escape (e, which must say whether it holds a backslash). */
static char *aw_jtc_value_of(const struct aw_jtok_contract *c, const char *raw, size_t n, bool e,
			     int times, size_t *len)
{
	char *v = malloc(n + 1);

	AW_JTC_EXPECT(c, v, "out of memory");
	AW_JTC_EXPECT(c, e == (memchr(raw, '\\', n) != NULL), "'%.*s': esc %d", (int)n, raw, e);
	memcpy(v, raw, n);
	*len = n;
	for (int t = 0; e && t < times; t++) {
		size_t l;
		char *w = aw_jtc_unescape_dup(c, v, *len, &l);
		free(v);
		v = w;
		*len = l;
	}
	return v;
}

/* Whether the body escapes a 'u' (the only escape the escaped form declines). */
static bool aw_jtc_has_u_escape(const char *b, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (b[i] == '\\') {
			if (b[i + 1] == 'u')
				return true;
			i++;
		}
	}
	return false;
}

/* Token i of both forms: same shape, and the same value once the escaped form's string
 * is unescaped twice (the body's level, then the document's). */
static void aw_jtc_check_token(const struct aw_jtok_contract *c, const char *body, size_t n,
			       const char *dec, int i)
{
	const jsmntok_t *et = &c->etok[i], *dt = &c->dtok[i];
	const char *er = body + et->start, *dr = dec + dt->start;
	size_t el = (size_t)(et->end - et->start), dl = (size_t)(dt->end - dt->start);

	AW_JTC_EXPECT(c, et->type == dt->type && et->size == dt->size && et->parent == dt->parent,
		      "'%.*s': token %d differs", (int)n, body, i);
	AW_JTC_EXPECT(c, et->start >= 0 && et->start <= et->end && (size_t)et->end <= n,
		      "'%.*s': token %d at [%d,%d)", (int)n, body, i, et->start, et->end);
	if (et->type == JSMN_STRING) {
		size_t evl, dvl;
		char *ev = aw_jtc_value_of(c, er, el, c->eesc[i], 2, &evl);
		char *dv = aw_jtc_value_of(c, dr, dl, c->desc[i], 1, &dvl);
		AW_JTC_EXPECT(c, evl == dvl && memcmp(ev, dv, evl) == 0,
			      "'%.*s': string %d is '%.*s', want '%.*s'", (int)n, body, i, (int)evl,
			      ev, (int)dvl, dv);
		free(ev);
		free(dv);
		return;
	}
	AW_JTC_EXPECT(c, !c->eesc[i], "'%.*s': token %d esc", (int)n, body, i);
	if (et->type == JSMN_PRIMITIVE)
		AW_JTC_EXPECT(c, el == dl && memcmp(er, dr, el) == 0,
			      "'%.*s': primitive %d differs", (int)n, body, i);
	else
		AW_JTC_EXPECT(c, er[0] == dr[0] && er[el - 1] == dr[dl - 1],
			      "'%.*s': container %d differs", (int)n, body, i);
}

/* Tokenize body[0..n) (a valid string body) both ways and check the contract the event
 * view relies on; returns aw_json_tokenize_escaped's result, its tokens in c->etok. */
static int aw_jtc_check(const struct aw_jtok_contract *c, const char *body, size_t n)
{
	size_t dn;
	char *dec = aw_jtc_unescape_dup(c, body, n, &dn);
	/* an exact-size copy, so that ASan sees any read past the end */
	char *copy = malloc(n ? n : 1);
	struct aw_jtok_err eerr, derr;
	bool u = aw_jtc_has_u_escape(body, n);
	int re, rd;

	AW_JTC_EXPECT(c, copy, "out of memory");
	memcpy(copy, body, n);
	re = aw_json_tokenize_escaped(copy, n, c->etok, c->cap, c->eesc, c->max_depth, &eerr);
	rd = aw_json_tokenize(dec, dn, c->dtok, c->cap, c->desc, c->max_depth, &derr);
	/* n bytes hold at most n tokens, either way */
	if (c->cap > n)
		AW_JTC_EXPECT(c, re != AW_JTOK_NOMEM && rd != AW_JTOK_NOMEM,
			      "'%.*s': escaped %d, decoded %d", (int)n, body, re, rd);
	AW_JTC_EXPECT(c, rd != AW_JTOK_DECODE && (re != AW_JTOK_DECODE || u),
		      "'%.*s': escaped %d, decoded %d", (int)n, body, re, rd);
	if (re < 0)
		AW_JTC_EXPECT(c, eerr.pos <= n, "'%.*s': error at %zu", (int)n, body, eerr.pos);
	if (rd < 0)
		AW_JTC_EXPECT(c, re < 0, "'%.*s': escaped %d, decoded %d", (int)n, body, re, rd);
	/* without \u the fast path follows everything; with one it may decline */
	if (!u)
		AW_JTC_EXPECT(c, re == rd, "'%.*s': escaped %d, decoded %d", (int)n, body, re, rd);
	else if (re < 0)
		AW_JTC_EXPECT(c, re == AW_JTOK_DECODE || re == rd, "'%.*s': escaped %d, decoded %d",
			      (int)n, body, re, rd);
	if (re >= 0) {
		AW_JTC_EXPECT(c, re == rd, "'%.*s': escaped %d, decoded %d", (int)n, body, re, rd);
		for (int i = 0; i < re; i++)
			aw_jtc_check_token(c, copy, n, dec, i);
	}
	free(copy);
	free(dec);
	return re;
}

#endif
