/*
 * run.c - the run worker: claims queued runs and computes them, one at a time per
 * process, any replica (the claiming protocol is at the top of migrations/001).
 *
 *   IDLE --tick--> CLAIM (no tenant) --claimed--> START (run's tenant: RUNNING)
 *     --> FETCH programme + participants from enrolment (paged, with the context the
 *         run was started with) --> STATE (pins, exclusions, live matches)
 *     --> PLAN on the libuv work pool (plan.c: score, solve; then the explanations,
 *         the proposals document and the stats), the loop staying responsive
 *     --> FINISH (one transaction: proposals, stats, status, queue entry, event)
 *     --> IDLE, and at once the next claim.
 *
 * Progress: 0.05 when started, 0.3 after the fetch, 0.5 after scoring, 0.8 after
 * solving (reported from the work thread through a uv_async_t), 1 when written.
 * A failure at any step ends the run FAILED with the reason.
 *
 * The lease (TANDEM_RUN_LEASE_MS): a claimed run is this replica's while its lease
 * lasts, and the worker renews it on a timer every quarter of the lease for as long as
 * it holds the run, the solve included, so a long solve is never taken over by a
 * second replica. A renewal that finds the claim gone (the lease expired while this
 * process was stalled, and another replica took the run) marks the job lost: the computation is
 * cancelled (plan.c stops at its next check, within a block of mentees, one row scan or one
 * augmentation) so the worker is free for other runs at once, and nothing of it is written (the
 * final write checks the claim too). SIGTERM cancels the computation the same way. A run is started
 * at most MAX_ATTEMPTS times: a replica that dies holding it (crash, out of memory) leaves its
 * lease to expire and the attempt counted, and the next start past the limit ends the run FAILED
 * with the reason. SIGTERM hands a held run back at once (the lease freed, the attempt not
 * counted), so a rollout does not stall runs. The worker ticks every POLL_INTERVAL_MS (runs queued
 * on other replicas, leases expired by a dead replica, runs left queued over a restart) and at once
 * when this process queued a run.
 *
 * Diversity data: enrolment returns it only to admin callers, and the worker reads
 * enrolment with the context of the caller who started the run, so the criterion
 * `background` applies only to runs started by an admin (score.c).
 */
#include "matching.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/json.h"
#include "tandem/log.h"

#define POLL_INTERVAL_MS 1000
#define MAX_ATTEMPTS     3
#define JOB_ARENA_BYTES  (1u << 20)

typedef struct job job;

struct mt_worker {
    mt_service *svc;
    uv_timer_t poll;
    uv_timer_t lease_timer; /* renews the held run's lease, every lease_ms / 4 */
    int lease_ms;
    uv_async_t progress_async;
    atomic_bool stopped; /* read by the work thread before it reports progress */
    bool busy;
    bool again; /* woken while busy: tick again when done */
    job *cur;
};

struct job {
    mt_worker *w;
    tdm_arena *a;
    mt_req req;
    tdm_call_context tenant_ctx;
    mt_claim claim;
    mt_run_job run;
    Tandem__V1__Programme *prog;
    Tandem__V1__Participant **people;
    size_t n_people;
    mt_state state;
    uint64_t start_ns;
    /* planning */
    uv_work_t work;
    mt_policy pol;
    mt_person *mentors, *mentees;
    size_t n_mentors, n_mentees;
    int *free_capacity;
    bool *skipped;
    uint32_t (*pins)[2];
    size_t n_pins;
    uint32_t (*exclusions)[2];
    size_t n_exclusions;
    mt_plan_input in;
    mt_plan_result plan;
    char *proposals_doc;
    char *stats_json;
    char error[512];
    /* progress reported by the work thread, in thousandths */
    atomic_int progress_permille;
    int progress_sent;
    int pending;     /* store calls in flight besides the main chain */
    bool lease_lost; /* a renewal found the claim gone: discard, write nothing */
    bool finished;
    atomic_bool cancel; /* read by the work thread: the computation stops (plan.c) */
};

