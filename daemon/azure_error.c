/* Azure error bodies: the OneAPI envelope (ARM and most data planes) and the OAuth2 one
 * (Entra ID, managed identity), reduced to a code and a message for one log line.
 * Bodies come from the network: bounded size and depth, never read past len, and the
 * copies are cut on a UTF-8 character boundary. */
#include <json-c/json.h>
#include <string.h>

#include "http.h"

/* Error bodies are small; a larger one is not worth parsing for a log line. */
#define AW_AZURE_ERROR_MAX_BODY	 ((size_t)256 << 10)
#define AW_AZURE_ERROR_MAX_DEPTH 32

/* Copy a JSON string value, stopping at an embedded NUL, truncated to fit without
 * splitting a UTF-8 sequence. Non-strings give "". */
static void copy_str(char *dst, size_t cap, struct json_object *v)
{
	const char *s;
	size_t n;

	dst[0] = '\0';
	if (!v || !json_object_is_type(v, json_type_string))
		return;
	s = json_object_get_string(v);
	n = strnlen(s, (size_t)json_object_get_string_len(v));
	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static struct json_object *field(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

int aw_azure_error_parse(const char *body, size_t len, struct aw_azure_error *out)
{
	struct json_tokener *tok;
	struct json_object *root, *e, *inner;
	int rc = -1;

	if (!out)
		return -1;
	memset(out, 0, sizeof *out);
	if (!body || len == 0 || len > AW_AZURE_ERROR_MAX_BODY)
		return -1;
	tok = json_tokener_new_ex(AW_AZURE_ERROR_MAX_DEPTH);
	if (!tok)
		return -1;
	root = json_tokener_parse_ex(tok, body, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(root, json_type_object))
		goto out;
	e = field(root, "error");
	if (e && json_object_is_type(e, json_type_object)) {
		/* OneAPI: {"error":{"code","message","innererror":{"code","innererror":...}}} */
		copy_str(out->code, sizeof out->code, field(e, "code"));
		copy_str(out->message, sizeof out->message, field(e, "message"));
		for (inner = field(e, "innererror"); inner; inner = field(inner, "innererror"))
			if (field(inner, "code") &&
			    json_object_is_type(field(inner, "code"), json_type_string))
				copy_str(out->inner_code, sizeof out->inner_code,
					 field(inner, "code"));
	} else if (e && json_object_is_type(e, json_type_string)) {
		/* OAuth2: {"error":"invalid_client","error_description":"AADSTS..."} */
		copy_str(out->code, sizeof out->code, e);
		copy_str(out->message, sizeof out->message, field(root, "error_description"));
	} else {
		/* Bare {"code","message"} (some resource providers) or App Service's
		 * {"statusCode","message"}. */
		copy_str(out->code, sizeof out->code, field(root, "code"));
		copy_str(out->message, sizeof out->message, field(root, "message"));
	}
	rc = out->code[0] || out->message[0] ? 0 : -1;
out:
	if (root)
		json_object_put(root);
	json_tokener_free(tok);
	return rc;
}
