/*
 * check.h - the checks of request fields every service makes, written once: UUIDs,
 * lengths in characters of UTF-8, page sizes, and the status that refuses a field.
 *
 * Pure functions of their arguments (no I/O, no allocation but the status). A
 * refusal is INVALID_ARGUMENT "invalid <field>" with one field violation naming the
 * field (proto name) and why, which the gateway renders as the contract's error
 * body; the caller owns it.
 */
#ifndef TANDEM_CHECK_H
#define TANDEM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem/status.h"

/* API.md: a list answers 50 items unless asked, never more than 500. */
#define TDM_DEFAULT_PAGE_SIZE 50
#define TDM_MAX_PAGE_SIZE     500

/* A UUID in its 36-character text form (8-4-4-4-12 hexadecimal digits, either
 * case). False for NULL. */
bool tdm_uuid_valid(const char *s);

/* The value of one hexadecimal digit (either case), or -1 for any other character. */
int tdm_hex_digit(char c);

/* The characters (code points) of a UTF-8 string; SIZE_MAX when it is not UTF-8
 * (a stray or missing continuation byte, an overlong form, a surrogate, a value past
 * U+10FFFF). */
size_t tdm_utf8_chars(const char *s);

/* INVALID_ARGUMENT "invalid <field>" with the violation <field>: <why...>. */
tdm_status *tdm_invalid_field(const char *field, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* NULL when value is a UUID, else the refusal of field ("must be a UUID"). */
tdm_status *tdm_check_uuid(const char *value, const char *field);

/* The page size to use for a request's page_size: TDM_DEFAULT_PAGE_SIZE for 0,
 * lowered to TDM_MAX_PAGE_SIZE; NULL, or the refusal of a negative one. */
tdm_status *tdm_check_page_size(int32_t requested, int *out);

#endif
