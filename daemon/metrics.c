/* Metrics registry: families keyed by name, series keyed by (name, rendered labels) in
 * two chained hash tables, so a daemon with a series per rule still finds a series in
 * O(1). Label sets are validated and escaped once, at creation; rendering only
 * concatenates. */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Past this many series aw_metric_get() returns NULL (a no-op series for callers) and
 * says so once in the log: a label fed by unbounded data must not eat the memory. */
#define AW_METRICS_MAX_SERIES	  100000
#define AW_METRICS_MAX_LABELS	  16
#define AW_METRICS_LABELS_MAX	  4096 /* bytes of one rendered label set */
#define AW_METRICS_NAME_MAX	  200
#define AW_METRICS_MAX_COLLECTORS 128
#define AW_METRICS_RENDER_MAX	  (64u << 20)
#define AW_METRICS_BUCKETS_MIN	  64

struct aw_metric_family;

struct aw_metric {
	struct aw_metric_family *fam;
	char *labels; /* `k="v",...`; "" without labels */
	double value;
	uint64_t hash;
	struct aw_metric *hnext; /* hash chain */
	struct aw_metric *next;	 /* family's series, in creation order */
};

struct aw_metric_family {
	char *name;
	char *help;
	enum aw_metric_type type;
	uint64_t hash;
	struct aw_metric_family *hnext;
	struct aw_metric *first, *last;
};

struct aw_metrics_collector {
	aw_metrics_collect_fn fn;
	void *ud;
};

struct aw_metrics {
	struct aw_metric **series_tab;
	size_t series_nb; /* power of two */
	size_t nseries;
	struct aw_metric_family **fam_tab;
	size_t fam_nb; /* power of two */
	size_t nfam;
	struct aw_metrics_collector collectors[AW_METRICS_MAX_COLLECTORS];
	size_t ncollectors;
	bool limit_logged;
};

struct aw_metrics *aw_metrics_new(void)
{
	struct aw_metrics *m = calloc(1, sizeof *m);

	if (!m)
		return NULL;
	m->series_tab = calloc(AW_METRICS_BUCKETS_MIN, sizeof *m->series_tab);
	m->fam_tab = calloc(AW_METRICS_BUCKETS_MIN, sizeof *m->fam_tab);
	if (!m->series_tab || !m->fam_tab) {
		free(m->series_tab);
		free(m->fam_tab);
		free(m);
		return NULL;
	}
	m->series_nb = m->fam_nb = AW_METRICS_BUCKETS_MIN;
	return m;
}

void aw_metrics_free(struct aw_metrics *m)
{
	if (!m)
		return;
	for (size_t b = 0; b < m->fam_nb; b++) {
		struct aw_metric_family *f = m->fam_tab[b];
		while (f) {
			struct aw_metric_family *fnext = f->hnext;
			struct aw_metric *s = f->first;
			while (s) {
				struct aw_metric *snext = s->next;
				free(s->labels);
				free(s);
				s = snext;
			}
			free(f->name);
			free(f->help);
			free(f);
			f = fnext;
		}
	}
	free(m->fam_tab);
	free(m->series_tab);
	free(m);
}

/* --- names, labels, hashing ------------------------------------------------------ */

static bool valid_name(const char *s, bool colon)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++, n++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (colon && c == ':') || (p != s && c >= '0' && c <= '9');
		if (!ok || n >= AW_METRICS_NAME_MAX)
			return false;
	}
	return true;
}

/* FNV-1a: (name, NUL, labels). */
static uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t hash_name(const char *name)
{
	return hash_bytes(0xcbf29ce484222325ULL, name, strlen(name) + 1);
}

struct aw_label_buf {
	char s[AW_METRICS_LABELS_MAX];
	size_t len;
	bool overflow;
};

