/* The event view: field lookup over one JSON record without building a tree.
 *
 * All token arrays of an event (the record itself and every JSON text found inside a
 * string column) live in one growable jsmn token array; a "doc" is a range of it plus
 * the text those tokens index. Everything refers to tokens by index, never by pointer,
 * because lazily tokenizing nested JSON text may grow the array in the middle of a
 * lookup (a rule callback may even start another lookup, e.g. `fieldref`).
 *
 * Unescaped strings and the text of nested JSON go to a chunked arena whose pointers
 * stay valid until the next reset; at reset the chunks are merged into one, so a warm
 * view allocates nothing. Per token we remember its unescaped form and whether it
 * holds JSON text (and which doc that became), so each is computed once per event. */
#include "event_view.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes_eq.h"
#include "field_id.h"
#include "json_scan.h"
#include "json_tok.h"
#include "key_layout.h"

#define AW_VIEW_MIN_TOKENS  256
#define AW_VIEW_MAX_DEPTH   64 /* object/array nesting inside one doc */
#define AW_VIEW_MAX_NEST    4  /* JSON text inside JSON text inside ... */
#define AW_VIEW_ARENA_CHUNK 4096
#define AW_VIEW_ARENA_MAX   ((size_t)16 << 20)	  /* unescaped strings and nested texts */
#define AW_VIEW_MAX_TEXT    ((size_t)INT_MAX / 2) /* jsmn offsets are int */
#define AW_VIEW_NUM_MAX	    64			  /* longest string still read as a number */

/* What the view learned about one token during one event; an entry of an older event
 * (gen) counts as empty, so a new event clears nothing up front. */
struct tok_aux {
	uint64_t gen;
	const char *s; /* STRING: unescaped bytes, NULL until first needed */
	size_t len;
	int child; /* STRING: 0 not looked at, -1 no JSON text, else its doc index */
};

struct doc {
	const char *js;
	size_t len;
	int base; /* first token in v->tok, and in v->aux */
	int ntok;
	int nest; /* 0 for the record, 1 for JSON text in one of its strings, ... */
	/* The doc's tokens: v->tok + base (refreshed when v->tok moves), or the
	 * input's own tokens when the view borrowed them (the record's doc), so they
	 * are not copied. */
	const jsmntok_t *tok;
	const bool *esc;
	bool borrowed;
	/* The tokens index JSON text still escaped inside its parent's string
	 * (json_tok.h, aw_json_tokenize_escaped): a string holding a backslash is
	 * decoded twice, an object's or array's text once. */
	bool escaped;
};

/* Per field id (field_id.h): where the field was found in the event the entry was
 * filled for. A flat array: ids are dense and few. */
struct memo {
	uint64_t gen; /* the event it was filled for */
	bool found;
	int d, i;
	struct aw_val val; /* the value at (d, i) when found: a hit hands it on as is */
};

#define AW_VIEW_MEMO_MIN 64
#define AW_VIEW_LIKELY(x) __builtin_expect(!!(x), 1)
#define AW_VIEW_KLEN_LONG 254 /* the length byte of keys this long or longer */
#define AW_VIEW_KLEN_PAD  255 /* the length byte past the last key */

struct chunk {
	struct chunk *next;
	size_t cap, used;
	char data[];
};

struct aw_event_view {
	/* first: event_view.h's inline result checks read it through the view's address */
	struct aw_view_results results;
	size_t max_tokens;
	jsmntok_t *tok;
	struct tok_aux *aux;
	bool *esc; /* per token: a STRING whose raw bytes hold a backslash */
	size_t tcap, tused;
	struct doc *docs;
	size_t dcap, ndocs;
	/* The record's top-level keys in order: each one's length (254 for 254 or
	 * more) and token. A lookup compares its name's length with 16 keys at once
	 * and reads only the keys of that length: no hashing, per record or per name. */
	uint8_t *klen;
	int *ktok;
	size_t kcap, nkeys; /* kcap: room for nkeys and a padding block of 16 */
	/* Recent records' key sequences, and the one this record has (NULL: none): a
	 * top-level name is then looked up once per sequence, not per record. NULL
	 * layouts when they could not be allocated. */
	struct aw_key_layouts *layouts;
	struct aw_key_layout *lay;
	struct chunk *chunks, *cur;
	size_t arena_cap; /* bytes reserved by all chunks */
	const char *json;
	size_t len;
	bool valid;
	uint64_t gen; /* events seen: memo entries of older events never match */
	struct memo *memo; /* indexed by field id, grown to the largest id looked up */
	/* the top-level key a dotted name last started with (field id), for this event */
	unsigned col_id;
	uint64_t col_gen;
	int col_tok; /* its value token, or -1 */
	size_t mcap;
};

static inline const jsmntok_t *doc_tok(const struct aw_event_view *v, int d)
{
	return v->docs[d].tok;
}

static inline bool doc_esc(const struct aw_event_view *v, int d, int i)
{
	return v->docs[d].esc[i];
}

/* --- arena --------------------------------------------------------------------- */

static char *arena_alloc(struct aw_event_view *v, size_t n)
{
	struct chunk *c = v->cur;

	while (c && c->cap - c->used < n)
		c = c->next;
	if (!c) {
		size_t want = AW_VIEW_ARENA_CHUNK;
		if (v->cur && v->cur->cap > want / 2)
			want = v->cur->cap * 2;
		if (want < n)
			want = n;
		if (v->arena_cap + want > AW_VIEW_ARENA_MAX) {
			if (v->arena_cap + n > AW_VIEW_ARENA_MAX)
				return NULL;
			want = AW_VIEW_ARENA_MAX - v->arena_cap;
		}
		c = malloc(sizeof *c + want);
		if (!c)
			return NULL;
		c->next = NULL;
		c->cap = want;
		c->used = 0;
		if (v->cur) {
			/* append after the last chunk */
			struct chunk *last = v->cur;
			while (last->next)
				last = last->next;
			last->next = c;
		} else {
			v->chunks = c;
		}
		v->arena_cap += want;
	}
	v->cur = c;
	char *p = c->data + c->used;
	c->used += n;
	return p;
}

