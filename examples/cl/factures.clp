/*********************************************************************/
/* FACTURES: one invoice mail per customer of a fixed-field table,  */
/* CALL PGM(LNCCMD) form, each call's &RESULT tested, GOTO ERREUR.   */
/* Record: code (6) name (24) address (30) amount excl. VAT (9 2).   */
/*********************************************************************/
PGM
  DCL VAR(&SERVER) TYPE(*CHAR) LEN(64)  VALUE('127.0.0.1')
  DCL VAR(&PORT)   TYPE(*CHAR) LEN(5)   VALUE('25')
  DCL VAR(&HANDLE) TYPE(*DEC)  LEN(10 0)
  DCL VAR(&CMD)    TYPE(*CHAR) LEN(10)
  DCL VAR(&OPT)    TYPE(*CHAR) LEN(10)
  DCL VAR(&PARM1)  TYPE(*CHAR) LEN(512)
  DCL VAR(&PARM2)  TYPE(*CHAR) LEN(512)
  DCL VAR(&RESULT) TYPE(*CHAR) LEN(256)
  DCL VAR(&TABLE)  TYPE(*CHAR) LEN(207) +
      VALUE('C00001Dupont SA               compta@dupont.example.test    +
001000.00C00002Martin et fils          martin@example.test           +
000250.50C00003Bernard SARL            achats@bernard.example.test   +
000099.99')
  DCL VAR(&REC)    TYPE(*CHAR) LEN(69)
  DCL VAR(&I)      TYPE(*INT)
  DCL VAR(&POS)    TYPE(*INT)
  DCL VAR(&HT)     TYPE(*DEC)  LEN(9 2)
  DCL VAR(&TTC)    TYPE(*DEC)  LEN(9 2)
  DCL VAR(&NAME)   TYPE(*CHAR) LEN(24)
  DCL VAR(&MAIL)   TYPE(*CHAR) LEN(30)

  CHGVAR &CMD 'MAILSMTP'
  CHGVAR &PARM1 ('Server="' *TCAT &SERVER *TCAT '";port=' *TCAT &PORT +
                 *TCAT ';Sender="Facturation <factures@example.test>"')
  CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)
  IF COND(&RESULT *NE '0') THEN(GOTO CMDLBL(ERREUR))

  DOFOR VAR(&I) FROM(1) TO(3)
    CHGVAR &POS ((&I - 1) * 69 + 1)
    CHGVAR &REC %SST(&TABLE &POS 69)
    CHGVAR &NAME %SST(&REC 7 24)
    CHGVAR &MAIL %SST(&REC 31 30)
    CHGVAR &HT   %SST(&REC 61 9)
    CHGVAR &TTC  (&HT * 1.2)
    CHGVAR &CMD 'MAILPREP'
    CHGVAR &PARM1 &MAIL
    CHGVAR &PARM2 ('subject="Facture ' *CAT %SST(&REC 1 6) *BCAT '- ' +
                   *CAT %CHAR(&TTC) *BCAT 'EUR TTC"')
    CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)
    IF COND(&RESULT *NE '0') THEN(GOTO CMDLBL(ERREUR))
    CHGVAR &CMD 'MAILTEXT'
    CHGVAR &PARM1 ('Bonjour' *BCAT %TRIM(&NAME) *TCAT ',')
    CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)
    CHGVAR &PARM1 ('Montant HT :' *BCAT %CHAR(&HT) *BCAT 'EUR, TTC :' +
                   *BCAT %CHAR(&TTC) *BCAT 'EUR.')
    CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)
    CHGVAR &CMD 'MAILSEND'
    CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)
    IF COND(&RESULT *NE '0') THEN(GOTO CMDLBL(ERREUR))
  ENDDO

  CHGVAR &CMD 'MAILEND'
  CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)
  SNDPGMMSG MSG('3 factures envoyées') MSGTYPE(*COMP)
  RETURN

ERREUR:
  SNDPGMMSG MSGID(CPF9898) MSGF(QCPFMSG) MSGDTA('FACTURES:' *BCAT &RESULT) +
            MSGTYPE(*ESCAPE)
ENDPGM
