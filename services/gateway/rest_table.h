/*
 * rest_table.h - the REST route table (tdm_rest_route, include/tandem/rest.h) read at
 * start-up from the google.api.http bindings in the embedded descriptor set
 * (tdm_descriptor_set), so the REST surface is exactly what the .proto files declare,
 * and the OpenAPI document describing it.
 *
 * Scopes follow API.md: a service's GET routes need its ":read" scope, other methods
 * its ":write" scope; ExportPerson and ErasePerson need "admin"; TenantService
 * methods are "platform" (GetTenant: any key, checked by the handler).
 */
#ifndef TANDEM_GATEWAY_REST_TABLE_H
#define TANDEM_GATEWAY_REST_TABLE_H

#include <stddef.h>

#include "tandem/rest.h"
#include "tandem/status.h"

typedef struct gw_rest_table {
    tdm_rest_route *routes;
    size_t n;
    char *openapi_json; /* NUL-terminated */
    size_t openapi_len;
} gw_rest_table;

/* Build the table; INTERNAL when the descriptor set cannot be read or has no
 * bindings. */
tdm_status *gw_rest_table_load(gw_rest_table *out);
void gw_rest_table_free(gw_rest_table *t);

#endif
