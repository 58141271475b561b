/*
 * json_wkt.c - the well-known types and the descriptor plumbing of the JSON codec:
 * which messages have a special JSON form, field presence and storage, RFC 3339
 * timestamps, durations, field-mask paths, and setting those types from text.
 *
 * Everything here is a pure function of its input, bounded by the input's length.
 * Refusals are returned as static descriptions, never as statuses: the caller knows
 * the field path, this file does not.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json_internal.h"

/* Timestamp range of the mapping: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define TIMESTAMP_MIN_SECONDS (-62135596800LL)
#define TIMESTAMP_MAX_SECONDS 253402300799LL
/* Duration range of google.protobuf.Duration: about +-10,000 years. */
#define DURATION_MAX_SECONDS 315576000000LL
#define NANOS_PER_SECOND     1000000000

/* ---- descriptors ---------------------------------------------------------------- */

tdm_json_wkt tdm_json_wkt_of(const ProtobufCMessageDescriptor *desc)
{
    static const struct {
        const char *name;
        tdm_json_wkt wkt;
    } known[] = {
        {"google.protobuf.Timestamp", TDM_JSON_WKT_TIMESTAMP},
        {"google.protobuf.Duration", TDM_JSON_WKT_DURATION},
        {"google.protobuf.FieldMask", TDM_JSON_WKT_FIELD_MASK},
        {"google.protobuf.Int32Value", TDM_JSON_WKT_WRAPPER},
        {"google.protobuf.Int64Value", TDM_JSON_WKT_WRAPPER},
        {"google.protobuf.UInt32Value", TDM_JSON_WKT_WRAPPER},
        {"google.protobuf.UInt64Value", TDM_JSON_WKT_WRAPPER},
        {"google.protobuf.BoolValue", TDM_JSON_WKT_WRAPPER},
        {"google.protobuf.StringValue", TDM_JSON_WKT_WRAPPER},
        {"google.protobuf.BytesValue", TDM_JSON_WKT_WRAPPER},
        {"google.protobuf.FloatValue", TDM_JSON_WKT_WRAPPER},
        {"google.protobuf.DoubleValue", TDM_JSON_WKT_WRAPPER},
        {"google.protobuf.Empty", TDM_JSON_WKT_EMPTY},
        {"google.protobuf.Struct", TDM_JSON_WKT_STRUCT},
        {"google.protobuf.Value", TDM_JSON_WKT_VALUE},
        {"google.protobuf.ListValue", TDM_JSON_WKT_LIST_VALUE},
        {"google.protobuf.Any", TDM_JSON_WKT_ANY},
    };
    if (desc == NULL || desc->package_name == NULL ||
        strcmp(desc->package_name, "google.protobuf") != 0)
        return TDM_JSON_WKT_NONE;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(desc->name, known[i].name) == 0)
            return known[i].wkt;
    return TDM_JSON_WKT_NONE;
}

bool tdm_json_is_map_field(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *entry = f->descriptor;
    size_t name_len = strlen(entry->name);
    if (name_len < 5 || strcmp(entry->name + name_len - 5, "Entry") != 0)
        return false;
    return entry->n_fields == 2 && entry->fields[0].id == 1 &&
           strcmp(entry->fields[0].name, "key") == 0 && entry->fields[1].id == 2 &&
           strcmp(entry->fields[1].name, "value") == 0;
}

const ProtobufCFieldDescriptor *tdm_json_field_named(const ProtobufCMessageDescriptor *desc,
                                                     const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(desc, name);
}

size_t tdm_json_element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static bool is_pointer_type(ProtobufCType type)
{
    return type == PROTOBUF_C_TYPE_STRING || type == PROTOBUF_C_TYPE_MESSAGE;
}

bool tdm_json_field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const void *member = tdm_json_member(msg, f->offset);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)tdm_json_member(msg, f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return true;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
        if (is_pointer_type(f->type)) {
            const void *ptr = *(const void *const *)member;
            return ptr != NULL && ptr != f->default_value;
        }
        return *(const protobuf_c_boolean *)tdm_json_member(msg, f->quantifier_offset) != 0;
    }
    /* proto3 implicit presence: present when not the default. */
    switch (f->type) {
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(const void *const *)member != NULL;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)member;
        return s != NULL && s[0] != '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)member)->len > 0;
    default: {
        /* Bit patterns, so that -0.0 counts as set, as protobuf's own encoders do. */
        size_t n = tdm_json_element_size(f->type);
        const unsigned char *b = member;
        for (size_t i = 0; i < n; i++)
            if (b[i] != 0)
                return true;
        return false;
    }
    }
}

void tdm_json_mark_present(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)tdm_json_member(msg, f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !is_pointer_type(f->type))
        *(protobuf_c_boolean *)tdm_json_member(msg, f->quantifier_offset) = 1;
}

