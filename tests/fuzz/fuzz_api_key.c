/*
 * fuzz_api_key.c - the gateway's reading of credentials (services/gateway/keys.c):
 * "Authorization: Bearer <token>" values, key hashing and comparison, scope names.
 * keys.c is compiled into this target (it is pure code; the fuzz framework links
 * only tandem_common).
 *
 * Input: an Authorization header value (up to the first NUL), then a scope name.
 *
 * Asserts: a token is accepted exactly when an independent reading of RFC 6750
 * ("Bearer", case-insensitive, then spaces, a b64token of GW_KEY_SECRET_MIN to
 * GW_KEY_SECRET_MAX characters, then only spaces) accepts it, and points into the
 * value; hashing is deterministic and equal hashes compare equal; a scope name maps
 * to a single bit whose name maps back; no reads past the value (ASan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../services/gateway/keys.c"

static bool reference_b64token(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

static bool reference_bearer(const char *v, size_t *off, size_t *len)
{
    if (strncasecmp(v, "Bearer ", 7) != 0)
        return false;
    size_t i = 7;
    while (v[i] == ' ')
        i++;
    size_t start = i;
    while (v[i] != '\0' && reference_b64token(v[i]))
        i++;
    size_t n = i - start;
    while (v[i] == ' ')
        i++;
    if (v[i] != '\0' || n < GW_KEY_SECRET_MIN || n > GW_KEY_SECRET_MAX)
        return false;
    *off = start;
    *len = n;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    const uint8_t *nul = memchr(data, 0, size);
    size_t vlen = nul != NULL ? (size_t)(nul - data) : size;
    char *value = malloc(vlen + 1);
    if (value == NULL)
        abort();
    memcpy(value, data, vlen);
    value[vlen] = '\0';
    const char *token = NULL;
    size_t len = 0, ref_off = 0, ref_len = 0;
    bool got = gw_bearer_token(value, &token, &len);
    bool want = reference_bearer(value, &ref_off, &ref_len);
    if (got != want || (got && (token != value + ref_off || len != ref_len))) {
        fprintf(stderr, "api_key: bearer \"%s\": got %d, reference %d\n", value, got, want);
        abort();
    }
    if (got) {
        uint8_t h1[GW_KEY_HASH_BYTES], h2[GW_KEY_HASH_BYTES];
        if (gw_key_hash(token, len, h1) != 0 || gw_key_hash(token, len, h2) != 0 ||
            !gw_key_hash_equal(h1, h2) || memcmp(h1, h2, sizeof(h1)) != 0)
            abort();
        char hex[GW_KEY_HASH_HEX_LEN + 1];
        gw_key_hash_hex(h1, hex);
        if (strlen(hex) != GW_KEY_HASH_HEX_LEN)
            abort();
        h2[len % GW_KEY_HASH_BYTES] ^= 1;
        if (gw_key_hash_equal(h1, h2))
            abort();
    }
    if (nul != NULL) {
        size_t slen = size - vlen - 1;
        char *scope = malloc(slen + 1);
        if (scope == NULL)
            abort();
        memcpy(scope, nul + 1, slen);
        scope[slen] = '\0';
        uint32_t bit = gw_scope_bit(scope);
        if (bit != 0) {
            const char *name = gw_scope_name(bit);
            if ((bit & (bit - 1)) != 0 || name == NULL || strcmp(name, scope) != 0)
                abort();
            if (!gw_scope_allows(GW_SCOPE_ALL, bit) || !gw_scope_allows(bit, bit) ||
                !gw_scope_allows(bit, 0))
                abort();
        }
        free(scope);
    }
    free(value);
    return 0;
}
