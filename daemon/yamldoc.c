/* YAML documents as position-annotated node trees, built from libyaml's event API.
 *
 * Why a tree of our own rather than libyaml's document API: every node keeps the
 * file, line and column it came from (messages say "file:line:col"), scalars are
 * ${ENV}-expanded once here (configuration only), and the limits below are checked
 * while parsing, before anything large is built. Anchors and aliases are rejected: a
 * configuration or a rule does not need them and they are how a small file expands
 * into a huge tree.
 *
 * Two profiles share one walk. A configuration is one document, at most 4 MiB, with
 * ${ENV} expanded. A Sigma rule file may hold several documents (`---`, correlation
 * bundles), up to 1000 and 16 MiB, and is taken literally: `$` is common in detection
 * values (`$ConnectionString`, `${jndi:`), so nothing is expanded. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define AW_DOC_MAX_BYTES ((size_t)4 << 20) /* a config file; more is a mistake */
#define AW_DOC_MAX_DEPTH 64
#define AW_DOC_MAX_NODES 200000
#define AW_SCALAR_MAX	 ((size_t)1 << 20) /* one value after ${ENV} expansion */
#define AW_ENV_NAME_MAX	 128

/* Rule files: a bundle of many rules, each typically under 200 nodes. The node total
 * per file bounds memory (about 60 MB of tree at worst) where the byte limit alone
 * would not: a flow sequence spends two bytes per node. */
#define AW_RULES_MAX_BYTES ((size_t)16 << 20)
#define AW_RULES_MAX_DOCS  1000
#define AW_RULES_MAX_NODES 500000

struct doc_profile {
	size_t max_bytes;
	size_t max_docs;
	size_t max_nodes; /* in the whole file */
	bool expand_env;
};

static const struct doc_profile CONFIG_PROFILE = {
    .max_bytes = AW_DOC_MAX_BYTES,
    .max_docs = 1,
    .max_nodes = AW_DOC_MAX_NODES,
    .expand_env = true,
};

static const struct doc_profile RULES_PROFILE = {
    .max_bytes = AW_RULES_MAX_BYTES,
    .max_docs = AW_RULES_MAX_DOCS,
    .max_nodes = AW_RULES_MAX_NODES,
    .expand_env = false,
};

struct doc_parser {
	yaml_parser_t yp;
	const struct doc_profile *prof;
	const char *name; /* the file's name, for messages */
	const char *file; /* the current document's path (owned by it), for its nodes */
	const char *buf;  /* the input, to turn reader-error offsets into line:col */
	size_t len;
	struct aw_error_list *errs;
	size_t doc_nodes; /* in this document: at most AW_DOC_MAX_NODES */
	size_t nodes;	  /* in the file: at most prof->max_nodes */
	bool failed;	  /* at least one error was added */
	bool fatal;	  /* stop parsing: syntax error or a limit was hit */
};

struct strbuf {
	char *p;
	size_t n, cap;
};

