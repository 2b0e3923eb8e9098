/* One validating tokenizer for every JSON document the hot path reads (records.c
 * checks each input record with it; event_view.c reads fields through its tokens).
 *
 * It fills jsmn's token layout (the rest of the code walks jsmn tokens: objects and
 * arrays with their size, keys of size 1 whose parent is their object, values whose
 * parent is their key or array), but unlike jsmn it checks everything JSON requires in
 * the same pass (separators, numbers, literals, escapes, control bytes in strings,
 * nesting depth), so no second walk is needed, and it skips string bodies 16 bytes at
 * a time. It also notes which strings hold a backslash, so readers unescape only
 * those. Nothing is allocated: the caller gives the token array and grows it when told
 * AW_JTOK_NOMEM. */
#ifndef AW_JSON_TOK_H
#define AW_JSON_TOK_H

#include <stdbool.h>
#include <stddef.h>

#include "jsmn_cfg.h"

enum aw_jtok_rc {
	AW_JTOK_NOMEM = -1, /* more tokens needed than cap: grow and call again */
	AW_JTOK_BAD = -2,   /* not JSON: err_pos, early and trailing say where and how */
	AW_JTOK_DEEP = -3,  /* nested deeper than max_depth */
};

struct aw_jtok_err {
	size_t pos;    /* byte offset of the problem */
	bool early;    /* the text ended inside a value */
	bool trailing; /* a complete value is followed by another value */
};

/* A tokenized document handed along with its text (struct aw_event.tokens). */
struct aw_json_tokens {
	const jsmntok_t *tok;
	const bool *esc;
	int n;
};

/* Tokenize js[0..len): exactly one JSON value (after optional whitespace) followed by
 * only whitespace. tok[0..cap) receives the tokens; esc (may be NULL) gets, per token,
 * whether a string's raw bytes hold a backslash. Returns the token count or an
 * aw_jtok_rc. Offsets are ints, as in jsmn: len must be below INT_MAX. */
int aw_json_tokenize(const char *js, size_t len, jsmntok_t *tok, unsigned cap, bool *esc,
		     int max_depth, struct aw_jtok_err *err);

#endif
