/* The real aiwatchd delivering to three destinations at once: out_file, out_kafka to a
 * librdkafka mock cluster and out_sentinel to the Azure emulator's Logs Ingestion API.
 * Killed with SIGKILL at random moments while a growing stream of events turns into
 * thousands of alerts, restarted each time, then run once more until every spool is
 * empty: every expected AlertId must then be at each destination (duplicates allowed,
 * each with the same AlertId). The mock cluster lives in this test process for the
 * whole test (the daemon, a separate process, reaches it over TCP); the emulator is a
 * child process. Also the delivery figures: alerts/s delivered to Kafka and to the
 * emulator with the spool on, and the spool's write amplification
 * (tests/bench/delivery.sh runs that part alone, at a larger size). */
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../unit/testutil.h"

/* Sanitizer builds run several times slower: the same test with fewer events. */
#if defined(__SANITIZE_ADDRESS__)
#define AW_SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AW_SLOW_BUILD 1
#endif
#endif

#define ROUNDS 24 /* kill -9 this many times */
/* Each run is killed at a random moment in [0, KILL_WITHIN_MS): out_kafka's first
 * delivery comes about a second after the start (the producer's connection and id), so
 * the window spans the start, delivery to all three destinations, and idle time. */
#ifdef AW_SLOW_BUILD
#define EVENTS_PER_ROUND 250
#define KILL_WITHIN_MS	 2500
#define DRAIN_MS	 180000
#define BENCH_EVENTS	 4000
#else
#define EVENTS_PER_ROUND 500
#define KILL_WITHIN_MS	 2500
#define DRAIN_MS	 60000
#define BENCH_EVENTS	 20000
#endif
#define ALERT_ID_LEN 32

#define TENANT	      "00000000-0000-0000-0000-0000000000aa"
#define CLIENT_SECRET "crash-test-client-secret"
#define DCR	      "dcr-c0a1e5ce0000400080000000000000de"
#define STREAM	      "Custom-AIWatchAlerts_CL"
#define TOPIC	      "alerts"
/* The mock broker keeps at most 5 MB per partition and drops the oldest beyond it (a
 * loss the test would blame on the daemon): enough partitions that the crash test's
 * volume, duplicates included, fits. kafka_ids() checks that nothing was dropped. */
#define BROKERS	   3
#define PARTITIONS 16

enum { OUT_FILE = 1, OUT_KAFKA = 2, OUT_SENTINEL = 4 };

/* Fires once per event: one alert per event, its AlertId fixed by the event's _ItemId. */
static const char crash_rule[] = "title: Delivery crash test\n"
				 "id: 5a5a5a5a-0000-4000-8000-0000000dc0de\n"
				 "status: test\n"
				 "level: low\n"
				 "logsource: {product: azure, service: keyvault}\n"
				 "detection:\n  sel: {OperationName: SecretGet}\n  condition: sel\n";

/* app1 may publish to the DCR's stream. The rate limit is raised: a 429 would make the
 * daemon wait out the rest of a 60 s window, which this test has no time for (the
 * unit test of out_sentinel covers 429). */
static const char emu_config[] =
    "{\"tenant_id\":\"" TENANT "\","
    "\"clients\":[{\"client_id\":\"app1\",\"client_secret\":\"" CLIENT_SECRET "\"}],"
    "\"ingestion\":{\"dcrs\":{\"" DCR "\":{\"streams\":[\"" STREAM "\"],"
    "\"principals\":[\"app1\"],\"requests_per_window\":10000000}}}}";

static const char *const out_names[] = {"file", "kafka", "sentinel"};

/* --- the mock Kafka cluster, owned by this process ---------------------------------- */

struct mock {
	rd_kafka_t *rk; /* a handle only to own the cluster */
	rd_kafka_mock_cluster_t *mc;
	char bootstraps[256];
};

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

static void mock_start(struct mock *m)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char err[256];

	rd_kafka_conf_set_log_cb(c, quiet_log);
	m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
	ck_assert_msg(m->rk, "%s", err);
	m->mc = rd_kafka_mock_cluster_new(m->rk, BROKERS);
	ck_assert_ptr_nonnull(m->mc);
	snprintf(m->bootstraps, sizeof m->bootstraps, "%s",
		 rd_kafka_mock_cluster_bootstraps(m->mc));
	ck_assert_int_eq(rd_kafka_mock_topic_create(m->mc, TOPIC, PARTITIONS, 1), 0);
}

