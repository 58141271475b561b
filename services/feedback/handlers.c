/*
 * handlers.c - one function per FeedbackService RPC: check the scope, validate the
 * request (field-level violations), ask the peers what the service does not own
 * (the match from matching, the programme or participant from enrolment), call the
 * store, answer. No SQL here.
 */
#include "feedback.h"

#include <stdio.h>
#include <string.h>

tdm_status *fb_req_init(fb_req *r, fb_service *svc, tdm_call *call, uint32_t scope)
{
    return tdm_handler_init(r, svc->rt, call, scope);
}

/* One call's state across its peer and store steps. */
typedef struct call_op call_op;
struct call_op {
    fb_service *svc;
    tdm_call *call;
    fb_req req;
    const ProtobufCMessage *request;
    const Tandem__V1__Match *match;
    const Tandem__V1__Survey *survey;
    int page_size;
    void (*then)(call_op *op); /* after the programme was found (programme_got) */
};

/* The call's op once its checks are done (st: their refusal, or NULL): NULL, after
 * failing the call, when st is set or out of memory. */
static call_op *call_op_start(fb_service *svc, tdm_call *call, const fb_req *r,
                              const ProtobufCMessage *request, tdm_status *st)
{
    if (tdm_handler_fail(call, st))
        return NULL;
    call_op *op = tdm_arena_calloc(tdm_call_arena(call), 1, sizeof(*op));
    if (op == NULL) {
        tdm_call_fail(call, tdm_store_oom());
        return NULL;
    }
    op->svc = svc;
    op->call = call;
    op->req = *r;
    op->request = request;
    return op;
}

static bool is_side(const Tandem__V1__Match *m, const char *participant_id)
{
    return participant_id[0] != '\0' &&
           (strcmp(m->mentor_id, participant_id) == 0 || strcmp(m->mentee_id, participant_id) == 0);
}

/* The front of a read of one programme's list: scope feedback:read, programme_id a
 * UUID, the page size. The call's op, or NULL when the call has been failed. */
static call_op *programme_list_op(tdm_call *call, const ProtobufCMessage *msg, void *data,
                                  const char *programme_id, int32_t page_size)
{
    fb_req r;
    int size = 0;
    tdm_status *st = fb_req_init(&r, data, call, TDM_SCOPE_FEEDBACK_READ);
    if (st == NULL)
        st = tdm_check_uuid(programme_id, "programme_id");
    if (st == NULL)
        st = tdm_check_page_size(page_size, &size);
    call_op *op = call_op_start(data, call, &r, msg, st);
    if (op != NULL)
        op->page_size = size;
    return op;
}

/* ---- RecordCheckIn ---------------------------------------------------------------- */

static void record_programme_got(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    call_op *op = arg;
    const Tandem__V1__RecordCheckInRequest *req = (const void *)op->request;
    if (st == NULL) {
        tdm_violations v = {0};
        fb_validate_goal_keys(req, (const Tandem__V1__Programme *)msg, &v);
        st = tdm_violations_take(&v, NULL);
    }
    if (st != NULL) {
        tdm_call_fail(op->call, st);
        return;
    }
    fb_store_record_check_in(&op->req, req, op->match, tdm_handler_reply, op->call);
}

static void record_match_got(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    call_op *op = arg;
    const Tandem__V1__RecordCheckInRequest *req = (const void *)op->request;
    const Tandem__V1__Match *m = (const void *)msg;
    if (st == NULL && !is_side(m, req->participant_id))
        st = tdm_status_add_violation(
            tdm_status_new(TDM_INVALID_ARGUMENT, "the participant is not a side of the match"),
            "participant_id", "must be the match's mentor or mentee");
    if (st == NULL && m->status != TANDEM__V1__MATCH__STATUS__ACCEPTED &&
        m->status != TANDEM__V1__MATCH__STATUS__ACTIVE)
        st = tdm_status_add_violation(
            tdm_status_new(TDM_FAILED_PRECONDITION,
                           "check-ins are recorded for ACCEPTED or ACTIVE matches"),
            "match_id", "the match is not ACCEPTED or ACTIVE");
    if (st != NULL) {
        tdm_call_fail(op->call, st);
        return;
    }
    op->match = m;
    if (req->n_goal_progress == 0) {
        fb_store_record_check_in(&op->req, req, m, tdm_handler_reply, op->call);
        return;
    }
    fb_peer_get_programme(op->svc, op->call, m->programme_id, record_programme_got, op);
}

