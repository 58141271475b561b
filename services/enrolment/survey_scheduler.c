/*
 * survey_scheduler.c - the surveys of programmes made from templates open on their
 * day (issue #18).
 *
 * CreateProgrammeFromTemplate writes one enrolment.scheduled_surveys row per
 * template survey, due on start_date + open_day. Every replica of tandem-enrolment
 * runs this scheduler; each pass:
 *   1. claims up to SURVEYS_BATCH due rows of every tenant with FOR UPDATE SKIP LOCKED,
 *      stamping a new claim_id and a lease (SURVEYS_LEASE_S), so two replicas never
 *      hold the same row;
 *   2. for each, creates the survey in tandem-feedback (CreateSurvey, with the
 *      tenant's context, scopes feedback:write and enrolment:read only, the row's id as
 *      Idempotency-Key - a retry after a crash answers the survey already made);
 *   3. records survey_id where claim_id is still its own, with the survey.opened
 *      event, in one transaction of the row's tenant.
 * A replica that dies between 2 and 3 leaves the row claimed until its lease ends;
 * then another replica claims it, CreateSurvey replays the first answer (same key,
 * same request), and 3 commits once. So each survey is created and announced
 * exactly once whichever replicas run, stop or die, and a restart loses nothing:
 * the schedule is in the database.
 *
 * The timer and the passes (one at a time, each with its arena and request id) are
 * the runtime's periodic job (tandem/job.h); the leases are per row, so the job has
 * no lease of its own.
 *
 * "Today" is the database's now() in UTC, moved by TANDEM_TEST_CLOCK_OFFSET seconds
 * (tests and demos only; 0 by default).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrolment.h"
#include "tandem/job.h"
#include "tandem/json.h"
#include "tandem/log.h"
#include "tandem/v1/feedback.pb-c.h"

#define SURVEYS_DEFAULT_INTERVAL_MS 10000
#define SURVEYS_MIN_INTERVAL_MS     50
#define SURVEYS_MAX_INTERVAL_MS     3600000
#define SURVEYS_BATCH               20
#define SURVEYS_LEASE_S             60
#define SURVEYS_MAX_ATTEMPTS        50 /* a row that keeps failing is left for the operator */
#define SURVEYS_CALL_TIMEOUT_MS     15000
#define SURVEYS_MAX_OFFSET_S        (3660 * 86400) /* the furthest a survey opens */
#define SURVEYS_ARENA_BYTES         (16 * 1024)

typedef struct due_row {
    const char *tenant_id, *id, *programme_id, *claim_id, *survey_json;
} due_row;

struct enrol_scheduler {
    tdm_runtime *rt;
    tdm_job_spec spec; /* the interval is a setting */
    tdm_job *job;
    char offset_s[24], batch[12], lease_s[12], max_attempts[12]; /* the claim's parameters */
    /* The pass in progress. */
    tdm_arena *a;
    due_row *rows;
    size_t n_rows, next;
    tdm_call_context ctx;
    enrol_req req;
    tdm_http_header idem;
};

static void next_row(enrol_scheduler *s);

static void pass_end(enrol_scheduler *s)
{
    s->a = NULL;
    s->rows = NULL;
    s->n_rows = s->next = 0;
    tdm_job_pass_end(s->job, false);
}

static void row_failed(enrol_scheduler *s, const char *what, tdm_status *st)
{
    /* The row stays claimed until its lease ends, then any replica tries again. */
    tdm_log_fields(TDM_LOG_WARN, tdm_job_request_id(s->job), what, "scheduled_survey",
                   s->rows[s->next - 1].id, "error", st->message, "detail", st->detail, NULL);
    tdm_status_free(st);
    next_row(s);
}

static void recorded(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    enrol_scheduler *s = arg;
    (void)msg;
    if (st != NULL) {
        row_failed(s, "survey scheduler: could not record the opened survey", st);
        return;
    }
    tdm_log_fields(TDM_LOG_INFO, tdm_job_request_id(s->job), "scheduled survey opened",
                   "scheduled_survey", s->rows[s->next - 1].id, "programme_id",
                   s->rows[s->next - 1].programme_id, NULL);
    next_row(s);
}

static void created(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    enrol_scheduler *s = arg;
    if (st != NULL) {
        row_failed(s, "survey scheduler: CreateSurvey failed", st);
        return;
    }
    const due_row *row = &s->rows[s->next - 1];
    s->req = (enrol_req){.pool = tdm_runtime_pg(s->rt), .arena = s->a, .ctx = &s->ctx};
    enrol_store_record_survey_opened(&s->req, row->id, row->claim_id,
                                     (const Tandem__V1__Survey *)msg, recorded, s);
}