static void mock_stop(struct mock *m)
{
	rd_kafka_mock_cluster_destroy(m->mc);
	rd_kafka_destroy(m->rk);
}

/* --- the test's files, emulator and cluster ------------------------------------------ */

struct env {
	char *dir, *input, *out, *config, *rules, *secret;
	int outputs; /* OUT_* */
	struct aw_test_emu emu;
	struct mock mock;
};

static void env_init(struct env *e, int outputs, const char *pipeline_extra)
{
	char *yaml, *file_out = NULL, *kafka_out = NULL, *sentinel_out = NULL;

	memset(e, 0, sizeof *e);
	e->outputs = outputs;
	e->dir = aw_test_tmpdir();
	ck_assert_int_ge(asprintf(&e->input, "%s/input.jsonl", e->dir), 0);
	ck_assert_int_ge(asprintf(&e->out, "%s/alerts.jsonl", e->dir), 0);
	ck_assert_int_ge(asprintf(&e->config, "%s/aiwatchd.yaml", e->dir), 0);
	ck_assert_int_ge(asprintf(&e->rules, "%s/rules", e->dir), 0);
	ck_assert_int_eq(mkdir(e->rules, 0700), 0);
	free(aw_test_write(e->rules, "crash.yml", crash_rule, 0600));
	free(aw_test_write(NULL, e->input, "", 0600));
	e->secret = aw_test_write(e->dir, "client-secret", CLIENT_SECRET "\n", 0600);
	mock_start(&e->mock);
	aw_test_emu_start(&e->emu, emu_config);

	ck_assert_int_ge(asprintf(&file_out,
				  "  - type: file\n    name: file\n    path: %s\n",
				  e->out),
			 0);
	ck_assert_int_ge(asprintf(&kafka_out,
				  "  - type: kafka\n    name: kafka\n    brokers: %s\n"
				  "    topic: " TOPIC "\n",
				  e->mock.bootstraps),
			 0);
	ck_assert_int_ge(asprintf(&sentinel_out,
				  "  - type: sentinel\n    name: sentinel\n    endpoint: %s\n"
				  "    dcr_immutable_id: " DCR "\n    stream: " STREAM "\n",
				  e->emu.base),
			 0);
	ck_assert_int_ge(asprintf(&yaml,
				  "log:\n  level: info\n"
				  "state_directory: %s/state\n"
				  "http_listen: 127.0.0.1:0\n"
				  "shutdown_timeout: 20s\n"
				  "azure:\n"
				  "  insecure_http_for_tests: true\n"
				  "  credential:\n"
				  "    kind: client_secret\n"
				  "    tenant_id: " TENANT "\n"
				  "    client_id: app1\n"
				  "    client_secret: {file: %s}\n"
				  "    authority_host: %s\n"
				  "pipeline:\n"
				  "  retry_initial: 20ms\n"
				  "  retry_max: 1s\n%s"
				  "rules:\n  paths: [%s]\n"
				  "inputs:\n"
				  "  - type: file\n    name: in\n    paths: [%s]\n"
				  "    poll_interval: 20ms\n"
				  "outputs:\n%s%s%s",
				  e->dir, e->secret, e->emu.base, pipeline_extra, e->rules, e->input,
				  outputs & OUT_FILE ? file_out : "", outputs & OUT_KAFKA ? kafka_out : "",
				  outputs & OUT_SENTINEL ? sentinel_out : ""),
			 0);
	free(aw_test_write(NULL, e->config, yaml, 0600));
	free(yaml);
	free(file_out);
	free(kafka_out);
	free(sentinel_out);
}

static void env_free(struct env *e)
{
	aw_test_emu_stop(&e->emu);
	mock_stop(&e->mock);
	aw_test_rmtree(e->dir);
	free(e->dir);
	free(e->input);
	free(e->out);
	free(e->config);
	free(e->rules);
	free(e->secret);
}

