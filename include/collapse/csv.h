/* CSV files of results: rows appended and flushed one at a time, a resume
 * that drops the rows of a run's unfinished part, and a reader for the
 * figures and the tests. Generic: knows nothing of the columns; a row's
 * first cell is an integer key (the study uses the epoch).
 *
 *   char row[8192];
 *   snprintf(row, sizeof row, "%d", epoch);
 *   cl_csv_put(row, sizeof row, loss, 0);          -> "3,0.125"
 *   cl_csv_write_row(f, path, row);
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

/* Prepares a CSV for appending. resume = 0: (re)writes the file with just
 * the header. resume = 1: keeps the header and every complete row whose
 * first cell (an integer key, e.g. the epoch) is < from_key, dropping the
 * rest (rewritten through a temp file + rename); a missing file starts
 * fresh; a different header is CL_EFORMAT naming the file. Opens *f for
 * appending (the caller closes it). Errors: CL_EIO naming the file. */
cl_status cl_csv_open_append(const char *path, const char *header, int resume, int from_key,
                             FILE **f);

/* Writes one finished row (text without the newline) and flushes.
 * Errors: CL_EIO naming path. */
cl_status cl_csv_write_row(FILE *f, const char *path, const char *row);

/* Appends ",<v>" to a row buffer of cap bytes (%.17g, "nan"/"inf"/"-inf"
 * for non-finite; an empty cell when empty != 0). A full buffer is left
 * as it is. */
void cl_csv_put(char *row, size_t cap, double v, int empty);

#endif
