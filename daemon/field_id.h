/* Process-wide small integer ids for field names, so the event view can remember a
 * field's place per event in a plain array: every rule, index and correlation that
 * names `ResultSignature` shares one id and so one lookup per event, and an id is
 * never reused, so a field_ref freed and made again at the same address (alert.c makes
 * them on the fly) cannot see another name's answer. Sigma items and detections take
 * ids the same way from a second table, named by their text (sigma_item.c,
 * sigma_rule.c), so the view can keep their results per event too. Names are few
 * (those the loaded rules use); the tables never shrink and stop handing out ids at a
 * ceiling. */
#ifndef AW_FIELD_ID_H
#define AW_FIELD_ID_H

#include <stddef.h>

#define AW_FIELD_ID_MAX 65536 /* ids 1..AW_FIELD_ID_MAX-1 */

/* The id of name[0..len), assigned on first use; 0 when the table is full or out of
 * memory (the caller then does without a memo). Thread-safe. */
unsigned aw_field_id(const char *name, size_t len);

/* The same for the text of a result callers keep per event (a Sigma item's or a
 * detection's): ids of their own, counted apart from field names' so that both stay
 * dense. A result id and a field id may be the same number. */
unsigned aw_result_id(const char *text, size_t len);

#endif