static void append_events(const char *path, unsigned from, unsigned n)
{
	FILE *f = fopen(path, "a");

	ck_assert_ptr_nonnull(f);
	for (unsigned i = from; i < from + n; i++)
		fprintf(f,
			"{\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":\"2026-11-29T04:%02u:%02u."
			"000Z\",\"ResourceProvider\":\"MICROSOFT.KEYVAULT\",\"Category\":\"AuditEvent\","
			"\"OperationName\":\"SecretGet\",\"ResultType\":\"Success\",\"Resource\":"
			"\"KV-DELIVERY\",\"identity_claim_oid_g\":\"oid-%u\",\"_ItemId\":\"dc-%u\"}\n",
			(i / 60) % 60, i % 60, i % 97, i);
	ck_assert_int_eq(fclose(f), 0);
}

static char *log_path(const struct env *e, const char *what, int run)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s-%02d.log", e->dir, what, run), 0);
	return p;
}

static void start(struct aw_test_daemon *d, const struct env *e, const char *what, int run)
{
	const char *args[] = {"--config", e->config, NULL};
	char *lp = log_path(e, what, run);

	aw_test_daemon_start(d, lp, args);
	free(lp);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* --- AlertId sets ---------------------------------------------------------------------- */

struct ids {
	char (*v)[ALERT_ID_LEN + 1];
	size_t n, cap;
};

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Add every AlertId found in text[0..len) (a record cut short contributes nothing). */
static void scan_ids(const char *text, size_t len, struct ids *ids)
{
	static const char key[] = "\"AlertId\":\"";
	const char *p = text, *end = text + len;

	while ((p = memmem(p, (size_t)(end - p), key, sizeof key - 1)) != NULL) {
		p += sizeof key - 1;
		if ((size_t)(end - p) <= ALERT_ID_LEN ||
		    strspn(p, "0123456789abcdef") < ALERT_ID_LEN || p[ALERT_ID_LEN] != '"')
			continue;
		if (ids->n == ids->cap) {
			ids->cap = ids->cap ? ids->cap * 2 : 4096;
			ids->v = realloc(ids->v, ids->cap * sizeof *ids->v);
			ck_assert_ptr_nonnull(ids->v);
		}
		memcpy(ids->v[ids->n], p, ALERT_ID_LEN);
		ids->v[ids->n][ALERT_ID_LEN] = '\0';
		ids->n++;
	}
}

static void sort_ids(struct ids *ids)
{
	if (ids->n)
		qsort(ids->v, ids->n, sizeof *ids->v, cmp_id);
}

/* Every AlertId in a file (out_file's JSON lines), sorted, duplicates kept. */
static void file_ids(const char *path, struct ids *ids)
{
	size_t len = 0;
	char *text = aw_test_read(path, &len);

	ids->n = 0;
	if (text)
		scan_ids(text, len, ids);
	free(text);
	sort_ids(ids);
}

struct tally {
	size_t lost, dup, unexpected;
};

/* Expected ids missing from got (lost), surplus copies (duplicated), and ids nobody
 * expected (unexpected: a failure of its own). Both sorted. */
static struct tally compare(const char *dest, const struct ids *want, const struct ids *got,
			    bool quiet)
{
	struct tally t = {0};
	size_t i = 0, j = 0;

	while (i < want->n || j < got->n) {
		int c = i == want->n ? 1 : j == got->n ? -1 : strcmp(want->v[i], got->v[j]);
		if (c < 0) {
			if (!quiet && t.lost < 5)
				fprintf(stderr, "%s: lost AlertId %s\n", dest, want->v[i]);
			t.lost++;
			i++;
		} else if (c > 0) {
			if (!quiet && t.unexpected < 5)
				fprintf(stderr, "%s: unexpected AlertId %s\n", dest, got->v[j]);
			t.unexpected++;
			j++;
		} else {
			j++;
			while (j < got->n && strcmp(got->v[j], want->v[i]) == 0) {
				t.dup++;
				j++;
			}
			i++;
		}
	}
	return t;
}

/* Run aiwatchd with args, stdout to out_path; returns its exit status. */
static int run_cmd(const char *const *args, const char *out_path)
{
	const char *bin = getenv("AIWATCHD");
	const char *argv[16] = {bin};
	size_t n = 1;
	int status;
	pid_t pid;

	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		FILE *o = freopen(out_path, "w", stdout);
		FILE *err = freopen("/dev/null", "w", stderr);
		if (!o || !err)
			_exit(127);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* What the events must give: `aiwatchd replay` of the same input with the same rules.
 * Returns the bytes of those alerts as JSON lines (what out_file would write). */
static size_t expected_ids(const struct env *e, struct ids *want)
{
	char *path, *out;
	size_t len = 0;
	const char *args[] = {"replay", "--rules", e->rules, "--format", "jsonl", e->input, NULL};

	ck_assert_int_ge(asprintf(&path, "%s/expected.jsonl", e->dir), 0);
	ck_assert_int_eq(run_cmd(args, path), 0);
	out = aw_test_read(path, &len);
	ck_assert_ptr_nonnull(out);
	want->n = 0;
	scan_ids(out, len, want);
	sort_ids(want);
	for (size_t i = 1; i < want->n; i++)
		ck_assert_msg(strcmp(want->v[i - 1], want->v[i]) != 0, "replay repeated an AlertId");
	free(out);
	unlink(path);
	free(path);
	return len;
}

/* --- reading the destinations back ------------------------------------------------------ */

/* Every message of the topic, read from the beginning of each partition to its end. */
static void kafka_ids(const struct mock *m, struct ids *ids, size_t *messages)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTITIONS);
	bool eof[PARTITIONS] = {false};
	int at_end = 0;
	int64_t total = 0;
	char err[256];
	rd_kafka_t *rk;
	struct timespec t0;

	ids->n = 0;
	*messages = 0;
	rd_kafka_conf_set_log_cb(c, quiet_log);
	ck_assert_int_eq(rd_kafka_conf_set(c, "bootstrap.servers", m->bootstraps, err, sizeof err),
			 0);
	ck_assert_int_eq(rd_kafka_conf_set(c, "group.id", "crash-reader", err, sizeof err), 0);
	ck_assert_int_eq(rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err), 0);
	ck_assert_int_eq(rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof err), 0);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
	ck_assert_msg(rk, "%s", err);
	for (int p = 0; p < PARTITIONS; p++) {
		int64_t lo = -1, hi = -1;
		ck_assert_int_eq(rd_kafka_query_watermark_offsets(rk, TOPIC, p, &lo, &hi, 10000),
				 RD_KAFKA_RESP_ERR_NO_ERROR);
		ck_assert_msg(lo == 0,
			      "the mock cluster dropped the oldest %lld messages of partition %d "
			      "(its 5 MB per partition limit): raise PARTITIONS",
			      (long long)lo, p);
		total += hi;
		rd_kafka_topic_partition_list_add(parts, TOPIC, p)->offset =
		    RD_KAFKA_OFFSET_BEGINNING;
	}
	ck_assert_int_eq(rd_kafka_assign(rk, parts), 0);
	rd_kafka_topic_partition_list_destroy(parts);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (at_end < PARTITIONS && seconds_since(&t0) < 60) {
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
		if (!msg)
			continue;
		if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (msg->partition >= 0 && msg->partition < PARTITIONS &&
			    !eof[msg->partition]) {
				eof[msg->partition] = true;
				at_end++;
			}
		} else if (!msg->err) {
			scan_ids(msg->payload, msg->len, ids);
			(*messages)++;
		}
		rd_kafka_message_destroy(msg);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	ck_assert_msg(at_end == PARTITIONS, "only %d of %d partitions read to their end", at_end,
		      PARTITIONS);
	ck_assert_msg((int64_t)*messages == total, "read %zu messages of %lld in the topic",
		      *messages, (long long)total);
	sort_ids(ids);
}

