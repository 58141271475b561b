/*
 * handlers.c - one function per MatchingService RPC: check the scope, validate the
 * request (validate.c: field-level violations), read what is needed from enrolment
 * (peers.c), call the store, answer. No SQL here. Scoring queries (ScorePair,
 * SuggestMentors) score in the handler with score.c: one pair, or one mentee
 * against the mentors.
 */
#include "matching.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tandem/json.h"

tdm_status *mt_req_init(mt_req *r, mt_service *svc, tdm_call *call, uint32_t scope)
{
    return tdm_handler_init(r, svc->rt, call, scope);
}

static void matches_reply(void *arg, tdm_status *st, ProtobufCMessage *msg);

/* Complete a call (a store callback, arg the call). Its answer first loses what was
 * derived from diversity data unless the caller is an admin (API.md "Least
 * privilege in every answer"); the optimisation itself used the full score. */
static void mt_reply(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    tdm_call *call = arg;
    if (st == NULL && msg != NULL &&
        !tdm_scope_allows(tdm_call_ctx(call)->scopes, TDM_SCOPE_ADMIN) &&
        mt_withhold_diversity(msg, tdm_call_arena(call)) != 0)
        st = tdm_store_oom();
    tdm_handler_reply(call, st, st == NULL ? msg : NULL);
}

/* ---- lists of a programme --------------------------------------------------------- */

/* A list keyed by a programme first asks enrolment whether the programme exists in
 * the caller's tenant, so another tenant's programme is NOT_FOUND, not an empty list. */
typedef struct programme_list {
    mt_service *svc;
    tdm_call *call;
    mt_req req;
    int page_size;
    int64_t after;
    int kind; /* 0 pins, 1 exclusions, 2 matches, 3 runs */
    const char *programme_id;
    const ProtobufCMessage *q;
} programme_list;

static void programme_list_checked(void *arg, tdm_status *st, Tandem__V1__Programme *prog,
                                   Tandem__V1__Participant **people, size_t n)
{
    programme_list *pl = arg;
    (void)prog;
    (void)people;
    (void)n;
    if (tdm_handler_fail(pl->call, st))
        return;
    switch (pl->kind) {
    case 0:
    case 1:
        mt_store_list_pair_rules(&pl->req, pl->kind, pl->programme_id, pl->page_size, pl->after,
                                 mt_reply, pl->call);
        break;
    case 2:
        mt_store_list_matches(&pl->req, (const void *)pl->q, pl->page_size, pl->after,
                              matches_reply, pl->call);
        break;
    default:
        mt_store_list_runs(&pl->req, (const void *)pl->q, pl->page_size, pl->after, mt_reply,
                           pl->call);
        break;
    }
}

static void programme_list_start(tdm_call *call, void *data, const mt_req *r, int kind,
                                 const char *programme_id, const ProtobufCMessage *q, int page_size,
                                 int64_t after)
{
    programme_list *pl = tdm_arena_calloc(r->arena, 1, sizeof(*pl));
    if (pl == NULL) {
        tdm_call_fail(call, tdm_store_oom());
        return;
    }
    *pl = (programme_list){.svc = data,
                           .call = call,
                           .req = *r,
                           .page_size = page_size,
                           .after = after,
                           .kind = kind,
                           .programme_id = programme_id,
                           .q = q};
    mt_fetch_programme(pl->svc->rt, r->ctx, programme_id, -1, r->arena, programme_list_checked, pl);
}

/* ---- matches ------------------------------------------------------------------------ */

/* Who reads matches: matching:read sees them whole; a feedback key (feedback
 * asking with its caller's scopes) the feedback view (mt_match_cut_to_feedback_view). */
static const uint32_t MATCH_READERS[] = {TDM_SCOPE_MATCHING_READ, TDM_SCOPE_FEEDBACK_READ,
                                         TDM_SCOPE_FEEDBACK_WRITE};
#define N_MATCH_READERS (sizeof(MATCH_READERS) / sizeof(MATCH_READERS[0]))

static bool feedback_view(tdm_call *call)
{
    return !tdm_scope_allows(tdm_call_ctx(call)->scopes, TDM_SCOPE_MATCHING_READ);
}

