/* The event view: what a rule sees when it asks for a field of a Log Analytics record
 * (literal and dotted names, JSON text columns, arrays, case, escapes, numbers in
 * strings), the errors for bad records, and that a warm view stops allocating. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_view.h"
#include "json_tok.h"
#include "testutil.h"

/* Test hook defined in event_view.c. */

static struct aw_event_view *view;
static struct aw_error err;
static char got[8192];

static void setup(void)
{
	view = aw_event_view_new(4096);
	ck_assert_ptr_nonnull(view);
	got[0] = '\0';
	err.msg[0] = '\0';
}

static void teardown(void)
{
	aw_event_view_free(view);
	view = NULL;
}

static const char *kind_name(enum aw_val_kind k)
{
	switch (k) {
	case AW_VAL_NULL:
		return "null";
	case AW_VAL_STRING:
		return "str";
	case AW_VAL_NUMBER:
		return "num";
	case AW_VAL_BOOL:
		return "bool";
	case AW_VAL_OBJECT:
		return "obj";
	case AW_VAL_ARRAY:
		return "arr";
	}
	return "?";
}

/* Appends "kind:text" (and "#num" when has_num) to got, separated by " | ". */
static int collect(void *ud, const struct aw_val *v)
{
	size_t n = strlen(got);
	snprintf(got + n, sizeof got - n, "%s%s:%.*s", n ? " | " : "", kind_name(v->kind),
		 (int)v->len, v->s);
	double num;
	if (aw_val_number(v, &num)) {
		n = strlen(got);
		snprintf(got + n, sizeof got - n, "#%g", num);
	}
	if (v->kind == AW_VAL_BOOL) {
		n = strlen(got);
		snprintf(got + n, sizeof got - n, "=%d", v->b);
	}
	return ud ? 1 : 0;
}

static void load(const char *json)
{
	int rc = aw_event_view_reset(view, json, strlen(json), &err);
	ck_assert_msg(rc == 0, "reset failed: %s", err.msg);
}

/* Look field up; returns the collected values ("" when none), and checks presence. */
static const char *lookup(const char *field, int want_present)
{
	struct aw_field_ref f;
	bool stopped = true;

	got[0] = '\0';
	ck_assert_int_eq(aw_field_ref_init(&f, field, &err), 0);
	int present = aw_event_view_get(view, &f, collect, NULL, &stopped);
	ck_assert_msg(present == want_present, "%s: present=%d want %d (got %s)", field, present,
		      want_present, got);
	ck_assert(!stopped);
	aw_field_ref_free(&f);
	return got;
}

#define ck_get(field, want) ck_assert_str_eq(lookup(field, 1), want)
#define ck_absent(field)    ck_assert_str_eq(lookup(field, 0), "")

START_TEST(kinds_of_values)
{
	load("{\"s\":\"text\",\"n\":42,\"f\":-1.5e2,\"t\":true,\"F\":false,\"z\":null,"
	     "\"o\":{\"a\":1},\"e\":\"\"}");
	ck_get("s", "str:text");
	ck_get("n", "num:42#42");
	ck_get("f", "num:-1.5e2#-150");
	ck_get("t", "bool:true=1");
	ck_get("F", "bool:false=0");
	ck_get("z", "null:null");
	ck_get("o", "obj:{\"a\":1}");
	ck_get("e", "str:");
	ck_absent("missing");
	ck_absent("s.deeper");
}
END_TEST

START_TEST(literal_dotted_key_wins_over_path)
{
	load("{\"a\":{\"b\":\"path\"},\"a.b\":\"literal\"}");
	ck_get("a.b", "str:literal");
	load("{\"a\":{\"b\":\"path\",\"c\":{\"d\":[1,2]}}}");
	ck_get("a.b", "str:path");
	ck_get("a.c.d", "arr:[1,2] | num:1#1 | num:2#2");
	ck_absent("a.x");
	ck_absent("a.b.c");
}
END_TEST

