/* out_file: write records as JSON lines to a file or stdout.
 *
 * A batch is one write of all its lines (retried until complete) followed, with
 * `fsync: batch`, by an fsync: only then is the batch reported done, so "delivered"
 * means "on disk". Writes run on libuv's thread pool (uv_fs_*), never blocking the loop.
 * SIGHUP reopens the file, so logrotate's move-and-signal works; a reopen requested
 * while a batch is being written waits for that batch. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin.h"

enum out_file_fsync { FSYNC_NEVER, FSYNC_BATCH };

static const char *const fsync_choices[] = {"never", "batch", NULL};

struct out_file_conf {
	char *path;
	int fsync;
	char *file_mode;
};

static const struct aw_option out_file_options[] = {
	AW_OPT_STR("path", struct out_file_conf, path, NULL, AW_OPT_REQUIRED,
		   "file to append JSON lines to; \"-\" writes to standard output"),
	AW_OPT_CHOICE("fsync", struct out_file_conf, fsync, "batch", fsync_choices,
		      "batch: fsync before a batch counts as delivered (nothing lost on a "
		      "power cut); never: leave it to the kernel (faster)"),
	AW_OPT_STR("file_mode", struct out_file_conf, file_mode, "0600", 0,
		   "permissions of a file the output creates, in octal (alerts name accounts "
		   "and addresses: keep them private unless a reader needs them)"),
	AW_OPT_END,
};

struct out_file {
	struct aw_plugin_ctx *ctx;
	const struct out_file_conf *conf;
	int fd;
	bool is_stdout;
	bool regular;             /* fsync only means something for regular files */
	char *buf;                /* the batch's lines */
	size_t len, off;
	size_t cap;
	struct aw_batch *batch;   /* in flight */
	uv_fs_t req;
	bool busy;
	bool reopen_pending;
	bool closing;
	void (*closed)(struct aw_plugin_ctx *ctx);
	struct aw_metric *m_bytes, *m_errors;
};

/* file_mode is validated at load; 0600 if it is somehow absent. */
static mode_t parse_mode(const char *s)
{
	char *end;
	unsigned long v;

	if (!s)
		return 0600;
	v = strtoul(s, &end, 8);
	return (*s && !*end && v <= 0777) ? (mode_t)v : 0600;
}

static int open_target(struct out_file *o, struct aw_error *err)
{
	struct stat st;
	int fd;

	if (o->is_stdout) {
		o->fd = STDOUT_FILENO;
		o->regular = fstat(o->fd, &st) == 0 && S_ISREG(st.st_mode);
		return 0;
	}
	fd = open(o->conf->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		  parse_mode(o->conf->file_mode));
	if (fd < 0)
		return aw_error_set(err, "cannot open %s: %s", o->conf->path, strerror(errno));
	o->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	o->fd = fd;
	return 0;
}

static void close_target(struct out_file *o)
{
	if (o->fd >= 0 && !o->is_stdout)
		close(o->fd);
	o->fd = -1;
}

static void do_reopen(struct out_file *o)
{
	struct aw_error err;

	o->reopen_pending = false;
	if (o->is_stdout)
		return;
	close_target(o);
	if (open_target(o, &err) != 0)
		aw_log(AW_LOG_ERR, "out_file", "reopen failed; will retry with the next batch",
		       AW_S("output", aw_ctx_name(o->ctx)), AW_S("error", err.msg));
	else
		aw_log(AW_LOG_INFO, "out_file", "file reopened",
		       AW_S("output", aw_ctx_name(o->ctx)), AW_S("path", o->conf->path));
}

static void finish_close(struct out_file *o)
{
	void (*closed)(struct aw_plugin_ctx *) = o->closed;
	struct aw_plugin_ctx *ctx = o->ctx;

	close_target(o);
	free(o->buf);
	free(o);
	closed(ctx);
}

/* The batch is finished (well or not): answer the core, then do deferred work. */
static void batch_end(struct out_file *o, enum aw_result r, const char *reason)
{
	struct aw_batch *b = o->batch;

	o->busy = false;
	o->batch = NULL;
	if (o->closing) {
		finish_close(o);
		return;
	}
	if (r != AW_DONE)
		aw_metric_inc(o->m_errors);
	aw_output_done(o->ctx, b, r, 0, reason);
	if (o->reopen_pending)
		do_reopen(o);
}

static void write_more(struct out_file *o);

/* A failed write or fsync: the batch is retried by the core. */
static void batch_failed(struct out_file *o, const char *what, int res)
{
	char reason[256];

	snprintf(reason, sizeof reason, "%s %s: %s", what, o->conf->path, uv_strerror(res));
	batch_end(o, AW_RETRY, reason);
}

static void fsync_cb(uv_fs_t *req)
{
	struct out_file *o = req->data;
	ssize_t res = req->result;

	uv_fs_req_cleanup(req);
	if (res < 0) {
		batch_failed(o, "fsync", (int)res);
		return;
	}
	batch_end(o, AW_DONE, NULL);
}

