/* State files: atomic replace, framing, corruption detection, directory creation. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
	dir = aw_test_tmpdir();
}

static void teardown(void)
{
	aw_test_rmtree(dir);
	free(dir);
}

static char *path_of(const char *name)
{
	char *p;
	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

/* Rewrite the file at `p` with `content` of `len` bytes. */
static void put_bytes(const char *p, const char *content, size_t len)
{
	FILE *f = fopen(p, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(content, 1, len, f), len);
	fclose(f);
}

START_TEST(round_trip)
{
	struct aw_error err = {{0}};
	const char *payload = "{\"files\":[{\"path\":\"/var/log/a.jsonl\",\"offset\":42}]}";
	char *data = NULL;
	size_t len = 0;

	ck_assert_int_eq(aw_state_write(dir, "checkpoint", payload, strlen(payload), &err), 0);
	ck_assert_int_eq(aw_state_read(dir, "checkpoint", &data, &len, &err), 0);
	ck_assert_uint_eq(len, strlen(payload));
	ck_assert_str_eq(data, payload);
	free(data);

	/* The file is private and starts with the documented header. */
	char *p = path_of("checkpoint");
	struct stat st;
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	char *raw = aw_test_read(p, NULL);
	char hdr[64];
	snprintf(hdr, sizeof hdr, "aiwatch-state v1 len=%zu crc32=", strlen(payload));
	ck_assert_ptr_nonnull(strstr(raw, hdr));
	ck_assert_ptr_eq(strstr(raw, hdr), raw);
	free(raw);
	free(p);
}
END_TEST

START_TEST(binary_and_empty_payloads)
{
	struct aw_error err = {{0}};
	const char bin[] = {'a', '\0', '\n', (char)0xff, 'z'};
	char *data = NULL;
	size_t len = 0;

	ck_assert_int_eq(aw_state_write(dir, "bin", bin, sizeof bin, &err), 0);
	ck_assert_int_eq(aw_state_read(dir, "bin", &data, &len, &err), 0);
	ck_assert_uint_eq(len, sizeof bin);
	ck_assert_mem_eq(data, bin, sizeof bin);
	free(data);

	ck_assert_int_eq(aw_state_write(dir, "empty", "", 0, &err), 0);
	ck_assert_int_eq(aw_state_read(dir, "empty", &data, &len, &err), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(data, "");
	free(data);
}
END_TEST

START_TEST(overwrite_leaves_no_temporary)
{
	struct aw_error err = {{0}};
	char *data = NULL;
	size_t len = 0;

	ck_assert_int_eq(aw_state_write(dir, "cp", "first version, longer", 21, &err), 0);
	ck_assert_int_eq(aw_state_write(dir, "cp", "second", 6, &err), 0);
	ck_assert_int_eq(aw_state_read(dir, "cp", &data, &len, &err), 0);
	ck_assert_str_eq(data, "second");
	free(data);

	DIR *d = opendir(dir);
	struct dirent *de;
	int files = 0;
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		ck_assert_str_eq(de->d_name, "cp");
		files++;
	}
	closedir(d);
	ck_assert_int_eq(files, 1);
}
END_TEST