START_TEST(json_text_column_is_addressable)
{
	/* AzureDiagnostics: properties_s holds escaped JSON text */
	load("{\"Type\":\"AzureDiagnostics\",\"properties_s\":\"{\\\"objectId\\\":\\\"6f1c\\\","
	     "\\\"requestLength\\\":128,\\\"model\\\":{\\\"name\\\":\\\"gpt-4o\\\"},"
	     "\\\"msg\\\":\\\"say \\\\\\\"hi\\\\\\\"\\\"}\"}");
	ck_get("properties_s.objectId", "str:6f1c");
	ck_get("properties_s.requestLength", "num:128#128");
	ck_get("properties_s.model.name", "str:gpt-4o");
	ck_get("properties_s.msg", "str:say \"hi\"");
	/* the column itself is still its text */
	lookup("properties_s", 1);
	ck_assert_ptr_nonnull(strstr(got, "str:{\"objectId\":\"6f1c\""));
	ck_absent("properties_s.nothere");
	/* a string that is not JSON text has no fields */
	ck_absent("Type.x");
}
END_TEST

START_TEST(json_text_read_where_it_is)
{
	/* JSON text with escapes is tokenized where it is, still escaped: every value
	 * must read as if the text had been decoded first */
	load("{\"p\":\"{\\\"o\\\":{\\\"k\\\":\\\"v\\\",\\\"q\\\":\\\"a\\\\\\\"b\\\"},"
	     "\\\"url\\\":\\\"https:\\/\\/x\\/y\\\",\\\"nl\\\":\\\"l1\\\\nl2\\\","
	     "\\\"bs\\\":\\\"c:\\\\\\\\d\\\",\\\"a\\\":[1,\\\"two\\\",{\\\"z\\\":null}]}\"}");
	ck_get("p.o", "obj:{\"k\":\"v\",\"q\":\"a\\\"b\"}");
	ck_get("p.o.q", "str:a\"b");
	ck_get("p.url", "str:https://x/y");
	ck_get("p.nl", "str:l1\nl2");
	ck_get("p.bs", "str:c:\\d");
	ck_get("p.a", "arr:[1,\"two\",{\"z\":null}] | num:1#1 | str:two | obj:{\"z\":null}");
	ck_get("p.a.z", "null:null");
	/* pretty-printed text: its newlines and tabs are escapes of the outer string */
	load("{\"p\":\"{\\n\\t\\\"k\\\" : \\\"v\\\",\\r\\n\\t\\\"n\\\" : 5\\n}\"}");
	ck_get("p.k", "str:v");
	ck_get("p.n", "num:5#5");
	/* \u escapes take the decoding path and read the same */
	load("{\"p\":\"{\\u0022k\\u0022:\\\"caf\\u00e9\\\",\\\"n\\\":5}\"}");
	ck_get("p.k", "str:caf\xc3\xa9");
	ck_get("p.n", "num:5#5");
	/* an escaped newline inside a nested string decodes to a raw control byte: the
	 * text is not JSON, so it has no fields, whichever path reads it */
	load("{\"p\":\"{\\\"k\\\":\\\"a\\nb\\\"}\"}");
	ck_absent("p.k");
	load("{\"p\":\"{\\\"k\\\":\\\"a\\nb\\\",\\\"u\\\":\\\"\\u00e9\\\"}\"}");
	ck_absent("p.k");
	/* a nested key with escapes still matches, exactly or ignoring case */
	load("{\"p\":\"{\\\"we\\\\\\\"ird\\\":1,\\\"Mixed\\\":2}\"}");
	ck_get("p.we\"ird", "num:1#1");
	ck_get("p.mixed", "num:2#2");
}
END_TEST