static void add_err(struct doc_parser *p, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_err(struct doc_parser *p, unsigned line, unsigned col, const char *fmt, ...)
{
	char msg[AW_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line)
		aw_error_list_add(p->errs, "%s:%u:%u: %s", p->name, line, col, msg);
	else
		aw_error_list_add(p->errs, "%s: %s", p->name, msg);
	p->failed = true;
}

static void offset_to_pos(const struct doc_parser *p, size_t off, unsigned *line, unsigned *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < p->len; i++) {
		if (p->buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static void syntax_error(struct doc_parser *p)
{
	const yaml_parser_t *yp = &p->yp;
	const char *problem = yp->problem ? yp->problem : "malformed document";
	unsigned line, col;

	p->fatal = true;
	if (yp->error == YAML_MEMORY_ERROR) {
		add_err(p, 0, 0, "out of memory while parsing YAML");
		return;
	}
	if (yp->error == YAML_READER_ERROR) {
		offset_to_pos(p, yp->problem_offset, &line, &col);
		add_err(p, line, col, "YAML syntax error: %s", problem);
		return;
	}
	line = (unsigned)yp->problem_mark.line + 1;
	col = (unsigned)yp->problem_mark.column + 1;
	if (yp->context)
		add_err(p, line, col, "YAML syntax error: %s (%s at line %u)", problem, yp->context,
			(unsigned)yp->context_mark.line + 1);
	else
		add_err(p, line, col, "YAML syntax error: %s", problem);
}

static int next_event(struct doc_parser *p, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&p->yp, ev)) {
		syntax_error(p);
		return -1;
	}
	return 0;
}

static bool plain_null(const char *s)
{
	return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	       strcmp(s, "NULL") == 0;
}

/* --- ${ENV} expansion ---------------------------------------------------------- */

static int sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (n > AW_SCALAR_MAX - b->n)
		return -1;
	if (b->n + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 64;
		while (ncap < b->n + n + 1)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (!np)
			return -1;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
	return 0;
}

static bool env_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > AW_ENV_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/* Expand one ${...} reference starting at s (s[0] == '$', s[1] == '{'); *used is
 * the number of input bytes consumed, *from_env whether the environment (not the
 * default) supplied the text. Errors name the variable, never a value. */
static int expand_ref(struct doc_parser *p, const struct aw_node *n, const char *s, size_t len,
		      struct strbuf *out, size_t *used, bool *from_env)
{
	const char *end = memchr(s + 2, '}', len - 2);
	const char *name = s + 2, *def = NULL, *val;
	size_t nlen, dlen = 0;
	char vname[AW_ENV_NAME_MAX + 1];

	*from_env = false;
	if (!end) {
		add_err(p, n->line, n->col, "unterminated ${ in value (write $$ for a literal $)");
		return -1;
	}
	*used = (size_t)(end - s) + 1;
	nlen = (size_t)(end - name);
	for (size_t i = 0; i + 1 < nlen; i++) {
		if (name[i] == ':' && name[i + 1] == '-') {
			def = name + i + 2;
			dlen = nlen - i - 2;
			nlen = i;
			break;
		}
	}
	if (!env_name_ok(name, nlen)) {
		add_err(p, n->line, n->col,
			"invalid environment variable name '%.*s' in ${...} (letters, digits, _)",
			(int)(nlen > 40 ? 40 : nlen), name);
		return -1;
	}
	memcpy(vname, name, nlen);
	vname[nlen] = '\0';
	val = getenv(vname);
	if (val && (*val || !def)) {
		*from_env = true;
		if (sb_add(out, val, strlen(val)) == 0)
			return 0;
	} else if (def) {
		if (sb_add(out, def, dlen) == 0)
			return 0;
	} else {
		add_err(p, n->line, n->col, "environment variable %s is not set", vname);
		return -1;
	}
	add_err(p, n->line, n->col, "value longer than %zu bytes after ${%s} expansion",
		AW_SCALAR_MAX, vname);
	return -1;
}

/* `${VAR}`, `${VAR:-default}` (default when unset or empty), `$$` -> `$`; any other
 * `$` is literal. from_env: the scalar was exactly one reference and the environment
 * supplied it, so a secret written that way does not sit in the file. */
static int expand_env(struct doc_parser *p, struct aw_node *n, const char *s, size_t len)
{
	struct strbuf out = {0};
	size_t i = 0;
	int rc = 0;

	if (sb_add(&out, "", 0) < 0)
		goto oom;
	while (i < len) {
		if (s[i] == '$' && i + 1 < len && s[i + 1] == '$') {
			if (sb_add(&out, "$", 1) < 0)
				goto oom;
			i += 2;
		} else if (s[i] == '$' && i + 1 < len && s[i + 1] == '{') {
			size_t used = 0;
			bool env = false;
			if (expand_ref(p, n, s + i, len - i, &out, &used, &env) < 0) {
				rc = -1;
				if (!used)
					break;
			}
			if (i == 0 && used == len)
				n->from_env = env;
			i += used;
		} else {
			const char *d = memchr(s + i, '$', len - i);
			size_t run = d ? (size_t)(d - (s + i)) : len - i;
			if (run == 0)
				run = 1; /* a lone '$' */
			if (sb_add(&out, s + i, run) < 0) {
				add_err(p, n->line, n->col, "value longer than %zu bytes",
					AW_SCALAR_MAX);
				rc = -1;
				break;
			}
			i += run;
		}
	}
	n->value = out.p;
	return rc;
oom:
	free(out.p);
	add_err(p, n->line, n->col, "out of memory");
	return -1;
}

/* --- tree building ------------------------------------------------------------- */

static void node_free(struct aw_node *n)
{
	if (!n)
		return;
	free(n->value);
	for (size_t i = 0; i < n->n; i++) {
		if (n->kind == AW_NODE_MAP)
			node_free(n->keynodes[i]); /* keys[i] is keynodes[i]->value */
		node_free(n->items[i]);
	}
	free(n->keys);
	free(n->keynodes);
	free(n->items);
	free(n);
}

static struct aw_node *node_new(struct doc_parser *p, enum aw_node_kind kind,
				const yaml_mark_t *mark)
{
	struct aw_node *n;
	unsigned line = (unsigned)mark->line + 1, col = (unsigned)mark->column + 1;

	if (++p->doc_nodes > AW_DOC_MAX_NODES) {
		add_err(p, line, col, "document has more than %d nodes", AW_DOC_MAX_NODES);
		p->fatal = true;
		return NULL;
	}
	if (++p->nodes > p->prof->max_nodes) {
		add_err(p, line, col, "file has more than %zu nodes", p->prof->max_nodes);
		p->fatal = true;
		return NULL;
	}
	n = calloc(1, sizeof *n);
	if (!n) {
		add_err(p, line, col, "out of memory");
		p->fatal = true;
		return NULL;
	}
	n->kind = kind;
	n->line = line;
	n->col = col;
	n->file = p->file;
	return n;
}

static int node_append(struct aw_node *n, struct aw_node *key, struct aw_node *item)
{
	/* Growth is bounded by AW_DOC_MAX_NODES. */
	if ((n->n & (n->n - 1)) == 0) {
		size_t ncap = n->n ? n->n * 2 : 1;
		struct aw_node **ni = realloc(n->items, ncap * sizeof *ni);
		if (!ni)
			return -1;
		n->items = ni;
		if (n->kind == AW_NODE_MAP) {
			char **nk = realloc(n->keys, ncap * sizeof *nk);
			if (!nk)
				return -1;
			n->keys = nk;
			struct aw_node **nkn = realloc(n->keynodes, ncap * sizeof *nkn);
			if (!nkn)
				return -1;
			n->keynodes = nkn;
		}
	}
	if (n->kind == AW_NODE_MAP) {
		n->keys[n->n] = key->value;
		n->keynodes[n->n] = key;
	}
	n->items[n->n++] = item;
	return 0;
}

static int cmp_keyidx(const void *a, const void *b)
{
	const struct aw_node *const *ka = a, *const *kb = b;
	int c = strcmp((*ka)->value, (*kb)->value);
	if (c)
		return c;
	/* ties keep document order, so the first of a group is the first written */
	if ((*ka)->line != (*kb)->line)
		return (*ka)->line < (*kb)->line ? -1 : 1;
	if ((*ka)->col != (*kb)->col)
		return (*ka)->col < (*kb)->col ? -1 : 1;
	return 0;
}

/* Sorting a copy keeps this O(n log n) for a hostile map with many keys. */
static void check_duplicates(struct doc_parser *p, const struct aw_node *map)
{
	struct aw_node **sorted;

	if (map->n < 2)
		return;
	sorted = malloc(map->n * sizeof *sorted);
	if (!sorted) {
		add_err(p, map->line, map->col, "out of memory");
		return;
	}
	memcpy(sorted, map->keynodes, map->n * sizeof *sorted);
	qsort(sorted, map->n, sizeof *sorted, cmp_keyidx);
	for (size_t i = 1, first = 0; i < map->n; i++) {
		if (strcmp(sorted[i]->value, sorted[first]->value) != 0) {
			first = i;
			continue;
		}
		add_err(p, sorted[i]->line, sorted[i]->col,
			"duplicate key '%.64s': first defined at line %u, again at line %u",
			sorted[i]->value, sorted[first]->line, sorted[i]->line);
	}
	free(sorted);
}

static void reject_anchor(struct doc_parser *p, const yaml_char_t *anchor, const yaml_mark_t *m)
{
	if (anchor)
		add_err(p, (unsigned)m->line + 1, (unsigned)m->column + 1,
			"YAML anchors (&%.40s) and aliases are not supported; repeat the value",
			(const char *)anchor);
}

static struct aw_node *parse_node(struct doc_parser *p, yaml_event_t *ev, unsigned depth,
				  bool is_key);

static struct aw_node *parse_scalar(struct doc_parser *p, yaml_event_t *ev, bool is_key)
{
	const char *raw = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	struct aw_node *n = node_new(p, AW_NODE_SCALAR, &ev->start_mark);

	if (!n)
		return NULL;
	reject_anchor(p, ev->data.scalar.anchor, &ev->start_mark);
	n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
		    (tag && strcmp(tag, YAML_STR_TAG) == 0);
	if (memchr(raw, '\0', len)) {
		/* a "\0" escape: the value would be silently cut at the NUL */
		add_err(p, n->line, n->col, "NUL character in a value is not allowed");
		len = strlen(raw);
	}
	if (is_key || !p->prof->expand_env || !memchr(raw, '$', len)) {
		n->value = strndup(raw, len);
		if (!n->value) {
			add_err(p, n->line, n->col, "out of memory");
			p->fatal = true;
		}
	} else {
		expand_env(p, n, raw, len);
	}
	if (!n->value) {
		node_free(n);
		return NULL;
	}
	return n;
}

static struct aw_node *parse_collection(struct doc_parser *p, yaml_event_t *ev, unsigned depth)
{
	bool is_map = ev->type == YAML_MAPPING_START_EVENT;
	yaml_event_type_t end_type = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
	struct aw_node *n;
	yaml_event_t kev, vev;

	if (depth >= AW_DOC_MAX_DEPTH) {
		add_err(p, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
			"nesting deeper than %d levels", AW_DOC_MAX_DEPTH);
		p->fatal = true;
		return NULL;
	}
	n = node_new(p, is_map ? AW_NODE_MAP : AW_NODE_SEQ, &ev->start_mark);
	if (!n)
		return NULL;
	reject_anchor(p, is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor,
		      &ev->start_mark);
	while (!p->fatal) {
		struct aw_node *key = NULL, *item;

		if (next_event(p, &kev) < 0)
			break;
		if (kev.type == end_type) {
			yaml_event_delete(&kev);
			break;
		}
		if (is_map) {
			bool scalar_key = kev.type == YAML_SCALAR_EVENT;
			unsigned kl = (unsigned)kev.start_mark.line + 1;
			unsigned kc = (unsigned)kev.start_mark.column + 1;
			key = parse_node(p, &kev, depth + 1, true);
			if (!scalar_key) {
				add_err(p, kl, kc, "a map key must be a scalar");
				node_free(key);
				key = NULL;
			}
			if (p->fatal || next_event(p, &vev) < 0) {
				node_free(key);
				break;
			}
			item = parse_node(p, &vev, depth + 1, false);
		} else {
			item = parse_node(p, &kev, depth + 1, false);
		}
		if ((is_map && !key) || !item) {
			node_free(key);
			node_free(item);
			continue;
		}
		if (node_append(n, key, item) < 0) {
			add_err(p, n->line, n->col, "out of memory");
			p->fatal = true;
			node_free(key);
			node_free(item);
		}
	}
	if (is_map && !p->fatal)
		check_duplicates(p, n);
	return n;
}

/* Consumes *ev. Returns NULL (with an error added) for what cannot become a node. */
static struct aw_node *parse_node(struct doc_parser *p, yaml_event_t *ev, unsigned depth,
				  bool is_key)
{
	struct aw_node *n = NULL;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = parse_scalar(p, ev, is_key);
		break;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		n = parse_collection(p, ev, depth);
		break;
	case YAML_ALIAS_EVENT:
		add_err(p, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
			"YAML aliases (*%.40s) are not supported; repeat the value",
			(const char *)ev->data.alias.anchor);
		break;
	default:
		add_err(p, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
			"unexpected YAML event %d", (int)ev->type);
		p->fatal = true;
		break;
	}
	yaml_event_delete(ev);
	return n;
}