/* Start a new event: one chunk as large as everything the last events needed. */
static void arena_rewind(struct aw_event_view *v)
{
	struct chunk *c = v->chunks;

	if (c && c->next) {
		size_t total = v->arena_cap;
		while (c) {
			struct chunk *next = c->next;
			free(c);
			c = next;
		}
		v->chunks = v->cur = NULL;
		v->arena_cap = 0;
		c = malloc(sizeof *c + total);
		if (c) {
			c->next = NULL;
			c->cap = total;
			v->chunks = c;
			v->arena_cap = total;
		}
	}
	if (v->chunks)
		v->chunks->used = 0;
	v->cur = v->chunks;
}

/* --- growable arrays ------------------------------------------------------------ */

static int grow_tokens(struct aw_event_view *v)
{
	size_t ncap = v->tcap ? v->tcap * 2 : AW_VIEW_MIN_TOKENS;

	if (v->tcap >= v->max_tokens)
		return -1;
	if (ncap > v->max_tokens)
		ncap = v->max_tokens;
	jsmntok_t *t = realloc(v->tok, ncap * sizeof *t);
	if (!t)
		return -1;
	v->tok = t;
	struct tok_aux *a = realloc(v->aux, ncap * sizeof *a);
	if (!a)
		return -1;
	/* gen 0 is no event's: new entries are empty */
	memset(a + v->tcap, 0, (ncap - v->tcap) * sizeof *a);
	v->aux = a;
	bool *e = realloc(v->esc, ncap * sizeof *e);
	if (!e)
		return -1;
	v->esc = e;
	v->tcap = ncap;
	for (size_t d = 0; d < v->ndocs; d++) {
		if (!v->docs[d].borrowed) {
			v->docs[d].tok = v->tok + v->docs[d].base;
			v->docs[d].esc = v->esc + v->docs[d].base;
		}
	}
	return 0;
}

/* Append a doc over js[0..len) whose tokens start at base: the view's own, or btok and
 * besc when borrowed. The fields are stored one by one: a doc built on the stack and
 * copied whole was read back with wide loads of fields each just stored narrow, and
 * such a load waits until the stores complete (1.5% of replay's cycles, twice per
 * record). */
static int push_doc(struct aw_event_view *v, const char *js, size_t len, int base, int ntok,
		    int nest, bool escaped, const jsmntok_t *btok, const bool *besc)
{
	struct doc *dc;

	if (v->ndocs == v->dcap) {
		size_t ncap = v->dcap ? v->dcap * 2 : 8;
		if (ncap > v->max_tokens + 1)
			return -1;
		struct doc *nd = realloc(v->docs, ncap * sizeof *nd);
		if (!nd)
			return -1;
		v->docs = nd;
		v->dcap = ncap;
	}
	dc = &v->docs[v->ndocs];
	dc->js = js;
	dc->len = len;
	dc->base = base;
	dc->ntok = ntok;
	dc->nest = nest;
	dc->borrowed = btok != NULL;
	dc->escaped = escaped;
	dc->tok = btok ? btok : v->tok + base;
	dc->esc = btok ? besc : v->esc + base;
	v->ndocs++;
	return 0;
}

/* --- tokenizing and checking ------------------------------------------------------ */

enum parse_rc {
	PARSE_OK = 0,
	PARSE_BAD = -1,
	PARSE_TOO_MANY = -2,
	PARSE_DEEP = -3,
	PARSE_DECODE = -4, /* escaped text the fast path does not follow: decode it */
};

/* Token ti's entry for this event. */
static struct tok_aux *aux_of(struct aw_event_view *v, int ti)
{
	struct tok_aux *a = &v->aux[ti];

	if (a->gen != v->gen)
		*a = (struct tok_aux){.gen = v->gen};
	return a;
}

/* Tokenize (and validate) js into v->tok[base...], growing the array up to
 * max_tokens; with escaped, js is a string's raw body and the JSON text is what it
 * decodes to (aw_json_tokenize_escaped). On success *ntok is the count. */
static enum parse_rc tokenize(struct aw_event_view *v, const char *js, size_t len, int base,
			      bool escaped, int *ntok, size_t *errpos)
{
	struct aw_jtok_err jerr;
	int r;

	*errpos = 0;
	for (;;) {
		jsmntok_t *t = v->tok + base;
		unsigned cap = (unsigned)(v->tcap - (size_t)base);
		r = escaped ? aw_json_tokenize_escaped(js, len, t, cap, v->esc + base,
						       AW_VIEW_MAX_DEPTH, &jerr)
			    : aw_json_tokenize(js, len, t, cap, v->esc + base, AW_VIEW_MAX_DEPTH,
					       &jerr);
		if (r != AW_JTOK_NOMEM)
			break;
		if (grow_tokens(v) < 0)
			return PARSE_TOO_MANY;
	}
	if (r == AW_JTOK_DECODE)
		return PARSE_DECODE;
	if (r == AW_JTOK_DEEP)
		return PARSE_DEEP;
	if (r <= 0) {
		*errpos = jerr.pos;
		return PARSE_BAD;
	}
	if (v->tok[base].type != JSMN_OBJECT && v->tok[base].type != JSMN_ARRAY)
		return PARSE_BAD;
	*ntok = r;
	return PARSE_OK;
}

