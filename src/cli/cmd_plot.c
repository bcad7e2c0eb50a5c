/* collapse plot: redraws the figures of one or more results folders from
 * their metrics.csv / layers.csv, overlaying the runs. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "collapse/study.h"
#include "opts.h"

#define MAX_RUNS 10

static void usage(FILE *f)
{
    fprintf(f,
            "usage: collapse plot RUN [RUN...] [--out DIR]\n"
            "\n"
            "Draws nc1.png, nc2.png, nc3.png, nc4.png, accuracy.png and layers.png from the\n"
            "metrics.csv (required) and layers.csv (optional) of each results folder RUN,\n"
            "one line per run labelled with the folder's name (up to %d runs).\n"
            "  --out DIR   where the PNGs go (created if missing; default: RUN itself for\n"
            "              one run, ./plots for several)\n",
            MAX_RUNS);
}

int cl_cmd_plot(int argc, char **argv)
{
    const char *runs[MAX_RUNS];
    const char *out = NULL, *v;
    int nruns = 0;
    for (int i = 1; i < argc; i++) {
        int m;
        if (cl_opt_flag(argv, i, "--help") || cl_opt_flag(argv, i, "-h")) {
            usage(stdout);
            return 0;
        }
        if ((m = cl_opt_value(argc, argv, &i, "--out", &v)) != 0) {
            if (m < 0) return 2;
            out = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            usage(stderr);
            return cl_cli_fail(2, "plot: unknown flag '%s'", argv[i]);
        } else {
            if (nruns == MAX_RUNS) return cl_cli_fail(2, "plot: at most %d runs", MAX_RUNS);
            runs[nruns++] = argv[i];
        }
    }
    if (!nruns) {
        usage(stderr);
        return cl_cli_fail(2, "plot: no run folder given");
    }
    if (!out) out = nruns == 1 ? runs[0] : "plots";
    if (!cl_opt_mkdir_p("--out", out)) return 1;
    cl_status st = cl_study_plot_runs(runs, nruns, out);
    if (st != CL_OK) return cl_cli_fail(1, "plot: %s", cl_errmsg());
    printf("figures of %d run%s written to %s/ (nc1, nc2, nc3, nc4, accuracy, layers .png)\n",
           nruns, nruns > 1 ? "s" : "", out);
    return 0;
}
