/* Learning-rate schedules as a pure function of time. */
#include "collapse/sched.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[CL_SCHED_KIND_COUNT] = {
    [CL_SCHED_CONST] = "const",
    [CL_SCHED_MULTISTEP] = "step",
    [CL_SCHED_COSINE] = "cosine",
};

const char *cl_sched_kind_name(cl_sched_kind k)
{
    return (k >= 0 && k < CL_SCHED_KIND_COUNT) ? kind_names[k] : "?";
}

cl_sched cl_sched_make(cl_sched_kind kind, double lr, double total)
{
    cl_sched s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.lr = lr;
    s.total = total;
    s.gamma = 0.1;
    return s;
}

static cl_status parse_num(const char *str, const char *p, char **end, double *v)
{
    errno = 0;
    *v = strtod(p, end);
    if (*end == p || errno == ERANGE || !isfinite(*v))
        return cl_error(CL_EINVAL, "schedule '%s': '%s' is not a number", str, p);
    return CL_OK;
}

cl_status cl_sched_parse(const char *str, cl_sched *s)
{
    if (!str) str = "";
    const char *eq = strchr(str, '=');
    size_t nlen = eq ? (size_t)(eq - str) : strlen(str);
#define IS(w) (nlen == strlen(w) && strncmp(str, w, nlen) == 0)
    if (IS("const") || IS("constant")) {
        if (eq) return cl_error(CL_EINVAL, "schedule '%s': const takes no value", str);
        s->kind = CL_SCHED_CONST;
        return CL_OK;
    }
    if (IS("step") || IS("multistep")) {
        cl_sched t = *s;
        t.kind = CL_SCHED_MULTISTEP;
        t.nmilestones = 0;
        if (eq) {
            const char *p = eq + 1;
            for (;;) {
                char *end;
                double v;
                if (t.nmilestones == CL_SCHED_MAX_MILESTONES)
                    return cl_error(CL_EINVAL, "schedule '%s': more than %d milestones", str,
                                    CL_SCHED_MAX_MILESTONES);
                CL_TRY(parse_num(str, p, &end, &v));
                if (v < 0 || (t.nmilestones > 0 && v <= t.milestones[t.nmilestones - 1]))
                    return cl_error(CL_EINVAL,
                                    "schedule '%s': milestones must be >= 0 and increasing (%g)",
                                    str, v);
                t.milestones[t.nmilestones++] = v;
                if (*end == '\0') break;
                if (*end != ',')
                    return cl_error(CL_EINVAL, "schedule '%s': unexpected '%s'", str, end);
                p = end + 1;
            }
        }
        *s = t;
        return CL_OK;
    }
    if (IS("cosine")) {
        double mn = 0;
        if (eq) {
            char *end;
            CL_TRY(parse_num(str, eq + 1, &end, &mn));
            if (*end != '\0' || mn < 0)
                return cl_error(CL_EINVAL, "schedule '%s': min lr must be a number >= 0", str);
        }
        s->kind = CL_SCHED_COSINE;
        s->min_lr = mn;
        return CL_OK;
    }
#undef IS
    return cl_error(CL_EINVAL,
                    "schedule '%s': unknown (expected const, step, step=M1,M2,..., cosine or "
                    "cosine=MIN_LR)",
                    str);
}

cl_status cl_sched_check(const cl_sched *s)
{
    if (s->kind < 0 || s->kind >= CL_SCHED_KIND_COUNT)
        return cl_error(CL_EINVAL, "schedule: unknown kind %d", (int)s->kind);
    if (!(isfinite(s->lr) && s->lr > 0))
        return cl_error(CL_EINVAL, "schedule: lr must be > 0 (got %g)", s->lr);
    if (!(isfinite(s->total) && s->total > 0))
        return cl_error(CL_EINVAL, "schedule: total length must be > 0 (got %g)", s->total);
    if (s->kind == CL_SCHED_MULTISTEP) {
        if (!(isfinite(s->gamma) && s->gamma > 0))
            return cl_error(CL_EINVAL, "schedule: gamma must be > 0 (got %g)", s->gamma);
        if (s->nmilestones < 0 || s->nmilestones > CL_SCHED_MAX_MILESTONES)
            return cl_error(CL_EINVAL, "schedule: %d milestones (max %d)", s->nmilestones,
                            CL_SCHED_MAX_MILESTONES);
        for (int i = 1; i < s->nmilestones; i++)
            if (!(s->milestones[i] > s->milestones[i - 1]))
                return cl_error(CL_EINVAL, "schedule: milestones must increase (%g after %g)",
                                s->milestones[i], s->milestones[i - 1]);
    }
    if (s->kind == CL_SCHED_COSINE && !(s->min_lr >= 0 && s->min_lr <= s->lr))
        return cl_error(CL_EINVAL, "schedule: cosine min lr must be in [0, lr] (got %g)", s->min_lr);
    if (!(isfinite(s->warmup) && s->warmup >= 0))
        return cl_error(CL_EINVAL, "schedule: warmup must be >= 0 (got %g)", s->warmup);
    if (!(s->warmup_start >= 0 && s->warmup_start <= 1))
        return cl_error(CL_EINVAL, "schedule: warmup start factor must be in [0, 1] (got %g)",
                        s->warmup_start);
    return CL_OK;
}

double cl_sched_lr(const cl_sched *s, double t)
{
    double lr = s->lr;
    switch (s->kind) {
    case CL_SCHED_CONST:
        break;
    case CL_SCHED_MULTISTEP:
        if (s->nmilestones == 0) {
            double m[2];
            int n = cl_sched_papyan_milestones(s->total, m);
            for (int i = 0; i < n; i++)
                if (t >= m[i]) lr *= s->gamma;
        } else {
            for (int i = 0; i < s->nmilestones; i++)
                if (t >= s->milestones[i]) lr *= s->gamma;
        }
        break;
    case CL_SCHED_COSINE: {
        double span = s->total - s->warmup;
        double u = span > 0 ? (t - s->warmup) / span : 1.0;
        u = u < 0 ? 0 : (u > 1 ? 1 : u);
        lr = s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * u));
        break;
    }
    default:
        break;
    }
    if (s->warmup > 0 && t < s->warmup)
        lr *= s->warmup_start + (1.0 - s->warmup_start) * (t < 0 ? 0 : t) / s->warmup;
    return lr;
}

int cl_sched_papyan_milestones(double total, double m[2])
{
    int n = 0;
    double m1 = floor(total / 3), m2 = floor(2 * total / 3);
    if (m1 > 0) m[n++] = m1;
    if (m2 > 0) m[n++] = m2;
    return n;
}
