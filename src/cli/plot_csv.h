/* collapse plot --csv (plot_csv.c):
 *   collapse plot --csv FILE --y COL[:LABEL][,...] [--csv FILE2 --y ...]
 *                 --x COL --png OUT.png [--logx] [--logy] [--abs] [--xmin X]
 *                 [--title T] [--xlabel L] [--ylabel L] [--legend POS] */
#ifndef COLLAPSE_CLI_PLOT_CSV_H
#define COLLAPSE_CLI_PLOT_CSV_H

/* 1 if arg is one of the flags of the --csv mode (--csv, --x, --y, --png,
 * --title, --xlabel, --ylabel, --xmin, --legend, --logx, --logy, --abs). */
int cl_cli_plot_csv_flag(const char *arg);

/* The whole --csv command line (argv[0] = "plot"): returns the exit status
 * (0, 1 on bad input, 2 on usage) after printing. */
int cl_cli_plot_csv(int argc, char **argv);

#endif
