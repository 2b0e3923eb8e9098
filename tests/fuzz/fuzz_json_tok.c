/* libFuzzer target: the validating tokenizer (json_tok.c) checked against others.
 *
 * (a) aw_json_tokenize accepts exactly what json-c's strict parser accepts (whole input
 *     consumed, same depth limit), but for the corners where json-c strict is looser
 *     than RFC 8259, listed in jsonc_looser().
 * (b) The input as a string body: when it is one (a string aw_json_tokenize accepts),
 *     aw_json_tokenize_escaped on it agrees with aw_json_tokenize on its decoding.
 * (c) The input as JSON text, encoded as a string body: the same agreement, on
 *     documents that are mostly valid (random bytes rarely decode to JSON). */
#include <json-c/json_object.h>
#include <json-c/json_tokener.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../json_tok_contract.h"
#include "json_tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DEPTH	  16
#define MAX_INPUT 65536

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static bool jsonc_accepts(const char *s, size_t n)
{
	char *b = malloc(n + 1);
	json_tokener *tok = json_tokener_new_ex(DEPTH);
	json_object *o;
	bool ok;

	CHECK(b && tok);
	memcpy(b, s, n);
	b[n] = '\0'; /* json-c needs the NUL to know that a number at the end is complete */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, b, (int)n + 1);
	ok = json_tokener_get_error(tok) == json_tokener_success &&
	     json_tokener_get_parse_end(tok) == n;
	json_object_put(o);
	json_tokener_free(tok);
	free(b);
	return ok;
}

/* json-c 0.16 in strict mode accepts, where RFC 8259 does not: raw control bytes in
 * strings, NaN / Infinity / -Infinity, numbers with leading zeros ("00", "-012"),
 * fractions without digits ("1.", "1.e5") and without an integer part after a minus
 * ("-.5"). Each shows as our error at a control byte, at an 'N' or 'I', at a digit
 * after a '0', right after a '.', or at a '.' after a '-'. Only inputs json-c accepts
 * and we reject come here. */
static bool jsonc_looser(const char *s, size_t n, const struct aw_jtok_err *err)
{
	size_t p = err->pos;
	unsigned char at = p < n ? (unsigned char)s[p] : 0;
	unsigned char before = p > 0 && p <= n ? (unsigned char)s[p - 1] : 0;

	if (p < n && at < 0x20)
		return true;
	if (at == 'N' || at == 'I')
		return true;
	if (before == '.' || (before == '-' && at == '.'))
		return true;
	return before == '0' && at >= '0' && at <= '9';
}

/* The contract's failures: the message, then a trap, which libFuzzer reports with the
 * input. */
__attribute__((format(printf, 1, 2))) static void contract_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	__builtin_trap();
}

/* body is a valid string body: check aw_json_tokenize_escaped's contract on it. */
static void check_body(const char *body, size_t n)
{
	size_t cap = n + 1;
	jsmntok_t *et = malloc(cap * sizeof *et), *dt = malloc(cap * sizeof *dt);
	bool *ee = malloc(cap), *de = malloc(cap);
	const struct aw_jtok_contract c = {et, dt, ee, de, (unsigned)cap, DEPTH, contract_fail};

	CHECK(et && dt && ee && de);
	aw_jtc_check(&c, body, n);
	free(et);
	free(dt);
	free(ee);
	free(de);
}

/* Whether s[0..n) is a string body that aw_json_tokenize accepts. */
static bool is_body(const char *s, size_t n)
{
	char *q = malloc(n + 2);
	jsmntok_t t[2];
	struct aw_jtok_err err;
	int r;

	CHECK(q);
	q[0] = '"';
	memcpy(q + 1, s, n);
	q[n + 1] = '"';
	r = aw_json_tokenize(q, n + 2, t, 2, NULL, DEPTH, &err);
	free(q);
	return r == 1;
}

/* s as the body of a JSON string: quotes, backslashes and control bytes escaped, and
 * (by a bit of the input, for variety) '/' as \/ and newlines as \u000a. */
static char *encode(const char *s, size_t n, size_t *out_len)
{
	static const char hex[] = "0123456789abcdef";
	char *o = malloc(6 * n + 1);
	size_t k = 0;
	bool alt = n > 0 && (s[0] & 1);

	CHECK(o);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\' || (c == '/' && alt)) {
			o[k++] = '\\';
			o[k++] = (char)c;
		} else if (c == '\n' && !alt) {
			o[k++] = '\\';
			o[k++] = 'n';
		} else if (c == '\t' || c == '\r') {
			o[k++] = '\\';
			o[k++] = c == '\t' ? 't' : 'r';
		} else if (c < 0x20) {
			memcpy(o + k, "\\u00", 4);
			o[k + 4] = hex[c >> 4];
			o[k + 5] = hex[c & 15];
			k += 6;
		} else {
			o[k++] = (char)c;
		}
	}
	*out_len = k;
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s;
	char *copy, *body;
	jsmntok_t *tok;
	bool *esc;
	struct aw_jtok_err err;
	size_t blen;
	int r;

	if (size > MAX_INPUT)
		return 0;
	/* an exact-size copy, so that ASan sees any read past the end */
	copy = malloc(size ? size : 1);
	tok = malloc((size + 1) * sizeof *tok);
	esc = malloc(size + 1);
	CHECK(copy && tok && esc);
	memcpy(copy, data, size);
	s = copy;

	/* (a) */
	r = aw_json_tokenize(s, size, tok, (unsigned)size + 1, esc, DEPTH, &err);
	CHECK(r != AW_JTOK_NOMEM && r != AW_JTOK_DECODE && r != 0);
	if ((r >= 0) != jsonc_accepts(s, size))
		CHECK(r < 0 && jsonc_looser(s, size, &err));
	if (r < 0)
		CHECK(err.pos <= size);
	for (int i = 0; i < r; i++)
		CHECK(esc[i] ==
		      (tok[i].type == JSMN_STRING &&
		       memchr(s + tok[i].start, '\\', (size_t)(tok[i].end - tok[i].start))));

	/* (b) */
	if (is_body(s, size))
		check_body(s, size);

	/* (c) */
	body = encode(s, size, &blen);
	check_body(body, blen);

	free(body);
	free(copy);
	free(tok);
	free(esc);
	return 0;
}
