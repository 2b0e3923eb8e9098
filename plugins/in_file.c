/* The `file` input: JSON lines from files (or stdin), followed like `tail -F`.
 *
 * Each configured path is a source read with asynchronous uv_fs calls (one request in
 * flight per source), split into lines and handed to aw_records_parse. A stat poll
 * finds growth, truncation and rotation (the path now names another inode: the old
 * descriptor is read to its end before the new file is opened at 0).
 *
 * Checkpoint: every line leaves a mark (sequence number of the last event emitted so
 * far, file identity, offset after the line). When the pipeline reports a sequence
 * number durable, marks at or below it become the source's durable position, which is
 * written to the instance's state directory at most once a second and on close. A
 * line that produced no event carries the previous event's sequence number, so a run
 * of malformed lines is committed as soon as everything before it is durable. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "records.h"
#include "state.h"

#define IN_FILE_CKPT_NAME "checkpoint"
#define IN_FILE_CKPT_EVERY_MS 1000
/* Marks per source; past this, new marks merge into the last one (its offset then
 * waits for a later sequence number: slower to commit, never wrong). */
#define IN_FILE_MAX_MARKS 65536
#define IN_FILE_LOG_FIRST 10
#define IN_FILE_LOG_EVERY 1000

enum { IN_FILE_START_BEGINNING, IN_FILE_START_END };

struct in_file_conf {
	struct aw_strlist paths;
	int start_at;
	bool follow;
	uint64_t poll_interval_ms;
	uint64_t max_line_bytes;
	uint64_t read_chunk;
};

static const char *const in_file_start_choices[] = {"beginning", "end", NULL};

static const struct aw_option in_file_options[] = {
	AW_OPT_LIST("paths", struct in_file_conf, paths, AW_OPT_REQUIRED,
		    "files to read, one JSON document per line; \"-\" reads stdin"),
	AW_OPT_CHOICE("start_at", struct in_file_conf, start_at, "beginning",
		      in_file_start_choices,
		      "where to start a file that has no checkpoint yet"),
	AW_OPT_BOOLEAN("follow", struct in_file_conf, follow, "true",
		       "keep reading as files grow and survive rotation; false: read to the "
		       "end once"),
	AW_OPT_DUR("poll_interval", struct in_file_conf, poll_interval_ms, "250ms", 10, 60000,
		   "how often to look for growth, truncation, rotation and missing files"),
	AW_OPT_BYTES("max_line_bytes", struct in_file_conf, max_line_bytes, "1MiB", 1024,
		     64LL * 1024 * 1024, "longer lines are skipped and counted"),
	AW_OPT_BYTES("read_chunk", struct in_file_conf, read_chunk, "64KiB", 4096,
		     16LL * 1024 * 1024, "bytes asked for per read"),
	AW_OPT_END,
};

struct in_file_mark {
	uint64_t seq, dev, ino, off, line;
};

/* A position in a file: where reading resumes. */
struct in_file_pos {
	bool valid;
	uint64_t dev, ino, off, line;
};

struct in_file;

struct in_file_src {
	struct in_file *in;
	const char *path;           /* the conf's string */
	bool is_stdin;
	int fd;                     /* -1 when not open */
	uv_fs_t req;                /* at most one request in flight */
	bool busy;                  /* req is in flight */
	bool at_eof, rotated, done, more, opened_once, waiting_logged, read_failed;
	uint64_t dev, ino;
	uint64_t read_off;          /* next offset to read */
	uint64_t line;              /* lines consumed */
	char *chunk;                /* read buffer, conf->read_chunk bytes */
	char *lbuf;                 /* start of a line not yet ended; <= max_line_bytes + 1 */
	size_t llen, lcap;
	bool skipping;              /* inside an over-long line */
	uint64_t bad;               /* records skipped, for log rate limiting */
	struct in_file_pos saved;   /* from the checkpoint at start */
	struct in_file_pos ck;      /* durable position: what the next checkpoint says */
	struct in_file_mark *marks; /* ring, in sequence order */
	size_t mhead, mlen, mcap;
	/* stdin when it is a pipe or terminal */
	union {
		uv_pipe_t pipe;
		uv_tty_t tty;
	} h;
	uv_stream_t *stream;
	bool reading;
};

