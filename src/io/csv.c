/* CSV files (csv.h): a log of rows rewritten whole through atomic.h at each
 * commit, resuming without duplicated rows, and reading them back. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/atomic.h"
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

/* Appends n bytes to the log's text (not yet written). */
static cl_status log_add(cl_csv_log *c, const char *p, size_t n)
{
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + n + 1) cap *= 2;
        char *t = cl_alloc(cap, "CSV rows");
        if (!t) return CL_ENOMEM;
        if (c->len) memcpy(t, c->text, c->len);
        cl_free(c->text);
        c->text = t;
        c->cap = cap;
    }
    memcpy(c->text + c->len, p, n);
    c->len += n;
    c->text[c->len] = 0;
    return CL_OK;
}

cl_status cl_csv_log_add(cl_csv_log *c, const char *row)
{
    CL_TRY(log_add(c, row, strlen(row)));
    return log_add(c, "\n", 1);
}

cl_status cl_csv_log_commit(cl_csv_log *c)
{
    cl_status st = cl_atomic_write_file(c->path, c->text, c->len);
    if (st != CL_OK) {
        c->len = c->committed; /* the file still holds only these bytes */
        if (c->text) c->text[c->len] = 0;
        return st;
    }
    c->committed = c->len;
    return CL_OK;
}

cl_status cl_csv_log_write_row(cl_csv_log *c, const char *row)
{
    CL_TRY(cl_csv_log_add(c, row));
    return cl_csv_log_commit(c);
}

/* The rows of an earlier file to keep: a matching header, then every
 * complete row whose key is < from_key. */
static cl_status keep_rows(cl_csv_log *c, const char *header, const char *buf, size_t len,
                           int from_key)
{
    size_t hl = strlen(header);
    if (len < hl + 1 || strncmp(buf, header, hl) != 0 || buf[hl] != '\n')
        return cl_error(CL_EFORMAT,
                        "%s: header differs from this version's (cannot resume into it)",
                        c->path);
    for (const char *line = buf + hl + 1; *line;) {
        const char *nl = strchr(line, '\n');
        if (!nl) break; /* an unfinished last line */
        char *end;
        long key = strtol(line, &end, 10);
        if (end != line && *end == ',' && key < from_key)
            CL_TRY(log_add(c, line, (size_t)(nl - line + 1)));
        line = nl + 1;
    }
    return CL_OK;
}

cl_status cl_csv_log_open(cl_csv_log *c, const char *path, const char *header, int resume,
                          int from_key)
{
    memset(c, 0, sizeof *c);
    if (snprintf(c->path, sizeof c->path, "%s", path) >= (int)sizeof c->path)
        return cl_error(CL_EINVAL, "%.200s...: path too long", path);
    char *buf = NULL;
    size_t len = 0;
    int missing = 0;
    cl_status st = CL_OK;
    if (resume) {
        st = slurp(path, &buf, &len, &missing);
        if (st != CL_OK && !missing) return st;
        cl_errclear();
    }
    st = cl_csv_log_add(c, header);
    if (st == CL_OK && buf) st = keep_rows(c, header, buf, len, from_key);
    cl_free(buf);
    if (st == CL_OK) st = cl_csv_log_commit(c);
    if (st != CL_OK) cl_csv_log_free(c);
    return st;
}

void cl_csv_log_free(cl_csv_log *c)
{
    cl_free(c->text);
    c->text = NULL;
    c->len = c->cap = c->committed = 0;
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
