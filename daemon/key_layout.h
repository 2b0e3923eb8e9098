/* The top-level key sequences of recent records, and where each field name was found
 * in them, for the event view.
 *
 * Records of one table carry the same columns in the same order, record after record.
 * Which key a name selects (the first that equals it, else the first that equals it
 * but for ASCII case) depends on that sequence alone, so the answer, a key's position,
 * holds for every record with the same sequence: the view looks a name up once per
 * layout instead of once per record. A record has a known layout only when all its
 * keys' raw bytes equal the layout's, compared in full, so no collision can hand one
 * table's answer to another. Interleaved tables keep a few layouts; the least recently
 * seen gives way. */
#ifndef AW_KEY_LAYOUT_H
#define AW_KEY_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytes_eq.h"
#include "json_tok.h"

#define AW_KEY_LAYOUTS		8
#define AW_KEY_LAYOUT_MAX_KEYS	64   /* records with more keys get no layout */
#define AW_KEY_LAYOUT_MAX_BYTES 2048 /* nor those whose keys are longer in all */

/* Where one name was found in a layout: key positions, -1 for none. */
struct aw_key_res {
	uint32_t epoch; /* the layout's epoch when found; entries of another never match */
	int16_t exact, folded;
};

struct aw_key_layout {
	uint64_t used;	/* the stamp of the last record that had it; 0: empty */
	uint32_t epoch; /* changes whenever the slot takes another sequence */
	uint32_t nkeys;
	uint16_t len[AW_KEY_LAYOUT_MAX_KEYS]; /* each key's raw length */
	char bytes[AW_KEY_LAYOUT_MAX_BYTES];  /* the raw keys, one after another */
	struct aw_key_res *res;		      /* by field id (field_id.h) */
	size_t rcap;
};

struct aw_key_layouts {
	uint64_t stamp;
	struct aw_key_layout *last;
	struct aw_key_layout slot[AW_KEY_LAYOUTS];
};

void aw_key_layouts_free(struct aw_key_layouts *ls);

/* Whether key k of a record, raw bytes raw[0..rl), is key k of l, whose keys before
 * it take *off bytes (advanced past it). For a caller that walks the record's keys
 * anyway and checks them against the last layout as it goes. */
static inline bool aw_key_layout_key_is(const struct aw_key_layout *l, size_t k, size_t *off,
					const char *raw, size_t rl)
{
	bool eq = rl == l->len[k] && aw_bytes_eq(l->bytes + *off, raw, rl);

	*off += rl;
	return eq;
}

/* Note that the current record has layout l (checked with aw_key_layout_key_is). */
static inline struct aw_key_layout *aw_key_layout_hit(struct aw_key_layouts *ls,
						      struct aw_key_layout *l)
{
	l->used = ++ls->stamp;
	ls->last = l;
	return l;
}

/* The layout of a record whose n top-level keys are tokens t[ktok[0..n)] of js: a
 * known one, or a slot that now holds this sequence. NULL when the keys do not fit a
 * slot (too many, too long). */
struct aw_key_layout *aw_key_layout_of(struct aw_key_layouts *ls, const char *js,
				       const jsmntok_t *t, const int *ktok, size_t n);

/* What name id resolved to in layout l, or NULL when it was not looked up in it. */
static inline const struct aw_key_res *aw_key_layout_res(const struct aw_key_layout *l,
							 unsigned id)
{
	if (!l || id >= l->rcap || l->res[id].epoch != l->epoch)
		return NULL;
	return &l->res[id];
}

/* Remember what name id resolved to in l (key positions or -1). Fails quietly when
 * the table cannot grow: the name is then looked up again next time. */
void aw_key_layout_remember(struct aw_key_layout *l, unsigned id, int exact, int folded);

#endif
