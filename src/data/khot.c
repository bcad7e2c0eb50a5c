/* Multi-label data: K-hot label rows (cl_dataset.yk), their label sets, and
 * the per-label-set subset that --train-per-class / --test-per-class use on
 * multi-label data. Single-label code keeps working on such data because
 * y[i] is the lowest label of row i. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "internal.h"

int cl_data_label_count(const cl_dataset *d, int64_t i)
{
    CL_ASSERT(i >= 0 && i < d->n);
    if (!d->yk) return 1;
    const uint8_t *r = d->yk + (size_t)i * (size_t)d->classes;
    int m = 0;
    for (int k = 0; k < d->classes; k++)
        m += r[k] != 0;
    return m;
}

cl_status cl_data_set_khot(cl_dataset *d, const uint8_t *yk, int64_t n, int K,
                           const char *what)
{
    if (n != d->n)
        return cl_error(CL_EINVAL, "%s: %lld label rows, but the split has %lld samples", what,
                        (long long)n, (long long)d->n);
    if (K != d->classes)
        return cl_error(CL_EINVAL, "%s: %d label columns, but the split has %d classes", what,
                        K, d->classes);
    for (int64_t i = 0; i < n; i++) {
        int ones = 0;
        for (int k = 0; k < K; k++) {
            uint8_t v = yk[(size_t)i * K + k];
            if (v > 1)
                return cl_error(CL_EINVAL, "%s: row %lld has the value %d (K-hot rows hold 0 or 1)",
                                what, (long long)i, v);
            ones += v;
        }
        if (!ones) return cl_error(CL_EINVAL, "%s: row %lld has no label", what, (long long)i);
    }
    uint8_t *c = cl_alloc_array((size_t)n, (size_t)K, "K-hot labels");
    if (!c) return CL_ENOMEM;
    memcpy(c, yk, (size_t)n * (size_t)K);
    cl_free(d->yk);
    d->yk = c;
    for (int64_t i = 0; i < n; i++) {
        int k = 0;
        while (!c[(size_t)i * K + k])
            k++;
        d->y[i] = d->y_true[i] = k;
    }
    return CL_OK;
}

/* A row as a 128-bit mask, its size, and where it came from. */
typedef struct {
    uint64_t m[2];
    int32_t size;
    int32_t row;
} set_key;

/* By size, then by the sorted label lists: at the lowest label where two
 * equal-sized rows differ, the row holding it comes first. Ties by row. */
static int cmp_key(const void *pa, const void *pb)
{
    const set_key *a = pa, *b = pb;
    if (a->size != b->size) return a->size < b->size ? -1 : 1;
    for (int w = 0; w < 2; w++) {
        uint64_t x = a->m[w] ^ b->m[w];
        if (x) return (a->m[w] & (x & -x)) ? -1 : 1;
    }
    return (a->row > b->row) - (a->row < b->row);
}

cl_status cl_data_label_sets(const uint8_t *yk, int64_t n, int K, int32_t *set,
                             int64_t *nsets, int64_t *first)
{
    CL_ASSERT(K >= 1 && K <= 128 && n >= 0 && n <= INT32_MAX);
    *nsets = 0;
    if (n == 0) return CL_OK;
    set_key *key = cl_alloc_array((size_t)n, sizeof *key, "label sets");
    if (!key) return CL_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        set_key *e = &key[i];
        memset(e, 0, sizeof *e);
        e->row = (int32_t)i;
        for (int k = 0; k < K; k++)
            if (yk[(size_t)i * K + k]) {
                e->m[k >> 6] |= (uint64_t)1 << (k & 63);
                e->size++;
            }
    }
    qsort(key, (size_t)n, sizeof *key, cmp_key);
    int64_t s = -1;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || key[i].m[0] != key[i - 1].m[0] || key[i].m[1] != key[i - 1].m[1]) {
            s++;
            if (first) first[s] = key[i].row; /* rows ascend within a set */
        }
        set[key[i].row] = (int32_t)s;
    }
    *nsets = s + 1;
    cl_free(key);
    return CL_OK;
}

void cl_data_label_set_name(const cl_dataset *d, int64_t i, char *buf, int cap)
{
    int len = snprintf(buf, (size_t)cap, "{");
    if (!d->yk) {
        snprintf(buf, (size_t)cap, "{%d}", (int)d->y[i]);
        return;
    }
    int sep = 0;
    for (int k = 0; k < d->classes && len < cap; k++)
        if (d->yk[(size_t)i * d->classes + k]) {
            len += snprintf(buf + len, (size_t)(cap - len), sep ? ",%d" : "%d", k);
            sep = 1;
        }
    if (len < cap) snprintf(buf + len, (size_t)(cap - len), "}");
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

cl_status cl_data_subset_sets(cl_dataset *d, int64_t per, cl_rng *rng, const char *which)
{
    if (d->n > INT32_MAX)
        return cl_error(CL_EINVAL, "%s: too many samples for a subset", d->name);
    cl_status st = CL_ENOMEM;
    int64_t nsets = 0, m = 0, hmax = 0;
    int32_t *set = cl_alloc_array((size_t)d->n, sizeof(int32_t), "label sets");
    int32_t *perm = cl_alloc_array((size_t)d->n, sizeof(int32_t), "subset permutation");
    int64_t *first = cl_alloc_array((size_t)d->n, sizeof(int64_t), "label sets");
    int64_t *have = cl_alloc_array((size_t)d->n, 2 * sizeof(int64_t), "label sets");
    if (!set || !perm || !first || !have) goto done;
    if ((st = cl_data_label_sets(d->yk, d->n, d->classes, set, &nsets, first)) != CL_OK)
        goto done;
    int64_t *quota = have + nsets;
    memset(have, 0, 2 * (size_t)nsets * sizeof(int64_t));
    for (int64_t i = 0; i < d->n; i++)
        have[set[i]]++;
    for (int64_t s = 0; s < nsets; s++)
        if (have[s] > hmax) hmax = have[s];
    if (hmax < per) {
        char nm[64];
        int64_t s = 0;
        while (have[s] != hmax)
            s++;
        cl_data_label_set_name(d, first[s], nm, sizeof nm);
        st = cl_error(CL_EINVAL,
                      "%s: the largest label set %s has %lld %s samples, fewer than the %lld "
                      "per class asked for",
                      d->name, nm, (long long)hmax, which, (long long)per);
        goto done;
    }
    /* the largest sets keep `per`, the others the same fraction, at least 1 */
    for (int64_t s = 0; s < nsets; s++) {
        int64_t q = (int64_t)((double)have[s] * (double)per / (double)hmax + 0.5);
        quota[s] = q < 1 ? 1 : q > have[s] ? have[s] : q;
    }
    for (int64_t i = 0; i < d->n; i++)
        perm[i] = (int32_t)i;
    cl_rng_shuffle_i32(rng, perm, d->n);
    for (int64_t i = 0; i < d->n; i++) {
        int32_t s = set[perm[i]];
        if (quota[s] > 0) {
            quota[s]--;
            perm[m++] = perm[i];
        }
    }
    qsort(perm, (size_t)m, sizeof(int32_t), cmp_i32);
    st = cl_data_take_rows(d, perm, m);
done:
    cl_free(set);
    cl_free(perm);
    cl_free(first);
    cl_free(have);
    return st;
}