/* --- strings -------------------------------------------------------------------- */

/* The decoding half of tok_string, out of line: most strings have no escape. When the
 * arena is exhausted the raw (still escaped) bytes are returned: a bounded degradation
 * rather than a failed lookup. */
static __attribute__((noinline)) const char *tok_decoded(struct aw_event_view *v, int d, int i,
							 size_t *len)
{
	const struct doc *dc = &v->docs[d];
	int ti = dc->base + i;
	const jsmntok_t *t = &doc_tok(v, d)[i];
	const char *raw = dc->js + t->start;
	size_t rawlen = (size_t)(t->end - t->start);
	struct tok_aux *a = aux_of(v, ti);

	if (!a->s) {
		bool twice = dc->escaped;
		/* decoding never lengthens text; twice needs a scratch copy, as
		 * aw_json_unescape's output must not overlap its input */
		char *out = arena_alloc(v, (rawlen ? rawlen : 1) * (twice ? 2 : 1)), *mid;
		size_t midlen;
		a = &v->aux[ti];
		if (!out) {
			*len = rawlen;
			return raw;
		}
		mid = out + rawlen;
		/* the tokenizer has rejected malformed escapes, so this only fails if one
		 * slips by */
		if (twice ? aw_json_unescape(raw, rawlen, mid, rawlen, &midlen) == 0 &&
				    aw_json_unescape(mid, midlen, out, rawlen, &a->len) == 0
			  : aw_json_unescape(raw, rawlen, out, rawlen, &a->len) == 0) {
			a->s = out;
		} else {
			a->s = raw;
			a->len = rawlen;
		}
	}
	*len = a->len;
	return a->s;
}

/* The unescaped bytes of STRING token i of doc d (decoded once per event). */
static inline const char *tok_string(struct aw_event_view *v, int d, int i, size_t *len)
{
	const jsmntok_t *t = &doc_tok(v, d)[i];

	if (doc_esc(v, d, i))
		return tok_decoded(v, d, i, len);
	*len = (size_t)(t->end - t->start);
	return v->docs[d].js + t->start;
}

/* The JSON text of OBJECT or ARRAY token i of doc d as it reads decoded: its raw bytes,
 * or for an escaped doc those bytes decoded once (computed once per event). */
static const char *tok_text(struct aw_event_view *v, int d, int i, size_t *len)
{
	const struct doc *dc = &v->docs[d];
	const jsmntok_t *t = &doc_tok(v, d)[i];
	const char *raw = dc->js + t->start;
	size_t rawlen = (size_t)(t->end - t->start);
	struct tok_aux *a = aux_of(v, dc->base + i);

	*len = rawlen;
	if (!dc->escaped)
		return raw;
	if (!a->s) {
		char *out = arena_alloc(v, rawlen ? rawlen : 1);
		a = &v->aux[dc->base + i];
		if (!out || aw_json_unescape(raw, rawlen, out, rawlen, &a->len) != 0)
			return raw;
		a->s = out;
	}
	*len = a->len;
	return a->s;
}

/* An optional '-' and up to 15 digits: exact in a double, so no strtod (which costs
 * more than the rest of a field lookup). False for anything else. */
static bool small_int(const char *s, size_t len, double *out)
{
	size_t i = s[0] == '-';
	uint64_t n = 0;

	if (len <= i || len - i > 15)
		return false;
	for (size_t k = i; k < len; k++) {
		if (s[k] < '0' || s[k] > '9')
			return false;
		n = n * 10 + (uint64_t)(s[k] - '0');
	}
	*out = i ? -(double)n : (double)n;
	return true;
}

/* A string that is a number as a whole ("42", "-1.5e3"): no spaces, no hex, no
 * nan/inf. */
static bool string_number(const char *s, size_t len, double *out)
{
	char buf[AW_VIEW_NUM_MAX + 1];
	size_t i = 0;

	if (len == 0 || len > AW_VIEW_NUM_MAX)
		return false;
	if (small_int(s, len, out))
		return true;
	if (s[0] == '-' || s[0] == '+')
		i++;
	bool intpart = aw_json_digits(s, &i, len);
	if (i < len && s[i] == '.') {
		i++;
		bool frac = aw_json_digits(s, &i, len);
		if (!intpart && !frac)
			return false;
	} else if (!intpart) {
		return false;
	}
	if (!aw_json_exponent(s, &i, len) || i != len)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *end;
	double d = strtod(buf, &end);
	if (end != buf + len || !isfinite(d))
		return false;
	*out = d;
	return true;
}

bool aw_val_number(const struct aw_val *v, double *out)
{
	if (v->kind == AW_VAL_NUMBER) {
		*out = v->num;
		return true;
	}
	return v->kind == AW_VAL_STRING && string_number(v->s, v->len, out);
}

static inline __attribute__((always_inline)) void make_val(struct aw_event_view *v, int d, int i,
							   struct aw_val *out)
{
	const struct doc *dc = &v->docs[d];
	const jsmntok_t *t = &doc_tok(v, d)[i];
	const char *raw = dc->js + t->start;
	size_t rawlen = (size_t)(t->end - t->start);

