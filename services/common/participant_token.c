/*
 * participant_token.c - the form of participant tokens (tandem/participant_token.h):
 * OpenSSL makes the randomness and the hash; nothing here is hand-rolled but the
 * base64url alphabet swap.
 */
#include "tandem/participant_token.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tandem/check.h"

#define RANDOM_BYTES 32
#define RANDOM_CHARS 43 /* base64url of 32 bytes, without padding */
#define TENANT_AT    4
#define SEP_AT       (TENANT_AT + 36)
#define RANDOM_AT    (SEP_AT + 1)

static bool base64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int tdm_participant_token_new(const char *tenant_id, char *out, size_t out_size)
{
    uint8_t raw[RANDOM_BYTES];
    unsigned char b64[48]; /* EVP_EncodeBlock: 44 characters and NUL */
    if (out_size < TDM_PARTICIPANT_TOKEN_LEN + 1 || tenant_id == NULL ||
        !tdm_uuid_valid(tenant_id) || RAND_bytes(raw, (int)sizeof(raw)) != 1)
        return -1;
    int n = EVP_EncodeBlock(b64, raw, (int)sizeof(raw));
    OPENSSL_cleanse(raw, sizeof(raw));
    if (n != 44)
        return -1;
    memcpy(out, TDM_PARTICIPANT_TOKEN_PREFIX, TENANT_AT);
    for (int i = 0; i < 36; i++) {
        char c = tenant_id[i];
        out[TENANT_AT + i] = c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
    }
    out[SEP_AT] = '_';
    for (int i = 0; i < RANDOM_CHARS; i++) {
        char c = (char)b64[i];
        out[RANDOM_AT + i] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    out[TDM_PARTICIPANT_TOKEN_LEN] = '\0';
    OPENSSL_cleanse(b64, sizeof(b64));
    return 0;
}

bool tdm_participant_token_parse(const char *token, size_t len, char tenant_id[37])
{
    if (token == NULL || len != TDM_PARTICIPANT_TOKEN_LEN ||
        memcmp(token, TDM_PARTICIPANT_TOKEN_PREFIX, TENANT_AT) != 0 || token[SEP_AT] != '_')
        return false;
    for (size_t i = RANDOM_AT; i < len; i++) {
        if (!base64url_char(token[i]))
            return false;
    }
    memcpy(tenant_id, token + TENANT_AT, 36);
    tenant_id[36] = '\0';
    return tdm_uuid_valid(tenant_id);
}

int tdm_participant_token_hash(const char *token, size_t len,
                               uint8_t out[TDM_PARTICIPANT_TOKEN_HASH_BYTES])
{
    unsigned int n = 0;
    if (EVP_Digest(token, len, out, &n, EVP_sha256(), NULL) != 1 ||
        n != TDM_PARTICIPANT_TOKEN_HASH_BYTES)
        return -1;
    return 0;
}

void tdm_participant_token_hex(const uint8_t hash[TDM_PARTICIPANT_TOKEN_HASH_BYTES], char out[65])
{
    static const char HEX[] = "0123456789abcdef";
    for (size_t i = 0; i < TDM_PARTICIPANT_TOKEN_HASH_BYTES; i++) {
        out[2 * i] = HEX[hash[i] >> 4];
        out[2 * i + 1] = HEX[hash[i] & 0xF];
    }
    out[2 * TDM_PARTICIPANT_TOKEN_HASH_BYTES] = '\0';
}

int tdm_participant_token_hash_hex(const char *token, size_t len, char out[65])
{
    uint8_t digest[TDM_PARTICIPANT_TOKEN_HASH_BYTES];
    if (tdm_participant_token_hash(token, len, digest) != 0)
        return -1;
    tdm_participant_token_hex(digest, out);
    return 0;
}
