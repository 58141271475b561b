/*
 * grpc_wire.c - the byte-level parts of the gRPC protocol, free of I/O so they can be
 * unit-tested alone: length-prefixed message framing, grpc-timeout, the
 * percent-encoding of grpc-message, base64 of "-bin" metadata, request ids.
 *
 * Spec: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "tandem/check.h"
#include "transport_internal.h"

/* ---- Framing ----------------------------------------------------------------------- */

void tdm_deframer_init(tdm_deframer *d, tdm_arena *arena, size_t max_bytes,
                       int (*on_message)(void *arg, const uint8_t *msg, size_t len), void *arg)
{
    memset(d, 0, sizeof(*d));
    d->arena = arena;
    d->max_bytes = max_bytes;
    d->on_message = on_message;
    d->arg = arg;
}

bool tdm_deframer_idle(const tdm_deframer *d)
{
    return d->state == TDM_DEFRAME_PREFIX && d->prefix_len == 0;
}

void tdm_grpc_prefix(uint8_t out[TDM_GRPC_HEADER_BYTES], uint32_t len)
{
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

/* A message is complete: hand it over and start the next prefix. */
static tdm_deframe_result deframer_deliver(tdm_deframer *d, const uint8_t *msg, size_t len)
{
    d->state = TDM_DEFRAME_PREFIX;
    d->prefix_len = 0;
    d->buf = NULL;
    d->have = 0;
    if (d->on_message(d->arg, msg, len) != 0) {
        d->state = TDM_DEFRAME_ERROR;
        return TDM_DEFRAME_STOPPED;
    }
    return TDM_DEFRAME_OK;
}

/*
 * Frames may split a message anywhere (even inside the prefix) or carry several
 * messages; the prefix is accumulated byte by byte, the body copied in as it comes.
 * The announced length is checked against max_bytes before the body is allocated, so
 * an oversized message costs nothing but its prefix.
 */
tdm_deframe_result tdm_deframer_feed(tdm_deframer *d, const uint8_t *data, size_t len)
{
    size_t pos = 0;
    while (d->state != TDM_DEFRAME_ERROR) {
        if (d->state == TDM_DEFRAME_PREFIX) {
            if (pos == len)
                return TDM_DEFRAME_OK;
            size_t take = TDM_GRPC_HEADER_BYTES - d->prefix_len;
            if (take > len - pos)
                take = len - pos;
            memcpy(d->prefix + d->prefix_len, data + pos, take);
            d->prefix_len += take;
            pos += take;
            if (d->prefix_len < TDM_GRPC_HEADER_BYTES)
                return TDM_DEFRAME_OK;
            uint32_t n = ((uint32_t)d->prefix[1] << 24) | ((uint32_t)d->prefix[2] << 16) |
                         ((uint32_t)d->prefix[3] << 8) | (uint32_t)d->prefix[4];
            if (d->prefix[0] != 0) {
                d->state = TDM_DEFRAME_ERROR;
                return TDM_DEFRAME_COMPRESSED;
            }
            if (n > d->max_bytes) {
                d->announced = n;
                d->state = TDM_DEFRAME_ERROR;
                return TDM_DEFRAME_TOO_LARGE;
            }
            d->length = n;
            if (n == 0) {
                tdm_deframe_result r = deframer_deliver(d, (const uint8_t *)"", 0);
                if (r != TDM_DEFRAME_OK)
                    return r;
                continue;
            }
            /* The message may be wholly inside this chunk: no copy beyond the arena. */
            d->buf = tdm_arena_alloc(d->arena, n);
            if (d->buf == NULL) {
                d->state = TDM_DEFRAME_ERROR;
                return TDM_DEFRAME_NO_MEMORY;
            }
            d->have = 0;
            d->state = TDM_DEFRAME_BODY;
        } else {
            size_t take = d->length - d->have;
            if (take > len - pos)
                take = len - pos;
            memcpy(d->buf + d->have, data + pos, take);
            d->have += take;
            pos += take;
            if (d->have < d->length)
                return TDM_DEFRAME_OK;
            tdm_deframe_result r = deframer_deliver(d, d->buf, d->length);
            if (r != TDM_DEFRAME_OK)
                return r;
        }
    }
    return TDM_DEFRAME_STOPPED;
}

/* ---- grpc-timeout ------------------------------------------------------------------- */

int tdm_grpc_timeout_parse(const char *value, size_t len, uint64_t *ms)
{
    if (value == NULL || len < 2 || len > TDM_GRPC_TIMEOUT_MAX_DIGITS + 1)
        return -1;
    uint64_t n = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return -1;
        n = n * 10 + (uint64_t)(value[i] - '0');
    }
    /* n < 10^8, so every product below fits comfortably in 64 bits. */
    switch (value[len - 1]) {
    case 'H':
        *ms = n * 3600000u;
        break;
    case 'M':
        *ms = n * 60000u;
        break;
    case 'S':
        *ms = n * 1000u;
        break;
    case 'm':
        *ms = n;
        break;
    case 'u':
        *ms = (n + 999u) / 1000u;
        break;
    case 'n':
        *ms = (n + 999999u) / 1000000u;
        break;
    default:
        return -1;
    }
    return 0;
}