START_TEST(borrowed_tokens_and_field_ids)
{
	/* the engine's path: the input's tokens are borrowed, not copied; two refs
	 * naming one field share its memo, and the next event is read afresh */
	static const char *const events[] = {
	    "{\"Type\":\"T\",\"Caller\":\"one\",\"p\":\"{\\\"id\\\":\\\"x1\\\"}\"}",
	    "{\"Type\":\"T\",\"Caller\":\"two\",\"p\":\"{\\\"id\\\":\\\"x2\\\"}\",\"extra\":1}",
	};
	struct aw_field_ref a, b, c;
	jsmntok_t tok[64];
	bool esc[64];

	ck_assert_int_eq(aw_field_ref_init(&a, "Caller", &err), 0);
	ck_assert_int_eq(aw_field_ref_init(&b, "Caller", &err), 0);
	ck_assert_int_eq(aw_field_ref_init(&c, "p.id", &err), 0);
	ck_assert_uint_ne(a.id, 0);
	ck_assert_uint_eq(a.id, b.id);
	ck_assert_uint_ne(a.id, c.id);
	for (size_t e = 0; e < 2; e++) {
		struct aw_jtok_err jerr;
		int n = aw_json_tokenize(events[e], strlen(events[e]), tok, 64, esc, 64, &jerr);
		ck_assert_int_gt(n, 0);
		struct aw_json_tokens pre = {.tok = tok, .esc = esc, .n = n};
		ck_assert_int_eq(aw_event_view_reset_tokens(view, events[e], strlen(events[e]),
							    &pre, &err), 0);
		char want[32];
		snprintf(want, sizeof want, "str:%s", e ? "two" : "one");
		got[0] = '\0';
		ck_assert_int_eq(aw_event_view_get(view, &a, collect, NULL, NULL), 1);
		ck_assert_str_eq(got, want);
		got[0] = '\0';
		ck_assert_int_eq(aw_event_view_get(view, &b, collect, NULL, NULL), 1);
		ck_assert_str_eq(got, want);
		got[0] = '\0';
		ck_assert_int_eq(aw_event_view_get(view, &c, collect, NULL, NULL), 1);
		ck_assert_str_eq(got, e ? "str:x2" : "str:x1");
	}
	aw_field_ref_free(&a);
	aw_field_ref_free(&b);
	aw_field_ref_free(&c);
}
END_TEST

START_TEST(json_text_array_and_nesting)
{
	/* SecurityAlert Entities: a JSON array as text; a path crosses it element-wise */
	load("{\"Entities\":\"[{\\\"Type\\\":\\\"ip\\\",\\\"Address\\\":\\\"10.0.0.1\\\"},"
	     "{\\\"Type\\\":\\\"account\\\",\\\"Name\\\":\\\"bob\\\"},"
	     "{\\\"Type\\\":\\\"ip\\\",\\\"Address\\\":\\\"10.0.0.2\\\"}]\"}");
	ck_get("Entities.Address", "str:10.0.0.1 | str:10.0.0.2");
	ck_get("Entities.Name", "str:bob");
	ck_absent("Entities.Port");
	/* JSON text inside JSON text */
	load("{\"outer\":\"{\\\"inner\\\":\\\"{\\\\\\\"k\\\\\\\":\\\\\\\"deep\\\\\\\"}\\\"}\"}");
	ck_get("outer.inner.k", "str:deep");
	/* malformed JSON text is just a string */
	load("{\"p\":\"{not json\",\"q\":\"  [1, 2]\"}");
	ck_absent("p.x");
	ck_get("p", "str:{not json");
	/* whitespace before the bracket is allowed; an array root has no keys */
	ck_absent("q.x");
}
END_TEST

START_TEST(arrays_are_element_wise)
{
	load("{\"tags\":[\"a\",\"b\",[\"c\"]],\"res\":[{\"id\":\"x\",\"props\":[{\"v\":1},{\"v\":2}"
	     "]},"
	     "{\"id\":\"y\"},7]}");
	ck_get("tags", "arr:[\"a\",\"b\",[\"c\"]] | str:a | str:b | arr:[\"c\"] | str:c");
	ck_get("res.id", "str:x | str:y");
	ck_get("res.props.v", "num:1#1 | num:2#2");
	ck_absent("res.nope");
}
END_TEST

START_TEST(case_insensitive_fallback)
{
	load("{\"OperationName\":\"ListKey\",\"foo\":1,\"Foo\":2,"
	     "\"Props\":{\"ObjectId\":\"o1\"}}");
	ck_get("OperationName", "str:ListKey");
	ck_get("operationname", "str:ListKey");
	ck_get("OPERATIONNAME", "str:ListKey");
	/* an exact key always wins */
	ck_get("foo", "num:1#1");
	ck_get("Foo", "num:2#2");
	ck_get("props.objectid", "str:o1");
	ck_get("Props.objectId", "str:o1");
	/* a dotted key equal but for case: taken when no path leads anywhere, but a path
	 * (even one found ignoring case) comes first */
	load("{\"Props.ObjectId\":\"lit\"}");
	ck_get("props.objectid", "str:lit");
	load("{\"Props.ObjectId\":\"lit\",\"props\":\"{\\\"objectid\\\":\\\"path\\\"}\"}");
	ck_get("props.objectid", "str:path");
	ck_get("PROPS.OBJECTID", "str:path");
	load("{\"Props.ObjectId\":\"lit\",\"props\":\"{\\\"other\\\":1}\"}");
	ck_get("props.objectid", "str:lit");
}
END_TEST