static void worker_tick(mt_worker *w);

/* ---- the job's life ----------------------------------------------------------------- */

static void job_free_if_done(job *j)
{
    if (!j->finished || j->pending > 0)
        return;
    mt_plan_result_free(&j->plan);
    tdm_arena_free(j->a);
    free(j);
}

/* The chain ended: free the job (when its side calls are done) and look for more. */
static void job_done(job *j, bool look_again)
{
    mt_worker *w = j->w;
    uv_timer_stop(&w->lease_timer);
    j->finished = true;
    w->cur = NULL;
    w->busy = false;
    job_free_if_done(j);
    if (look_again || w->again) {
        w->again = false;
        worker_tick(w);
    }
}

static void finished(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    job *j = arg;
    (void)msg;
    if (st != NULL) {
        tdm_log_fields(TDM_LOG_WARN, j->tenant_ctx.request_id, "matching run not written", "run_id",
                       j->claim.run_id, "code", tdm_code_name(st->code), "error", st->message,
                       "detail", st->detail, NULL);
        tdm_status_free(st);
    }
    job_done(j, true);
}

/* End the run FAILED with the reason (fit for the API user, at most 1000 chars). */
static void job_fail(job *j, const char *why)
{
    if (j->w->stopped) {
        job_done(j, false); /* the lease expires; another replica takes the run */
        return;
    }
    char msg[1001];
    snprintf(msg, sizeof(msg), "%s", why);
    tdm_log_fields(TDM_LOG_WARN, j->tenant_ctx.request_id, "matching run failed", "run_id",
                   j->claim.run_id, "error", msg, NULL);
    mt_store_finish_run(&j->req, &j->claim, TANDEM__V1__MATCHING_RUN__STATUS__FAILED, "[]", NULL,
                        tdm_arena_strdup(j->a, msg), finished, j);
}

static void job_fail_status(job *j, const char *what, tdm_status *st)
{
    char why[1001];
    snprintf(why, sizeof(why), "%s: %s (%s)", what, st->message != NULL ? st->message : "",
             tdm_code_name(st->code));
    tdm_status_free(st);
    job_fail(j, why);
}

/* ---- progress ------------------------------------------------------------------------- */

/* A store call beside the job's main chain (progress, lease renewal, hand-back), in a
 * transaction and arena of its own: the job's arena may be in use by the work thread.
 * The job is kept alive (pending) until side_end. */
typedef struct side_op {
    job *j;
    tdm_arena *a;
} side_op;

/* NULL when out of memory (the call is then skipped); else *r is the job's request on
 * the side call's arena. */
static side_op *side_begin(job *j, mt_req *r)
{
    side_op *p = calloc(1, sizeof(*p));
    tdm_arena *a = p != NULL ? tdm_arena_new(0) : NULL;
    if (a == NULL) {
        free(p);
        return NULL;
    }
    *p = (side_op){j, a};
    j->pending++;
    *r = j->req;
    r->arena = a;
    return p;
}

static void side_end(side_op *p)
{
    job *j = p->j;
    tdm_arena_free(p->a);
    free(p);
    j->pending--;
    job_free_if_done(j);
}

/* The run is no longer this replica's: stop computing it and write nothing of it. */
static void lease_lose(job *j, const char *why)
{
    if (j->lease_lost)
        return;
    j->lease_lost = true;
    atomic_store(&j->cancel, true);
    tdm_log_fields(TDM_LOG_WARN, j->tenant_ctx.request_id,
                   "matching run lease lost: its computation is cancelled and nothing of it "
                   "is written",
                   "run_id", j->claim.run_id, "reason", why, NULL);
}