struct in_file {
	struct aw_plugin_ctx *ctx;
	const struct in_file_conf *conf;
	uv_loop_t *loop;
	struct in_file_src *srcs;
	size_t n;
	uv_timer_t poll, ckpt;
	uint64_t last_seq, durable_seq, last_ckpt_ms;
	bool started, paused, stopped, closing, ck_dirty, finished;
	unsigned close_pending;
	void (*closed)(struct aw_plugin_ctx *ctx);
	struct aw_metric *m_bytes, *m_lines;
};

static void read_next(struct in_file_src *s);
static void open_src(struct in_file_src *s);
static void close_step(struct in_file *in);

static const char *in_name(const struct in_file *in)
{
	return aw_ctx_name(in->ctx);
}

/* --- checkpoint ----------------------------------------------------------------- */

static void write_checkpoint(struct in_file *in)
{
	json_object *root = json_object_new_object(), *files = json_object_new_array();
	struct aw_error err;
	size_t len = 0;
	const char *txt;
	bool any = false;

	if (!root || !files)
		goto oom;
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "files", files);
	for (size_t i = 0; i < in->n; i++) {
		const struct in_file_src *s = &in->srcs[i];
		const struct in_file_pos *p = s->ck.valid ? &s->ck : &s->saved;
		if (s->is_stdin || !p->valid)
			continue;
		json_object *f = json_object_new_object();
		if (!f || json_object_array_add(files, f) != 0) {
			json_object_put(f);
			goto oom;
		}
		json_object_object_add(f, "path", json_object_new_string(s->path));
		json_object_object_add(f, "dev", json_object_new_int64((int64_t)p->dev));
		json_object_object_add(f, "ino", json_object_new_int64((int64_t)p->ino));
		json_object_object_add(f, "offset", json_object_new_int64((int64_t)p->off));
		json_object_object_add(f, "line", json_object_new_int64((int64_t)p->line));
		any = true;
	}
	in->ck_dirty = false;
	if (!any)
		goto out;
	txt = json_object_to_json_string_length(
		root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!txt)
		goto oom;
	if (aw_state_write(aw_ctx_state_dir(in->ctx), IN_FILE_CKPT_NAME, txt, len, &err) != 0)
		aw_log(AW_LOG_WARN, "in_file", "cannot write checkpoint", AW_S("input", in_name(in)),
		       AW_S("error", err.msg));
	in->last_ckpt_ms = uv_now(in->loop);
	goto out;
oom:
	aw_log(AW_LOG_ERR, "in_file", "out of memory writing checkpoint",
	       AW_S("input", in_name(in)));
out:
	json_object_put(root);
}

static void ckpt_cb(uv_timer_t *t)
{
	write_checkpoint(t->data);
}

/* Debounce: at most one write per IN_FILE_CKPT_EVERY_MS; close writes the last one. */
static void schedule_checkpoint(struct in_file *in)
{
	uint64_t now, due;

	in->ck_dirty = true;
	if (in->closing || uv_is_active((uv_handle_t *)&in->ckpt))
		return;
	now = uv_now(in->loop);
	due = in->last_ckpt_ms + IN_FILE_CKPT_EVERY_MS;
	uv_timer_start(&in->ckpt, ckpt_cb, due > now ? due - now : 0, 0);
}

static int get_u64(json_object *o, const char *k, uint64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return -1;
	*out = (uint64_t)json_object_get_int64(v);
	return 0;
}

static void load_checkpoint(struct in_file *in)
{
	const char *dir = aw_ctx_state_dir(in->ctx);
	struct aw_error err;
	char *data = NULL;
	size_t len = 0;
	json_object *root = NULL, *files;
	int rc = aw_state_read(dir, IN_FILE_CKPT_NAME, &data, &len, &err);

	if (rc == 1)
		return;
	if (rc == 0) {
		root = json_tokener_parse(data);
		if (!json_object_object_get_ex(root, "files", &files) ||
		    !json_object_is_type(files, json_type_array)) {
			snprintf(err.msg, sizeof err.msg, "%s/%s: corrupt checkpoint (bad content)",
				 dir, IN_FILE_CKPT_NAME);
			rc = -1;
		}
	}
	if (rc != 0) {
		aw_log(AW_LOG_WARN, "in_file", "ignoring checkpoint; starting per start_at",
		       AW_S("input", in_name(in)), AW_S("error", err.msg),
		       AW_S("start_at", in_file_start_choices[in->conf->start_at]));
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(files); i++) {
		json_object *f = json_object_array_get_idx(files, i), *p;
		struct in_file_pos pos = {.valid = true};
		if (!json_object_object_get_ex(f, "path", &p) ||
		    !json_object_is_type(p, json_type_string) || get_u64(f, "dev", &pos.dev) ||
		    get_u64(f, "ino", &pos.ino) || get_u64(f, "offset", &pos.off) ||
		    get_u64(f, "line", &pos.line))
			continue;
		for (size_t k = 0; k < in->n; k++)
			if (!in->srcs[k].is_stdin &&
			    strcmp(in->srcs[k].path, json_object_get_string(p)) == 0)
				in->srcs[k].saved = pos;
	}
out:
	json_object_put(root);
	free(data);
}