/* Top-level keys are found by length, sixteen at a time: keys past the first block,
 * keys of one length, a key of 255 bytes and more, an escaped key whose text is
 * shorter than its bytes, and a duplicate (the first one counts). */
START_TEST(wide_records)
{
	char json[8192], name[300], want[64];
	size_t n = 0;

	n += (size_t)snprintf(json + n, sizeof json - n, "{");
	for (int k = 0; k < 40; k++)
		n += (size_t)snprintf(json + n, sizeof json - n, "\"Col%02d\":%d,", k, k);
	memset(name, 'x', 299);
	name[299] = '\0';
	n += (size_t)snprintf(json + n, sizeof json - n,
			      "\"%.254s\":\"short\",\"%s\":\"long\",\"%.255s\":\"len255\","
			      "\"a\\u0062c\":\"esc\",\"Col07\":\"dup\",\"ab\":\"ab\"}",
			      name, name, name);
	load(json);
	for (int k = 0; k < 40; k++) {
		char f[16];
		snprintf(f, sizeof f, "Col%02d", k);
		snprintf(want, sizeof want, "num:%d#%d", k, k);
		ck_get(f, want);
		snprintf(f, sizeof f, "cOL%02d", k);
		ck_get(f, want);
	}
	ck_get(name, "str:long");
	name[255] = '\0';
	ck_get(name, "str:len255");
	name[254] = '\0';
	ck_get(name, "str:short");
	memset(name, 'x', 256);
	name[256] = '\0';
	ck_absent(name);
	ck_get("abc", "str:esc");
	ck_get("ABC", "str:esc");
	ck_get("ab", "str:ab");
	ck_absent("Col40");
	ck_absent("a");
}
END_TEST

/* Top-level names are resolved once per key layout (key_layout.h): every record must
 * still see its own keys, whichever layouts came before it. The records share names
 * and key lengths but differ in a byte, in case, in order, by a duplicate or by an
 * escape; they are read in several orders so each meets others' cached answers. */
START_TEST(key_layouts_follow_the_keys)
{
	static const char *names[] = {"Alpha", "alpha", "ALPHA", "Beta", "Gamma"};
	static const struct {
		const char *json;
		const char *want[5]; /* per name; "" absent */
	} recs[] = {
	    {"{\"Alpha\":\"a1\",\"Beta\":\"b1\"}", {"a1", "a1", "a1", "b1", ""}},
	    {"{\"Alpha\":\"a2\",\"Betb\":\"b2\"}", {"a2", "a2", "a2", "", ""}},
	    {"{\"alpha\":\"a3\",\"Beta\":\"b3\"}", {"a3", "a3", "a3", "b3", ""}},
	    {"{\"Beta\":\"x\",\"Alpha\":\"a4\",\"Alpha\":\"dup\"}", {"a4", "a4", "a4", "x", ""}},
	    {"{\"Alpha\":\"a5\",\"ALPHA\":\"f5\"}", {"a5", "a5", "f5", "", ""}},
	    {"{\"ALPHA\":\"f6\",\"Alpha\":\"a6\"}", {"a6", "f6", "f6", "", ""}},
	    {"{\"Al\\u0070ha\":\"e7\",\"Gamma\":7}", {"e7", "e7", "e7", "", "7"}},
	    {"{\"Al\\\\pha\":\"e8\",\"Gamma\":8}", {"", "", "", "", "8"}},
	    {"{\"Gamma\":9,\"Alpha\":\"a9\"}", {"a9", "a9", "a9", "", "9"}},
	    {"{\"Gamma\":10,\"alphA\":\"a10\"}", {"a10", "a10", "a10", "", "10"}},
	    {"{}", {"", "", "", "", ""}},
	};
	const size_t n = sizeof recs / sizeof recs[0];
	struct aw_field_ref f[5];

	for (size_t k = 0; k < 5; k++)
		ck_assert_int_eq(aw_field_ref_init(&f[k], names[k], &err), 0);
	/* forwards, backwards, then a stride, so no record only follows one neighbour */
	for (size_t pass = 0; pass < 3 * n; pass++) {
		size_t r = pass < n ? pass : pass < 2 * n ? 2 * n - 1 - pass : (pass * 7) % n;
		load(recs[r].json);
		for (size_t k = 0; k < 5; k++) {
			const char *s = NULL;
			size_t len = 0;
			int rc = aw_event_view_peek_string(view, &f[k], &s, &len);
			char want[32];
			/* peek first (a string column), then the general lookup */
			if (recs[r].want[k][0] == '\0') {
				ck_assert_msg(rc == 0, "record %zu %s: peek %d", r, names[k], rc);
				ck_absent(names[k]);
				continue;
			}
			if (k < 4)
				ck_assert_msg(rc == 1 && len == strlen(recs[r].want[k]) &&
						  memcmp(s, recs[r].want[k], len) == 0,
					      "record %zu %s: peek %d %.*s", r, names[k], rc,
					      (int)len, s ? s : "");
			snprintf(want, sizeof want, "%s:%s", k < 4 ? "str" : "num", recs[r].want[k]);
			if (k == 4)
				snprintf(want, sizeof want, "num:%s#%s", recs[r].want[k],
					 recs[r].want[k]);
			ck_assert_msg(strcmp(lookup(names[k], 1), want) == 0,
				      "record %zu %s: got %s want %s", r, names[k], got, want);
		}
	}
	for (size_t k = 0; k < 5; k++)
		aw_field_ref_free(&f[k]);
}
END_TEST