static void write_cb(uv_fs_t *req)
{
	struct out_file *o = req->data;
	ssize_t res = req->result;

	uv_fs_req_cleanup(req);
	if (res < 0) {
		/* The part already written stays; the retry appends the whole batch again,
		 * which can duplicate lines but never loses one. */
		batch_failed(o, "write", (int)res);
		return;
	}
	o->off += (size_t)res;
	aw_metric_add(o->m_bytes, (double)res);
	if (o->off < o->len && !o->closing) {
		write_more(o);
		return;
	}
	if (o->closing) {
		batch_end(o, AW_RETRY, "closing");
		return;
	}
	if (o->conf->fsync == FSYNC_BATCH && o->regular) {
		o->req.data = o;
		int rc = uv_fs_fsync(aw_ctx_loop(o->ctx), &o->req, o->fd, fsync_cb);
		if (rc < 0)
			batch_end(o, AW_RETRY, uv_strerror(rc));
		return;
	}
	batch_end(o, AW_DONE, NULL);
}

static void write_more(struct out_file *o)
{
	uv_buf_t buf = uv_buf_init(o->buf + o->off, (unsigned)(o->len - o->off));
	int rc;

	o->req.data = o;
	rc = uv_fs_write(aw_ctx_loop(o->ctx), &o->req, o->fd, &buf, 1, -1, write_cb);
	if (rc < 0)
		batch_end(o, AW_RETRY, uv_strerror(rc));
}

static void out_file_submit(void *state, struct aw_batch *b)
{
	struct out_file *o = state;
	size_t need = 0;
	struct aw_error err;

	if (o->fd < 0 && open_target(o, &err) != 0) {
		aw_output_done(o->ctx, b, AW_RETRY, 0, err.msg);
		return;
	}
	for (size_t i = 0; i < b->n; i++)
		need += b->records[i].len + 1;
	if (need > o->cap) {
		char *nb = realloc(o->buf, need);
		if (!nb) {
			aw_output_done(o->ctx, b, AW_RETRY, 0, "out of memory");
			return;
		}
		o->buf = nb;
		o->cap = need;
	}
	o->len = 0;
	for (size_t i = 0; i < b->n; i++) {
		memcpy(o->buf + o->len, b->records[i].data, b->records[i].len);
		o->len += b->records[i].len;
		o->buf[o->len++] = '\n';
	}
	o->off = 0;
	o->batch = b;
	o->busy = true;
	write_more(o);
}

static void out_file_reopen(void *state)
{
	struct out_file *o = state;

	if (o->busy)
		o->reopen_pending = true;
	else
		do_reopen(o);
}

static int out_file_ready(void *state, char *why, size_t whysz)
{
	struct out_file *o = state;

	if (o->fd < 0) {
		snprintf(why, whysz, "%s is not open", o->conf->path);
		return 0;
	}
	return 1;
}

static int out_file_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
			 struct aw_error *err)
{
	struct out_file *o = calloc(1, sizeof *o);

	if (!o)
		return aw_error_set(err, "out of memory");
	o->ctx = ctx;
	o->conf = conf;
	o->fd = -1;
	o->is_stdout = strcmp(o->conf->path, "-") == 0;
	if (open_target(o, err) != 0) {
		free(o);
		return -1;
	}
	o->m_bytes = aw_metric_get(aw_ctx_metrics(ctx), AW_METRIC_COUNTER,
				   "aiwatch_output_file_bytes_total", "Bytes written by file outputs",
				   "output", aw_ctx_name(ctx), NULL);
	o->m_errors = aw_metric_get(aw_ctx_metrics(ctx), AW_METRIC_COUNTER,
				    "aiwatch_output_file_errors_total",
				    "Failed writes by file outputs", "output", aw_ctx_name(ctx), NULL);
	*state = o;
	return 0;
}

static void out_file_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	struct out_file *o = state;

	o->closing = true;
	o->closed = closed;
	if (!o->busy)
		finish_close(o); /* otherwise the write callback finishes the close */
}

static int out_file_validate(const void *conf, const char *where, struct aw_error_list *errs)
{
	const struct out_file_conf *c = conf;

	int rc = 0;

	if (c->path && !*c->path)
		rc = aw_error_list_add(errs, "%s.path: must not be empty", where);
	if (c->file_mode) {
		char *end;
		unsigned long v = strtoul(c->file_mode, &end, 8);
		if (!*c->file_mode || *end || v > 0777)
			rc = aw_error_list_add(errs,
					       "%s.file_mode: '%s' is not an octal mode such as 0600",
					       where, c->file_mode);
	}
	return rc;
}

const struct aw_plugin_desc aw_out_file = {
	.abi = AW_PLUGIN_ABI,
	.name = "file",
	.kind = AW_PLUGIN_OUTPUT,
	.summary = "writes records as JSON lines to a file or standard output",
	.options = out_file_options,
	.conf_size = sizeof(struct out_file_conf),
	.validate = out_file_validate,
	.init = out_file_init,
	.submit = out_file_submit,
	.reopen = out_file_reopen,
	.ready = out_file_ready,
	.close = out_file_close,
	.max_batch_records = 500,
};
