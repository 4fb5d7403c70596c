/*
 * send_text.c - the vendor's MAILSMTP example, ported line for line.
 *
 * The CL program this replaces:
 *
 *   LNCCMD CMD(MAILSMTP) +
 *          PARM1('SERVER="SMTP.AURA.FR";SENDER="TECH+
 *          @EASYCOM-AURA.COM";REPLY="TECH@EASYCOM-+
 *          AURA.COM";logfile="c:\temp\logaurasmtp.txt"')
 *   LNCCMD CMD(MAILPREP) PARM1('bob@example.test') PARM2('subject="test";priority=5')
 *   LNCCMD CMD(MAILTEXT) PARM1('Hello from LNCCMD.')
 *   LNCCMD CMD(MAILSEND)
 *   LNCCMD CMD(MAILEND)
 *
 * Each LNCCMD line is one lnccmd() call with the same CMD, PARM1 and PARM2.
 * Every return code is checked; on failure RESULT is printed.
 *
 * Usage: send_text [SERVER [PORT [TO]]]   (default 127.0.0.1 25 bob@example.test)
 */
#include <stdio.h>

#include "lnccmd.h"

static int32_t handle = 0;              /* &HANDLE: 0 until MAILSMTP opens a session */
static char result[LNCCMD_RESULT_LEN];  /* &RESULT */

/* CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT) */
static int call(const char *cmd, const char *parm1, const char *parm2)
{
    int32_t rc = lnccmd(&handle, cmd, " ", parm1, parm2, result);
    if (rc != LNCCMD_STATUS_OK) {
        fprintf(stderr, "%s failed: %s (%s)\n", cmd, result, lnccmd_strerror(rc));
    }
    return (int)rc;
}

int main(int argc, char **argv)
{
    const char *server = argc > 1 ? argv[1] : "127.0.0.1";
    const char *port = argc > 2 ? argv[2] : "25";
    const char *to = argc > 3 ? argv[3] : "bob@example.test";
    char parm1[512];
    int failed;

    /* The vendor's property string, pointed at SERVER:PORT; the log (a
       Windows path in the vendor's example) is in the current folder. */
    snprintf(parm1, sizeof parm1,
             "SERVER=\"%s\";SENDER=\"TECH@EASYCOM-AURA.COM\";"
             "REPLY=\"TECH@EASYCOM-AURA.COM\";logfile=\"logaurasmtp.csv\";port=%s",
             server, port);
    if (call("MAILSMTP", parm1, " ") != 0) {
        return 1;
    }
    failed = call("MAILPREP", to, "subject=\"test\";priority=5")
          || call("MAILTEXT", "Hello from LNCCMD.", " ")
          || call("MAILTEXT", "This message was sent by a C program through lnccmd.", " ")
          || call("MAILSEND", " ", " ");
    /* MAILEND always: it frees the session even after a failure. */
    if (call("MAILEND", " ", " ") != 0 || handle != 0) {
        failed = 1;
    }
    if (!failed) {
        printf("sent to %s through %s:%s with lnccmd %s\n", to, server, port, lnccmd_version());
    }
    return failed ? 1 : 0;
}