/* --- documents and streams ------------------------------------------------------ */

/* The event after STREAM_START or a DOCUMENT_END: 1 when a document starts (its
 * position in *line, *col), 0 at the end of the stream, -1 after an error. */
static int document_start(struct doc_parser *p, unsigned *line, unsigned *col)
{
	yaml_event_t ev;
	int rc = -1;

	if (next_event(p, &ev) < 0)
		return -1;
	if (ev.type == YAML_STREAM_END_EVENT) {
		rc = 0;
	} else if (ev.type == YAML_DOCUMENT_START_EVENT) {
		*line = (unsigned)ev.start_mark.line + 1;
		*col = (unsigned)ev.start_mark.column + 1;
		rc = 1;
	} else {
		add_err(p, 0, 0, "unexpected YAML event outside a document");
		p->fatal = true;
	}
	yaml_event_delete(&ev);
	return rc;
}

/* After DOCUMENT_START: the root node, then DOCUMENT_END. NULL for an empty document
 * ("---" alone, "~") and after a fatal error. */
static struct aw_node *document_body(struct doc_parser *p)
{
	struct aw_node *root;
	yaml_event_t ev;

	p->doc_nodes = 0;
	if (next_event(p, &ev) < 0)
		return NULL;
	root = parse_node(p, &ev, 0, false);
	if (p->fatal || next_event(p, &ev) < 0) {
		node_free(root);
		return NULL;
	}
	yaml_event_delete(&ev); /* DOCUMENT_END */
	if (root && root->kind == AW_NODE_SCALAR && !root->quoted && plain_null(root->value)) {
		node_free(root);
		root = NULL;
	}
	return root;
}

