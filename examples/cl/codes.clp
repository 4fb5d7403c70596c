/*********************************************************************/
/* CODES: the return code cut from &RESULT with %SST and tested by  */
/* SELECT. The second customer's address is refused by the server    */
/* (550): MAILSEND says 502, the program notes it and goes on.       */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &HANDLE *DEC (10 0)
  DCL &RESULT *CHAR 256
  DCL &CODE   *CHAR 3
  DCL &DEST   *CHAR 90 VALUE('premier@example.test          -
rejected.second@example.test  -
troisieme@example.test        ')
  DCL &I      *INT
  DCL &OK     *INT
  DCL &KO     *INT

  CALL LNCCMD (&HANDLE 'MAILSMTP' ' ' ('Server="' *TCAT &SERVER *TCAT +
       '";port=' *TCAT &PORT *TCAT ';Sender="Service <service@example.test>"') +
       ' ' &RESULT)
  IF (&RESULT *NE '0') THEN(GOTO FIN)
  DOFOR &I 1 3
    CALL LNCCMD (&HANDLE 'MAILPREP' ' ' %SST(&DEST (&I * 30 - 29) 30) +
         'subject="Votre commande"' &RESULT)
    CALL LNCCMD (&HANDLE 'MAILTEXT' ' ' 'Votre commande est partie.' ' ' &RESULT)
    CALL LNCCMD (&HANDLE 'MAILSEND' ' ' ' ' ' ' &RESULT)
    CHGVAR &CODE %SST(&RESULT 1 3)
    SELECT
      WHEN (&CODE *EQ '0') THEN(CHGVAR &OK (&OK + 1))
      WHEN (&CODE *EQ '501' *OR &CODE *EQ '502') THEN(DO)
        CHGVAR &KO (&KO + 1)
        SNDPGMMSG MSG('Refusé :' *BCAT &RESULT) MSGTYPE(*DIAG)
      ENDDO
      OTHERWISE (GOTO FIN)
    ENDSELECT
  ENDDO
FIN:
  CALL LNCCMD (&HANDLE 'MAILEND' ' ' ' ' ' ' &RESULT)
  SNDPGMMSG MSG(%CHAR(&OK) *BCAT 'envoyé(s),' *BCAT %CHAR(&KO) *BCAT 'refusé(s)') +
            MSGTYPE(*COMP)
ENDPGM
