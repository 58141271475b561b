/*
 * rows.c - what travels between the store and the messages.
 *
 * The store's statements answer each row as one proto3-JSON document built in SQL
 * (proto field names, enums as numbers, times as RFC 3339), which the runtime's JSON
 * codec decodes into the message: one mapping for every resource, no per-field code.
 * This file also builds the explanation documents the store keeps, the webhook
 * bodies of events, and the opaque keyset page tokens (the same scheme as
 * enrolment's: base64url of "k1:<n>").
 */
#include "matching.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <uuid/uuid.h>

#include "tandem/json.h"

char *mt_page_token_encode(int64_t n, tdm_arena *a)
{
    char raw[32];
    int len = snprintf(raw, sizeof(raw), "k1:%lld", (long long)n);
    char b64[64];
    int out = EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)raw, len);
    while (out > 0 && b64[out - 1] == '=')
        out--;
    b64[out] = '\0';
    for (int i = 0; i < out; i++) {
        if (b64[i] == '+')
            b64[i] = '-';
        else if (b64[i] == '/')
            b64[i] = '_';
    }
    return tdm_arena_strdup(a, b64);
}

int mt_page_token_decode(const char *token, int64_t *n)
{
    size_t len = strlen(token);
    if (len == 0 || len > 40)
        return -1;
    char b64[48];
    memcpy(b64, token, len);
    for (size_t i = 0; i < len; i++) {
        if (b64[i] == '-')
            b64[i] = '+';
        else if (b64[i] == '_')
            b64[i] = '/';
        else if (b64[i] == '+' || b64[i] == '/' || b64[i] == '=')
            return -1;
    }
    while (len % 4 != 0)
        b64[len++] = '=';
    b64[len] = '\0';
    unsigned char raw[48];
    int got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
    if (got <= 0)
        return -1;
    while (got > 0 && raw[got - 1] == '\0')
        got--;
    raw[got] = '\0';
    if (strncmp((const char *)raw, "k1:", 3) != 0)
        return -1;
    char *end = NULL;
    long long v = strtoll((const char *)raw + 3, &end, 10);
    if (end == (const char *)raw + 3 || *end != '\0' || v < 0)
        return -1;
    *n = v;
    return 0;
}

bool mt_uuid_valid(const char *s)
{
    uuid_t u;
    return s != NULL && strlen(s) == 36 && uuid_parse(s, u) == 0;
}

size_t mt_utf8_chars(const char *s)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        int extra;
        if (*p < 0x80)
            extra = 0;
        else if ((*p & 0xE0) == 0xC0 && *p >= 0xC2)
            extra = 1;
        else if ((*p & 0xF0) == 0xE0)
            extra = 2;
        else if ((*p & 0xF8) == 0xF0 && *p <= 0xF4)
            extra = 3;
        else
            return SIZE_MAX;
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xC0) != 0x80)
                return SIZE_MAX;
        }
        n++;
    }
    return n;
}

ProtobufCMessage *mt_from_json(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
                               tdm_arena *a)
{
    ProtobufCMessage *m = NULL;
    tdm_status *st = tdm_json_decode(d, json, len, a, &m);
    if (st != NULL) {
        tdm_status_free(st);
        return NULL;
    }
    return m;
}

char *mt_explanation_json(Tandem__V1__ExplanationItem **items, size_t n, tdm_arena *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *o = json_pack("{s:s, s:f, s:s}", "criterion", items[i]->criterion, "contribution",
                              items[i]->contribution, "detail", items[i]->detail);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    char *out = arr != NULL ? tdm_json_dump(arr, a, NULL) : NULL;
    json_decref(arr);
    return out;
}

char *mt_event_json(const char *name, const ProtobufCMessage *m, tdm_arena *a)
{
    char *body = tdm_json_encode(m, a, NULL);
    if (body == NULL)
        return NULL;
    return tdm_arena_printf(a, "{\"%s\":%s}", name, body);
}
