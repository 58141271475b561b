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

#endif