/* GetMatch's answer; a participant token reads only a match it is a side of. */
static void own_match_reply(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    tdm_call *call = arg;
    const char *person = tdm_handler_acting_person(tdm_call_ctx(call));
    Tandem__V1__Match *m = (void *)msg;
    if (st == NULL && person != NULL && strcmp(m->mentor_id, person) != 0 &&
        strcmp(m->mentee_id, person) != 0)
        st = tdm_status_new(TDM_PERMISSION_DENIED,
                            "a participant token reads only the matches it is a side of");
    if (st == NULL && feedback_view(call))
        mt_match_cut_to_feedback_view(m);
    mt_reply(call, st, msg);
}

/* ListMatches' answer, each match cut to the caller's scopes. */
static void matches_reply(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    tdm_call *call = arg;
    Tandem__V1__ListMatchesResponse *page = (void *)msg;
    for (size_t i = 0; st == NULL && feedback_view(call) && i < page->n_matches; i++)
        mt_match_cut_to_feedback_view(page->matches[i]);
    mt_reply(call, st, msg);
}

static void handle_get_match(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__GetMatchRequest *q = (const void *)msg;
    mt_req r;
    uint32_t scope = tdm_scope_pick(call, MATCH_READERS, N_MATCH_READERS);
    tdm_status *st = mt_req_init(&r, data, call, scope | TDM_SCOPE_AS_PERSON);
    if (tdm_handler_fail(call, mt_check_id(st, q->id, "id")))
        return;
    mt_store_get_match(&r, q->id, own_match_reply, call);
}

static void handle_list_matches(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    Tandem__V1__ListMatchesRequest *q = (void *)msg;
    mt_req r;
    int page_size = 0;
    int64_t after = 0;
    uint32_t scope = tdm_scope_pick(call, MATCH_READERS, N_MATCH_READERS);
    tdm_status *st = mt_req_init(&r, data, call, scope | TDM_SCOPE_AS_PERSON);
    if (st == NULL) /* a token lists only its own matches */
        st = tdm_handler_person(call, &q->participant_id, "participant_id");
    st = mt_check_id(st, q->programme_id, "programme_id");
    if (st == NULL && q->participant_id[0] != '\0')
        st = mt_check_id(st, q->participant_id, "participant_id");
    if (st == NULL && q->run_id[0] != '\0')
        st = mt_check_id(st, q->run_id, "run_id");
    st = mt_check_enum(st, q->status, TANDEM__V1__MATCH__STATUS__ENDED, "status");
    st = tdm_check_page_seq(st, q->page_size, q->page_token, &page_size, &after);
    if (tdm_handler_fail(call, st))
        return;
    programme_list_start(call, data, &r, 2, q->programme_id, msg, page_size, after);
}

static void handle_respond(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    Tandem__V1__RespondToMatchRequest *q = (void *)msg;
    mt_req r;
    tdm_status *st = mt_req_init(&r, data, call, TDM_SCOPE_MATCHING_WRITE | TDM_SCOPE_AS_PERSON);
    if (st == NULL)
        st = tdm_handler_person(call, &q->participant_id, "participant_id");
    st = mt_check_id(st, q->id, "id");
    st = mt_check_id(st, q->participant_id, "participant_id");
    if (tdm_handler_fail(call, mt_check_reason(st, q->reason)))
        return;
    mt_store_respond(&r, q, mt_reply, call);
}

static void handle_end_match(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__EndMatchRequest *q = (const void *)msg;
    mt_req r;
    tdm_status *st = mt_req_init(&r, data, call, TDM_SCOPE_MATCHING_WRITE);
    st = mt_check_id(st, q->id, "id");
    if (tdm_handler_fail(call, mt_check_reason(st, q->reason)))
        return;
    mt_store_end_match(&r, q->id, q->reason, mt_reply, call);
}

/* ---- pair queries: pins, exclusions, ScorePair, SuggestMentors ------------------------ */

typedef struct pair_query {
    mt_service *svc;
    tdm_call *call;
    mt_req req;
    int kind; /* 0 pin, 1 exclusion, 2 score, 3 suggest */
    const char *programme_id, *mentor_id, *mentee_id, *reason;
    int k;
    Tandem__V1__Programme *prog;
    Tandem__V1__Participant **mentors; /* suggest: every mentor of the programme */
    size_t n_mentors;
    Tandem__V1__Participant *mentor, *mentee;
    mt_state state;
} pair_query;

