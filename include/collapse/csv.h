/* CSV files of results: rows added to a log that is rewritten whole and
 * atomically at each commit, a resume that drops the rows of a run's
 * unfinished part, and a reader for the
 * figures and the tests. Generic: knows nothing of the columns; a row's
 * first cell is an integer key (the study uses the epoch).
 *
 *   char row[8192];
 *   snprintf(row, sizeof row, "%d", epoch);
 *   cl_csv_put(row, sizeof row, loss, 0);          -> "3,0.125"
 *   cl_csv_log_write_row(&log, row);
 *
 * Numbers are written %.17g (exact doubles), "nan", "inf" or "-inf". */
#ifndef COLLAPSE_CSV_H
#define COLLAPSE_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collapse/error.h"

#define CL_CSV_CELL 48 /* longest header name / text cell kept by the reader, with its NUL */

/* A CSV file read back: a header row, then rows of ncols cells. Numeric
 * cells (and empty = NAN, "nan", "inf") are in num; columns listed as text
 * keep their strings in txt. */
typedef struct {
    char path[4096];
    int ncols;
    int64_t nrows;
    char (*names)[CL_CSV_CELL]; /* [ncols] */
    double *num;                /* [nrows * ncols], NAN for text cells */
    char (*txt)[CL_CSV_CELL];   /* [nrows * ncols] */
} cl_csv;

/* Reads path. text_cols: comma-separated names of columns that may hold
 * text ("" = none); every other cell must be a number, empty, nan or inf.
 * A last line without a newline (a run killed mid-write) is ignored.
 * Errors: CL_EIO (cannot open: the message names the file), CL_EFORMAT
 * ("<file>:<line>: ..." for an empty file, a row with the wrong number of
 * cells, a bad number), CL_ENOMEM. */
cl_status cl_csv_read(const char *path, const char *text_cols, cl_csv *out);
void cl_csv_free(cl_csv *c);
/* Column index by name, or -1. */
int cl_csv_col(const cl_csv *c, const char *name);
/* Column index by name, or CL_EFORMAT naming the file and the column. */
cl_status cl_csv_need(const cl_csv *c, const char *name, int *col);

/* A CSV file of results kept whole in memory: every commit rewrites the
 * file through atomic.h (PATH.tmp, fsync, rename), so the file on disk
 * always holds the header and whole rows, never a half-written one, and a
 * failed write leaves the previous version. The files are small (a row
 * per analyzed epoch). */
typedef struct {
    char path[4096];
    char *text;        /* the file's text: header and rows, each + '\n'; cl_alloc'ed */
    size_t len, cap;
    size_t committed;  /* bytes of text that are on disk */
} cl_csv_log;

/* Starts a log and writes its file. resume = 0: just the header. resume =
 * 1: the header and every complete row of the existing file whose first
 * cell (an integer key, e.g. the epoch) is < from_key, dropping the rest;
 * a missing file starts fresh; a different header is CL_EFORMAT naming
 * the file. Free with cl_csv_log_free (also after an error: then it holds
 * nothing). Errors: CL_EIO naming the file, CL_EFORMAT, CL_ENOMEM. */
cl_status cl_csv_log_open(cl_csv_log *c, const char *path, const char *header, int resume,
                          int from_key);

/* Adds one finished row (text without the newline) to the log, in memory
 * only. Errors: CL_ENOMEM. */
cl_status cl_csv_log_add(cl_csv_log *c, const char *row);

/* Writes the whole log to its file (atomic.h). On error the rows added
 * since the last commit are dropped (the file keeps the committed ones).
 * Errors: CL_EIO "<path>: write failed: <reason>". */
cl_status cl_csv_log_commit(cl_csv_log *c);

/* cl_csv_log_add + cl_csv_log_commit. */
cl_status cl_csv_log_write_row(cl_csv_log *c, const char *row);

void cl_csv_log_free(cl_csv_log *c);

/* Appends ",<v>" to a row buffer of cap bytes (%.17g, "nan"/"inf"/"-inf"
 * for non-finite; an empty cell when empty != 0). A full buffer is left
 * as it is. */
void cl_csv_put(char *row, size_t cap, double v, int empty);

#endif
