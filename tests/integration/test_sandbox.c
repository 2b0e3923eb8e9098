/* The systemd unit's sandbox, option by option, against what aiwatchd needs.
 *
 * Where no systemd runs (containers, CI), `systemd-run -p ...` is not available, so
 * the options of the built unit (build/systemd/aiwatchd.service) are checked in two
 * ways:
 *   - statically, against the installed configuration: the paths it writes are the
 *     ones ProtectSystem=strict leaves writable (StateDirectory=, LogsDirectory=,
 *     ReadWritePaths=), none lies where ProtectHome= and PrivateTmp= hide things,
 *     TimeoutStopSec= leaves room for shutdown_timeout, reload is SIGHUP, the
 *     notification type is the daemon's;
 *   - at run time, the options a process can apply to itself are applied to aiwatchd
 *     before exec, as systemd would: NoNewPrivileges=, an empty
 *     CapabilityBoundingSet= (all capabilities dropped), UMask=,
 *     RestrictAddressFamilies= (a seccomp filter on socket() built from the unit's
 *     list), MemoryDenyWriteExecute= (prctl PR_SET_MDWE, Linux 6.3+; skipped with a
 *     message on older kernels). The daemon must then still write its state
 *     directory, reach the network (a Key Vault reference fetched from the Azure
 *     emulator over TCP), serve /metrics, use the notify socket, and evaluate a
 *     regex rule (PCRE2's JIT is refused writable-executable memory; the engine
 *     falls back to the interpreter).
 * SystemCallFilter=, the mount namespaces and MemoryMax= need systemd itself: they are
 * left to systemd-analyze (tests/operations/unit_security.sh). */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit/testutil.h"
#include "config.h"

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

#if defined(__x86_64__)
#define AW_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AW_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define TENANT	   "00000000-0000-0000-0000-0000000000aa"
#define CLIENT_SEC "cs-sandbox-secret-5d1c"
#define MAX_LINES  256

/* --- the unit ------------------------------------------------------------------------ */

struct unit {
	char *key[MAX_LINES];
	char *val[MAX_LINES];
	size_t n;
};

static void unit_load(struct unit *u)
{
	const char *b = getenv("AW_BUILDDIR");
	char *path, *text, *line;

	ck_assert_msg(b && *b, "AW_BUILDDIR is not set (run through meson test)");
	ck_assert_int_ge(asprintf(&path, "%s/systemd/aiwatchd.service", b), 0);
	text = aw_test_read(path, NULL);
	ck_assert_msg(text != NULL, "cannot read %s", path);
	memset(u, 0, sizeof *u);
	for (line = text; line && *line;) {
		char *nl = strchr(line, '\n'), *eq;
		if (nl)
			*nl = '\0';
		if (*line != '#' && *line != '[' && (eq = strchr(line, '=')) != NULL) {
			ck_assert_uint_lt(u->n, MAX_LINES);
			u->key[u->n] = strndup(line, (size_t)(eq - line));
			u->val[u->n++] = strdup(eq + 1);
		}
		line = nl ? nl + 1 : NULL;
	}
	free(text);
	free(path);
}

/* The last value of key (systemd: a later assignment wins), or NULL. */
static const char *unit_get(const struct unit *u, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < u->n; i++)
		if (strcmp(u->key[i], key) == 0)
			v = u->val[i];
	return v;
}

static void unit_free(struct unit *u)
{
	for (size_t i = 0; i < u->n; i++) {
		free(u->key[i]);
		free(u->val[i]);
	}
	u->n = 0;
}

static long long seconds_ms(const char *v)
{
	char *end;
	long long n = strtoll(v, &end, 10);

	if (strcmp(end, "s") == 0 || *end == '\0')
		return n * 1000;
	if (strcmp(end, "min") == 0 || strcmp(end, "m") == 0)
		return n * 60000;
	if (strcmp(end, "ms") == 0)
		return n;
	return -1;
}

