/* libFuzzer target: the event view over arbitrary bytes. One view is reused across
 * inputs (as the engine does), a few fixed field references are looked up (plain,
 * dotted, through JSON text columns, through arrays), one lookup is nested inside
 * another's callback (what `fieldref` does), and every string leaf is visited. The
 * callbacks read every byte handed to them so that ASan sees any stale pointer. The
 * same lookups are then made with the input's tokens borrowed (the engine's path):
 * every value must read the same. Last, a fresh view, which has seen no other input, must
 * read the same too: the reused one answers top-level names from the key layouts of
 * earlier inputs (key_layout.h). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "event_view.h"
#include "json_tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
    "Type",
    "properties_s.objectId",
    "properties.message",
    "Entities.Address",
    "TargetResources.ModifiedProperties.NewValue",
    "a.b.c",
    "a",
    "operationname",
};
#define NREFS (sizeof names / sizeof names[0])

static struct aw_event_view *view;
static struct aw_field_ref refs[NREFS];
static unsigned sink;

static int touch(void *ud, const struct aw_val *v)
{
	for (size_t i = 0; i < v->len; i++)
		sink += (unsigned char)v->s[i];
	if (v->kind < AW_VAL_NULL || v->kind > AW_VAL_ARRAY)
		__builtin_trap();
	if (v->kind == AW_VAL_BOOL && v->len != (v->b ? 4u : 5u))
		__builtin_trap();
	return ud != NULL && (sink & 7) == 0;
}

static uint64_t digest;

static int fold(void *ud, const struct aw_val *v)
{
	digest = (digest ^ (uint64_t)v->kind) * 1099511628211ull;
	for (size_t i = 0; i < v->len; i++)
		digest = (digest ^ (unsigned char)v->s[i]) * 1099511628211ull;
	return 0;
}

/* Every value every ref finds in v, and every string leaf, as one number. */
static uint64_t all_values(struct aw_event_view *v)
{
	digest = 1469598103934665603ull;
	for (size_t i = 0; i < NREFS; i++)
		digest ^= (uint64_t)aw_event_view_get(v, &refs[i], fold, NULL, NULL) << 7;
	aw_event_view_each_string(v, fold, NULL);
	return digest;
}

static int nested(void *ud, const struct aw_val *v)
{
	touch(NULL, v);
	aw_event_view_get(view, &refs[1], touch, NULL, NULL);
	touch(NULL, v); /* still valid after the inner lookup */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aw_error err;

	if (!view) {
		view = aw_event_view_new(2048);
		for (size_t i = 0; i < NREFS; i++)
			if (!view || aw_field_ref_init(&refs[i], names[i], &err) != 0)
				__builtin_trap();
	}
	if (aw_event_view_reset(view, (const char *)data, size, &err) != 0)
		return 0;
	for (size_t i = 0; i < NREFS; i++) {
		bool stopped = false;
		int present = aw_event_view_get(view, &refs[i], touch, (void *)(i & 1), &stopped);
		if (present != 0 && present != 1)
			__builtin_trap();
	}
	aw_event_view_get(view, &refs[6], nested, NULL, NULL);
	aw_event_view_each_string(view, touch, NULL);
	size_t len;
	if (aw_event_view_text(view, &len) != (const char *)data || len != size)
		__builtin_trap();

	static jsmntok_t tok[2048];
	static bool esc[2048];
	struct aw_jtok_err jerr;
	uint64_t own = all_values(view);
	int n = aw_json_tokenize((const char *)data, size, tok, 2048, esc, 64, &jerr);
	if (n <= 0)
		return 0;
	struct aw_json_tokens pre = {.tok = tok, .esc = esc, .n = n};
	if (aw_event_view_reset_tokens(view, (const char *)data, size, &pre, &err) != 0 ||
	    all_values(view) != own)
		__builtin_trap();
	struct aw_event_view *fresh = aw_event_view_new(2048);
	if (!fresh || aw_event_view_reset(fresh, (const char *)data, size, &err) != 0 ||
	    all_values(fresh) != own)
		__builtin_trap();
	aw_event_view_free(fresh);
	return 0;
}
