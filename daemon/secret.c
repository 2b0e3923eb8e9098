/* Secrets in option tables: resolve {file: PATH}, {credential: NAME} (systemd's
 * $CREDENTIALS_DIRECTORY), {env: VAR} or an inline value into a struct aw_secret,
 * refusing inline secrets in a file others can read. A resolved value is registered
 * with the log redactor; messages name the key and the source, never the value. */
#include "options_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyvault.h"
#include "log.h"

#define AW_SECRET_MAX ((size_t)64 << 10)

void aw_secret_clear(struct aw_secret *s)
{
	if (s->value) {
		explicit_bzero(s->value, strlen(s->value));
		free(s->value);
	}
	free(s->origin);
	free(s->ref);
	s->value = NULL;
	s->origin = NULL;
	s->ref = NULL;
}

/* Read a secret file into *out (malloc'd, wiped by whoever frees it). why gets the
 * reason on failure; it never contains the file's content. */
static int read_secret_file(const char *path, char **out, char *why, size_t whysz)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd, rc = -1;

	/* O_NONBLOCK: a FIFO must not hang the load; it is refused below anyway */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, whysz, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whysz, "%s is not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size > AW_SECRET_MAX) {
		snprintf(why, whysz, "%s is larger than %zu KiB", path, AW_SECRET_MAX >> 10);
		goto out;
	}
	buf = malloc(AW_SECRET_MAX + 1);
	if (!buf) {
		snprintf(why, whysz, "out of memory reading %s", path);
		goto out;
	}
	while (n <= AW_SECRET_MAX) {
		ssize_t r = read(fd, buf + n, AW_SECRET_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whysz, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > AW_SECRET_MAX) {
		snprintf(why, whysz, "%s is larger than %zu KiB", path, AW_SECRET_MAX >> 10);
		goto out;
	}
	if (n && buf[n - 1] == '\n') {
		n--;
		if (n && buf[n - 1] == '\r')
			n--;
	}
	if (memchr(buf, '\0', n)) {
		snprintf(why, whysz, "%s contains a NUL byte", path);
		goto out;
	}
	if (n == 0) {
		snprintf(why, whysz, "%s is empty", path);
		goto out;
	}
	*out = malloc(n + 1);
	if (!*out) {
		snprintf(why, whysz, "out of memory reading %s", path);
		goto out;
	}
	memcpy(*out, buf, n);
	(*out)[n] = '\0';
	rc = 0;
out:
	if (buf) {
		explicit_bzero(buf, n < AW_SECRET_MAX + 1 ? n : AW_SECRET_MAX + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

static bool credential_name_ok(const char *s)
{
	return *s && strlen(s) <= 255 && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

/* Takes value; origin is "<kind> <arg>" ("file /run/x") or just "inline". */
static int set_secret(struct aw_secret *sec, char *value, const char *kind, const char *arg)
{
	char origin[512];

	snprintf(origin, sizeof origin, "%s%s%s", kind, arg ? " " : "", arg ? arg : "");
	sec->origin = strdup(origin);
	if (!sec->origin) {
		explicit_bzero(value, strlen(value));
		free(value);
		return -1;
	}
	sec->value = value;
	aw_log_redact_add(value);
	return 0;
}

/* A Key Vault reference is not itself secret (it names one), so it may sit inline in
 * any file. The value is fetched later (config_secrets.c); until then a placeholder
 * keeps every reader of `value` safe. Returns 1 for a reference, -1 for a malformed
 * one (reported), 0 when v is no reference. */
static int kv_reference(struct aw_secret *sec, const struct aw_node *v, const char *name,
			struct aw_error_list *errs)
{
	struct aw_kv_ref ref;
	char why[256], origin[600];
	int rc = aw_kv_ref_parse(v->value, &ref, why, sizeof why);

	if (rc < 0)
		aw_opt_add_at(errs, v, "%s: %s", name, why);
	if (rc != 1)
		return rc;
	snprintf(origin, sizeof origin, "keyvault %s", v->value);
	sec->ref = strdup(v->value);
	sec->origin = strdup(origin);
	sec->value = strdup(AW_SECRET_PENDING);
	if (!sec->ref || !sec->origin || !sec->value) {
		aw_secret_clear(sec);
		aw_opt_add_at(errs, v, "%s: out of memory", name);
		return -1;
	}
	return 1;
}

void aw_secret_resolve(struct aw_secret *sec, const struct aw_node *v, const char *name,
		       unsigned file_mode, struct aw_error_list *errs)
{
	const struct aw_node *arg;
	const char *kind;
	char why[AW_ERROR_MAX / 2];
	char *value = NULL;
	int rc;

	aw_secret_clear(sec);
	if (v->kind == AW_NODE_SCALAR) {
		int kv = kv_reference(sec, v, name, errs);
		if (kv != 0)
			return; /* a reference (or a malformed one, reported) */
		/* Inline: only acceptable where nobody else can read the file, or when the
		 * text came from the environment rather than from the file. */
		if (!v->from_env && (file_mode & 077)) {
			aw_opt_add_at(
			    errs, v,
			    "%s: inline secret in a file readable by group or others (mode "
			    "%04o); use {file: PATH}, {credential: NAME} or {env: VAR}, or "
			    "chmod 600 %s",
			    name, file_mode & 07777, v->file ? v->file : "the file");
			return;
		}
		if (!*v->value) {
			aw_opt_add_at(errs, v, "%s: the secret is empty", name);
			return;
		}
		value = strdup(v->value);
		if (!value || set_secret(sec, value, "inline", NULL) < 0)
			aw_opt_add_at(errs, v, "%s: out of memory", name);
		return;
	}
	if (v->kind != AW_NODE_MAP || v->n != 1) {
		aw_opt_add_at(errs, v,
			      "%s: expected exactly one of {file: PATH}, {credential: NAME}, "
			      "{env: VAR} or {keyvault: REF}, or an inline value",
			      name);
		return;
	}
	kind = v->keys[0];
	arg = v->items[0];
	if (arg->kind != AW_NODE_SCALAR || aw_opt_is_null(arg) || !*arg->value) {
		aw_opt_add_at(errs, arg, "%s.%.40s: expected a non-empty string", name, kind);
		return;
	}
	if (strcmp(kind, "keyvault") == 0) {
		if (kv_reference(sec, arg, name, errs) == 0)
			aw_opt_add_at(errs, arg,
				      "%s.keyvault: expected keyvault://VAULT/NAME or "
				      "https://VAULT.vault.azure.net/secrets/NAME",
				      name);
		return;
	}
	if (strcmp(kind, "file") == 0) {
		rc = read_secret_file(arg->value, &value, why, sizeof why);
		if (rc == 0 && set_secret(sec, value, "file", arg->value) < 0)
			snprintf(why, sizeof why, "out of memory");
		else if (rc == 0)
			return;
		aw_opt_add_at(errs, arg, "%s: secret file: %s", name, why);
	} else if (strcmp(kind, "credential") == 0) {
		const char *dir = getenv("CREDENTIALS_DIRECTORY");
		char path[4096];
		if (!credential_name_ok(arg->value)) {
			aw_opt_add_at(errs, arg,
				      "%s: invalid credential name (no '/', not '.' or '..')",
				      name);
			return;
		}
		if (!dir || !*dir) {
			aw_opt_add_at(
			    errs, arg,
			    "%s: credential '%.100s' needs $CREDENTIALS_DIRECTORY, which systemd "
			    "sets when the unit has LoadCredential=%.100s:PATH",
			    name, arg->value, arg->value);
			return;
		}
		snprintf(path, sizeof path, "%s/%s", dir, arg->value);
		rc = read_secret_file(path, &value, why, sizeof why);
		if (rc == 0 && set_secret(sec, value, "credential", arg->value) < 0)
			snprintf(why, sizeof why, "out of memory");
		else if (rc == 0)
			return;
		aw_opt_add_at(errs, arg, "%s: credential '%.100s': %s", name, arg->value, why);
	} else if (strcmp(kind, "env") == 0) {
		const char *e = getenv(arg->value);
		if (!e) {
			aw_opt_add_at(errs, arg, "%s: environment variable %.100s is not set", name,
				      arg->value);
			return;
		}
		if (!*e) {
			aw_opt_add_at(errs, arg, "%s: environment variable %.100s is empty", name,
				      arg->value);
			return;
		}
		value = strdup(e);
		if (!value || set_secret(sec, value, "env", arg->value) < 0)
			aw_opt_add_at(errs, arg, "%s: out of memory", name);
	} else {
		aw_opt_add_at(
		    errs, v->keynodes[0],
		    "%s: unknown key '%.40s'; a secret is {file: PATH}, {credential: NAME}, "
		    "{env: VAR} or {keyvault: REF}, or an inline value",
		    name, kind);
	}
}
