/* The durable spool on its own: records come back after a restart in order and with
 * their ids and keys, acknowledged ones do not; segments roll and are deleted once
 * acknowledged; a torn tail or a bad checksum is counted and skipped without hiding the
 * records after it; bounds and both full policies; metrics; the memory cache reading
 * back from disk; batches put back by `dead-letter replay`. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "spool.h"
#include "spool_segment.h"
#include "testutil.h"

static char *dir;       /* the spool directory */
static char *scratch;   /* the test's temporary directory */
static char *logpath;
static int logfd = -1;
static struct aw_metrics *metrics;

static void setup(void)
{
	scratch = aw_test_tmpdir();
	ck_assert_int_ge(asprintf(&dir, "%s/outputs/out/spool", scratch), 0);
	ck_assert_int_ge(asprintf(&logpath, "%s/log.txt", scratch), 0);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ck_assert_int_ge(logfd, 0);
	aw_log_set_fd(logfd);
	metrics = aw_metrics_new();
}

static void teardown(void)
{
	aw_log_set_fd(2);
	close(logfd);
	aw_metrics_free(metrics);
	aw_test_rmtree(scratch);
	free(scratch);
	free(dir);
	free(logpath);
}

static struct aw_spool_conf conf(void)
{
	return (struct aw_spool_conf){
		.max_bytes = 1 << 20,
		.segment_bytes = 1 << 20,
		.cache_bytes = 1 << 20,
	};
}

static struct aw_spool *open_spool(const struct aw_spool_conf *c)
{
	struct aw_spool *s = NULL;
	struct aw_error err;

	ck_assert_msg(aw_spool_open(dir, "out", c, metrics, &s, &err) == 0, "%s", err.msg);
	return s;
}

/* Record n: {"n":n,...} with id "id-n" and, for odd n, key "key-n". */
struct trec {
	char data[96], id[32], key[32];
	struct aw_record rec;
};

static const struct aw_record *mk(struct trec *t, unsigned n)
{
	t->rec.len = (size_t)snprintf(t->data, sizeof t->data, "{\"n\":%u,\"pad\":\"%08u\"}", n, n);
	snprintf(t->id, sizeof t->id, "id-%u", n);
	snprintf(t->key, sizeof t->key, "key-%u", n);
	t->rec.data = t->data;
	t->rec.id = t->id;
	t->rec.key = n % 2 ? t->key : NULL;
	return &t->rec;
}

static void append_n(struct aw_spool *s, unsigned from, unsigned to)
{
	struct trec t;
	struct aw_error err;

	for (unsigned n = from; n <= to; n++)
		ck_assert_msg(aw_spool_append(s, mk(&t, n), &err) == 0, "%s", err.msg);
}

static void close_spool(struct aw_spool *s)
{
	struct aw_error err;

	ck_assert_msg(aw_spool_close(s, &err) == 0, "%s", err.msg);
	aw_spool_free(s);
}

/* The n of a cached record. */
static unsigned n_of(struct aw_spool *s, size_t i)
{
	struct aw_spool_rec *r = aw_spool_at(s, i);
	unsigned n = 0;

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(sscanf(r->rec.data, "{\"n\":%u,", &n), 1);
	return n;
}

/* Every unacknowledged record, in order, reading back from disk as needed; each is
 * acknowledged after being looked at. Returns how many; ns[] gets their n. */
static size_t drain(struct aw_spool *s, unsigned *ns, size_t max)
{
	size_t got = 0;
	struct aw_error err;

	for (int guard = 0; guard < 100000; guard++) {
		ck_assert_msg(aw_spool_fill(s, &err) == 0, "%s", err.msg);
		size_t c = aw_spool_cached(s);
		if (c == 0)
			break;
		for (size_t i = 0; i < c; i++)
			if (got < max)
				ns[got++] = n_of(s, i);
			else
				got++;
		aw_spool_ack(s, c);
	}
	ck_assert_uint_eq(aw_spool_records(s), 0);
	return got;
}

static double metric(const char *name, enum aw_metric_type type)
{
	char *body = NULL;
	size_t len;

	ck_assert_int_eq(aw_metrics_render(metrics, &body, &len), 0);
	free(body);
	return aw_metric_value(aw_metric_get(metrics, type, name, "", "output", "out", NULL));
}

static size_t count_segments(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".seg"))
			n++;
	closedir(d);
	return n;
}