START_TEST(missing_file_is_not_an_error)
{
	struct aw_error err = {{0}};
	char *data = (char *)1;
	size_t len = 7;

	ck_assert_int_eq(aw_state_read(dir, "nothing-here", &data, &len, &err), 1);
	ck_assert_ptr_null(data);
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(truncated_file_is_corrupt)
{
	struct aw_error err = {{0}};
	const char *payload = "0123456789abcdef";
	char *data = NULL;
	size_t len = 0, n = 0;

	ck_assert_int_eq(aw_state_write(dir, "cp", payload, strlen(payload), &err), 0);
	char *p = path_of("cp");
	char *raw = aw_test_read(p, &n);
	put_bytes(p, raw, n - 5); /* a crash mid-write on a filesystem without rename */
	ck_assert_int_eq(aw_state_read(dir, "cp", &data, &len, &err), -1);
	ck_assert_ptr_null(data);
	ck_assert_ptr_nonnull(strstr(err.msg, "/cp: corrupt checkpoint (length mismatch"));
	ck_assert_ptr_nonnull(strstr(err.msg, dir));

	/* Cut inside the header. */
	put_bytes(p, raw, 10);
	ck_assert_int_eq(aw_state_read(dir, "cp", &data, &len, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "corrupt checkpoint (bad header)"));

	put_bytes(p, "", 0);
	ck_assert_int_eq(aw_state_read(dir, "cp", &data, &len, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "corrupt checkpoint (bad header)"));
	free(raw);
	free(p);
}
END_TEST

START_TEST(flipped_byte_is_corrupt)
{
	struct aw_error err = {{0}};
	const char *payload = "{\"offset\":123456}";
	char *data = NULL;
	size_t len = 0, n = 0;
	char expect[512];

	ck_assert_int_eq(aw_state_write(dir, "cp", payload, strlen(payload), &err), 0);
	char *p = path_of("cp");
	char *raw = aw_test_read(p, &n);
	raw[n - 3] ^= 0x01; /* "5" becomes "4": same length, different bytes */
	put_bytes(p, raw, n);
	ck_assert_int_eq(aw_state_read(dir, "cp", &data, &len, &err), -1);
	ck_assert_ptr_null(data);
	snprintf(expect, sizeof expect, "%s/cp: corrupt checkpoint (crc mismatch)", dir);
	ck_assert_str_eq(err.msg, expect);
	free(raw);
	free(p);
}
END_TEST

START_TEST(not_a_state_file)
{
	struct aw_error err = {{0}};
	char *data = NULL;
	size_t len = 0;

	free(aw_test_write(dir, "cp", "{\"offset\": 1}\n", 0600));
	ck_assert_int_eq(aw_state_read(dir, "cp", &data, &len, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "corrupt checkpoint (bad header)"));

	free(aw_test_write(dir, "cp2", "aiwatch-state v1 len=99999999999 crc32=00000000\n", 0600));
	ck_assert_int_eq(aw_state_read(dir, "cp2", &data, &len, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "corrupt checkpoint"));
}
END_TEST

START_TEST(mkdir_creates_parents_private)
{
	struct aw_error err = {{0}};
	char *deep = path_of("a/b/c");
	char *mid = path_of("a/b");
	struct stat st;

	ck_assert_int_eq(aw_state_mkdir(deep, &err), 0);
	ck_assert_int_eq(stat(deep, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(stat(mid, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	/* Existing directories are fine; trailing slashes too. */
	ck_assert_int_eq(aw_state_mkdir(deep, &err), 0);
	char *slash = path_of("a/b/c//");
	ck_assert_int_eq(aw_state_mkdir(slash, &err), 0);

	ck_assert_int_eq(aw_state_write(deep, "cp", "x", 1, &err), 0);
	free(slash);
	free(mid);
	free(deep);
}
END_TEST

START_TEST(mkdir_over_a_file_fails)
{
	struct aw_error err = {{0}};
	free(aw_test_write(dir, "plain", "not a dir", 0600));
	char *p = path_of("plain/sub");
	char *f = path_of("plain");
	char expect[512];

	ck_assert_int_eq(aw_state_mkdir(p, &err), -1);
	snprintf(expect, sizeof expect, "%s: exists and is not a directory", f);
	ck_assert_str_eq(err.msg, expect);
	free(f);
	free(p);
}
END_TEST

START_TEST(write_errors_name_the_path)
{
	struct aw_error err = {{0}};
	char *missing = path_of("no/such/dir");

	ck_assert_int_eq(aw_state_write(missing, "cp", "x", 1, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, missing));
	ck_assert_ptr_nonnull(strstr(err.msg, "No such file or directory"));

	ck_assert_int_eq(aw_state_write(dir, "../escape", "x", 1, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "invalid state file name"));
	ck_assert_int_eq(aw_state_write(dir, "", "x", 1, &err), -1);
	free(missing);
}
END_TEST

static Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("files");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, binary_and_empty_payloads);
	tcase_add_test(tc, overwrite_leaves_no_temporary);
	tcase_add_test(tc, missing_file_is_not_an_error);
	tcase_add_test(tc, truncated_file_is_corrupt);
	tcase_add_test(tc, flipped_byte_is_corrupt);
	tcase_add_test(tc, not_a_state_file);
	tcase_add_test(tc, mkdir_creates_parents_private);
	tcase_add_test(tc, mkdir_over_a_file_fails);
	tcase_add_test(tc, write_errors_name_the_path);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(state_suite)
