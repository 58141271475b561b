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

#include <math.h>
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
    /* Events reach webhooks: nothing derived from diversity data goes in them. The
     * caller's message stays whole (it may be an admin's answer): a shallow copy
     * loses the items. */
    ProtobufCMessage *copy = tdm_arena_memdup(a, m, m->descriptor->sizeof_message);
    if (copy == NULL || mt_withhold_diversity(copy, a) != 0)
        return NULL;
    char *body = tdm_json_encode(copy, a, NULL);
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

/* The criterion computed from diversity data (score.c, "background"). */
static bool diversity_derived(const Tandem__V1__ExplanationItem *e)
{
    return e->criterion != NULL && strcmp(e->criterion, "background") == 0;
}

/* Drop the diversity-derived items of one explanation field of m; the message's
 * score, when it has one, becomes the sum of the items kept. 0, or -1 when out of
 * memory (m unchanged). */
static int withhold_in(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, tdm_arena *a)
{
    size_t *n = (size_t *)((char *)m + f->quantifier_offset);
    Tandem__V1__ExplanationItem **items = *(Tandem__V1__ExplanationItem ***)((char *)m + f->offset);
    Tandem__V1__ExplanationItem **kept = tdm_arena_calloc(a, *n + 1, sizeof(*kept));
    if (kept == NULL)
        return -1;
    size_t k = 0;
    double sum = 0;
    for (size_t i = 0; i < *n; i++) {
        if (diversity_derived(items[i]))
            continue;
        kept[k++] = items[i];
        sum += items[i]->contribution;
    }
    if (k == *n)
        return 0;
    *(Tandem__V1__ExplanationItem ***)((char *)m + f->offset) = kept;
    *n = k;
    const ProtobufCFieldDescriptor *score =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "score");
    if (score != NULL && score->type == PROTOBUF_C_TYPE_DOUBLE &&
        score->label != PROTOBUF_C_LABEL_REPEATED)
        *(double *)((char *)m + score->offset) = round(sum * 100.0) / 100.0;
    return 0;
}

int mt_withhold_diversity(ProtobufCMessage *m, tdm_arena *a)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        void *member = (char *)m + f->offset;
        if (f->descriptor == &tandem__v1__explanation_item__descriptor &&
            f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (withhold_in(m, f, a) != 0)
                return -1;
            continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(size_t *)((char *)m + f->quantifier_offset);
            ProtobufCMessage **sub = *(ProtobufCMessage ***)member;
            for (size_t k = 0; k < n; k++)
                if (sub[k] != NULL && mt_withhold_diversity(sub[k], a) != 0)
                    return -1;
        } else if (*(ProtobufCMessage **)member != NULL &&
                   mt_withhold_diversity(*(ProtobufCMessage **)member, a) != 0) {
            return -1;
        }
    }
    return 0;
}
