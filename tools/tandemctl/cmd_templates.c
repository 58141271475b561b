/*
 * cmd_templates.c - `tandemctl templates create|list|show|update` (programme
 * templates, platform keys) and `programmes create --from-template` (a programme in
 * the tenant acted for, from a template version with overrides). One REST call each.
 */
#include "ctl.h"
#include "out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEMPLATE_FILE    (4u * 1024u * 1024u)
#define TEMPLATE_USAGE_NAMES "templates create|list|show ID|update ID"
#define MAX_TEMPLATE_VERSION 1000000

/* A JSON object from --<option> FILE, or a new empty one when the option is absent
 * and not required. Returns 0 or CTL_EXIT_USAGE (message printed). */
static int object_from_file(ctl *c, const char *option, int required, json_t **out)
{
    const char *file = ctl_opt(c, option);
    if (file == NULL) {
        *out = json_object();
        return required ? ctl_usage_error("--%s FILE.json is required", option) : 0;
    }
    size_t len = 0;
    char *data = ctl_read_file(file, MAX_TEMPLATE_FILE, &len);
    if (data == NULL) {
        *out = NULL;
        return CTL_EXIT_USAGE;
    }
    json_error_t jerr;
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    free(data);
    if (!json_is_object(o)) {
        json_decref(o);
        *out = NULL;
        return ctl_usage_error("%s: line %d: %s", file, jerr.line,
                               o == NULL ? jerr.text : "expected a JSON object");
    }
    *out = o;
    return 0;
}

static void print_template(const json_t *t)
{
    printf("Template %s, version %lld\n", ctl_str(t, "id"),
           json_integer_value(json_object_get(t, "version")));
    printf("  name        %s\n", ctl_str(t, "name"));
    printf("  kind        %s\n", ctl_str(t, "kind"));
    if (ctl_str(t, "description")[0]) {
        printf("  description %s\n", ctl_str(t, "description"));
    }
    json_t *cadence = json_object_get(t, "checkInCadenceDays");
    if (json_is_integer(cadence)) {
        printf("  check-ins   every %lld days\n", json_integer_value(cadence));
    }
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(t, "objectives"), i, x)
    {
        printf("  objective   %-22s %s\n", ctl_str(x, "key"), ctl_str(x, "title"));
    }
    json_array_foreach(json_object_get(t, "surveys"), i, x)
    {
        printf("  survey      day %-4lld %s\n", json_integer_value(json_object_get(x, "openDay")),
               ctl_str(json_object_get(x, "survey"), "title"));
    }
}

/* Print the answer of a call (JSON with --json, else text) and decref it. */
static int show(ctl *c, int rc, json_t *x, void (*print)(const json_t *))
{
    if (rc == CTL_EXIT_OK) {
        if (c->json) {
            out_json(x);
        } else {
            print(x);
        }
    }
    json_decref(x);
    return rc;
}

static int templates_create(ctl *c)
{
    json_t *body = NULL;
    int rc = object_from_file(c, "file", 1, &body);
    const char *name = ctl_opt(c, "name");
    if (rc == 0) {
        rc = ctl_done_args(c, 2, 2, "templates create --file TEMPLATE.json [--name NAME]");
    }
    if (rc != 0) {
        json_decref(body);
        return rc;
    }
    if (name != NULL) {
        json_object_set_new(body, "name", json_string(name));
    }
    char idem[33];
    ctl_random_token(idem);
    json_t *t = NULL;
    rc = ctl_rest(c, "create template", "POST", "/v1/templates", body, idem, &t);
    json_decref(body);
    return show(c, rc, t, print_template);
}

static void template_row(out_table *t, json_t *x)
{
    out_table_rowf(t, "%s|%s|%s|%lld|%zu", ctl_str(x, "id"), ctl_str(x, "name"), ctl_str(x, "kind"),
                   json_integer_value(json_object_get(x, "version")),
                   json_array_size(json_object_get(x, "surveys")));
}

