/* CIFAR-10 / CIFAR-100 binary batches: fixed-size records, label byte(s)
 * then 1024 R, 1024 G, 1024 B bytes (32x32, row-major). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "internal.h"

#define CIFAR_PIX 3072

const char *const cl_cifar10_names[10] = {"airplane", "automobile", "bird", "cat",
                                          "deer",     "dog",        "frog", "horse",
                                          "ship",     "truck"};

cl_status cl_cifar_check(const char *path, const unsigned char *buf, size_t len,
                         int record, int label_off, int k, int64_t *n, int64_t *hist)
{
    if (len == 0)
        return cl_error(CL_EFORMAT, "%s: empty file (no %d-byte records)", path, record);
    if (len % (size_t)record)
        return cl_error(
            CL_EFORMAT,
            "%s: truncated: %zu bytes is not a whole number of %d-byte records "
            "(%zu records + %zu bytes)",
            path, len, record, len / (size_t)record, len % (size_t)record);
    int64_t cnt = (int64_t)(len / (size_t)record);
    for (int64_t i = 0; i < cnt; i++) {
        int l = buf[(size_t)i * (size_t)record + (size_t)label_off];
        if (l >= k)
            return cl_error(CL_EFORMAT,
                            "%s: label %d of record %lld is out of range [0, %d)", path,
                            l, (long long)i, k);
        if (hist) hist[l]++;
    }
    *n = cnt;
    return CL_OK;
}

/* Reads class names, one per non-empty line, into d->class_names; missing
 * file = keep the defaults. */
static cl_status read_names(const char *path, cl_dataset *d, int k)
{
    FILE *f = fopen(path, "r");
    if (!f) return CL_OK;
    char line[256];
    int c = 0;
    while (c < k && fgets(line, sizeof line, f)) {
        size_t l = strcspn(line, "\r\n");
        line[l] = 0;
        if (!l) continue;
        snprintf(d->class_names[c++], sizeof d->class_names[0], "%.31s", line);
    }
    int err = ferror(f);
    fclose(f);
    if (err) return cl_error(CL_EIO, "%s: read failed", path);
    return CL_OK;
}

/* Loads nfiles batch files (resolved: .bin or .bin.gz) into out. */
static cl_status load_batches(const char *dir, const char *const *files, int nfiles,
                              int record, int label_off, int k, cl_dataset *out)
{
    unsigned char *bufs[8] = {0};
    size_t lens[8] = {0};
    int64_t counts[8] = {0};
    char paths[8][CL_DATA_PATH];
    int64_t n = 0;
    cl_status st = CL_OK;
    CL_ASSERT(nfiles <= 8);
    for (int i = 0; i < nfiles; i++) {
        char p[CL_DATA_PATH];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, files[i]) >= sizeof p) {
            st = cl_error(CL_EINVAL, "%s: path too long", dir);
            goto fail;
        }
        if ((st = cl_data_resolve(p, paths[i], sizeof paths[i])) != CL_OK) goto fail;
    }
    /* inflate the batches in parallel; errors are thread-local, so keep each
     * file's message and report the first failing file's */
    cl_status fst[8] = {CL_OK};
    char fmsg[8][256];
#pragma omp parallel for schedule(dynamic, 1) if (nfiles > 1)
    for (int i = 0; i < nfiles; i++) {
        fst[i] = cl_data_slurp(paths[i], &bufs[i], &lens[i]);
        if (fst[i] == CL_OK)
            fst[i] = cl_cifar_check(paths[i], bufs[i], lens[i], record, label_off, k,
                                    &counts[i], NULL);
        if (fst[i] != CL_OK) snprintf(fmsg[i], sizeof fmsg[i], "%s", cl_errmsg());
    }
    for (int i = 0; i < nfiles; i++) {
        if (fst[i] != CL_OK) {
            st = cl_error(fst[i], "%s", fmsg[i]);
            goto fail;
        }
        n += counts[i];
    }
    cl_shape shape = {3, 32, 32};
    if ((st = cl_data_alloc(out, n, shape)) != CL_OK) goto fail;
    out->classes = k;
    float t[256];
    cl_data_u8_table(t);
    int64_t first = 0;
    for (int i = 0; i < nfiles; i++) {
        const unsigned char *b = bufs[i];
        float *xs = out->x + (size_t)first * CIFAR_PIX;
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < counts[i]; r++) {
            const unsigned char *rec = b + (size_t)r * (size_t)record;
            const unsigned char *px = rec + (record - CIFAR_PIX);
            float *x = xs + (size_t)r * CIFAR_PIX;
            for (int q = 0; q < CIFAR_PIX; q++)
                x[q] = t[px[q]];
            out->y[first + r] = out->y_true[first + r] = rec[label_off];
        }
        first += counts[i];
        cl_free(bufs[i]);
        bufs[i] = NULL;
    }
fail:
    for (int i = 0; i < nfiles; i++)
        cl_free(bufs[i]);
    return st;
}

cl_status cl_data_load_cifar10(const char *dir, int train, cl_dataset *out)
{
    static const char *const trainf[5] = {"data_batch_1.bin", "data_batch_2.bin",
                                          "data_batch_3.bin", "data_batch_4.bin",
                                          "data_batch_5.bin"};
    static const char *const testf[1] = {"test_batch.bin"};
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "cifar10");
    for (int c = 0; c < 10; c++)
        snprintf(out->class_names[c], sizeof out->class_names[c], "%s",
                 cl_cifar10_names[c]);
    cl_status st =
        load_batches(dir, train ? trainf : testf, train ? 5 : 1, 3073, 0, 10, out);
    if (st == CL_OK) {
        char p[CL_DATA_PATH];
        snprintf(p, sizeof p, "%s/batches.meta.txt", dir);
        st = read_names(p, out, 10);
    }
    if (st != CL_OK) cl_dataset_free(out);
    return st;
}

cl_status cl_data_load_cifar100(const char *dir, int train, int fine, cl_dataset *out)
{
    const char *f[1] = {train ? "train.bin" : "test.bin"};
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "cifar100");
    int k = fine ? 100 : 20;
    for (int c = 0; c < k; c++)
        snprintf(out->class_names[c], sizeof out->class_names[c], "%d", c);
    cl_status st = load_batches(dir, f, 1, 3074, fine ? 1 : 0, k, out);
    if (st == CL_OK) {
        char p[CL_DATA_PATH];
        snprintf(p, sizeof p, "%s/%s", dir,
                 fine ? "fine_label_names.txt" : "coarse_label_names.txt");
        st = read_names(p, out, k);
    }
    if (st != CL_OK) cl_dataset_free(out);
    return st;
}