static void lb_put(struct aw_label_buf *b, const char *s, size_t n)
{
	if (b->overflow || b->len + n >= sizeof b->s) {
		b->overflow = true;
		return;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Prometheus label value escaping: backslash, double quote, newline. */
static void lb_put_value(struct aw_label_buf *b, const char *v)
{
	for (const char *p = v; *p; p++) {
		switch (*p) {
		case '\\':
			lb_put(b, "\\\\", 2);
			break;
		case '"':
			lb_put(b, "\\\"", 2);
			break;
		case '\n':
			lb_put(b, "\\n", 2);
			break;
		default:
			lb_put(b, p, 1);
		}
	}
}

/* Render the NULL-terminated key/value pairs; -1 on a bad or repeated key or when the
 * set is too large. */
static int render_labels(struct aw_label_buf *b, va_list *ap)
{
	const char *keys[AW_METRICS_MAX_LABELS];
	size_t nkeys = 0;
	const char *k;

	b->len = 0;
	b->s[0] = '\0';
	b->overflow = false;
	/* The caller's va_start initialised *ap; clang-analyzer cannot see across calls. */
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
	while ((k = va_arg(*ap, const char *)) != NULL) {
		const char *v = va_arg(*ap, const char *);

		if (!valid_name(k, false) || nkeys == AW_METRICS_MAX_LABELS)
			return -1;
		for (size_t i = 0; i < nkeys; i++)
			if (strcmp(keys[i], k) == 0)
				return -1;
		keys[nkeys++] = k;
		if (b->len)
			lb_put(b, ",", 1);
		lb_put(b, k, strlen(k));
		lb_put(b, "=\"", 2);
		lb_put_value(b, v ? v : "");
		lb_put(b, "\"", 1);
	}
	return b->overflow ? -1 : 0;
}

/* --- hash tables ----------------------------------------------------------------- */

/* Doubling keeps chains short; if the bigger table cannot be had, the old one still
 * works, only slower. */
static void grow_series(struct aw_metrics *m)
{
	size_t nb = m->series_nb * 2;
	struct aw_metric **tab = calloc(nb, sizeof *tab);

	if (!tab)
		return;
	for (size_t b = 0; b < m->series_nb; b++) {
		struct aw_metric *s = m->series_tab[b];
		while (s) {
			struct aw_metric *next = s->hnext;
			size_t i = s->hash & (nb - 1);
			s->hnext = tab[i];
			tab[i] = s;
			s = next;
		}
	}
	free(m->series_tab);
	m->series_tab = tab;
	m->series_nb = nb;
}

static void grow_families(struct aw_metrics *m)
{
	size_t nb = m->fam_nb * 2;
	struct aw_metric_family **tab = calloc(nb, sizeof *tab);

	if (!tab)
		return;
	for (size_t b = 0; b < m->fam_nb; b++) {
		struct aw_metric_family *f = m->fam_tab[b];
		while (f) {
			struct aw_metric_family *next = f->hnext;
			size_t i = f->hash & (nb - 1);
			f->hnext = tab[i];
			tab[i] = f;
			f = next;
		}
	}
	free(m->fam_tab);
	m->fam_tab = tab;
	m->fam_nb = nb;
}

static struct aw_metric_family *find_family(struct aw_metrics *m, const char *name, uint64_t h)
{
	for (struct aw_metric_family *f = m->fam_tab[h & (m->fam_nb - 1)]; f; f = f->hnext)
		if (f->hash == h && strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static struct aw_metric_family *add_family(struct aw_metrics *m, enum aw_metric_type type,
					   const char *name, const char *help, uint64_t h)
{
	struct aw_metric_family *f = calloc(1, sizeof *f);

	if (!f)
		return NULL;
	f->name = strdup(name);
	f->help = strdup(help ? help : "");
	if (!f->name || !f->help) {
		free(f->name);
		free(f->help);
		free(f);
		return NULL;
	}
	f->type = type;
	f->hash = h;
	f->hnext = m->fam_tab[h & (m->fam_nb - 1)];
	m->fam_tab[h & (m->fam_nb - 1)] = f;
	if (++m->nfam > m->fam_nb)
		grow_families(m);
	return f;
}

struct aw_metric *aw_metric_get(struct aw_metrics *m, enum aw_metric_type type, const char *name,
				const char *help, ...)
{
	struct aw_label_buf lb;
	struct aw_metric_family *f;
	struct aw_metric *s;
	uint64_t fh, sh;
	va_list ap;
	int rc;

	if (!m || !valid_name(name, true) || (type != AW_METRIC_COUNTER && type != AW_METRIC_GAUGE))
		return NULL;
	va_start(ap, help);
	rc = render_labels(&lb, &ap);
	va_end(ap);
	if (rc != 0)
		return NULL;

	fh = hash_name(name);
	sh = hash_bytes(fh, lb.s, lb.len);
	for (s = m->series_tab[sh & (m->series_nb - 1)]; s; s = s->hnext)
		if (s->hash == sh && strcmp(s->labels, lb.s) == 0 &&
		    strcmp(s->fam->name, name) == 0)
			return s->fam->type == type ? s : NULL;

	f = find_family(m, name, fh);
	if (f && f->type != type)
		return NULL;
	if (m->nseries >= AW_METRICS_MAX_SERIES) {
		if (!m->limit_logged) {
			m->limit_logged = true;
			aw_log(AW_LOG_WARN, "metrics",
			       "series limit reached; new label combinations are not recorded",
			       AW_S("metric", name), AW_U("max", AW_METRICS_MAX_SERIES));
		}
		return NULL;
	}
	if (!f && !(f = add_family(m, type, name, help, fh)))
		return NULL;
	s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->labels = strdup(lb.s);
	if (!s->labels) {
		free(s);
		return NULL;
	}
	s->fam = f;
	s->hash = sh;
	if (f->last)
		f->last->next = s;
	else
		f->first = s;
	f->last = s;
	s->hnext = m->series_tab[sh & (m->series_nb - 1)];
	m->series_tab[sh & (m->series_nb - 1)] = s;
	if (++m->nseries > m->series_nb)
		grow_series(m);
	return s;
}

/* --- values ---------------------------------------------------------------------- */

void aw_metric_inc(struct aw_metric *s)
{
	aw_metric_add(s, 1);
}

/* A counter only goes up: Prometheus reads a decrease as a restart. */
void aw_metric_add(struct aw_metric *s, double v)
{
	if (!s)
		return;
	if (s->fam->type == AW_METRIC_COUNTER && !(v >= 0))
		return;
	s->value += v;
}

void aw_metric_set(struct aw_metric *s, double v)
{
	if (s)
		s->value = v;
}

double aw_metric_value(const struct aw_metric *s)
{
	return s ? s->value : 0;
}

/* --- collectors ------------------------------------------------------------------ */

int aw_metrics_add_collector(struct aw_metrics *m, aw_metrics_collect_fn fn, void *ud)
{
	if (!m || !fn || m->ncollectors == AW_METRICS_MAX_COLLECTORS)
		return -1;
	m->collectors[m->ncollectors++] = (struct aw_metrics_collector){.fn = fn, .ud = ud};
	return 0;
}

void aw_metrics_remove_collector(struct aw_metrics *m, aw_metrics_collect_fn fn, void *ud)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->ncollectors; i++) {
		if (m->collectors[i].fn == fn && m->collectors[i].ud == ud) {
			memmove(&m->collectors[i], &m->collectors[i + 1],
				(m->ncollectors - i - 1) * sizeof m->collectors[0]);
			m->ncollectors--;
			return;
		}
	}
}

/* --- rendering ------------------------------------------------------------------- */

struct aw_outbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void ob_put(struct aw_outbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		char *np;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if (ncap > AW_METRICS_RENDER_MAX || !(np = realloc(b->p, ncap))) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void ob_str(struct aw_outbuf *b, const char *s)
{
	ob_put(b, s, strlen(s));
}

/* HELP text escaping: backslash and newline. */
static void ob_help(struct aw_outbuf *b, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\\')
			ob_put(b, "\\\\", 2);
		else if (*p == '\n')
			ob_put(b, "\\n", 2);
		else
			ob_put(b, p, 1);
	}
}

/* Integers print in full ("1000000", not "1e+06"); others with the fewest digits that
 * read back as the same double. */
static void format_value(char *buf, size_t sz, double v)
{
	if (isnan(v)) {
		snprintf(buf, sz, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, sz, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e17) {
		snprintf(buf, sz, "%.0f", v);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sz, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static int family_cmp(const void *a, const void *b)
{
	const struct aw_metric_family *fa = *(const struct aw_metric_family *const *)a;
	const struct aw_metric_family *fb = *(const struct aw_metric_family *const *)b;
	return strcmp(fa->name, fb->name);
}

int aw_metrics_render(struct aw_metrics *m, char **out, size_t *len)
{
	struct aw_metric_family **fams = NULL;
	struct aw_outbuf b = {0};
	char num[64];
	size_t n = 0;
	int rc = -1;

	*out = NULL;
	if (len)
		*len = 0;
	if (!m)
		return -1;
	/* Collectors must not add or remove collectors. */
	for (size_t i = 0; i < m->ncollectors; i++)
		m->collectors[i].fn(m->collectors[i].ud);

	fams = malloc((m->nfam ? m->nfam : 1) * sizeof *fams);
	if (!fams)
		goto out;
	for (size_t i = 0; i < m->fam_nb; i++)
		for (struct aw_metric_family *f = m->fam_tab[i]; f; f = f->hnext)
			fams[n++] = f;
	if (n > 1)
		qsort(fams, n, sizeof *fams, family_cmp);

	ob_put(&b, "", 0);
	for (size_t i = 0; i < n; i++) {
		const struct aw_metric_family *f = fams[i];

		ob_str(&b, "# HELP ");
		ob_str(&b, f->name);
		ob_str(&b, " ");
		ob_help(&b, f->help);
		ob_str(&b, "\n# TYPE ");
		ob_str(&b, f->name);
		ob_str(&b, f->type == AW_METRIC_COUNTER ? " counter\n" : " gauge\n");
		for (const struct aw_metric *s = f->first; s; s = s->next) {
			ob_str(&b, f->name);
			if (s->labels[0]) {
				ob_str(&b, "{");
				ob_str(&b, s->labels);
				ob_str(&b, "}");
			}
			format_value(num, sizeof num, s->value);
			ob_str(&b, " ");
			ob_str(&b, num);
			ob_str(&b, "\n");
		}
	}
	if (b.failed)
		goto out;
	*out = b.p;
	if (len)
		*len = b.len;
	b.p = NULL;
	rc = 0;
out:
	free(b.p);
	free(fams);
	return rc;
}
