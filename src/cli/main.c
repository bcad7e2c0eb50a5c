/* collapse: the thin command-line program over libcollapse. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "collapse/blas.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} cl_command;

static const cl_command commands[] = {
    {"data", cl_cmd_data, "fetch and verify datasets (mnist, fashion, cifar10)"},
    {"train", cl_cmd_train, "train an MLP or ResNet, analysing collapse per epoch"},
    {"eval", cl_cmd_eval, "loss and accuracy of a checkpoint"},
    {"features", cl_cmd_features, "write a layer's features, labels, W, b as .npy"},
    {"analyze", cl_cmd_analyze, "collapse keys of .npy features: NC1-NC4, GNC, NRC, ONC"},
    {"plot", cl_cmd_plot, "draw the figures of one or more runs"},
    {"ufm", cl_cmd_ufm, "unconstrained-features model simulator with closed-form checks"},
    {"probe", cl_cmd_probe, "transfer: NC1, CDNV, few-shot NCC, linear probe on new classes"},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

int cl_cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("collapse: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: collapse COMMAND [options]   (collapse COMMAND --help for its options)\n\n"
               "commands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nglobal: --help, --version\n"
               "environment: COLLAPSE_BLAS_CORE=NAME|auto picks the OpenBLAS kernels\n"
               "  (default: the best this CPU supports, whatever OPENBLAS_CORETYPE says)\n");
}

int main(int argc, char **argv)
{
    cl_blas_ensure_core(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("collapse %s (git %s)\nOpenBLAS core %s, %s threading, %d threads\n",
               CL_VERSION, CL_GIT, cl_blas_core(), cl_blas_threading(),
               cl_blas_get_threads());
        return 0;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    return cl_cli_fail(2, "unknown command '%s' (try collapse --help)", argv[1]);
}
