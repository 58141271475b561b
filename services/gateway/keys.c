/*
 * keys.c - secret generation, hashing and comparison, bearer parsing and scopes.
 * See keys.h; OpenSSL does the cryptography, nothing here is hand-rolled.
 */
#include "keys.h"

#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tandem/server.h"

static const struct {
    const char *name;
    uint32_t bit;
} SCOPES[] = {
    {"admin", TDM_SCOPE_ADMIN},
    {"enrolment:read", TDM_SCOPE_ENROLMENT_READ},
    {"enrolment:write", TDM_SCOPE_ENROLMENT_WRITE},
    {"matching:read", TDM_SCOPE_MATCHING_READ},
    {"matching:write", TDM_SCOPE_MATCHING_WRITE},
    {"feedback:read", TDM_SCOPE_FEEDBACK_READ},
    {"feedback:write", TDM_SCOPE_FEEDBACK_WRITE},
    {"scim", TDM_SCOPE_SCIM},
};

int gw_key_generate(char *out, size_t out_size)
{
    uint8_t raw[GW_KEY_RANDOM_BYTES];
    /* EVP_EncodeBlock writes 4 * ceil(32 / 3) = 44 characters plus NUL. */
    unsigned char b64[48];
    if (out_size < GW_KEY_SECRET_LEN + 1)
        return -1;
    if (RAND_bytes(raw, (int)sizeof(raw)) != 1)
        return -1;
    int n = EVP_EncodeBlock(b64, raw, (int)sizeof(raw));
    OPENSSL_cleanse(raw, sizeof(raw));
    if (n != 44)
        return -1;
    /* base64 -> base64url without padding: 43 characters. */
    size_t plen = strlen(GW_KEY_PREFIX);
    memcpy(out, GW_KEY_PREFIX, plen);
    for (int i = 0; i < 43; i++) {
        char c = (char)b64[i];
        out[plen + (size_t)i] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    out[GW_KEY_SECRET_LEN] = '\0';
    OPENSSL_cleanse(b64, sizeof(b64));
    return 0;
}

int gw_key_hash(const char *secret, size_t len, uint8_t out[GW_KEY_HASH_BYTES])
{
    unsigned int n = 0;
    if (EVP_Digest(secret, len, out, &n, EVP_sha256(), NULL) != 1 || n != GW_KEY_HASH_BYTES)
        return -1;
    return 0;
}

void gw_key_hash_hex(const uint8_t hash[GW_KEY_HASH_BYTES], char *out)
{
    static const char HEX[] = "0123456789abcdef";
    for (size_t i = 0; i < GW_KEY_HASH_BYTES; i++) {
        out[2 * i] = HEX[hash[i] >> 4];
        out[2 * i + 1] = HEX[hash[i] & 0xF];
    }
    out[GW_KEY_HASH_HEX_LEN] = '\0';
}

bool gw_key_hash_from_hex(const char *hex, uint8_t out[GW_KEY_HASH_BYTES])
{
    size_t n = 0;
    /* OpenSSL's parser; '\0': no separator between the pairs of digits. */
    return hex != NULL && strlen(hex) == GW_KEY_HASH_HEX_LEN &&
           OPENSSL_hexstr2buf_ex(out, GW_KEY_HASH_BYTES, &n, hex, '\0') == 1 &&
           n == GW_KEY_HASH_BYTES;
}

bool gw_key_hash_equal(const uint8_t *a, const uint8_t *b)
{
    return CRYPTO_memcmp(a, b, GW_KEY_HASH_BYTES) == 0;
}

static bool b64token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

bool gw_bearer_token(const char *value, const char **token, size_t *len)
{
    if (value == NULL || strncasecmp(value, "Bearer ", 7) != 0)
        return false;
    const char *p = value + 7;
    while (*p == ' ')
        p++;
    size_t n = 0;
    while (p[n] != '\0' && b64token_char(p[n])) {
        if (++n > GW_KEY_SECRET_MAX)
            return false;
    }
    /* Trailing spaces are tolerated, anything else is not a token. */
    for (const char *q = p + n; *q != '\0'; q++) {
        if (*q != ' ')
            return false;
    }
    if (n < GW_KEY_SECRET_MIN)
        return false;
    *token = p;
    *len = n;
    return true;
}

uint32_t gw_scope_bit(const char *name)
{
    for (size_t i = 0; i < sizeof(SCOPES) / sizeof(SCOPES[0]); i++) {
        if (strcmp(SCOPES[i].name, name) == 0)
            return SCOPES[i].bit;
    }
    return 0;
}

const char *gw_scope_name(uint32_t bit)
{
    for (size_t i = 0; i < sizeof(SCOPES) / sizeof(SCOPES[0]); i++) {
        if (SCOPES[i].bit == bit)
            return SCOPES[i].name;
    }
    return NULL;
}

bool gw_scope_allows(uint32_t granted, uint32_t required)
{
    if ((granted & TDM_SCOPE_ADMIN) != 0)
        return true;
    return (granted & required) == required;
}
