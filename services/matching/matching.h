/*
 * matching.h - the private interfaces of tandem-matching.
 *
 *   score.c       pure scoring: hard constraints, the weighted 0-100 score of a pair
 *                 and its explanation, from enrolment's Programme and Participants
 *   plan.c        pure run planning: scope, pins, exclusions, scoring every pair on
 *                 threads, the engine (include/tandem/assign.h), unmatched reasons
 *   rows.c        row documents (JSON) <-> messages, page tokens, event bodies
 *   store.c       the SQL of matches, pins and exclusions, one tdm_store_op each
 *   store_runs.c  the SQL of runs, proposals and the run queue
 *   store_op.c    what both store files share (store_op.h)
 *   validate.c    pure checks of requests
 *   handlers.c    one function per MatchingService RPC: scope, validation, store
 *   peers.c       calls to other services: reads from enrolment
 *   run.c         the run worker: claim a queued run, fetch from enrolment, plan on
 *                 the libuv work pool, write proposals, report progress
 *   persondata.c  tandem.internal.v1.PersonDataService (export, erasure)
 *
 * Everything a call allocates lives in its arena (tdm_call_arena); a run's data
 * lives in the run's own arena, freed when the run ends.
 */
#ifndef TANDEM_MATCHING_H
#define TANDEM_MATCHING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem/arena.h"
#include "tandem/check.h"
#include "tandem/assign.h"
#include "tandem/idempotency.h"
#include "tandem/handler.h"
#include "tandem/page_token.h"
#include "tandem/pg.h"
#include "tandem/person_data.h"
#include "tandem/runtime.h"
#include "tandem/server.h"
#include "tandem/status.h"
#include "tandem/store.h"
#include "tandem/internal/v1/erasure.pb-c.h"
#include "tandem/v1/enrolment.pb-c.h"
#include "tandem/v1/matching.pb-c.h"

#define MT_SCHEMA               "matching"
#define MT_SERVICE              "matching"
#define MT_MAX_REASON_CHARS     1000u
#define MT_DEFAULT_RUN_LEASE_MS 120000
#define MT_MAX_DETAIL_BYTES     500u
/* Stats keep at most this many unmatched mentees (the count is exact). */
#define MT_MAX_UNMATCHED_LISTED 10000u
/* Exports answer at most this many items of each kind. */
#define MT_MAX_EXPORT_ITEMS 10000
/* SuggestMentors: k in 1..50, 0 means 5. */
#define MT_MAX_SUGGESTIONS     50
#define MT_DEFAULT_SUGGESTIONS 5

/* ---- score.c ---------------------------------------------------------------------- */

/* The criteria, in CriterionWeights order (their names are the API's). */
enum {
    MT_C_SKILLS = 0,
    MT_C_INTERESTS,
    MT_C_OBJECTIVES,
    MT_C_AVAILABILITY,
    MT_C_LANGUAGE,
    MT_C_SENIORITY,
    MT_C_PERSPECTIVE,
    MT_C_BACKGROUND,
    MT_N_CRITERIA
};

extern const char *const MT_CRITERION_NAMES[MT_N_CRITERIA];

/* Scores are fixed point: 87.25 points are 8725. */
#define MT_SCORE_SCALE 100
#define MT_SCORE_MAX   (100 * MT_SCORE_SCALE)

/* A sorted set of 64-bit hashes of lower-cased strings or tokens. */
typedef struct mt_hashset {
    uint64_t *h;
    uint32_t n;
} mt_hashset;