/* More key sequences than layouts are kept, records too wide or with keys too long to
 * keep one: the answers are the same. */
START_TEST(key_layouts_beyond_their_bounds)
{
	static char json[16384];
	char name[16], want[32];

	for (int round = 0; round < 3; round++) {
		/* 12 sequences of the same 6 keys, rotated: key K<i> holds i */
		for (int rot = 0; rot < 12; rot++) {
			size_t m = 0;
			m += (size_t)snprintf(json + m, sizeof json - m, "{");
			for (int k = 0; k < 6; k++) {
				int i = (k + rot) % 6;
				m += (size_t)snprintf(json + m, sizeof json - m, "%s\"K%d\":%d",
						      k ? "," : "", rot >= 6 ? i + 10 : i,
						      rot >= 6 ? i + 10 : i);
			}
			snprintf(json + m, sizeof json - m, "}");
			load(json);
			for (int i = 0; i < 6; i++) {
				int id = rot >= 6 ? i + 10 : i;
				snprintf(name, sizeof name, "K%d", id);
				snprintf(want, sizeof want, "num:%d#%d", id, id);
				ck_get(name, want);
				snprintf(name, sizeof name, "K%d", rot >= 6 ? i : i + 10);
				ck_absent(name);
			}
		}
		/* 70 keys: more than a layout holds */
		size_t m = (size_t)snprintf(json, sizeof json, "{");
		for (int k = 0; k < 70; k++)
			m += (size_t)snprintf(json + m, sizeof json - m, "%s\"K%d\":%d", k ? "," : "",
					      69 - k, 69 - k);
		snprintf(json + m, sizeof json - m, "}");
		load(json);
		ck_get("K0", "num:0#0");
		ck_get("K69", "num:69#69");
		ck_absent("K70");
		/* keys of 3,000 bytes in all: longer than a layout keeps */
		m = (size_t)snprintf(json, sizeof json, "{");
		for (int k = 0; k < 3; k++)
			m += (size_t)snprintf(json + m, sizeof json - m, "%s\"%0999d\":%d",
					      k ? "," : "", k, k);
		snprintf(json + m, sizeof json - m, "}");
		load(json);
		char longname[1000];
		snprintf(longname, sizeof longname, "%0999d", 2);
		ck_get(longname, "num:2#2");
		ck_absent("K0");
	}
}
END_TEST

START_TEST(unicode_escapes)
{
	load(
	    "{\"e\":\"caf\\u00e9\",\"smile\":\"\\ud83d\\ude00!\",\"lone\":\"a\\ud800b\","
	    "\"esc\":\"tab\\there\\n\\\"q\\\"\\\\\\/\",\"\\u004bey\":\"k\",\"nul\":\"a\\u0000b\"}");
	ck_get("e", "str:caf\xc3\xa9");
	ck_get("smile", "str:\xf0\x9f\x98\x80!");
	ck_get("lone", "str:a\xef\xbf\xbd"
		       "b");
	ck_get("esc", "str:tab\there\n\"q\"\\/");
	ck_get("Key", "str:k");
	struct aw_field_ref f;
	ck_assert_int_eq(aw_field_ref_init(&f, "nul", &err), 0);
	got[0] = '\0';
	aw_event_view_get(view, &f, collect, NULL, NULL);
	ck_assert_int_eq(strlen(got), strlen("str:a")); /* printed up to the NUL */
	aw_field_ref_free(&f);
}
END_TEST

