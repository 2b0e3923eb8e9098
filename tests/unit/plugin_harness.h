/* Driving a plugin without the daemon: what aiwatchd would set up around an input, for
 * the Check tests of the inputs (and of what they are built on).
 *
 *   - the test's scratch directory: a state directory and the log file aw_log writes to;
 *   - a harness: a loop with its metrics, the Azure services (the daemon's HTTP client
 *     and credential, against the emulator), an engine and a pipeline that holds the
 *     input under test (configured from YAML) and an output that captures every
 *     record delivered to it;
 *   - running the loop until something happened, or for a while;
 *   - the emulator's configuration for the identity the harness signs in with.
 *
 * A test process drives one input at a time, so the scratch directory and the capture
 * are one each (aw_test_tmp, aw_test_cap), made fresh for every test of a TCase given
 * aw_test_harness_fixture: Check's fixtures take no argument. Everything here asserts
 * (Check) on failure: a test that could not set up its plugin proves nothing. */
#ifndef AW_PLUGIN_HARNESS_H
#define AW_PLUGIN_HARNESS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "azure.h"
#include "config.h"
#include "engine.h"
#include "pipeline.h"
#include "testutil.h"

/* --- the test's scratch directory and capture ------------------------------------- */

struct aw_test_scratch {
	char *dir;	/* removed, with all in it, after the test */
	char *statedir; /* dir/state, the pipeline's; created empty */
	char *logpath;	/* dir/log.txt: aw_log writes here during the test */
	int logfd;
};

/* More records than any test delivers: a runaway input fails the test here. */
#define AW_TEST_CAPTURE_MAX 4096

/* What the capturing output was given. */
struct aw_test_capture {
	char *recs[AW_TEST_CAPTURE_MAX]; /* each record's text, in delivery order */
	size_t n;
	bool hold;  /* capture but never confirm: the records are never durable */
	int tee_fd; /* when > 0, each record and a newline are also written here */
	struct aw_plugin_ctx *ctx;
};

extern struct aw_test_scratch aw_test_tmp;
extern struct aw_test_capture aw_test_cap;

/* Before each test of tc: a new aw_test_tmp (aw_log writing to its log) and an empty
 * aw_test_cap; after it: both undone. */
void aw_test_harness_fixture(TCase *tc);

/* The log so far, malloc'd. */
char *aw_test_log(void);
/* How many times the log says `what`. */
size_t aw_test_log_count(const char *what);
/* Assert the log says `what` (the message shows the log). */
void aw_test_assert_logged(const char *what);

/* Forget what was captured (hold and tee_fd too). */
void aw_test_capture_reset(void);
/* Captured records whose text contains a and, when b is not NULL, b. */
size_t aw_test_capture_count(const char *a, const char *b);

/* Leave `content` in the file `file` of input `instance`'s state directory, as an
 * earlier run would have (before the harness starts the input). */
void aw_test_put_input_state(const char *instance, const char *file, const char *content);

/* The text of column `key` of an event or alert (a JSON object), NULL when absent. */
const char *aw_test_col(json_object *record, const char *key);

/* --- the Azure services ------------------------------------------------------------ */

/* The identity the harness signs in with; an emulator config from aw_test_emu_config
 * knows it. */
#define AW_TEST_TENANT	      "00000000-0000-0000-0000-0000000000aa"
#define AW_TEST_CLIENT_ID     "app1"
#define AW_TEST_CLIENT_SECRET "s3cr3t-client"

/* An emulator config (JSON) with the test tenant and client, and the members that
 * members_fmt (printf) makes, e.g. aw_test_emu_config("\"estate\":%s", estate);
 * malloc'd. */
char *aw_test_emu_config(const char *members_fmt, ...) __attribute__((format(printf, 1, 2)));
/* aw_test_emu_start with that config. */
void aw_test_emu_start_azure(struct aw_test_emu *e, const char *members_fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* --- the harness ------------------------------------------------------------------- */

struct aw_test_harness_conf {
	/* The input under test and its instance name (input="<name>" in metrics). NULL:
	 * no engine, no pipeline: only the loop, the metrics and the Azure services. The
	 * pipeline keeps its state in aw_test_tmp.statedir and delivers to aw_test_cap. */
	const struct aw_plugin_desc *input;
	const char *name;
	/* The pipeline's bound on queued bytes; 0: 16 MiB. */
	uint64_t max_queue_bytes;
	/* Sigma rules: a file or directory whose alerts the outputs get beside the events,
	 * or the shipped rules of conf/rules/<rule_pack> (in the source tree), whose
	 * alerts they get instead of the events, as a deployment would. NULL: none. */
	const char *rules;
	const char *rule_pack;
	uint64_t allowed_lateness_ms;
	const char *host; /* Host in alerts; NULL: "test-host" */
	/* When not NULL: start the Azure services (client secret) against this emulator. */
	const struct aw_test_emu *emu;
	/* When not NULL: a line "<endpoint_key>: <the emulator's base URL>" is added to the
	 * input's YAML. */
	const char *endpoint_key;
};

/* The conf of an input that reads ARM (Resource Graph, Defender, ...) with the daemon's
 * Azure services, against the emulator (its arm_endpoint). */
#define AW_TEST_ARM_INPUT_CONF(plugin, instance, emulator)                                         \
	{                                                                                          \
		.input = (plugin), .name = (instance), .emu = (emulator),                          \
		.endpoint_key = "arm_endpoint"                                                     \
	}

struct aw_test_harness {
	uv_loop_t loop;
	struct aw_metrics *metrics;
	struct aw_azure *azure;	  /* with conf.emu */
	struct aw_engine *engine; /* with conf.input */
	struct aw_pipeline *p;	  /* with conf.input */
	struct aw_plugin_ctx *in, *out;

	/* the harness's own */
	struct aw_test_harness_conf conf;
	struct aw_azure_conf azc;
	char authority[64];
	struct aw_instance_conf ic_in, ic_out;
	struct aw_doc *doc;
	void *in_conf;
	bool closed, azure_closed;
};

/* Set up everything conf asks for and start the input, configured by `yaml` (its item
 * in `inputs:` without type and name). conf is copied. */
void aw_test_harness_start(struct aw_test_harness *h, const struct aw_test_harness_conf *conf,
			   const char *yaml);
/* Close the pipeline (the plugins save what is durable), the Azure services and the
 * loop, and free everything. */
void aw_test_harness_stop(struct aw_test_harness *h);

/* The value of a metric series (the exact text up to the value), or -1 when absent. */
double aw_test_harness_metric(struct aw_test_harness *h, const char *series);
/* The metrics as Prometheus text, malloc'd. */
char *aw_test_harness_metrics(struct aw_test_harness *h);
/* Assert the metrics have the line "<series> <value>". */
void aw_test_harness_assert_metric(struct aw_test_harness *h, const char *series,
				   const char *value);

/* Polls finished so far, by the input's aiwatch_<type>_polls_total{input,result}: ok +
 * failed, each -1 when absent (as the counters read). */
double aw_test_harness_polls(struct aw_test_harness *h);
/* Run the loop until n polls have finished (20 s at most) and 0.3 s more, for the
 * pipeline to deliver their events and report them durable; assert they finished. */
void aw_test_harness_wait_polls(struct aw_test_harness *h, double n);

/* --- running the loop -------------------------------------------------------------- */

/* Run loop until done(ud) or ms milliseconds have passed (done NULL: for ms); a 5 ms
 * tick keeps it from sleeping past the deadline. Returns whether done(ud) was seen. */
bool aw_test_run_until(uv_loop_t *loop, bool (*done)(void *ud), void *ud, unsigned ms);

#endif
