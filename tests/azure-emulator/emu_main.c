/* aw-azure-emulator: a local stand-in for the Azure HTTP APIs the daemon speaks.
 *
 *   aw-azure-emulator --listen 127.0.0.1:0 --port-file FILE [--config FILE.json] [--verbose]
 *
 * Binds, writes the port to --port-file (via FILE.tmp + rename), serves with one
 * thread per connection until SIGTERM or SIGINT, then stops every connection thread,
 * frees everything and exits 0. See README.md for routes, config and faults. */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu.h"
#include "emu_state.h"

#define AW_EMU_CONN_TIMEOUT_S 120u
#define AW_EMU_CONN_LIMIT     256u
#define AW_EMU_CONN_MEMORY    (64u * 1024u) /* request line + headers per connection */
#define AW_EMU_BACKLOG	      128

struct aw_emu_args {
	const char *listen;
	const char *port_file;
	const char *config;
	bool verbose;
};

static void usage(FILE *f)
{
	fputs(
	    "usage: aw-azure-emulator [--listen HOST:PORT] [--port-file FILE] [--config FILE.json]"
	    " [--verbose]\n"
	    "  --listen     address to bind (default 127.0.0.1:0, a free port)\n"
	    "  --port-file  write the bound port and a newline here once listening\n"
	    "  --config     initial configuration (JSON, see README.md)\n"
	    "  --verbose    one line per request on stderr\n",
	    f);
}

/* 0: run; 1: done (--help); -1: usage error. */
static int parse_args(int argc, char **argv, struct aw_emu_args *a)
{
	int i;

	a->listen = "127.0.0.1:0";
	for (i = 1; i < argc; i++) {
		const char *opt = argv[i];
		const char **dst = !strcmp(opt, "--listen")	 ? &a->listen
				   : !strcmp(opt, "--port-file") ? &a->port_file
				   : !strcmp(opt, "--config")	 ? &a->config
								 : NULL;

		if (dst) {
			if (i + 1 == argc) {
				fprintf(stderr, "aw-azure-emulator: %s needs a value\n", opt);
				return -1;
			}
			*dst = argv[++i];
		} else if (!strcmp(opt, "--verbose")) {
			a->verbose = true;
		} else if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
			usage(stdout);
			return 1;
		} else {
			fprintf(stderr, "aw-azure-emulator: unknown argument %s\n", opt);
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

/* Bind HOST:PORT ("[::1]:0" for IPv6); returns the listening fd and the bound port. */
static int open_listener(const char *spec, unsigned *port)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = {0}, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	size_t hlen;
	int fd = -1, one = 1, rc;

	if (!colon || colon == spec || !colon[1]) {
		fprintf(stderr, "aw-azure-emulator: --listen %s: expected HOST:PORT\n", spec);
		return -1;
	}
	hlen = (size_t)(colon - spec);
	if (spec[0] == '[' && hlen >= 2 && spec[hlen - 1] == ']') {
		spec++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host)) {
		fprintf(stderr, "aw-azure-emulator: --listen: host too long\n");
		return -1;
	}
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "aw-azure-emulator: --listen %s: %s\n", spec, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, AW_EMU_BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
		fprintf(stderr, "aw-azure-emulator: cannot listen on %s: %s\n", spec,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	} else if (ss.ss_family == AF_INET6) {
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	freeaddrinfo(ai);
	return fd;
}

static int write_port_file(const char *path, unsigned port)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int load_config(struct aw_emu_state *st, const char *path)
{
	json_object *cfg = json_object_from_file(path);
	char err[512];
	int ret;

	if (!cfg) {
		fprintf(stderr, "aw-azure-emulator: --config %s: %s\n", path,
			json_util_get_last_err());
		return -1;
	}
	ret = aw_emu_config_merge(st, cfg, err, sizeof(err));
	if (ret < 0)
		fprintf(stderr, "aw-azure-emulator: --config %s: %s\n", path, err);
	json_object_put(cfg);
	return ret;
}

int main(int argc, char **argv)
{
	struct aw_emu_args args = {0};
	struct aw_emu_state st;
	struct MHD_Daemon *mhd = NULL;
	sigset_t sigs;
	char err[256];
	int fd = -1, sig = 0, status = 2;

	status = parse_args(argc, argv, &args);
	if (status != 0)
		return status < 0 ? 2 : 0;
	status = 2;
	if (aw_emu_state_init(&st, err, sizeof(err)) < 0) {
		fprintf(stderr, "aw-azure-emulator: %s\n", err);
		return 2;
	}
	st.verbose = args.verbose;
	if (args.config && load_config(&st, args.config) < 0)
		goto out;
	/* Block the stop signals before MHD starts its threads, so they inherit the mask
	 * and only sigwait() below sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	fd = open_listener(args.listen, &st.port);
	if (fd < 0)
		goto out;
	mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO |
		(args.verbose ? MHD_USE_ERROR_LOG : 0),
	    0, NULL, NULL, aw_emu_on_access, &st, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_URI_LOG_CALLBACK, aw_emu_on_uri, &st, MHD_OPTION_NOTIFY_COMPLETED,
	    aw_emu_on_completed, &st, MHD_OPTION_CONNECTION_TIMEOUT, AW_EMU_CONN_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_LIMIT, AW_EMU_CONN_LIMIT, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)AW_EMU_CONN_MEMORY, MHD_OPTION_END);
	if (!mhd) {
		fprintf(stderr, "aw-azure-emulator: cannot start the HTTP server\n");
		close(fd);
		goto out;
	}
	if (args.port_file && write_port_file(args.port_file, st.port) < 0) {
		fprintf(stderr, "aw-azure-emulator: cannot write %s: %s\n", args.port_file,
			strerror(errno));
		goto out;
	}
	if (args.verbose)
		fprintf(stderr, "aw-azure-emulator: listening on %s (port %u)\n", args.listen,
			st.port);
	while (sigwait(&sigs, &sig) != 0)
		;
	if (args.verbose)
		fprintf(stderr, "aw-azure-emulator: signal %d, stopping\n", sig);
	status = 0;
out:
	atomic_store(&st.stopping, true);
	if (mhd)
		MHD_stop_daemon(mhd); /* joins every connection thread; closes fd */
	aw_emu_state_free(&st);
	return status;
}