START_TEST(numbers_in_strings)
{
	load(
	    "{\"a\":\"0\",\"b\":\"-12.5\",\"c\":\"1e3\",\"d\":\"12abc\",\"e\":\" 1\",\"f\":\"nan\","
	    "\"g\":\"inf\",\"h\":\"0x10\",\"i\":\"\",\"j\":\".5\",\"k\":\"1e999\",\"l\":\"+7\"}");
	ck_get("a", "str:0#0");
	ck_get("b", "str:-12.5#-12.5");
	ck_get("c", "str:1e3#1000");
	ck_get("d", "str:12abc");
	ck_get("e", "str: 1");
	ck_get("f", "str:nan");
	ck_get("g", "str:inf");
	ck_get("h", "str:0x10");
	ck_get("i", "str:");
	ck_get("j", "str:.5#0.5");
	ck_get("k", "str:1e999");
	ck_get("l", "str:+7#7");
}
END_TEST

START_TEST(stop_and_null_presence)
{
	struct aw_field_ref f;
	bool stopped = false;

	load("{\"a\":[1,2,3],\"z\":null}");
	ck_assert_int_eq(aw_field_ref_init(&f, "a", &err), 0);
	got[0] = '\0';
	ck_assert_int_eq(aw_event_view_get(view, &f, collect, (void *)1, &stopped), 1);
	ck_assert(stopped);
	ck_assert_str_eq(got, "arr:[1,2,3]");
	aw_field_ref_free(&f);
	ck_get("z", "null:null");
}
END_TEST

static int collect_strings(void *ud, const struct aw_val *v)
{
	ck_assert_int_eq(v->kind, AW_VAL_STRING);
	return collect(ud, v);
}

START_TEST(each_string_includes_nested_text)
{
	load("{\"k1\":\"v1\",\"n\":5,\"arr\":[\"a\",{\"k2\":\"b\"}],"
	     "\"p\":\"{\\\"k3\\\":\\\"inner\\\",\\\"m\\\":[\\\"x\\\"]}\"}");
	got[0] = '\0';
	aw_event_view_each_string(view, collect_strings, NULL);
	ck_assert_str_eq(got, "str:v1 | str:a | str:b | str:{\"k3\":\"inner\",\"m\":[\"x\"]} | "
			      "str:inner | str:x");
}
END_TEST

START_TEST(text_accessor)
{
	const char *js = "{\"a\":1}";
	size_t len = 0;

	load(js);
	ck_assert_ptr_eq(aw_event_view_text(view, &len), js);
	ck_assert_uint_eq(len, strlen(js));
}
END_TEST

static void ck_reset_fails(const char *json, size_t len, const char *want)
{
	int rc = aw_event_view_reset(view, json, len, &err);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(err.msg, want) != NULL, "error '%s' lacks '%s'", err.msg, want);
	/* a failed view answers nothing */
	ck_absent("a");
}

START_TEST(malformed_events)
{
	ck_reset_fails("", 0, "event is empty");
	ck_reset_fails("{\"a\":}", 6, "malformed JSON");
	ck_reset_fails("{\"a\":1", 6, "malformed JSON");
	ck_reset_fails("[1,2]", 5, "not a JSON object");
	ck_reset_fails("\"a\"", 3, "malformed JSON");
	ck_reset_fails("{\"a\":1} x", 9, "malformed JSON near byte 8");
	ck_reset_fails("{\"a\":tru}", 9, "malformed JSON");
	ck_reset_fails("{\"a\":01}", 8, "malformed JSON");
	ck_reset_fails("{\"a\" \"b\"}", 9, "malformed JSON");
	ck_reset_fails("{\"a\":1}\0{}", 10, "malformed JSON");
	ck_reset_fails("{\"a\":\"x\0y\"}", 11, "malformed JSON");
	ck_reset_fails("{1:2}", 5, "malformed JSON");
	/* good again after failures */
	load("{\"a\":1}");
	ck_get("a", "num:1#1");
	/* a result lasts for its event: not past a failed reset, not into the next */
	aw_event_view_set_result(view, 7, true);
	aw_event_view_set_result(view, 70000, false); /* past any id: ignored */
	ck_assert_int_eq(aw_event_view_result(view, 7), 1);
	ck_assert_int_eq(aw_event_view_result(view, 70000), -1);
	ck_reset_fails("{\"a\":", 5, "malformed JSON");
	ck_assert_int_eq(aw_event_view_result(view, 7), -1);
	aw_event_view_set_result(view, 7, false);
	ck_assert_int_eq(aw_event_view_result(view, 7), -1);
	load("{\"a\":1}");
	ck_assert_int_eq(aw_event_view_result(view, 7), -1);
	aw_event_view_set_result(view, 7, false);
	ck_assert_int_eq(aw_event_view_result(view, 7), 0);
}
END_TEST