static void handle_record_check_in(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    Tandem__V1__RecordCheckInRequest *req = (void *)msg;
    fb_req r;
    tdm_status *st = fb_req_init(&r, data, call, TDM_SCOPE_FEEDBACK_WRITE | TDM_SCOPE_AS_PERSON);
    if (st == NULL)
        st = tdm_handler_person(call, &req->participant_id, "participant_id");
    if (st == NULL) {
        tdm_violations v = {0};
        fb_validate_check_in(req, fb_now_s(), &v);
        st = tdm_violations_take(&v, NULL);
    }
    if (st == NULL)
        st = tdm_handler_idempotency(call, "RecordCheckIn", msg, &r.idem);
    call_op *op = call_op_start(data, call, &r, msg, st);
    if (op == NULL)
        return;
    fb_peer_get_match(data, call, req->match_id, record_match_got, op);
}

/* ---- ListCheckIns ------------------------------------------------------------------- */

static void list_match_got(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    call_op *op = arg;
    const Tandem__V1__ListCheckInsRequest *req = (const void *)op->request;
    if (st != NULL) {
        tdm_call_fail(op->call, st);
        return;
    }
    /* Notes go only to a participant token of one side: an API key naming a side's
     * participant_id asserts an identity it has not proven (API.md "Acting as a
     * person"). */
    const tdm_call_context *ctx = op->req.ctx;
    bool notes = ctx->principal_kind == TDM_PRINCIPAL_PARTICIPANT &&
                 is_side((const Tandem__V1__Match *)msg, ctx->participant_id);
    fb_store_list_check_ins(&op->req, req->match_id, op->page_size, req->page_token, notes,
                            tdm_handler_reply, op->call);
}

static void handle_list_check_ins(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    Tandem__V1__ListCheckInsRequest *req = (void *)msg;
    fb_req r;
    int page_size = 0;
    tdm_status *st = fb_req_init(&r, data, call, TDM_SCOPE_FEEDBACK_READ | TDM_SCOPE_AS_PERSON);
    if (st == NULL)
        st = tdm_handler_person(call, &req->participant_id, "participant_id");
    if (st == NULL)
        st = tdm_check_uuid(req->match_id, "match_id");
    if (st == NULL && req->participant_id[0] != '\0')
        st = tdm_check_uuid(req->participant_id, "participant_id");
    if (st == NULL)
        st = tdm_check_page_size(req->page_size, &page_size);
    call_op *op = call_op_start(data, call, &r, msg, st);
    if (op == NULL)
        return;
    op->page_size = page_size;
    fb_peer_get_match(data, call, req->match_id, list_match_got, op);
}

/* ---- GetCheckIn, GetSurvey: one resource by its id ------------------------------------ */

typedef void (*store_get_fn)(const fb_req *r, const char *id, fb_store_cb cb, void *arg);

/* Scope feedback:read, the id a UUID, then the store's read answers. */
static void read_by_id(tdm_call *call, void *data, const char *id, store_get_fn get)
{
    fb_req r;
    tdm_status *st = fb_req_init(&r, data, call, TDM_SCOPE_FEEDBACK_READ);
    if (st == NULL)
        st = tdm_check_uuid(id, "id");
    if (tdm_handler_fail(call, st))
        return;
    get(&r, id, tdm_handler_reply, call);
}

static void handle_get_check_in(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    read_by_id(call, data, ((const Tandem__V1__GetCheckInRequest *)msg)->id, fb_store_get_check_in);
}

static void handle_get_survey(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    read_by_id(call, data, ((const Tandem__V1__GetSurveyRequest *)msg)->id, fb_store_get_survey);
}