/* A programme's policy, resolved (defaults applied, weights normalised). */
typedef struct mt_policy {
    int kind;                     /* Tandem__V1__ProgrammeKind */
    double weight[MT_N_CRITERIA]; /* >= 0, as given (ratios matter) */
    /* Points (fixed point) per unit of similarity: [0] background does not apply to
     * the pair, [1] it does. */
    double factor[2][MT_N_CRITERIA];
    int64_t min_score;    /* fixed point, ceil(min_score * 100) */
    int default_capacity; /* >= 1 */
    int gap_min, gap_max; /* -1 when unbounded */
    bool forbid_same_department;
    bool forbid_reporting_line;
    bool require_shared_language;
    int objective;                   /* Tandem__V1__MatchingObjective, resolved (1..3) */
    size_t n_objectives;             /* <= 32 */
    uint64_t objective_key[32];      /* hash of each objective's key */
    uint64_t objective_title[32];    /* hash of each objective's title */
    mt_hashset objective_tokens[32]; /* tokens of key and title */
    const Tandem__V1__Programme *src;
} mt_policy;

/* One participant, prepared for fast scoring. Read-only once built: scoring threads
 * share it. */
typedef struct mt_person {
    const Tandem__V1__Participant *src;
    const char *id;
    uint64_t external_hash;
    int role;
    bool withdrawn;
    int seniority;
    int hours;
    int capacity; /* mentors: resolved capacity (>= 1) */
    uint64_t department, office, practice, timezone, tz_region; /* 0: not given */
    mt_hashset chain;                                           /* reporting chain (external ids) */
    mt_hashset interests;
    mt_hashset languages;
    uint32_t objectives; /* bit i: a goal names programme objective i */
    /* Mentors: skill tokens with the best level offered for each (parallel arrays). */
    mt_hashset skill_tokens;
    uint8_t *skill_token_level;
    /* Goals as token sets (a goal naming an objective also gets its title's tokens). */
    size_t n_goals;
    mt_hashset *goal_tokens;
    /* Background: only when the data was given to us (consented, admin caller). */
    bool has_background;
    uint64_t gender, ethnicity;       /* 0: not said */
    int first_generation, disability; /* -1 not said, 0, 1 */
    /* The run's fast path (mt_compile): strings interned programme-wide. */
    uint32_t fast;              /* MT_FAST_* bits */
    uint64_t interest_bits[4];  /* interned interests, when the vocabulary fits 256 */
    uint64_t language_bits[4];  /* interned languages, likewise */
    uint16_t *goal_token_ids;   /* mentees: every goal's interned tokens, flattened */
    uint16_t *goal_token_start; /* n_goals + 1 offsets into goal_token_ids */
    uint8_t *goal_level;        /* mentors: best level offered per interned goal token */
} mt_person;

enum {
    MT_FAST_INTERESTS = 1u << 0,
    MT_FAST_LANGUAGES = 1u << 1,
    MT_FAST_GOALS = 1u << 2,
    /* In no reporting chain of the run's other side: with both sides so marked, a pair
     * has no reporting line and the chain lookups are skipped. */
    MT_FAST_UNCHAINED = 1u << 3,
};

/* Intern interests, languages and goal words over a whole run's people, so scoring
 * a pair reads a few words per criterion (bitsets, a per-mentor table of levels)
 * instead of merging sorted sets. Scores are identical with and without it. */
tdm_status *mt_compile(mt_person *mentors, size_t n_mentors, mt_person *mentees, size_t n_mentees,
                       tdm_arena *a);

/* Resolve the programme's policy. NULL, or INVALID_ARGUMENT naming the field. */
tdm_status *mt_policy_init(mt_policy *pol, const Tandem__V1__Programme *prog, tdm_arena *a);
/* Prepare a participant (strings hashed, tokens built). NULL on out of memory. */
tdm_status *mt_person_init(mt_person *out, const Tandem__V1__Participant *p, const mt_policy *pol,
                           tdm_arena *a);