static void lease_renewed(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    side_op *p = arg;
    (void)msg;
    job *j = p->j;
    /* Only a claim found replaced is a loss: after another failure (the database slow
     * or away) the run may well still be ours, and the next tick tries again. */
    if (st != NULL && st->code == TDM_ABORTED)
        lease_lose(j, "another replica took the run");
    tdm_status_free(st);
    side_end(p);
}

/* Record progress, and so renew the lease. */
static void progress_record(job *j, int permille)
{
    mt_req r;
    side_op *p = side_begin(j, &r);
    if (p != NULL)
        mt_store_run_progress(&r, &j->claim, permille / 1000.0, j->w->lease_ms, lease_renewed, p);
}

static void progress_send(job *j, int permille)
{
    if (j->w->stopped || j->lease_lost || permille <= j->progress_sent)
        return;
    j->progress_sent = permille;
    progress_record(j, permille);
}

static void lease_tick(uv_timer_t *t)
{
    mt_worker *w = t->data;
    job *j = w->cur;
    if (j == NULL || j->finished || j->claim.claim == NULL || w->stopped || j->lease_lost)
        return;
    progress_record(j, j->progress_sent);
}

static void progress_async_cb(uv_async_t *h)
{
    mt_worker *w = h->data;
    if (w->cur != NULL)
        progress_send(w->cur, atomic_load(&w->cur->progress_permille));
}

static void plan_progress(void *arg, double fraction)
{
    job *j = arg;
    atomic_store(&j->progress_permille, (int)(fraction * 1000));
    if (!atomic_load(&j->w->stopped))
        uv_async_send(&j->w->progress_async);
}

/* ---- planning (work pool) -------------------------------------------------------------- */

static const char *unmatched_detail(const mt_plan_unmatched *u, const mt_policy *pol, tdm_arena *a)
{
    switch (u->reason) {
    case TANDEM__V1__UNMATCHED_REASON__ALL_ADMISSIBLE_MENTORS_FULL:
        return tdm_arena_printf(a, "%u admissible mentor%s, all full", u->admissible,
                                u->admissible == 1 ? "" : "s");
    case TANDEM__V1__UNMATCHED_REASON__BELOW_MIN_SCORE:
        return tdm_arena_printf(a, "%u pair%s pass the hard constraints, all below min_score %.2f",
                                u->below_min, u->below_min == 1 ? "" : "s",
                                (double)pol->min_score / MT_SCORE_SCALE);
    case TANDEM__V1__UNMATCHED_REASON__EXCLUDED:
        return tdm_arena_printf(a, "every otherwise admissible pair (%u) is excluded", u->excluded);
    default:
        return "no mentor passes the hard constraints";
    }
}

static int build_stats(job *j)
{
    tdm_arena *a = j->a;
    const mt_plan_result *p = &j->plan;
    Tandem__V1__RunStats s = TANDEM__V1__RUN_STATS__INIT;
    size_t considered = 0;
    for (size_t i = 0; i < j->n_mentees; i++)
        considered += !j->skipped[i];
    s.mentors = (int32_t)j->n_mentors;
    s.mentees = (int32_t)considered;
    s.participants = s.mentors + s.mentees;
    s.admissible_pairs = p->admissible_pairs;
    s.pairs = (int32_t)p->n_pairs;
    s.pinned_pairs = p->pinned_pairs;
    s.total_score = (double)p->total_score / MT_SCORE_SCALE;
    s.mean_score = p->n_pairs > 0 ? s.total_score / (double)p->n_pairs : 0;
    s.min_score = (double)p->min_score / MT_SCORE_SCALE;
    s.blocking_pairs = (int32_t)p->blocking_pairs;
    s.unmatched_mentee_count = (int32_t)p->n_unmatched;
    s.unmatched_mentors = p->unmatched_mentors;
    size_t listed =
        p->n_unmatched < MT_MAX_UNMATCHED_LISTED ? p->n_unmatched : MT_MAX_UNMATCHED_LISTED;
    s.unmatched_mentees = tdm_arena_calloc(a, listed + 1, sizeof(*s.unmatched_mentees));
    Tandem__V1__UnmatchedMentee *u = tdm_arena_calloc(a, listed + 1, sizeof(*u));
    if (s.unmatched_mentees == NULL || u == NULL)
        return -1;
    for (size_t k = 0; k < listed; k++) {
        tandem__v1__unmatched_mentee__init(&u[k]);
        u[k].mentee_id = (char *)j->mentees[p->unmatched[k].mentee].id;
        u[k].reason = (Tandem__V1__UnmatchedReason)p->unmatched[k].reason;
        u[k].detail = (char *)unmatched_detail(&p->unmatched[k], &j->pol, a);
        s.unmatched_mentees[s.n_unmatched_mentees++] = &u[k];
    }
    s.elapsed_ms = (int64_t)((uv_hrtime() - j->start_ns) / 1000000u);
    j->stats_json = tdm_json_encode(&s.base, a, NULL);
    return j->stats_json != NULL ? 0 : -1;
}

