/* collapse: the thin command-line program over libcollapse. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "collapse/blas.h"
#include "collapse/comm.h"
#include "collapse/isa.h"
#include "collapse/kernels_conv.h"

/* The process group and the last failure line of this process: set once
 * by main / by cl_cli_fail, read by cl_cli_agree and main's exit path. */
static cl_comm *g_comm;
static char g_last_fail[1024];

cl_comm *cl_cli_comm(void) { return g_comm; }

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
    va_start(ap, fmt); /* kept for cl_cli_agree and main's exit path */
    vsnprintf(g_last_fail, sizeof g_last_fail, fmt, ap);
    va_end(ap);
    return code;
}

int cl_cli_agree(int rc)
{
    if (cl_comm_size(g_comm) == 1) return rc;
    char msg[sizeof g_last_fail];
    snprintf(msg, sizeof msg, "%s", rc ? g_last_fail : "");
    int who = 0, code = cl_comm_agree_code(g_comm, rc, msg, (int64_t)sizeof msg, NULL, &who);
    if (code && who != cl_comm_rank(g_comm)) cl_cli_fail(code, "rank %d: %s", who, msg);
    return code;
}

/* Ranks other than 0 print nothing; their stderr is kept as *errfd for a
 * failure that the other ranks do not know of. */
static void quiet_rank(int *errfd)
{
    *errfd = -1;
    if (cl_comm_rank(g_comm) == 0) return;
    fflush(NULL);
    *errfd = dup(2);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, 1);
        dup2(null, 2);
        close(null);
    }
}

static int run(int argc, char **argv);

/* One process group per process. A rank that fails alone (the others may
 * wait in a collective) prints its line and ends the whole job. */
int main(int argc, char **argv)
{
    cl_blas_ensure_core(argv); /* may re-exec: before MPI starts */
    if (cl_comm_init(&g_comm, &argc, &argv) != CL_OK)
        return cl_cli_fail(1, "process group: %s", cl_errmsg());
    int errfd;
    quiet_rank(&errfd);
    int rc = run(argc, argv);
    if (rc && cl_comm_size(g_comm) > 1 && !cl_comm_stopping(g_comm)) {
        if (errfd >= 0)
            dprintf(errfd, "collapse: rank %d: %s\n", cl_comm_rank(g_comm), g_last_fail);
        cl_comm_abort(g_comm, rc);
    }
    if (errfd >= 0) close(errfd);
    cl_comm_finalize(g_comm);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: collapse COMMAND [options]   (collapse COMMAND --help for its options)\n\n"
               "commands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nglobal: --help, --version\n"
               "environment: COLLAPSE_BLAS_CORE=NAME|auto picks the OpenBLAS kernels\n"
               "  (default: the best this CPU supports, whatever OPENBLAS_CORETYPE says)\n"
               "  COLLAPSE_ISA=auto|avx512|avx2|generic picks the path of the hand-written\n"
               "  kernels (default: the best this CPU supports)\n"
               "  COLLAPSE_CONV=auto|winograd|gemm: Winograd F(4x4,3x3) for stride-1 3x3\n"
               "  convolutions by the measured rule (auto), wherever it applies, or never\n");
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("collapse %s (git %s)\nOpenBLAS core %s, %s threading, %d threads\n"
               "kernels: isa %s\n",
               CL_VERSION, CL_GIT, cl_blas_core(), cl_blas_threading(),
               cl_blas_get_threads(), cl_isa_name(cl_isa_current()));
        return 0;
    }
    if (cl_isa_check_env() != CL_OK || cl_conv_check_env() != CL_OK)
        return cl_cli_fail(2, "%s", cl_errmsg());
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    return cl_cli_fail(2, "unknown command '%s' (try collapse --help)", argv[1]);
}