static bool is(const char *v, const char *want)
{
	return v && strcmp(v, want) == 0;
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* --- static: the installed configuration inside the unit's filesystem view ------------ */

static struct aw_doc *installed_config(void)
{
	struct aw_error_list errs = {0};
	struct aw_doc *doc = NULL;
	char *path;

	ck_assert_int_ge(asprintf(&path, "%s/conf/aiwatchd.yaml", getenv("AW_BUILDDIR")), 0);
	ck_assert_msg(aw_doc_load_file(path, &doc, &errs) == 0, "%s: %s", path,
		      errs.n ? errs.msgs[0] : "");
	aw_error_list_free(&errs);
	free(path);
	return doc;
}

static const char *scalar(const struct aw_node *n)
{
	return n && n->kind == AW_NODE_SCALAR ? n->value : NULL;
}

START_TEST(unit_options_fit_the_installed_configuration)
{
	struct unit u;
	struct aw_doc *doc;
	char statedir[256], logsdir[256];
	const char *v, *state;
	const struct aw_node *outs, *ins, *rules;
	static const char *const hidden[] = {"/home", "/root",	  "/run/user",
					     "/tmp",  "/var/tmp", NULL};

	unit_load(&u);
	doc = installed_config();

	/* Type=notify: the daemon sends READY=1 (test_daemon) and WATCHDOG=1 (test_watchdog)
	 * from its main process */
	ck_assert_msg(is(unit_get(&u, "Type"), "notify"), "Type=notify");
	v = unit_get(&u, "NotifyAccess");
	ck_assert_msg(!v || strcmp(v, "main") == 0 || strcmp(v, "all") == 0,
		      "NotifyAccess=%s: the daemon notifies from its main process", v);
	ck_assert_msg(unit_get(&u, "WatchdogSec"), "WatchdogSec: the daemon pings its watchdog");
	v = unit_get(&u, "ExecReload");
	ck_assert_msg(v && strstr(v, "-HUP"), "ExecReload must send SIGHUP: %s", v ? v : "");

	/* ProtectSystem=strict: only StateDirectory, LogsDirectory and ReadWritePaths stay
	 * writable; the configuration must write nowhere else. */
	ck_assert_msg(is(unit_get(&u, "ProtectSystem"), "strict"), "ProtectSystem");
	ck_assert_msg(unit_get(&u, "StateDirectory"), "StateDirectory= is not set");
	snprintf(statedir, sizeof statedir, "/var/lib/%s", unit_get(&u, "StateDirectory"));
	snprintf(logsdir, sizeof logsdir, "/var/log/%s",
		 unit_get(&u, "LogsDirectory") ? unit_get(&u, "LogsDirectory") : "-");
	state = scalar(aw_node_get(doc->root, "state_directory"));
	ck_assert_msg(state && strcmp(state, statedir) == 0,
		      "state_directory %s is not StateDirectory= (%s)", state, statedir);
	ck_assert_str_eq(AW_DEFAULT_STATEDIR, statedir);
	outs = aw_node_get(doc->root, "outputs");
	for (size_t i = 0; outs && i < outs->n; i++) {
		const char *p = scalar(aw_node_get(outs->items[i], "path"));
		const char *rw = unit_get(&u, "ReadWritePaths");
		if (!p || strcmp(p, "-") == 0)
			continue;
		ck_assert_msg(under(p, statedir) || under(p, logsdir) || (rw && strstr(rw, p)),
			      "output %s is read-only under ProtectSystem=strict", p);
	}

	/* ProtectHome=, PrivateTmp=: nothing the daemon reads or writes lives there */
	ck_assert_msg(is(unit_get(&u, "ProtectHome"), "yes"), "ProtectHome=yes");
	ck_assert_msg(is(unit_get(&u, "PrivateTmp"), "yes"), "PrivateTmp=yes");
	ins = aw_node_get(doc->root, "inputs");
	rules = aw_node_get(aw_node_get(doc->root, "rules"), "paths");
	const struct aw_node *lists[16] = {rules};
	size_t nlists = 1;
	for (size_t i = 0; ins && i < ins->n && nlists < 16; i++)
		lists[nlists++] = aw_node_get(ins->items[i], "paths");
	for (size_t i = 0; outs && i < outs->n && nlists < 16; i++)
		lists[nlists++] = aw_node_get(outs->items[i], "path");
	for (size_t l = 0; l < nlists; l++) {
		const struct aw_node *ps = lists[l];
		size_t n = !ps ? 0 : ps->kind == AW_NODE_SEQ ? ps->n : 1;
		for (size_t i = 0; i < n; i++) {
			const char *p = ps->kind == AW_NODE_SEQ ? scalar(ps->items[i]) : ps->value;
			for (size_t h = 0; p && hidden[h]; h++)
				ck_assert_msg(!under(p, hidden[h]),
					      "%s is hidden from the service (%s)", p, hidden[h]);
		}
	}

	/* TimeoutStopSec= leaves the drain its shutdown_timeout */
	v = scalar(aw_node_get(doc->root, "shutdown_timeout"));
	ck_assert_msg(seconds_ms(v ? v : "30s") > 0, "shutdown_timeout %s: not a plain duration",
		      v);
	ck_assert_msg(unit_get(&u, "TimeoutStopSec") &&
			  seconds_ms(unit_get(&u, "TimeoutStopSec")) > seconds_ms(v ? v : "30s"),
		      "TimeoutStopSec=%s does not exceed shutdown_timeout %s",
		      unit_get(&u, "TimeoutStopSec"), v);

	/* the ones the run-time test applies must be there to be applied */
	ck_assert_msg(is(unit_get(&u, "NoNewPrivileges"), "yes"), "NoNewPrivileges");
	ck_assert_msg(unit_get(&u, "CapabilityBoundingSet") &&
			  !*unit_get(&u, "CapabilityBoundingSet"),
		      "CapabilityBoundingSet= must be empty");
	ck_assert_msg(unit_get(&u, "RestrictAddressFamilies"), "RestrictAddressFamilies");
	aw_doc_free(doc);
	unit_free(&u);
}
END_TEST

/* --- run time: the options applied to aiwatchd ------------------------------------- */

static int family_number(const char *name)
{
	static const struct {
		const char *name;
		int af;
	} map[] = {{"AF_UNIX", AF_UNIX},   {"AF_LOCAL", AF_UNIX},      {"AF_INET", AF_INET},
		   {"AF_INET6", AF_INET6}, {"AF_NETLINK", AF_NETLINK}, {"AF_PACKET", AF_PACKET}};

	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i].name, name) == 0)
			return map[i].af;
	return -1;
}