/* The proposals as one JSON array for the store's bulk insert, best first. */
static int build_proposals(job *j)
{
    json_t *arr = json_array();
    for (size_t k = 0; arr != NULL && k < j->plan.n_pairs; k++) {
        const mt_plan_pair *pp = &j->plan.pairs[k];
        const mt_person *m = &j->mentors[pp->mentor], *e = &j->mentees[pp->mentee];
        Tandem__V1__ExplanationItem **items = NULL;
        size_t n = 0;
        mt_explain(&j->pol, m, e, j->a, &items, &n);
        if (items == NULL)
            break;
        json_t *expl = json_array();
        for (size_t i = 0; expl != NULL && i < n; i++)
            json_array_append_new(
                expl, json_pack("{s:s, s:f, s:s}", "criterion", items[i]->criterion, "contribution",
                                items[i]->contribution, "detail", items[i]->detail));
        if (expl != NULL && pp->pinned)
            json_array_append_new(expl,
                                  json_pack("{s:s, s:f, s:s}", "criterion", "pin", "contribution",
                                            0.0, "detail", "pinned by the programme's managers"));
        char score[32];
        snprintf(score, sizeof(score), "%.2f", (double)pp->score / MT_SCORE_SCALE);
        json_t *row =
            json_pack("{s:I, s:s, s:s, s:i, s:s, s:b, s:o}", "rank", (json_int_t)(k + 1),
                      "mentor_id", m->id, "mentee_id", e->id, "cap", m->capacity, "score", score,
                      "pinned", pp->pinned, "explanation", expl != NULL ? expl : json_array());
        if (row == NULL || json_array_append_new(arr, row) != 0) {
            json_decref(arr);
            return -1;
        }
    }
    j->proposals_doc = arr != NULL ? tdm_json_dump(arr, j->a, NULL) : NULL;
    json_decref(arr);
    return j->proposals_doc != NULL ? 0 : -1;
}

static void plan_work(uv_work_t *req)
{
    job *j = req->data;
    if (mt_plan_run(&j->in, &j->plan) != 0) {
        snprintf(j->error, sizeof(j->error), "%s", j->plan.error);
        return;
    }
    if (build_proposals(j) != 0 || build_stats(j) != 0)
        snprintf(j->error, sizeof(j->error), "out of memory while writing the results");
}

static void plan_after(uv_work_t *req, int status)
{
    job *j = req->data;
    if (j->w->stopped) {
        job_done(j, false);
        return;
    }
    if (j->lease_lost) {
        job_done(j, true); /* another replica holds the run now */
        return;
    }
    if (status != 0 || j->error[0] != '\0') {
        job_fail(j, j->error[0] != '\0' ? j->error : "the run was cancelled");
        return;
    }
    mt_store_finish_run(&j->req, &j->claim, TANDEM__V1__MATCHING_RUN__STATUS__SUCCEEDED,
                        j->proposals_doc, j->stats_json, NULL, finished, j);
}

