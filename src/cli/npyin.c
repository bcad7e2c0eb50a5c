/* The .npy inputs of `collapse analyze` (npyin.h). */
#include <math.h>

#include "cli.h"
#include "collapse/npy.h"
#include "npyin.h"
#include "opts.h"

int cl_cli_check_finite(const char *flag, const char *path, const float *v, int64_t n,
                        int64_t cols)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return cl_cli_fail(1, "%s %s: non-finite value %g at index [%lld, %lld] (element "
                                  "%lld); refusing to analyze it",
                               flag, path, (double)v[i], (long long)(i / cols),
                               (long long)(i % cols), (long long)i);
    return 0;
}

int cl_cli_read_rows(const char *flag, const char *path, float **x, int *ndim, int64_t *rows,
                     int64_t *cols)
{
    int nd;
    int64_t sh[8];
    if (cl_npy_read_f32(path, x, &nd, sh) != CL_OK)
        return cl_cli_fail(1, "%s %s", flag, cl_errmsg());
    if (ndim) *ndim = nd;
    if (nd < 1 || sh[0] < 1) return cl_cli_fail(1, "%s %s: empty array", flag, path);
    *rows = sh[0];
    *cols = 1;
    for (int d = 1; d < nd; d++)
        *cols *= sh[d];
    if (*cols < 1) return cl_cli_fail(1, "%s %s: empty array", flag, path);
    return cl_cli_check_finite(flag, path, *x, *rows * *cols, *cols);
}

int cl_cli_file_flag(int argc, char **argv, int *i, int n, const char *const names[],
                     const char **const dst[])
{
    for (int k = 0; k < n; k++) {
        const char *v;
        int m = cl_opt_value(argc, argv, i, names[k], &v);
        if (m < 0) return -1;
        if (m) {
            *dst[k] = v;
            return 1;
        }
    }
    return 0;
}

void cl_cli_json_path(cl_json *j, const char *key, const char *path)
{
    if (path)
        cl_json_str(j, key, path);
    else
        cl_json_null(j, key);
}
