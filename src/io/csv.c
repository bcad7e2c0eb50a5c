/* CSV files (csv.h): appending rows (flushed), resuming without duplicated
 * rows, and reading them back. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/csv.h"
#include "collapse/mem.h"

void cl_csv_put(char *row, size_t cap, double v, int empty)
{
    size_t len = strlen(row);
    if (len + 2 >= cap) return;
    if (empty)
        snprintf(row + len, cap - len, ",");
    else if (isnan(v))
        snprintf(row + len, cap - len, ",nan");
    else if (isinf(v))
        snprintf(row + len, cap - len, v > 0 ? ",inf" : ",-inf");
    else
        snprintf(row + len, cap - len, ",%.17g", v);
}

cl_status cl_csv_write_row(FILE *f, const char *path, const char *row)
{
    if (fputs(row, f) == EOF || fputc('\n', f) == EOF || fflush(f) != 0)
        return cl_error(CL_EIO, "%s: write failed: %s", path, strerror(errno));
    return CL_OK;
}

/* Reads the whole file into a NUL-terminated cl_alloc'ed buffer; NULL with
 * *missing = 1 if it does not exist. */
static cl_status slurp(const char *path, char **buf, size_t *len, int *missing)
{
    *buf = NULL;
    *missing = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) {
            *missing = 1;
            return cl_error(CL_EIO, "%s: no such file", path);
        }
        return cl_error(CL_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    cl_status st = CL_OK;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = cl_error(CL_EIO, "%s: cannot read", path);
        goto fail;
    }
    *buf = cl_alloc((size_t)size + 1, "CSV file");
    if (!*buf) {
        st = CL_ENOMEM;
        goto fail;
    }
    if (fread(*buf, 1, (size_t)size, f) != (size_t)size) {
        st = cl_error(CL_EIO, "%s: read failed", path);
        goto fail;
    }
    (*buf)[size] = 0;
    *len = (size_t)size;
    fclose(f);
    return CL_OK;
fail:
    cl_free(*buf);
    *buf = NULL;
    fclose(f);
    return st;
}

