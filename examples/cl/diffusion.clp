/*********************************************************************/
/* DIFFUSION: one message, recipients from a table with a type      */
/* column (T, C, B): SELECT gives MAILTO, MAILCC or MAILBCC.          */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &LIST   *CHAR 124 VALUE('Tdg@example.test               -
Cadjoint@example.test          -
Bauditeur@example.test         -
Tsecretariat@example.test      ')
  DCL &I      *INT
  DCL &TYPE   *CHAR 1
  DCL &ADDR   *CHAR 30

  LNCCMD CMD(MAILSMTP) PARM1('Server="' *TCAT &SERVER *TCAT '";port=' +
         *TCAT &PORT *TCAT ';Sender="Direction <direction@example.test>"')
  LNCCMD CMD(MAILPREP) PARM1(' ') PARM2('subject="Note de service 12"')
  DOFOR VAR(&I) FROM(0) TO(3)
    CHGVAR &TYPE %SST(&LIST (&I * 31 + 1) 1)
    CHGVAR &ADDR %SST(&LIST (&I * 31 + 2) 30)
    SELECT
      WHEN (&TYPE = 'T') THEN(LNCCMD CMD(MAILTO) PARM1(&ADDR))
      WHEN (&TYPE = 'C') THEN(LNCCMD CMD(MAILCC) PARM1(&ADDR))
      WHEN (&TYPE = 'B') THEN(LNCCMD CMD(MAILBCC) PARM1(&ADDR))
    ENDSELECT
  ENDDO
  LNCCMD CMD(MAILTEXT) PARM1('Réunion lundi à 9 h.')
  LNCCMD CMD(MAILSEND)
  LNCCMD CMD(MAILEND)
ENDPGM
