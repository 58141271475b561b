/*
 * participant_token.h - the form of a participant token (API.md "Acting as a
 * person"), shared by enrolment, which mints them, and the gateway, which checks them.
 *
 *     tpt_<tenant id, 36 characters>_<43 base64url characters of 32 random bytes>
 *
 * The random part (256 bits from the OS, OpenSSL RAND_bytes) makes a plain SHA-256
 * a safe stored form, as for API keys; only that hash is kept. The tenant id in
 * clear tells the gateway in which tenant to look the hash up (rows are protected
 * by the tenant's row-level security); it tells the bearer nothing they could use.
 */
#ifndef TANDEM_PARTICIPANT_TOKEN_H
#define TANDEM_PARTICIPANT_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TDM_PARTICIPANT_TOKEN_PREFIX        "tpt_"
#define TDM_PARTICIPANT_TOKEN_LEN           84 /* 4 + 36 + 1 + 43 */
#define TDM_PARTICIPANT_TOKEN_HASH_BYTES    32
#define TDM_PARTICIPANT_TOKEN_TTL_DEFAULT_S 900
#define TDM_PARTICIPANT_TOKEN_TTL_MAX_S     3600

/* A fresh token for the tenant (a lower-case UUID) in out (at least
 * TDM_PARTICIPANT_TOKEN_LEN + 1 bytes). 0, or -1 when the tenant id is not a UUID or
 * the OS random generator failed (never a weak token). */
int tdm_participant_token_new(const char *tenant_id, char *out, size_t out_size);

/* True when token[0..len) has the form above; tenant_id (37 bytes) gets its tenant. */
bool tdm_participant_token_parse(const char *token, size_t len, char tenant_id[37]);

/* SHA-256 of token[0..len) (the stored form). 0 or -1. */
int tdm_participant_token_hash(const char *token, size_t len,
                               uint8_t out[TDM_PARTICIPANT_TOKEN_HASH_BYTES]);
/* Lower-case hex of such a hash (out: 65 bytes), as the statements take it. */
void tdm_participant_token_hex(const uint8_t hash[TDM_PARTICIPANT_TOKEN_HASH_BYTES], char out[65]);
/* Both: the hex of the token's hash. 0 or -1. */
int tdm_participant_token_hash_hex(const char *token, size_t len, char out[65]);

#endif
