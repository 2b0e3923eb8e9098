/* libFuzzer target: aw_records_parse over arbitrary bytes. The callback reads every
 * byte of each event so that ASan sees any event that points outside live memory. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int touch(void *ud, const struct aw_event *ev)
{
	unsigned *sum = ud;

	if (strlen(ev->json) != ev->len)
		__builtin_trap();
	for (size_t i = 0; i < ev->len; i++)
		*sum += (unsigned char)ev->json[i];
	for (const char *p = ev->table; *p; p++)
		*sum += (unsigned char)*p;
	for (const char *p = ev->origin; *p; p++)
		*sum += (unsigned char)*p;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aw_error err;
	unsigned sum = 0;
	size_t bad = 0;

	aw_records_parse((const char *)data, size, "fuzz:1", touch, &sum, &bad, &err);
	return 0;
}