/* ---- inputs ------------------------------------------------------------------------------ */

typedef struct id_index {
    const char *id;
    uint32_t index;
    bool mentor;
} id_index;

static int cmp_id_index(const void *a, const void *b)
{
    return strcmp(((const id_index *)a)->id, ((const id_index *)b)->id);
}

static const id_index *find_id(const id_index *ix, size_t n, const char *id)
{
    id_index key = {.id = id};
    return bsearch(&key, ix, n, sizeof(*ix), cmp_id_index);
}

/* Pairs of state ids mapped to (mentor, mentee) indices; unknown ids are dropped. */
static size_t map_pairs(const id_index *ix, size_t n, char **mentor, char **mentee, size_t count,
                        uint32_t (*out)[2])
{
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        const id_index *m = find_id(ix, n, mentor[i]), *e = find_id(ix, n, mentee[i]);
        if (m == NULL || e == NULL || !m->mentor || e->mentor)
            continue;
        out[k][0] = m->index;
        out[k][1] = e->index;
        k++;
    }
    return k;
}

static tdm_status *build_inputs(job *j)
{
    tdm_arena *a = j->a;
    tdm_status *st = mt_policy_init(&j->pol, j->prog, a);
    if (st != NULL)
        return st;
    size_t n = j->n_people;
    j->mentors = tdm_arena_calloc(a, n + 1, sizeof(*j->mentors));
    j->mentees = tdm_arena_calloc(a, n + 1, sizeof(*j->mentees));
    id_index *ix = tdm_arena_calloc(a, n + 1, sizeof(*ix));
    if (j->mentors == NULL || j->mentees == NULL || ix == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    size_t n_ix = 0;
    for (size_t i = 0; i < n; i++) {
        const Tandem__V1__Participant *p = j->people[i];
        if (p->status == TANDEM__V1__PARTICIPANT__STATUS__WITHDRAWN)
            continue; /* withdrawn people are out of every run */
        bool mentor = p->role == TANDEM__V1__ROLE__MENTOR;
        if (!mentor && p->role != TANDEM__V1__ROLE__MENTEE)
            continue;
        mt_person *dst = mentor ? &j->mentors[j->n_mentors] : &j->mentees[j->n_mentees];
        if ((st = mt_person_init(dst, p, &j->pol, a)) != NULL)
            return st;
        ix[n_ix++] =
            (id_index){p->id, (uint32_t)(mentor ? j->n_mentors++ : j->n_mentees++), mentor};
    }
    qsort(ix, n_ix, sizeof(*ix), cmp_id_index);
    j->free_capacity = tdm_arena_calloc(a, j->n_mentors + 1, sizeof(int));
    j->skipped = tdm_arena_calloc(a, j->n_mentees + 1, sizeof(bool));
    j->pins = tdm_arena_calloc(a, j->state.n_pins + 1, sizeof(*j->pins));
    j->exclusions = tdm_arena_calloc(a, j->state.n_exclusions + 1, sizeof(*j->exclusions));
    if (!j->free_capacity || !j->skipped || !j->pins || !j->exclusions)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < j->n_mentors; i++)
        j->free_capacity[i] = j->mentors[i].capacity;
    /* Scope UNMATCHED: live pairs stay as they are; their mentees are left out and
     * their mentors offer only their free seats. Scope ALL ignores live matches. */
    if (j->run.run->scope == TANDEM__V1__RUN_SCOPE__UNMATCHED) {
        for (size_t k = 0; k < j->state.n_live; k++) {
            const id_index *m = find_id(ix, n_ix, j->state.live_mentor[k]);
            const id_index *e = find_id(ix, n_ix, j->state.live_mentee[k]);
            if (m != NULL && m->mentor)
                j->free_capacity[m->index]--;
            if (e != NULL && !e->mentor)
                j->skipped[e->index] = true;
        }
    }
    j->n_pins =
        map_pairs(ix, n_ix, j->state.pin_mentor, j->state.pin_mentee, j->state.n_pins, j->pins);
    j->n_exclusions = map_pairs(ix, n_ix, j->state.excl_mentor, j->state.excl_mentee,
                                j->state.n_exclusions, j->exclusions);
    const Tandem__V1__MatchingRun *run = j->run.run;
    j->in = (mt_plan_input){
        .pol = &j->pol,
        .mentors = j->mentors,
        .n_mentors = j->n_mentors,
        .mentees = j->mentees,
        .n_mentees = j->n_mentees,
        .free_capacity = j->free_capacity,
        .mentee_skipped = j->skipped,
        .pins = (const uint32_t(*)[2])j->pins,
        .n_pins = j->n_pins,
        .exclusions = (const uint32_t(*)[2])j->exclusions,
        .n_exclusions = j->n_exclusions,
        .algorithm = run->algorithm == 0 ? TANDEM__V1__ALGORITHM__OPTIMAL : (int)run->algorithm,
        .seed = run->seed,
        .arena = j->a,
        .progress = plan_progress,
        .progress_arg = j,
        .cancel = &j->cancel,
    };
    /* The run's recorded objective wins over a policy changed since it was queued. */
    if (run->objective >= 1 && run->objective <= 3)
        j->pol.objective = run->objective;
    return NULL;
}

