/*
 * rows.c - what travels between the store and the messages.
 *
 * The store's statements answer each row as one proto3-JSON document built in SQL
 * (proto field names, enums as numbers, times as RFC 3339), which the runtime's JSON
 * codec decodes into the message: one mapping for every resource, no per-field code.
 * This file also builds the explanation documents the store keeps and the webhook
 * bodies of events.
 */
#include "matching.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "tandem/json.h"

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

void mt_match_cut_to_feedback_view(Tandem__V1__Match *m)
{
    /* What a feedback key may know of a match (API.md "Least privilege in every
     * answer"): which pair, in which programme, in what state since when. */
    m->run_id = (char *)protobuf_c_empty_string;
    m->proposal_id = (char *)protobuf_c_empty_string;
    m->end_reason = (char *)protobuf_c_empty_string;
    m->score = 0;
    m->n_explanation = 0;
    m->explanation = NULL;
    m->mentor_response = NULL;
    m->mentee_response = NULL;
    m->create_time = NULL;
    m->end_time = NULL;
    m->update_time = NULL;
}