static bool same_id(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static void pair_scored(pair_query *pq);
static void pair_suggest(pair_query *pq);

static void pair_state_read(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    pair_query *pq = arg;
    (void)msg;
    if (tdm_handler_fail(pq->call, st))
        return;
    if (pq->kind == 2)
        pair_scored(pq);
    else
        pair_suggest(pq);
}

static void pair_people_fetched(void *arg, tdm_status *st, Tandem__V1__Programme *prog,
                                Tandem__V1__Participant **people, size_t n)
{
    pair_query *pq = arg;
    (void)prog;
    if (tdm_handler_fail(pq->call, st))
        return;
    /* Both must be of this programme (another programme's people are not found). */
    for (size_t i = 0; i < n; i++) {
        if (!same_id(people[i]->programme_id, pq->programme_id)) {
            tdm_call_fail(pq->call, tdm_status_new(TDM_NOT_FOUND, "%s not found in the programme",
                                                   i == 0 && pq->kind != 3 ? "mentor" : "mentee"));
            return;
        }
    }
    if (pq->kind == 3) {
        pq->mentee = people[0];
    } else {
        pq->mentor = people[0];
        pq->mentee = people[1];
    }
    if (pq->kind <= 1) {
        tdm_status *bad = NULL;
        if (pq->mentor->role != TANDEM__V1__ROLE__MENTOR)
            bad =
                tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid mentor_id"),
                                         "mentor_id", "is not a mentor of the programme");
        else if (pq->mentee->role != TANDEM__V1__ROLE__MENTEE)
            bad =
                tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid mentee_id"),
                                         "mentee_id", "is not a mentee of the programme");
        if (tdm_handler_fail(pq->call, bad))
            return;
        mt_store_add_pair_rule(&pq->req, pq->kind, pq->programme_id, pq->mentor_id, pq->mentee_id,
                               pq->reason, mt_reply, pq->call);
        return;
    }
    if (pq->kind == 3 && pq->mentee->role != TANDEM__V1__ROLE__MENTEE) {
        tdm_call_fail(pq->call, tdm_status_add_violation(
                                    tdm_status_new(TDM_INVALID_ARGUMENT, "invalid mentee_id"),
                                    "mentee_id", "is not a mentee of the programme"));
        return;
    }
    mt_store_read_state(&pq->req, pq->programme_id, &pq->state, pair_state_read, pq);
}

static void pair_programme_fetched(void *arg, tdm_status *st, Tandem__V1__Programme *prog,
                                   Tandem__V1__Participant **people, size_t n)
{
    pair_query *pq = arg;
    if (tdm_handler_fail(pq->call, st))
        return;
    pq->prog = prog;
    pq->mentors = people;
    pq->n_mentors = n;
    const char *ids[2] = {pq->kind == 3 ? pq->mentee_id : pq->mentor_id, pq->mentee_id};
    const char **copy = tdm_arena_memdup(pq->req.arena, ids, sizeof(ids));
    if (copy == NULL) {
        tdm_call_fail(pq->call, tdm_store_oom());
        return;
    }
    mt_fetch_participants(pq->svc->rt, pq->req.ctx, copy, pq->kind == 3 ? 1 : 2, pq->req.arena,
                          pair_people_fetched, pq);
}

static void pair_start(pair_query *pq)
{
    /* Pins and exclusions need only the two people; ScorePair the programme too;
     * SuggestMentors also every mentor. */
    if (pq->kind <= 1) {
        pair_programme_fetched(pq, NULL, NULL, NULL, 0);
        return;
    }
    mt_fetch_programme(pq->svc->rt, pq->req.ctx, pq->programme_id,
                       pq->kind == 3 ? TANDEM__V1__ROLE__MENTOR : -1, pq->req.arena,
                       pair_programme_fetched, pq);
}