void tdm_grpc_timeout_format(int64_t ms, char *out, size_t out_len)
{
    if (ms < 0)
        ms = 0;
    /* Eight digits at most: switch to coarser units, rounding up (a deadline sent
     * downstream must never be shorter than the real one by a unit's truncation;
     * it is the caller's own timer that bounds the call exactly). */
    if (ms <= 99999999)
        snprintf(out, out_len, "%lldm", (long long)ms);
    else if (ms / 1000 + 1 <= 99999999)
        snprintf(out, out_len, "%lldS", (long long)((ms + 999) / 1000));
    else if (ms / 60000 + 1 <= 99999999)
        snprintf(out, out_len, "%lldM", (long long)((ms + 59999) / 60000));
    else
        snprintf(out, out_len, "%lldH", (long long)99999999);
}

/* ---- grpc-message -------------------------------------------------------------------- */

char *tdm_grpc_message_encode(tdm_arena *a, const char *msg)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(msg);
    char *out = tdm_arena_alloc(a, n * 3 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c >= 0x20 && c <= 0x7e && c != '%') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

char *tdm_grpc_message_decode(tdm_arena *a, const char *value, size_t len)
{
    char *out = tdm_arena_alloc(a, len + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (value[i] == '%' && i + 2 < len) {
            int hi = tdm_hex_digit(value[i + 1]);
            int lo = tdm_hex_digit(value[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out[o++] = (char)((hi << 4) | lo);
                i += 2;
                continue;
            }
        }
        out[o++] = value[i];
    }
    out[o] = '\0';
    return out;
}

/* ---- base64 (OpenSSL) ----------------------------------------------------------------- */

char *tdm_base64_encode(tdm_arena *a, const uint8_t *data, size_t len)
{
    if (len > (size_t)INT32_MAX / 2)
        return NULL;
    char *out = tdm_arena_alloc(a, 4 * ((len + 2) / 3) + 1);
    if (out == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* gRPC senders may omit the padding of "-bin" values; EVP_DecodeBlock needs it, and
 * reports the padding as zero bytes, which are taken off again. */
uint8_t *tdm_base64_decode(tdm_arena *a, const char *text, size_t len, size_t *out_len)
{
    while (len > 0 && text[len - 1] == '=')
        len--;
    if (len % 4 == 1 || len > (size_t)INT32_MAX / 2)
        return NULL;
    size_t padded = (len + 3) / 4 * 4;
    char *in = tdm_arena_alloc(a, padded + 1);
    uint8_t *out = tdm_arena_alloc(a, padded / 4 * 3 + 1);
    if (in == NULL || out == NULL)
        return NULL;
    memcpy(in, text, len);
    for (size_t i = len; i < padded; i++)
        in[i] = '=';
    if (padded == 0) {
        *out_len = 0;
        return out;
    }
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)padded);
    if (n < 0)
        return NULL;
    *out_len = (size_t)n - (padded - len);
    return out;
}

/* ---- Request ids ------------------------------------------------------------------------- */

bool tdm_request_id_acceptable(const char *id, size_t len)
{
    if (id == NULL || len == 0 || len > TDM_REQUEST_ID_MAX_BYTES)
        return false;
    /* The gateway's rule (context.proto): 1-64 characters of [A-Za-z0-9._-]. */
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}
