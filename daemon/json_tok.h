/* One validating tokenizer for every JSON document the hot path reads (records.c
 * checks each input record with it; event_view.c reads fields through its tokens).
 *
 * It fills jsmn's token layout (the rest of the code walks jsmn tokens: objects and
 * arrays with their size, keys of size 1 whose parent is their object, values whose
 * parent is their key or array), but unlike jsmn it checks everything JSON requires in
 * the same pass (separators, numbers, literals, escapes, control bytes in strings,
 * nesting depth), so no second walk is needed, and it scans string bodies a block at
 * a time, escapes included. It also notes which strings hold a backslash, so readers
 * unescape only those. Nothing is allocated: the caller gives the token array and
 * grows it when told AW_JTOK_NOMEM. */
#ifndef AW_JSON_TOK_H
#define AW_JSON_TOK_H

#include <stdbool.h>
#include <stddef.h>

#include "jsmn_cfg.h"

enum aw_jtok_rc {
	AW_JTOK_NOMEM = -1,  /* more tokens needed than cap: grow and call again */
	AW_JTOK_BAD = -2,    /* not JSON: err_pos, early and trailing say where and how */
	AW_JTOK_DEEP = -3,   /* nested deeper than max_depth */
	AW_JTOK_DECODE = -4, /* the body uses an escape the escaped form does not follow
			      * (\uXXXX): decode it and use aw_json_tokenize */
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

/* Tokenize the JSON document held, still escaped, in a string that aw_json_tokenize
 * accepted: body[0..len) is the raw text between its quotes. Record columns such as
 * properties_s hold a whole document this way; reading it without decoding it first
 * saves a copy and a second pass over every byte.
 *
 * The tokens are those of the decoded document, with offsets into body: a string
 * token covers the raw bytes between the \" that open and close it, other tokens
 * their raw bytes. esc[i] tells whether a string's raw bytes hold a backslash: its
 * value is then aw_json_unescape applied twice, else the raw bytes themselves. The
 * body's \" \\ \/ are followed, and \n \r \t between tokens are the document's
 * whitespace; a \uXXXX anywhere gives AW_JTOK_DECODE (the caller decodes the body
 * and calls aw_json_tokenize). Otherwise the same codes as aw_json_tokenize, err->pos
 * being an offset into body. */
int aw_json_tokenize_escaped(const char *body, size_t len, jsmntok_t *tok, unsigned cap, bool *esc,
			     int max_depth, struct aw_jtok_err *err);

#endif
