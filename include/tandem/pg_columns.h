/*
 * pg_columns.h - answer a gRPC call with columns read as PostgreSQL binary arrays.
 *
 * For internal calls that hand a peer many rows of a few columns (the programme
 * report's inputs): one read-only statement in the caller's tenant returns ONE row -
 * some header columns (counts, a cursor), then one array_agg per column in binary
 * result format - and the array bytes go into the response's `bytes` fields as they
 * came, for the peer to bind as binary parameters. The handler validates its request,
 * points at its response's fields and calls tdm_pg_columns_respond; the call then
 * completes exactly once, with the response or a status.
 */
#ifndef TANDEM_PG_COLUMNS_H
#define TANDEM_PG_COLUMNS_H

#include <protobuf-c/protobuf-c.h>

#include "tandem/pg.h"
#include "tandem/server.h"

/* Reads the header columns of the one row into the response (the arrays follow at
 * column n_header); a status to fail the call with (e.g. NOT_FOUND), or NULL. Column
 * sizes are checked by the caller of this function: the header's widths given in
 * header_bytes. */
typedef tdm_status *(*tdm_pg_columns_header_fn)(const PGresult *res, void *ctx);

typedef struct tdm_pg_columns {
    tdm_call *call;
    tdm_pg_pool *pool;
    const tdm_call_context *ctx; /* the caller's: the transaction's tenant, deadline and
                                    request id (it is read-only) */
    const char *sql;             /* the statement; its values must outlive the call */
    int nparams;
    const char *const *params;
    const char *what;        /* "match columns": names the rows in an internal error */
    int n_header;            /* leading columns before the arrays, at most 4 */
    const int *header_bytes; /* their binary widths (4 for int4, 8 for int8, 1 for bool) */
    tdm_pg_columns_header_fn header;
    void *header_ctx;
    ProtobufCBinaryData *const *arrays; /* where each array goes (empty when NULL) */
    int n_arrays;
    ProtobufCMessage *response; /* answered once filled */
} tdm_pg_columns;

/* The start every ListXColumns handler shares, after its own checks (st, taken: a
 * status fails the call): refuses a programme_id that is not a UUID and a negative
 * `after` (INVALID_ARGUMENT naming the field), then allocates in the call's arena the
 * response (a `desc` message, initialised) and *params, n_params statement parameters
 * with [0] the programme and [1] after as text. NULL after failing the call. */
ProtobufCMessage *tdm_pg_columns_begin(tdm_call *call, tdm_status *st,
                                       const ProtobufCMessageDescriptor *desc,
                                       const char *programme_id, int64_t after, int n_params,
                                       const char ***params);

/* Run it; the call is completed (c is copied: it may live on the stack). */
void tdm_pg_columns_respond(const tdm_pg_columns *c);

/* Big-endian integers of a binary result column. */
uint32_t tdm_pg_be32(const char *p);
int64_t tdm_pg_be64(const char *p);

#endif
