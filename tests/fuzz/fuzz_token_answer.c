/* libFuzzer target: token endpoint answers. aw_token_answer_parse must refuse or accept
 * any bytes without reading past them, and an accepted token must be what an
 * Authorization header can carry; the error describer and the legacy date parser get
 * the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aw_token_answer a;
	struct aw_error err;
	char why[256], *s;
	int64_t t;

	if (aw_token_answer_parse((const char *)data, size, 1700000000, &a, &err) == 0) {
		size_t n = strlen(a.token);
		if (n == 0 || n > AW_TOKEN_MAX_BYTES || a.expires_on <= 1700000000 ||
		    (a.refresh_on && a.refresh_on > a.expires_on))
			__builtin_trap();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)a.token[i] <= 0x20 || (unsigned char)a.token[i] >= 0x7f)
				__builtin_trap();
		free(a.token);
	} else if (a.token || !err.msg[0]) {
		__builtin_trap();
	}
	if (aw_token_error_describe((const char *)data, size, why, sizeof why) == 0 &&
	    strlen(why) >= sizeof why)
		__builtin_trap();
	/* the date parser takes a C string */
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	aw_token_parse_legacy_date(s, &t);
	free(s);
	return 0;
}
