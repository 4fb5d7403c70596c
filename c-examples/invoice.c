/*
 * invoice.c - an invoice as a billing program on IBM i sends it: a text and
 * an HTML body, the PDF attached, the company logo shown inside the HTML,
 * priority 5, and every parameter in windows-1252 (the job's CCSID 1252
 * data, converted as it leaves the IBM i), declared with InputCharset.
 *
 *   LNCCMD CMD(MAILSMTP) PARM1('SERVER="..." ;SENDER="..." ;InputCharset=windows-1252')
 *   LNCCMD CMD(MAILPREP) PARM1('client@example.test') PARM2('subject="Facture n°42";priority=5')
 *   LNCCMD CMD(MAILTEXT) PARM1('Madame, Monsieur, ...')
 *   LNCCMD CMD(MAILBODYF) PARM1('<html>...<img src="cid:logo">...</html>')
 *   LNCCMD CMD(MAILLATT) PARM1('/factures/F42.pdf') PARM2('name="Facture n°42.pdf"')
 *   LNCCMD CMD(MAILLATT) PARM1('/images/logo.png') PARM2('cid=logo')
 *   LNCCMD CMD(MAILSEND)
 *   LNCCMD CMD(MAILEND)
 *
 * Usage: invoice SERVER PORT DATA_DIR [TO]   (DATA_DIR holds invoice.pdf and logo.png)
 */
#include <stdio.h>

#include "lnccmd.h"

static int32_t handle = 0;
static char result[LNCCMD_RESULT_LEN];

static int call(const char *cmd, const char *parm1, const char *parm2)
{
    int32_t rc = lnccmd(&handle, cmd, NULL, parm1, parm2, result);
    if (rc != LNCCMD_STATUS_OK) {
        fprintf(stderr, "%s failed: %s\n", cmd, result);
    }
    return (int)rc;
}

int main(int argc, char **argv)
{
    char props[512], pdf[512], logo[512];
    const char *to = argc > 4 ? argv[4] : "client@example.test";
    int failed;

    if (argc < 4) {
        fprintf(stderr, "usage: %s SERVER PORT DATA_DIR [TO]\n", argv[0]);
        return 2;
    }
    snprintf(props, sizeof props,
             "SERVER=\"%s\";port=%s;SENDER=\"Soci\xe9t\xe9 G\xe9n\xe9rale d'\xc9" "dition <factures@example.test>\";"
             "InputCharset=windows-1252", argv[1], argv[2]);
    snprintf(pdf, sizeof pdf, "%s/invoice.pdf", argv[3]);
    snprintf(logo, sizeof logo, "%s/logo.png", argv[3]);

    if (call("MAILSMTP", props, NULL) != 0) {
        return 1;
    }
    failed = call("MAILPREP", to, "subject=\"Facture n\xb0" "42 \x96 1 234,56 \x80\";priority=5")
          || call("MAILTEXT", "Madame, Monsieur,", NULL)
          || call("MAILTEXT", "veuillez trouver ci-joint la facture n\xb0" "42 d'un montant de 1 234,56 \x80.", NULL)
          || call("MAILTEXT", "Cordialement, le service comptabilit\xe9", NULL)
          || call("MAILBODYF",
                  "<html><body><img src=\"cid:logo\" alt=\"logo\">"
                  "<p>Madame, Monsieur,</p><p>veuillez trouver ci-joint la facture n\xb0" "42 "
                  "d'un montant de <b>1 234,56 \x80</b>.</p></body></html>", NULL)
          || call("MAILLATT", pdf, "name=\"Facture n\xb0" "42.pdf\"")
          || call("MAILLATT", logo, "cid=logo")
          || call("MAILSEND", NULL, NULL);
    if (call("MAILEND", NULL, NULL) != 0) {
        failed = 1;
    }
    if (!failed) {
        printf("invoice sent to %s\n", to);
    }
    return failed ? 1 : 0;
}
