/*
 * principal.h - the authenticated caller, and the request context built from it for
 * the services (x-tandem-context-bin, context.c).
 */
#ifndef TANDEM_GATEWAY_PRINCIPAL_H
#define TANDEM_GATEWAY_PRINCIPAL_H

#include <stdint.h>

#include "tandem/arena.h"
#include "tandem/server.h"

/* The authenticated caller. Strings live in the request's arena. */
typedef struct gw_principal {
    const char *key_id;
    const char *key_tenant_id; /* the key's own tenant (NULL for the bootstrap key) */
    tdm_principal_kind kind;
    uint32_t scopes;       /* admin expanded to every bit */
    const char *tenant_id; /* the tenant acted for; NULL when the route has none */
    /* A participant token (kind TDM_PRINCIPAL_PARTICIPANT): the person it acts as;
     * key_id is then the key that minted it. NULL otherwise. */
    const char *participant_id;
    const char *participant_programme_id; /* and their programme */
} gw_principal;

/* The nanopb RequestContext of p as base64 text (for x-tandem-context-bin), in arena;
 * remaining_ms INT64_MAX: no deadline. NULL on failure. */
char *gw_context_metadata(tdm_arena *arena, const gw_principal *p, const char *request_id,
                          int64_t remaining_ms);

#endif
