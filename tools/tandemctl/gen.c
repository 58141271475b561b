/*
 * gen.c - the seeded law-firm people generator (gen.h).
 *
 * Two passes: the first draws each person's level, office and practice area; the
 * second, knowing everyone, draws reporting lines (a more senior person of the same
 * department for each tier above the person's own) and the rest of the profile.
 */
#include "gen.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

void gen_rng_seed(gen_rng *r, uint64_t seed)
{
    r->state = seed ^ 0x5DEECE66DULL;
}

uint64_t gen_rng_next(gen_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint32_t gen_rng_below(gen_rng *r, uint32_t n)
{
    /* Rejection keeps the draw uniform; n is small, so a retry is rare. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do {
        v = gen_rng_next(r);
    } while (v >= limit);
    return (uint32_t)(v % n);
}

static const char *pick(gen_rng *r, const char *const *items, size_t n)
{
    return items[gen_rng_below(r, (uint32_t)n)];
}

static int chance(gen_rng *r, unsigned percent)
{
    return gen_rng_below(r, 100) < percent;
}

typedef struct office {
    const char *name, *timezone, *language;
    unsigned weight; /* share of the firm, in percent */
} office;

static const office OFFICES[] = {
    {"London", "Europe/London", NULL, 38},           {"Manchester", "Europe/London", NULL, 12},
    {"Edinburgh", "Europe/London", NULL, 8},         {"Paris", "Europe/Paris", "French", 10},
    {"Frankfurt", "Europe/Berlin", "German", 9},     {"Brussels", "Europe/Brussels", "Dutch", 6},
    {"New York", "America/New_York", "Spanish", 10}, {"Singapore", "Asia/Singapore", "Mandarin", 7},
};

static const char *const PRACTICES[] = {
    "Corporate", "Banking & Finance", "Litigation & Arbitration", "Real Estate",    "Employment",
    "Tax",       "Competition",       "Intellectual Property",    "Private Client", "Regulatory",
};

/* Level distribution of the pyramid, in per mille, levels 0..10. */
static const unsigned LEVEL_PER_MILLE[11] = {110, 120, 120, 110, 110, 90, 90, 110, 80, 40, 20};

static const unsigned YEARS_MIN[11] = {0, 0, 2, 3, 5, 7, 8, 10, 14, 18, 25};
static const unsigned YEARS_SPAN[11] = {1, 2, 1, 2, 2, 2, 5, 6, 9, 11, 11};

static const char *const FIRST_NAMES[] = {
    "Amara",   "Oliver",  "Priya",     "James",  "Chloe",  "Mohammed", "Sophie", "Daniel",
    "Aisha",   "Thomas",  "Zoë",       "Kwame",  "Hannah", "Rajesh",   "Emily",  "Lukas",
    "Fatima",  "William", "Mei",       "Samuel", "Grace",  "Tariq",    "Isabel", "Chidi",
    "Eleanor", "Arjun",   "Niamh",     "Jonas",  "Leila",  "George",   "Yasmin", "Matteo",
    "Olivia",  "Kofi",    "Charlotte", "Wei",    "Freya",  "Omar",     "Lucy",   "Sebastian",
    "Anika",   "Harry",   "Bukola",    "Pierre", "Ingrid", "Dev",      "Rosa",   "Callum",
};

static const char *const LAST_NAMES[] = {
    "Okafor",  "Smith",  "Patel",    "Jones",    "Dubois",   "Khan",     "Williams", "Müller",
    "Chen",    "Taylor", "Mensah",   "Brown",    "Singh",    "Davies",   "Nowak",    "Evans",
    "Haddad",  "Wilson", "Rossi",    "Campbell", "Ahmed",    "Murphy",   "García",   "Thompson",
    "Adeyemi", "Walker", "Kowalski", "Clarke",   "Nguyen",   "Robinson", "Fischer",  "Hughes",
    "Osei",    "Wright", "Lambert",  "Shah",     "Mitchell", "O'Brien",  "Tanaka",   "Fraser",
};

static const char *const JUNIOR_SKILLS[] = {
    "Generative AI",
    "Prompt engineering",
    "Legal tech platforms",
    "Document automation",
    "Data analytics",
    "Contract lifecycle management",
    "E-discovery",
    "Social media",
    "Microsoft 365",
    "Python",
    "No-code workflows",
    "Inclusion advocacy",
    "Client experience design",
    "Cybersecurity awareness",
};

static const char *const SENIOR_SKILLS[] = {
    "Negotiation",      "Client relationships",  "Business development", "Leadership",
    "Deal structuring", "Litigation strategy",   "Regulatory insight",   "Public speaking",
    "Team management",  "Pricing and budgeting",
};

static const char *const INTERESTS[] = {
    "AI ethics",
    "Legal innovation",
    "Sustainability and ESG",
    "Pro bono",
    "Social mobility",
    "Mental health",
    "Women in law",
    "LGBTQ+ inclusion",
    "Race equality",
    "Climate law",
    "Fintech",
    "Access to justice",
    "Flexible working",
    "Podcasts",
    "Running",
    "Chess",
};

static const char *const OBJECTIVES[] = {GEN_OBJECTIVE_DIGITAL, GEN_OBJECTIVE_AI,
                                         GEN_OBJECTIVE_INCLUSION, GEN_OBJECTIVE_LEADERSHIP};

static const char *const FREE_GOALS[] = {
    "Understand how clients use AI tools",
    "Present with confidence to the partnership",
    "Make our team meetings more inclusive",
    "Learn what trainees find hardest in their first seat",
    "Automate first drafts of routine documents",
};

static const char *const EXTRA_LANGUAGES[] = {"French", "German", "Spanish", "Urdu",   "Polish",
                                              "Arabic", "Hindi",  "Yoruba",  "Italian"};

/* Weighted by repetition: roughly the make-up of a large UK firm's staff surveys. */
static const char *const GENDERS[] = {
    "Woman", "Woman", "Woman", "Woman", "Woman", "Woman", "Woman", "Woman", "Woman", "Woman",
    "Man",   "Man",   "Man",   "Man",   "Man",   "Man",   "Man",   "Man",   "Man",   "Non-binary"};

static const char *const ETHNICITIES[] = {
    "White",
    "White",
    "White",
    "White",
    "White",
    "White",
    "Asian or Asian British",
    "Asian or Asian British",
    "Black, Black British, Caribbean or African",
    "Mixed or multiple ethnic groups",
    "Other ethnic group",
};

typedef struct person {
    unsigned level;
    unsigned office;
    unsigned practice;
    int mentor;
} person;

static unsigned draw_level(gen_rng *r)
{
    uint32_t x = gen_rng_below(r, 1000);
    for (unsigned level = 0; level < 11; level++) {
        if (x < LEVEL_PER_MILLE[level]) {
            return level;
        }
        x -= LEVEL_PER_MILLE[level];
    }
    return 10;
}

static unsigned draw_office(gen_rng *r)
{
    uint32_t x = gen_rng_below(r, 100);
    for (unsigned i = 0; i < N(OFFICES); i++) {
        if (x < OFFICES[i].weight) {
            return i;
        }
        x -= OFFICES[i].weight;
    }
    return 0;
}

/* Tiers of the reporting line: 0 juniors (0-3), 1 supervisors (4-5), 2 partners
 * (6-8), 3 heads (9-10). */
static unsigned tier_of(unsigned level)
{
    return level <= 3 ? 0 : level <= 5 ? 1 : level <= 8 ? 2 : 3;
}

static void external_id(char *buf, size_t size, size_t i)
{
    snprintf(buf, size, "hf-%06zu", i + 1);
}

/* Adds n distinct items of pool to arr. */
static void add_distinct(gen_rng *r, json_t *arr, const char *const *pool, size_t pool_n, size_t n)
{
    unsigned char used[64] = {0};
    for (size_t k = 0; k < n && k < pool_n; k++) {
        uint32_t i;
        do {
            i = gen_rng_below(r, (uint32_t)pool_n);
        } while (used[i]);
        used[i] = 1;
        json_array_append_new(arr, json_string(pool[i]));
    }
}

static json_t *skills_for(gen_rng *r, const person *p)
{
    json_t *names = json_array();
    if (p->level <= 5) {
        add_distinct(r, names, JUNIOR_SKILLS, N(JUNIOR_SKILLS), 3 + gen_rng_below(r, 3));
    } else {
        add_distinct(r, names, SENIOR_SKILLS, N(SENIOR_SKILLS), 2 + gen_rng_below(r, 3));
        if (chance(r, 30)) {
            add_distinct(r, names, JUNIOR_SKILLS, N(JUNIOR_SKILLS), 1);
        }
    }
    json_t *skills = json_array();
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name)
    {
        int dup = 0;
        for (size_t k = 0; k < i; k++) {
            dup |= json_equal(json_array_get(names, k), name);
        }
        if (!dup) {
            json_array_append_new(
                skills, json_pack("{sOsi}", "name", name, "level", (int)(2 + gen_rng_below(r, 4))));
        }
    }
    json_decref(names);
    return skills;
}

