/*
 * store_op.h - the transaction chain every store file of tandem-matching uses, and
 * the SQL fragments that build the row documents (proto3 JSON, proto field names,
 * enums as numbers, times as RFC 3339 in UTC) the codec decodes into messages.
 *
 * A store_op embeds the runtime's tdm_store_op (tandem/store.h), which leases the
 * transaction, claims the Idempotency-Key, runs the steps, appends the events and
 * commits or rolls back; it lives in the call's (or the run's) arena.
 */
#ifndef TANDEM_MATCHING_STORE_OP_H
#define TANDEM_MATCHING_STORE_OP_H

#include "matching.h"

#include "tandem/outbox.h"
#include "tandem/store.h"

#define T     TDM_SQL_TENANT
#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* A match row (alias m). */
/* clang-format off */
#define MATCH_JSON                                                                         \
    "json_build_object('id', m.id, 'run_id', m.run_id, 'programme_id', m.programme_id,"    \
    " 'mentor_id', m.mentor_id, 'mentee_id', m.mentee_id, 'score', m.score,"               \
    " 'explanation', m.explanation, 'status', m.status,"                                   \
    " 'mentor_response', json_build_object('decision', m.mentor_response,"                 \
    "   'reason', m.mentor_reason, 'respond_time', " TS("m.mentor_respond_time") "),"      \
    " 'mentee_response', json_build_object('decision', m.mentee_response,"                 \
    "   'reason', m.mentee_reason, 'respond_time', " TS("m.mentee_respond_time") "),"      \
    " 'proposal_id', m.proposal_id, 'create_time', " TS("m.create_time") ","              \
    " 'start_time', " TS("m.start_time") ", 'end_time', " TS("m.end_time") ","            \
    " 'end_reason', m.end_reason, 'update_time', " TS("m.update_time") ")::text"
/* clang-format on */

/* A proposal row (alias p); its status is its match's once approved. */
#define PROPOSAL_JSON                                                                              \
    "json_build_object('id', p.id, 'run_id', p.run_id, 'programme_id', p.programme_id,"            \
    " 'mentor_id', p.mentor_id, 'mentee_id', p.mentee_id, 'score', p.score,"                       \
    " 'explanation', p.explanation, 'status', COALESCE((SELECT mm.status FROM " MT_SCHEMA          \
    ".matches mm WHERE mm.tenant_id = p.tenant_id AND mm.id = p.match_id), 1),"                    \
    " 'pinned', p.pinned, 'match_id', p.match_id, 'create_time', " TS("p.create_time") ")::text"

/* A run row (alias r) with the given stats expression. */
#define RUN_JSON_WITH(stats)                                                                       \
    "json_build_object('id', r.id, 'programme_id', r.programme_id, 'algorithm', r.algorithm,"      \
    " 'scope', r.scope, 'dry_run', r.dry_run, 'seed', r.seed, 'status', r.status,"                 \
    " 'progress', r.progress, 'stats', " stats ", 'error_message', r.error_message,"               \
    " 'create_time', " TS("r.create_time") ", 'start_time', " TS(                                  \
        "r.start_time") ","                                                                        \
                        " 'end_time', " TS("r.end_time") ", 'approve_time', " TS(                  \
                            "r.approve_time") ","                                                  \
                                              " 'objective', r.objective)::text"
#define RUN_JSON RUN_JSON_WITH("r.stats")

/* A pin or exclusion row (alias x). */
#define RULE_JSON                                                                                  \
    "json_build_object('id', x.id, 'programme_id', x.programme_id, 'mentor_id', x.mentor_id,"      \
    " 'mentee_id', x.mentee_id, 'reason', x.reason, 'create_time', " TS("x.create_time") ")::text"

/* One store call: the runtime's transaction chain (tandem/store.h) first, then the
 * state matching's operations share. */
typedef struct store_op {
    tdm_store_op base;
    const char **params;
    int page_size;
    int kind;
    const char *event_type;
    const Tandem__V1__RespondToMatchRequest *respond;
    mt_state *state;
    void *user; /* operation-specific */
} store_op;

/* An operation; NULL when out of memory (cb has been called). */
store_op *op_new(const mt_req *r, mt_store_cb cb, void *arg);
const char *op_int(tdm_arena *a, int64_t v);
/* The uuid[] parameter of ids (tdm_pg_uuid_array); on out of memory ends the op and
 * returns NULL. */
const char *op_uuid_array(store_op *op, char **ids, size_t n);
/* An ASCII-lower-cased copy (UUIDs come back lower-case from PostgreSQL). */
const char *op_lower(tdm_arena *a, const char *s);
/* The message of res[row][col]; NULL (and the op ended) when it does not decode. */
ProtobufCMessage *op_row(store_op *op, PGresult *res, int row, int col,
                         const ProtobufCMessageDescriptor *d);
/* A row document of type ctx (a ProtobufCMessageDescriptor) as a message; INTERNAL
 * when it does not decode (a tdm_store_row_fn). */
tdm_status *op_json_row(const char *doc, size_t len, tdm_arena *a, const void *ctx, void **out);
/* The answer of a list, then the op's end (tdm_store_op_page): column 0 the keyset
 * value, column 1 an `item` document; the `list` response's `field` holds at most
 * op->page_size of them, and its token follows the last one shown. */
void op_page(store_op *op, PGresult *res, const ProtobufCMessageDescriptor *list, const char *field,
             const ProtobufCMessageDescriptor *item);
/* Append one event in the op's transaction, then next(op, NULL). -1 when the op was
 * ended (out of memory). */
int op_event(store_op *op, const char *type, const char *resource_id, const char *data,
             tdm_store_step next);
/* One `type` event per match row of res (column 0: MATCH_JSON), appended in the
 * op's transaction, then next(op, NULL). -1 when the op was ended. */
int op_match_events(store_op *op, PGresult *res, const char *type, tdm_store_step next);

#endif