	out->s = raw;
	out->len = rawlen;
	out->num = 0;
	out->b = false;
	switch (t->type) {
	case JSMN_STRING:
		out->kind = AW_VAL_STRING;
		out->s = tok_string(v, d, i, &out->len);
		break;
	case JSMN_OBJECT:
		out->kind = AW_VAL_OBJECT;
		out->s = tok_text(v, d, i, &out->len);
		break;
	case JSMN_ARRAY:
		out->kind = AW_VAL_ARRAY;
		out->s = tok_text(v, d, i, &out->len);
		break;
	default:
		if (raw[0] == 't' || raw[0] == 'f') {
			out->kind = AW_VAL_BOOL;
			out->b = raw[0] == 't';
		} else if (raw[0] == 'n') {
			out->kind = AW_VAL_NULL;
		} else {
			/* A validated JSON number is always followed by a delimiter inside
			 * the document, so strtod stops within it. */
			out->kind = AW_VAL_NUMBER;
			if (!small_int(raw, rawlen, &out->num))
				out->num = strtod(raw, NULL);
		}
		break;
	}
}

/* --- JSON text inside strings ------------------------------------------------------ */

/* The doc for the JSON text held by STRING token i of doc d, tokenized on first use;
 * -1 when the string is not (valid, bounded) JSON text. */
static int child_doc(struct aw_event_view *v, int d, int i)
{
	int ti = v->docs[d].base + i;
	size_t len, k;
	const char *s;
	int ntok, nest = v->docs[d].nest + 1;
	size_t errpos;
	int base = (int)v->tused;
	bool escaped = false;

	if (aux_of(v, ti)->child != 0)
		return v->aux[ti].child;
	v->aux[ti].child = -1;
	if (nest > AW_VIEW_MAX_NEST)
		return -1;
	/* JSON text in a string with escapes (every quote of it is one) is read where
	 * it is, not decoded into a copy first: properties_s on every Azure OpenAI
	 * record. Text the escaped path does not follow is decoded after all. */
	if (doc_esc(v, d, i) && !v->docs[d].escaped) {
		const jsmntok_t *t = &doc_tok(v, d)[i];
		s = v->docs[d].js + t->start;
		len = (size_t)(t->end - t->start);
		k = aw_json_skip_ws(s, 0, len);
		if (k == len || (s[k] != '{' && s[k] != '[' && s[k] != '\\'))
			return -1;
		switch (tokenize(v, s, len, base, true, &ntok, &errpos)) {
		case PARSE_OK:
			escaped = true;
			goto push;
		case PARSE_DECODE:
			break;
		default:
			return -1;
		}
	}
	s = tok_string(v, d, i, &len);
	k = aw_json_skip_ws(s, 0, len);
	if (k == len || (s[k] != '{' && s[k] != '['))
		return -1;
	if (tokenize(v, s, len, base, false, &ntok, &errpos) != PARSE_OK)
		return -1;
push:
	if (push_doc(v, s, len, base, ntok, nest, escaped, NULL, NULL) < 0)
		return -1;
	v->tused += (size_t)ntok;
	v->aux[ti].child = (int)v->ndocs - 1;
	return v->aux[ti].child;
}

/* --- walking ------------------------------------------------------------------------ */

/* Index after the subtree at i (doc-relative). Valid for values, not for keys. */
static int skip(const struct aw_event_view *v, int d, int i)
{
	const struct doc *dc = &v->docs[d];
	const jsmntok_t *t = doc_tok(v, d);
	int j = i + 1;

	while (j < dc->ntok && t[j].start < t[i].end)
		j++;
	return j;
}

/* skip() for what is mostly a string or a number: O(1) then. */
static inline int next_value(const struct aw_event_view *v, int d, int i)
{
	jsmntype_t type = doc_tok(v, d)[i].type;

	return type == JSMN_OBJECT || type == JSMN_ARRAY ? skip(v, d, i) : i + 1;
}

static bool ascii_caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

enum key_match { KEY_NO, KEY_CASE, KEY_EXACT };

/* Does key token k of doc d name `name`: exactly, only ignoring ASCII case, or not. */
static inline enum key_match key_is(struct aw_event_view *v, int d, int k, const char *name,
				    size_t len)
{
	const jsmntok_t *t = &doc_tok(v, d)[k];
	size_t kl = (size_t)(t->end - t->start);
	const char *ks;

	if (!doc_esc(v, d, k)) {
		if (kl != len)
			return KEY_NO;
		ks = v->docs[d].js + t->start;
	} else {
		/* unescaped text is never longer than the raw bytes */
		if (kl < len)
			return KEY_NO;
		ks = tok_string(v, d, k, &kl);
		if (kl != len)
			return KEY_NO;
	}
	if (aw_bytes_eq(ks, name, len))
		return KEY_EXACT;
	return ascii_caseeq(ks, name, len) ? KEY_CASE : KEY_NO;
}

/* Which of the 16 top-level keys from `base` have length byte `want` (bit k: key
 * base + k). Past the last key the bytes are padding, AW_VIEW_KLEN_PAD. */
static inline uint32_t len_matches(const uint8_t *klen, size_t base, uint8_t want)
{
#if defined(__SSE2__)
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(klen + base));
	return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8((char)want)));
#else
	uint32_t m = 0;
	for (size_t k = 0; k < 16; k++)
		m |= (uint32_t)(klen[base + k] == want) << k;
	return m;
#endif
}

/* Position (in v->ktok) of the record's top-level key `name`, or -1; *folded gets the
 * first key equal but for ASCII case (or -1), the fallback when no key is exact. One
 * pass serves both, because a field a rule names is often absent, and an absent one
 * used to cost two scans. */