cl_status cl_csv_open_append(const char *path, const char *header, int resume, int from_key,
                             FILE **f)
{
    *f = NULL;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char *buf = NULL;
    size_t len = 0;
    int missing = 0;
    cl_status st = CL_OK;
    FILE *out = NULL;
    if (resume) {
        st = slurp(path, &buf, &len, &missing);
        if (st != CL_OK && !missing) return st;
        st = CL_OK;
        cl_errclear();
    }
    out = fopen(tmp, "wb");
    if (!out) return cl_error(CL_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    if (fprintf(out, "%s\n", header) < 0) goto io_fail;
    if (buf) {
        size_t hl = strlen(header);
        if (len < hl + 1 || strncmp(buf, header, hl) != 0 || buf[hl] != '\n') {
            st = cl_error(CL_EFORMAT,
                          "%s: header differs from this version's (cannot resume into it)", path);
            goto fail;
        }
        for (char *line = buf + hl + 1; *line;) {
            char *nl = strchr(line, '\n');
            if (!nl) break; /* an unfinished last line */
            char *end;
            long key = strtol(line, &end, 10);
            if (end != line && *end == ',' && key < from_key)
                if (fwrite(line, 1, (size_t)(nl - line + 1), out) != (size_t)(nl - line + 1))
                    goto io_fail;
            line = nl + 1;
        }
    }
    if (fclose(out) != 0) {
        out = NULL;
        goto io_fail;
    }
    out = NULL;
    if (rename(tmp, path) != 0) {
        st = cl_error(CL_EIO, "%s: cannot rename %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    cl_free(buf);
    *f = fopen(path, "ab");
    if (!*f) return cl_error(CL_EIO, "%s: cannot append: %s", path, strerror(errno));
    return CL_OK;
io_fail:
    st = cl_error(CL_EIO, "%s: write failed: %s", tmp, strerror(errno));
fail:
    if (out) fclose(out);
    remove(tmp);
    cl_free(buf);
    return st;
}

void cl_csv_free(cl_csv *c)
{
    cl_free(c->names);
    cl_free(c->num);
    cl_free(c->txt);
    c->names = NULL;
    c->num = NULL;
    c->txt = NULL;
    c->ncols = 0;
    c->nrows = 0;
}

int cl_csv_col(const cl_csv *c, const char *name)
{
    for (int i = 0; i < c->ncols; i++)
        if (!strcmp(c->names[i], name)) return i;
    return -1;
}

cl_status cl_csv_need(const cl_csv *c, const char *name, int *col)
{
    *col = cl_csv_col(c, name);
    if (*col < 0) return cl_error(CL_EFORMAT, "%s: no column '%s'", c->path, name);
    return CL_OK;
}

/* 1 if name is in the comma-separated list. */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !strncmp(p, name, n)) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static int count_cells(const char *line, const char *end)
{
    int n = 1;
    for (const char *p = line; p < end; p++) n += *p == ',';
    return n;
}

cl_status cl_csv_read(const char *path, const char *text_cols, cl_csv *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", path);
    char *buf;
    size_t len;
    int missing;
    CL_TRY(slurp(path, &buf, &len, &missing));
    cl_status st = CL_OK;
    char *nl = strchr(buf, '\n');
    if (!nl || nl == buf) {
        st = cl_error(CL_EFORMAT, "%s: empty file or no header line", path);
        goto fail;
    }
    if (nl > buf && nl[-1] == '\r') nl[-1] = 0;
    *nl = 0;
    out->ncols = count_cells(buf, nl);
    /* Rows are only the lines of ncols cells (ncols bytes or more each): the
     * tables below stay within 56 x the file's size, whatever its line count. */
    int64_t rows = 0;
    for (char *p = nl + 1, *e; (e = strchr(p, '\n')) != NULL; p = e + 1)
        rows += count_cells(p, e) == out->ncols;
    out->names = cl_alloc_array((size_t)out->ncols, CL_CSV_CELL, "CSV header");
    out->num = cl_alloc_array((size_t)(rows ? rows : 1) * (size_t)out->ncols, sizeof(double),
                              "CSV values");
    out->txt = cl_alloc_array((size_t)(rows ? rows : 1) * (size_t)out->ncols, CL_CSV_CELL,
                              "CSV text");
    if (!out->names || !out->num || !out->txt) {
        st = CL_ENOMEM;
        goto fail;
    }
    char *cell = buf;
    for (int c = 0; c < out->ncols; c++) {
        char *e = strchr(cell, ',');
        if (e) *e = 0;
        if (!*cell || strlen(cell) >= CL_CSV_CELL) {
            st = cl_error(CL_EFORMAT, "%s:1: bad header (column %d)", path, c + 1);
            goto fail;
        }
        snprintf(out->names[c], CL_CSV_CELL, "%s", cell);
        cell = e ? e + 1 : cell + strlen(cell);
    }
    int line_no = 1;
    for (char *line = nl + 1; *line;) {
        char *end = strchr(line, '\n');
        line_no++;
        if (!end) break; /* an unfinished last line */
        *end = 0;
        if (end > line && end[-1] == '\r') end[-1] = 0;
        if (!*line) {
            line = end + 1;
            continue;
        }
        if (count_cells(line, end) != out->ncols) {
            st = cl_error(CL_EFORMAT, "%s:%d: %d cells, the header has %d", path, line_no,
                          count_cells(line, end), out->ncols);
            goto fail;
        }
        int64_t r = out->nrows;
        cell = line;
        for (int c = 0; c < out->ncols; c++) {
            char *e = strchr(cell, ',');
            if (e) *e = 0;
            double *v = &out->num[r * out->ncols + c];
            snprintf(out->txt[r * out->ncols + c], CL_CSV_CELL, "%s", cell);
            char *stop;
            if (!*cell) {
                *v = NAN;
            } else {
                errno = 0;
                *v = strtod(cell, &stop);
                if (*stop || stop == cell) {
                    if (!in_list(text_cols, out->names[c])) {
                        st = cl_error(CL_EFORMAT, "%s:%d: bad number '%.20s' in column '%s'",
                                      path, line_no, cell, out->names[c]);
                        goto fail;
                    }
                    *v = NAN;
                }
            }
            cell = e ? e + 1 : cell + strlen(cell);
        }
        out->nrows++;
        line = end + 1;
    }
    cl_free(buf);
    return CL_OK;
fail:
    cl_free(buf);
    cl_csv_free(out);
    return st;
}
