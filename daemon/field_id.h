/* Process-wide small integer ids for field names, so the event view can remember a
 * field's place per event in a plain array: every rule, index and correlation that
 * names `ResultSignature` shares one id and so one lookup per event, and an id is
 * never reused, so a field_ref freed and made again at the same address (alert.c makes
 * them on the fly) cannot see another name's answer. Sigma items take their ids from
 * the same table, named by their text (sigma_item.c), so the view can keep an item's
 * result per event too; such texts hold bytes no field name has. Names are few (those
 * the loaded rules use); the table never shrinks and stops handing out ids at a
 * ceiling. */
#ifndef AW_FIELD_ID_H
#define AW_FIELD_ID_H

#include <stddef.h>

#define AW_FIELD_ID_MAX 65536 /* ids 1..AW_FIELD_ID_MAX-1 */

/* The id of name[0..len), assigned on first use; 0 when the table is full or out of
 * memory (the caller then does without a memo). Thread-safe. */
unsigned aw_field_id(const char *name, size_t len);

#endif
