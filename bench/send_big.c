/*
 * send_big.c - one message with one large attachment, as the bench measures
 * it: wall time of MAILSEND and the process's peak resident memory.
 *
 *   send_big PORT FILE [EXTRA_PROPERTIES]
 *
 * Prints "ms <wall ms of MAILSEND> peak_kib <peak RSS> base_kib <RSS before>".
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"




int main(int argc, char **argv)
{
    char props[4096];
    struct timespec t0, t1;
    int32_t h = 0;
    long base;

    if (argc < 3) {
        fprintf(stderr, "usage: send_big PORT FILE [EXTRA_PROPERTIES]\n");
        return 2;
    }
    snprintf(props, sizeof props,
             "Server=127.0.0.1;port=%s;Sender=tech@example.test;Timeout=300;%s",
             argv[1], argc > 3 ? argv[3] : "");
    must(&h, "MAILSMTP", props, NULL);
    base = peak_kib();
    must(&h, "MAILPREP", "bob@example.test", "subject=\"big attachment\"");
    must(&h, "MAILTEXT", "See attachment.", NULL);
    must(&h, "MAILLATT", argv[2], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    must(&h, "MAILSEND", NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    must(&h, "MAILEND", NULL, NULL);
    printf("ms %.0f peak_kib %ld base_kib %ld\n",
           (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, peak_kib(), base);
    return 0;
}
