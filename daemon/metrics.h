/* Metrics registry: counters and gauges rendered in the Prometheus text format.
 *
 * A series is a family name plus label pairs; aw_metric_get() finds or creates it and
 * returns a pointer that stays valid until aw_metrics_free(). Names carry the
 * `aiwatch_` prefix and their unit. Label values are escaped when rendered and must
 * never hold a secret. Loop thread only: no locking. */
#ifndef AW_METRICS_H
#define AW_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum aw_metric_type { AW_METRIC_COUNTER, AW_METRIC_GAUGE };

struct aw_metrics;
struct aw_metric;

struct aw_metrics *aw_metrics_new(void);
void aw_metrics_free(struct aw_metrics *m);

/* Find or create `name{k1="v1",...}`. The variadic part is label key/value string
 * pairs ending with NULL. `help` is kept from the first call for a family. Returns
 * NULL only on allocation failure or a type clash with an existing family. */
struct aw_metric *aw_metric_get(struct aw_metrics *m, enum aw_metric_type type,
				const char *name, const char *help, ...)
	__attribute__((sentinel));

void aw_metric_inc(struct aw_metric *s);            /* counter += 1 (NULL-safe) */
void aw_metric_add(struct aw_metric *s, double v);  /* counter/gauge += v (NULL-safe) */
void aw_metric_set(struct aw_metric *s, double v);  /* gauge = v (NULL-safe) */
double aw_metric_value(const struct aw_metric *s);

/* Called before each render so gauges computed on demand (ages, depths) are fresh. */
typedef void (*aw_metrics_collect_fn)(void *ud);
int aw_metrics_add_collector(struct aw_metrics *m, aw_metrics_collect_fn fn, void *ud);
void aw_metrics_remove_collector(struct aw_metrics *m, aw_metrics_collect_fn fn, void *ud);

/* Render all families (sorted by name, series in creation order) as
 * Prometheus text exposition format 0.0.4. *out is malloc'd; caller frees. 0 or -1. */
int aw_metrics_render(struct aw_metrics *m, char **out, size_t *len);

#endif
