/*
 * signed_invoice.c - the invoice of invoice.c, signed and encrypted with
 * S/MIME (RFC 8551) and its headers protected: the outer message shows only
 * a neutral subject; the real one travels inside the encryption.
 *
 *   LNCCMD CMD(MAILSMTP) PARM1('SERVER="..." ;SENDER="..." ;Sign=true;Encrypt=true;
 *          Certif="/certs/factures.p12";PwdCertif=...;SecureHeaders=true;
 *          WrapperSubject="Document from Example Ltd";RecipientCerts="/certs/clients"')
 *   LNCCMD CMD(MAILPREP) ... MAILTEXT ... MAILBODYF ... MAILLATT ... MAILSEND, MAILEND
 *
 * Usage: signed_invoice SERVER PORT DATA_DIR P12 P12_PASSWORD CERTS_DIR TO
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
    char props[2048], pdf[512], logo[512];
    int failed;

    if (argc != 8) {
        fprintf(stderr, "usage: %s SERVER PORT DATA_DIR P12 P12_PASSWORD CERTS_DIR TO\n", argv[0]);
        return 2;
    }
    snprintf(props, sizeof props,
             "SERVER=\"%s\";port=%s;SENDER=\"Example Ltd <tech@example.test>\";"
             "Sign=true;Encrypt=true;Certif=\"%s\";PwdCertif=\"%s\";"
             "SecureHeaders=true;WrapperSubject=\"Document from Example Ltd\";"
             "RecipientCerts=\"%s\"",
             argv[1], argv[2], argv[4], argv[5], argv[6]);
    snprintf(pdf, sizeof pdf, "%s/invoice.pdf", argv[3]);
    snprintf(logo, sizeof logo, "%s/logo.png", argv[3]);

    if (call("MAILSMTP", props, NULL) != 0) {
        return 1;
    }
    failed = call("MAILPREP", argv[7], "subject=\"Invoice 42 - 1 234,56 EUR\";priority=5")
          || call("MAILTEXT", "Please find invoice 42 attached.", NULL)
          || call("MAILBODYF", "<p>Please find invoice <b>42</b> attached.</p><img src=\"cid:logo\">", NULL)
          || call("MAILLATT", pdf, "name=\"Invoice 42.pdf\"")
          || call("MAILLATT", logo, "cid=logo")
          || call("MAILSEND", NULL, NULL);
    if (call("MAILEND", NULL, NULL) != 0) {
        failed = 1;
    }
    if (!failed) {
        printf("signed and encrypted invoice sent to %s\n", argv[7]);
    }
    return failed ? 1 : 0;
}