struct buf {
	char *p;
	size_t n, cap;
};

static size_t buf_write(char *data, size_t sz, size_t nm, void *ud)
{
	struct buf *b = ud;
	size_t add = sz * nm;

	if (b->n + add + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1 << 20;
		while (cap < b->n + add + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np)
			return 0;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, data, add);
	b->n += add;
	b->p[b->n] = '\0';
	return add;
}

/* GET a control route of the emulator; the body can be tens of MB (every stored row),
 * more than aw_test_emu_call's 10 s allow under a sanitizer. */
static char *emu_get(const struct aw_test_emu *emu, const char *path, size_t *len)
{
	CURL *c = curl_easy_init();
	struct buf b = {0};
	char url[512];
	long st = 0;

	ck_assert_ptr_nonnull(c);
	snprintf(url, sizeof url, "%s%s", emu->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	curl_easy_cleanup(c);
	ck_assert_int_eq(st, 200);
	ck_assert_ptr_nonnull(b.p);
	*len = b.n;
	return b.p;
}

/* The rows the emulator stored for the DCR's stream (duplicates included). */
static void sentinel_ids(const struct env *e, struct ids *ids)
{
	size_t len;
	char *rows = emu_get(&e->emu, "/_emulator/ingested?dcr=" DCR "&stream=" STREAM, &len);

	ids->n = 0;
	scan_ids(rows, len, ids);
	free(rows);
	sort_ids(ids);
}

/* --- the daemon's metrics ---------------------------------------------------------------- */

/* Value of a series in a /metrics body, or -1. */
static double series(const char *body, const char *name, const char *output)
{
	char want[160];
	size_t wl;

	if (output)
		snprintf(want, sizeof want, "%s{output=\"%s\"} ", name, output);
	else
		snprintf(want, sizeof want, "%s ", name);
	wl = strlen(want);
	for (const char *line = body; line && *line;) {
		if (strncmp(line, want, wl) == 0)
			return strtod(line + wl, NULL);
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -1;
}

static double metric(unsigned port, const char *name, const char *output)
{
	char *body = NULL;
	double v = -1;

	if (aw_test_http_get(port, "/metrics", &body) == 200)
		v = series(body, name, output);
	free(body);
	return v;
}

/* Every configured output has nothing left: spool and pipeline queue empty. *events is
 * the input's event count this run (to tell "idle" from "between two reads"). */
static bool drained(const struct env *e, unsigned port, double *events)
{
	char *body = NULL;
	bool done = aw_test_http_get(port, "/metrics", &body) == 200;

	*events = done ? series(body, "aiwatch_events_total", "in") : -1;
	for (int k = 0; done && k < 3; k++) {
		if (!(e->outputs & (1 << k)))
			continue;
		done = series(body, "aiwatch_spool_records", out_names[k]) == 0 &&
		       series(body, "aiwatch_output_pending_records", out_names[k]) == 0;
	}
	free(body);
	return done;
}

static void print_backlog(const struct env *e, unsigned port)
{
	char *body = NULL;

	if (aw_test_http_get(port, "/metrics", &body) != 200) {
		free(body);
		return;
	}
	for (int k = 0; k < 3; k++)
		if (e->outputs & (1 << k))
			fprintf(stderr, "%s: spool_records=%.0f pending=%.0f retries=%.0f\n",
				out_names[k], series(body, "aiwatch_spool_records", out_names[k]),
				series(body, "aiwatch_output_pending_records", out_names[k]),
				series(body, "aiwatch_output_retries_total", out_names[k]));
	free(body);
}

/* --- the crash test ----------------------------------------------------------------------- */

/* Just before a kill: count, per output, whether this run had delivered anything yet
 * (so the kills are seen to land during delivery, not only during start). */
static void peek_delivered(const struct env *e, const struct aw_test_daemon *d, int hits[3])
{
	char *log = aw_test_read(d->log_path, NULL), *p, *body = NULL;
	unsigned port;

	p = log ? strstr(log, "metrics server listening") : NULL;
	p = p ? strstr(p, "port=") : NULL;
	port = p ? (unsigned)strtoul(p + 5, NULL, 10) : 0;
	free(log);
	if (!port || aw_test_http_get(port, "/metrics", &body) != 200) {
		free(body);
		return;
	}
	for (int k = 0; k < 3; k++)
		if ((e->outputs & (1 << k)) &&
		    series(body, "aiwatch_output_delivered_total", out_names[k]) > 0)
			hits[k]++;
	free(body);
}

/* Run until the input is idle, every spool is empty and the file has every expected
 * alert (or DRAIN_MS), then SIGTERM: the stop drains what is in flight. */
static void final_run(const struct env *e, int run, const struct ids *want)
{
	struct aw_test_daemon d;
	struct ids got = {0};
	double events = -1, last_events = -2;
	int quiet = 0;
	bool done = false;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	start(&d, e, "final", run);
	aw_test_daemon_port(&d);
	while (!done && seconds_since(&t0) * 1000 < DRAIN_MS) {
		aw_test_sleep_ms(200);
		if (!drained(e, d.port, &events) || events != last_events) {
			quiet = 0;
			last_events = events;
			continue;
		}
		/* three quiet polls in a row: not just a pause between two reads */
		if (++quiet < 3)
			continue;
		file_ids(e->out, &got);
		done = compare("file", want, &got, true).lost == 0;
	}
	if (!done)
		print_backlog(e, d.port);
	printf("final run: drained=%s in %.1f s\n", done ? "yes" : "NO", seconds_since(&t0));
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 30000), 0);
	aw_test_daemon_free(&d);
	free(got.v);
}