/* --- marks ---------------------------------------------------------------------- */

static void apply_mark(struct in_file_src *s, const struct in_file_mark *m)
{
	s->ck = (struct in_file_pos){
		.valid = true, .dev = m->dev, .ino = m->ino, .off = m->off, .line = m->line};
	schedule_checkpoint(s->in);
}

static struct in_file_mark *mark_at(struct in_file_src *s, size_t i)
{
	return &s->marks[(s->mhead + i) % s->mcap];
}

/* Everything up to `off` has been handed to the pipeline. */
static void push_mark(struct in_file_src *s, uint64_t off)
{
	struct in_file *in = s->in;
	struct in_file_mark m = {
		.seq = in->last_seq, .dev = s->dev, .ino = s->ino, .off = off, .line = s->line};

	if (s->is_stdin)
		return;
	if (m.seq <= in->durable_seq) { /* nothing of ours in flight: marks are empty */
		apply_mark(s, &m);
		return;
	}
	if (s->mlen) {
		struct in_file_mark *tail = mark_at(s, s->mlen - 1);
		if ((tail->seq == m.seq && tail->ino == m.ino && tail->dev == m.dev) ||
		    s->mlen == IN_FILE_MAX_MARKS) {
			*tail = m;
			return;
		}
	}
	if (s->mlen == s->mcap) {
		size_t ncap = s->mcap ? s->mcap * 2 : 64;
		struct in_file_mark *nm = malloc(ncap * sizeof *nm);
		if (!nm) {
			/* Merge instead: later commit, no loss. */
			if (s->mlen)
				*mark_at(s, s->mlen - 1) = m;
			return;
		}
		for (size_t i = 0; i < s->mlen; i++)
			nm[i] = *mark_at(s, i);
		free(s->marks);
		s->marks = nm;
		s->mhead = 0;
		s->mcap = ncap;
	}
	s->marks[(s->mhead + s->mlen) % s->mcap] = m;
	s->mlen++;
}

static void in_file_durable(void *state, uint64_t seq)
{
	struct in_file *in = state;

	if (seq > in->durable_seq)
		in->durable_seq = seq;
	for (size_t i = 0; i < in->n; i++) {
		struct in_file_src *s = &in->srcs[i];
		while (s->mlen && s->marks[s->mhead].seq <= in->durable_seq) {
			apply_mark(s, &s->marks[s->mhead]);
			s->mhead = (s->mhead + 1) % s->mcap;
			s->mlen--;
		}
	}
}

/* --- lines ---------------------------------------------------------------------- */

/* Count every skipped record; log the first few of each file, then one in
 * IN_FILE_LOG_EVERY, so a file of garbage cannot flood the journal. */
static void skip_records(struct in_file_src *s, size_t n, const char *reason, const char *why)
{
	struct in_file *in = s->in;
	bool log = false;

	for (size_t i = 0; i < n; i++) {
		aw_input_skipped(in->ctx, reason);
		s->bad++;
		if (s->bad <= IN_FILE_LOG_FIRST || s->bad % IN_FILE_LOG_EVERY == 0)
			log = true;
	}
	if (log)
		aw_log(AW_LOG_WARN, "in_file", "record skipped", AW_S("input", in_name(in)),
		       AW_S("file", s->is_stdin ? "stdin" : s->path), AW_U("line", s->line),
		       AW_S("reason", why), AW_U("records", n), AW_U("skipped_in_file", s->bad));
}

static int on_event(void *ud, const struct aw_event *ev)
{
	struct in_file *in = ud;
	bool pause = false;

	in->last_seq = aw_input_emit(in->ctx, ev, &pause);
	if (pause)
		in->paused = true;
	return 0;
}

