/*********************************************************************/
/* ESCAPE: the second address of the list is wrong. The program     */
/* tests &RESULT after MAILPREP, goes to ERREUR and ends with an     */
/* *ESCAPE message, as a CL program signals failure to its caller.   */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &HANDLE *DEC (10 0)
  DCL &RESULT *CHAR 256
  DCL &DEST   *CHAR 90 VALUE('ok.premier@example.test       -
pas-une-adresse@              -
ok.troisieme@example.test     ')
  DCL &I      *INT
  DCL &TO     *CHAR 30

  CALL PGM(LNCCMD) PARM(&HANDLE 'MAILSMTP' ' ' +
       ('Server="' *TCAT &SERVER *TCAT '";port=' *TCAT &PORT *TCAT +
        ';Sender="robot@example.test"') ' ' &RESULT)
  IF (&RESULT *NE '0') THEN(GOTO ERREUR)
  DOFOR &I 1 3
    CHGVAR &TO %SST(&DEST (&I * 30 - 29) 30)
    CALL PGM(LNCCMD) PARM(&HANDLE 'MAILPREP' ' ' &TO +
         ('subject="Avis' *BCAT %CHAR(&I) *TCAT '"') &RESULT)
    IF (&RESULT *NE '0') THEN(GOTO ERREUR)
    CALL PGM(LNCCMD) PARM(&HANDLE 'MAILTEXT' ' ' 'Avis de passage.' ' ' &RESULT)
    CALL PGM(LNCCMD) PARM(&HANDLE 'MAILSEND' ' ' ' ' ' ' &RESULT)
    IF (&RESULT *NE '0') THEN(GOTO ERREUR)
  ENDDO
  CALL PGM(LNCCMD) PARM(&HANDLE 'MAILEND' ' ' ' ' ' ' &RESULT)
  RETURN

ERREUR:
  CALL PGM(LNCCMD) PARM(&HANDLE 'MAILEND' ' ' ' ' ' ' &RESULT)
  MONMSG CPF0000
  SNDPGMMSG MSGID(CPF9898) MSGF(QCPFMSG) +
            MSGDTA('Envoi interrompu à l''avis' *BCAT %CHAR(&I)) +
            TOPGMQ(*EXT) MSGTYPE(*ESCAPE)
ENDPGM