static struct tally report(const char *dest, const struct ids *want, const struct ids *got)
{
	struct tally t = compare(dest, want, got, false);

	printf("%-8s lost=%zu duplicated=%zu (expected=%zu received=%zu unexpected=%zu)\n", dest,
	       t.lost, t.dup, want->n, got->n, t.unexpected);
	return t;
}

START_TEST(kill9_with_file_kafka_and_sentinel_loses_nothing)
{
	struct env e;
	struct ids want = {0}, got = {0};
	struct aw_test_daemon d;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	struct tally t[3];
	size_t messages;
	long st;
	int kills = 0, hits[3] = {0};
	struct timespec t0;
	char *stats;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* A small memory cache and small segments: backlogs are read back from disk and
	 * segments roll and get deleted while the kills happen. */
	env_init(&e, OUT_FILE | OUT_KAFKA | OUT_SENTINEL,
		 "  max_queue_bytes: 1MiB\n  spool_segment_bytes: 64KiB\n");
	append_events(e.input, 0, ROUNDS * EVENTS_PER_ROUND);
	expected_ids(&e, &want);
	ck_assert_uint_eq(want.n, ROUNDS * EVENTS_PER_ROUND);
	free(aw_test_write(NULL, e.input, "", 0600));
	printf("delivery crash test: seed=%u, %d kills, %zu alerts to file, kafka (%s), "
	       "sentinel (%s)\n",
	       seed, ROUNDS, want.n, e.mock.bootstraps, e.emu.base);
	fflush(stdout);
	srand(seed);

	/* The stream grows while the daemon is killed at random: during start (token,
	 * broker connection), reading, spooling, delivering, or idle. */
	for (int round = 0; round < ROUNDS; round++) {
		append_events(e.input, (unsigned)round * EVENTS_PER_ROUND, EVENTS_PER_ROUND);
		start(&d, &e, "run", round);
		aw_test_sleep_ms(rand() % KILL_WITHIN_MS);
		peek_delivered(&e, &d, hits);
		int rc = aw_test_daemon_stop(&d, SIGKILL, 5000);
		if (rc != 128 + SIGKILL) {
			char *lp = log_path(&e, "run", round), *log = aw_test_read(lp, NULL);
			ck_abort_msg("run %d ended with %d before the kill; log:\n%s", round, rc,
				     log ? log : "");
		}
		kills++;
		aw_test_daemon_free(&d);
	}
	final_run(&e, ROUNDS, &want);

	file_ids(e.out, &got);
	t[0] = report("file", &want, &got);
	kafka_ids(&e.mock, &got, &messages);
	t[1] = report("kafka", &want, &got);
	sentinel_ids(&e, &got);
	t[2] = report("sentinel", &want, &got);
	stats = aw_test_emu_call(&e.emu, "GET", "/_emulator/ingested/stats", NULL, &st);
	printf("kills=%d (runs that had delivered before their kill: file %d, kafka %d, "
	       "sentinel %d), kafka messages=%zu, emulator %s, %.1f s\n",
	       kills, hits[0], hits[1], hits[2], messages, stats ? stats : "?",
	       seconds_since(&t0));
	fflush(stdout);
	free(stats);
	ck_assert_int_ge(kills, 20);
	for (int k = 0; k < 3; k++) {
		ck_assert_msg(t[k].lost == 0, "%s: lost=%zu duplicated=%zu", out_names[k],
			      t[k].lost, t[k].dup);
		ck_assert_msg(t[k].unexpected == 0, "%s: %zu unexpected AlertIds", out_names[k],
			      t[k].unexpected);
	}

	/* The last, clean run: no errors, nothing left in any spool. */
	char *lp = log_path(&e, "final", ROUNDS), *log = aw_test_read(lp, NULL);
	ck_assert_msg(!strstr(log, "level=error"), "%s", log);
	ck_assert_msg(strstr(log, "all records delivered; stopping"), "%s", log);
	free(log);
	free(lp);
	free(want.v);
	free(got.v);
	env_free(&e);
}
END_TEST

