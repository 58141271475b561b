/*
 * participant_sql.h - the SQL of a participant row shared by the enrolment store's
 * files (store.c, directory_store.c): one JSON document per row, which rows.c maps.
 */
#ifndef TANDEM_ENROLMENT_PARTICIPANT_SQL_H
#define TANDEM_ENROLMENT_PARTICIPANT_SQL_H

#include "enrolment.h"

#define T     TDM_SQL_TENANT
#define US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

/* A participant row (alias p) with its diversity record (alias d, may be absent). */
/* clang-format off */
#define PARTICIPANT_JSON                                                                      \
    "json_build_object('id', p.id, 'programme_id', p.programme_id,"                           \
    " 'external_id', p.external_id, 'display_name', p.display_name, 'email', p.email,"        \
    " 'role', p.role, 'seniority_level', p.seniority_level,"                                  \
    " 'years_qualified', p.years_qualified, 'practice_area', p.practice_area,"                \
    " 'office', p.office, 'department', p.department, 'reporting_chain', p.reporting_chain,"  \
    " 'skill_names', p.skill_names, 'skill_levels', p.skill_levels,"                          \
    " 'interests', p.interests, 'goals', p.goals, 'languages', p.languages,"                  \
    " 'availability_hours_per_month', p.availability_hours_per_month,"                        \
    " 'timezone', p.timezone, 'capacity', p.capacity, 'status', p.status,"                    \
    " 'consent_data_processing', p.consent_data_processing,"                                  \
    " 'consent_diversity_data', p.consent_diversity_data,"                                    \
    " 'consent_granted_us', " US("p.consent_granted_time") ","                                \
    " 'create_us', " US("p.create_time") ", 'update_us', " US("p.update_time") ","            \
    " 'withdraw_us', " US("p.withdraw_time") ", 'withdraw_reason', p.withdraw_reason,"        \
    " 'diversity', CASE WHEN d.participant_id IS NOT NULL THEN json_build_object("            \
    "  'gender', d.gender, 'ethnicity', d.ethnicity,"                                         \
    "  'first_generation_professional', d.first_generation_professional,"                     \
    "  'disability', d.disability, 'other', d.other) END)::text"
/* clang-format on */

#define PARTICIPANT_FROM                                                                           \
    " FROM " ENROL_SCHEMA ".participants p LEFT JOIN " ENROL_SCHEMA ".participant_diversity d"     \
    " ON d.tenant_id = p.tenant_id AND d.participant_id = p.id"

#endif
