/*
 * page_token.c - the page-token codec of every list (see tandem/page_token.h).
 */
#include "tandem/page_token.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "tandem/check.h"

/* The decoded text of the longest token. */
#define MAX_TEXT_BYTES (TDM_PAGE_TOKEN_MAX_CHARS / 4 * 3)

static char *encode(const char *text, size_t n, tdm_arena *arena)
{
    char *out = tdm_arena_alloc(arena, 4 * ((n + 2) / 3) + 1);
    if (out == NULL)
        return NULL;
    int len = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (int i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return out;
}

static bool base64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* The text of a token into text[MAX_TEXT_BYTES + 1], NUL-terminated; -1 when the
 * token is empty, too long, not base64url without padding, or holds a NUL. */
static int decode(const char *token, char *text)
{
    size_t n = strnlen(token, TDM_PAGE_TOKEN_MAX_CHARS + 1);
    if (n == 0 || n > TDM_PAGE_TOKEN_MAX_CHARS || n % 4 == 1)
        return -1;
    char b64[TDM_PAGE_TOKEN_MAX_CHARS + 4];
    size_t i;
    for (i = 0; i < n; i++) {
        char c = token[i];
        if (!base64url_char(c))
            return -1;
        b64[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (i % 4 != 0)
        b64[i++] = '=';
    b64[i] = '\0';
    unsigned char raw[MAX_TEXT_BYTES + 3];
    int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)i);
    if (len < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    len -= (int)(i - n);
    if (len <= 0 || len > (int)MAX_TEXT_BYTES || memchr(raw, '\0', (size_t)len) != NULL)
        return -1;
    memcpy(text, raw, (size_t)len);
    text[len] = '\0';
    return 0;
}

/* A decimal int64 at s ending at `stop`; NULL when there is none. */
static const char *parse_i64(const char *s, char stop, int64_t *out)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != stop)
        return NULL;
    *out = v;
    return end;
}

char *tdm_page_token_encode_seq(int64_t seq, tdm_arena *arena)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "k1:%" PRId64, seq);
    if (seq < 0 || n < 0 || (size_t)n >= sizeof(text))
        return NULL;
    return encode(text, (size_t)n, arena);
}

int tdm_page_token_decode_seq(const char *token, int64_t *seq)
{
    char text[MAX_TEXT_BYTES + 1];
    int64_t v = 0;
    if (decode(token, text) != 0 || strncmp(text, "k1:", 3) != 0 ||
        parse_i64(text + 3, '\0', &v) == NULL || v < 0 || text[3] == '+' || text[3] == ' ')
        return -1;
    *seq = v;
    return 0;
}

char *tdm_page_token_encode_keyset(int64_t a, int64_t b, const char *id, tdm_arena *arena)
{
    char text[96];
    if (!tdm_uuid_valid(id))
        return NULL;
    int n = snprintf(text, sizeof(text), "%" PRId64 ":%" PRId64 ":%s", a, b, id);
    if (n < 0 || (size_t)n >= sizeof(text))
        return NULL;
    return encode(text, (size_t)n, arena);
}

int tdm_page_token_decode_keyset(const char *token, int64_t *a, int64_t *b, char id[37])
{
    char text[MAX_TEXT_BYTES + 1];
    int64_t x = 0, y = 0;
    const char *p = decode(token, text) == 0 ? parse_i64(text, ':', &x) : NULL;
    p = p != NULL ? parse_i64(p + 1, ':', &y) : NULL;
    if (p == NULL || !tdm_uuid_valid(p + 1))
        return -1;
    *a = x;
    *b = y;
    memcpy(id, p + 1, 37);
    return 0;
}

static tdm_status *not_ours(void)
{
    return tdm_invalid_field("page_token", "is not a token this list returned");
}

tdm_status *tdm_check_page_token_seq(const char *token, int64_t *seq)
{
    *seq = 0;
    if (token == NULL || token[0] == '\0' || tdm_page_token_decode_seq(token, seq) == 0)
        return NULL;
    return not_ours();
}

tdm_status *tdm_check_page_token_keyset(const char *token, int64_t *a, int64_t *b, char id[37])
{
    *a = 0;
    *b = 0;
    id[0] = '\0';
    if (token == NULL || token[0] == '\0' || tdm_page_token_decode_keyset(token, a, b, id) == 0)
        return NULL;
    return not_ours();
}

tdm_status *tdm_check_page_seq(tdm_status *st, int32_t size, const char *token, int *page_size,
                               int64_t *after)
{
    if (st != NULL)
        return st;
    st = tdm_check_page_size(size, page_size);
    return st != NULL ? st : tdm_check_page_token_seq(token, after);
}

/* ---- answers ---------------------------------------------------------------------- */

ProtobufCMessage *tdm_page_message(tdm_arena *arena, const ProtobufCMessageDescriptor *desc,
                                   const char *field, void **items, size_t n, char *next)
{
    const ProtobufCFieldDescriptor *items_f =
        protobuf_c_message_descriptor_get_field_by_name(desc, field);
    const ProtobufCFieldDescriptor *token_f =
        protobuf_c_message_descriptor_get_field_by_name(desc, "next_page_token");
    ProtobufCMessage *page = tdm_arena_alloc(arena, desc->sizeof_message);
    if (page == NULL || items_f == NULL || token_f == NULL)
        return NULL;
    protobuf_c_message_init(desc, page);
    *(size_t *)((char *)page + items_f->quantifier_offset) = n;
    *(void ***)((char *)page + items_f->offset) = items;
    *(char **)((char *)page + token_f->offset) = next != NULL ? next : (char *)"";
    return page;
}

tdm_status *tdm_page_answer(tdm_status *st, tdm_arena *arena, const tdm_page_rows *p,
                            const void *rows, size_t n, int page_size, ProtobufCMessage **out)
{
    if (st != NULL)
        return st;
    size_t shown = n > (size_t)page_size ? (size_t)page_size : n;
    void **items = tdm_arena_calloc(arena, shown + 1, sizeof(*items));
    for (size_t i = 0; items != NULL && i < shown; i++) {
        items[i] = p->item(arena, (const char *)rows + i * p->stride);
        if (items[i] == NULL)
            items = NULL;
    }
    char *next = NULL;
    if (items != NULL && n > shown && shown > 0) {
        next = p->token(arena, (const char *)rows + (shown - 1) * p->stride);
        if (next == NULL)
            items = NULL;
    }
    *out = items != NULL ? tdm_page_message(arena, p->desc, p->field, items, shown, next) : NULL;
    return *out != NULL ? NULL : tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
}
