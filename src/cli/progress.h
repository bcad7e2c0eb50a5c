/* Training progress on the terminal: a one-line bar on stderr (only when
 * stderr is a TTY) and one line per epoch on stdout. */
#ifndef COLLAPSE_CLI_PROGRESS_H
#define COLLAPSE_CLI_PROGRESS_H

#include "collapse/study.h"
#include "collapse/train.h"

typedef struct {
    int tty;     /* stderr is a terminal: draw the bar */
    int drawn;   /* a bar is on the screen */
    double last; /* time of the last redraw (s) */
    const cl_study *study; /* NULL, or the study whose rows give the eval-mode
                              values the trainer skipped (cl_study_skip_eval);
                              its epoch callback must run before ours */
} cl_cli_progress;

void cl_cli_progress_init(cl_cli_progress *p);

/* cl_progress_fn: redraws the bar (at most 10 times a second). user is a
 * cl_cli_progress. */
void cl_cli_progress_update(const cl_epoch_info *info, void *user);

/* Erases the bar (before printing anything else). */
void cl_cli_progress_clear(cl_cli_progress *p);

/* cl_epoch_fn: prints the epoch line (running train loss/acc, eval-mode
 * train and test loss/acc, lr, img/s, time) to stdout. user is a
 * cl_cli_progress. Never fails. */
cl_status cl_cli_progress_epoch(const cl_epoch_info *info, void *user);

/* "1h02m", "3m05s", "12s". */
void cl_cli_format_duration(double s, char *buf, int cap);

#endif