static void handle_line(struct in_file_src *s, const char *p, size_t len, uint64_t end_off)
{
	struct in_file *in = s->in;
	char origin[4200];
	struct aw_error err = {{0}};
	size_t bad = 0, i = 0;

	s->line++;
	aw_metric_inc(in->m_lines);
	if (len && p[len - 1] == '\r')
		len--;
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
		i++;
	if (i < len) {
		snprintf(origin, sizeof origin, "%s:%llu", s->is_stdin ? "stdin" : s->path,
			 (unsigned long long)s->line);
		int r = aw_records_parse(p, len, origin, on_event, in, &bad, &err);
		if (r < 0)
			skip_records(s, 1, "malformed", err.msg);
		else if (bad)
			skip_records(s, bad, "malformed", err.msg);
	}
	push_mark(s, end_off);
}

static void line_too_long(struct in_file_src *s, uint64_t end_off)
{
	char why[128];

	s->line++;
	aw_metric_inc(s->in->m_lines);
	snprintf(why, sizeof why, "line longer than max_line_bytes (%llu)",
		 (unsigned long long)s->in->conf->max_line_bytes);
	skip_records(s, 1, "too_long", why);
	push_mark(s, end_off);
}

/* Keep the start of a line that has not ended yet; past the limit, drop it and skip
 * to the next newline. One byte of slack leaves room for a trailing '\r'. */
static void hold_partial(struct in_file_src *s, const char *p, size_t n)
{
	size_t max = (size_t)s->in->conf->max_line_bytes + 1;

	if (s->skipping || n == 0)
		return;
	if (s->llen + n > max) {
		s->skipping = true;
		s->llen = 0;
		free(s->lbuf);
		s->lbuf = NULL;
		s->lcap = 0;
		return;
	}
	if (s->llen + n > s->lcap) {
		size_t ncap = s->lcap ? s->lcap : 4096;
		while (ncap < s->llen + n)
			ncap *= 2;
		if (ncap > max)
			ncap = max;
		char *nb = realloc(s->lbuf, ncap);
		if (!nb) {
			s->skipping = true; /* counted as too long: better than a torn line */
			s->llen = 0;
			return;
		}
		s->lbuf = nb;
		s->lcap = ncap;
	}
	memcpy(s->lbuf + s->llen, p, n);
	s->llen += n;
}

static bool over_limit(const struct in_file_src *s, size_t len, bool ends_cr)
{
	return len - (ends_cr ? 1 : 0) > s->in->conf->max_line_bytes;
}

/* Split bytes read at file offset `base` into lines. */
static void process_chunk(struct in_file_src *s, const char *data, size_t n, uint64_t base)
{
	size_t pos = 0;

	while (pos < n) {
		const char *nl = memchr(data + pos, '\n', n - pos);
		if (!nl) {
			hold_partial(s, data + pos, n - pos);
			return;
		}
		size_t end = (size_t)(nl - data), seg = end - pos;
		uint64_t end_off = base + end + 1;
		if (s->skipping) {
			s->skipping = false;
			line_too_long(s, end_off);
		} else if (s->llen) {
			bool cr = seg ? data[end - 1] == '\r' : s->lbuf[s->llen - 1] == '\r';
			if (over_limit(s, s->llen + seg, cr)) {
				line_too_long(s, end_off);
			} else {
				size_t total;
				hold_partial(s, data + pos, seg);
				total = s->llen;
				s->llen = 0;
				if (s->skipping) { /* no memory for the whole line */
					s->skipping = false;
					line_too_long(s, end_off);
				} else {
					handle_line(s, s->lbuf, total, end_off);
				}
			}
			s->llen = 0;
		} else if (over_limit(s, seg, seg && data[end - 1] == '\r')) {
			line_too_long(s, end_off);
		} else {
			handle_line(s, data + pos, seg, end_off);
		}
		pos = end + 1;
	}
}

/* The file will not grow any more (end with follow off, or rotated away): a last line
 * without a newline is complete. */
static void flush_partial(struct in_file_src *s)
{
	if (s->skipping) {
		s->skipping = false;
		line_too_long(s, s->read_off);
	} else if (s->llen) {
		size_t n = s->llen;
		s->llen = 0;
		handle_line(s, s->lbuf, n, s->read_off);
	}
}

/* --- reading -------------------------------------------------------------------- */

static void check_finished(struct in_file *in)
{
	if (in->finished || in->conf->follow)
		return;
	for (size_t i = 0; i < in->n; i++)
		if (!in->srcs[i].done)
			return;
	in->finished = true;
	uv_timer_stop(&in->poll);
	aw_log(AW_LOG_INFO, "in_file", "file input reached end of all files",
	       AW_S("input", in_name(in)));
}

