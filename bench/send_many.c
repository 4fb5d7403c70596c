/*
 * send_many.c - the benchmark client: N messages of about 2 KB through the
 * C ABI, as a batch job would send them.
 *
 *   send_many PORT COUNT reuse|new [RECIPIENTS [PROPERTIES]]
 *     reuse: one session (MAILSMTP once), MAILPREP/MAILTEXT/MAILSEND per message
 *     new:   MAILSMTP ... MAILEND per message (a new connection each time)
 *     PROPERTIES: more MAILSMTP properties, e.g. "enableSSL=true;TrustCert=ca.pem"
 *
 * Prints "messages/s <rate>" measured around the sending loop, then
 * "rss_kib <after 1,000 messages> <at the end>" (resident memory, to see
 * that a long session does not grow), then "cpu_us_per_message <n>": the
 * process's user + system CPU time per message, which does not depend on
 * how fast the server is.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"


/* Resident set size now, in KiB (Linux /proc). */
static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) {
            resident = 0;
        }
        fclose(f);
    }
    return resident * 4;
}

/* User + system CPU time of this process so far, in microseconds. */
static double cpu_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0;
    }
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}


int main(int argc, char **argv)
{
    char props[1024], body[2049];
    struct timespec t0, t1;
    int32_t h = 0;
    int i, count, reuse;
    long rss_1000 = 0;

    int rcpts = argc > 4 ? atoi(argv[4]) : 1;
    char *to;
    size_t pos = 0;

    if (argc < 4) {
        fprintf(stderr, "usage: send_many PORT COUNT reuse|new [RECIPIENTS [PROPERTIES]]\n");
        return 2;
    }
    /* RECIPIENTS distinct addresses in one MAILPREP list. */
    to = malloc((size_t)rcpts * 32 + 1);
    if (to == NULL) {
        return 1;
    }
    to[0] = 0;
    for (i = 0; i < rcpts; i++) {
        pos += (size_t)sprintf(to + pos, "%ssink%d@example.test", i ? ";" : "", i);
    }
    count = atoi(argv[2]);
    reuse = strcmp(argv[3], "reuse") == 0;
    snprintf(props, sizeof props,
             "Server=127.0.0.1;port=%s;Sender=bench@example.test;HeloName=bench.example.test%s%s",
             argv[1], argc > 5 ? ";" : "", argc > 5 ? argv[5] : "");
    for (i = 0; i < 2048; i++) {
        body[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
    }
    body[2048] = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (reuse) {
        must(&h, "MAILSMTP", props, NULL);
    }
    for (i = 0; i < count; i++) {
        if (!reuse) {
            must(&h, "MAILSMTP", props, NULL);
        }
        must(&h, "MAILPREP", to, "subject=\"benchmark\"");
        must(&h, "MAILTEXT", body, NULL);
        must(&h, "MAILSEND", NULL, NULL);
        if (!reuse) {
            must(&h, "MAILEND", NULL, NULL);
        }
        if (i + 1 == 1000) {
            rss_1000 = rss_kib();
        }
    }
    if (reuse) {
        must(&h, "MAILEND", NULL, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("messages/s %.2f\n",
           count / ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9));
    printf("rss_kib %ld %ld\n", rss_1000, rss_kib());
    printf("cpu_us_per_message %.1f\n", cpu_us() / count);
    return 0;
}