/* --- the delivery figures ------------------------------------------------------------------ */

/* Not a pass/fail test (beyond everything arriving): one daemon per destination, started
 * and ready before the events are appended, so the time is delivery alone. $AW_BENCH_EVENTS
 * overrides the number of events (tests/bench/delivery.sh). */
static void measure(int output, unsigned events)
{
	const char *name = out_names[output == OUT_KAFKA ? 1 : 2];
	struct env e;
	struct ids want = {0};
	struct aw_test_daemon d;
	struct timespec t0;
	double delivered = 0, secs, spool_bytes, start_secs;
	size_t alert_bytes;
	char *stats = NULL;
	long st;

	env_init(&e, output, "");
	append_events(e.input, 0, events);
	alert_bytes = expected_ids(&e, &want);
	ck_assert_uint_eq(want.n, events);
	free(aw_test_write(NULL, e.input, "", 0600));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	start(&d, &e, name, 0);
	aw_test_daemon_port(&d);
	while (aw_test_http_get(d.port, "/readyz", NULL) != 200 && seconds_since(&t0) < 30)
		aw_test_sleep_ms(20);
	ck_assert_int_eq(aw_test_http_get(d.port, "/readyz", NULL), 200);
	start_secs = seconds_since(&t0);

	append_events(e.input, 0, events);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (seconds_since(&t0) < 300) {
		delivered = metric(d.port, "aiwatch_output_delivered_total", name);
		if (delivered >= events)
			break;
		aw_test_sleep_ms(10);
	}
	secs = seconds_since(&t0);
	ck_assert_msg(delivered >= events, "%s: %.0f of %u delivered in %.0f s", name, delivered,
		      events, secs);
	spool_bytes = metric(d.port, "aiwatch_spool_written_bytes_total", name);
	if (output == OUT_SENTINEL)
		stats = aw_test_emu_call(&e.emu, "GET", "/_emulator/ingested/stats", NULL, &st);
	ck_assert_int_eq(aw_test_daemon_stop(&d, SIGTERM, 30000), 0);
	aw_test_daemon_free(&d);
	ck_assert_double_gt(spool_bytes, 0);
	printf("delivery %s: %u alerts in %.2f s = %.0f alerts/s delivered (spool on, "
	       "fsync=batch; start to ready %.2f s); spool wrote %.0f bytes for %zu bytes of "
	       "alerts (JSON lines): write amplification %.3f%s%s\n",
	       name, events, secs, events / secs, start_secs, spool_bytes, alert_bytes,
	       spool_bytes / (double)alert_bytes, stats ? "; emulator " : "", stats ? stats : "");
	fflush(stdout);
	free(stats);
	free(want.v);
	env_free(&e);
}