START_TEST(too_many_tokens)
{
	struct aw_event_view *small = aw_event_view_new(8);
	const char *js = "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}";

	ck_assert_int_eq(aw_event_view_reset(small, js, strlen(js), &err), -1);
	ck_assert_str_eq(err.msg, "too many JSON tokens (limit 8)");
	js = "{\"a\":1,\"b\":2,\"c\":3}";
	ck_assert_int_eq(aw_event_view_reset(small, js, strlen(js), &err), 0);
	/* JSON text that would go over the bound is not descended into */
	js = "{\"a\":\"[1,2,3,4,5,6]\"}";
	ck_assert_int_eq(aw_event_view_reset(small, js, strlen(js), &err), 0);
	struct aw_field_ref f;
	ck_assert_int_eq(aw_field_ref_init(&f, "a.x", &err), 0);
	ck_assert_int_eq(aw_event_view_get(small, &f, collect, NULL, NULL), 0);
	aw_field_ref_free(&f);
	aw_event_view_free(small);
}
END_TEST

START_TEST(too_deep)
{
	char js[1024];
	size_t n = 0;

	n += (size_t)snprintf(js + n, sizeof js - n, "{\"a\":");
	for (int i = 0; i < 100; i++)
		js[n++] = '[';
	for (int i = 0; i < 100; i++)
		js[n++] = ']';
	js[n++] = '}';
	js[n] = '\0';
	ck_assert_int_eq(aw_event_view_reset(view, js, n, &err), -1);
	ck_assert_str_eq(err.msg, "JSON nested deeper than 64 levels");
}
END_TEST

/* A lookup started from inside a callback (what `fieldref` does) while the first one
 * is still walking, with the inner one growing the token array. */
struct reent {
	struct aw_field_ref inner;
	int calls;
	char seen[256];
};

static int inner_cb(void *ud, const struct aw_val *v)
{
	struct reent *r = ud;
	size_t n = strlen(r->seen);
	snprintf(r->seen + n, sizeof r->seen - n, "%.*s,", (int)v->len, v->s);
	return 0;
}

static int outer_cb(void *ud, const struct aw_val *v)
{
	struct reent *r = ud;
	if (v->kind != AW_VAL_STRING)
		return 0;
	r->calls++;
	aw_event_view_get(view, &r->inner, inner_cb, r, NULL);
	/* our own value must still be intact */
	ck_assert_int_eq(v->len, 5);
	ck_assert(memcmp(v->s, "outer", 5) == 0 || memcmp(v->s, "again", 5) == 0);
	return 0;
}

START_TEST(reentrant_lookup_with_growth)
{
	size_t cap = 64 * 1024, n = 0;
	char *js = malloc(cap);
	struct reent r = {0};

	n += (size_t)snprintf(js + n, cap - n, "{\"list\":[\"outer\",\"again\"],\"big\":\"[");
	for (int i = 0; i < 600; i++)
		n += (size_t)snprintf(js + n, cap - n, "%s{\\\"k\\\":%d}", i ? "," : "", i);
	n += (size_t)snprintf(js + n, cap - n, "]\",\"tail\":\"\\u0041\"}");
	load(js);
	ck_assert_int_eq(aw_field_ref_init(&r.inner, "big.k", &err), 0);
	struct aw_field_ref f;
	ck_assert_int_eq(aw_field_ref_init(&f, "list", &err), 0);
	aw_event_view_get(view, &f, outer_cb, &r, NULL);
	ck_assert_int_eq(r.calls, 2);
	ck_assert(strncmp(r.seen, "0,1,2,3,", 8) == 0);
	ck_get("tail", "str:A");
	aw_field_ref_free(&f);
	aw_field_ref_free(&r.inner);
	free(js);
}
END_TEST