static struct aw_doc *doc_new(const char *path)
{
	struct aw_doc *doc = calloc(1, sizeof *doc);

	if (doc && !(doc->path = strdup(path))) {
		free(doc);
		doc = NULL;
	}
	return doc;
}

/* Every document of the stream, appended to *docs. Stops at the first fatal error:
 * after a syntax error libyaml cannot be relied on to find the next `---` (it may be
 * inside an unterminated quote or flow collection), so the rest of the file is not
 * parsed. Other errors (a duplicate key, an anchor) let parsing go on, so one run
 * reports them all; the caller then rejects the whole file. */
static void parse_stream(struct doc_parser *p, struct aw_doc ***docs, size_t *ndocs)
{
	yaml_event_t ev;
	size_t cap = 0;

	if (next_event(p, &ev) < 0)
		return;
	yaml_event_delete(&ev); /* STREAM_START */
	while (!p->fatal) {
		unsigned line = 0, col = 0;
		struct aw_doc *doc;

		if (document_start(p, &line, &col) <= 0)
			break;
		if (*ndocs == p->prof->max_docs) {
			if (p->prof->max_docs == 1)
				add_err(p, line, col,
					"a second YAML document; this file must hold exactly one");
			else
				add_err(p, line, col, "more than %zu YAML documents in one file",
					p->prof->max_docs);
			break;
		}
		if (*ndocs == cap) { /* growth bounded by max_docs */
			size_t ncap = cap ? cap * 2 : 4;
			struct aw_doc **nd = realloc(*docs, ncap * sizeof *nd);
			if (!nd) {
				add_err(p, line, col, "out of memory");
				break;
			}
			*docs = nd;
			cap = ncap;
		}
		doc = doc_new(p->name);
		if (!doc) {
			add_err(p, line, col, "out of memory");
			break;
		}
		(*docs)[(*ndocs)++] = doc;
		p->file = doc->path;
		doc->root = document_body(p);
	}
}