static int find_top_key(struct aw_event_view *v, const char *name, size_t len, int *folded)
{
	uint8_t want = len < AW_VIEW_KLEN_LONG ? (uint8_t)len : AW_VIEW_KLEN_LONG;

	*folded = -1;
	for (size_t base = 0; base < v->nkeys; base += 16) {
		uint32_t bits = len_matches(v->klen, base, want);
		for (; bits; bits &= bits - 1) {
			size_t k = base + (size_t)__builtin_ctz(bits);
			enum key_match m = key_is(v, 0, v->ktok[k], name, len);
			if (m == KEY_EXACT)
				return (int)k;
			if (m == KEY_CASE && *folded < 0)
				*folded = (int)k;
		}
	}
	return -1;
}

/* A name not yet looked up in this record's key layout: out of line, the rare case. */
static __attribute__((noinline)) void find_top_new(struct aw_event_view *v, unsigned id,
						    const char *name, size_t len, int *exact,
						    int *folded)
{
	*exact = find_top_key(v, name, len, folded);
	if (v->lay)
		aw_key_layout_remember(v->lay, id, *exact, *folded);
}

/* Value token of the top-level key `name` (id: aw_field_id of it, 0 for none), or -1;
 * *folded as find_top_key, a value token too. A name is looked up once per key layout
 * (key_layout.h): records of one table then find it where the first one did. */
static inline int find_top(struct aw_event_view *v, unsigned id, const char *name, size_t len,
			   int *folded)
{
	const struct aw_key_res *r = aw_key_layout_res(v->lay, id);
	int exact, fk;

	if (AW_VIEW_LIKELY(r != NULL)) {
		exact = r->exact;
		fk = r->folded;
	} else {
		find_top_new(v, id, name, len, &exact, &fk);
	}
	*folded = fk < 0 ? -1 : v->ktok[fk] + 1;
	return exact < 0 ? -1 : v->ktok[exact] + 1;
}

/* find_top for any object: its keys one by one. */
static int find_key(struct aw_event_view *v, int d, int obj, const char *name, size_t len,
		    int *folded)
{
	enum key_match m;

	if (d == 0 && obj == 0)
		return find_top(v, 0, name, len, folded);
	*folded = -1;
	const jsmntok_t *t = doc_tok(v, d);
	int n = t[obj].size;
	int j = obj + 1;
	for (int k = 0; k < n; k++) {
		m = key_is(v, d, j, name, len);
		if (m == KEY_EXACT)
			return j + 1;
		if (m == KEY_CASE && *folded < 0)
			*folded = j + 1;
		j = next_value(v, d, j + 1);
	}
	return -1;
}

struct visit {
	aw_val_fn fn;
	void *ud;
	bool stopped;
	bool forked;  /* the path went through an array: more than one place */
	int d, i;     /* where the (last) value was found */
	struct aw_val val; /* its value, for the memo */
};

/* Hand value i (and, for an array, each element) to the callback; true when stopped. */
static bool emit(struct aw_event_view *v, int d, int i, struct visit *vis)
{
	struct aw_val val;

	make_val(v, d, i, &val);
	if (d == vis->d && i == vis->i)
		vis->val = val;
	if (vis->fn(vis->ud, &val)) {
		vis->stopped = true;
		return true;
	}
	if (val.kind != AW_VAL_ARRAY)
		return false;
	int n = doc_tok(v, d)[i].size;
	int j = i + 1;
	for (int k = 0; k < n; k++) {
		if (emit(v, d, j, vis))
			return true;
		j = skip(v, d, j);
	}
	return false;
}

/* The value token of the top-level key a dotted name starts with (exact, else equal but
 * for case), or -1. The record's column that holds JSON text is the same for most
 * dotted names (properties_s.x, properties_s.y): found once per event. */
static int top_column(struct aw_event_view *v, const struct aw_field_ref *f)
{
	int folded, vi;

	if (f->id0 && v->col_id == f->id0 && v->col_gen == v->gen)
		return v->col_tok;
	vi = find_top(v, f->id0, f->seg[0], f->seglen ? f->seglen[0] : strlen(f->seg[0]),
		      &folded);
	if (vi < 0)
		vi = folded;
	if (f->id0) {
		v->col_id = f->id0;
		v->col_gen = v->gen;
		v->col_tok = vi;
	}
	return vi;
}

/* column.key, the dotted name rules mostly use, without the general walk: 1 found at
 * (*d, *i), 0 absent, -1 when the column is an array (or JSON text holding one), whose
 * elements the walk visits each. */
static int find_column_key(struct aw_event_view *v, const struct aw_field_ref *f, int *d, int *i)
{
	int c = 0, obj = top_column(v, f), folded;

	if (obj < 0)
		return 0;
	switch (doc_tok(v, 0)[obj].type) {
	case JSMN_OBJECT:
		break;
	case JSMN_STRING:
		if ((c = child_doc(v, 0, obj)) <= 0)
			return 0;
		obj = 0;
		if (doc_tok(v, c)[0].type != JSMN_OBJECT)
			return -1;
		break;
	case JSMN_ARRAY:
		return -1;
	default:
		return 0;
	}
	int vi = find_key(v, c, obj, f->seg[1], f->seglen ? f->seglen[1] : strlen(f->seg[1]),
			  &folded);
	if (vi < 0 && (vi = folded) < 0)
		return 0;
	*d = c;
	*i = vi;
	return 1;
}