/* Why a pair is out, as bits (0: passes every hard constraint). */
enum {
    MT_HARD_ROLE = 1u << 0,       /* mentor is not a MENTOR or mentee not a MENTEE */
    MT_HARD_WITHDRAWN = 1u << 1,  /* either has withdrawn */
    MT_HARD_DIRECTION = 1u << 2,  /* seniority in the wrong direction */
    MT_HARD_GAP = 1u << 3,        /* seniority gap outside the range */
    MT_HARD_DEPARTMENT = 1u << 4, /* same department, forbidden */
    MT_HARD_REPORTING = 1u << 5,  /* reporting line, forbidden */
    MT_HARD_LANGUAGE = 1u << 6,   /* no shared language, required */
};

/* The hard-constraint bits of a pair (thread-safe, no allocation). */
uint32_t mt_hard_check(const mt_policy *pol, const mt_person *mentor, const mt_person *mentee);
/* The pair's score in fixed point, 0..MT_SCORE_MAX (thread-safe, no allocation). It
 * equals the sum of the explanation's contributions (each rounded to 0.01). */
int64_t mt_score(const mt_policy *pol, const mt_person *mentor, const mt_person *mentee);
/* The score and one explanation item per criterion with a non-zero weight (arena). */
int64_t mt_explain(const mt_policy *pol, const mt_person *mentor, const mt_person *mentee,
                   tdm_arena *a, Tandem__V1__ExplanationItem ***items, size_t *n_items);
/* One human sentence per bit of mt_hard_check (arena); returns the count. */
size_t mt_hard_reasons(const mt_policy *pol, const mt_person *mentor, const mt_person *mentee,
                       uint32_t bits, tdm_arena *a, char **out, size_t cap);

/* ---- plan.c ----------------------------------------------------------------------- */

/* What a run starts from: the programme's people and the matching state. */
typedef struct mt_plan_input {
    const mt_policy *pol;
    mt_person *mentors;
    size_t n_mentors;
    mt_person *mentees;
    size_t n_mentees;
    /* Free seats per mentor (capacity minus live matches with scope UNMATCHED);
     * NULL: the full capacity. */
    const int *free_capacity;
    /* Mentees left out of the run (they have a live match, scope UNMATCHED). */
    const bool *mentee_skipped;
    /* Pins and exclusions as (mentor index, mentee index) pairs. */
    const uint32_t (*pins)[2];
    size_t n_pins;
    const uint32_t (*exclusions)[2];
    size_t n_exclusions;
    int algorithm; /* Tandem__V1__Algorithm, resolved (1..3) */
    uint32_t seed;
    unsigned threads; /* scoring threads (0: online CPUs) */
    /* Programmes of more mentor x mentee cells use the priced solver (0: the default,
     * 30 million); tests lower it to run the large-programme path on small ones. */
    uint64_t dense_max_cells;
    /* Where mt_compile keeps its tables (the planning thread's own), or NULL to
     * score without the fast path. */
    tdm_arena *arena;
    /* Called from the planning thread between phases with a fraction 0..1; may be NULL. */
    void (*progress)(void *arg, double fraction);
    void *progress_arg;
    /* May be NULL. Raised by another thread (the worker, when the run's lease is lost
     * or the process stops): scoring stops at its next block of mentees, the engine at
     * its next check (assign.h), and mt_plan_run fails with MT_PLAN_CANCELLED. */
    const atomic_bool *cancel;
} mt_plan_input;

#define MT_PLAN_CANCELLED "the computation was cancelled"

typedef struct mt_plan_pair {
    uint32_t mentor, mentee;
    int64_t score;
    bool pinned;
} mt_plan_pair;

typedef struct mt_plan_unmatched {
    uint32_t mentee;
    int reason;          /* Tandem__V1__UnmatchedReason */
    uint32_t admissible; /* pairs passing every constraint */
    uint32_t below_min, excluded;
} mt_plan_unmatched;

typedef struct mt_plan_result {
    mt_plan_pair *pairs; /* malloc'd, sorted by score descending */
    size_t n_pairs;
    mt_plan_unmatched *unmatched; /* malloc'd */
    size_t n_unmatched;
    int64_t admissible_pairs;
    int pinned_pairs;
    int64_t total_score, min_score;
    int unmatched_mentors;
    int64_t blocking_pairs;
    bool priced;             /* the large-programme solver was used */
    tdm_assign_stats engine; /* the engine's own statistics */
    double score_seconds, solve_seconds;
    char error[256]; /* why the plan failed */
} mt_plan_result;

