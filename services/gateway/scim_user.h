/*
 * scim_user.h - a SCIM 2.0 User (RFC 7643 section 4.1, the enterprise extension of
 * section 4.3, and Tandem's extension) and the directory's Person, both ways.
 *
 * The attributes Tandem keeps (docs/integrations.md has the table):
 *   core        userName, externalId, name.{givenName,familyName,formatted},
 *               displayName, emails[{value,type,primary}], active, title,
 *               preferredLanguage, timezone
 *   enterprise  employeeNumber, department, organization, division, manager.value
 *   Tandem      seniorityLevel, practiceArea, office, yearsQualified
 * Others a client sends are ignored (RFC 7644 section 3.3 lets a service provider
 * keep what it supports); id and meta in a body are read-only.
 *
 * Identity providers bend the types: active as "True"/"False", numbers as strings,
 * manager as a bare id. scim_user_to_person accepts those forms; everything else of
 * the wrong type is a 400 invalidValue naming the attribute.
 */
#ifndef TANDEM_GATEWAY_SCIM_USER_H
#define TANDEM_GATEWAY_SCIM_USER_H

#include <jansson.h>

#include "scim_patch.h"
#include "tandem/arena.h"
#include "tandem/internal/v1/directory.pb-c.h"

#define SCIM_SCHEMA_ENTERPRISE "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#define SCIM_SCHEMA_TANDEM     "urn:tandem:params:scim:schemas:extension:2.0:Person"

/* The User resource of p (a new reference; NULL when out of memory). location_base
 * is the URL Users live under ("https://host/scim/v2/Users"). */
json_t *scim_user_from_person(const Tandem__Internal__V1__Person *p, const char *location_base);

/* The Person a User resource describes, in arena: 0, or -1 with err filled (400
 * invalidValue / invalidSyntax). The id is not read (the caller sets it). */
int scim_user_to_person(const json_t *user, tdm_arena *a, Tandem__Internal__V1__Person **out,
                        scim_error *err);

/* The weak ETag of a version: W/"<version>" (arena). */
const char *scim_etag(int64_t version, tdm_arena *a);
/* The version an If-Match header names: 0 for none or "*", -1 when it names none
 * this server could have written. */
int64_t scim_if_match_version(const char *header);

#endif