static void state_read(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    job *j = arg;
    (void)msg;
    if (st != NULL) {
        job_fail_status(j, "could not read pins, exclusions and matches", st);
        return;
    }
    if ((st = build_inputs(j)) != NULL) {
        job_fail_status(j, "the programme cannot be matched", st);
        return;
    }
    j->work.data = j;
    if (uv_queue_work(tdm_runtime_loop(j->w->svc->rt), &j->work, plan_work, plan_after) != 0)
        job_fail(j, "could not start the computation");
}

static void fetched(void *arg, tdm_status *st, Tandem__V1__Programme *prog,
                    Tandem__V1__Participant **people, size_t n)
{
    job *j = arg;
    if (j->w->stopped) {
        tdm_status_free(st);
        job_done(j, false);
        return;
    }
    if (st != NULL) {
        job_fail_status(j, "could not read the programme from enrolment", st);
        return;
    }
    j->prog = prog;
    j->people = people;
    j->n_people = n;
    progress_send(j, 300);
    mt_store_read_state(&j->req, j->run.run->programme_id, &j->state, state_read, j);
}

static void started(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    job *j = arg;
    (void)msg;
    if (st != NULL || j->run.run == NULL || j->w->stopped) {
        if (st != NULL)
            tdm_log_fields(TDM_LOG_WARN, NULL, "could not start a matching run", "run_id",
                           j->claim.run_id, "error", st->message, "detail", st->detail, NULL);
        tdm_status_free(st);
        job_done(j, st == NULL && !j->w->stopped);
        return;
    }
    j->progress_sent = 50;
    if (j->run.attempts > MAX_ATTEMPTS) {
        job_fail(j, "the run was attempted 3 times and every attempt stopped before it finished "
                    "(the replica computing it crashed or ran out of memory); start a new run, "
                    "and if it fails the same way, ask the operator to check the matching "
                    "service's memory and logs");
        return;
    }
    tdm_log_fields(TDM_LOG_INFO, j->run.ctx.request_id, "matching run started", "run_id",
                   j->claim.run_id, NULL);
    mt_fetch_programme(j->w->svc->rt, &j->run.ctx, j->run.run->programme_id, 0, j->a, fetched, j);
}

