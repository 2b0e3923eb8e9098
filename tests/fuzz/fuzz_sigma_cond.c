/* libFuzzer target: aw_cond_compile over arbitrary text against a fixed identifier
 * list; what compiles is evaluated under a few assignments, analysed and described,
 * and what fails must say so in a message that starts with "condition". */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/sigma_cond.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const idents[] = {"selection", "filter",   "sel_1",	    "sel_2",
				     "_hidden",	  "keywords", "filter-main"};
#define NIDENTS (sizeof idents / sizeof idents[0])

struct assignment {
	unsigned mask;
	unsigned calls;
};

static bool value_of(void *ud, size_t idx)
{
	struct assignment *a = ud;

	if (idx >= NIDENTS)
		__builtin_trap();
	a->calls++;
	return (a->mask >> idx) & 1u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned masks[] = {0u, ~0u, 0x55u, 0x2Au, 0x01u, 0x40u};
	struct aw_error err;
	struct aw_cond *c = NULL;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err.msg[0] = '\0';
	if (aw_cond_compile(text, idents, NIDENTS, &c, &err) != 0) {
		if (c || strncmp(err.msg, "condition", 9) != 0)
			__builtin_trap();
		free(text);
		return 0;
	}
	bool used[NIDENTS] = {0}, required[NIDENTS] = {0};
	aw_cond_used(c, used, NIDENTS);
	aw_cond_required(c, required, NIDENTS);
	for (size_t m = 0; m < sizeof masks / sizeof masks[0]; m++) {
		struct assignment a = {.mask = masks[m]};
		bool v = aw_cond_eval(c, value_of, &a);
		/* A required identifier that is false makes the condition false. */
		for (size_t i = 0; i < NIDENTS; i++)
			if (v && required[i] && !((masks[m] >> i) & 1u))
				__builtin_trap();
	}
	for (size_t i = 0; i < NIDENTS; i++)
		if (required[i] && !used[i])
			__builtin_trap();
	char *d = aw_cond_describe(c, idents);
	/* The canonical text is itself a condition that compiles to the same text. */
	if (d) {
		struct aw_cond *again = NULL;
		if (aw_cond_compile(d, idents, NIDENTS, &again, &err) == 0) {
			char *d2 = aw_cond_describe(again, idents);
			if (d2 && strcmp(d, d2) != 0)
				__builtin_trap();
			free(d2);
			aw_cond_free(again);
		}
	}
	free(d);
	aw_cond_free(c);
	free(text);
	return 0;
}
