/*
 * report.c - GetProgrammeReport: feedback's maintained totals, read by one statement
 * (report_sql.h) in a read-only transaction, folded with the programme's participants
 * and matches as the owners answered them (report_fold.c).
 *
 * The people and matches arrive as the owners' packed columns (PostgreSQL binary
 * arrays, checked when they arrived: fb_pg_array_append), or as whole messages from
 * a peer that answered the column call UNIMPLEMENTED; both become the fold's rows
 * here. Before, the statement received them as 16 array parameters and did the
 * folding itself: two thirds of a report's time on 10,000 people (bench/RESULTS.md).
 */
#include "feedback.h"

#include <stdlib.h>
#include <string.h>

#include "report_fold.h"
#include "report_sql.h"
#include "tandem/check.h"
#include "tandem/pg_columns.h"
#include "tandem/store.h"
#include "tandem/uuid.h"

static const tdm_store_owner REPORT_OWNER = {.schema = FB_SCHEMA, .service = FB_SERVICE};

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
#define PG_EPOCH_US 946684800000000LL

typedef struct report_op {
    tdm_store_op base; /* first */
    const fb_programme_data *data;
    fb_report_inputs in;
    const char *params[FB_REPORT_NPARAMS];
} report_op;

/* ---- the owners' rows ------------------------------------------------------------------- */

static fb_text text_of(const char *s)
{
    return (fb_text){s, s != NULL ? strlen(s) : 0};
}

/* The next element of a packed column; *null when it is NULL. */
static const uint8_t *next_cell(const fb_pg_array *col, size_t *at, int32_t *len, bool *null)
{
    const uint8_t *v = fb_pg_array_next(col, at, len);
    *null = v == NULL;
    return v;
}

static int32_t int4_cell(const fb_pg_array *col, size_t *at, bool *null)
{
    int32_t len;
    const uint8_t *v = next_cell(col, at, &len, null);
    return v != NULL ? (int32_t)tdm_pg_be32((const char *)v) : 0;
}

static fb_text text_cell(const fb_pg_array *col, size_t *at)
{
    int32_t len;
    bool null;
    const uint8_t *v = next_cell(col, at, &len, &null);
    return (fb_text){(const char *)v, v != NULL ? (size_t)len : 0};
}

static void uuid_cell(const fb_pg_array *col, size_t *at, uint8_t out[16], bool *null)
{
    int32_t len;
    const uint8_t *v = next_cell(col, at, &len, null);
    if (v != NULL)
        memcpy(out, v, 16);
}

/* NULL when every column holds as many rows as the first, else the status naming peer. */
static tdm_status *uneven(const fb_pg_array *c, int n_cols, const char *peer)
{
    for (int k = 1; k < n_cols; k++)
        if (c[k].n != c[0].n)
            return tdm_status_new(TDM_INTERNAL, "%s answered columns of different lengths", peer);
    return NULL;
}

/* Participant columns (report_inputs.proto): id, role, status, office, practice area,
 * seniority, gender, ethnicity, first generation, disability. */
static tdm_status *people_from_columns(const fb_pg_array *c, bool diversity, fb_report_person *out)
{
    size_t at[FB_PARTICIPANT_COLUMNS] = {0};
    tdm_status *st = uneven(c, FB_PARTICIPANT_COLUMNS, "enrolment");
    for (size_t i = 0; st == NULL && i < c[0].n; i++) {
        fb_report_person *p = &out[i];
        bool null;
        uuid_cell(&c[0], &at[0], p->id, &p->id_null);
        p->role = int4_cell(&c[1], &at[1], &null);
        p->status = int4_cell(&c[2], &at[2], &p->status_null);
        p->key[0] = text_cell(&c[3], &at[3]);
        p->key[1] = text_cell(&c[4], &at[4]);
        int32_t seniority = int4_cell(&c[5], &at[5], &null);
        p->key[2] = null ? (fb_text){0} : text_of(fb_seniority_band(seniority));
        for (int k = 0; k < 4; k++) {
            fb_text v = text_cell(&c[6 + k], &at[6 + k]);
            p->key[3 + k] = diversity ? v : (fb_text){0};
        }
    }
    return st;
}

