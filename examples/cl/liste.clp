/*********************************************************************/
/* LISTE: a mailing list with gaps and an end marker. DOFOR over    */
/* the slots, ITERATE past a blank one, LEAVE at '*FIN'.             */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &SLOTS  *CHAR 150 VALUE('un@example.test          -
                         -
deux@example.test        -
*FIN                     -
jamais@example.test      ')
  DCL &I      *INT
  DCL &ADDR   *CHAR 25
  DCL &SENT   *INT

  LNCCMD CMD(MAILSMTP) PARM1('Server="' *TCAT &SERVER *TCAT '";port=' +
         *TCAT &PORT *TCAT ';Sender="Lettre <lettre@example.test>"')
  BOUCLE: DOFOR VAR(&I) FROM(1) TO(6)
    CHGVAR &ADDR %SST(&SLOTS (&I * 25 - 24) 25)
    IF (&ADDR *EQ ' ') THEN(ITERATE)
    IF (&ADDR *EQ '*FIN') THEN(LEAVE CMDLBL(BOUCLE))
    LNCCMD CMD(MAILPREP) PARM1(&ADDR) PARM2('subject="La lettre de décembre"')
    LNCCMD CMD(MAILTEXT) PARM1('Bonjour' *BCAT %SST(&ADDR 1 (%SCAN('@' &ADDR) - 1)))
    LNCCMD CMD(MAILSEND)
    CHGVAR &SENT (&SENT + 1)
  ENDDO
  LNCCMD CMD(MAILEND)
  SNDPGMMSG MSG(%CHAR(&SENT) *BCAT 'lettres') MSGTYPE(*COMP)
ENDPGM
