/* Class subsets (--classes): a dataset restricted to a list of its classes,
 * relabelled 0..k-1 in the order of the list (transfer experiments: pretrain
 * on some classes, probe on the others; Galanti, Gyorgy & Hutter ICLR 2022). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/data.h"

const char *cl_data_class_item(const char *p, long *lo, long *hi)
{
    char *e;
    if (!isdigit((unsigned char)*p)) return NULL;
    *lo = *hi = strtol(p, &e, 10);
    if (*e == '-') {
        if (!isdigit((unsigned char)e[1])) return NULL;
        *hi = strtol(e + 1, &e, 10);
    }
    return *hi < *lo ? NULL : e;
}

cl_status cl_data_class_list(const char *flag, const char *s, int K, int *list, int *k)
{
    unsigned char seen[CL_DATA_MAX_CLASSES] = {0};
    const char *p = s;
    *k = 0;
    if (!*s) return cl_error(CL_EINVAL, "%s: empty class list", flag);
    for (;;) {
        long lo, hi;
        const char *e = cl_data_class_item(p, &lo, &hi);
        if (!e) goto bad;
        for (long c = lo; c <= hi; c++) {
            if (c >= CL_DATA_MAX_CLASSES || (K > 0 && c >= K))
                return cl_error(CL_EINVAL, "%s %s: class %ld is out of range (K = %d classes)",
                                flag, s, c, K > 0 ? K : CL_DATA_MAX_CLASSES);
            if (seen[c])
                return cl_error(CL_EINVAL, "%s %s: class %ld is listed twice", flag, s, c);
            seen[c] = 1;
            list[(*k)++] = (int)c;
        }
        if (*e == 0) break;
        if (*e != ',') goto bad;
        p = e + 1;
    }
    if (*k < 2)
        return cl_error(CL_EINVAL, "%s %s: need at least 2 classes (got %d)", flag, s, *k);
    return CL_OK;
bad:
    return cl_error(CL_EINVAL,
                    "%s %s: need a class list such as 0-4, 0,3,7 or 5-9,0 (ranges and "
                    "single class indices)",
                    flag, s);
}

static int khot_remap(cl_dataset *d, int64_t i, int64_t m, const int *map, int k);

cl_status cl_data_select_classes(cl_dataset *d, const int *list, int k)
{
    int map[CL_DATA_MAX_CLASSES];
    if (k < 2 || k > d->classes)
        return cl_error(CL_EINVAL, "--classes: need 2 to %d classes of %s (got %d)",
                        d->classes, d->name, k);
    for (int c = 0; c < CL_DATA_MAX_CLASSES; c++) map[c] = -1;
    for (int j = 0; j < k; j++) {
        if (list[j] < 0 || list[j] >= d->classes)
            return cl_error(CL_EINVAL, "--classes: class %d is out of range for %s (K = %d)",
                            list[j], d->name, d->classes);
        if (map[list[j]] >= 0)
            return cl_error(CL_EINVAL, "--classes: class %d is listed twice", list[j]);
        map[list[j]] = j;
    }
    /* a sample belongs to the class of its (source) label y: before any
     * random labels, y == y_true */
    const int64_t dim = cl_shape_size(d->shape);
    int64_t m = 0;
    for (int64_t i = 0; i < d->n; i++) {
        int c = d->yk ? khot_remap(d, i, m, map, k) : map[d->y[i]];
        if (c < 0) continue;
        if (m != i) {
            memmove(d->x + m * dim, d->x + i * dim, sizeof(float) * (size_t)dim);
            if (d->t)
                memmove(d->t + m * d->tdim, d->t + i * d->tdim, sizeof(float) * (size_t)d->tdim);
            d->index[m] = d->index[i];
        }
        d->y[m] = c;
        d->y_true[m] = d->yk ? c : d->y_true[i] >= 0 && map[d->y_true[i]] >= 0 ? map[d->y_true[i]] : c;
        m++;
    }
    if (m == 0)
        return cl_error(CL_EINVAL, "--classes: %s has no sample of the listed classes", d->name);
    char names[CL_DATA_MAX_CLASSES][32];
    for (int j = 0; j < k; j++) snprintf(names[j], sizeof names[j], "%s", d->class_names[list[j]]);
    memset(d->class_names, 0, sizeof d->class_names);
    for (int j = 0; j < k; j++) memcpy(d->class_names[j], names[j], sizeof names[j]);
    d->n = m;
    d->classes = k;
    return CL_OK;
}

/* Multi-label data: sample i is kept when every label of its set is listed;
 * its K-hot row becomes row m of the k listed columns (rows shrink in place:
 * m <= i and k <= classes, so row m never overwrites an unread row). Returns
 * the lowest new label of the set (the sample's y), or -1 to drop it. */
static int khot_remap(cl_dataset *d, int64_t i, int64_t m, const int *map, int k)
{
    uint8_t row[CL_DATA_MAX_CLASSES] = {0};
    const uint8_t *src = d->yk + i * d->classes;
    int low = k;
    for (int c = 0; c < d->classes; c++) {
        if (!src[c]) continue;
        if (map[c] < 0) return -1;
        row[map[c]] = 1;
        if (map[c] < low) low = map[c];
    }
    memcpy(d->yk + m * k, row, (size_t)k);
    return low < k ? low : -1;
}
