/*
 * scim_discovery.c - the discovery documents of RFC 7644 section 4: what this SCIM
 * service provider supports (ServiceProviderConfig), its one resource type (User)
 * and the schemas of its attributes (core User, the enterprise extension, Tandem's
 * extension), with what each attribute becomes in Tandem (docs/integrations.md has
 * the same table). Fixed texts: nothing here depends on the tenant.
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "scim.h"

/* clang-format off */
static const char SPC[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig\"],\"docu"
    "mentationUri\":\"https://github.com/tandem-mentoring/tandem/blob/main/docs/integra"
    "tions.md\",\"patch\":{\"supported\":true},\"bulk\":{\"supported\":false,\"maxOperations\":0"
    ",\"maxPayloadSize\":0},\"filter\":{\"supported\":true,\"maxResults\":500},\"changePasswor"
    "d\":{\"supported\":false},\"sort\":{\"supported\":true},\"etag\":{\"supported\":true},\"auth"
    "enticationSchemes\":[{\"type\":\"oauthbearertoken\",\"name\":\"Tandem API key\",\"descript"
    "ion\":\"Authorization: Bearer <a tenant API key with the scim scope>\",\"primary\":tr"
    "ue}],\"meta\":{\"resourceType\":\"ServiceProviderConfig\",\"location\":\"/scim/v2/Service"
    "ProviderConfig\"}}";

static const char RESOURCE_TYPE_USER[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:ResourceType\"],\"id\":\"User\",\"n"
    "ame\":\"User\",\"endpoint\":\"/Users\",\"description\":\"People of the tenant's directory\""
    ",\"schema\":\"urn:ietf:params:scim:schemas:core:2.0:User\",\"schemaExtensions\":[{\"sch"
    "ema\":\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\",\"required\":fal"
    "se},{\"schema\":\"urn:tandem:params:scim:schemas:extension:2.0:Person\",\"required\":f"
    "alse}],\"meta\":{\"resourceType\":\"ResourceType\",\"location\":\"/scim/v2/ResourceTypes/"
    "User\"}}";

static const char RESOURCE_TYPES[] =
    "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"],\"totalResults\""
    ":1,\"itemsPerPage\":1,\"startIndex\":1,\"Resources\":[{\"schemas\":[\"urn:ietf:params:sci"
    "m:schemas:core:2.0:ResourceType\"],\"id\":\"User\",\"name\":\"User\",\"endpoint\":\"/Users\","
    "\"description\":\"People of the tenant's directory\",\"schema\":\"urn:ietf:params:scim:"
    "schemas:core:2.0:User\",\"schemaExtensions\":[{\"schema\":\"urn:ietf:params:scim:schem"
    "as:extension:enterprise:2.0:User\",\"required\":false},{\"schema\":\"urn:tandem:params"
    ":scim:schemas:extension:2.0:Person\",\"required\":false}],\"meta\":{\"resourceType\":\"R"
    "esourceType\",\"location\":\"/scim/v2/ResourceTypes/User\"}}]}";

static const char SCHEMA_USER[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Schema\"],\"id\":\"urn:ietf:param"
    "s:scim:schemas:core:2.0:User\",\"name\":\"User\",\"description\":\"A person of the tenan"
    "t's directory\",\"attributes\":[{\"name\":\"userName\",\"type\":\"string\",\"multiValued\":fa"
    "lse,\"description\":\"Unique in the tenant, compared without regard to case; 1-200 "
    "characters. The participants' external_id when externalId is empty.\",\"required\":"
    "true,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness"
    "\":\"server\"},{\"name\":\"name\",\"type\":\"complex\",\"multiValued\":false,\"description\":\"T"
    "he person's name; shown on participants when displayName is empty.\",\"required\":f"
    "alse,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness"
    "\":\"none\",\"subAttributes\":[{\"name\":\"givenName\",\"type\":\"string\",\"multiValued\":fals"
    "e,\"description\":\"\",\"required\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\""
    "returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"familyName\",\"type\":\"string\",\"m"
    "ultiValued\":false,\"description\":\"\",\"required\":false,\"caseExact\":false,\"mutabilit"
    "y\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"formatted\",\"ty"
    "pe\":\"string\",\"multiValued\":false,\"description\":\"\",\"required\":false,\"caseExact\":f"
    "alse,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"}]},{\"name"
    "\":\"displayName\",\"type\":\"string\",\"multiValued\":false,\"description\":\"The name show"
    "n on the person's participants.\",\"required\":false,\"caseExact\":false,\"mutability\""
    ":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"emails\",\"type\":\""
    "complex\",\"multiValued\":true,\"description\":\"Up to 10 addresses; the primary one ("
    "else the first work one, else the first) becomes the participants' email.\",\"requ"
    "ired\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uni"
    "queness\":\"none\",\"subAttributes\":[{\"name\":\"value\",\"type\":\"string\",\"multiValued\":f"
    "alse,\"description\":\"\",\"required\":false,\"caseExact\":false,\"mutability\":\"readWrite"
    "\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"type\",\"type\":\"string\",\"mult"
    "iValued\":false,\"description\":\"\",\"required\":false,\"caseExact\":false,\"mutability\":"
    "\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"primary\",\"type\":\""
    "boolean\",\"multiValued\":false,\"description\":\"\",\"required\":false,\"caseExact\":false"
    ",\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"}]},{\"name\":\"a"
    "ctive\",\"type\":\"boolean\",\"multiValued\":false,\"description\":\"false withdraws the p"
    "erson from every programme that is not CLOSED (reason \\\"deprovisioned\\\").\",\"requ"
    "ired\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uni"
    "queness\":\"none\"},{\"name\":\"title\",\"type\":\"string\",\"multiValued\":false,\"descriptio"
    "n\":\"\",\"required\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"de"
    "fault\",\"uniqueness\":\"none\"},{\"name\":\"preferredLanguage\",\"type\":\"string\",\"multiVa"
    "lued\":false,\"description\":\"\",\"required\":false,\"caseExact\":false,\"mutability\":\"re"
    "adWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"timezone\",\"type\":\"st"
    "ring\",\"multiValued\":false,\"description\":\"An IANA time-zone name.\",\"required\":fal"
    "se,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":"
    "\"none\"}],\"meta\":{\"resourceType\":\"Schema\",\"location\":\"/scim/v2/Schemas/urn:ietf:p"
    "arams:scim:schemas:core:2.0:User\"}}";

static const char SCHEMA_ENTERPRISE[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Schema\"],\"id\":\"urn:ietf:param"
    "s:scim:schemas:extension:enterprise:2.0:User\",\"name\":\"EnterpriseUser\",\"descripti"
    "on\":\"Enterprise User\",\"attributes\":[{\"name\":\"employeeNumber\",\"type\":\"string\",\"mu"
    "ltiValued\":false,\"description\":\"\",\"required\":false,\"caseExact\":false,\"mutability"
    "\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"department\",\"ty"
    "pe\":\"string\",\"multiValued\":false,\"description\":\"Becomes the participants' depart"
    "ment.\",\"required\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"d"
    "efault\",\"uniqueness\":\"none\"},{\"name\":\"organization\",\"type\":\"string\",\"multiValued"
    "\":false,\"description\":\"\",\"required\":false,\"caseExact\":false,\"mutability\":\"readWr"
    "ite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"division\",\"type\":\"string"
    "\",\"multiValued\":false,\"description\":\"\",\"required\":false,\"caseExact\":false,\"mutab"
    "ility\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"manager\",\""
    "type\":\"complex\",\"multiValued\":false,\"description\":\"Manager links make the partic"
    "ipants' reporting_chain; a link that would close a cycle is refused.\",\"required\""
    ":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniquene"
    "ss\":\"none\",\"subAttributes\":[{\"name\":\"value\",\"type\":\"string\",\"multiValued\":false,"
    "\"description\":\"The id of the manager's User.\",\"required\":false,\"caseExact\":false"
    ",\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"$re"
    "f\",\"type\":\"reference\",\"multiValued\":false,\"description\":\"\",\"required\":false,\"cas"
    "eExact\":false,\"mutability\":\"readOnly\",\"returned\":\"default\",\"uniqueness\":\"none\"},"
    "{\"name\":\"displayName\",\"type\":\"string\",\"multiValued\":false,\"description\":\"\",\"requ"
    "ired\":false,\"caseExact\":false,\"mutability\":\"readOnly\",\"returned\":\"default\",\"uniq"
    "ueness\":\"none\"}]}],\"meta\":{\"resourceType\":\"Schema\",\"location\":\"/scim/v2/Schemas/"
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"}}";

static const char SCHEMA_TANDEM[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Schema\"],\"id\":\"urn:tandem:par"
    "ams:scim:schemas:extension:2.0:Person\",\"name\":\"TandemPerson\",\"description\":\"What"
    " Tandem's matching uses of a person\",\"attributes\":[{\"name\":\"seniorityLevel\",\"typ"
    "e\":\"integer\",\"multiValued\":false,\"description\":\"0 (trainee) to 10 (senior partne"
    "r); becomes the participants' seniority_level.\",\"required\":false,\"caseExact\":fal"
    "se,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"p"
    "racticeArea\",\"type\":\"string\",\"multiValued\":false,\"description\":\"Becomes the part"
    "icipants' practice_area.\",\"required\":false,\"caseExact\":false,\"mutability\":\"readW"
    "rite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"office\",\"type\":\"string\""
    ",\"multiValued\":false,\"description\":\"Becomes the participants' office.\",\"required"
    "\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniquen"
    "ess\":\"none\"},{\"name\":\"yearsQualified\",\"type\":\"integer\",\"multiValued\":false,\"desc"
    "ription\":\"0 to 70; becomes the participants' years_qualified.\",\"required\":false,"
    "\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"no"
    "ne\"}],\"meta\":{\"resourceType\":\"Schema\",\"location\":\"/scim/v2/Schemas/urn:tandem:pa"
    "rams:scim:schemas:extension:2.0:Person\"}}";

static const char SCHEMAS[] =
    "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"],\"totalResults\""
    ":3,\"itemsPerPage\":3,\"startIndex\":1,\"Resources\":[{\"schemas\":[\"urn:ietf:params:sci"
    "m:schemas:core:2.0:Schema\"],\"id\":\"urn:ietf:params:scim:schemas:core:2.0:User\",\"n"
    "ame\":\"User\",\"description\":\"A person of the tenant's directory\",\"attributes\":[{\"n"
    "ame\":\"userName\",\"type\":\"string\",\"multiValued\":false,\"description\":\"Unique in the"
    " tenant, compared without regard to case; 1-200 characters. The participants' ex"
    "ternal_id when externalId is empty.\",\"required\":true,\"caseExact\":false,\"mutabili"
    "ty\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"server\"},{\"name\":\"name\",\"type"
    "\":\"complex\",\"multiValued\":false,\"description\":\"The person's name; shown on parti"
    "cipants when displayName is empty.\",\"required\":false,\"caseExact\":false,\"mutabili"
    "ty\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\",\"subAttributes\":[{\"name"
    "\":\"givenName\",\"type\":\"string\",\"multiValued\":false,\"description\":\"\",\"required\":fa"
    "lse,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\""
    ":\"none\"},{\"name\":\"familyName\",\"type\":\"string\",\"multiValued\":false,\"description\":"
    "\"\",\"required\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"defau"
    "lt\",\"uniqueness\":\"none\"},{\"name\":\"formatted\",\"type\":\"string\",\"multiValued\":false"
    ",\"description\":\"\",\"required\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"r"
    "eturned\":\"default\",\"uniqueness\":\"none\"}]},{\"name\":\"displayName\",\"type\":\"string\","
    "\"multiValued\":false,\"description\":\"The name shown on the person's participants.\""
    ",\"required\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default"
    "\",\"uniqueness\":\"none\"},{\"name\":\"emails\",\"type\":\"complex\",\"multiValued\":true,\"des"
    "cription\":\"Up to 10 addresses; the primary one (else the first work one, else th"
    "e first) becomes the participants' email.\",\"required\":false,\"caseExact\":false,\"m"
    "utability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\",\"subAttributes\":"
    "[{\"name\":\"value\",\"type\":\"string\",\"multiValued\":false,\"description\":\"\",\"required\""
    ":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniquene"
    "ss\":\"none\"},{\"name\":\"type\",\"type\":\"string\",\"multiValued\":false,\"description\":\"\","
    "\"required\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\""
    ",\"uniqueness\":\"none\"},{\"name\":\"primary\",\"type\":\"boolean\",\"multiValued\":false,\"de"
    "scription\":\"\",\"required\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"retur"
    "ned\":\"default\",\"uniqueness\":\"none\"}]},{\"name\":\"active\",\"type\":\"boolean\",\"multiVa"
    "lued\":false,\"description\":\"false withdraws the person from every programme that "
    "is not CLOSED (reason \\\"deprovisioned\\\").\",\"required\":false,\"caseExact\":false,\"m"
    "utability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"title\""
    ",\"type\":\"string\",\"multiValued\":false,\"description\":\"\",\"required\":false,\"caseExac"
    "t\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"na"
    "me\":\"preferredLanguage\",\"type\":\"string\",\"multiValued\":false,\"description\":\"\",\"re"
    "quired\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"u"
    "niqueness\":\"none\"},{\"name\":\"timezone\",\"type\":\"string\",\"multiValued\":false,\"descr"
    "iption\":\"An IANA time-zone name.\",\"required\":false,\"caseExact\":false,\"mutability"
    "\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"}],\"meta\":{\"resourceType\":"
    "\"Schema\",\"location\":\"/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"
    "\"}},{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Schema\"],\"id\":\"urn:ietf:p"
    "arams:scim:schemas:extension:enterprise:2.0:User\",\"name\":\"EnterpriseUser\",\"descr"
    "iption\":\"Enterprise User\",\"attributes\":[{\"name\":\"employeeNumber\",\"type\":\"string\""
    ",\"multiValued\":false,\"description\":\"\",\"required\":false,\"caseExact\":false,\"mutabi"
    "lity\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"department\""
    ",\"type\":\"string\",\"multiValued\":false,\"description\":\"Becomes the participants' de"
    "partment.\",\"required\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned"
    "\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"organization\",\"type\":\"string\",\"multiVa"
    "lued\":false,\"description\":\"\",\"required\":false,\"caseExact\":false,\"mutability\":\"re"
    "adWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"division\",\"type\":\"st"
    "ring\",\"multiValued\":false,\"description\":\"\",\"required\":false,\"caseExact\":false,\"m"
    "utability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"manage"
    "r\",\"type\":\"complex\",\"multiValued\":false,\"description\":\"Manager links make the pa"
    "rticipants' reporting_chain; a link that would close a cycle is refused.\",\"requi"
    "red\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniq"
    "ueness\":\"none\",\"subAttributes\":[{\"name\":\"value\",\"type\":\"string\",\"multiValued\":fa"
    "lse,\"description\":\"The id of the manager's User.\",\"required\":false,\"caseExact\":f"
    "alse,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":"
    "\"$ref\",\"type\":\"reference\",\"multiValued\":false,\"description\":\"\",\"required\":false,"
    "\"caseExact\":false,\"mutability\":\"readOnly\",\"returned\":\"default\",\"uniqueness\":\"non"
    "e\"},{\"name\":\"displayName\",\"type\":\"string\",\"multiValued\":false,\"description\":\"\",\""
    "required\":false,\"caseExact\":false,\"mutability\":\"readOnly\",\"returned\":\"default\",\""
    "uniqueness\":\"none\"}]}],\"meta\":{\"resourceType\":\"Schema\",\"location\":\"/scim/v2/Sche"
    "mas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"}},{\"schemas\":[\"u"
    "rn:ietf:params:scim:schemas:core:2.0:Schema\"],\"id\":\"urn:tandem:params:scim:schem"
    "as:extension:2.0:Person\",\"name\":\"TandemPerson\",\"description\":\"What Tandem's matc"
    "hing uses of a person\",\"attributes\":[{\"name\":\"seniorityLevel\",\"type\":\"integer\",\""
    "multiValued\":false,\"description\":\"0 (trainee) to 10 (senior partner); becomes th"
    "e participants' seniority_level.\",\"required\":false,\"caseExact\":false,\"mutability"
    "\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"practiceArea\",\""
    "type\":\"string\",\"multiValued\":false,\"description\":\"Becomes the participants' prac"
    "tice_area.\",\"required\":false,\"caseExact\":false,\"mutability\":\"readWrite\",\"returne"
    "d\":\"default\",\"uniqueness\":\"none\"},{\"name\":\"office\",\"type\":\"string\",\"multiValued\""
    ":false,\"description\":\"Becomes the participants' office.\",\"required\":false,\"caseE"
    "xact\":false,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"},{"
    "\"name\":\"yearsQualified\",\"type\":\"integer\",\"multiValued\":false,\"description\":\"0 to"
    " 70; becomes the participants' years_qualified.\",\"required\":false,\"caseExact\":fa"
    "lse,\"mutability\":\"readWrite\",\"returned\":\"default\",\"uniqueness\":\"none\"}],\"meta\":{"
    "\"resourceType\":\"Schema\",\"location\":\"/scim/v2/Schemas/urn:tandem:params:scim:sche"
    "mas:extension:2.0:Person\"}}]}";

/* clang-format on */

const char *scim_service_provider_config(void)
{
    return SPC;
}

const char *scim_resource_types(const char *name)
{
    if (name == NULL)
        return RESOURCE_TYPES;
    return strcmp(name, "User") == 0 ? RESOURCE_TYPE_USER : NULL;
}

const char *scim_schemas(const char *urn)
{
    static const struct {
        const char *urn;
        const char *doc;
    } ONE[] = {
        {"urn:ietf:params:scim:schemas:core:2.0:User", SCHEMA_USER},
        {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", SCHEMA_ENTERPRISE},
        {"urn:tandem:params:scim:schemas:extension:2.0:Person", SCHEMA_TANDEM},
    };
    if (urn == NULL)
        return SCHEMAS;
    for (size_t i = 0; i < sizeof(ONE) / sizeof(ONE[0]); i++) {
        if (strcasecmp(urn, ONE[i].urn) == 0)
            return ONE[i].doc;
    }
    return NULL;
}