/* Plan a run (blocking: call it on the work pool). 0 on success, else -1 with
 * r->error set. Free with mt_plan_result_free. */
int mt_plan_run(const mt_plan_input *in, mt_plan_result *r);
void mt_plan_result_free(mt_plan_result *r);

/* ---- validate.c: chained field checks (NULL, or the first refusal) ------------------ */

tdm_status *mt_check_id(tdm_status *st, const char *value, const char *field);
/* reason: at most MT_MAX_REASON_CHARS characters of UTF-8. */
tdm_status *mt_check_reason(tdm_status *st, const char *reason);
/* An enum value 0..max. */
tdm_status *mt_check_enum(tdm_status *st, int value, int max, const char *field);

/* ---- rows.c ----------------------------------------------------------------------- */

/* Decode a row document (proto3 JSON built by the store's SQL) into a message. */
ProtobufCMessage *mt_from_json(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
                               tdm_arena *a);
/* The explanation as the JSON array the store keeps (arena). */
char *mt_explanation_json(Tandem__V1__ExplanationItem **items, size_t n, tdm_arena *a);
/* Keep only id, programme_id, mentor_id, mentee_id, status and start_time: the
 * answer to a caller whose scopes allow feedback but not matching:read. */
void mt_match_cut_to_feedback_view(Tandem__V1__Match *m);
/* Leave out of m (a Match, Proposal, any answer holding them) every explanation item
 * computed from diversity data, and make each score shown the sum of the items
 * shown (API.md "Least privilege in every answer": a withheld number could be
 * recovered as the difference). For every caller but an admin, and for every event.
 * Replaces the explanation arrays (new ones in a), never changes the items. 0, or
 * -1 when out of memory. */
int mt_withhold_diversity(ProtobufCMessage *m, tdm_arena *a);
/* {"<name>": <message JSON>} for an event's data, diversity-derived items withheld
 * (arena). */
char *mt_event_json(const char *name, const ProtobufCMessage *m, tdm_arena *a);

/* ---- store.c ---------------------------------------------------------------------- */

/* What a store call needs of its call, and its one completion (tandem/store.h). */
typedef tdm_store_req mt_req;
typedef tdm_store_cb mt_store_cb;

void mt_store_get_match(const mt_req *r, const char *id, mt_store_cb cb, void *arg);
void mt_store_list_matches(const mt_req *r, const Tandem__V1__ListMatchesRequest *q, int page_size,
                           int64_t after, mt_store_cb cb, void *arg);
void mt_store_respond(const mt_req *r, const Tandem__V1__RespondToMatchRequest *q, mt_store_cb cb,
                      void *arg);
void mt_store_end_match(const mt_req *r, const char *id, const char *reason, mt_store_cb cb,
                        void *arg);
/* End every PROPOSED, ACCEPTED or ACTIVE match of the participants ("{uuid,...}", a
 * text[] literal) with reason, each with its match.ended event, in one transaction. */
void mt_store_end_matches_of(const mt_req *r, const char *participant_ids, const char *reason,
                             mt_store_cb cb, void *arg);
/* Pins and exclusions: kind 0 pin, 1 exclusion. */
void mt_store_add_pair_rule(const mt_req *r, int kind, const char *programme_id,
                            const char *mentor_id, const char *mentee_id, const char *reason,
                            mt_store_cb cb, void *arg);
void mt_store_list_pair_rules(const mt_req *r, int kind, const char *programme_id, int page_size,
                              int64_t after, mt_store_cb cb, void *arg);
void mt_store_delete_pair_rule(const mt_req *r, int kind, const char *id, mt_store_cb cb,
                               void *arg);
