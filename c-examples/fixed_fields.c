/*
 * fixed_fields.c - send_text.c with fixed-length, blank-padded fields, as an
 * RPG or CL program declares them:
 *
 *   DCL VAR(&HANDLE) TYPE(*INT) LEN(4)
 *   DCL VAR(&CMD)    TYPE(*CHAR) LEN(10)
 *   DCL VAR(&OPT)    TYPE(*CHAR) LEN(10)
 *   DCL VAR(&PARM1)  TYPE(*CHAR) LEN(1024)
 *   DCL VAR(&PARM2)  TYPE(*CHAR) LEN(256)
 *   DCL VAR(&RESULT) TYPE(*CHAR) LEN(256)
 *
 * Fields are never NUL-terminated; CHGVAR blank-pads them, and RESULT comes
 * back blank-padded. lnccmd_fixed() reads exactly each field's length.
 *
 * Usage: fixed_fields [SERVER [PORT [TO]]]
 */
#include <stdio.h>
#include <string.h>

#include "lnccmd.h"

static int32_t handle;
static char cmd[10];
static char opt[10];
static char parm1[1024];
static char parm2[256];
static char result[256];

/* CHGVAR VAR(&FIELD) VALUE('...'): copy and blank-pad, no NUL. */
static void chgvar(char *field, size_t len, const char *value)
{
    size_t n = strlen(value);
    if (n > len) {
        n = len;
    }
    memcpy(field, value, n);
    memset(field + n, ' ', len - n);
}

/* CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT) */
static int call_lnccmd(void)
{
    int32_t rc = lnccmd_fixed(&handle, cmd, sizeof cmd, opt, sizeof opt, parm1, sizeof parm1,
                              parm2, sizeof parm2, result, sizeof result);
    size_t end = sizeof result;
    while (end > 0 && result[end - 1] == ' ') {
        end--;
    }
    if (rc != 0) {
        fprintf(stderr, "%.10s failed: %.*s\n", cmd, (int)end, result);
    } else if (end != 1 || result[0] != '0') {
        fprintf(stderr, "%.10s: return code 0 but RESULT is '%.*s'\n", cmd, (int)end, result);
        return 1;
    }
    return (int)rc;
}

int main(int argc, char **argv)
{
    const char *server = argc > 1 ? argv[1] : "127.0.0.1";
    const char *port = argc > 2 ? argv[2] : "25";
    const char *to = argc > 3 ? argv[3] : "bob@example.test";
    char props[512];
    int failed;

    handle = 0;
    chgvar(opt, sizeof opt, "");

    chgvar(cmd, sizeof cmd, "MAILSMTP");
    snprintf(props, sizeof props,
             "SERVER=\"%s\";SENDER=\"TECH@EASYCOM-AURA.COM\";"
             "REPLY=\"TECH@EASYCOM-AURA.COM\";port=%s", server, port);
    chgvar(parm1, sizeof parm1, props);
    chgvar(parm2, sizeof parm2, " ");
    if (call_lnccmd() != 0) {
        return 1;
    }

    chgvar(cmd, sizeof cmd, "MAILPREP");
    chgvar(parm1, sizeof parm1, to);
    chgvar(parm2, sizeof parm2, "subject=\"fixed fields\";priority=5");
    failed = call_lnccmd();

    if (!failed) {
        chgvar(cmd, sizeof cmd, "MAILTEXT");
        chgvar(parm1, sizeof parm1, "Sent with blank-padded fields, as from RPG.");
        chgvar(parm2, sizeof parm2, " ");
        failed = call_lnccmd();
    }
    if (!failed) {
        chgvar(cmd, sizeof cmd, "MAILSEND");
        chgvar(parm1, sizeof parm1, " ");
        failed = call_lnccmd();
    }

    chgvar(cmd, sizeof cmd, "MAILEND");
    if (call_lnccmd() != 0 || handle != 0) {
        failed = 1;
    }
    if (!failed) {
        printf("sent to %s through %s:%s with fixed-length fields\n", to, server, port);
    }
    return failed ? 1 : 0;
}