/* ---- CreateSurvey -------------------------------------------------------------------- */

/* The programme exists in the caller's tenant (else its NOT_FOUND answers): go on. */
static void programme_got(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    call_op *op = arg;
    (void)msg;
    if (!tdm_handler_fail(op->call, st))
        op->then(op);
}

static void create_survey_store(call_op *op)
{
    const Tandem__V1__CreateSurveyRequest *req = (const void *)op->request;
    fb_store_create_survey(&op->req, req->programme_id, req->survey, tdm_handler_reply, op->call);
}

static void handle_create_survey(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__CreateSurveyRequest *req = (const void *)msg;
    fb_req r;
    tdm_status *st = fb_req_init(&r, data, call, TDM_SCOPE_FEEDBACK_WRITE);
    if (st == NULL) {
        tdm_violations v = {0};
        if (!tdm_uuid_valid(req->programme_id))
            tdm_violations_add(&v, "programme_id", "must be a UUID");
        if (req->survey == NULL)
            tdm_violations_add(&v, "survey", "is required");
        else
            fb_validate_survey(req->survey, &v);
        st = tdm_violations_take(&v, NULL);
    }
    if (st == NULL)
        st = tdm_handler_idempotency(call, "CreateSurvey", msg, &r.idem);
    call_op *op = call_op_start(data, call, &r, msg, st);
    if (op == NULL)
        return;
    /* The programme must exist in the caller's tenant (else NOT_FOUND). */
    op->then = create_survey_store;
    fb_peer_get_programme(data, call, req->programme_id, programme_got, op);
}

/* ---- ListSurveys ------------------------------------------------------------ */

static void list_surveys_store(call_op *op)
{
    const Tandem__V1__ListSurveysRequest *req = (const void *)op->request;
    fb_store_list_surveys(&op->req, req->programme_id, op->page_size, req->page_token,
                          tdm_handler_reply, op->call);
}

static void handle_list_surveys(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__ListSurveysRequest *req = (const void *)msg;
    call_op *op = programme_list_op(call, msg, data, req->programme_id, req->page_size);
    if (op == NULL)
        return;
    /* An unknown programme is NOT_FOUND, not an empty list. */
    op->then = list_surveys_store;
    fb_peer_get_programme(data, call, req->programme_id, programme_got, op);
}

/* ---- SubmitSurveyResponse -------------------------------------------------------------- */

static void submit_participant_got(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    call_op *op = arg;
    const Tandem__V1__SubmitSurveyResponseRequest *req = (const void *)op->request;
    const Tandem__V1__Participant *p = (const void *)msg;
    if (st == NULL && (strcmp(p->programme_id, op->survey->programme_id) != 0 ||
                       p->status == TANDEM__V1__PARTICIPANT__STATUS__WITHDRAWN))
        st = tdm_status_add_violation(
            tdm_status_new(TDM_FAILED_PRECONDITION,
                           "the participant is not enrolled in the survey's programme"),
            "participant_id", "must be enrolled in the survey's programme");
    if (st != NULL) {
        tdm_call_fail(op->call, st);
        return;
    }
    fb_store_submit_response(&op->req, op->survey, req, tdm_handler_reply, op->call);
}

static void submit_survey_got(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    call_op *op = arg;
    const Tandem__V1__SubmitSurveyResponseRequest *req = (const void *)op->request;
    if (st == NULL) {
        tdm_violations v = {0};
        fb_validate_answers(req, (const Tandem__V1__Survey *)msg, &v);
        st = tdm_violations_take(&v, NULL);
    }
    if (st != NULL) {
        tdm_call_fail(op->call, st);
        return;
    }
    op->survey = (const Tandem__V1__Survey *)msg;
    fb_peer_get_participant(op->svc, op->call, req->participant_id, submit_participant_got, op);
}

