/*
 * ebcdic_fields.c - fixed_fields.c for a program whose data is EBCDIC, as
 * an RPG program ported from IBM i keeps it: every field, the command
 * names and MAILSMTP's property string included, is in CCSID 297 (French
 * EBCDIC), blank-padded with the EBCDIC blank (0x40), passed to
 * lnccmd_fixed() as it is. MAILSMTP declares the CCSID with InputCharset.
 *
 * The euro sign: CCSID 297 has none (its byte 0x9F is the currency sign
 * '¤'); CCSID 1147 is 297 with '€' at 0x9F. A shop whose terminals or
 * emulators show 1147 stores '€' as 0x9F in 297 data, so such data is
 * declared InputCharset=1147. With InputCharset=297, lnccmd refuses the
 * 0x9F byte (107) naming 1147, rather than mailing '¤' where '€' was meant.
 *
 * The EBCDIC fields are made here with iconv(3) from UTF-8 (glibc's
 * IBM1147 table), standing in for data read from an IBM i file.
 * RESULT comes back in ASCII (UTF-8), whatever InputCharset says.
 *
 * Usage: ebcdic_fields [SERVER [PORT [CCSID]]]     (CCSID: 1147 or 297)
 */
#include <iconv.h>
#include <stdio.h>
#include <string.h>

#include "lnccmd.h"

static int32_t handle;
static char cmd[10];
static char opt[10];
static char parm1[1024];
static char parm2[256];
static char result[256];

/* CHGVAR VAR(&FIELD) VALUE('...') in an EBCDIC job: the UTF-8 literal
   converted to CCSID 1147, blank-padded with 0x40. Returns 0, or -1 when
   the text does not fit or cannot be converted. */
static int chgvar(char *field, size_t len, const char *value)
{
    iconv_t cd = iconv_open("IBM1147", "UTF-8");
    char *in = (char *)value;
    char *out = field;
    size_t inleft = strlen(value);
    size_t outleft = len;
    size_t rc;

    if (cd == (iconv_t)-1) {
        perror("iconv_open IBM1147");
        return -1;
    }
    rc = iconv(cd, &in, &inleft, &out, &outleft);
    iconv_close(cd);
    if (rc == (size_t)-1) {
        perror("iconv");
        return -1;
    }
    memset(out, 0x40, outleft);
    return 0;
}

/* CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT) */
static int call_lnccmd(const char *name)
{
    int32_t rc = lnccmd_fixed(&handle, cmd, sizeof cmd, opt, sizeof opt, parm1, sizeof parm1,
                              parm2, sizeof parm2, result, sizeof result);
    size_t end = sizeof result;
    while (end > 0 && result[end - 1] == ' ') {
        end--;
    }
    if (rc != 0) {
        fprintf(stderr, "%s failed: %.*s\n", name, (int)end, result);
    } else if (end != 1 || result[0] != '0') {
        fprintf(stderr, "%s: return code 0 but RESULT is '%.*s'\n", name, (int)end, result);
        return 1;
    }
    return (int)rc;
}

/* One command: the name and both parameters in EBCDIC. */
static int mail(const char *name, const char *p1, const char *p2)
{
    if (chgvar(cmd, sizeof cmd, name) || chgvar(parm1, sizeof parm1, p1) ||
        chgvar(parm2, sizeof parm2, p2)) {
        return 1;
    }
    return call_lnccmd(name);
}

int main(int argc, char **argv)
{
    const char *server = argc > 1 ? argv[1] : "127.0.0.1";
    const char *port = argc > 2 ? argv[2] : "25";
    const char *ccsid = argc > 3 ? argv[3] : "1147";
    char props[512];
    int failed;

    handle = 0;
    memset(opt, 0x40, sizeof opt);

    snprintf(props, sizeof props,
             "Server=\"%s\";port=%s;Sender=\"Société Générale <factures@example.test>\";"
             "InputCharset=%s",
             server, port, ccsid);
    if (mail("MAILSMTP", props, " ") != 0) {
        return 1;
    }
    failed = mail("MAILPREP", "François <francois@example.test>", " ") ||
             mail("MAILSUBJ", "Facture n°42 : 1 234,56 €", " ") ||
             mail("MAILTEXT", "Madame, Monsieur,", " ") ||
             mail("MAILTEXT", "Votre reçu de 1 234,56 € est réglé; merci.", " ") ||
             mail("MAILTEXT", "Leçon: été, à bientôt, déjà vu.", " ") ||
             mail("MAILSEND", " ", " ");
    mail("MAILEND", " ", " ");
    return failed ? 1 : 0;
}
