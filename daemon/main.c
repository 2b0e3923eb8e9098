/* aiwatchd: the command line. It only wires things: parse arguments, then run the
 * daemon, check a configuration, or print help generated from the option tables. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "deadletter.h"
#include "engine.h"
#include "log.h"
#include "posture_main.h"
#include "registry.h"
#include "replay.h"

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: aiwatchd [--config FILE]          run the daemon\n"
		"       aiwatchd check [--config FILE]    validate the configuration and rules, exit\n"
		"       aiwatchd replay [--rules PATH]... [--format jsonl|table|none] FILE...\n"
		"                                         evaluate recorded events, print alerts\n"
		"       aiwatchd rules list [--rules PATH]...\n"
		"                                         show the loaded rules and their routing\n"
		"       aiwatchd dead-letter list [--config FILE] [--output NAME]\n"
		"                                         show the batches outputs rejected\n"
		"       aiwatchd dead-letter replay [--config FILE] [--output NAME] [FILE...]\n"
		"                                         put them back in their output's spool\n"
		"                                         (sent after SIGHUP or the next start)\n"
		"       aiwatchd posture [--config FILE] [--input NAME] [--framework mcsb|nist|iso27001|soc2]\n"
		"                        [--json | --html FILE] [--inventory FILE] [--save-inventory FILE]\n"
		"                                         check the AI resources' hardening once, print a\n"
		"                                         report (exit 3 when a check failed)\n"

		"       aiwatchd --version | --help\n");
}

static void print_help(void)
{
	print_usage(stdout);
	printf("\naiwatchd watches Azure AI workloads: it reads their diagnostic logs and\n"
	       "Defender findings, runs detection rules, and forwards alerts to a SIEM.\n\n"
	       "Options:\n"
	       "  -c, --config FILE   configuration file (default %s)\n"
	       "  -h, --help          this help, with every configuration option\n"
	       "  -V, --version       print the version\n\n"
	       "Exit codes:\n"
	       "  0  stopped cleanly (SIGTERM/SIGINT), or `check` found no error\n"
	       "  1  the configuration (or a rule) is invalid; every error is printed\n"
	       "  2  bad command line\n"
	       "  3  could not start: state directory, listen address or a plugin failed\n\n"
	       "Signals: SIGHUP reloads the configuration (an invalid one is rejected and\n"
	       "the running one kept) and reopens output files; SIGTERM/SIGINT drain\n"
	       "outputs for up to shutdown_timeout, then exit 0.\n\n"
	       "Configuration (YAML). Durations take a unit and may combine them (250ms,\n"
	       "30s, 5m, 1h30m, 1d); a bare number other than 0 is refused. Sizes are bytes\n"
	       "or take a unit: KB/MB/GB/TB are powers of 1000, K/KiB, M/MiB, G/GiB, T/TiB\n"
	       "powers of 1024. ${VAR} and ${VAR:-default}\n"
	       "expand from the environment. Secrets are {file: PATH}, {credential: NAME}\n"
	       "($CREDENTIALS_DIRECTORY, systemd LoadCredential) or {env: VAR}; an inline\n"
	       "secret is refused in a file readable by group or others.\n\n"
	       "Top-level keys:\n",
	       AW_DEFAULT_CONFIG);
	aw_options_print_help(stdout, aw_core_options, "");
	printf("  inputs    list of input instances: each has `type`, an optional unique\n"
	       "            `name`, and the options of its type\n"
	       "  outputs   list of output instances, likewise\n");
	for (size_t i = 0; aw_builtin_plugins[i]; i++) {
		const struct aw_plugin_desc *p = aw_builtin_plugins[i];
		printf("\n%s type: %s\n  %s\n", p->kind == AW_PLUGIN_INPUT ? "Input" : "Output",
		       p->name, p->summary);
		aw_options_print_help(stdout, p->options, "");
	}
}

static int run_check(const char *path)
{
	struct aw_error_list errs = {0};
	struct aw_config *cfg = NULL;
	size_t count;

	/* Key Vault references are fetched too: a secret that cannot be read is as fatal
	 * at start as a typo, and `check` is run before a restart to find exactly that. */
	if (aw_config_load(path, &cfg, &errs) != 0 ||
	    aw_config_resolve_secrets(cfg, &errs) != 0) {
		aw_config_free(cfg);
		cfg = NULL;
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		count = aw_error_list_count(&errs);
		if (errs.dropped)
			fprintf(stderr, "... and %zu more errors\n", errs.dropped);
		fprintf(stderr, "%s: %zu error%s\n", path, count, count == 1 ? "" : "s");
		aw_error_list_free(&errs);
		return AW_EXIT_CONFIG;
	}
	/* The rules the configuration names are part of it: every rule error counts. */
	struct aw_engine *engine = aw_daemon_engine(&cfg->core, &errs);
	struct aw_engine_stats st = {0};
	if (engine)
		aw_engine_stats(engine, &st);
	aw_engine_free(engine);
	count = aw_error_list_count(&errs);
	if (count || !engine) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		if (errs.dropped)
			fprintf(stderr, "... and %zu more errors\n", errs.dropped);
		fprintf(stderr, "%s: %zu error%s in rules\n", path, count, count == 1 ? "" : "s");
		aw_error_list_free(&errs);
		aw_config_free(cfg);
		return AW_EXIT_CONFIG;
	}
	printf("%s: configuration OK (%zu input%s, %zu output%s, %zu rules, %zu correlations)\n",
	       path, cfg->ninputs, cfg->ninputs == 1 ? "" : "s", cfg->noutputs,
	       cfg->noutputs == 1 ? "" : "s", st.detection_rules, st.correlation_rules);
	aw_config_free(cfg);
	aw_log_redact_clear();
	return AW_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *config = AW_DEFAULT_CONFIG;
	const char *command = NULL;
	int opt;

	/* Offline commands take their own options. */
	if (argc > 1 && strcmp(argv[1], "replay") == 0)
		return aw_replay_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "rules") == 0)
		return aw_rules_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "dead-letter") == 0)
		return aw_deadletter_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "posture") == 0)
		return aw_posture_main(argc - 1, argv + 1);

	while ((opt = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			print_help();
			return AW_EXIT_OK;
		case 'V':
			printf("aiwatchd %s\n", AW_VERSION);
			return AW_EXIT_OK;
		default:
			print_usage(stderr);
			return AW_EXIT_USAGE;
		}
	}
	if (optind < argc)
		command = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "aiwatchd: unexpected argument '%s'\n", argv[optind]);
		print_usage(stderr);
		return AW_EXIT_USAGE;
	}
	if (!command || strcmp(command, "run") == 0)
		return aw_daemon_run(config);
	if (strcmp(command, "check") == 0)
		return run_check(config);
	fprintf(stderr, "aiwatchd: unknown command '%s'\n", command);
	print_usage(stderr);
	return AW_EXIT_USAGE;
}