static void close_fd(struct in_file_src *s)
{
	if (s->fd >= 0 && s->fd != 0)
		close(s->fd);
	s->fd = -1;
}

static void handle_eof(struct in_file_src *s)
{
	struct in_file *in = s->in;

	if (s->rotated) {
		flush_partial(s);
		close_fd(s);
		s->rotated = false;
		open_src(s);
		return;
	}
	if (!in->conf->follow) {
		flush_partial(s);
		close_fd(s);
		s->done = true;
		check_finished(in);
	}
}

/* Every uv_fs callback starts here: during close the result is only released. */
static bool fs_done(struct in_file_src *s)
{
	uv_fs_req_cleanup(&s->req);
	s->busy = false;
	if (s->in->closing) {
		close_step(s->in);
		return true;
	}
	return s->in->stopped;
}

static void on_read(uv_fs_t *req)
{
	struct in_file_src *s = req->data;
	ssize_t n = req->result;

	if (fs_done(s))
		return;
	if (n < 0) {
		/* The poll timer retries; say so once per run of failures. */
		if (!s->read_failed)
			aw_log(AW_LOG_WARN, "in_file", "read failed; retrying",
			       AW_S("input", in_name(s->in)), AW_S("file", s->path),
			       AW_S("error", uv_strerror((int)n)));
		s->read_failed = true;
		return;
	}
	s->read_failed = false;
	if (n == 0) {
		s->at_eof = true;
		handle_eof(s);
		return;
	}
	aw_metric_add(s->in->m_bytes, (double)n);
	s->at_eof = false;
	process_chunk(s, s->chunk, (size_t)n, s->read_off);
	s->read_off += (uint64_t)n;
	read_next(s);
}

static void read_next(struct in_file_src *s)
{
	struct in_file *in = s->in;
	uv_buf_t b = uv_buf_init(s->chunk, (unsigned)in->conf->read_chunk);
	int r;

	if (in->closing || in->stopped || s->busy || s->fd < 0)
		return;
	if (in->paused) {
		s->more = true;
		return;
	}
	s->more = false;
	s->busy = true;
	r = uv_fs_read(in->loop, &s->req, s->fd, &b, 1, s->is_stdin ? -1 : (int64_t)s->read_off,
		       on_read);
	if (r < 0) {
		s->busy = false;
		aw_log(AW_LOG_WARN, "in_file", "read failed; retrying", AW_S("input", in_name(in)),
		       AW_S("file", s->path), AW_S("error", uv_strerror(r)));
	}
}

/* Where a newly opened file starts: its checkpoint, start_at, or 0 after rotation. */
static void choose_start(struct in_file_src *s, uint64_t size)
{
	struct in_file *in = s->in;
	uint64_t off = 0, line = 0;
	bool reopened = s->opened_once;

	if (reopened) {
		/* A new file at the path (rotation): all of it is new. */
	} else if (s->saved.valid && s->saved.dev == s->dev && s->saved.ino == s->ino) {
		if (size < s->saved.off) {
			aw_log(AW_LOG_WARN, "in_file",
			       "file is shorter than its checkpoint (truncated); reading from the "
			       "start",
			       AW_S("input", in_name(in)), AW_S("file", s->path),
			       AW_U("checkpoint_offset", s->saved.off), AW_U("size", size));
		} else {
			off = s->saved.off;
			line = s->saved.line;
		}
	} else if (s->saved.valid) {
		aw_log(AW_LOG_INFO, "in_file",
		       "file was replaced since the checkpoint; reading the new one from the start",
		       AW_S("input", in_name(in)), AW_S("file", s->path));
	} else if (in->conf->start_at == IN_FILE_START_END) {
		off = size;
	}
	s->opened_once = true;
	s->read_off = off;
	s->line = line;
	s->llen = 0;
	s->skipping = false;
	s->at_eof = false;
	s->rotated = false;
	if (reopened) {
		/* Behind the old file's marks, so the checkpoint never names the new file
		 * while lines of the old one are still in flight. */
		push_mark(s, off);
		return;
	}
	s->ck = (struct in_file_pos){
		.valid = true, .dev = s->dev, .ino = s->ino, .off = off, .line = line};
	if (!s->saved.valid || s->saved.dev != s->dev || s->saved.ino != s->ino ||
	    s->saved.off != off)
		schedule_checkpoint(in);
	s->saved.valid = false;
}

