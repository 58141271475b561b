/*
 * keys.h - API key secrets and scopes: the pure, testable core of authentication.
 *
 * A secret is "tdm_" followed by 43 base64url characters of 32 random bytes from
 * the OS (OpenSSL RAND_bytes): 256 bits, so a plain SHA-256 of it is a safe stored
 * form (no salt or slow hash is needed against guessing a high-entropy secret).
 * Only the hash is stored; a presented secret is hashed and looked up by hash, and
 * the stored hash is compared again in constant time (CRYPTO_memcmp).
 *
 * Scopes are the TDM_SCOPE_* bits of include/tandem/server.h; "admin" implies all.
 */
#ifndef TANDEM_GATEWAY_KEYS_H
#define TANDEM_GATEWAY_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_KEY_PREFIX         "tdm_"
#define GW_KEY_RANDOM_BYTES   32
#define GW_KEY_SECRET_LEN     47  /* "tdm_" + 43 base64url characters */
#define GW_KEY_SECRET_MAX     256 /* longest bearer token looked up at all */
#define GW_KEY_SECRET_MIN     16  /* shorter tokens cannot be a key (bootstrap included) */
#define GW_KEY_DISPLAY_PREFIX 8   /* characters of the secret shown in listings */
#define GW_KEY_HASH_BYTES     32
#define GW_KEY_HASH_HEX_LEN   64
#define GW_SCOPE_ALL          0xFFu
/* What a participant token holds: the read and write scopes of the calls it may
 * make (never admin, never enrolment:write); which calls, and for whom, is narrower
 * still (gw_person_may_call, and each service). */
#define GW_PERSON_SCOPES 0x7Au

/* Fill out (at least GW_KEY_SECRET_LEN + 1 bytes) with a fresh secret.
 * Returns 0, or -1 when the OS random generator failed (never a weak secret). */
int gw_key_generate(char *out, size_t out_size);

/* SHA-256 of the secret's bytes. Returns 0 or -1. */
int gw_key_hash(const char *secret, size_t len, uint8_t out[GW_KEY_HASH_BYTES]);

/* Lower-case hex of a hash; out has GW_KEY_HASH_HEX_LEN + 1 bytes. */
void gw_key_hash_hex(const uint8_t hash[GW_KEY_HASH_BYTES], char *out);

/* The hash that GW_KEY_HASH_HEX_LEN hex digits (either case) spell; false when the
 * text is anything else. */
bool gw_key_hash_from_hex(const char *hex, uint8_t out[GW_KEY_HASH_BYTES]);

/* The channel on which every change to a key is notified, with its hash in hex
 * (migration 019; listen.h). */
#define GW_KEYS_CHANNEL "tandem_api_keys"

/* Constant-time equality of two hashes. */
bool gw_key_hash_equal(const uint8_t *a, const uint8_t *b);

/* The token of an "Authorization: Bearer <token>" value (scheme case-insensitive,
 * one or more spaces). Returns false when absent, malformed, of a length outside
 * GW_KEY_SECRET_MIN..GW_KEY_SECRET_MAX, or holding characters outside RFC 6750's
 * b64token set; *token points into value. */
bool gw_bearer_token(const char *value, const char **token, size_t *len);

/* The bit of a scope name, 0 when unknown. */
uint32_t gw_scope_bit(const char *name);
/* Name of a single scope bit, NULL when not one. */
const char *gw_scope_name(uint32_t bit);
/* True when `granted` allows `required` (admin allows everything; 0 required is
 * always allowed). */
bool gw_scope_allows(uint32_t granted, uint32_t required);

#endif