/* In the child, before exec: the families of RestrictAddressFamilies= as a seccomp
 * filter that fails socket() with EAFNOSUPPORT for any other family, as systemd's
 * does. Needs no_new_privs (set first). 0 or -1 (unsupported architecture). */
static int restrict_families(const int *af, size_t n)
{
#ifdef AW_AUDIT_ARCH
	struct sock_filter f[32];
	size_t k = 0;
	struct sock_fprog prog;

	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AW_AUDIT_ARCH, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, nr));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, args[0]));
	for (size_t i = 0; i < n && k < 28; i++)
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)af[i],
						      (unsigned char)(n - i), 0);
	f[k++] = (struct sock_filter)BPF_STMT(
	    BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EAFNOSUPPORT & SECCOMP_RET_DATA));
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog.len = (unsigned short)k;
	prog.filter = f;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
#else
	(void)af;
	(void)n;
	return -1;
#endif
}

/* CapabilityBoundingSet= (empty) and AmbientCapabilities= (empty): no capability in
 * any set, none obtainable. */
static int drop_capabilities(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	long last = 40;
	char *s = aw_test_read("/proc/sys/kernel/cap_last_cap", NULL);

	if (s) {
		last = strtol(s, NULL, 10);
		free(s);
	}
	/* root: what execve would grant comes from the bounding set, so empty it;
	 * another user holds no capability to begin with */
	for (long c = 0; geteuid() == 0 && c <= last; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
			return -1;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(d, 0, sizeof d);
	return (int)syscall(SYS_capset, &h, d);
}

struct sandbox {
	int families[8];
	size_t nfamilies;
	bool mdwe;    /* MemoryDenyWriteExecute=yes and the kernel can apply it */
	mode_t umask; /* UMask= */
};

/* Runs in the forked child: apply, verify each took effect (a sandbox that silently
 * did nothing would prove nothing), exec. Exit codes 120+ name what failed. */
static void sandboxed_exec(const struct sandbox *sb, const char *log, const char *const *argv)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int nul = open("/dev/null", O_RDWR);
	int probe;

	if (fd < 0 || nul < 0)
		_exit(127);
	dup2(fd, 2);
	dup2(nul, 0);
	dup2(nul, 1);
	umask(sb->umask);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		_exit(120);
	if (drop_capabilities() != 0)
		_exit(121);
	if (sb->mdwe) {
		if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0)
			_exit(122);
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED)
			_exit(123); /* not in force */
	}
	if (restrict_families(sb->families, sb->nfamilies) != 0)
		_exit(124);
	probe = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (probe >= 0 || errno != EAFNOSUPPORT)
		_exit(125); /* the filter lets other families through */
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