static pair_query *pair_new(tdm_call *call, void *data, int kind, uint32_t scope,
                            const char *programme_id, const char *mentor_id, const char *mentee_id)
{
    pair_query *pq = tdm_arena_calloc(tdm_call_arena(call), 1, sizeof(*pq));
    if (pq == NULL) {
        tdm_call_fail(call, tdm_store_oom());
        return NULL;
    }
    tdm_status *st = mt_req_init(&pq->req, data, call, scope);
    st = mt_check_id(st, programme_id, "programme_id");
    if (mentor_id != NULL)
        st = mt_check_id(st, mentor_id, "mentor_id");
    st = mt_check_id(st, mentee_id, "mentee_id");
    if (tdm_handler_fail(call, st))
        return NULL;
    pq->svc = data;
    pq->call = call;
    pq->kind = kind;
    pq->programme_id = programme_id;
    pq->mentor_id = mentor_id;
    pq->mentee_id = mentee_id;
    return pq;
}

static bool state_has(char **a, char **b, size_t n, const char *x, const char *y)
{
    for (size_t i = 0; i < n; i++) {
        if (same_id(a[i], x) && same_id(b[i], y))
            return true;
    }
    return false;
}

static void pair_scored(pair_query *pq)
{
    tdm_arena *a = pq->req.arena;
    mt_policy pol;
    mt_person m, e;
    tdm_status *st = mt_policy_init(&pol, pq->prog, a);
    if (st == NULL)
        st = mt_person_init(&m, pq->mentor, &pol, a);
    if (st == NULL)
        st = mt_person_init(&e, pq->mentee, &pol, a);
    Tandem__V1__ScorePairResponse *out = tdm_arena_alloc(a, sizeof(*out));
    char **reasons = tdm_arena_calloc(a, 16, sizeof(char *));
    if (st == NULL && (out == NULL || reasons == NULL))
        st = tdm_store_oom();
    if (tdm_handler_fail(pq->call, st))
        return;
    tandem__v1__score_pair_response__init(out);
    uint32_t bits = mt_hard_check(&pol, &m, &e);
    size_t n = mt_hard_reasons(&pol, &m, &e, bits, a, reasons, 16);
    int64_t score = mt_explain(&pol, &m, &e, a, &out->explanation, &out->n_explanation);
    if (n < 16 && state_has(pq->state.excl_mentor, pq->state.excl_mentee, pq->state.n_exclusions,
                            pq->mentor->id, pq->mentee->id))
        reasons[n++] = (char *)"excluded";
    if (n < 16 && score < pol.min_score)
        reasons[n++] = tdm_arena_printf(a, "score %.2f is below the programme's min_score %.2f",
                                        (double)score / MT_SCORE_SCALE,
                                        (double)pol.min_score / MT_SCORE_SCALE);
    out->score = (double)score / MT_SCORE_SCALE;
    out->admissible = n == 0;
    out->inadmissible_reasons = reasons;
    out->n_inadmissible_reasons = n;
    mt_reply(pq->call, NULL, &out->base);
}

static void pair_suggest(pair_query *pq)
{
    tdm_arena *a = pq->req.arena;
    mt_policy pol;
    mt_person e;
    tdm_status *st = mt_policy_init(&pol, pq->prog, a);
    if (st == NULL)
        st = mt_person_init(&e, pq->mentee, &pol, a);
    mt_suggestion *best = tdm_arena_calloc(a, (size_t)pq->k, sizeof(*best));
    Tandem__V1__SuggestMentorsResponse *out = tdm_arena_alloc(a, sizeof(*out));
    if (st == NULL && (best == NULL || out == NULL))
        st = tdm_store_oom();
    size_t k = 0;
    if (st == NULL)
        st = mt_suggest(&pol, &e, pq->mentors, pq->n_mentors, &pq->state, (size_t)pq->k, a, best,
                        &k);
    if (tdm_handler_fail(pq->call, st))
        return;
    tandem__v1__suggest_mentors_response__init(out);
    out->suggestions = tdm_arena_calloc(a, k > 0 ? k : 1, sizeof(*out->suggestions));
    for (size_t i = 0; out->suggestions != NULL && i < k; i++) {
        Tandem__V1__MentorSuggestion *s = tdm_arena_alloc(a, sizeof(*s));
        mt_person m;
        if (s == NULL || mt_person_init(&m, pq->mentors[best[i].mentor], &pol, a) != NULL) {
            tdm_call_fail(pq->call, tdm_store_oom());
            return;
        }
        tandem__v1__mentor_suggestion__init(s);
        s->mentor_id = m.src->id;
        s->score = (double)mt_explain(&pol, &m, &e, a, &s->explanation, &s->n_explanation) /
                   MT_SCORE_SCALE;
        s->free_capacity = best[i].free;
        out->suggestions[out->n_suggestions++] = s;
    }
    mt_reply(pq->call, NULL, &out->base);
}

