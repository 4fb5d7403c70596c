/*
 * calls.c - cost of the commands that do no network I/O, through the C ABI:
 * N calls each of MAILSUBJ, MAILTO (the same address: parsed, then found
 * already there), MAILTEXT (a short line), MAILPRTY. Prints ns per call.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lnccmd.h"

static char result[LNCCMD_RESULT_LEN];

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *cmds[][2] = {
        {"MAILSUBJ", "Invoice 42 for November"},
        {"MAILTO", "Bob Smith <bob@example.test>"},
        {"MAILTEXT", "One more line of the invoice text."},
        {"MAILPRTY", "*HIGH"},
    };
    int n = argc > 1 ? atoi(argv[1]) : 200000;
    int32_t h = 0;
    size_t c;
    int i;

    if (lnccmd(&h, "MAILSMTP", NULL, "Server=127.0.0.1;Sender=tech@example.test", NULL, result) != 0
        || lnccmd(&h, "MAILPREP", NULL, "", "subject=x", result) != 0) {
        fprintf(stderr, "%s\n", result);
        return 1;
    }
    for (c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        double t0 = now_ns();
        for (i = 0; i < n; i++) {
            if (lnccmd(&h, cmds[c][0], NULL, cmds[c][1], NULL, result) != 0) {
                fprintf(stderr, "%s: %s\n", cmds[c][0], result);
                return 1;
            }
        }
        printf("%-9s %6.0f ns per call\n", cmds[c][0], (now_ns() - t0) / n);
    }
    lnccmd(&h, "MAILEND", NULL, NULL, NULL, result);
    return 0;
}
