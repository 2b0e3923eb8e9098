/* The daemon's life cycle on one libuv loop: start, reload on SIGHUP, drain on SIGTERM.
 *
 * Start: apply logging, create the state directory, the metrics registry, the engine
 * and the pipeline, add outputs then inputs, start the metrics server, then tell
 * systemd READY=1. SIGHUP: validate the new configuration completely; if it is valid,
 * swap it in (unchanged instances keep running, changed ones are replaced, removed ones
 * closed); if not, log every error and keep the old one. SIGHUPs that arrive while a
 * reload is scheduled or running are coalesced into one more reload, never lost.
 * SIGTERM/SIGINT: stop inputs, let outputs drain up to shutdown_timeout, leave the
 * rest unacknowledged (inputs re-read it after a restart), exit 0. */
#ifndef AW_DAEMON_H
#define AW_DAEMON_H

/* Exit codes of aiwatchd (documented in --help and the README). */
enum aw_exit {
	AW_EXIT_OK = 0,
	AW_EXIT_CONFIG = 1,   /* configuration or rules invalid */
	AW_EXIT_USAGE = 2,    /* bad command line */
	AW_EXIT_RUNTIME = 3,  /* could not start: state directory, listen address, plugin init */
};

struct aw_core_conf;
struct aw_error_list;

/* The engine a configuration describes (rules loaded; every rule error in errs). */
struct aw_engine *aw_daemon_engine(const struct aw_core_conf *core, struct aw_error_list *errs);

/* Run until stopped by a signal. Returns an enum aw_exit value. */
int aw_daemon_run(const char *config_path);

#endif