/* Queue a run (QUEUED, and its id in the cross-tenant queue). The run's request
 * context is kept with it: the worker fetches from enrolment on the caller's behalf.
 * ALREADY_EXISTS when a run of the programme is queued or running. */
void mt_store_queue_run(const mt_req *r, const Tandem__V1__StartMatchingRunRequest *q,
                        int objective, mt_store_cb cb, void *arg);
void mt_store_get_run(const mt_req *r, const char *id, mt_store_cb cb, void *arg);
void mt_store_list_runs(const mt_req *r, const Tandem__V1__ListMatchingRunsRequest *q,
                        int page_size, int64_t after, mt_store_cb cb, void *arg);
void mt_store_list_proposals(const mt_req *r, const char *run_id, int page_size, int64_t after,
                             mt_store_cb cb, void *arg);
/* Approve a run: its proposals become matches. `withdrawn` names the programme's
 * withdrawn participants (from enrolment): a proposal naming one is no longer
 * available (FAILED_PRECONDITION). Idempotent for an approved run. */
void mt_store_approve_run(const mt_req *r, const char *id, char **withdrawn, size_t n_withdrawn,
                          mt_store_cb cb, void *arg);

/* The programme's matching state for scoring queries and runs. */
/* ---- suggest.c: SuggestMentors' selection ------------------------------------------- */

typedef struct mt_state mt_state;

/* A mentor proposed to a mentee: index into the mentors given, score, free seats. */
typedef struct mt_suggestion {
    size_t mentor;
    int64_t score;
    int free;
} mt_suggestion;

/* The best k (<= MT_MAX_SUGGESTIONS) of `mentors` for `mentee`, best first (score, then
 * the mentors' order) into out (room for k): those with a free seat (capacity minus
 * their live matches in state), passing every hard constraint, not excluded with the
 * mentee in state, scoring at least the policy's min_score. Cost O(mentors + k log k +
 * live matches + exclusions). A status only when out of memory (or from mt_person_init). */
tdm_status *mt_suggest(const mt_policy *pol, const mt_person *mentee,
                       Tandem__V1__Participant *const *mentors, size_t n_mentors,
                       const mt_state *state, size_t k, tdm_arena *a, mt_suggestion *out,
                       size_t *n_out);

struct mt_state {
    size_t n_pins, n_exclusions, n_live;
    char **pin_mentor, **pin_mentee;
    char **excl_mentor, **excl_mentee;
    char **live_mentor, **live_mentee; /* matches PROPOSED, ACCEPTED or ACTIVE */
};

/* Read pins, exclusions and live matches of a programme. The message of the
 * callback is NULL; *out is filled (arena). */
void mt_store_read_state(const mt_req *r, const char *programme_id, mt_state *out, mt_store_cb cb,
                         void *arg);

/* ---- the run worker's statements (store_runs.c) ------------------------------------ */

/* A claimed queue entry: the run, its tenant and the claim token of the lease. */
typedef struct mt_claim {
    const char *tenant_id; /* NULL when nothing was queued */
    const char *run_id;
    const char *claim;
} mt_claim;

/* A run being computed: the run as stored, and the request context it was started
 * with (the worker reads enrolment on that caller's behalf). */
typedef struct mt_run_job {
    Tandem__V1__MatchingRun *run; /* NULL when the run is gone or finished */
    tdm_call_context ctx;
    int attempts; /* this start included */
} mt_run_job;

/* Claim the oldest queued run whose lease is free (no tenant: the queue holds ids
 * only). out->tenant_id stays NULL when there is none. */
void mt_store_claim_run(const mt_req *r, int lease_ms, mt_claim *out, mt_store_cb cb, void *arg);
/* In the run's tenant: mark it RUNNING and read it. job->run NULL (and the queue
 * entry dropped) when it is no longer QUEUED or RUNNING. */
