/* Datasets by name, the data root, statistics (histogram, channel mean/std). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collapse/mem.h"
#include "internal.h"

void cl_dataset_free(cl_dataset *d)
{
    if (!d) return;
    cl_free(d->x);
    cl_free(d->y);
    cl_free(d->y_true);
    cl_free(d->index);
    cl_free(d->t);
    cl_free(d->yk);
    d->yk = NULL;
    d->t = NULL;
    d->tdim = 0;
    d->x = NULL;
    d->y = d->y_true = NULL;
    d->index = NULL;
    d->n = 0;
}

const char *cl_data_root(void)
{
    const char *e = getenv("COLLAPSE_DATA");
    return e && *e ? e : "data";
}

void cl_data_histogram(const cl_dataset *d, int64_t *counts)
{
    for (int c = 0; c < d->classes; c++)
        counts[c] = 0;
    for (int64_t i = 0; i < d->n; i++) {
        CL_ASSERT(d->y[i] >= 0 && d->y[i] < d->classes);
        counts[d->y[i]]++;
    }
}

void cl_data_channel_stats(const cl_dataset *d, double *mean, double *std)
{
    const int C = d->shape.c;
    const int64_t HW = (int64_t)d->shape.h * d->shape.w;
    for (int c = 0; c < C; c++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < d->n; i++) {
            const float *p = d->x + (i * C + c) * HW;
            double a = 0, a2 = 0; /* per-image partial sums keep the rounding small */
            for (int64_t q = 0; q < HW; q++) {
                a += p[q];
                a2 += (double)p[q] * p[q];
            }
            s += a;
            s2 += a2;
        }
        double cnt = (double)d->n * (double)HW;
        double m = cnt > 0 ? s / cnt : 0.0;
        double v = cnt > 0 ? s2 / cnt - m * m : 0.0;
        mean[c] = m;
        std[c] = v > 0 ? sqrt(v) : 0.0;
    }
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Does `dir` hold file `f` (raw or .gz)? */
static int dir_has(const char *dir, const char *f)
{
    char p[CL_DATA_PATH], q[CL_DATA_PATH];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, f) >= sizeof p) return 0;
    cl_status st = cl_data_resolve(p, q, sizeof q);
    cl_errclear();
    return st == CL_OK;
}

static const char *const fashion_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static cl_status load_idx_dir(const char *name, const char *dir, int train,
                              cl_dataset *out)
{
    char ip[CL_DATA_PATH], lp[CL_DATA_PATH], ir[CL_DATA_PATH], lr[CL_DATA_PATH];
    const char *pre = train ? "train" : "t10k";
    if ((size_t)snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte", dir, pre) >=
            sizeof ip ||
        (size_t)snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte", dir, pre) >= sizeof lp)
        return cl_error(CL_EINVAL, "%s: path too long", dir);
    CL_TRY(cl_data_resolve(ip, ir, sizeof ir));
    CL_TRY(cl_data_resolve(lp, lr, sizeof lr));
    cl_status st = cl_idx_load_k(ir, lr, 10, out);
    if (st != CL_OK) {
        cl_dataset_free(out);
        return st;
    }
    snprintf(out->name, sizeof out->name, "%.63s", name);
    if (!strcmp(name, "fashion"))
        for (int c = 0; c < 10; c++)
            snprintf(out->class_names[c], sizeof out->class_names[c], "%s",
                     fashion_names[c]);
    if (out->shape.h != 28 || out->shape.w != 28) {
        cl_status e = cl_error(CL_EFORMAT, "%s: %s images are %dx%d, not 28x28", ir, name,
                               out->shape.h, out->shape.w);
        cl_dataset_free(out);
        return e;
    }
    return CL_OK;
}

cl_status cl_data_load(const char *name, const char *dir, int train, cl_dataset *out)
{
    memset(out, 0, sizeof *out);
    if (dir && !*dir) dir = NULL; /* "" = the default search */
    const char *root = cl_data_root();
    char cand[4][CL_DATA_PATH];
    int nc = 0;
    const char *probe = NULL; /* a file the folder must hold */
    if (!strcmp(name, "mnist-pose")) return cl_data_load_pose(dir, train, out);
    if (!strcmp(name, "mlab-mnist")) return cl_data_load_mlab(dir, train, out);
    if (!strcmp(name, "mnist") || !strcmp(name, "fashion")) {
        probe = train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte";
        snprintf(cand[nc++], CL_DATA_PATH, "%s/%s", root, name);
        if (!strcmp(name, "fashion"))
            snprintf(cand[nc++], CL_DATA_PATH, "/usr/share/datasets/fashion-mnist");
    } else if (!strcmp(name, "cifar10")) {
        probe = train ? "data_batch_1.bin" : "test_batch.bin";
        snprintf(cand[nc++], CL_DATA_PATH, "%s/cifar10", root);
        snprintf(cand[nc++], CL_DATA_PATH, "../shared/data/cifar10");
        snprintf(cand[nc++], CL_DATA_PATH, "../../shared/data/cifar10");
    } else if (!strcmp(name, "cifar100")) {
        probe = train ? "train.bin" : "test.bin";
        snprintf(cand[nc++], CL_DATA_PATH, "%s/cifar100", root);
    } else {
        /* a PNG folder with train/ and test/ */
        const char *base = dir ? dir : name;
        char p[CL_DATA_PATH];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", base, train ? "train" : "test") >=
            sizeof p)
            return cl_error(CL_EINVAL, "%s: path too long", base);
        if (is_dir(base) && dir_has(base, "train-images-idx3-ubyte"))
            return cl_data_load_idxdir(base, train, out); /* as cl_data_save_idx writes */
        if (!is_dir(base))
            return cl_error(
                CL_EINVAL,
                "%s: unknown dataset (want mnist, fashion, cifar10, cifar100, "
                "mnist-pose, mlab-mnist, a PNG folder with train/ and test/ or a "
                "folder of IDX files)",
                base);
        if (!is_dir(p))
            return cl_error(
                CL_EIO, "%s: no such folder (a PNG dataset needs train/ and test/)", p);
        cl_status st = cl_data_load_pngdir(p, out);
        if (st == CL_OK) snprintf(out->name, sizeof out->name, "%.63s", base);
        return st;
    }
    const char *use = NULL;
    if (dir) {
        use = dir;
    } else {
        for (int i = 0; i < nc && !use; i++)
            if (dir_has(cand[i], probe)) use = cand[i];
        if (!use) {
            char tried[3 * CL_DATA_PATH] = "";
            for (int i = 0; i < nc; i++) {
                strncat(tried, i ? ", " : "", sizeof tried - strlen(tried) - 1);
                strncat(tried, cand[i], sizeof tried - strlen(tried) - 1);
            }
            return cl_error(
                CL_EIO,
                "%s: dataset not found (no %s[.gz] in %s); run `collapse data "
                "fetch %s` or set COLLAPSE_DATA",
                name, probe, tried, name);
        }
    }
    if (!strcmp(name, "cifar10")) return cl_data_load_cifar10(use, train, out);
    if (!strcmp(name, "cifar100")) return cl_data_load_cifar100(use, train, 1, out);
    return load_idx_dir(name, use, train, out);
}
