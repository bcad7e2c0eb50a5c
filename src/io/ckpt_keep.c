/* Kept checkpoints (ckpt.h): DIR/epoch-EEEE folders next to the two slots,
 * and the list of every complete checkpoint of a run, oldest first. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/ckpt.h"
#include "collapse/mem.h"

void cl_ckpt_kept_dir(const char *dir, int epoch, char *out, size_t cap)
{
    snprintf(out, cap, "%s/epoch-%04d", dir, epoch);
}

/* 1 if name is "epoch-" followed by digits only. */
static int kept_name(const char *name)
{
    if (strncmp(name, "epoch-", 6) || !name[6]) return 0;
    for (const char *p = name + 6; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

/* Appends path when it holds a marker and its files pass their checksums;
 * a corrupt one is noted in skipped (the first only). */
static cl_status add(cl_ckpt_entry **v, int *n, int *cap, const char *path, char *skipped,
                     size_t scap)
{
    int64_t step;
    if (!cl_ckpt_marker(path, &step)) return CL_OK; /* never completed (or a kill mid-keep) */
    cl_ckpt_found f;
    if (cl_ckpt_find(path, &f) != CL_OK || f.index != -1) {
        if (!skipped[0]) snprintf(skipped, scap, "%s", cl_errmsg());
        return CL_OK;
    }
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 8;
        cl_ckpt_entry *w = cl_realloc(*v, (size_t)*cap * sizeof **v, (size_t)nc * sizeof **v,
                                      "checkpoint list");
        if (!w) return CL_ENOMEM;
        *v = w;
        *cap = nc;
    }
    snprintf((*v)[*n].path, sizeof (*v)[*n].path, "%s", path);
    (*v)[*n].step = f.step;
    (*n)++;
    return CL_OK;
}

static int by_step(const void *a, const void *b)
{
    const cl_ckpt_entry *x = a, *y = b;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    /* the same step: a kept folder before a slot (the slot is then dropped) */
    int kx = strstr(x->path, "/epoch-") != NULL, ky = strstr(y->path, "/epoch-") != NULL;
    if (kx != ky) return ky - kx;
    return strcmp(x->path, y->path);
}

cl_status cl_ckpt_list(const char *dir, cl_ckpt_entry **out, int *n, char *skipped,
                       size_t cap)
{
    *out = NULL;
    *n = 0;
    if (cap) skipped[0] = 0;
    DIR *d = opendir(dir);
    if (!d) return cl_error(CL_EIO, "%s: cannot read the checkpoint folder", dir);
    cl_ckpt_entry *v = NULL;
    int nv = 0, vcap = 0;
    cl_status st = CL_OK;
    char path[CL_CKPT_PATHMAX];
    struct dirent *e;
    while (st == CL_OK && (e = readdir(d))) {
        if (!kept_name(e->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        st = add(&v, &nv, &vcap, path, skipped, cap);
    }
    closedir(d);
    for (int s = 0; st == CL_OK && s < CL_CKPT_NSLOTS; s++) {
        cl_ckpt_slot_dir(dir, s, path, sizeof path);
        st = add(&v, &nv, &vcap, path, skipped, cap);
    }
    if (st != CL_OK) {
        cl_free(v);
        return st;
    }
    if (nv > 1) qsort(v, (size_t)nv, sizeof *v, by_step);
    int k = 0; /* drop the repeats of a step (kept first, so a slot goes) */
    for (int i = 0; i < nv; i++)
        if (!k || v[i].step != v[k - 1].step) v[k++] = v[i];
    *out = k ? v : NULL;
    if (!k) cl_free(v);
    *n = k;
    return CL_OK;
}