static const char *yes_no(const Google__Protobuf__BoolValue *b)
{
    return b == NULL ? NULL : b->value ? "yes" : "no";
}

static tdm_status *people_from_messages(const fb_programme_data *d, bool diversity,
                                        fb_report_person *out)
{
    for (size_t i = 0; i < d->n_participants; i++) {
        const Tandem__V1__Participant *m = d->participants[i];
        const Tandem__V1__Diversity *dv = diversity ? m->diversity : NULL;
        fb_report_person *p = &out[i];
        if (!tdm_uuid_parse(m->id, p->id))
            return tdm_status_new(TDM_INTERNAL, "enrolment answered a participant id that is "
                                                "not a UUID");
        p->role = (int32_t)m->role;
        p->status = (int32_t)m->status;
        p->key[0] = text_of(m->office);
        p->key[1] = text_of(m->practice_area);
        p->key[2] = text_of(fb_seniority_band(m->seniority_level));
        if (dv != NULL) {
            p->key[3] = text_of(dv->gender);
            p->key[4] = text_of(dv->ethnicity);
            p->key[5] = text_of(yes_no(dv->first_generation_professional));
            p->key[6] = text_of(yes_no(dv->disability));
        }
    }
    return NULL;
}

/* Match columns: id, mentor, mentee, status, start, a side declined. */
static tdm_status *matches_from_columns(const fb_pg_array *c, fb_report_match *out)
{
    size_t at[FB_MATCH_COLUMNS] = {0};
    tdm_status *st = uneven(c, FB_MATCH_COLUMNS, "matching");
    for (size_t i = 0; st == NULL && i < c[0].n; i++) {
        fb_report_match *m = &out[i];
        bool null;
        int32_t len;
        uuid_cell(&c[0], &at[0], m->id, &null);
        if (null)
            return tdm_status_new(TDM_INTERNAL, "matching answered a match without an id");
        uuid_cell(&c[1], &at[1], m->mentor, &m->mentor_null);
        uuid_cell(&c[2], &at[2], m->mentee, &m->mentee_null);
        m->status = int4_cell(&c[3], &at[3], &m->status_null);
        const uint8_t *start = next_cell(&c[4], &at[4], &len, &m->start_null);
        if (start != NULL) {
            int64_t us = tdm_pg_be64((const char *)start); /* +-infinity stay where they are */
            m->start_us = us > INT64_MAX - PG_EPOCH_US || us == INT64_MIN ? us : us + PG_EPOCH_US;
        }
        const uint8_t *declined = next_cell(&c[5], &at[5], &len, &null);
        m->declined = declined == NULL ? -1 : declined[0] != 0;
    }
    return st;
}

static tdm_status *matches_from_messages(const fb_programme_data *d, fb_report_match *out)
{
    for (size_t i = 0; i < d->n_matches; i++) {
        const Tandem__V1__Match *x = d->matches[i];
        fb_report_match *m = &out[i];
        if (!tdm_uuid_parse(x->id, m->id))
            return tdm_status_new(TDM_INTERNAL, "matching answered a match id that is not a UUID");
        m->mentor_null = !tdm_uuid_parse(x->mentor_id, m->mentor);
        m->mentee_null = !tdm_uuid_parse(x->mentee_id, m->mentee);
        m->status = (int32_t)x->status;
        m->start_us = fb_match_start_us(x);
        m->declined = fb_match_declined(x);
    }
    return NULL;
}

/* ---- feedback's totals --------------------------------------------------------------------- */