static void handle_submit_response(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    Tandem__V1__SubmitSurveyResponseRequest *req = (void *)msg;
    fb_req r;
    tdm_status *st = fb_req_init(&r, data, call, TDM_SCOPE_FEEDBACK_WRITE | TDM_SCOPE_AS_PERSON);
    if (st == NULL)
        st = tdm_handler_person(call, &req->participant_id, "participant_id");
    if (st == NULL) {
        tdm_violations v = {0};
        if (!tdm_uuid_valid(req->survey_id))
            tdm_violations_add(&v, "survey_id", "must be a UUID");
        if (req->participant_id[0] == '\0')
            tdm_violations_add(&v, "participant_id", "is required");
        else if (!tdm_uuid_valid(req->participant_id))
            tdm_violations_add(&v, "participant_id", "must be a UUID");
        if (req->n_answers > FB_MAX_ANSWERS)
            tdm_violations_add(&v, "answers", "must have at most %u answers", FB_MAX_ANSWERS);
        st = tdm_violations_take(&v, NULL);
    }
    if (st == NULL)
        st = tdm_handler_idempotency(call, "SubmitSurveyResponse", msg, &r.idem);
    call_op *op = call_op_start(data, call, &r, msg, st);
    if (op == NULL)
        return;
    fb_store_get_survey(&r, req->survey_id, submit_survey_got, op);
}

/* ---- GetProgrammeReport ------------------------------------------------------------------ */

static void report_data_got(void *arg, tdm_status *st, fb_programme_data *d)
{
    call_op *op = arg;
    if (st != NULL) {
        tdm_call_fail(op->call, st);
        return;
    }
    /* Diversity breakdowns only for admins: enrolment returns diversity data to no
     * one else, and the report would otherwise be the way round that rule. */
    bool admin = (op->req.ctx->scopes & TDM_SCOPE_ADMIN) != 0;
    fb_store_report(&op->req, d, admin, tdm_handler_reply, op->call);
}

static void handle_report(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__GetProgrammeReportRequest *req = (const void *)msg;
    fb_req r;
    tdm_status *st = fb_req_init(&r, data, call, TDM_SCOPE_FEEDBACK_READ);
    if (st == NULL)
        st = tdm_check_uuid(req->programme_id, "programme_id");
    call_op *op = call_op_start(data, call, &r, msg, st);
    if (op == NULL)
        return;
    fb_peer_report_inputs(data, call, req->programme_id, report_data_got, op);
}

/* ---- ListAtRiskMatches -------------------------------------------------------------------- */

static void at_risk_data_got(void *arg, tdm_status *st, fb_programme_data *d)
{
    call_op *op = arg;
    const Tandem__V1__ListAtRiskMatchesRequest *req = (const void *)op->request;
    if (st != NULL) {
        tdm_call_fail(op->call, st);
        return;
    }
    fb_store_at_risk(&op->req, d, op->svc->at_risk.clock_offset_s, op->page_size, req->page_token,
                     tdm_handler_reply, op->call);
}

static void handle_at_risk(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__ListAtRiskMatchesRequest *req = (const void *)msg;
    call_op *op = programme_list_op(call, msg, data, req->programme_id, req->page_size);
    if (op != NULL)
        fb_peer_programme_data(data, call, req->programme_id, false, at_risk_data_got, op);
}

/* ---- registration -------------------------------------------------------------------------- */

static const tdm_rpc_method_def fb_methods[] = {
    {"RecordCheckIn", handle_record_check_in, 0},
    {"ListCheckIns", handle_list_check_ins, 0},
    {"GetCheckIn", handle_get_check_in, 0},
    {"CreateSurvey", handle_create_survey, 0},
    {"GetSurvey", handle_get_survey, 0},
    {"ListSurveys", handle_list_surveys, 0},
    {"SubmitSurveyResponse", handle_submit_response, 0},
    {"GetProgrammeReport", handle_report, 0},
    {"ListAtRiskMatches", handle_at_risk, 0},
};

tdm_status *fb_register(tdm_runtime *rt, fb_service *svc)
{
    svc->rt = rt;
    tdm_status *st =
        TDM_RUNTIME_SERVE(rt, &tandem__v1__feedback_service__descriptor, fb_methods, svc);
    if (st == NULL)
        st = fb_register_persondata(rt, svc);
    return st;
}
