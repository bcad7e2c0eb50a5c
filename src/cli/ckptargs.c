/* The flag loop of eval and features. */
#include <string.h>

#include "ckptargs.h"
#include "cli.h"
#include "opts.h"

/* One argument (advancing *i past a value): 1 if taken, 0 if unknown,
 * -1 after printing an error. */
static int one_flag(int argc, char **argv, int *i, cl_cli_ckpt_args *a)
{
    const char *v = NULL;
    int r;
    if ((r = cl_cli_data_flag(argc, argv, i, &a->data)) != 0) return r;
    if ((r = cl_opt_value(argc, argv, i, "--split", &v)) != 0) {
        if (r > 0) a->split = v;
        return r;
    }
    if ((r = cl_opt_value(argc, argv, i, "--batch", &v)) != 0)
        return r < 0 || !cl_opt_int("--batch", v, 1, 1 << 20, &a->batch) ? -1 : 1;
    if ((r = cl_opt_value(argc, argv, i, "--threads", &v)) != 0)
        return r < 0 || !cl_opt_int("--threads", v, 1, 1024, &a->threads) ? -1 : 1;
    for (int k = 0; k < a->nextra; k++)
        if ((r = cl_opt_value(argc, argv, i, a->extra[k].flag, &v)) != 0) {
            if (r > 0) *a->extra[k].val = v;
            return r;
        }
    return 0;
}

int cl_cli_ckpt_args_parse(int argc, char **argv, cl_cli_ckpt_args *a)
{
    cl_cli_data_init(&a->data);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            a->usage(stdout);
            return -1;
        }
        int r = one_flag(argc, argv, &i, a);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (argv[i][0] == '-')
            return cl_cli_fail(2, "%s: unknown option '%s' (try collapse %s --help)", a->cmd,
                               argv[i], a->cmd);
        if (a->ckpt)
            return cl_cli_fail(2, "%s: unexpected argument '%s' (one checkpoint only)",
                               a->cmd, argv[i]);
        a->ckpt = argv[i];
    }
    if (!a->ckpt)
        return cl_cli_fail(2, "%s: give a checkpoint or results folder (try --help)",
                           a->cmd);
    return 0;
}

int cl_cli_ckpt_args_data(cl_cli_ckpt_args *a)
{
    if (!(a->data.set & CL_CLI_D_DATA) && cl_cli_data_from_run(a->ckpt, &a->data)) return 1;
    return cl_cli_data_check(&a->data) ? 2 : 0;
}