static bool walk(struct aw_event_view *v, int d, int i, const struct aw_field_ref *f, size_t k,
		 struct visit *vis, bool *found)
{
	if (k == f->nseg) {
		*found = true;
		vis->d = d;
		vis->i = i;
		return emit(v, d, i, vis);
	}
	jsmntype_t type = doc_tok(v, d)[i].type;
	if (type == JSMN_OBJECT) {
		const char *seg = f->seg[k];
		/* no lengths: a ref made by hand */
		size_t sl = f->seglen ? f->seglen[k] : strlen(seg);
		int folded, vi;
		/* the record's column that holds JSON text is the same for most dotted
		 * names (properties_s.x, properties_s.y): found once per event */
		if (d == 0 && i == 0)
			vi = top_column(v, f);
		else if ((vi = find_key(v, d, i, seg, sl, &folded)) < 0)
			vi = folded;
		return vi >= 0 && walk(v, d, vi, f, k + 1, vis, found);
	}
	if (type == JSMN_ARRAY) {
		int n = doc_tok(v, d)[i].size;
		int j = i + 1;
		vis->forked = true;
		for (int e = 0; e < n; e++) {
			if (walk(v, d, j, f, k, vis, found))
				return true;
			j = skip(v, d, j);
		}
		return false;
	}
	if (type == JSMN_STRING) {
		int c = child_doc(v, d, i);
		return c > 0 && walk(v, c, 0, f, k, vis, found);
	}
	return false;
}

/* Where field f was found in this event (or that it is absent), when that is one
 * place: rules read the same columns over and over, so each is resolved once. NULL
 * when f has no id, or the array cannot grow (then f is looked up every time). */
static struct memo *memo_slot(struct aw_event_view *v, const struct aw_field_ref *f)
{
	if (f->id == 0)
		return NULL;
	if (f->id >= v->mcap) {
		size_t ncap = v->mcap ? v->mcap : AW_VIEW_MEMO_MIN;
		while (ncap <= f->id)
			ncap *= 2;
		struct memo *m = realloc(v->memo, ncap * sizeof *m);
		if (!m)
			return NULL;
		/* gen 0 is no event: reset starts at 1 */
		memset(m + v->mcap, 0, (ncap - v->mcap) * sizeof *m);
		v->memo = m;
		v->mcap = ncap;
	}
	return &v->memo[f->id];
}

/* Remember that f is at (d, i) with value val. Callers do this after the field's
 * callback, not before: make_val has just stored val's fields one by one, and copying
 * it whole reads them back with wide loads, which wait until those stores complete. */
static void memo_found(struct aw_event_view *v, const struct aw_field_ref *f, int d, int i,
		       const struct aw_val *val)
{
	struct memo *m = memo_slot(v, f);

	if (m)
		*m = (struct memo){.gen = v->gen, .found = true, .d = d, .i = i, .val = *val};
}

/* A dotted name that is no top-level key: its path, else a key equal but for case. */
static int get_path(struct aw_event_view *v, const struct aw_field_ref *f, int folded,
		    aw_val_fn fn, void *ud, bool *stopped)
{
	struct visit vis = {.fn = fn, .ud = ud};
	bool found = false;
	struct memo *m;
	int d, i, r;

	if (f->nseg == 2 && (r = find_column_key(v, f, &d, &i)) >= 0) {
		struct aw_val val;
		if (r == 0) {
			if (folded < 0) {
				if ((m = memo_slot(v, f)))
					*m = (struct memo){.gen = v->gen, .found = false};
				return 0;
			}
			d = 0;
			i = folded;
		}
		make_val(v, d, i, &val);
		if (val.kind == AW_VAL_ARRAY) {
			vis.d = -1;
			emit(v, d, i, &vis);
		} else {
			vis.stopped = fn(ud, &val) != 0;
		}
		memo_found(v, f, d, i, &val);
		if (stopped)
			*stopped = vis.stopped;
		return 1;
	}
	walk(v, 0, 0, f, 0, &vis, &found);
	if (!found && folded >= 0) {
		found = true;
		vis.d = 0;
		vis.i = folded;
		emit(v, 0, folded, &vis);
	}
	/* a walk stopped early may not have seen every place: remember only what is sure */
	if (!vis.forked && (m = memo_slot(v, f))) {
		*m = (struct memo){
			.gen = v->gen, .found = found, .d = vis.d, .i = vis.i, .val = vis.val};
	}
	if (stopped)
		*stopped = vis.stopped;
	return found ? 1 : 0;
}

/* A field not yet looked up in this event (or one that cannot be remembered). */
static __attribute__((noinline)) int get_slow(struct aw_event_view *v,
					       const struct aw_field_ref *f, aw_val_fn fn,
					       void *ud, bool *stopped)
{
	struct memo *m;
	struct aw_val val;
	int folded;
	int vi = find_top(v, f->id, f->name, f->len, &folded);

	if (vi < 0) {
		if (f->nseg > 1)
			return get_path(v, f, folded, fn, ud, stopped);
		vi = folded;
	}
	if (vi < 0) {
		if ((m = memo_slot(v, f)))
			*m = (struct memo){.gen = v->gen, .found = false};
		return 0;
	}
	make_val(v, 0, vi, &val);
	if (val.kind == AW_VAL_ARRAY) {
		struct visit vis = {.fn = fn, .ud = ud, .d = -1};
		emit(v, 0, vi, &vis);
		if (stopped)
			*stopped = vis.stopped;
	} else {
		bool st = fn(ud, &val) != 0;
		if (stopped)
			*stopped = st;
	}
	memo_found(v, f, 0, vi, &val);
	return 1;
}

int aw_event_view_peek_string(struct aw_event_view *v, const struct aw_field_ref *f,
			      const char **s, size_t *len)
{
	int folded, vi;

	if (!v->valid)
		return 0;
	if (f->nseg > 1)
		return -1;
	if ((vi = find_top(v, f->id, f->name, f->len, &folded)) < 0 && (vi = folded) < 0)
		return 0;
	const jsmntok_t *t = &doc_tok(v, 0)[vi];
	if (t->type != JSMN_STRING || doc_esc(v, 0, vi))
		return -1;
	*s = v->json + t->start;
	*len = (size_t)(t->end - t->start);
	return 1;
}