static void claimed(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    job *j = arg;
    (void)msg;
    if (st != NULL || j->claim.tenant_id == NULL || j->w->stopped) {
        if (st != NULL)
            tdm_log_fields(TDM_LOG_DEBUG, NULL, "no matching run claimed", "error", st->message,
                           NULL);
        tdm_status_free(st);
        job_done(j, false);
        return;
    }
    j->tenant_ctx.tenant_id = j->claim.tenant_id;
    j->req.ctx = &j->tenant_ctx;
    int every = j->w->lease_ms / 4;
    uv_timer_start(&j->w->lease_timer, lease_tick, (uint64_t)every, (uint64_t)every);
    mt_store_start_run(&j->req, &j->claim, &j->run, started, j);
}

/* ---- the worker ---------------------------------------------------------------------- */

static void worker_tick(mt_worker *w)
{
    if (w->stopped)
        return;
    if (w->busy) {
        w->again = true;
        return;
    }
    tdm_pg_pool *pool = tdm_runtime_pg(w->svc->rt);
    if (pool == NULL || !tdm_runtime_migrated(w->svc->rt) || !tdm_pg_pool_connected(pool))
        return;
    job *j = calloc(1, sizeof(*j));
    tdm_arena *a = j != NULL ? tdm_arena_new(JOB_ARENA_BYTES) : NULL;
    if (a == NULL) {
        free(j);
        return;
    }
    j->w = w;
    j->a = a;
    j->start_ns = uv_hrtime();
    j->req = (mt_req){.pool = pool, .arena = a, .ctx = &j->tenant_ctx};
    w->busy = true;
    w->cur = j;
    mt_store_claim_run(&j->req, w->lease_ms, &j->claim, claimed, j);
}

static void poll_cb(uv_timer_t *t)
{
    worker_tick(t->data);
}

tdm_status *mt_worker_start(mt_service *svc)
{
    mt_worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    w->svc = svc;
    w->lease_ms = svc->run_lease_ms;
    uv_loop_t *loop = tdm_runtime_loop(svc->rt);
    uv_timer_init(loop, &w->poll);
    uv_timer_init(loop, &w->lease_timer);
    w->lease_timer.data = w;
    uv_async_init(loop, &w->progress_async, progress_async_cb);
    w->poll.data = w->progress_async.data = w;
    uv_timer_start(&w->poll, poll_cb, POLL_INTERVAL_MS, POLL_INTERVAL_MS);
    svc->worker = w;
    return NULL;
}

void mt_worker_wake(mt_service *svc)
{
    if (svc->worker != NULL)
        worker_tick(svc->worker);
}

static void released(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    side_op *p = arg;
    (void)msg;
    job *j = p->j;
    tdm_runtime *rt = j->w->svc->rt;
    if (st != NULL)
        tdm_log_fields(TDM_LOG_WARN, NULL,
                       "could not hand the matching run back; its lease will expire", "run_id",
                       j->claim.run_id, "error", st->message, NULL);
    else
        tdm_log_fields(TDM_LOG_INFO, NULL, "matching run handed back for another replica", "run_id",
                       j->claim.run_id, NULL);
    tdm_status_free(st);
    side_end(p);
    tdm_runtime_unhold(rt);
}

void mt_worker_stop(mt_service *svc)
{
    mt_worker *w = svc->worker;
    if (w == NULL)
        return;
    /* A run in progress is handed back (below) and its computation abandoned; its
     * results are never half-written. The worker stays allocated and its handles are
     * closed with the loop's others by the runtime: a computation on the work pool may
     * still complete meanwhile. */
    atomic_store(&w->stopped, true);
    uv_timer_stop(&w->poll);
    uv_timer_stop(&w->lease_timer);
    job *j = w->cur;
    if (j != NULL)
        atomic_store(&j->cancel, true); /* the loop need not wait for the solve to end */
    if (j == NULL || j->finished || j->claim.claim == NULL || j->lease_lost)
        return;
    mt_req r;
    side_op *p = side_begin(j, &r);
    if (p == NULL)
        return; /* out of memory: the lease expires instead */
    tdm_runtime_hold(svc->rt);
    mt_store_release_run(&r, &j->claim, released, p);
}