void *tdm_json_append_element(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                              tdm_arena *arena)
{
    size_t *count = tdm_json_member(msg, f->quantifier_offset);
    void **array = tdm_json_member(msg, f->offset);
    size_t size = tdm_json_element_size(f->type);
    if (*count >= TDM_JSON_MAX_LIST_ELEMENTS)
        return NULL;
    char *grown = tdm_arena_calloc(arena, *count + 1, size);
    if (grown == NULL)
        return NULL;
    if (*count > 0)
        memcpy(grown, *array, *count * size);
    *array = grown;
    return grown + (*count)++ * size;
}

tdm_status *tdm_json_refusal(const char *field, const char *fmt, ...)
{
    char description[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(description, sizeof description, fmt, ap);
    va_end(ap);
    tdm_status *st;
    if (field[0] != '\0')
        st = tdm_status_new(TDM_INVALID_ARGUMENT, "invalid %s: %s", field, description);
    else
        st = tdm_status_new(TDM_INVALID_ARGUMENT, "invalid JSON: %s", description);
    return tdm_status_add_violation(st, field, "%s", description);
}

/* ---- Timestamp and Duration ----------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool read_digits(const char *s, size_t len, size_t *i, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t k = 0; k < n; k++, (*i)++) {
        if (*i >= len || !isdigit((unsigned char)s[*i]))
            return false;
        v = v * 10 + (unsigned)(s[*i] - '0');
    }
    *out = v;
    return true;
}

static bool expect_char(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return false;
    (*i)++;
    return true;
}

/* ".123" -> 123000000; i at the dot; false on no digits or more than nine. */
static bool read_fraction(const char *s, size_t len, size_t *i, int32_t *nanos)
{
    *nanos = 0;
    if (*i >= len || s[*i] != '.')
        return true;
    (*i)++;
    size_t digits = 0;
    int32_t v = 0;
    while (*i < len && isdigit((unsigned char)s[*i])) {
        if (++digits > 9)
            return false;
        v = v * 10 + (s[(*i)++] - '0');
    }
    if (digits == 0)
        return false;
    for (; digits < 9; digits++)
        v *= 10;
    *nanos = v;
    return true;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

const char *tdm_json_parse_timestamp(const char *s, size_t len, int64_t *seconds, int32_t *nanos)
{
    static const char *refusal = "not a valid RFC 3339 timestamp";
    unsigned year, month, day, hour, minute, second;
    size_t i = 0;
    if (!read_digits(s, len, &i, 4, &year) || !expect_char(s, len, &i, '-') ||
        !read_digits(s, len, &i, 2, &month) || !expect_char(s, len, &i, '-') ||
        !read_digits(s, len, &i, 2, &day))
        return refusal;
    if (i >= len || (s[i] != 'T' && s[i] != 't'))
        return refusal;
    i++;
    if (!read_digits(s, len, &i, 2, &hour) || !expect_char(s, len, &i, ':') ||
        !read_digits(s, len, &i, 2, &minute) || !expect_char(s, len, &i, ':') ||
        !read_digits(s, len, &i, 2, &second) || !read_fraction(s, len, &i, nanos))
        return refusal;
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        hour > 23 || minute > 59 || second > 59)
        return refusal;
    int64_t offset = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        unsigned oh, om;
        i++;
        if (!read_digits(s, len, &i, 2, &oh) || !expect_char(s, len, &i, ':') ||
            !read_digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
            return refusal;
        offset = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        return refusal;
    }
    if (i != len)
        return refusal;
    int64_t t = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    t -= offset;
    if (t < TIMESTAMP_MIN_SECONDS || t > TIMESTAMP_MAX_SECONDS)
        return "timestamp outside years 0001 to 9999";
    *seconds = t;
    return NULL;
}

/* Protobuf prints 0, 3, 6 or 9 fractional digits: the fewest that are exact. */
static int format_nanos(int32_t nanos, char *out, size_t cap)
{
    if (nanos == 0)
        return snprintf(out, cap, "%s", "");
    if (nanos % 1000000 == 0)
        return snprintf(out, cap, ".%03d", nanos / 1000000);
    if (nanos % 1000 == 0)
        return snprintf(out, cap, ".%06d", nanos / 1000);
    return snprintf(out, cap, ".%09d", nanos);
}

bool tdm_json_format_timestamp(int64_t seconds, int32_t nanos, char out[40])
{
    if (seconds < TIMESTAMP_MIN_SECONDS || seconds > TIMESTAMP_MAX_SECONDS || nanos < 0 ||
        nanos >= NANOS_PER_SECOND)
        return false;
    int64_t days = seconds / 86400, rem = seconds % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char frac[16];
    format_nanos(nanos, frac, sizeof frac);
    /* The ranges are known (year 1-9999, fraction at most ".123456789"); the modulos
     * and the precision only let the compiler see that the text fits. */
    snprintf(out, 40, "%04u-%02u-%02uT%02u:%02u:%02u%.10sZ", (unsigned)y % 10000u, m % 100u,
             d % 100u, (unsigned)(rem / 3600) % 100u, (unsigned)(rem / 60 % 60),
             (unsigned)(rem % 60), frac);
    return true;
}

const char *tdm_json_parse_duration(const char *s, size_t len, int64_t *seconds, int32_t *nanos)
{
    static const char *refusal = "not a valid duration (e.g. \"1.5s\")";
    size_t i = 0;
    bool negative = false;
    if (i < len && s[i] == '-') {
        negative = true;
        i++;
    }
    int64_t whole = 0;
    size_t digits = 0;
    while (i < len && isdigit((unsigned char)s[i])) {
        if (++digits > 12)
            return "duration out of range";
        whole = whole * 10 + (s[i++] - '0');
    }
    if (digits == 0 || !read_fraction(s, len, &i, nanos) || !expect_char(s, len, &i, 's') ||
        i != len)
        return refusal;
    if (whole > DURATION_MAX_SECONDS)
        return "duration out of range";
    *seconds = negative ? -whole : whole;
    if (negative)
        *nanos = -*nanos;
    return NULL;
}

bool tdm_json_format_duration(int64_t seconds, int32_t nanos, char out[40])
{
    if (seconds > DURATION_MAX_SECONDS || seconds < -DURATION_MAX_SECONDS ||
        nanos <= -NANOS_PER_SECOND || nanos >= NANOS_PER_SECOND || (seconds > 0 && nanos < 0) ||
        (seconds < 0 && nanos > 0))
        return false;
    bool negative = seconds < 0 || nanos < 0;
    char frac[16];
    format_nanos(nanos < 0 ? -nanos : nanos, frac, sizeof frac);
    snprintf(out, 40, "%s%" PRId64 "%ss", negative ? "-" : "", seconds < 0 ? -seconds : seconds,
             frac);
    return true;
}

/* ---- field masks ---------------------------------------------------------------- */

char *tdm_json_camel_to_snake(const char *s, size_t len, tdm_arena *arena)
{
    char *out = tdm_arena_alloc(arena, len * 2 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isupper(c)) {
            out[o++] = '_';
            out[o++] = (char)tolower(c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- well-known types from text ------------------------------------------------ */

static const char *set_seconds_nanos(ProtobufCMessage *msg, int64_t seconds, int32_t nanos)
{
    const ProtobufCFieldDescriptor *fs = tdm_json_field_named(msg->descriptor, "seconds");
    const ProtobufCFieldDescriptor *fn = tdm_json_field_named(msg->descriptor, "nanos");
    if (fs == NULL || fn == NULL)
        return "cannot be given as text";
    *(int64_t *)tdm_json_member(msg, fs->offset) = seconds;
    *(int32_t *)tdm_json_member(msg, fn->offset) = nanos;
    return NULL;
}

static const char *append_mask_paths(ProtobufCMessage *msg, const char *s, size_t len,
                                     tdm_arena *arena)
{
    const ProtobufCFieldDescriptor *fp = tdm_json_field_named(msg->descriptor, "paths");
    if (fp == NULL)
        return "cannot be given as text";
    if (len == 0)
        return NULL;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ',')
            continue;
        if (i == start)
            return "empty path in field mask";
        if (!tdm_json_valid_utf8(s + start, i - start))
            return "invalid UTF-8";
        char **slot = tdm_json_append_element(msg, fp, arena);
        if (slot == NULL)
            return "too many paths in field mask";
        *slot = tdm_json_camel_to_snake(s + start, i - start, arena);
        if (*slot == NULL)
            return "out of memory";
        start = i + 1;
    }
    return NULL;
}

const char *tdm_json_set_wkt_from_text(ProtobufCMessage *msg, const char *s, size_t len,
                                       tdm_arena *arena)
{
    int64_t seconds;
    int32_t nanos;
    const char *why;
    switch (tdm_json_wkt_of(msg->descriptor)) {
    case TDM_JSON_WKT_TIMESTAMP:
        why = tdm_json_parse_timestamp(s, len, &seconds, &nanos);
        return why != NULL ? why : set_seconds_nanos(msg, seconds, nanos);
    case TDM_JSON_WKT_DURATION:
        why = tdm_json_parse_duration(s, len, &seconds, &nanos);
        return why != NULL ? why : set_seconds_nanos(msg, seconds, nanos);
    case TDM_JSON_WKT_FIELD_MASK:
        return append_mask_paths(msg, s, len, arena);
    case TDM_JSON_WKT_WRAPPER: {
        const ProtobufCFieldDescriptor *fv = tdm_json_field_named(msg->descriptor, "value");
        if (fv == NULL)
            return "cannot be given as text";
        return tdm_json_set_scalar_from_text(fv, tdm_json_member(msg, fv->offset), s, len, arena);
    }
    default:
        return "cannot be given as text";
    }
}
