/*********************************************************************/
/* OPERATEUR: after the send, SNDUSRMSG to the system operator and  */
/* a *COMP message to the caller (both on stderr here).              */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &COUNT  *DEC (5 0) VALUE(1)

  LNCCMD CMD(MAILSMTP) PARM1('Server="' *TCAT &SERVER *TCAT '";port=' +
         *TCAT &PORT *TCAT ';Sender="sauvegarde@example.test"')
  LNCCMD CMD(MAILPREP) PARM1('Equipe systeme <systeme@example.test>') +
         PARM2('subject="Sauvegarde terminée"')
  LNCCMD CMD(MAILTEXT) PARM1('La sauvegarde de la nuit est terminée.')
  LNCCMD CMD(MAILSEND)
  LNCCMD CMD(MAILEND)
  SNDUSRMSG MSG('Sauvegarde : compte rendu envoyé') MSGTYPE(*INFO) TOUSR(*SYSOPR)
  SNDPGMMSG MSG(%CHAR(&COUNT) *BCAT 'compte rendu envoyé') TOPGMQ(*PRV) +
            MSGTYPE(*COMP)
ENDPGM
