/* libFuzzer target: aw_azure_error_parse over arbitrary bytes (it must never read past
 * len: the input buffer ends exactly there, so ASan sees any over-read), and
 * aw_http_parse_retry_after over the same bytes as a header value. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aw_azure_error e;
	char value[257];
	size_t n = size < sizeof value - 1 ? size : sizeof value - 1;
	int64_t ms = 0;

	if (aw_azure_error_parse((const char *)data, size, &e) == 0) {
		if (!e.code[0] && !e.message[0])
			__builtin_trap();
		if (strnlen(e.code, sizeof e.code) == sizeof e.code ||
		    strnlen(e.inner_code, sizeof e.inner_code) == sizeof e.inner_code ||
		    strnlen(e.message, sizeof e.message) == sizeof e.message)
			__builtin_trap();
	}
	memcpy(value, data, n);
	value[n] = '\0';
	if (aw_http_parse_retry_after(value, 1700000000, &ms) == 0 && ms < 0)
		__builtin_trap();
	return 0;
}