void mt_store_start_run(const mt_req *r, const mt_claim *c, mt_run_job *job, mt_store_cb cb,
                        void *arg);
/* Record progress and renew the lease. ABORTED when the lease was lost. */
void mt_store_run_progress(const mt_req *r, const mt_claim *c, double progress, int lease_ms,
                           mt_store_cb cb, void *arg);
/* Hand a claimed run back (shutdown): the lease freed for any replica, this claim
 * fenced out, the attempt not counted. */
void mt_store_release_run(const mt_req *r, const mt_claim *c, mt_store_cb cb, void *arg);
/* Write the outcome in one transaction: the proposals (a JSON array of {rank,
 * mentor_id, mentee_id, cap, score, pinned, explanation}), the stats (RunStats JSON)
 * or the error, the status, the queue entry's removal and matching_run.completed.
 * ABORTED (nothing written) when the lease was lost. Response: the MatchingRun. */
void mt_store_finish_run(const mt_req *r, const mt_claim *c, int status, const char *proposals,
                         const char *stats, const char *error, mt_store_cb cb, void *arg);

/* ---- persondata ------------------------------------------------------------------- */

void mt_store_export(const mt_req *r, char **ids, size_t n, mt_store_cb cb, void *arg);
void mt_store_erase(const mt_req *r, char **ids, size_t n, mt_store_cb cb, void *arg);

/* ---- run.c (the worker) and handlers ---------------------------------------------- */

typedef struct mt_worker mt_worker;

typedef struct mt_service {
    tdm_runtime *rt;
    /* TANDEM_RUN_LEASE_MS, 1000..3600000, default 120000: how long a run's claim lasts
     * unrenewed (renewed every quarter of it). matching's own setting (main.c). */
    int run_lease_ms;
    tdm_person_data_service person_data;
    mt_worker *worker;
    struct mt_withdrawals *withdrawals;
} mt_service;

tdm_status *mt_register(tdm_runtime *rt, mt_service *svc);
tdm_status *mt_person_data_register(tdm_runtime *rt, mt_service *svc);
tdm_status *mt_req_init(mt_req *r, mt_service *svc, tdm_call *call, uint32_t scope);

/* ---- withdrawals.c: a withdrawn participant's live matches end ------------------------ */

tdm_status *mt_withdrawals_start(mt_service *svc);
void mt_withdrawals_stop(mt_service *svc);

/* Start the worker (poll timer); wake it when this process queued a run. */
tdm_status *mt_worker_start(mt_service *svc);
void mt_worker_wake(mt_service *svc);
void mt_worker_stop(mt_service *svc);

/* ---- peers.c: reads from enrolment --------------------------------------------------- */

/* The programme (and, when role >= 0, its participants of that role - 0: both -
 * every page of ListParticipants) from enrolment, on behalf of ctx. cb gets the
 * programme and the participants (in arena) or a status (enrolment's, e.g.
 * NOT_FOUND for a programme of another tenant). */
typedef void (*mt_fetch_cb)(void *arg, tdm_status *st, Tandem__V1__Programme *prog,
                            Tandem__V1__Participant **people, size_t n);
void mt_fetch_programme(tdm_runtime *rt, const tdm_call_context *ctx, const char *programme_id,
                        int role, tdm_arena *a, mt_fetch_cb cb, void *arg);
/* The same, only participants with this Participant.Status (0: all). */
void mt_fetch_programme_status(tdm_runtime *rt, const tdm_call_context *ctx,
                               const char *programme_id, int role, int status, tdm_arena *a,
                               mt_fetch_cb cb, void *arg);
/* Participants by id (GetParticipant, in parallel); prog is NULL in the callback.
 * The first failure (e.g. NOT_FOUND) is the status. */
void mt_fetch_participants(tdm_runtime *rt, const tdm_call_context *ctx, const char *const *ids,
                           size_t n, tdm_arena *a, mt_fetch_cb cb, void *arg);

#endif