int aw_event_view_get(struct aw_event_view *v, const struct aw_field_ref *f, aw_val_fn fn, void *ud,
		      bool *stopped)
{
	bool st = false;

	if (stopped)
		*stopped = false;
	if (!v->valid)
		return 0;
	if (f->id == 0 || f->id >= v->mcap || v->memo[f->id].gen != v->gen)
		return get_slow(v, f, fn, ud, stopped);
	const struct memo *m = &v->memo[f->id];
	if (!m->found)
		return 0;
	if (m->val.kind == AW_VAL_ARRAY) {
		struct visit vis = {.fn = fn, .ud = ud, .d = -1};
		emit(v, m->d, m->i, &vis);
		st = vis.stopped;
	} else {
		/* a copy: a callback may look up another field and so move the memo array */
		struct aw_val val = m->val;
		st = fn(ud, &val) != 0;
	}
	if (stopped)
		*stopped = st;
	return 1;
}

_Static_assert(offsetof(struct aw_event_view, results) == 0,
	       "event_view.h reads the results through the view's address");

void aw_view_results_grow(struct aw_view_results *rs, unsigned id, bool r)
{
	size_t ncap = rs->cap ? rs->cap : AW_VIEW_MEMO_MIN;

	while (ncap <= id)
		ncap *= 2;
	if (ncap > AW_FIELD_ID_MAX)
		return;
	struct aw_view_result *n = realloc(rs->v, ncap * sizeof *n);
	if (!n)
		return;
	memset(n + rs->cap, 0, (ncap - rs->cap) * sizeof *n); /* gen 0: no event */
	rs->v = n;
	rs->cap = ncap;
	rs->v[id] = (struct aw_view_result){.gen = rs->gen, .r = r};
}

static bool strings_of(struct aw_event_view *v, int d, struct visit *vis)
{
	int n = v->docs[d].ntok;

	for (int i = 0; i < n; i++) {
		const jsmntok_t *dt = doc_tok(v, d), *t = &dt[i];
		if (t->type != JSMN_STRING)
			continue;
		if (t->parent >= 0 && dt[t->parent].type == JSMN_OBJECT)
			continue; /* a key */
		if (emit(v, d, i, vis))
			return true;
		int c = child_doc(v, d, i);
		if (c > 0 && strings_of(v, c, vis))
			return true;
	}
	return false;
}

void aw_event_view_each_string(struct aw_event_view *v, aw_val_fn fn, void *ud)
{
	struct visit vis = {.fn = fn, .ud = ud};

	if (v->valid)
		strings_of(v, 0, &vis);
}

/* --- life cycle ---------------------------------------------------------------------- */

struct aw_event_view *aw_event_view_new(size_t max_tokens)
{
	struct aw_event_view *v = calloc(1, sizeof *v);

	if (!v)
		return NULL;
	if (max_tokens < 2)
		max_tokens = 2;
	if (max_tokens > (size_t)INT_MAX / 2)
		max_tokens = (size_t)INT_MAX / 2;
	v->max_tokens = max_tokens;
	/* without layouts every lookup reads the keys: slower, not wrong */
	v->layouts = calloc(1, sizeof *v->layouts);
	return v;
}

void aw_event_view_free(struct aw_event_view *v)
{
	if (!v)
		return;
	struct chunk *c = v->chunks;
	while (c) {
		struct chunk *next = c->next;
		free(c);
		c = next;
	}
	free(v->tok);
	free(v->aux);
	free(v->esc);
	free(v->docs);
	free(v->klen);
	free(v->ktok);
	aw_key_layouts_free(v->layouts);
	free(v->memo);
	free(v->results.v);
	free(v);
}

/* The record's top-level keys, in order (the arrays are reused from event to event). */
static int index_keys(struct aw_event_view *v)
{
	const jsmntok_t *t = doc_tok(v, 0);
	size_t nkeys = (size_t)t[0].size;

	/* room for a block of padding past the last key */
	if (nkeys + 16 > v->kcap) {
		size_t cap = (nkeys + 16 + 15) & ~(size_t)15;
		uint8_t *nl = realloc(v->klen, cap);
		if (!nl)
			return -1;
		v->klen = nl;
		int *nt = realloc(v->ktok, cap * sizeof *nt);
		if (!nt)
			return -1;
		v->ktok = nt;
		v->kcap = cap;
	}
	/* the keys are checked against the last record's layout on the way */
	struct aw_key_layout *last = v->layouts ? v->layouts->last : NULL;
	bool same = last && last->used && last->nkeys == nkeys;
	size_t off = 0;
	for (size_t k = 0, j = 1; k < nkeys; k++) {
		size_t len = (size_t)(t[j].end - t[j].start);
		if (same)
			same = aw_key_layout_key_is(last, k, &off, v->json + t[j].start, len);
		if (doc_esc(v, 0, (int)j))
			tok_string(v, 0, (int)j, &len);
		v->klen[k] = len < AW_VIEW_KLEN_LONG ? (uint8_t)len : AW_VIEW_KLEN_LONG;
		v->ktok[k] = (int)j;
		j = (size_t)next_value(v, 0, (int)j + 1);
	}
	/* whole-block loads read past the last key: a length no name has */
	memset(v->klen + nkeys, AW_VIEW_KLEN_PAD, 16);
	v->nkeys = nkeys;
	if (same)
		v->lay = aw_key_layout_hit(v->layouts, last);
	else if (v->layouts)
		v->lay = aw_key_layout_of(v->layouts, v->json, t, v->ktok, nkeys);
	return 0;
}