static int64_t i64_at(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static bool uuid_at(const PGresult *res, int row, int col, uint8_t out[16])
{
    return tdm_uuid_parse(PQgetvalue(res, row, col), out);
}

static bool true_at(const PGresult *res, int row, int col)
{
    return strcmp(PQgetvalue(res, row, col), "true") == 0;
}

static void scalars_from(const PGresult *res, int row, fb_report_inputs *in)
{
    in->surveys = (int32_t)i64_at(res, row, 1);
    in->responses_counted = i64_at(res, row, 2);
    in->respondents_counted = i64_at(res, row, 3);
    in->as_of_null = PQgetisnull(res, row, 4);
    in->as_of_us = in->as_of_null ? 0 : i64_at(res, row, 4);
    in->now_us = i64_at(res, row, 5);
    in->nps_n = i64_at(res, row, 6);
    in->promoters = i64_at(res, row, 7);
    in->detractors = i64_at(res, row, 8);
    in->nps_people = i64_at(res, row, 9);
}

/* The kinds of the statement's rows (report_sql.h), in the order of n_kind below. */
static const char ROW_KINDS[] = "SOMR";

static int row_kind(const PGresult *res, int row)
{
    char c = PQgetvalue(res, row, 0)[0];
    const char *k = c != '\0' ? strchr(ROW_KINDS, c) : NULL;
    return k != NULL ? (int)(k - ROW_KINDS) : -1;
}

/* The statement's rows into op->in; NULL or the status. */
static tdm_status *totals_from(report_op *op, const PGresult *res)
{
    tdm_arena *a = op->base.req.arena;
    fb_report_inputs *in = &op->in;
    const Tandem__V1__Programme *g = op->data->programme;
    int rows = PQntuples(res);
    size_t n_kind[4] = {0};
    if (PQnfields(res) != FB_REPORT_COLUMNS)
        return tdm_status_new(TDM_INTERNAL, "the report's totals have unexpected columns");
    for (int i = 0; i < rows; i++) {
        int k = row_kind(res, i);
        if (k < 0)
            return tdm_status_new(TDM_INTERNAL, "the report's totals have a row of no known kind");
        n_kind[k]++;
    }
    fb_report_stats *stats = tdm_arena_calloc(a, n_kind[2] + 1, sizeof(*stats));
    fb_report_respondent *resp = tdm_arena_calloc(a, n_kind[3] + 1, sizeof(*resp));
    in->objective_progress = tdm_arena_calloc(a, g->n_objectives + 1, sizeof(void *));
    if (stats == NULL || resp == NULL || in->objective_progress == NULL)
        return tdm_store_oom();
    if (n_kind[0] != 1 || n_kind[1] != g->n_objectives)
        return tdm_status_new(TDM_INTERNAL, "the report's totals have unexpected rows");
    for (int i = 0; i < rows; i++) {
        switch (ROW_KINDS[row_kind(res, i)]) {
        case 'S':
            scalars_from(res, i, in);
            break;
        case 'O': {
            int64_t ord = i64_at(res, i, 1);
            Tandem__V1__ObjectiveProgress *o = tdm_arena_alloc(a, sizeof(*o));
            if (o == NULL)
                return tdm_store_oom();
            if (ord < 1 || (size_t)ord > g->n_objectives || in->objective_progress[ord - 1])
                return tdm_status_new(TDM_INTERNAL, "the report's objectives are out of order");
            tandem__v1__objective_progress__init(o);
            o->objective_key = g->objectives[ord - 1]->key;
            o->mean_percent = strtod(PQgetvalue(res, i, 2), NULL);
            o->matches_reporting = (int32_t)i64_at(res, i, 3);
            in->objective_progress[ord - 1] = o;
            break;
        }
        case 'M': {
            fb_report_stats *s = &stats[in->n_stats++];
            if (!uuid_at(res, i, 1, s->match_id))
                return tdm_status_new(TDM_INTERNAL, "a match's totals have no match id");
            s->check_ins = i64_at(res, i, 2);
            s->rating_sum = i64_at(res, i, 3);
            s->last_us = i64_at(res, i, 4);
            s->last_rating = (int32_t)i64_at(res, i, 5);
            s->mentor_rated = true_at(res, i, 6);
            s->mentee_rated = true_at(res, i, 7);
            break;
        }
        default: {
            fb_report_respondent *r = &resp[in->n_respondents++];
            if (!uuid_at(res, i, 1, r->id))
                return tdm_status_new(TDM_INTERNAL, "a respondent's totals have no id");
            r->nps_n = i64_at(res, i, 2);
            r->promoters = i64_at(res, i, 3);
            r->detractors = i64_at(res, i, 4);
        }
        }
    }
    in->stats = stats;
    in->respondents = resp;
    in->n_objective_progress = g->n_objectives;
    return NULL;
}

static void totals_read(tdm_store_op *base, PGresult *res)
{
    report_op *op = (report_op *)base;
    tdm_status *st = totals_from(op, res);
    if (st != NULL) {
        tdm_store_op_end(base, st);
        return;
    }
    Tandem__V1__ProgrammeReport *rep = fb_report_fold(&op->in, base->req.arena);
    if (!tdm_store_op_allocated(base, rep))
        return;
    const Tandem__V1__Programme *g = op->data->programme;
    rep->programme_id = g->id;
    rep->anonymity_threshold = g->anonymity_threshold;
    if (!op->in.as_of_null)
        rep->survey_figures_as_of = fb_timestamp_from_us(op->in.as_of_us, base->req.arena);
    rep->generate_time = fb_timestamp_from_us((int64_t)fb_now_s() * 1000000, base->req.arena);
    base->response = &rep->base;
    tdm_store_op_end(base, NULL);
}

/* ---- the store call ------------------------------------------------------------------------ */

void fb_store_report(const fb_req *r, const fb_programme_data *d, bool include_diversity,
                     fb_store_cb cb, void *arg)
{
    report_op *op = tdm_store_op_new(sizeof(*op), r, &REPORT_OWNER, cb, arg);
    if (op == NULL)
        return;
    tdm_arena *a = r->arena;
    const Tandem__V1__Programme *g = d->programme;
    fb_report_inputs *in = &op->in;
    op->data = d;
    /* Never below the contract's minimum, whatever a stored row says. */
    in->threshold = g->anonymity_threshold >= FB_MIN_ANONYMITY_THRESHOLD
                        ? g->anonymity_threshold
                        : (g->anonymity_threshold > 0 ? FB_MIN_ANONYMITY_THRESHOLD : 5);
    in->cadence_days = g->check_in_cadence_days > 0 ? g->check_in_cadence_days : 14;
    in->include_diversity = include_diversity;
    in->n_people = d->participant_columns ? d->pcols[0].n : d->n_participants;
    in->n_matches = d->match_columns ? d->mcols[0].n : d->n_matches;
    fb_report_person *people = tdm_arena_calloc(a, in->n_people + 1, sizeof(*people));
    fb_report_match *matches = tdm_arena_calloc(a, in->n_matches + 1, sizeof(*matches));
    const char **objectives = tdm_arena_calloc(a, g->n_objectives + 1, sizeof(*objectives));
    if (people == NULL || matches == NULL || objectives == NULL) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    tdm_status *st = d->participant_columns
                         ? people_from_columns(d->pcols, include_diversity, people)
                         : people_from_messages(d, include_diversity, people);
    if (st == NULL)
        st = d->match_columns ? matches_from_columns(d->mcols, matches)
                              : matches_from_messages(d, matches);
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return;
    }
    in->people = people;
    in->matches = matches;
    for (size_t i = 0; i < g->n_objectives; i++)
        objectives[i] = g->objectives[i]->key;
    op->params[0] = g->id;
    op->params[1] = tdm_arena_printf(a, "%d", (int)in->threshold);
    op->params[2] = fb_pg_text_array(objectives, g->n_objectives, a);
    if (!tdm_store_op_allocated(&op->base, op->params[1]) ||
        !tdm_store_op_allocated(&op->base, op->params[2]))
        return;
    tdm_store_op_start_prepared(&op->base, true, FB_REPORT_SQL, FB_REPORT_NPARAMS, op->params,
                                totals_read);
}
