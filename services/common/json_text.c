/*
 * json_text.c - scalar values from text, shared by JSON bodies and query parameters:
 * integers and floats (with protobuf's range rules), booleans, base64 in both
 * alphabets, UTF-8 validation, enums by name or number.
 *
 * Everything here is a pure function of its input, bounded by the input's length.
 * Refusals are returned as static descriptions (or arena text when they quote the
 * value), never as statuses: the caller knows the field path, this file does not.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* Longest numeric text worth parsing: 64-bit integers and doubles fit well within. */
#define NUMBER_TEXT_MAX_BYTES 64

/* ---- numbers -------------------------------------------------------------------- */

static const char *range_refusal(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return "out of range for int32";
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return "out of range for uint32";
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return "out of range for uint64";
    default:
        return "out of range for int64";
    }
}

static void store_signed(ProtobufCType type, long long v, void *out)
{
    if (tdm_json_element_size(type) == 4)
        *(int32_t *)out = (int32_t)v;
    else
        *(int64_t *)out = (int64_t)v;
}

static void store_unsigned(ProtobufCType type, unsigned long long v, void *out)
{
    if (tdm_json_element_size(type) == 4)
        *(uint32_t *)out = (uint32_t)v;
    else
        *(uint64_t *)out = (uint64_t)v;
}

static bool is_unsigned(ProtobufCType type)
{
    return type == PROTOBUF_C_TYPE_UINT32 || type == PROTOBUF_C_TYPE_FIXED32 ||
           type == PROTOBUF_C_TYPE_UINT64 || type == PROTOBUF_C_TYPE_FIXED64;
}

const char *tdm_json_integer_from_double(double v, ProtobufCType type, void *out)
{
    if (!isfinite(v) || v != trunc(v))
        return "must be an integer";
    bool small = tdm_json_element_size(type) == 4;
    if (is_unsigned(type)) {
        double max = small ? 4294967295.0 : 18446744073709551616.0;
        if (v < 0 || (small ? v > max : v >= max))
            return range_refusal(type);
        store_unsigned(type, (unsigned long long)v, out);
    } else {
        double lo = small ? -2147483648.0 : -9223372036854775808.0;
        double hi = small ? 2147483647.0 : 9223372036854775808.0;
        if (v < lo || (small ? v > hi : v >= hi))
            return range_refusal(type);
        store_signed(type, (long long)v, out);
    }
    return NULL;
}

/* JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? ; leading zeros
 * are tolerated because query parameters are not JSON. */
static bool is_number_text(const char *s, size_t len)
{
    size_t i = 0, digits = 0;
    if (i < len && s[i] == '-')
        i++;
    for (; i < len && isdigit((unsigned char)s[i]); i++)
        digits++;
    if (digits == 0)
        return false;
    if (i < len && s[i] == '.') {
        size_t frac = 0;
        for (i++; i < len && isdigit((unsigned char)s[i]); i++)
            frac++;
        if (frac == 0)
            return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < len && isdigit((unsigned char)s[i]); i++)
            exp++;
        if (exp == 0)
            return false;
    }
    return i == len;
}

const char *tdm_json_parse_integer(const char *s, size_t len, ProtobufCType type, void *out)
{
    char buf[NUMBER_TEXT_MAX_BYTES + 1];
    if (len == 0 || len > NUMBER_TEXT_MAX_BYTES || !is_number_text(s, len))
        return "must be an integer";
    memcpy(buf, s, len);
    buf[len] = '\0';
    bool digits_only = true;
    for (size_t i = buf[0] == '-' ? 1 : 0; i < len; i++)
        if (!isdigit((unsigned char)buf[i]))
            digits_only = false;
    if (!digits_only)
        return tdm_json_integer_from_double(strtod(buf, NULL), type, out);
    char *end = NULL;
    errno = 0;
    if (is_unsigned(type)) {
        if (buf[0] == '-') {
            bool zero = strspn(buf + 1, "0") == len - 1;
            if (!zero)
                return range_refusal(type);
            store_unsigned(type, 0, out);
            return NULL;
        }
        unsigned long long v = strtoull(buf, &end, 10);
        if (errno == ERANGE || (tdm_json_element_size(type) == 4 && v > UINT32_MAX))
            return range_refusal(type);
        store_unsigned(type, v, out);
    } else {
        long long v = strtoll(buf, &end, 10);
        if (errno == ERANGE ||
            (tdm_json_element_size(type) == 4 && (v < INT32_MIN || v > INT32_MAX)))
            return range_refusal(type);
        store_signed(type, v, out);
    }
    return NULL;
}

