/*
 * fuzz_grpc_timeout.c - grpc-timeout header values (grpc_wire.c,
 * tdm_grpc_timeout_parse and tdm_grpc_timeout_format).
 *
 * Asserts: a value is accepted exactly when it matches the spec's grammar
 * "1*8DIGIT unit" (unit one of H M S m u n), checked by an independent reference; the
 * milliseconds are the exact value rounded up (never 0 for a positive timeout, never
 * shorter than asked); formatting any accepted value gives text that parses again to
 * at least as many milliseconds and at most 8 digits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/common/transport_internal.h"

/* The grammar, spelled out independently of the parser. */
static int reference_parse(const uint8_t *v, size_t len, uint64_t *ms)
{
    if (len < 2 || len > 9)
        return -1;
    uint64_t n = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    /* Nanoseconds per unit; the result is ceil(n * unit / 1e6). */
    uint64_t ns_per_unit;
    switch (v[len - 1]) {
    case 'H':
        ns_per_unit = 3600000000000ull;
        break;
    case 'M':
        ns_per_unit = 60000000000ull;
        break;
    case 'S':
        ns_per_unit = 1000000000ull;
        break;
    case 'm':
        ns_per_unit = 1000000ull;
        break;
    case 'u':
        ns_per_unit = 1000ull;
        break;
    case 'n':
        ns_per_unit = 1ull;
        break;
    default:
        return -1;
    }
    if (ns_per_unit >= 1000000ull)
        *ms = n * (ns_per_unit / 1000000ull);
    else
        *ms = (n * ns_per_unit + 999999ull) / 1000000ull;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64)
        return 0;
    /* An exact-size copy, so ASan catches a read past the header value. */
    char *value = calloc(1, size > 0 ? size : 1);
    if (value == NULL)
        return 0;
    if (size > 0)
        memcpy(value, data, size);
    uint64_t ms = UINT64_MAX, want = UINT64_MAX;
    int rc = tdm_grpc_timeout_parse(value, size, &ms);
    int ref = reference_parse(data, size, &want);
    if (rc != ref || (rc == 0 && ms != want)) {
        fprintf(stderr, "grpc-timeout \"%.*s\": parse %d (%llu ms), reference %d (%llu ms)\n",
                (int)size, (const char *)data, rc, (unsigned long long)ms, ref,
                (unsigned long long)want);
        abort();
    }
    if (rc == 0) {
        char text[32];
        tdm_grpc_timeout_format((int64_t)ms, text, sizeof(text));
        uint64_t back = 0;
        if (strlen(text) > 9 || tdm_grpc_timeout_parse(text, strlen(text), &back) != 0 ||
            back < ms) {
            fprintf(stderr, "%llu ms formatted as \"%s\" parses to %llu ms\n",
                    (unsigned long long)ms, text, (unsigned long long)back);
            abort();
        }
    }
    /* Formatting any 64-bit value (the caller's remaining deadline) stays in bounds. */
    if (size >= 8) {
        int64_t raw;
        memcpy(&raw, data, sizeof(raw));
        char text[16];
        tdm_grpc_timeout_format(raw, text, sizeof(text));
        uint64_t back = 0;
        if (tdm_grpc_timeout_parse(text, strlen(text), &back) != 0 ||
            (raw > 0 && raw < 360000000000ll && back < (uint64_t)raw)) {
            fprintf(stderr, "%lld ms formatted as \"%s\"\n", (long long)raw, text);
            abort();
        }
    }
    free(value);
    return 0;
}
