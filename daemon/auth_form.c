/* application/x-www-form-urlencoded bodies and query strings for the token requests.
 * The bodies carry client secrets and assertions: buffers are wiped, never realloc'd
 * (realloc would leave a copy behind), and bounded by AW_FORM_MAX. */
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static size_t escaped_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += unreserved((unsigned char)*s) ? 1 : 3;
	return n;
}

static void escape_into(char *dst, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (unreserved(c)) {
			*dst++ = (char)c;
		} else {
			*dst++ = '%';
			*dst++ = hex[c >> 4];
			*dst++ = hex[c & 15];
		}
	}
	*dst = '\0';
}

int aw_form_add(struct aw_form *f, const char *key, const char *value)
{
	size_t need = (f->len ? 1 : 0) + escaped_len(key) + 1 + escaped_len(value) + 1;

	if (need > AW_FORM_MAX || f->len + need > AW_FORM_MAX)
		return -1;
	if (f->len + need > f->cap) {
		size_t cap = f->cap ? f->cap : 1024;
		char *nb;
		while (cap < f->len + need)
			cap *= 2;
		if (cap > AW_FORM_MAX)
			cap = AW_FORM_MAX;
		/* not realloc: the old buffer holds secrets and is wiped before it goes */
		nb = malloc(cap);
		if (!nb)
			return -1;
		if (f->buf) {
			memcpy(nb, f->buf, f->len + 1);
			explicit_bzero(f->buf, f->cap);
			free(f->buf);
		}
		f->buf = nb;
		f->cap = cap;
	}
	if (f->len)
		f->buf[f->len++] = '&';
	escape_into(f->buf + f->len, key);
	f->len += strlen(f->buf + f->len);
	f->buf[f->len++] = '=';
	escape_into(f->buf + f->len, value);
	f->len += strlen(f->buf + f->len);
	return 0;
}

void aw_form_free(struct aw_form *f)
{
	if (f->buf) {
		explicit_bzero(f->buf, f->cap);
		free(f->buf);
	}
	*f = (struct aw_form){0};
}
