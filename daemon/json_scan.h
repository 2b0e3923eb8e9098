/* Byte-level JSON checks and string decoding shared by the two jsmn walkers
 * (records.c classifies input documents, event_view.c looks up fields for rules).
 * jsmn tokenizes without checking everything JSON requires and leaves strings escaped;
 * these fill the gaps. Nothing here allocates: the caller owns every buffer. */
#ifndef AW_JSON_SCAN_H
#define AW_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* JSON's four whitespace bytes (isspace() would also take \v and \f). */
static inline bool aw_json_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Index of the first byte of s[i..n) that is not JSON whitespace, or n. */
static inline size_t aw_json_skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n && aw_json_is_ws(s[i]))
		i++;
	return i;
}

/* Move *i past the ASCII digits at p[*i..end); true when there was at least one. */
bool aw_json_digits(const char *p, size_t *i, size_t end);

/* Move *i past an exponent ([eE][+-]?digits) at p[*i..end) if one starts there; false
 * when one starts but has no digits. */
bool aw_json_exponent(const char *p, size_t *i, size_t end);

/* Whether p[0..len) is a JSON literal (true, false, null) or a JSON number. jsmn in
 * strict mode looks only at the first byte of a primitive. */
bool aw_json_primitive_ok(const char *p, size_t len);

/* Decode a JSON string body (the bytes between the quotes) into out[0..cap) (which
 * must not overlap s: it is written 16 bytes at a time), without a terminating NUL. \u escapes become UTF-8, a lone surrogate U+FFFD, and \u0000 a NUL
 * byte: a caller that needs a C string checks for one. Decoding never lengthens text,
 * so cap == n always fits. Returns 0 with the length in *outlen, or -1 when the result
 * does not fit in cap or an escape is malformed (jsmn has already rejected those in
 * the strings it tokenized). */
int aw_json_unescape(const char *s, size_t n, char *out, size_t cap, size_t *outlen);

#endif
