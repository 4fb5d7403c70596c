/*
 * send_text.c - one message whose text is SIZE bytes, as the bench measures
 * it: wall time of MAILTEXT (or MAILBODYF) + MAILSEND, and the process's
 * peak resident memory.
 *
 *   send_text PORT SIZE utf8|ascii|utf7|html [EXTRA_PROPERTIES]
 *     utf8:  MAILTEXT, charset UTF-8 (lines with umlauts: quoted-printable)
 *     ascii: MAILTEXT, charset=ASCII (ASCII lines: 7bit)
 *     utf7:  MAILTEXT, charset=UTF-7
 *     html:  MAILBODYF with inline HTML, charset UTF-8
 *
 * Lines of about 70 characters; their ends cycle LF, LF, CRLF, CR, as a
 * program that builds its text from several sources would leave them.
 *
 * Prints "ms <wall ms> peak_kib <peak RSS> base_kib <RSS before MAILTEXT>";
 * the base includes the text itself, built before it.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"




/* SIZE bytes of text (NUL-terminated), `ascii` lines or lines with umlauts. */
static char *make_text(size_t size, int ascii, int html)
{
    static const char *const ends[] = {"\n", "\n", "\r\n", "\r"};
    char *text = malloc(size + 1);
    size_t n = 0;
    unsigned long line = 0;
    char buf[160];

    if (text == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    if (html) {
        n = (size_t)snprintf(text, size + 1, "<html><body>\n");
    }
    while (n < size) {
        int len = snprintf(buf, sizeof buf,
                           ascii ? "%s%08lu: Invoice 4711, amount 12.34 EUR, thank you.%s%s"
                                 : "%s%08lu: Grüße aus Köln, Rechnung 4711, Betrag 12,34 €.%s%s",
                           html ? "<p>" : "Line ", line, html ? "</p>" : "",
                           ends[line % 4]);
        size_t take = (size_t)len < size - n ? (size_t)len : size - n;
        memcpy(text + n, buf, take);
        n += take;
        line++;
    }
    /* A cut UTF-8 sequence at the end would be refused: end on ASCII. */
    while (n > 0 && (unsigned char)text[n - 1] >= 0x80) {
        text[--n] = '\0';
    }
    text[n] = '\0';
    return text;
}

int main(int argc, char **argv)
{
    char props[4096];
    struct timespec t0, t1;
    int32_t h = 0;
    long base;
    const char *kind;
    const char *prep;
    char *text;

    if (argc < 4) {
        fprintf(stderr, "usage: send_text PORT SIZE utf8|ascii|utf7|html [EXTRA_PROPERTIES]\n");
        return 2;
    }
    kind = argv[3];
    if (strcmp(kind, "utf8") == 0 || strcmp(kind, "html") == 0) {
        prep = "subject=\"big text\"";
    } else if (strcmp(kind, "ascii") == 0) {
        prep = "subject=\"big text\";charset=ASCII";
    } else if (strcmp(kind, "utf7") == 0) {
        prep = "subject=\"big text\";charset=UTF-7";
    } else {
        fprintf(stderr, "send_text: unknown kind '%s'\n", kind);
        return 2;
    }
    snprintf(props, sizeof props,
             "Server=127.0.0.1;port=%s;Sender=tech@example.test;Timeout=3600;%s",
             argv[1], argc > 4 ? argv[4] : "");
    text = make_text(strtoul(argv[2], NULL, 10), strcmp(kind, "ascii") == 0,
                     strcmp(kind, "html") == 0);
    must(&h, "MAILSMTP", props, NULL);
    base = peak_kib();
    must(&h, "MAILPREP", "bob@example.test", prep);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    must(&h, strcmp(kind, "html") == 0 ? "MAILBODYF" : "MAILTEXT", text, NULL);
    must(&h, "MAILSEND", NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    must(&h, "MAILEND", NULL, NULL);
    free(text);
    printf("ms %.0f peak_kib %ld base_kib %ld\n",
           (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, peak_kib(), base);
    return 0;
}