/* All or nothing: on any error every document is freed and -1 returned. */
static int load_buffer(const struct doc_profile *prof, const char *name, const char *buf,
		       size_t len, struct aw_doc ***docs, size_t *ndocs, struct aw_error_list *errs)
{
	struct doc_parser p = {
	    .prof = prof, .name = name ? name : "<buffer>", .buf = buf, .len = len, .errs = errs};

	*docs = NULL;
	*ndocs = 0;
	if (len > prof->max_bytes) {
		add_err(&p, 0, 0, "larger than %zu MiB (%zu bytes); refusing to parse",
			prof->max_bytes >> 20, len);
		return -1;
	}
	if (!yaml_parser_initialize(&p.yp))
		return aw_error_list_add(errs, "%s: out of memory", p.name);
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)buf, len);
	parse_stream(&p, docs, ndocs);
	yaml_parser_delete(&p.yp);
	if (p.failed) {
		aw_doc_free_all(*docs, *ndocs);
		*docs = NULL;
		*ndocs = 0;
		return -1;
	}
	return 0;
}

/* The whole regular file into *out (malloc'd), refusing more than max bytes. */
static int read_file(const char *path, size_t max, char **out, size_t *outlen,
		     struct aw_error_list *errs)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0, cap;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return aw_error_list_add(errs, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		aw_error_list_add(errs, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		aw_error_list_add(errs, "%s: not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size > max) {
		aw_error_list_add(errs, "%s: larger than %zu MiB (%lld bytes); refusing to parse",
				  path, max >> 20, (long long)st.st_size);
		goto out;
	}
	/* Room for a little growth since fstat; a file that grew more is refused. */
	cap = (size_t)st.st_size + 4096;
	if (cap > max + 1)
		cap = max + 1;
	buf = malloc(cap);
	if (!buf) {
		aw_error_list_add(errs, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t r;
		if (n == cap) {
			aw_error_list_add(errs, "%s: file grew while reading it", path);
			goto out;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			aw_error_list_add(errs, "%s: read error: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = buf;
	*outlen = n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

int aw_doc_load_buffer(const char *name, const char *buf, size_t len, struct aw_doc **out,
		       struct aw_error_list *errs)
{
	struct aw_doc **docs;
	size_t n;

	*out = NULL;
	if (load_buffer(&CONFIG_PROFILE, name, buf, len, &docs, &n, errs) < 0)
		return -1;
	if (n == 0) {
		/* no document at all (an empty file, only comments): an empty config */
		*out = doc_new(name ? name : "<buffer>");
		if (!*out)
			return aw_error_list_add(errs, "%s: out of memory",
						 name ? name : "<buffer>");
		return 0;
	}
	*out = docs[0];
	free(docs);
	return 0;
}

int aw_doc_load_file(const char *path, struct aw_doc **out, struct aw_error_list *errs)
{
	char *buf = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (read_file(path, CONFIG_PROFILE.max_bytes, &buf, &n, errs) < 0)
		return -1;
	rc = aw_doc_load_buffer(path, buf, n, out, errs);
	free(buf);
	return rc;
}

int aw_doc_load_all_buffer(const char *name, const char *buf, size_t len, struct aw_doc ***docs,
			   size_t *ndocs, struct aw_error_list *errs)
{
	return load_buffer(&RULES_PROFILE, name, buf, len, docs, ndocs, errs);
}

int aw_doc_load_all_file(const char *path, struct aw_doc ***docs, size_t *ndocs,
			 struct aw_error_list *errs)
{
	char *buf = NULL;
	size_t n = 0;
	int rc;

	*docs = NULL;
	*ndocs = 0;
	if (read_file(path, RULES_PROFILE.max_bytes, &buf, &n, errs) < 0)
		return -1;
	rc = load_buffer(&RULES_PROFILE, path, buf, n, docs, ndocs, errs);
	free(buf);
	return rc;
}

void aw_doc_free(struct aw_doc *doc)
{
	if (!doc)
		return;
	node_free(doc->root);
	free(doc->path);
	free(doc);
}

void aw_doc_free_all(struct aw_doc **docs, size_t n)
{
	if (!docs)
		return;
	for (size_t i = 0; i < n; i++)
		aw_doc_free(docs[i]);
	free(docs);
}

const struct aw_node *aw_node_get(const struct aw_node *map, const char *key)
{
	if (!map || map->kind != AW_NODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->keys[i], key) == 0)
			return map->items[i];
	return NULL;
}
