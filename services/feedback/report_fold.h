/*
 * report_fold.h - GetProgrammeReport's figures folded from one programme's inputs.
 *
 * Pure: no I/O. The inputs are the owners' rows as tandem-feedback reads them (the
 * participants from enrolment, the matches from matching) and feedback's maintained
 * totals (store's report statement, report_sql.h): one row per match with check-ins
 * (match_stats), one per identified respondent who answered NPS questions
 * (report_respondents, net of the responses the survey figures leave out), and the
 * programme's survey and objective figures, which the statement computes whole. The
 * fold joins them on ids, groups the enrolled people by each breakdown dimension and
 * applies the anonymity rules of API.md ("Anonymity that survives a determined
 * reader", docs/privacy.md) at read time:
 *   - a group under the threshold is suppressed, and the smallest shown group too
 *     when exactly one group of the dimension was (the total minus the shown groups
 *     would reveal it); everyone without a value is in a "(not stated)" group;
 *   - a mean rating or NPS, a group's or the programme's, is shown only when at least
 *     threshold distinct people gave the ratings or answers (else it is absent and
 *     named in `suppressed`).
 * A group's check-ins are those of matches with a member, each once; its raters are
 * the distinct people who rated a match with a member. Keys order bytewise (the
 * C.UTF-8 collation of Tandem's clusters). SQL NULLs are kept as such where the
 * figures could tell them apart from a value (an id, a status, a start time).
 *
 * The figures equal those of the statement that computed the whole report before
 * (tests/integration/report_aggregates compares them on random programmes at every
 * threshold).
 */
#ifndef TANDEM_FEEDBACK_REPORT_FOLD_H
#define TANDEM_FEEDBACK_REPORT_FOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem/arena.h"
#include "tandem/v1/feedback.pb-c.h"

/* office, practice_area, seniority_band, then the consented diversity dimensions
 * gender, ethnicity, first_generation_professional, disability (admins only). */
#define FB_REPORT_DIMENSIONS        7
#define FB_REPORT_PUBLIC_DIMENSIONS 3
/* feedback.proto's Breakdown: at most 500 groups, the largest (then by key). */
#define FB_REPORT_MAX_GROUPS 500

/* A text value: s NULL for SQL NULL (s need not end in NUL). */
typedef struct fb_text {
    const char *s;
    size_t len;
} fb_text;

typedef struct fb_report_person {
    uint8_t id[16];
    bool id_null;
    int32_t role; /* 1 mentor, 2 mentee */
    int32_t status;
    bool status_null;
    /* The dimensions' values in the order above; NULL or empty reads "(not stated)".
     * The seniority band is already a band ("0-2", "3-5", "6-8", "9-10"). */
    fb_text key[FB_REPORT_DIMENSIONS];
} fb_report_person;

typedef struct fb_report_match {
    uint8_t id[16], mentor[16], mentee[16];
    bool mentor_null, mentee_null;
    int32_t status;
    bool status_null;
    int64_t start_us; /* Unix microseconds: when it became ACTIVE, else created */
    bool start_null;
    int8_t declined; /* a side declined: 1, 0, or -1 for NULL */
} fb_report_match;

/* One match_stats row. */
typedef struct fb_report_stats {
    uint8_t match_id[16];
    int64_t check_ins, rating_sum;
    int64_t last_us; /* the latest check-in's occurred time */
    int32_t last_rating;
    bool mentor_rated, mentee_rated;
} fb_report_stats;

/* An identified respondent's NPS answers (the figures counted). */
typedef struct fb_report_respondent {
    uint8_t id[16];
    int64_t nps_n, promoters, detractors;
} fb_report_respondent;

typedef struct fb_report_inputs {
    const fb_report_person *people;
    size_t n_people;
    const fb_report_match *matches;
    size_t n_matches;
    const fb_report_stats *stats;
    size_t n_stats;
    const fb_report_respondent *respondents;
    size_t n_respondents;
    int32_t threshold;    /* the anonymity threshold, >= 1 */
    int32_t cadence_days; /* the check-in cadence (the at-risk rule) */
    bool include_diversity;
    int64_t now_us; /* "now" of the at-risk rule, the database's */
    /* The programme's survey figures, as the statement computed them. */
    int32_t surveys;
    int64_t responses_counted;   /* the first floor(total / threshold) * threshold */
    int64_t respondents_counted; /* respondents with responses counted */
    bool as_of_null;
    int64_t as_of_us;
    int64_t nps_n, promoters, detractors; /* every respondent's, anonymous ones too */
    int64_t nps_people;                   /* identified respondents with NPS answers */
    Tandem__V1__ObjectiveProgress **objective_progress;
    size_t n_objective_progress;
} fb_report_inputs;

/* The report (programme id, threshold and generate time left for the caller), in a;
 * NULL when out of memory. */
Tandem__V1__ProgrammeReport *fb_report_fold(const fb_report_inputs *in, tdm_arena *a);

/* The seniority band of a level (API.md): "0-2", "3-5", "6-8" or "9-10". */
const char *fb_seniority_band(int32_t level);

#endif
