/*
 * fuzz_page_token.c - the opaque keyset page tokens clients hand back
 * (services/enrolment/rows.c enrol_page_token_decode/encode); matching's
 * mt_page_token_* are the same code. rows.c is compiled into this target.
 *
 * Asserts: decoding never reads or writes outside its fixed buffers for any token
 * (ASan); an accepted token yields a sequence >= 0; every sequence encodes to a token
 * of at most 40 characters that decodes back to it; decode(encode(decode(t))) is
 * stable.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/enrolment/rows.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024)
        return 0;
    char *token = malloc(size + 1);
    if (token == NULL)
        abort();
    memcpy(token, data, size);
    token[size] = '\0';
    tdm_arena *a = tdm_arena_new(0);
    if (a == NULL)
        abort();
    int64_t seq = -1;
    if (enrol_page_token_decode(token, &seq) == 0) {
        if (seq < 0)
            abort();
        char *again = enrol_page_token_encode(seq, a);
        int64_t back = -1;
        if (again == NULL || strlen(again) > 40 || enrol_page_token_decode(again, &back) != 0 ||
            back != seq) {
            fprintf(stderr, "page_token: %s -> %lld -> %s\n", token, (long long)seq,
                    again != NULL ? again : "(null)");
            abort();
        }
    }
    if (size >= 8) {
        int64_t raw;
        memcpy(&raw, data, sizeof(raw));
        if (raw >= 0) {
            char *t = enrol_page_token_encode(raw, a);
            int64_t back = -1;
            if (t == NULL || strlen(t) > 40 || enrol_page_token_decode(t, &back) != 0 ||
                back != raw) {
                fprintf(stderr, "page_token: %lld -> %s\n", (long long)raw, t ? t : "(null)");
                abort();
            }
        }
    }
    tdm_arena_free(a);
    free(token);
    return 0;
}
