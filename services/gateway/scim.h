/*
 * scim.h - the gateway's SCIM 2.0 front (/scim/v2, scim_front.c) and its discovery
 * documents (scim_discovery.c). rest_front.c hands it every request under /scim/v2.
 */
#ifndef TANDEM_GATEWAY_SCIM_H
#define TANDEM_GATEWAY_SCIM_H

#include <stdbool.h>
#include <stddef.h>

#include "gateway.h"

/* Whether path is /scim/v2 or below it. */
bool gw_scim_path(const char *path);
/* The HTTP handler's two halves for such a path (tdm_http_handler): routes the
 * request and checks the key (scope scim, or admin) before its body is read;
 * answers it once the body is complete. */
size_t gw_scim_on_headers(gw_state *gw, tdm_http_request *req);
void gw_scim_on_request(tdm_http_request *req);

/* The discovery documents of RFC 7644 section 4, as JSON text: the
 * ServiceProviderConfig; the ResourceTypes list (name NULL) or one of them; the
 * Schemas list (urn NULL) or one schema. NULL for an unknown name. */
const char *scim_service_provider_config(void);
const char *scim_resource_types(const char *name);
const char *scim_schemas(const char *urn);

#endif