/* Path of the i-th segment file (sorted), malloc'd. */
static char *segment_path(size_t want)
{
	struct dirent **list;
	int n = scandir(dir, &list, NULL, alphasort);
	char *path = NULL;
	size_t k = 0;

	ck_assert_int_ge(n, 0);
	for (int i = 0; i < n; i++) {
		if (strstr(list[i]->d_name, ".seg") && k++ == want)
			ck_assert_int_ge(asprintf(&path, "%s/%s", dir, list[i]->d_name), 0);
		free(list[i]);
	}
	free(list);
	ck_assert_ptr_nonnull(path);
	return path;
}

static off_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

static char *log_text(void)
{
	char *s = aw_test_read(logpath, NULL);
	return s ? s : strdup("");
}

START_TEST(crc32c_known_value)
{
	/* The check value of CRC-32C (RFC 3720 / iSCSI). */
	ck_assert_uint_eq(aw_crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(aw_crc32c(aw_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}
END_TEST

START_TEST(append_ack_replay_in_order)
{
	struct aw_spool_conf c = conf();
	struct aw_spool *s = open_spool(&c);
	struct aw_error err;
	uint64_t last_seq;

	append_n(s, 1, 10);
	ck_assert_uint_eq(aw_spool_cached(s), 10);
	ck_assert_uint_eq(aw_spool_records(s), 10);
	ck_assert_int_eq(aw_spool_sync(s, &err), 0);
	aw_spool_ack(s, 4);
	ck_assert_uint_eq(aw_spool_records(s), 6);
	last_seq = aw_spool_at(s, 5)->seq;
	close_spool(s);

	/* A restart delivers the six not acknowledged, in order, ids and keys intact. */
	s = open_spool(&c);
	ck_assert_uint_eq(aw_spool_records(s), 6);
	ck_assert_uint_eq(aw_spool_cached(s), 6);
	for (size_t i = 0; i < 6; i++)
		ck_assert_uint_eq(n_of(s, i), 5 + i);
	ck_assert_str_eq(aw_spool_at(s, 0)->rec.id, "id-5");
	ck_assert_str_eq(aw_spool_at(s, 0)->rec.key, "key-5");
	ck_assert_ptr_null(aw_spool_at(s, 1)->rec.key);
	ck_assert_str_eq(aw_spool_at(s, 1)->rec.data, "{\"n\":6,\"pad\":\"00000006\"}");
	ck_assert_uint_eq(aw_spool_at(s, 1)->rec.len, strlen("{\"n\":6,\"pad\":\"00000006\"}"));
	/* Sequence numbers only grow, across restarts too. */
	append_n(s, 11, 11);
	ck_assert_uint_gt(aw_spool_at(s, 6)->seq, last_seq);
	aw_spool_ack(s, 7);
	close_spool(s);

	s = open_spool(&c);
	ck_assert_uint_eq(aw_spool_records(s), 0);
	close_spool(s);
	char *log = log_text();
	ck_assert_msg(strstr(log, "unacknowledged records found") && strstr(log, "records=6"),
		      "%s", log);
	free(log);
}
END_TEST

START_TEST(segments_roll_and_are_deleted_when_acknowledged)
{
	struct aw_spool_conf c = conf();
	struct aw_spool *s;
	struct aw_error err;
	unsigned ns[200];

	c.segment_bytes = 1024; /* ~15 records of ~70 bytes per segment */
	s = open_spool(&c);
	append_n(s, 1, 100);
	ck_assert_int_eq(aw_spool_sync(s, &err), 0);
	ck_assert_uint_ge(count_segments(), 6);
	for (size_t i = 0; i + 1 < count_segments(); i++) {
		char *p = segment_path(i);
		ck_assert_int_le(file_size(p), 1024);
		free(p);
	}
	ck_assert_double_ge(metric("aiwatch_spool_segments", AW_METRIC_GAUGE), 6);
	/* Half acknowledged: the segments before the first unacknowledged record go. */
	aw_spool_ack(s, 50);
	ck_assert_int_eq(aw_spool_persist_ack(s, &err), 0);
	size_t left = count_segments();
	ck_assert_uint_lt(left, 6);
	ck_assert_uint_ge(left, 3);
	close_spool(s);

	/* The rest survive a restart, all of them, in order. */
	s = open_spool(&c);
	ck_assert_uint_eq(drain(s, ns, 200), 50);
	for (unsigned i = 0; i < 50; i++)
		ck_assert_uint_eq(ns[i], 51 + i);
	ck_assert_int_eq(aw_spool_persist_ack(s, &err), 0);
	ck_assert_uint_le(count_segments(), 1); /* only the one being written, if any */
	close_spool(s);
	s = open_spool(&c);
	ck_assert_uint_eq(count_segments(), 0);
	ck_assert_uint_eq(aw_spool_records(s), 0);
	close_spool(s);
}
END_TEST

START_TEST(torn_tail_counted_and_rest_readable)
{
	struct aw_spool_conf c = conf();
	struct aw_spool *s;
	unsigned ns[100];
	char *first, *last;

	c.segment_bytes = 1024;
	s = open_spool(&c);
	append_n(s, 1, 40);
	close_spool(s);
	ck_assert_uint_ge(count_segments(), 3);

	/* A crash in the middle of a write: the last record of the first segment and of
	 * the last segment are cut short. */
	first = segment_path(0);
	last = segment_path(count_segments() - 1);
	ck_assert_int_eq(truncate(first, file_size(first) - 10), 0);
	ck_assert_int_eq(truncate(last, file_size(last) - 30), 0);

	s = open_spool(&c);
	ck_assert_double_eq(metric("aiwatch_spool_torn_records_total", AW_METRIC_COUNTER), 2);
	ck_assert_uint_eq(aw_spool_records(s), 38);
	size_t got = drain(s, ns, 100);
	ck_assert_uint_eq(got, 38);
	/* Every record but the two torn ones, in order; the last one (40) is gone. */
	unsigned missing = 0;
	for (unsigned i = 0, want = 1; i < got; i++, want++) {
		if (ns[i] != want) {
			missing++;
			want = ns[i];
		}
	}
	ck_assert_uint_eq(missing, 1);
	ck_assert_uint_eq(ns[got - 1], 39);
	/* New records go after them, in a new segment. */
	append_n(s, 41, 42);
	ck_assert_uint_eq(n_of(s, 0), 41);
	close_spool(s);
	char *log = log_text();
	ck_assert_msg(strstr(log, "damaged spool records skipped"), "%s", log);
	free(log);
	free(first);
	free(last);
}
END_TEST

START_TEST(corrupt_crc_in_the_middle_is_skipped)
{
	struct aw_spool_conf c = conf();
	struct aw_spool *s;
	struct trec t;
	unsigned ns[20];
	off_t off[10] = {0}; /* where record n starts */
	char *seg;
	int fd;

	for (unsigned n = 1; n < 10; n++)
		off[n] = off[n - 1] + (off_t)aw_spool_frame_size(mk(&t, n));
	s = open_spool(&c);
	append_n(s, 1, 9);
	close_spool(s);
	seg = segment_path(0);
	fd = open(seg, O_RDWR);
	ck_assert_int_ge(fd, 0);
	/* Record 5: one bit of its payload. Record 8: its length field, so the reader has
	 * to find the next frame by itself. */
	ck_assert_int_eq(pwrite(fd, "X", 1, off[4] + AW_SPOOL_FRAME_HDR + 20), 1);
	ck_assert_int_eq(pwrite(fd, "\xff\xff\x00\x00", 4, off[7] + 4), 4);
	close(fd);

	s = open_spool(&c);
	ck_assert_double_eq(metric("aiwatch_spool_torn_records_total", AW_METRIC_COUNTER), 2);
	ck_assert_uint_eq(drain(s, ns, 20), 7);
	unsigned want[] = {1, 2, 3, 4, 6, 7, 9};
	for (size_t i = 0; i < 7; i++)
		ck_assert_uint_eq(ns[i], want[i]);
	close_spool(s);
	free(seg);
}
END_TEST

START_TEST(unreadable_ack_position_replays_everything)
{
	struct aw_spool_conf c = conf();
	struct aw_spool *s = open_spool(&c);
	struct aw_error err;
	unsigned ns[10];

	append_n(s, 1, 5);
	aw_spool_ack(s, 3);
	close_spool(s);
	free(aw_test_write(dir, "ack", "garbage", 0600));
	s = open_spool(&c);
	ck_assert_uint_eq(drain(s, ns, 10), 5); /* duplicates, never a loss */
	ck_assert_int_eq(aw_spool_persist_ack(s, &err), 0);
	close_spool(s);
	char *log = log_text();
	ck_assert_msg(strstr(log, "acknowledged position unreadable"), "%s", log);
	free(log);
}
END_TEST

START_TEST(backpressure_bound)
{
	struct aw_spool_conf c = conf();
	struct aw_spool *s;
	struct trec t;
	size_t fb = aw_spool_frame_size(mk(&t, 1));
	uint64_t now = aw_spool_wall_ms();
	unsigned n = 0;

	c.max_bytes = 10 * fb;
	s = open_spool(&c);
	while (!aw_spool_over(s, now) && n < 100)
		append_n(s, n + 1, n + 1), n++;
	ck_assert_uint_eq(n, 11); /* over once above ten records' worth */
	ck_assert_uint_gt(aw_spool_bytes(s), c.max_bytes);
	/* backpressure never drops */
	ck_assert_uint_eq(aw_spool_enforce(s, now), 0);
	ck_assert_uint_eq(aw_spool_records(s), 11);
	aw_spool_ack(s, 1);
	ck_assert(!aw_spool_over(s, now));
	close_spool(s);
}
END_TEST

START_TEST(drop_oldest_keeps_the_newest)
{
	struct aw_spool_conf c = conf();
	struct aw_spool *s;
	struct trec t;
	unsigned ns[60];

	c.max_bytes = 0;
	for (unsigned n = 50; n <= 59; n++) /* room for exactly the last ten */
		c.max_bytes += aw_spool_frame_size(mk(&t, n));
	c.full = AW_SPOOL_FULL_DROP_OLDEST;
	c.cache_bytes = 100; /* the dropped ones are partly on disk only */
	s = open_spool(&c);
	append_n(s, 10, 59);
	ck_assert_uint_eq(aw_spool_enforce(s, aw_spool_wall_ms()), 40);
	ck_assert_uint_eq(aw_spool_records(s), 10);
	ck_assert_uint_le(aw_spool_bytes(s), c.max_bytes);
	ck_assert_double_eq(metric("aiwatch_spool_dropped_total", AW_METRIC_COUNTER), 40);
	close_spool(s);
	/* Dropped means done: not delivered after a restart either. */
	s = open_spool(&c);
	ck_assert_uint_eq(drain(s, ns, 60), 10);
	ck_assert_uint_eq(ns[0], 50);
	ck_assert_uint_eq(ns[9], 59);
	close_spool(s);
	char *log = log_text();
	ck_assert_msg(strstr(log, "spool full: oldest records dropped") && strstr(log, "dropped=40"),
		      "%s", log);
	free(log);
}
END_TEST

START_TEST(age_bound_with_both_policies)
{
	struct aw_spool_conf c = conf();
	struct aw_spool *s;

	c.max_age_ms = 50;
	s = open_spool(&c);
	append_n(s, 1, 3);
	ck_assert(!aw_spool_over(s, aw_spool_wall_ms()));
	aw_test_sleep_ms(120);
	ck_assert(aw_spool_over(s, aw_spool_wall_ms()));
	ck_assert_double_ge(metric("aiwatch_spool_oldest_age_seconds", AW_METRIC_GAUGE), 0.1);
	ck_assert_uint_eq(aw_spool_enforce(s, aw_spool_wall_ms()), 0); /* backpressure */
	c.full = AW_SPOOL_FULL_DROP_OLDEST;
	aw_spool_set_conf(s, &c);
	append_n(s, 4, 4); /* young */
	ck_assert_uint_eq(aw_spool_enforce(s, aw_spool_wall_ms()), 3);
	ck_assert_uint_eq(n_of(s, 0), 4);
	ck_assert(!aw_spool_over(s, aw_spool_wall_ms()));
	close_spool(s);
}
END_TEST

START_TEST(metrics_follow_the_spool)
{
	struct aw_spool_conf c = conf();
	struct aw_spool *s = open_spool(&c);
	struct trec t;
	struct aw_error err;
	double total = 0;

	for (unsigned n = 1; n <= 5; n++)
		total += (double)aw_spool_frame_size(mk(&t, n));
	append_n(s, 1, 5);
	ck_assert_double_eq(metric("aiwatch_spool_records", AW_METRIC_GAUGE), 5);
	ck_assert_double_eq(metric("aiwatch_spool_bytes", AW_METRIC_GAUGE), total);
	ck_assert_double_ge(metric("aiwatch_spool_oldest_age_seconds", AW_METRIC_GAUGE), 0);
	ck_assert_int_eq(aw_spool_sync(s, &err), 0);
	ck_assert_double_eq(metric("aiwatch_spool_written_bytes_total", AW_METRIC_COUNTER), total);
	aw_spool_ack(s, 5);
	ck_assert_double_eq(metric("aiwatch_spool_records", AW_METRIC_GAUGE), 0);
	ck_assert_double_eq(metric("aiwatch_spool_bytes", AW_METRIC_GAUGE), 0);
	ck_assert_double_eq(metric("aiwatch_spool_oldest_age_seconds", AW_METRIC_GAUGE), 0);
	close_spool(s);
}
END_TEST

START_TEST(small_cache_reads_back_in_order)
{
	struct aw_spool_conf c = conf();
	struct aw_spool *s;
	unsigned ns[300];

	c.cache_bytes = 100;     /* four records in memory */
	c.segment_bytes = 2048;  /* and many segments to cross */
	s = open_spool(&c);
	append_n(s, 1, 150);
	ck_assert_uint_le(aw_spool_cached(s), 5);
	ck_assert_uint_le(aw_spool_cached_bytes(s), 100 + 30);
	/* Appends interleaved with reading back. */
	aw_spool_ack(s, 1);
	append_n(s, 151, 200);
	ck_assert_uint_eq(drain(s, ns, 300), 199);
	for (unsigned i = 0; i < 199; i++)
		ck_assert_uint_eq(ns[i], i + 2);
	/* Caught up again: new records go straight to memory. */
	append_n(s, 201, 201);
	ck_assert_uint_eq(aw_spool_cached(s), 1);
	close_spool(s);
}
END_TEST

START_TEST(segment_deleted_by_hand_is_skipped)
{
	struct aw_spool_conf c = conf();
	struct aw_spool *s;
	struct aw_error err;
	unsigned ns[100];
	char *seg;

	c.cache_bytes = 100;
	c.segment_bytes = 1024;
	s = open_spool(&c);
	append_n(s, 1, 60);
	ck_assert_int_eq(aw_spool_sync(s, &err), 0);
	seg = segment_path(1);
	ck_assert_int_eq(unlink(seg), 0);
	size_t got = drain(s, ns, 100); /* ends with nothing unacknowledged */
	ck_assert_uint_gt(got, 30);
	ck_assert_uint_lt(got, 60);
	ck_assert_uint_eq(ns[got - 1], 60);
	close_spool(s);
	free(seg);
	char *log = log_text();
	ck_assert_msg(strstr(log, "spool segment missing"), "%s", log);
	free(log);
}
END_TEST

START_TEST(incoming_batches_are_imported_once)
{
	struct aw_spool_conf c = conf();
	struct aw_spool *s;
	struct trec t[3];
	struct aw_record recs[3];
	struct aw_error err;
	char path[4096];

	s = open_spool(&c);
	append_n(s, 1, 2);
	close_spool(s);
	for (unsigned i = 0; i < 3; i++)
		recs[i] = *mk(&t[i], 100 + i);
	ck_assert_msg(aw_spool_write_incoming(dir, recs, 3, path, sizeof path, &err) == 0, "%s",
		      err.msg);
	ck_assert_int_eq(access(path, F_OK), 0);
	s = open_spool(&c);
	ck_assert_int_ne(access(path, F_OK), 0); /* removed once in the spool */
	ck_assert_uint_eq(aw_spool_records(s), 5);
	ck_assert_uint_eq(n_of(s, 2), 100);
	ck_assert_str_eq(aw_spool_at(s, 3)->rec.id, "id-101");
	ck_assert_str_eq(aw_spool_at(s, 3)->rec.key, "key-101");
	close_spool(s);
	s = open_spool(&c);
	ck_assert_uint_eq(aw_spool_records(s), 5);
	close_spool(s);
}
END_TEST

static Suite *spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("spool");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, crc32c_known_value);
	tcase_add_test(tc, append_ack_replay_in_order);
	tcase_add_test(tc, segments_roll_and_are_deleted_when_acknowledged);
	tcase_add_test(tc, torn_tail_counted_and_rest_readable);
	tcase_add_test(tc, corrupt_crc_in_the_middle_is_skipped);
	tcase_add_test(tc, unreadable_ack_position_replays_everything);
	tcase_add_test(tc, backpressure_bound);
	tcase_add_test(tc, drop_oldest_keeps_the_newest);
	tcase_add_test(tc, age_bound_with_both_policies);
	tcase_add_test(tc, metrics_follow_the_spool);
	tcase_add_test(tc, small_cache_reads_back_in_order);
	tcase_add_test(tc, segment_deleted_by_hand_is_skipped);
	tcase_add_test(tc, incoming_batches_are_imported_once);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(spool_suite)