static json_t *goals_for(gen_rng *r, const person *p)
{
    json_t *goals = json_array();
    if (p->mentor) {
        json_array_append_new(goals, json_string(GEN_OBJECTIVE_LEADERSHIP));
        add_distinct(r, goals, OBJECTIVES, 3, 1); /* one of the other three */
    } else {
        add_distinct(r, goals, OBJECTIVES, 3, 1 + gen_rng_below(r, 3));
    }
    if (chance(r, 25)) {
        json_array_append_new(goals, json_string(pick(r, FREE_GOALS, N(FREE_GOALS))));
    }
    return goals;
}

static json_t *languages_for(gen_rng *r, const person *p)
{
    json_t *langs = json_array();
    json_array_append_new(langs, json_string("English"));
    const char *local = OFFICES[p->office].language;
    if (local != NULL) {
        json_array_append_new(langs, json_string(local));
    }
    if (chance(r, 30)) {
        const char *extra = pick(r, EXTRA_LANGUAGES, N(EXTRA_LANGUAGES));
        if (local == NULL || strcmp(extra, local) != 0) {
            json_array_append_new(langs, json_string(extra));
        }
    }
    return langs;
}

/* first.last.N@domain, keeping only ASCII letters of the name. */
static json_t *email_for(const char *first, const char *last, size_t i, const char *domain)
{
    char local[96];
    size_t n = 0;
    const char *parts[2] = {first, last};
    for (int k = 0; k < 2; k++) {
        for (const char *s = parts[k]; *s && n + 1 < 48; s++) {
            if (isalpha((unsigned char)*s) && (unsigned char)*s < 128) {
                local[n++] = (char)tolower((unsigned char)*s);
            }
        }
        if (k == 0) {
            local[n++] = '.';
        }
    }
    local[n] = '\0';
    return json_sprintf("%s.%zu@%s", local, i + 1, domain);
}

