/*
 * scim_filter.h - SCIM 2.0 filters and PATCH paths (RFC 7644 sections 3.4.2.2 and 3.5.2).
 *
 * A filter such as
 *
 *     userName eq "ada@firm.example" and not (emails[type eq "work"].value ew ".org")
 *
 * is parsed into a tree (scim_filter) allocated from the caller's arena, then matched
 * against a SCIM resource in its JSON form (jansson). The whole grammar of the RFC is
 * accepted: the comparison operators eq ne co sw ew gt lt ge le, pr, and / or / not
 * with "and" binding tighter than "or", parentheses, value paths (attr[filter]),
 * attribute names compared case-insensitively and optionally qualified by their
 * schema's URN ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department").
 * A PATCH path (attrPath, or valuePath with an optional sub-attribute:
 * `emails[type eq "work"].value`) is parsed with the same code.
 *
 * Contract: parsing never reads past len, never recurses deeper than
 * SCIM_FILTER_MAX_DEPTH and never builds more than SCIM_FILTER_MAX_NODES nodes; input
 * over SCIM_FILTER_MAX_BYTES is refused. A refusal returns NULL (or -1) and sets *err
 * to a message for the client (arena-allocated), which the SCIM front sends as a 400
 * with scimType "invalidFilter" (or "invalidPath" for PATCH paths). Nothing here
 * allocates outside the arena; matching allocates nothing.
 */
#ifndef TANDEM_GATEWAY_SCIM_FILTER_H
#define TANDEM_GATEWAY_SCIM_FILTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "tandem/arena.h"

#define SCIM_FILTER_MAX_BYTES 4096 /* a filter or PATCH path, as sent */
#define SCIM_FILTER_MAX_DEPTH 32   /* nested parentheses, not, and value paths */
#define SCIM_FILTER_MAX_NODES 512  /* comparisons and logical operators in one filter */

/* The schema whose attributes need no URN prefix (RFC 7643 section 4.1). */
#define SCIM_SCHEMA_USER "urn:ietf:params:scim:schemas:core:2.0:User"

typedef enum scim_op {
    SCIM_OP_EQ,
    SCIM_OP_NE,
    SCIM_OP_CO,
    SCIM_OP_SW,
    SCIM_OP_EW,
    SCIM_OP_GT,
    SCIM_OP_LT,
    SCIM_OP_GE,
    SCIM_OP_LE,
    SCIM_OP_PR,
} scim_op;

typedef enum scim_node_kind {
    SCIM_NODE_COMPARE,    /* attr op value, or attr pr */
    SCIM_NODE_AND,        /* left and right */
    SCIM_NODE_OR,         /* left or right */
    SCIM_NODE_NOT,        /* not (left) */
    SCIM_NODE_VALUE_PATH, /* attr[left]: some value of attr matches left */
} scim_node_kind;

typedef enum scim_value_kind {
    SCIM_VALUE_STRING,
    SCIM_VALUE_NUMBER,
    SCIM_VALUE_TRUE,
    SCIM_VALUE_FALSE,
    SCIM_VALUE_NULL,
} scim_value_kind;

typedef struct scim_value {
    scim_value_kind kind;
    const char *str; /* SCIM_VALUE_STRING: decoded UTF-8, NUL-terminated */
    size_t len;
    double num; /* SCIM_VALUE_NUMBER */
} scim_value;

/* attrPath = [URI ":"] ATTRNAME *1subAttr. Names keep the client's spelling; every
 * comparison of names is case-insensitive. */
typedef struct scim_attr_path {
    const char *schema; /* the URN before the attribute, or NULL */
    const char *name;
    const char *sub; /* the sub-attribute after ".", or NULL */
} scim_attr_path;

typedef struct scim_filter scim_filter;
struct scim_filter {
    scim_node_kind kind;
    scim_attr_path attr; /* COMPARE, VALUE_PATH */
    scim_op op;          /* COMPARE */
    scim_value value;    /* COMPARE, unless op is SCIM_OP_PR */
    const scim_filter *left, *right;
};

/* A PATCH operation's path: attr, attr.sub, or attr[filter] with an optional .sub. */
typedef struct scim_patch_path {
    scim_attr_path attr;
    const scim_filter *value_filter; /* the filter in brackets, or NULL */
    const char *sub_after;           /* the sub-attribute after "]", or NULL */
} scim_patch_path;

/* The filter in text[0..len), or NULL with *err set (see the contract above). */
const scim_filter *scim_filter_parse(tdm_arena *a, const char *text, size_t len, const char **err);

/* 0 and *out filled, or -1 with *err set. */
int scim_patch_path_parse(tdm_arena *a, const char *text, size_t len, scim_patch_path *out,
                          const char **err);

/* Whether the resource (a JSON object in SCIM form) matches. Strings compare
 * case-insensitively except for the case-exact attributes of RFC 7643 (id, externalId,
 * meta.version); a multi-valued attribute matches when one of its values does, and a
 * complex value with no sub-attribute named is compared by its "value". "ne" is the
 * negation of "eq" (so it matches a resource without the attribute). */
bool scim_filter_match(const scim_filter *f, const json_t *resource);

/* The value in resource that path's attribute names (schema and case resolved), or NULL. */
const json_t *scim_attr_lookup(const json_t *resource, const scim_attr_path *path);

/* Case-insensitive comparison of attribute names or URNs. */
bool scim_name_eq(const char *a, const char *b);

#endif
