/*
 * ctl.h - what every tandemctl command shares: the parsed command line, the REST
 * client and the output mode; and the commands themselves.
 *
 * The command line is words (the command, its arguments) and options, anywhere:
 * `--name value`, `--name=value`, or a flag (`--json`). A command takes the options
 * it knows with ctl_opt()/ctl_flag() and then calls ctl_done_args(), which refuses
 * whatever is left (exit 2), so a mistyped option never goes unnoticed.
 */
#ifndef TANDEMCTL_CTL_H
#define TANDEMCTL_CTL_H

#include "client.h"

#include <jansson.h>
#include <stddef.h>

#define CTL_MAX_WORDS   16
#define CTL_MAX_OPTIONS 32

typedef struct ctl_option {
    const char *name; /* without the leading "--" */
    const char *value;
    int used;
} ctl_option;

typedef struct ctl {
    ctl_client client;
    int json;     /* --json: machine-readable output on stdout */
    int progress; /* draw progress bars (stderr is a terminal, no --json) */
    const char *words[CTL_MAX_WORDS];
    size_t n_words;
    ctl_option options[CTL_MAX_OPTIONS];
    size_t n_options;
} ctl;

/* The value of --name (the last one given), or NULL. */
const char *ctl_opt(ctl *c, const char *name);
/* Every value of a repeatable --name, in order; returns the count (at most max). */
size_t ctl_opt_all(ctl *c, const char *name, const char **values, size_t max);
/* Whether the flag --name was given. */
int ctl_flag(ctl *c, const char *name);
/* Refuses unknown options and a word count outside [min_words, max_words] (counting
 * the command words); returns 0 or CTL_EXIT_USAGE after printing usage. */
int ctl_done_args(ctl *c, size_t min_words, size_t max_words, const char *usage);
/* Prints "tandemctl: <message>" and a hint; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parses an integer option in [min, max]; returns 0 or CTL_EXIT_USAGE. */
int ctl_opt_long(ctl *c, const char *name, long min, long max, long *out);

/* Reads a whole file (at most max_bytes) into a NUL-terminated buffer the caller
 * frees; NULL with a message on stderr if it cannot. */
char *ctl_read_file(const char *path, size_t max_bytes, size_t *len);

#define CTL_MAX_PATH 2048

/* Writes into buf a path with each %s argument percent-encoded:
 * ctl_path(buf, "/v1/programmes/%s", id). Only %s is understood. Returns buf. */
const char *ctl_path(char buf[CTL_MAX_PATH], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Shared by the commands (cmd_admin.c). */
struct out_table;
/* A string member of obj, "" when absent. */
const char *ctl_str(const json_t *obj, const char *key);
/* One REST call: on success hands the body over in *out (may be NULL; the caller
 * decrefs), on failure prints the error naming `what`. Returns an exit code. */
int ctl_rest(ctl *c, const char *what, const char *method, const char *path, json_t *body,
             const char *idem, json_t **out);
/* GET every page of path and print the items: {"<field>": [...]} with --json,
 * otherwise a table of columns ("A|B|>C") with one row() per item. */
int ctl_list_and_print(ctl *c, const char *what, const char *path, const char *field,
                       const char *columns, void (*row)(struct out_table *t, json_t *item));
/* A programme as text. */
void ctl_print_programme(const json_t *p);

/* The commands; each returns its exit code. */
int cmd_templates(ctl *c);
/* `programmes create --from-template ID ...` (cmd_templates.c). */
int ctl_programmes_from_template(ctl *c, const char *template_id);
int cmd_tenants(ctl *c);
int cmd_keys(ctl *c);
int cmd_programmes(ctl *c);
int cmd_participants(ctl *c);
int cmd_match(ctl *c);
int cmd_report(ctl *c);
int cmd_demo(ctl *c);
int cmd_usage(ctl *c);
/* `benchmark TEMPLATE|PROGRAMME` (cmd_benchmark.c). */
int cmd_benchmark(ctl *c);
/* A TemplateBenchmark as text: published or withheld and why, asOf, the figures. */
void ctl_print_template_benchmark(const json_t *benchmark);

/* Shared by the demo: enrol rows into a programme in chunks (BatchEnrol), with a
 * progress bar and errors collected in set. Returns an exit code. */
struct rows_set;
int ctl_enrol_rows(ctl *c, const char *programme_id, struct rows_set *set, size_t chunk_rows,
                   size_t *enrolled);

/* Runs matching and waits for the run to finish (progress shown), then answers the run
 * in *run (owned by the caller). Returns an exit code. */
int ctl_run_matching(ctl *c, const char *programme_id, json_t *request, long wait_s, json_t **run);
/* Prints a run's summary table (pairs, scores, top reasons). */
int ctl_print_run_summary(ctl *c, const char *programme_id, const json_t *run, size_t max_pairs);
/* Prints a programme report as tables. */
void ctl_print_report(const json_t *programme, const json_t *report);

#endif