/* The reporting line: one person of the same department per tier above. */
static json_t *chain_for(gen_rng *r, const person *people, size_t count, size_t self,
                         const size_t *by_dept, const size_t *dept_start, size_t dept)
{
    json_t *chain = json_array();
    unsigned own = tier_of(people[self].level);
    for (unsigned tier = own + 1; tier <= 3; tier++) {
        size_t candidates = 0, chosen = count;
        for (size_t k = dept_start[dept]; k < dept_start[dept + 1]; k++) {
            size_t j = by_dept[k];
            if (tier_of(people[j].level) == tier && gen_rng_below(r, (uint32_t)++candidates) == 0) {
                chosen = j; /* reservoir sampling: each candidate equally likely */
            }
        }
        if (chosen < count) {
            char id[32];
            external_id(id, sizeof id, chosen);
            json_array_append_new(chain, json_string(id));
        }
    }
    return chain;
}

static json_t *diversity_for(gen_rng *r)
{
    json_t *d = json_pack("{ssss}", "gender", pick(r, GENDERS, N(GENDERS)), "ethnicity",
                          pick(r, ETHNICITIES, N(ETHNICITIES)));
    json_object_set_new(d, "firstGenerationProfessional", json_boolean(chance(r, 35)));
    json_object_set_new(d, "disability", json_boolean(chance(r, 9)));
    return d;
}