static void on_open_fstat(uv_fs_t *req)
{
	struct in_file_src *s = req->data;
	int r = (int)req->result;
	uint64_t size = req->statbuf.st_size;

	s->dev = req->statbuf.st_dev;
	s->ino = req->statbuf.st_ino;
	if (fs_done(s))
		return;
	if (r < 0) {
		aw_log(AW_LOG_WARN, "in_file", "cannot stat file; retrying",
		       AW_S("input", in_name(s->in)), AW_S("file", s->path),
		       AW_S("error", uv_strerror(r)));
		close_fd(s);
		return;
	}
	aw_log(AW_LOG_INFO, "in_file", "reading file", AW_S("input", in_name(s->in)),
	       AW_S("file", s->path));
	choose_start(s, size);
	read_next(s);
}

static void on_open(uv_fs_t *req)
{
	struct in_file_src *s = req->data;
	int r = (int)req->result;

	if (r >= 0)
		s->fd = r;
	if (fs_done(s))
		return;
	if (r < 0) {
		if (!s->waiting_logged)
			aw_log(r == UV_ENOENT ? AW_LOG_INFO : AW_LOG_WARN, "in_file",
			       "waiting for file", AW_S("input", in_name(s->in)),
			       AW_S("file", s->path), AW_S("error", uv_strerror(r)));
		s->waiting_logged = true;
		return;
	}
	s->waiting_logged = false;
	s->busy = true;
	r = uv_fs_fstat(s->in->loop, &s->req, s->fd, on_open_fstat);
	if (r < 0) {
		s->busy = false;
		close_fd(s);
	}
}

static void open_src(struct in_file_src *s)
{
	struct in_file *in = s->in;

	if (in->closing || in->stopped || s->busy)
		return;
	s->busy = true;
	if (uv_fs_open(in->loop, &s->req, s->path, O_RDONLY | O_CLOEXEC, 0, on_open) < 0)
		s->busy = false;
}

static void on_check_fstat(uv_fs_t *req)
{
	struct in_file_src *s = req->data;
	int r = (int)req->result;
	uint64_t size = req->statbuf.st_size;

	if (fs_done(s))
		return;
	if (r < 0)
		return;
	if (size < s->read_off && !s->rotated) {
		/* Same inode, fewer bytes: truncated in place (copytruncate). Marks of the old
		 * content no longer mean anything. */
		aw_log(AW_LOG_WARN, "in_file", "file truncated; reading from the start",
		       AW_S("input", in_name(s->in)), AW_S("file", s->path),
		       AW_U("offset", s->read_off), AW_U("size", size));
		s->read_off = 0;
		s->line = 0;
		s->llen = 0;
		s->skipping = false;
		s->mlen = 0;
		s->ck = (struct in_file_pos){.valid = true, .dev = s->dev, .ino = s->ino};
		schedule_checkpoint(s->in);
	}
	if (size != s->read_off || s->rotated || s->more)
		read_next(s);
}

static void on_check_stat(uv_fs_t *req)
{
	struct in_file_src *s = req->data;
	int r = (int)req->result;
	bool moved = r == UV_ENOENT ||
		     (r == 0 && (req->statbuf.st_ino != s->ino || req->statbuf.st_dev != s->dev));

	if (fs_done(s))
		return;
	if (moved && !s->rotated) {
		aw_log(AW_LOG_INFO, "in_file", "file rotated; finishing the old one",
		       AW_S("input", in_name(s->in)), AW_S("file", s->path));
		s->rotated = true;
	}
	s->busy = true;
	if (uv_fs_fstat(s->in->loop, &s->req, s->fd, on_check_fstat) < 0)
		s->busy = false;
}

static void poll_cb(uv_timer_t *t)
{
	struct in_file *in = t->data;

	for (size_t i = 0; i < in->n; i++) {
		struct in_file_src *s = &in->srcs[i];
		if (s->busy || s->done || s->stream)
			continue;
		if (s->fd < 0) {
			open_src(s);
		} else if (s->is_stdin) {
			if (in->conf->follow)
				read_next(s);
		} else if (in->paused) {
			continue;
		} else if (in->conf->follow) {
			s->busy = true;
			if (uv_fs_stat(in->loop, &s->req, s->path, on_check_stat) < 0)
				s->busy = false;
		} else {
			read_next(s); /* only after a failed read: try again */
		}
	}
}