static void next_row(enrol_scheduler *s)
{
    if (s->next >= s->n_rows || tdm_job_stopped(s->job)) {
        pass_end(s);
        return;
    }
    const due_row *row = &s->rows[s->next++];
    ProtobufCMessage *survey = NULL;
    tdm_status *st = tdm_json_decode(&tandem__v1__survey__descriptor, row->survey_json,
                                     strlen(row->survey_json), s->a, &survey);
    Tandem__V1__CreateSurveyRequest *req = tdm_arena_alloc(s->a, sizeof(*req));
    if (st == NULL && req == NULL)
        st = tdm_store_oom();
    if (st != NULL) {
        row_failed(s, "survey scheduler: the stored survey does not decode", st);
        return;
    }
    tandem__v1__create_survey_request__init(req);
    req->programme_id = (char *)row->programme_id;
    req->survey = (Tandem__V1__Survey *)survey;
    /* The tenant's context with what creating a survey needs: feedback:write, and
     * enrolment:read, which feedback passes on to check the programme with us. */
    s->ctx = (tdm_call_context){.tenant_id = row->tenant_id,
                                .principal_id = "survey-scheduler",
                                .principal_kind = TDM_PRINCIPAL_PLATFORM,
                                .scopes = TDM_SCOPE_FEEDBACK_WRITE | TDM_SCOPE_ENROLMENT_READ,
                                .request_id = tdm_job_request_id(s->job)};
    s->idem = (tdm_http_header){.name = TDM_IDEM_METADATA_KEY, .value = row->id};
    uint64_t deadline = uv_now(tdm_runtime_loop(s->rt)) + SURVEYS_CALL_TIMEOUT_MS;
    tdm_rpc_client *feedback = tdm_runtime_peer(s->rt, "feedback");
    if (feedback == NULL || tdm_rpc_client_call_with(
                                feedback, &tandem__v1__feedback_service__descriptor, "CreateSurvey",
                                &req->base, &s->ctx, deadline, &s->idem, 1, s->a, created, s) != 0)
        row_failed(s, "survey scheduler: could not call tandem-feedback",
                   tdm_status_new(TDM_INTERNAL, "the call could not start"));
}

static void claimed(void *arg, tdm_status *st, PGresult *res)
{
    enrol_scheduler *s = arg;
    if (st != NULL) {
        tdm_log_fields(TDM_LOG_WARN, tdm_job_request_id(s->job),
                       "survey scheduler: could not claim", "error", st->message, "detail",
                       st->detail, NULL);
        tdm_status_free(st);
        pass_end(s);
        return;
    }
    int n = PQntuples(res);
    s->rows = n > 0 ? tdm_arena_calloc(s->a, (size_t)n, sizeof(*s->rows)) : NULL;
    for (int i = 0; s->rows != NULL && i < n; i++) {
        due_row *r = &s->rows[s->n_rows];
        r->tenant_id = tdm_arena_strdup(s->a, PQgetvalue(res, i, 0));
        r->id = tdm_arena_strdup(s->a, PQgetvalue(res, i, 1));
        r->programme_id = tdm_arena_strdup(s->a, PQgetvalue(res, i, 2));
        r->claim_id = tdm_arena_strdup(s->a, PQgetvalue(res, i, 3));
        r->survey_json = tdm_arena_strdup(s->a, PQgetvalue(res, i, 4));
        if (r->tenant_id == NULL || r->id == NULL || r->programme_id == NULL ||
            r->claim_id == NULL || r->survey_json == NULL)
            break; /* out of memory: the rest wait for their leases to end */
        s->n_rows++;
    }
    next_row(s);
}

static void pass(tdm_job *job)
{
    enrol_scheduler *s = tdm_job_data(job);
    s->a = tdm_job_arena(job);
    const char *params[4] = {s->offset_s, s->batch, s->lease_s, s->max_attempts};
    if (enrol_store_claim_due_surveys(tdm_runtime_pg(s->rt), tdm_job_request_id(job), params,
                                      claimed, s) != 0)
        pass_end(s);
}

tdm_status *enrol_scheduler_start(tdm_runtime *rt, const enrol_scheduler_config *cfg,
                                  enrol_scheduler **out)
{
    enrol_scheduler *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return tdm_store_oom();
    s->rt = rt;
    s->spec = (tdm_job_spec){.name = "survey scheduler",
                             .interval_ms = (uint64_t)cfg->interval_ms,
                             .arena_bytes = SURVEYS_ARENA_BYTES,
                             .pass = pass};
    snprintf(s->offset_s, sizeof(s->offset_s), "%d", cfg->clock_offset_s);
    snprintf(s->batch, sizeof(s->batch), "%d", SURVEYS_BATCH);
    snprintf(s->lease_s, sizeof(s->lease_s), "%d", SURVEYS_LEASE_S);
    snprintf(s->max_attempts, sizeof(s->max_attempts), "%d", SURVEYS_MAX_ATTEMPTS);
    tdm_status *st = tdm_job_start(rt, &s->spec, s, &s->job);
    if (st != NULL) {
        free(s);
        return st;
    }
    *out = s;
    return NULL;
}

void enrol_scheduler_stop(enrol_scheduler *s)
{
    if (s != NULL)
        tdm_job_stop(s->job);
}

tdm_status *enrol_scheduler_config_load(enrol_scheduler_config *cfg)
{
    tdm_status *st =
        tdm_config_int(NULL, "TANDEM_SURVEY_SCHEDULER_INTERVAL_MS", SURVEYS_DEFAULT_INTERVAL_MS,
                       SURVEYS_MIN_INTERVAL_MS, SURVEYS_MAX_INTERVAL_MS, &cfg->interval_ms);
    if (st == NULL)
        st = tdm_config_int(NULL, "TANDEM_TEST_CLOCK_OFFSET", 0, -SURVEYS_MAX_OFFSET_S,
                            SURVEYS_MAX_OFFSET_S, &cfg->clock_offset_s);
    return st;
}
