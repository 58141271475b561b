/*
 * check.c - the request-field checks every service makes (see tandem/check.h).
 */
#include "tandem/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool tdm_uuid_valid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (dash ? c != '-' : !hex)
            return false;
    }
    return true;
}

int tdm_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t tdm_utf8_chars(const char *s)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p != 0) {
        unsigned c = *p;
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            len = 1;
            cp = c;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return SIZE_MAX;
        }
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return SIZE_MAX;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return SIZE_MAX;
        p += len;
        n++;
    }
    return n;
}

tdm_status *tdm_invalid_field(const char *field, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid %s", field),
                                    field, "%s", why);
}

tdm_status *tdm_check_uuid(const char *value, const char *field)
{
    return tdm_uuid_valid(value) ? NULL : tdm_invalid_field(field, "must be a UUID");
}

tdm_status *tdm_check_page_size(int32_t requested, int *out)
{
    if (requested < 0)
        return tdm_invalid_field("page_size", "must not be negative");
    *out = requested == 0                  ? TDM_DEFAULT_PAGE_SIZE
           : requested > TDM_MAX_PAGE_SIZE ? TDM_MAX_PAGE_SIZE
                                           : (int)requested;
    return NULL;
}
