/* The metrics and health server: /metrics, /healthz, /readyz on http_listen.
 *
 * libmicrohttpd in external-epoll mode driven from the loop (one uv_poll on MHD's
 * epoll fd, one uv_timer for its timeouts), so handlers run on the loop thread and read
 * the daemon's state without locks. GET only; anything else is 404/405. */
#ifndef AW_HTTPD_H
#define AW_HTTPD_H

#include <stddef.h>
#include <uv.h>

#include "error.h"
#include "metrics.h"

/* Readiness probe: return 1 when ready; else 0 and a short reason in why. */
typedef int (*aw_ready_fn)(void *ud, char *why, size_t whysz);

struct aw_httpd;

/* listen is "host:port" (IPv4 literal, "[v6]:port" or "localhost:port"); port 0 picks
 * a free port (see aw_httpd_port). The server starts serving immediately. */
int aw_httpd_start(uv_loop_t *loop, const char *listen, struct aw_metrics *metrics,
		   aw_ready_fn ready, void *ud, struct aw_httpd **out, struct aw_error *err);
unsigned aw_httpd_port(const struct aw_httpd *h);
/* Stop MHD and close the uv handles; memory is freed in the close callbacks. */
void aw_httpd_close(struct aw_httpd *h);

#endif
