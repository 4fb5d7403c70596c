/*
 * bench.h - what the bench's C programs share: a call that must succeed
 * and the process's peak resident memory (inline: a program may use one).
 */
#ifndef LNCCMD_BENCH_H
#define LNCCMD_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "lnccmd.h"

static char result[LNCCMD_RESULT_LEN];

/* One lnccmd call; any failure ends the program with its RESULT. */
static inline void must(int32_t *h, const char *cmd, const char *p1, const char *p2)
{
    if (lnccmd(h, cmd, NULL, p1, p2, result) != 0) {
        fprintf(stderr, "%s: %s\n", cmd, result);
        exit(1);
    }
}

/* Peak resident memory of this process so far, in KiB. */
static inline long peak_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

#endif