static int templates_list(ctl *c)
{
    int rc = ctl_done_args(c, 2, 2, "templates list");
    if (rc != 0) {
        return rc;
    }
    return ctl_list_and_print(c, "list templates", "/v1/templates", "templates",
                              "ID|Name|Kind|>Version|>Surveys", template_row);
}

static int templates_show(ctl *c)
{
    long version = 0;
    int rc = ctl_opt_long(c, "version", 1, MAX_TEMPLATE_VERSION, &version);
    if (rc == 0) {
        rc = ctl_done_args(c, 3, 3, "templates show ID [--version N]");
    }
    if (rc != 0) {
        return rc;
    }
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/templates/%s", c->words[2]);
    if (version > 0) {
        size_t n = strlen(path);
        snprintf(path + n, sizeof path - n, "?version=%ld", version);
    }
    json_t *t = NULL;
    rc = ctl_rest(c, "show template", "GET", path, NULL, NULL, &t);
    return show(c, rc, t, print_template);
}

static int templates_update(ctl *c)
{
    json_t *body = NULL;
    int rc = object_from_file(c, "file", 1, &body);
    const char *mask = ctl_opt(c, "mask");
    if (rc == 0) {
        rc = ctl_done_args(c, 3, 3, "templates update ID --file CHANGES.json [--mask a,b]");
    }
    if (rc != 0) {
        json_decref(body);
        return rc;
    }
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/templates/%s", c->words[2]);
    if (mask != NULL) {
        char *e = ctl_escape(mask);
        size_t n = strlen(path);
        snprintf(path + n, sizeof path - n, "?updateMask=%s", e != NULL ? e : "");
        free(e);
    }
    json_t *t = NULL;
    rc = ctl_rest(c, "update template", "PATCH", path, body, NULL, &t);
    json_decref(body);
    return show(c, rc, t, print_template);
}

int cmd_templates(ctl *c)
{
    const char *verb = c->n_words > 1 ? c->words[1] : "";
    if (strcmp(verb, "create") == 0) {
        return templates_create(c);
    }
    if (strcmp(verb, "list") == 0) {
        return templates_list(c);
    }
    if (strcmp(verb, "show") == 0) {
        return templates_show(c);
    }
    if (strcmp(verb, "update") == 0) {
        return templates_update(c);
    }
    return ctl_usage_error("usage: tandemctl " TEMPLATE_USAGE_NAMES);
}

int ctl_programmes_from_template(ctl *c, const char *template_id)
{
    json_t *overrides = NULL;
    int rc = object_from_file(c, "overrides", 0, &overrides);
    const char *name = ctl_opt(c, "name"), *start = ctl_opt(c, "start");
    const char *end = ctl_opt(c, "end"), *mask = ctl_opt(c, "mask");
    long version = 0;
    if (rc == 0) {
        rc = ctl_opt_long(c, "version", 1, MAX_TEMPLATE_VERSION, &version);
    }
    if (rc == 0) {
        rc = ctl_done_args(c, 2, 2,
                           "programmes create --from-template ID --name NAME [--start DATE] "
                           "[--end DATE] [--version N] [--overrides FILE.json --mask a,b]");
    }
    if (rc == 0 && name == NULL) {
        rc = ctl_usage_error("programmes create --from-template needs --name");
    }
    if (rc != 0) {
        json_decref(overrides);
        return rc;
    }
    json_t *body = json_pack("{s:s, s:s, s:O}", "templateId", template_id, "name", name,
                             "overrides", overrides);
    json_decref(overrides);
    if (start != NULL) {
        json_object_set_new(body, "startDate", json_string(start));
    }
    if (end != NULL) {
        json_object_set_new(body, "endDate", json_string(end));
    }
    if (mask != NULL) {
        json_object_set_new(body, "updateMask", json_string(mask));
    }
    if (version > 0) {
        json_object_set_new(body, "version", json_integer(version));
    }
    char idem[33];
    ctl_random_token(idem);
    json_t *p = NULL;
    rc = ctl_rest(c, "create programme from template", "POST", "/v1/programmes:fromTemplate", body,
                  idem, &p);
    json_decref(body);
    return show(c, rc, p, ctl_print_programme);
}
