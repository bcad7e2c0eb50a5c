/* Progress bar and epoch lines. */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "collapse/sys.h"
#include "progress.h"


void cl_cli_progress_init(cl_cli_progress *p)
{
    p->tty = isatty(STDERR_FILENO);
    p->drawn = 0;
    p->last = 0;
    p->study = NULL;
}

void cl_cli_format_duration(double s, char *buf, int cap)
{
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, (size_t)cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, (size_t)cap, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, (size_t)cap, "%lds", t);
}

void cl_cli_progress_update(const cl_epoch_info *info, void *user)
{
    cl_cli_progress *p = user;
    if (!p->tty) return;
    double t = cl_clock_seconds();
    if (t - p->last < 0.1 && info->batch_index < info->batches) return;
    p->last = t;
    enum { W = 24 };
    int fill = info->batches > 0 ? (int)((long)W * info->batch_index / info->batches) : 0;
    char bar[W + 1], eta[32];
    for (int i = 0; i < W; i++)
        bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[W] = 0;
    cl_cli_format_duration(info->eta_seconds, eta, sizeof eta);
    fprintf(stderr,
            "\r\033[Kepoch %d/%d [%s] %d/%d  loss %.4f  acc %.2f%%  %.0f img/s  ETA %s",
            info->epoch, info->epochs, bar, info->batch_index, info->batches,
            info->run_loss, 100 * info->run_acc, info->img_per_s, eta);
    fflush(stderr);
    p->drawn = 1;
}

void cl_cli_progress_clear(cl_cli_progress *p)
{
    if (!p->drawn) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->drawn = 0;
}

static void pair(const char *what, double loss, double acc)
{
    if (isnan(loss))
        printf("  %s -", what);
    else
        printf("  %s %.4f/%.2f%%", what, loss, 100 * acc);
}

cl_status cl_cli_progress_epoch(const cl_epoch_info *info, void *user)
{
    cl_cli_progress_clear(user);
    char t[32];
    cl_cli_format_duration(info->seconds, t, sizeof t);
    printf("epoch %3d/%d  lr %.4g  run %.4f/%.2f%%", info->epoch, info->epochs, info->lr,
           info->run_loss, 100 * info->run_acc);
    cl_cli_progress *p = user;
    double v[4] = {info->train_loss, info->train_acc, info->test_loss, info->test_acc};
    if (p->study && isnan(v[0])) cl_study_eval_values(p->study, info->epoch, v);
    pair("train", v[0], v[1]);
    pair("test", v[2], v[3]);
    if (info->train && info->train->yk) { /* multi-label: exact-set acc above, macro-F1 here */
        double f[2] = {info->train_f1, info->test_f1};
        if (p->study && isnan(f[0])) cl_study_eval_f1(p->study, info->epoch, f);
        printf("  F1 %.4f/%.4f", f[0], f[1]);
    }
    printf("  %.0f img/s  %s\n", info->img_per_s, t);
    fflush(stdout);
    return CL_OK;
}