static void handle_pin(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__PinPairRequest *q = (const void *)msg;
    pair_query *pq = pair_new(call, data, 0, TDM_SCOPE_MATCHING_WRITE, q->programme_id,
                              q->mentor_id, q->mentee_id);
    if (pq == NULL || tdm_handler_fail(call, mt_check_reason(NULL, q->reason)))
        return;
    pq->reason = q->reason;
    pair_start(pq);
}

static void handle_exclude(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__ExcludePairRequest *q = (const void *)msg;
    pair_query *pq = pair_new(call, data, 1, TDM_SCOPE_MATCHING_WRITE, q->programme_id,
                              q->mentor_id, q->mentee_id);
    if (pq == NULL || tdm_handler_fail(call, mt_check_reason(NULL, q->reason)))
        return;
    pq->reason = q->reason;
    pair_start(pq);
}

static void handle_score_pair(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__ScorePairRequest *q = (const void *)msg;
    pair_query *pq = pair_new(call, data, 2, TDM_SCOPE_MATCHING_READ, q->programme_id, q->mentor_id,
                              q->mentee_id);
    if (pq != NULL)
        pair_start(pq);
}

static void handle_suggest(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    Tandem__V1__SuggestMentorsRequest *q = (void *)msg;
    if (tdm_handler_fail(call, tdm_handler_person(call, &q->mentee_id, "mentee_id")))
        return;
    if (q->k < 0 || q->k > MT_MAX_SUGGESTIONS) {
        tdm_call_fail(call,
                      tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid k"),
                                               "k", "must be 1 to %d (0 means %d)",
                                               MT_MAX_SUGGESTIONS, MT_DEFAULT_SUGGESTIONS));
        return;
    }
    pair_query *pq = pair_new(call, data, 3, TDM_SCOPE_MATCHING_READ | TDM_SCOPE_AS_PERSON,
                              q->programme_id, NULL, q->mentee_id);
    if (pq == NULL)
        return;
    pq->k = q->k == 0 ? MT_DEFAULT_SUGGESTIONS : q->k;
    pair_start(pq);
}

static void list_rules(tdm_call *call, void *data, int kind, const char *programme_id, int32_t size,
                       const char *token)
{
    mt_req r;
    int page_size = 0;
    int64_t after = 0;
    tdm_status *st = mt_req_init(&r, data, call, TDM_SCOPE_MATCHING_READ);
    st = mt_check_id(st, programme_id, "programme_id");
    if (tdm_handler_fail(call, tdm_check_page_seq(st, size, token, &page_size, &after)))
        return;
    programme_list_start(call, data, &r, kind, programme_id, NULL, page_size, after);
}

static void handle_list_pins(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__ListPinsRequest *q = (const void *)msg;
    list_rules(call, data, 0, q->programme_id, q->page_size, q->page_token);
}

static void handle_list_exclusions(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__ListExclusionsRequest *q = (const void *)msg;
    list_rules(call, data, 1, q->programme_id, q->page_size, q->page_token);
}

static void delete_rule(tdm_call *call, void *data, int kind, const char *id)
{
    mt_req r;
    tdm_status *st = mt_req_init(&r, data, call, TDM_SCOPE_MATCHING_WRITE);
    if (tdm_handler_fail(call, mt_check_id(st, id, "id")))
        return;
    mt_store_delete_pair_rule(&r, kind, id, mt_reply, call);
}

static void handle_delete_pin(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    delete_rule(call, data, 0, ((const Tandem__V1__DeletePinRequest *)(const void *)msg)->id);
}

