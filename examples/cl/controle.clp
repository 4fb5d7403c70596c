/*********************************************************************/
/* CONTROLE: customer codes checked before anything is sent: %CHECK */
/* for digits, %UPPER for the country, %TRIM; a bad record is a      */
/* *DIAG message and is skipped.                                     */
/* Record: code (5) country (2) address (30).                        */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &DATA   *CHAR 111 VALUE('12345frclient.fr@example.test        -
12A45beclient.be@example.test        -
54321BEautre.be@example.test         ')
  DCL &I      *INT
  DCL &REC    *CHAR 37
  DCL &PAYS   *CHAR 2
  DCL &LANG   *CHAR 20

  LNCCMD CMD(MAILSMTP) PARM1('Server="' *TCAT &SERVER *TCAT '";port=' +
         *TCAT &PORT *TCAT ';Sender="Clients <clients@example.test>"')
  DOFOR &I 1 3
    CHGVAR &REC %SST(&DATA (&I * 37 - 36) 37)
    IF (%CHECK('0123456789' %SST(&REC 1 5)) *NE 0) THEN(DO)
      SNDPGMMSG MSG('Code client invalide :' *BCAT %SST(&REC 1 5)) MSGTYPE(*DIAG)
      ITERATE
    ENDDO
    CHGVAR &PAYS %UPPER(%SST(&REC 6 2))
    IF (&PAYS = 'FR') THEN(CHGVAR &LANG 'Cher client')
    ELSE CMD(CHGVAR &LANG 'Geachte klant')
    LNCCMD CMD(MAILPREP) PARM1(%TRIM(%SST(&REC 8 30))) +
           PARM2('subject="Client ' *CAT %SST(&REC 1 5) *BCAT '(' *CAT &PAYS *CAT ')"')
    LNCCMD CMD(MAILTEXT) PARM1(%TRIMR(&LANG) *TCAT ',')
    LNCCMD CMD(MAILSEND)
  ENDDO
  LNCCMD CMD(MAILEND)
ENDPGM
