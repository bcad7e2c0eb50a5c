/* The CLI's subcommands. Each lives in its own file src/cli/cmd_<name>.c,
 * parses its own flags and returns the process exit status:
 * 0 success, 1 runtime failure (bad file, numerical error), 2 usage error. */
#ifndef COLLAPSE_CLI_H
#define COLLAPSE_CLI_H

int cl_cmd_data(int argc, char **argv);
int cl_cmd_data_make(int argc, char **argv); /* data make (cmd_data_make.c) */
int cl_cmd_analyze(int argc, char **argv);
/* Regression mode of analyze (--targets given): analyze_reg.c. */
int cl_cmd_analyze_reg(int argc, char **argv);
int cl_cmd_train(int argc, char **argv);
int cl_cmd_eval(int argc, char **argv);
int cl_cmd_features(int argc, char **argv);
int cl_cmd_plot(int argc, char **argv);
int cl_cmd_ufm(int argc, char **argv);
/* collapse analyze --thresholds (analyze_onc.c): ordinal collapse keys. */
int cl_cmd_analyze_onc(int argc, char **argv);
/* collapse analyze with --labels of shape [N, K] (analyze_mlab.c): the NC
 * keys of the single-label rows and the multi-label (mlab) keys.
 * cl_cli_khot_labels: 1 if argv's --labels file reads as [N, K > 1]. */
int cl_cmd_analyze_mlab(int argc, char **argv);
int cl_cli_khot_labels(int argc, char **argv);
/* collapse probe (cmd_probe.c): transfer measures of a run on new classes. */
int cl_cmd_probe(int argc, char **argv);

/* Prints "collapse: <msg>" to stderr and returns `code`. */
int cl_cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The process group (comm.h), created once by main: one process in the
 * plain build and under the MPI build without mpirun. Ranks other than 0
 * have stdout and stderr on /dev/null: rank 0 alone prints. */
typedef struct cl_comm cl_comm;
cl_comm *cl_cli_comm(void);
/* Collective over the group: rc is this rank's exit status so far (0 = fine).
 * Returns 0 if every rank passed 0, else the status of the lowest failing
 * rank, whose last cl_cli_fail line rank 0 prints ("rank R: ..."). After it
 * every rank stops together (main then ends without MPI_Abort). */
int cl_cli_agree(int rc);

#endif
