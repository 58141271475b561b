/*
 * page_token.h - the opaque page tokens of every list: base64url without padding of
 * a short text that says where the next page starts. Two shapes cover every list:
 *
 *   seq      "k1:<n>"            a list keyed by one increasing number (n >= 0)
 *   keyset   "<a>:<b>:<uuid>"    a list keyed by two numbers (e.g. microseconds of
 *                                 its sort columns) and an id that breaks ties
 *
 * A token is not a secret nor a signature: it only spares clients a format they
 * might come to depend on. Every query still runs in the caller's tenant, so a
 * forged token can reach nothing the caller could not list. Decoding bounds the
 * token (TDM_PAGE_TOKEN_MAX_CHARS) before reading it and refuses anything that is
 * not exactly a token this codec wrote.
 */
#ifndef TANDEM_PAGE_TOKEN_H
#define TANDEM_PAGE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "tandem/arena.h"
#include "tandem/status.h"

/* The longest token decoded, in characters (a keyset token is at most 96). */
#define TDM_PAGE_TOKEN_MAX_CHARS 128u

/* "k1:<seq>" as a token in the arena; NULL when out of memory or seq < 0. */
char *tdm_page_token_encode_seq(int64_t seq, tdm_arena *arena);
/* 0 and *seq, or -1 when the token is not a seq token. */
int tdm_page_token_decode_seq(const char *token, int64_t *seq);

/* "<a>:<b>:<id>" as a token in the arena; id must be a UUID. NULL when out of memory
 * or id is not a UUID. */
char *tdm_page_token_encode_keyset(int64_t a, int64_t b, const char *id, tdm_arena *arena);
/* 0 with *a, *b and id (the UUID's text, NUL-terminated), or -1 when the token is not
 * a keyset token. */
int tdm_page_token_decode_keyset(const char *token, int64_t *a, int64_t *b, char id[37]);

/* A request's page_token, as a list hands it to its store: an empty token is the
 * first page (*seq 0, or a, b 0 and id ""); one this codec did not write is
 * INVALID_ARGUMENT naming page_token ("is not a token this list returned"). */
tdm_status *tdm_check_page_token_seq(const char *token, int64_t *seq);
tdm_status *tdm_check_page_token_keyset(const char *token, int64_t *a, int64_t *b, char id[37]);

/* The paging of a seq-keyed list: its page_size (tdm_check_page_size) and its
 * page_token (tdm_check_page_token_seq), after the checks before it: st, when set, is
 * returned as it is (so checks chain: st = tdm_check_page_seq(st, ...)). */
tdm_status *tdm_check_page_seq(tdm_status *st, int32_t size, const char *token, int *page_size,
                               int64_t *after);

/* ---- answers ---------------------------------------------------------------------- */

/* A new List...Response `desc` (in the arena) holding the n items in its repeated
 * message field `field` and `next` ("" or NULL: none) as its next_page_token. NULL
 * when out of memory. */
ProtobufCMessage *tdm_page_message(tdm_arena *arena, const ProtobufCMessageDescriptor *desc,
                                   const char *field, void **items, size_t n, char *next);

/* How a list's answer is made from rows already read into structs (e.g. the gateway's
 * stores): each row's item, and the token that follows the last row shown. */
typedef struct tdm_page_rows {
    const ProtobufCMessageDescriptor *desc; /* the List...Response message */
    const char *field;                      /* its repeated field of items */
    size_t stride;                          /* the size of a row */
    void *(*item)(tdm_arena *arena, const void *row);
    char *(*token)(tdm_arena *arena, const void *row);
} tdm_page_rows;

/* The answer of a list whose store asked for page_size + 1 rows: the first
 * page_size of the n rows as items, and a next_page_token when there is one more.
 * st, when set, is returned as it is (a failed read); otherwise NULL with *out, or
 * RESOURCE_EXHAUSTED. */
tdm_status *tdm_page_answer(tdm_status *st, tdm_arena *arena, const tdm_page_rows *p,
                            const void *rows, size_t n, int page_size, ProtobufCMessage **out);

#endif
