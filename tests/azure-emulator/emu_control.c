/* Control routes under /_emulator/: faults, request log, config, reset, stats. They
 * never need a token, are not logged and never get faults. Errors are
 * {"error": "message"} with 400. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "emu_state.h"

static void control_error(struct aw_emu_response *resp, const char *msg)
{
	json_object *o = aw_emu_need(json_object_new_object());

	json_object_object_add(o, "error", json_object_new_string(msg));
	aw_emu_resp_json(resp, 400, o);
}

static void ok_count(struct aw_emu_response *resp, const char *key, int n)
{
	json_object *o = aw_emu_need(json_object_new_object());

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	if (key)
		json_object_object_add(o, key, json_object_new_int(n));
	aw_emu_resp_json(resp, 200, o);
}

static void text_json(struct aw_emu_response *resp, char *text)
{
	aw_emu_resp_raw(resp, 200, "application/json; charset=utf-8", text, strlen(text));
	free(text);
}

/* The request body as JSON; on error fills resp and returns NULL. */
static json_object *body_json(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	enum json_tokener_error jerr = json_tokener_success;
	json_object *o = json_tokener_parse_verbose(rq->body, &jerr);
	char msg[256];

	if (!o) {
		snprintf(msg, sizeof(msg), "the body is not JSON: %s",
			 rq->body_len ? json_tokener_error_desc(jerr) : "it is empty");
		control_error(resp, msg);
	}
	return o;
}

static void post_faults(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	json_object *spec = body_json(rq, resp);
	char err[512];
	int n;

	if (!spec)
		return;
	n = aw_emu_faults_add(rq->st, spec, err, sizeof(err));
	if (n < 0)
		control_error(resp, err);
	else
		ok_count(resp, "queued", n);
	json_object_put(spec);
}

static void get_faults(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	text_json(resp, aw_emu_faults_text(rq->st));
}

static void get_requests(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	text_json(resp, aw_emu_log_text(rq->st, aw_emu_query(rq, "path")));
}

static void post_reset(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	aw_emu_state_reset(rq->st);
	ok_count(resp, NULL, 0);
}

static void post_config(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	json_object *patch = body_json(rq, resp);
	char err[512];

	if (!patch)
		return;
	if (aw_emu_config_merge(rq->st, patch, err, sizeof(err)) < 0)
		control_error(resp, err);
	else
		ok_count(resp, NULL, 0);
	json_object_put(patch);
}

static void get_config(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	text_json(resp, aw_emu_config_text(rq->st));
}

static void get_stats(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	text_json(resp, aw_emu_stats_text(rq->st));
}

static const struct aw_emu_route routes[] = {
    {"POST", "/_emulator/faults", NULL, AW_EMU_F_CONTROL, post_faults},
    {"GET", "/_emulator/faults", NULL, AW_EMU_F_CONTROL, get_faults},
    {"GET", "/_emulator/requests", NULL, AW_EMU_F_CONTROL, get_requests},
    {"POST", "/_emulator/reset", NULL, AW_EMU_F_CONTROL, post_reset},
    {"POST", "/_emulator/config", NULL, AW_EMU_F_CONTROL, post_config},
    {"GET", "/_emulator/config", NULL, AW_EMU_F_CONTROL, get_config},
    {"GET", "/_emulator/stats", NULL, AW_EMU_F_CONTROL, get_stats},
    {NULL, NULL, NULL, 0, NULL},
};

const struct aw_emu_module aw_emu_control_module = {"control", routes, NULL, NULL};