static void handle_delete_exclusion(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    delete_rule(call, data, 1, ((const Tandem__V1__DeleteExclusionRequest *)(const void *)msg)->id);
}

/* ---- runs -------------------------------------------------------------------------- */

typedef struct start_op {
    mt_service *svc;
    tdm_call *call;
    mt_req req;
    const Tandem__V1__StartMatchingRunRequest *q;
} start_op;

static void run_queued(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    start_op *so = arg;
    if (tdm_handler_fail(so->call, st))
        return;
    mt_worker_wake(so->svc);
    mt_reply(so->call, NULL, msg);
}

static void start_programme_fetched(void *arg, tdm_status *st, Tandem__V1__Programme *prog,
                                    Tandem__V1__Participant **people, size_t n)
{
    start_op *so = arg;
    (void)people;
    (void)n;
    if (tdm_handler_fail(so->call, st))
        return;
    if (prog->status == TANDEM__V1__PROGRAMME__STATUS__DRAFT ||
        prog->status == TANDEM__V1__PROGRAMME__STATUS__CLOSED) {
        tdm_call_fail(so->call, tdm_status_new(TDM_FAILED_PRECONDITION,
                                               "a DRAFT or CLOSED programme cannot be matched"));
        return;
    }
    const Tandem__V1__MatchingPolicy *mp = prog->matching_policy;
    int objective = mp != NULL && mp->objective >= 1 && mp->objective <= 3
                        ? (int)mp->objective
                        : TANDEM__V1__MATCHING_OBJECTIVE__MAX_PARTICIPATION;
    mt_store_queue_run(&so->req, so->q, objective, run_queued, so);
}

static void handle_start_run(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__StartMatchingRunRequest *q = (const void *)msg;
    start_op *so = tdm_arena_calloc(tdm_call_arena(call), 1, sizeof(*so));
    if (so == NULL) {
        tdm_call_fail(call, tdm_store_oom());
        return;
    }
    tdm_status *st = mt_req_init(&so->req, data, call, TDM_SCOPE_MATCHING_WRITE);
    st = mt_check_id(st, q->programme_id, "programme_id");
    st = mt_check_enum(st, q->algorithm, TANDEM__V1__ALGORITHM__GREEDY, "algorithm");
    st = mt_check_enum(st, q->scope, TANDEM__V1__RUN_SCOPE__UNMATCHED, "scope");
    const char *key = tdm_call_metadata(call, TDM_IDEM_METADATA_KEY, NULL);
    if (st == NULL && key != NULL) {
        tdm_idem_key *k = tdm_arena_alloc(so->req.arena, sizeof(*k));
        st = k == NULL ? tdm_store_oom() : tdm_idem_prepare(k, "StartMatchingRun", key, msg);
        so->req.idem = k;
    }
    if (tdm_handler_fail(call, st))
        return;
    so->svc = data;
    so->call = call;
    so->q = q;
    /* The programme must exist in the caller's tenant (enrolment says NOT_FOUND
     * otherwise); its policy's objective is recorded with the run. */
    mt_fetch_programme(so->svc->rt, so->req.ctx, q->programme_id, -1, so->req.arena,
                       start_programme_fetched, so);
}

static void handle_get_run(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__GetMatchingRunRequest *q = (const void *)msg;
    mt_req r;
    tdm_status *st = mt_req_init(&r, data, call, TDM_SCOPE_MATCHING_READ);
    if (tdm_handler_fail(call, mt_check_id(st, q->id, "id")))
        return;
    mt_store_get_run(&r, q->id, mt_reply, call);
}

static void handle_list_runs(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__ListMatchingRunsRequest *q = (const void *)msg;
    mt_req r;
    int page_size = 0;
    int64_t after = 0;
    tdm_status *st = mt_req_init(&r, data, call, TDM_SCOPE_MATCHING_READ);
    st = mt_check_id(st, q->programme_id, "programme_id");
    st = mt_check_enum(st, q->status, TANDEM__V1__MATCHING_RUN__STATUS__FAILED, "status");
    if (tdm_handler_fail(call,
                         tdm_check_page_seq(st, q->page_size, q->page_token, &page_size, &after)))
        return;
    programme_list_start(call, data, &r, 3, q->programme_id, msg, page_size, after);
}