/* --- stdin as a stream (pipe or terminal) --------------------------------------- */

static void stream_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct in_file_src *s = h->data;

	*buf = uv_buf_init(s->chunk, (unsigned)s->in->conf->read_chunk);
}

static void stream_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct in_file_src *s = st->data;
	struct in_file *in = s->in;

	if (n > 0) {
		aw_metric_add(in->m_bytes, (double)n);
		process_chunk(s, buf->base, (size_t)n, 0);
		if (in->paused) {
			uv_read_stop(st);
			s->reading = false;
		}
		return;
	}
	if (n == 0)
		return;
	if (n != UV_EOF)
		aw_log(AW_LOG_WARN, "in_file", "stdin read failed", AW_S("input", in_name(in)),
		       AW_S("error", uv_strerror((int)n)));
	uv_read_stop(st);
	s->reading = false;
	flush_partial(s);
	s->done = true;
	check_finished(in);
}

static int start_stdin(struct in_file_src *s, struct aw_error *err)
{
	struct in_file *in = s->in;
	uv_handle_type t = uv_guess_handle(0);
	int r;

	if (t == UV_FILE) {
		/* A redirected file: read it like any file, without checkpoint or rotation. */
		s->fd = 0;
		s->opened_once = true;
		read_next(s);
		return 0;
	}
	if (t == UV_TTY) {
		r = uv_tty_init(in->loop, &s->h.tty, 0, 1);
		s->stream = (uv_stream_t *)&s->h.tty;
	} else if (t == UV_NAMED_PIPE || t == UV_TCP || t == UV_UDP) {
		r = uv_pipe_init(in->loop, &s->h.pipe, 0);
		if (r == 0) {
			s->stream = (uv_stream_t *)&s->h.pipe;
			r = uv_pipe_open(&s->h.pipe, 0);
		}
	} else {
		return aw_error_set(err, "stdin: cannot read this kind of file descriptor");
	}
	if (r < 0 && !s->stream)
		return aw_error_set(err, "stdin: %s", uv_strerror(r));
	s->stream->data = s;
	if (r == 0)
		r = uv_read_start(s->stream, stream_alloc, stream_read);
	if (r < 0)
		return aw_error_set(err, "stdin: %s", uv_strerror(r));
	s->reading = true;
	return 0;
}

/* --- plugin callbacks ----------------------------------------------------------- */

static int in_file_validate(const void *conf, const char *where, struct aw_error_list *errs)
{
	const struct in_file_conf *c = conf;
	int rc = 0;

	if (c->paths.n == 0)
		rc = aw_error_list_add(errs, "%s.paths: at least one path is required", where);
	for (size_t i = 0; i < c->paths.n; i++) {
		if (c->paths.v[i][0] == '\0')
			rc = aw_error_list_add(errs, "%s.paths[%zu]: empty path", where, i);
		for (size_t k = 0; k < i; k++)
			if (strcmp(c->paths.v[i], c->paths.v[k]) == 0)
				rc = aw_error_list_add(errs, "%s.paths[%zu]: \"%s\" is listed twice",
						       where, i, c->paths.v[i]);
	}
	return rc;
}

static void free_state(struct in_file *in)
{
	for (size_t i = 0; i < in->n; i++) {
		free(in->srcs[i].chunk);
		free(in->srcs[i].lbuf);
		free(in->srcs[i].marks);
	}
	free(in->srcs);
	free(in);
}

static int in_file_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
			struct aw_error *err)
{
	const struct in_file_conf *c = conf;
	struct in_file *in = calloc(1, sizeof *in);
	struct aw_metrics *m = aw_ctx_metrics(ctx);

	if (!in)
		return aw_error_set(err, "out of memory");
	in->ctx = ctx;
	in->conf = c;
	in->loop = aw_ctx_loop(ctx);
	in->n = c->paths.n;
	in->srcs = calloc(in->n ? in->n : 1, sizeof *in->srcs);
	if (!in->srcs)
		goto oom;
	for (size_t i = 0; i < in->n; i++) {
		struct in_file_src *s = &in->srcs[i];
		s->in = in;
		s->path = c->paths.v[i];
		s->is_stdin = strcmp(s->path, "-") == 0;
		s->fd = -1;
		s->req.data = s;
		s->chunk = malloc((size_t)c->read_chunk);
		if (!s->chunk)
			goto oom;
	}
	in->m_bytes = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_input_bytes_total",
				    "Bytes read by each input", "input", aw_ctx_name(ctx),
				    (const char *)NULL);
	in->m_lines = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_input_lines_total",
				    "Lines read by each file input", "input", aw_ctx_name(ctx),
				    (const char *)NULL);
	uv_timer_init(in->loop, &in->poll);
	uv_timer_init(in->loop, &in->ckpt);
	in->poll.data = in;
	in->ckpt.data = in;
	*state = in;
	return 0;