const char *tdm_json_parse_float(const char *s, size_t len, ProtobufCType type, void *out)
{
    double v;
    if (len == 3 && memcmp(s, "NaN", 3) == 0) {
        v = NAN;
    } else if (len == 8 && memcmp(s, "Infinity", 8) == 0) {
        v = INFINITY;
    } else if (len == 9 && memcmp(s, "-Infinity", 9) == 0) {
        v = -INFINITY;
    } else {
        char buf[NUMBER_TEXT_MAX_BYTES + 1];
        if (len == 0 || len > NUMBER_TEXT_MAX_BYTES || !is_number_text(s, len))
            return "must be a number";
        memcpy(buf, s, len);
        buf[len] = '\0';
        v = strtod(buf, NULL);
        if (!isfinite(v))
            return type == PROTOBUF_C_TYPE_FLOAT ? "out of range for float"
                                                 : "out of range for double";
    }
    if (type == PROTOBUF_C_TYPE_FLOAT) {
        if (isfinite(v) && fabs(v) >= TDM_JSON_FLOAT_OVERFLOW)
            return "out of range for float";
        *(float *)out = (float)v;
    } else {
        *(double *)out = v;
    }
    return NULL;
}

const char *tdm_json_parse_bool(const char *s, size_t len, protobuf_c_boolean *out)
{
    static const char *const truths[] = {"true", "True", "TRUE", "1"};
    static const char *const lies[] = {"false", "False", "FALSE", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strlen(truths[i]) == len && memcmp(s, truths[i], len) == 0) {
            *out = 1;
            return NULL;
        }
        if (strlen(lies[i]) == len && memcmp(s, lies[i], len) == 0) {
            *out = 0;
            return NULL;
        }
    }
    return "must be true or false";
}

/* ---- base64 --------------------------------------------------------------------- */

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

const char *tdm_json_base64_decode(const char *s, size_t len, tdm_arena *arena,
                                   ProtobufCBinaryData *out)
{
    static const char *refusal = "must be base64";
    size_t pad = 0;
    while (len > 0 && s[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0))
        return refusal;
    uint8_t *data = tdm_arena_alloc(arena, len / 4 * 3 + 3);
    if (data == NULL)
        return "out of memory";
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64_value((unsigned char)s[i]);
        if (v < 0)
            return refusal;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            data[n++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    out->data = data;
    out->len = n;
    return NULL;
}

char *tdm_json_base64_encode(const uint8_t *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t chunk = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            chunk |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            chunk |= data[i + 2];
        out[o++] = alphabet[(chunk >> 18) & 63];
        out[o++] = alphabet[(chunk >> 12) & 63];
        out[o++] = i + 1 < len ? alphabet[(chunk >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? alphabet[chunk & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* ---- UTF-8 ---------------------------------------------------------------------- */

bool tdm_json_valid_utf8(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n >= len - i)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const uint32_t min_for_length[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_for_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

/* ---- values from text (path variables, query parameters) ------------------------ */

static const char *set_enum_from_text(const ProtobufCFieldDescriptor *f, int *slot, const char *s,
                                      size_t len, tdm_arena *arena)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    char *name = tdm_arena_strndup(arena, s, len);
    if (name == NULL)
        return "out of memory";
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, name);
    if (ev == NULL) {
        int32_t number;
        if (tdm_json_parse_integer(s, len, PROTOBUF_C_TYPE_INT32, &number) == NULL)
            ev = protobuf_c_enum_descriptor_get_value(ed, number);
    }
    if (ev == NULL) {
        const char *why =
            tdm_arena_printf(arena, "unknown enum value \"%.64s\" for %s", name, ed->name);
        return why != NULL ? why : "unknown enum value";
    }
    *slot = ev->value;
    return NULL;
}

const char *tdm_json_set_scalar_from_text(const ProtobufCFieldDescriptor *f, void *slot,
                                          const char *s, size_t len, tdm_arena *arena)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return tdm_json_parse_integer(s, len, f->type, slot);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return tdm_json_parse_float(s, len, f->type, slot);
    case PROTOBUF_C_TYPE_BOOL:
        return tdm_json_parse_bool(s, len, slot);
    case PROTOBUF_C_TYPE_ENUM:
        return set_enum_from_text(f, slot, s, len, arena);
    case PROTOBUF_C_TYPE_STRING: {
        if (!tdm_json_valid_utf8(s, len))
            return "invalid UTF-8";
        char *copy = tdm_arena_strndup(arena, s, len);
        if (copy == NULL)
            return "out of memory";
        *(char **)slot = copy;
        return NULL;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return tdm_json_base64_decode(s, len, arena, slot);
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
    return "cannot be given as text";
}
