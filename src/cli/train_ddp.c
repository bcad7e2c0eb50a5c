/* The data-parallel lines of `collapse train` (issue 12): the rank-count
 * warning of a resume and the allreduce report after the run (rank 0
 * prints; the other ranks' stdout is /dev/null, main.c). */
#include <stdio.h>

#include "collapse/comm.h"
#include "collapse/json.h"
#include "train_opts.h"

void cl_cli_train_ranks_warning(const char *dir, int ranks)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cl_json_value *root = NULL;
    int64_t was = 1; /* a run without "ranks" ran in one process */
    if (cl_json_parse_file(path, &root) != CL_OK) return; /* setup has refused it already */
    if (!cl_json_as_i64(cl_json_get(root, "ranks"), &was)) was = 1;
    cl_json_value_free(root);
    if (was != ranks)
        printf("warning: the run used %lld ranks, now %d (same global batch): the result is "
               "no longer bit-exact with an uninterrupted run\n",
               (long long)was, ranks);
}

void cl_cli_train_ddp_report(const cl_train_result *res)
{
    if (res->ddp_ranks < 2 || res->ddp_steps < 1) return;
    double hidden = res->ddp_blocking_s > 0 ? 1 - res->ddp_tail_s / res->ddp_blocking_s : 0;
    if (hidden < 0) hidden = 0;
    double share = res->seconds > 0 ? res->ddp_blocking_s / res->seconds : 0;
    printf("ddp: %d ranks, %lld steps; gradient allreduce %.3f s if blocking (%.1f%% of the "
           "run); after backward the slowest rank waited %.3f s (%.0f%% hidden), rank 0 "
           "%.3f s (incl. waiting for slower ranks)\n",
           res->ddp_ranks, (long long)res->ddp_steps, res->ddp_blocking_s, 100 * share,
           res->ddp_tail_s, 100 * hidden, res->ddp_exposed_s);
}
