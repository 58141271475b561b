/*
 * priced.c - large programmes: sparse candidates, exact solve, pricing loop.
 */
#include "engine.h"

#include <string.h>

tdm_assign_status tdm_assign_solve_priced(const tdm_assign_pricing *pr, const tdm_assign_options *o,
                                          tdm_assign_result *r)
{
    (void)pr;
    (void)o;
    memset(r, 0, sizeof *r);
    return TDM_ASSIGN_E_UNSUPPORTED;
}
