/* Flag-parsing helpers. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "collapse/data.h"
#include "collapse/sys.h"
#include "cli.h"
#include "opts.h"

int cl_opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n)) return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n]) return 0;
    if (*i + 1 >= argc) {
        cl_cli_fail(2, "%s needs a value", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int cl_opt_flag(char **argv, int i, const char *name) { return !strcmp(argv[i], name); }

int cl_opt_i64(const char *flag, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        cl_cli_fail(2, "%s: bad value '%s' (want an integer in [%lld, %lld])", flag, v,
                    (long long)lo, (long long)hi);
        return 0;
    }
    *out = x;
    return 1;
}

int cl_opt_int(const char *flag, const char *v, long lo, long hi, int *out)
{
    int64_t x;
    if (!cl_opt_i64(flag, v, lo, hi, &x)) return 0;
    *out = (int)x;
    return 1;
}

int cl_opt_u64(const char *flag, const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') {
        cl_cli_fail(2, "%s: bad value '%s' (want a non-negative integer)", flag, v);
        return 0;
    }
    *out = x;
    return 1;
}

int cl_opt_double(const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi) {
        cl_cli_fail(2, "%s: bad value '%s' (want a number in [%g, %g])", flag, v, lo, hi);
        return 0;
    }
    *out = x;
    return 1;
}

int cl_opt_mkdir_p(const char *flag, const char *dir)
{
    if (cl_mkdir_p(dir) != CL_OK) {
        cl_cli_fail(1, "%s: %s", flag, cl_errmsg());
        return 0;
    }
    return 1;
}

/* A class list "5-9", "5,7,9" or "1,3-5": into flags [K] if not NULL.
 * Returns 0, or after a one-line message naming the flag: 2 for bad
 * syntax (K ignored), 1 for a class outside [0, K). */
int cl_opt_class_list(const char *flag, const char *v, int K, unsigned char *flags)
{
    const char *p = v;
    for (;;) {
        long lo, hi;
        const char *e = cl_data_class_item(p, &lo, &hi);
        if (!e || hi > 46340) goto bad;
        if (K && hi >= K)
            return cl_cli_fail(1, "%s %s: class %ld is out of range for K = %d classes", flag,
                               v, hi, K);
        for (long c = lo; flags && c <= hi; c++) flags[c] = 1;
        if (*e == 0) return 0;
        if (*e != ',') goto bad;
        p = e + 1;
    }
bad:
    return cl_cli_fail(2, "%s %s: need a class list such as 5-9 or 5,7,9 (ascending ranges "
                          "of class indices)",
                       flag, v);
}
