/*
 * fuzz_page_token.c - the opaque page tokens clients hand back, whose codec every
 * list shares (services/common/page_token.c, tandem/page_token.h).
 *
 * Asserts: decoding never reads or writes outside its fixed buffers for any token
 * (ASan); an accepted seq token yields a sequence >= 0; every sequence encodes to a
 * token of at most 40 characters that decodes back to it; decode(encode(decode(t)))
 * is stable, for seq and keyset tokens alike.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/arena.h"
#include "tandem/page_token.h"

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
    if (tdm_page_token_decode_seq(token, &seq) == 0) {
        if (seq < 0)
            abort();
        char *again = tdm_page_token_encode_seq(seq, a);
        int64_t back = -1;
        if (again == NULL || strlen(again) > 40 || tdm_page_token_decode_seq(again, &back) != 0 ||
            back != seq) {
            fprintf(stderr, "page_token: %s -> %lld -> %s\n", token, (long long)seq,
                    again != NULL ? again : "(null)");
            abort();
        }
    }
    int64_t ka = 0, kb = 0;
    char id[37];
    if (tdm_page_token_decode_keyset(token, &ka, &kb, id) == 0) {
        char *again = tdm_page_token_encode_keyset(ka, kb, id, a);
        int64_t ka2 = 0, kb2 = 0;
        char id2[37];
        if (again == NULL || tdm_page_token_decode_keyset(again, &ka2, &kb2, id2) != 0 ||
            ka2 != ka || kb2 != kb || strcmp(id, id2) != 0) {
            fprintf(stderr, "page_token (keyset): %s -> %s\n", token, again ? again : "(null)");
            abort();
        }
    }
    if (size >= 8) {
        int64_t raw;
        memcpy(&raw, data, sizeof(raw));
        if (raw >= 0) {
            char *t = tdm_page_token_encode_seq(raw, a);
            int64_t back = -1;
            if (t == NULL || strlen(t) > 40 || tdm_page_token_decode_seq(t, &back) != 0 ||
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
