/* aw_error: message formatting for failures reported upward. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int aw_error_set(struct aw_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int aw_error_prefix(struct aw_error *err, const char *fmt, ...)
{
	char prefix[AW_ERROR_MAX];
	char old[AW_ERROR_MAX];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	/* Assemble by hand: snprintf("%s: %s") of two full buffers trips
	 * -Wformat-truncation although truncation is what we want. */
	size_t pl = strnlen(prefix, sizeof prefix - 1);
	size_t ol = strnlen(old, sizeof old - 1);
	size_t cap = sizeof err->msg - 1;
	size_t n = 0;
	memcpy(err->msg, prefix, pl < cap ? pl : cap);
	n = pl < cap ? pl : cap;
	if (n + 2 <= cap) {
		memcpy(err->msg + n, ": ", 2);
		n += 2;
	}
	if (ol > cap - n)
		ol = cap - n;
	memcpy(err->msg + n, old, ol);
	n += ol;
	err->msg[n] = '\0';
	return -1;
}

int aw_error_list_add(struct aw_error_list *l, const char *fmt, ...)
{
	char buf[AW_ERROR_MAX];
	va_list ap;
	char *copy;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (l->n >= AW_ERROR_LIST_MAX) {
		l->dropped++;
		return -1;
	}
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 8;
		char **nm = realloc(l->msgs, ncap * sizeof *nm);
		if (!nm) {
			l->dropped++;
			return -1;
		}
		l->msgs = nm;
		l->cap = ncap;
	}
	copy = strdup(buf);
	if (!copy) {
		l->dropped++;
		return -1;
	}
	l->msgs[l->n++] = copy;
	return -1;
}

void aw_error_list_free(struct aw_error_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->msgs[i]);
	free(l->msgs);
	l->msgs = NULL;
	l->n = l->cap = l->dropped = 0;
}