static bool kernel_has_mdwe(void)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) == 0 ? 0 : 1);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A regex rule (PCRE2) and a record it matches. */
static const char *regex_rule = "title: Sandbox regex probe\n"
				"id: 5b0c8f0e-7d1c-4c44-9a55-0d1f6b7e2a11\n"
				"status: test\n"
				"level: low\n"
				"logsource:\n  product: azure\n  service: openai\n"
				"detection:\n"
				"  selection:\n"
				"    OperationName|re: '^Chat(Completions)?_Cre[a-z]+$'\n"
				"  condition: selection\n";

static const char *regex_record =
    "{\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":\"2026-11-29T10:00:00.000Z\","
    "\"_ItemId\":\"sandbox-1\",\"ResourceProvider\":\"MICROSOFT.COGNITIVESERVICES\","
    "\"Category\":\"RequestResponse\",\"OperationName\":\"ChatCompletions_Create\","
    "\"ResultSignature\":\"200\"}\n";

START_TEST(daemon_runs_inside_the_sandbox)
{
	struct unit u;
	struct sandbox sb = {.umask = 077};
	struct aw_test_emu e;
	struct aw_test_daemon d = {0};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *dir = aw_test_tmpdir(), *cfg, *text, *logp, *alerts, *sock, *log, *secret;
	char buf[512];
	const char *fam, *mdwe, *um;
	int nfd;
	bool ready = false;
	struct stat st;

	unit_load(&u);
	/* the unit's own values */
	fam = unit_get(&u, "RestrictAddressFamilies");
	ck_assert_ptr_nonnull(fam);
	for (const char *t = fam; *t;) {
		size_t len = strcspn(t, " ");
		char name[32];
		if (len) {
			snprintf(name, sizeof name, "%.*s", (int)len, t);
			int af = family_number(name);
			ck_assert_msg(af >= 0, "RestrictAddressFamilies: %s not known to this test",
				      name);
			ck_assert_uint_lt(sb.nfamilies, 8);
			sb.families[sb.nfamilies++] = af;
		}
		t += len;
		t += strspn(t, " ");
	}
	um = unit_get(&u, "UMask");
	if (um)
		sb.umask = (mode_t)strtol(um, NULL, 8);
	mdwe = unit_get(&u, "MemoryDenyWriteExecute");
	sb.mdwe = mdwe && strcmp(mdwe, "yes") == 0 && kernel_has_mdwe();
	if (mdwe && strcmp(mdwe, "yes") == 0 && !sb.mdwe)
		printf("kernel without PR_SET_MDWE: MemoryDenyWriteExecute not applied\n");
#ifndef AW_AUDIT_ARCH
	printf("no seccomp filter for this architecture: RestrictAddressFamilies not applied\n");
	sb.nfamilies = 0;
#endif

	/* notify socket, as systemd gives Type=notify services */
	ck_assert_int_ge(asprintf(&sock, "%s/notify", dir), 0);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	ck_assert_int_eq(bind(nfd, (struct sockaddr *)&sa, sizeof sa), 0);
	setenv("NOTIFY_SOCKET", sock, 1);

	/* the network: the daemon's identity and a Key Vault reference, from the emulator */
	aw_test_emu_start(&e, "{\"tenant_id\":\"" TENANT "\","
			      "\"clients\":[{\"client_id\":\"app1\",\"client_secret\":\"" CLIENT_SEC
			      "\"}],\"keyvault\":{\"kv-sandbox\":{\"kafka-password\":\"pw-77\"}}}");
	secret = aw_test_write(dir, "client-secret", CLIENT_SEC "\n", 0600);
	free(aw_test_write(dir, "rule.yml", regex_rule, 0600));
	free(aw_test_write(dir, "in.jsonl", regex_record, 0600));
	ck_assert_int_ge(asprintf(&alerts, "%s/alerts.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&logp, "%s/daemon.log", dir), 0);
	ck_assert_int_ge(
	    asprintf(&text,
		     "state_directory: %s/state\n"
		     "http_listen: 127.0.0.1:0\n"
		     "shutdown_timeout: 3s\n"
		     "azure:\n"
		     "  insecure_http_for_tests: true\n"
		     "  keyvault_endpoint: %s/kv/{vault}\n"
		     "  credential:\n"
		     "    kind: client_secret\n"
		     "    tenant_id: " TENANT "\n"
		     "    client_id: app1\n"
		     "    client_secret: {file: %s}\n"
		     "    authority_host: %s\n"
		     "rules: {paths: [%s/rule.yml]}\n"
		     "inputs:\n"
		     "  - type: file\n    name: in\n    paths: [%s/in.jsonl]\n"
		     "outputs:\n"
		     "  - type: file\n    name: alerts\n    path: %s\n"
		     "  - type: kafka\n    name: siem\n    brokers: 127.0.0.1:9\n"
		     "    topic: alerts\n"
		     "    rdkafka: [security.protocol=SASL_PLAINTEXT, sasl.mechanism=PLAIN,"
		     " sasl.username=aiwatch]\n"
		     "    rdkafka_secrets:\n"
		     "      sasl.password: keyvault://kv-sandbox/kafka-password\n",
		     dir, e.base, secret, e.base, dir, dir, alerts),
	    0);
	cfg = aw_test_write(dir, "aiwatchd.yaml", text, 0600);

	const char *argv[] = {getenv("AIWATCHD"), "--config", cfg, NULL};
	d.log_path = strdup(logp);
	d.pid = fork();
	ck_assert_int_ge(d.pid, 0);
	if (d.pid == 0)
		sandboxed_exec(&sb, logp, argv);

	/* notify socket usable */
	for (int waited = 0; waited < 20000 && !ready; waited += 100) {
		struct pollfd p = {.fd = nfd, .events = POLLIN};
		if (poll(&p, 1, 100) > 0) {
			ssize_t r = recv(nfd, buf, sizeof buf - 1, 0);
			if (r > 0) {
				buf[r] = '\0';
				ready = strstr(buf, "READY=1") != NULL;
			}
		}
	}
	if (!ready) {
		/* did the sandbox itself fail (exit codes of sandboxed_exec)? */
		static const char *const steps[] = {
		    "no_new_privs",	  "dropping capabilities",
		    "PR_SET_MDWE",	  "PR_SET_MDWE not in force (an RWX mapping succeeded)",
		    "the seccomp filter", "the seccomp filter lets AF_NETLINK through"};
		int status = 0;
		if (waitpid(d.pid, &status, WNOHANG) == d.pid) {
			d.pid = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) >= 120 &&
			    WEXITSTATUS(status) <= 125)
				ck_abort_msg("setting up the sandbox failed: %s",
					     steps[WEXITSTATUS(status) - 120]);
			log = aw_test_read(logp, NULL);
			ck_abort_msg("aiwatchd ended inside the sandbox (status 0x%x); log:\n%s",
				     (unsigned)status, log ? log : "");
		}
	}
	log = aw_test_read(logp, NULL);
	ck_assert_msg(ready, "no READY=1 on the notify socket inside the sandbox; log:\n%s",
		      log ? log : "");
	free(log);
	/* network reachable: the reference was fetched with a token, over TCP */
	ck_assert_msg(aw_test_wait_log(&d, "Key Vault references resolved", 10000),
		      "no Key Vault resolution inside the sandbox");
	/* listening works: /metrics */
	unsigned port = aw_test_daemon_port(&d);
	ck_assert_double_ge(aw_test_metric(port, "aiwatch_rules_loaded"), 1);
	/* the regex rule fires: PCRE2 without JIT under MemoryDenyWriteExecute */
	ck_assert_msg(aw_test_wait_lines(alerts, 1, 15000) >= 1,
		      "the regex rule raised no alert inside the sandbox");
	/* the state directory was written, private to the service (UMask=) */
	char *inputs;
	ck_assert_int_ge(asprintf(&inputs, "%s/state/inputs", dir), 0);
	ck_assert_msg(stat(inputs, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 077) == 0,
		      "state directory %s missing or open to others", inputs);
	ck_assert_msg(stat(alerts, &st) == 0 && (st.st_mode & 077) == 0, "alerts file mode %o",
		      st.st_mode & 0777);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 20000), 0);
	log = aw_test_read(logp, NULL);
	ck_assert_msg(strstr(log, CLIENT_SEC) == NULL, "client secret in the log");
	free(log);

	unsetenv("NOTIFY_SOCKET");
	close(nfd);
	aw_test_daemon_free(&d);
	aw_test_emu_stop(&e);
	aw_test_rmtree(dir);
	free(inputs);
	free(dir);
	free(cfg);
	free(text);
	free(logp);
	free(alerts);
	free(sock);
	free(secret);
	unit_free(&u);
}
END_TEST

static Suite *sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("unit");

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, unit_options_fit_the_installed_configuration);
	tcase_add_test(tc, daemon_runs_inside_the_sandbox);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(sandbox_suite)