/* Borrow the tokens an input already made for this text: they live as long as the
 * text (the event), so only the per-token memo is the view's. */
static int adopt_tokens(struct aw_event_view *v, const struct aw_json_tokens *pre)
{
	while (v->tcap < (size_t)pre->n)
		if (grow_tokens(v) < 0)
			return -1;
	return 0;
}

int aw_event_view_reset(struct aw_event_view *v, const char *json, size_t len, struct aw_error *err)
{
	return aw_event_view_reset_tokens(v, json, len, NULL, err);
}

int aw_event_view_reset_tokens(struct aw_event_view *v, const char *json, size_t len,
			       const struct aw_json_tokens *pre, struct aw_error *err)
{
	int ntok = 0;
	size_t errpos;

	v->valid = false;
	v->gen++;
	v->results.gen = 0; /* no results until the event is valid */
	v->json = json;
	v->len = len;
	v->tused = 0;
	v->ndocs = 0;
	v->nkeys = 0;
	v->lay = NULL;
	arena_rewind(v);
	if (!json || len == 0)
		return aw_error_set(err, "event is empty");
	if (len > AW_VIEW_MAX_TEXT)
		return aw_error_set(err, "event of %zu bytes is too large", len);
	if (!v->tok && grow_tokens(v) < 0)
		return aw_error_set(err, "out of memory");
	const jsmntok_t *btok = NULL;
	const bool *besc = NULL;
	if (pre && pre->n > 0 && pre->tok[0].type == JSMN_OBJECT &&
	    (size_t)pre->tok[0].end == len) {
		if ((size_t)pre->n > v->max_tokens)
			return aw_error_set(err, "too many JSON tokens (limit %zu)", v->max_tokens);
		if (adopt_tokens(v, pre) < 0)
			return aw_error_set(err, "out of memory");
		ntok = pre->n;
		btok = pre->tok;
		besc = pre->esc;
	} else switch (tokenize(v, json, len, 0, false, &ntok, &errpos)) {
	case PARSE_OK:
		break;
	case PARSE_TOO_MANY:
		return aw_error_set(err, "too many JSON tokens (limit %zu)", v->max_tokens);
	case PARSE_DEEP:
		return aw_error_set(err, "JSON nested deeper than %d levels", AW_VIEW_MAX_DEPTH);
	default:
		return aw_error_set(err, "malformed JSON near byte %zu", errpos);
	}
	if (push_doc(v, json, len, 0, ntok, 0, false, btok, besc) < 0)
		return aw_error_set(err, "out of memory");
	if (doc_tok(v, 0)[0].type != JSMN_OBJECT)
		return aw_error_set(err, "event is not a JSON object");
	v->tused = (size_t)ntok;
	if (index_keys(v) < 0)
		return aw_error_set(err, "out of memory");
	v->valid = true;
	v->results.gen = v->gen;
	return 0;
}

const char *aw_event_view_text(const struct aw_event_view *v, size_t *len)
{
	if (len)
		*len = v->len;
	return v->json;
}

static size_t layouts_footprint(const struct aw_key_layouts *ls)
{
	size_t n = 0;

	if (!ls)
		return 0;
	for (size_t k = 0; k < AW_KEY_LAYOUTS; k++)
		n += ls->slot[k].rcap * sizeof *ls->slot[k].res;
	return sizeof *ls + n;
}

size_t aw_event_view_footprint(const struct aw_event_view *v)
{
	return v->tcap * (sizeof *v->tok + sizeof *v->aux + sizeof *v->esc) +
	       v->dcap * sizeof *v->docs +
	       v->kcap * (sizeof *v->klen + sizeof *v->ktok) + v->arena_cap +
	       v->mcap * sizeof *v->memo + v->results.cap * sizeof *v->results.v +
	       layouts_footprint(v->layouts);
}

/* --- field references ----------------------------------------------------------------- */

int aw_field_ref_init(struct aw_field_ref *f, const char *name, struct aw_error *err)
{
	size_t n = 1;

	memset(f, 0, sizeof *f);
	if (!name || !*name)
		return aw_error_set(err, "empty field name");
	f->len = strlen(name);
	f->name = strdup(name);
	if (!f->name)
		goto oom;
	f->id = aw_field_id(name, f->len);
	if (!strchr(name, '.'))
		return 0;
	f->id0 = aw_field_id(name, (size_t)(strchr(name, '.') - name));
	for (const char *p = name; *p; p++)
		n += *p == '.';
	f->seg = calloc(n, sizeof *f->seg);
	f->seglen = calloc(n, sizeof *f->seglen);
	if (!f->seg || !f->seglen)
		goto oom;
	/* seg[0] owns one copy of the name with the dots turned into NULs */
	char *buf = strdup(name);
	if (!buf)
		goto oom;
	f->seg[0] = buf;
	f->nseg = 1;
	for (char *p = buf; *p; p++) {
		if (*p == '.') {
			*p = '\0';
			f->seg[f->nseg++] = p + 1;
		}
	}
	for (size_t k = 0; k < f->nseg; k++)
		f->seglen[k] = strlen(f->seg[k]);
	return 0;
oom:
	aw_field_ref_free(f);
	return aw_error_set(err, "out of memory");
}

void aw_field_ref_free(struct aw_field_ref *f)
{
	if (!f)
		return;
	if (f->seg)
		free(f->seg[0]);
	free(f->seg);
	free(f->seglen);
	free(f->name);
	memset(f, 0, sizeof *f);
}