static unsigned bench_events(void)
{
	const char *s = getenv("AW_BENCH_EVENTS");
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return BENCH_EVENTS;
	v = strtoull(s, &end, 10);
	ck_assert_msg(*end == '\0' && v > 0 && v <= 10000000, "AW_BENCH_EVENTS: '%s'", s);
	return (unsigned)v;
}

START_TEST(kafka_throughput_and_write_amplification)
{
	measure(OUT_KAFKA, bench_events());
}
END_TEST

START_TEST(sentinel_throughput_and_write_amplification)
{
	measure(OUT_SENTINEL, bench_events());
}
END_TEST

static Suite *delivery_crash_suite(void)
{
	Suite *s = suite_create("delivery_crash");
	TCase *crash = tcase_create("crash");
	TCase *bench = tcase_create("bench");

	tcase_set_timeout(crash, 280);
	tcase_add_test(crash, kill9_with_file_kafka_and_sentinel_loses_nothing);
	suite_add_tcase(s, crash);
	tcase_set_timeout(bench, 280);
	tcase_add_test(bench, kafka_throughput_and_write_amplification);
	tcase_add_test(bench, sentinel_throughput_and_write_amplification);
	suite_add_tcase(s, bench);
	return s;
}

AW_TEST_MAIN(delivery_crash_suite)