oom:
	free_state(in);
	return aw_error_set(err, "out of memory");
}

static int in_file_start(void *state, struct aw_error *err)
{
	struct in_file *in = state;

	in->started = true;
	in->last_ckpt_ms = uv_now(in->loop) - IN_FILE_CKPT_EVERY_MS;
	load_checkpoint(in);
	for (size_t i = 0; i < in->n; i++) {
		struct in_file_src *s = &in->srcs[i];
		if (s->is_stdin) {
			if (start_stdin(s, err) != 0)
				return -1;
		} else {
			open_src(s);
		}
	}
	uv_timer_start(&in->poll, poll_cb, in->conf->poll_interval_ms,
		       in->conf->poll_interval_ms);
	return 0;
}

static void in_file_resume(void *state)
{
	struct in_file *in = state;

	in->paused = false;
	for (size_t i = 0; i < in->n && !in->paused; i++) {
		struct in_file_src *s = &in->srcs[i];
		if (s->stream && !s->reading && !s->done && !in->stopped) {
			if (uv_read_start(s->stream, stream_alloc, stream_read) == 0)
				s->reading = true;
		} else if (s->more) {
			read_next(s);
		}
	}
}

static void in_file_stop(void *state)
{
	struct in_file *in = state;

	in->stopped = true;
	uv_timer_stop(&in->poll);
	for (size_t i = 0; i < in->n; i++) {
		struct in_file_src *s = &in->srcs[i];
		if (s->stream && s->reading) {
			uv_read_stop(s->stream);
			s->reading = false;
		}
	}
}

static int in_file_ready(void *state, char *why, size_t whysz)
{
	struct in_file *in = state;

	for (size_t i = 0; i < in->n; i++) {
		const struct in_file_src *s = &in->srcs[i];
		if (!s->is_stdin && !s->done && s->fd < 0) {
			snprintf(why, whysz, "waiting for %s", s->path);
			return 0;
		}
	}
	return 1;
}

static void handle_closed(uv_handle_t *h)
{
	close_step(h->data);
}

/* The last step of close: every handle and request is finished. */
static void close_step(struct in_file *in)
{
	void (*closed)(struct aw_plugin_ctx *) = in->closed;
	struct aw_plugin_ctx *ctx = in->ctx;

	if (--in->close_pending > 0)
		return;
	for (size_t i = 0; i < in->n; i++)
		close_fd(&in->srcs[i]);
	if (in->started)
		write_checkpoint(in);
	free_state(in);
	closed(ctx);
}

static void in_file_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	struct in_file *in = state;

	in_file_stop(in);
	in->closing = true;
	in->closed = closed;
	in->close_pending = 1; /* released at the end of this function */
	uv_timer_stop(&in->ckpt);
	in->close_pending += 2;
	uv_close((uv_handle_t *)&in->poll, handle_closed);
	uv_close((uv_handle_t *)&in->ckpt, handle_closed);
	for (size_t i = 0; i < in->n; i++) {
		struct in_file_src *s = &in->srcs[i];
		if (s->busy) {
			/* Its callback runs (with UV_ECANCELED if the cancel won) and steps. */
			in->close_pending++;
			uv_cancel((uv_req_t *)&s->req);
		}
		if (s->stream) {
			s->stream->data = in;
			in->close_pending++;
			uv_close((uv_handle_t *)s->stream, handle_closed);
		}
	}
	close_step(in);
}

const struct aw_plugin_desc aw_in_file = {
	.abi = AW_PLUGIN_ABI,
	.name = "file",
	.kind = AW_PLUGIN_INPUT,
	.summary = "read JSON lines (Log Analytics or diagnostic-settings form) from files",
	.options = in_file_options,
	.conf_size = sizeof(struct in_file_conf),
	.validate = in_file_validate,
	.init = in_file_init,
	.start = in_file_start,
	.durable = in_file_durable,
	.resume = in_file_resume,
	.stop = in_file_stop,
	.ready = in_file_ready,
	.close = in_file_close,
};