static void handle_list_proposals(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__ListProposalsRequest *q = (const void *)msg;
    mt_req r;
    int page_size = 0;
    int64_t after = 0;
    tdm_status *st = mt_req_init(&r, data, call, TDM_SCOPE_MATCHING_READ);
    st = mt_check_id(st, q->run_id, "run_id");
    if (tdm_handler_fail(call,
                         tdm_check_page_seq(st, q->page_size, q->page_token, &page_size, &after)))
        return;
    mt_store_list_proposals(&r, q->run_id, page_size, after, mt_reply, call);
}

/* ApproveRun: read the run (its programme), ask enrolment for the programme's
 * withdrawn participants, then approve in one transaction. */
typedef struct approve_op {
    mt_service *svc;
    tdm_call *call;
    mt_req req;
    const char *id;
} approve_op;

static void approve_withdrawn(void *arg, tdm_status *st, Tandem__V1__Programme *prog,
                              Tandem__V1__Participant **people, size_t n)
{
    approve_op *ao = arg;
    (void)prog;
    if (tdm_handler_fail(ao->call, st))
        return;
    char **ids = tdm_arena_calloc(ao->req.arena, n + 1, sizeof(char *));
    if (ids == NULL) {
        tdm_call_fail(ao->call, tdm_store_oom());
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (tdm_uuid_valid(people[i]->id))
            ids[k++] = people[i]->id;
    }
    mt_store_approve_run(&ao->req, ao->id, ids, k, mt_reply, ao->call);
}

static void approve_run_read(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    approve_op *ao = arg;
    if (tdm_handler_fail(ao->call, st))
        return;
    const Tandem__V1__MatchingRun *run = (const void *)msg;
    mt_fetch_programme_status(ao->svc->rt, ao->req.ctx, run->programme_id, 0,
                              TANDEM__V1__PARTICIPANT__STATUS__WITHDRAWN, ao->req.arena,
                              approve_withdrawn, ao);
}

static void handle_approve(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__ApproveRunRequest *q = (const void *)msg;
    approve_op *ao = tdm_arena_calloc(tdm_call_arena(call), 1, sizeof(*ao));
    if (ao == NULL) {
        tdm_call_fail(call, tdm_store_oom());
        return;
    }
    tdm_status *st = mt_req_init(&ao->req, data, call, TDM_SCOPE_MATCHING_WRITE);
    if (tdm_handler_fail(call, mt_check_id(st, q->id, "id")))
        return;
    ao->svc = data;
    ao->call = call;
    ao->id = q->id;
    mt_store_get_run(&ao->req, q->id, approve_run_read, ao);
}

/* ---- registration ------------------------------------------------------------------ */

static const tdm_rpc_method_def mt_methods[] = {
    {"StartMatchingRun", handle_start_run, 0},
    {"GetMatchingRun", handle_get_run, 0},
    {"ListMatchingRuns", handle_list_runs, 0},
    {"ListProposals", handle_list_proposals, 0},
    {"ApproveRun", handle_approve, 0},
    {"ListMatches", handle_list_matches, 0},
    {"GetMatch", handle_get_match, 0},
    {"RespondToMatch", handle_respond, 0},
    {"EndMatch", handle_end_match, 0},
    {"PinPair", handle_pin, 0},
    {"ListPins", handle_list_pins, 0},
    {"DeletePin", handle_delete_pin, 0},
    {"ExcludePair", handle_exclude, 0},
    {"ListExclusions", handle_list_exclusions, 0},
    {"DeleteExclusion", handle_delete_exclusion, 0},
    {"ScorePair", handle_score_pair, 0},
    {"SuggestMentors", handle_suggest, 0},
};

tdm_status *mt_register(tdm_runtime *rt, mt_service *svc)
{
    svc->rt = rt;
    tdm_status *st =
        TDM_RUNTIME_SERVE(rt, &tandem__v1__matching_service__descriptor, mt_methods, svc);
    if (st == NULL)
        st = mt_person_data_register(rt, svc);
    if (st == NULL)
        st = mt_worker_start(svc);
    if (st == NULL)
        st = mt_withdrawals_start(svc);
    return st;
}
