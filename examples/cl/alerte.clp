/*********************************************************************/
/* ALERTE: a program-level MONMSG with EXEC(GOTO ALERTE). The       */
/* report's attachment is missing: MAILLATT fails, and the error     */
/* section mails the operator instead.                               */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &FILE   *CHAR 64 VALUE('/nonexistent/rapport-du-jour.pdf')
  MONMSG MSGID(CPF0000) EXEC(GOTO CMDLBL(ALERTE))

  LNCCMD CMD(MAILSMTP) PARM1('Server="' *TCAT &SERVER *TCAT '";port=' +
         *TCAT &PORT *TCAT ';Sender="batch@example.test"')
  LNCCMD CMD(MAILPREP) PARM1('direction@example.test') +
         PARM2('subject="Rapport du jour"')
  LNCCMD CMD(MAILTEXT) PARM1('Le rapport est joint.')
  LNCCMD CMD(MAILLATT) PARM1(&FILE)
  LNCCMD CMD(MAILSEND)
  LNCCMD CMD(MAILEND)
  RETURN

ALERTE:
  /* The draft with the failed MAILLATT is never sent: a new one. */
  LNCCMD CMD(MAILPREP) PARM1('operateur@example.test') +
         PARM2('subject="ALERTE batch RAPPORT"')
  LNCCMD CMD(MAILTEXT) PARM1('Pièce jointe introuvable :' *BCAT &FILE)
  LNCCMD CMD(MAILSEND)
  LNCCMD CMD(MAILEND)
  SNDPGMMSG MSG('Rapport non envoyé, opérateur prévenu') MSGTYPE(*DIAG)
ENDPGM
