/*********************************************************************/
/* SECOURS: the main server is down. MAILSEND's connection error    */
/* (4xx, nothing delivered) makes the program reconfigure the same   */
/* session for the backup server (the draft is kept) and retry;      */
/* DOUNTIL bounds the attempts. 409 (maybe delivered) never retries. */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT1  *CHAR 5  VALUE('2525')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &HANDLE *DEC (10 0)
  DCL &RESULT *CHAR 256
  DCL &TRY    *INT
  DCL &DONE   *LGL

  CALL LNCCMD (&HANDLE 'MAILSMTP' ' ' ('Server="' *TCAT &SERVER *TCAT +
       '";port=' *TCAT &PORT1 *TCAT ';Sender="alerte@example.test";Timeout=10') +
       ' ' &RESULT)
  CALL LNCCMD (&HANDLE 'MAILPREP' ' ' 'astreinte@example.test' +
       'subject="Disque plein sur PROD"' &RESULT)
  CALL LNCCMD (&HANDLE 'MAILTEXT' ' ' 'Le disque est plein à 95 %.' ' ' &RESULT)
  DOUNTIL COND(&DONE *OR &TRY *EQ 2)
    CHGVAR &TRY (&TRY + 1)
    CALL LNCCMD (&HANDLE 'MAILSEND' ' ' ' ' ' ' &RESULT)
    IF (&RESULT *EQ '0') THEN(CHGVAR &DONE '1')
    ELSE CMD(IF (%SST(&RESULT 1 1) *EQ '4' *AND %SST(&RESULT 1 3) *NE '409') +
             THEN(DO))
      SNDPGMMSG MSG('Serveur principal injoignable, serveur de secours') +
                MSGTYPE(*DIAG)
      CALL LNCCMD (&HANDLE 'MAILSMTP' ' ' ('Server="' *TCAT &SERVER *TCAT +
           '";port=' *TCAT &PORT *TCAT ';Sender="alerte@example.test"') +
           ' ' &RESULT)
    ENDDO
    ELSE CMD(LEAVE)
  ENDDO
  CALL LNCCMD (&HANDLE 'MAILEND' ' ' ' ' ' ' &RESULT)
  IF (*NOT &DONE) THEN(SNDPGMMSG MSG('Alerte non envoyée') MSGTYPE(*ESCAPE))
ENDPGM