static int count_cb(void *ud, const struct aw_val *v)
{
	(*(size_t *)ud)++;
	return 0;
}

START_TEST(warm_view_does_not_grow)
{
	char js[4096];
	struct aw_field_ref f1, f2, f3;
	size_t warm = 0;

	ck_assert_int_eq(aw_field_ref_init(&f1, "properties_s.objectId", &err), 0);
	ck_assert_int_eq(aw_field_ref_init(&f2, "Msg", &err), 0);
	ck_assert_int_eq(aw_field_ref_init(&f3, "arr.k", &err), 0);
	for (int i = 0; i < 2000; i++) {
		/* vary the sizes a little, always with escapes and nested text */
		int pad = i % 37;
		snprintf(js, sizeof js,
			 "{\"Type\":\"AzureDiagnostics\",\"Msg\":\"line\\n%d %.*s\","
			 "\"properties_s\":\"{\\\"objectId\\\":\\\"id-%d\\\",\\\"x\\\":[1,2,3]}\","
			 "\"arr\":[{\"k\":\"\\u00e9%d\"},{\"k\":%d}]}",
			 i, pad, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i, i, i);
		load(js);
		size_t n = 0;
		ck_assert_int_eq(aw_event_view_get(view, &f1, count_cb, &n, NULL), 1);
		ck_assert_int_eq(aw_event_view_get(view, &f2, count_cb, &n, NULL), 1);
		ck_assert_int_eq(aw_event_view_get(view, &f3, count_cb, &n, NULL), 1);
		aw_event_view_each_string(view, count_cb, &n);
		ck_assert_uint_eq(n, 4 + 5);
		if (i == 100)
			warm = aw_event_view_footprint(view);
		if (i > 100)
			ck_assert_uint_eq(aw_event_view_footprint(view), warm);
	}
	ck_assert_uint_gt(warm, 0);
	aw_field_ref_free(&f1);
	aw_field_ref_free(&f2);
	aw_field_ref_free(&f3);
}
END_TEST

START_TEST(field_refs)
{
	struct aw_field_ref f;

	ck_assert_int_eq(aw_field_ref_init(&f, "a.bc.d", &err), 0);
	ck_assert_str_eq(f.name, "a.bc.d");
	ck_assert_uint_eq(f.len, 6);
	ck_assert_uint_eq(f.nseg, 3);
	ck_assert_str_eq(f.seg[0], "a");
	ck_assert_str_eq(f.seg[1], "bc");
	ck_assert_str_eq(f.seg[2], "d");
	aw_field_ref_free(&f);
	ck_assert_int_eq(aw_field_ref_init(&f, "plain", &err), 0);
	ck_assert_uint_eq(f.nseg, 0);
	ck_assert_ptr_null(f.seg);
	aw_field_ref_free(&f);
	ck_assert_int_eq(aw_field_ref_init(&f, "", &err), -1);
	ck_assert_str_eq(err.msg, "empty field name");
	aw_field_ref_free(&f); /* safe after a failed init */
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("event_view");
	TCase *tc = tcase_create("view");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, kinds_of_values);
	tcase_add_test(tc, literal_dotted_key_wins_over_path);
	tcase_add_test(tc, json_text_column_is_addressable);
	tcase_add_test(tc, json_text_read_where_it_is);
	tcase_add_test(tc, borrowed_tokens_and_field_ids);
	tcase_add_test(tc, json_text_array_and_nesting);
	tcase_add_test(tc, arrays_are_element_wise);
	tcase_add_test(tc, case_insensitive_fallback);
	tcase_add_test(tc, wide_records);
	tcase_add_test(tc, key_layouts_follow_the_keys);
	tcase_add_test(tc, key_layouts_beyond_their_bounds);
	tcase_add_test(tc, unicode_escapes);
	tcase_add_test(tc, numbers_in_strings);
	tcase_add_test(tc, stop_and_null_presence);
	tcase_add_test(tc, each_string_includes_nested_text);
	tcase_add_test(tc, text_accessor);
	tcase_add_test(tc, malformed_events);
	tcase_add_test(tc, too_many_tokens);
	tcase_add_test(tc, too_deep);
	tcase_add_test(tc, reentrant_lookup_with_growth);
	tcase_add_test(tc, warm_view_does_not_grow);
	tcase_add_test(tc, field_refs);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(suite)