static json_t *person_json(gen_rng *r, const person *people, size_t count, size_t i,
                           const size_t *by_dept, const size_t *dept_start, const char *domain)
{
    const person *p = &people[i];
    const char *first = pick(r, FIRST_NAMES, N(FIRST_NAMES));
    const char *last = pick(r, LAST_NAMES, N(LAST_NAMES));
    char id[32], name[128], dept_name[256];
    external_id(id, sizeof id, i);
    snprintf(name, sizeof name, "%s %s", first, last);
    snprintf(dept_name, sizeof dept_name, "%s (%s)", PRACTICES[p->practice],
             OFFICES[p->office].name);
    size_t dept = (size_t)p->practice * N(OFFICES) + p->office;
    json_t *o = json_object();
    json_object_set_new(o, "externalId", json_string(id));
    json_object_set_new(o, "displayName", json_string(name));
    json_object_set_new(o, "email", email_for(first, last, i, domain));
    json_object_set_new(o, "role", json_string(p->mentor ? "MENTOR" : "MENTEE"));
    json_object_set_new(o, "seniorityLevel", json_integer(p->level));
    json_object_set_new(
        o, "yearsQualified",
        json_integer(YEARS_MIN[p->level] + gen_rng_below(r, YEARS_SPAN[p->level] + 1)));
    json_object_set_new(o, "practiceArea", json_string(PRACTICES[p->practice]));
    json_object_set_new(o, "office", json_string(OFFICES[p->office].name));
    json_object_set_new(o, "department", json_string(dept_name));
    json_object_set_new(o, "reportingChain",
                        chain_for(r, people, count, i, by_dept, dept_start, dept));
    json_object_set_new(o, "skills", skills_for(r, p));
    json_t *interests = json_array();
    add_distinct(r, interests, INTERESTS, N(INTERESTS), 2 + gen_rng_below(r, 3));
    json_object_set_new(o, "interests", interests);
    json_object_set_new(o, "goals", goals_for(r, p));
    json_object_set_new(o, "languages", languages_for(r, p));
    json_object_set_new(
        o, "availabilityHoursPerMonth",
        json_integer(p->mentor ? 2 + gen_rng_below(r, 7) : 2 + gen_rng_below(r, 4)));
    json_object_set_new(o, "timezone", json_string(OFFICES[p->office].timezone));
    if (p->mentor) {
        json_object_set_new(o, "capacity", json_integer(chance(r, 15) ? 2 : 1));
    }
    int diversity_consent = chance(r, 60);
    json_object_set_new(
        o, "consent", json_pack("{sbsb}", "dataProcessing", 1, "diversityData", diversity_consent));
    if (diversity_consent) {
        json_object_set_new(o, "diversity", diversity_for(r));
    }
    return o;
}

json_t *gen_people(size_t count, uint64_t seed, const char *email_domain)
{
    if (count == 0 || count > GEN_MAX_COUNT) {
        return NULL;
    }
    size_t n_depts = N(PRACTICES) * N(OFFICES);
    person *people = calloc(count, sizeof *people);
    size_t *by_dept = calloc(count, sizeof *by_dept);
    size_t *dept_start = calloc(n_depts + 1, sizeof *dept_start);
    json_t *out = json_array();
    if (people == NULL || by_dept == NULL || dept_start == NULL || out == NULL) {
        json_decref(out);
        out = NULL;
        goto done;
    }
    gen_rng r;
    gen_rng_seed(&r, seed);
    for (size_t i = 0; i < count; i++) {
        person *p = &people[i];
        p->level = draw_level(&r);
        p->office = draw_office(&r);
        p->practice = gen_rng_below(&r, (uint32_t)N(PRACTICES));
        p->mentor = p->level <= 4 || (p->level == 5 && chance(&r, 50));
        dept_start[(size_t)p->practice * N(OFFICES) + p->office + 1]++;
    }
    /* Counting sort of people by department (stable, so deterministic). */
    for (size_t d = 0; d < n_depts; d++) {
        dept_start[d + 1] += dept_start[d];
    }
    size_t *fill = calloc(n_depts, sizeof *fill);
    if (fill == NULL) {
        json_decref(out);
        out = NULL;
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        size_t d = (size_t)people[i].practice * N(OFFICES) + people[i].office;
        by_dept[dept_start[d] + fill[d]++] = i;
    }
    free(fill);
    for (size_t i = 0; i < count; i++) {
        json_t *o = person_json(&r, people, count, i, by_dept, dept_start, email_domain);
        if (o == NULL || json_array_append_new(out, o) != 0) {
            json_decref(out);
            out = NULL;
            break;
        }
    }
done:
    free(people);
    free(by_dept);
    free(dept_start);
    return out;
}
