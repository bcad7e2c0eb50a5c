/* Run-time choice of the kernels' instruction-set path (see isa.h). */
#include "collapse/isa.h"

#include <stdlib.h>
#include <string.h>

cl_isa cl_isa_best(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
        return CL_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CL_ISA_AVX2;
#endif
    return CL_ISA_GENERIC;
}

const char *cl_isa_name(cl_isa isa)
{
    switch (isa) {
    case CL_ISA_AVX512: return "avx512";
    case CL_ISA_AVX2: return "avx2";
    default: return "generic";
    }
}

/* -1 = unset or auto, -2 = not a path name, else the path. */
static int env_isa(void)
{
    const char *v = getenv("COLLAPSE_ISA");
    if (!v || !*v || !strcmp(v, "auto")) return -1;
    for (int i = CL_ISA_GENERIC; i <= CL_ISA_AVX512; i++)
        if (!strcmp(v, cl_isa_name((cl_isa)i))) return i;
    return -2;
}

cl_isa cl_isa_current(void)
{
    int e = env_isa();
    cl_isa best = cl_isa_best();
    return e >= 0 && e <= (int)best ? (cl_isa)e : best;
}

cl_status cl_isa_check_env(void)
{
    int e = env_isa();
    if (e == -2)
        return cl_error(CL_EINVAL, "COLLAPSE_ISA=%s: expected auto, avx512, avx2 or generic",
                        getenv("COLLAPSE_ISA"));
    if (e >= 0 && e > (int)cl_isa_best())
        return cl_error(CL_EINVAL, "COLLAPSE_ISA=%s: this CPU supports at most %s",
                        getenv("COLLAPSE_ISA"), cl_isa_name(cl_isa_best()));
    return CL_OK;
}
