/*
 * batch_rows.h - BatchEnrolRequests to decode, for the runtime's protobuf tests
 * (test_protobuf.c, test_protobuf_lazy.c): HR rows (employee number, full name,
 * e-mail, seniority, office, department, two languages) or compact rows (an external
 * id, a display name and a role: 29 bytes each), all in programme
 * BATCH_ROWS_PROGRAMME. Include after cmocka.h.
 */
#ifndef TANDEM_TEST_BATCH_ROWS_H
#define TANDEM_TEST_BATCH_ROWS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tandem/v1/enrolment.pb-c.h"

#define BATCH_ROWS_PROGRAMME "0b5c1c8e-8f51-4a53-9d55-5d2f5b3c2a11"

/* Rows of `n` Participants of the given fields, packed, plus `unknown` fields
 * `c0 3e 00` (field 1000, varint 0: unknown to Participant) appended inside each row. */
static uint8_t *batch_rows(size_t n, bool full, size_t unknown, size_t *len)
{
    Tandem__V1__BatchEnrolRequest req = TANDEM__V1__BATCH_ENROL_REQUEST__INIT;
    Tandem__V1__Participant *rows = calloc(n, sizeof(*rows));
    Tandem__V1__Participant **ptrs = calloc(n, sizeof(*ptrs));
    char(*ext)[16] = calloc(n, sizeof(*ext));
    char(*name)[40] = calloc(n, sizeof(*name));
    char(*email)[64] = calloc(n, sizeof(*email));
    static char en[] = "en", fr[] = "fr";
    static char *langs[] = {en, fr};
    assert_non_null(rows);
    assert_non_null(ptrs);
    assert_non_null(ext);
    assert_non_null(name);
    assert_non_null(email);
    for (size_t i = 0; i < n; i++) {
        tandem__v1__participant__init(&rows[i]);
        rows[i].external_id = ext[i];
        rows[i].display_name = name[i];
        rows[i].role = TANDEM__V1__ROLE__MENTEE;
        if (full) {
            /* An HR platform's row: an employee number, a full name, a work e-mail,
             * seniority, office, department and languages. */
            snprintf(ext[i], sizeof(ext[i]), "HR-%06zu", i);
            snprintf(name[i], sizeof(name[i]), "Amelie Dupont-Moreau %zu", i);
            snprintf(email[i], sizeof(email[i]), "amelie.dupont-moreau.%zu@firm-example.com", i);
            rows[i].email = email[i];
            rows[i].seniority_level = 3;
            rows[i].office = (char *)"London";
            rows[i].department = (char *)"Corporate";
            rows[i].n_languages = 2;
            rows[i].languages = langs;
        } else {
            /* As the enrolment integration test sends: an id, a name and a role. */
            snprintf(ext[i], sizeof(ext[i]), "pg%05zu", i);
            snprintf(name[i], sizeof(name[i]), "Person pg%05zu", i);
        }
        ptrs[i] = &rows[i];
    }
    char id[] = BATCH_ROWS_PROGRAMME;
    req.programme_id = id;
    req.n_participants = n;
    req.participants = ptrs;
    size_t packed = protobuf_c_message_get_packed_size(&req.base);
    uint8_t *buf = malloc(packed + n * (3 * unknown + 8));
    assert_non_null(buf);
    protobuf_c_message_pack(&req.base, buf);
    if (unknown > 0) {
        /* Re-pack each row with the unknown bytes inside it: field 1 (programme_id)
         * first, then every row as 12 <len> <row bytes> <78 00 ...>. */
        Tandem__V1__BatchEnrolRequest head = TANDEM__V1__BATCH_ENROL_REQUEST__INIT;
        head.programme_id = id;
        size_t out = protobuf_c_message_pack(&head.base, buf);
        for (size_t i = 0; i < n; i++) {
            uint8_t row[512];
            size_t row_len = protobuf_c_message_pack(&rows[i].base, row);
            for (size_t k = 0; k < unknown; k++) {
                row[row_len++] = 0xc0;
                row[row_len++] = 0x3e;
                row[row_len++] = 0x00;
            }
            buf[out++] = 0x12;
            assert_true(row_len < 128 * 128);
            if (row_len < 128) {
                buf[out++] = (uint8_t)row_len;
            } else {
                buf[out++] = (uint8_t)(0x80 | (row_len & 0x7f));
                buf[out++] = (uint8_t)(row_len >> 7);
            }
            memcpy(buf + out, row, row_len);
            out += row_len;
        }
        packed = out;
    }
    free(email);
    free(name);
    free(ext);
    free(ptrs);
    free(rows);
    *len = packed;
    return buf;
}

#endif
