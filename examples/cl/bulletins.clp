/*********************************************************************/
/* BULLETINS: payslips. DOWHILE over a table of employees, the      */
/* LNCCMD command form, MONMSG EXEC(DO) on each send.                */
/* Record: matricule (5) address (35) net pay (7 2) = 47 characters. */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &LIST   *CHAR 141 VALUE('00017paul.durand@example.test           0215000-
00042lea.petit@example.test             0189950-
00108marc.roux@example.test             0301025')
  DCL &I      *INT VALUE(1)
  DCL &N      *INT
  DCL &REC    *CHAR 47
  DCL &NET    *DEC (7 2)
  DCL &AT     *INT
  DCL &ERRORS *INT

  LNCCMD CMD(MAILSMTP) PARM1('Server="' *TCAT &SERVER *TCAT '";port=' +
         *TCAT &PORT *TCAT ';Sender="Paie <paie@example.test>"')
  CHGVAR &N (%LEN(&LIST) / 47)
  DOWHILE COND(&I *LE &N)
    CHGVAR &REC %SST(&LIST ((&I - 1) * 47 + 1) 47)
    CHGVAR &NET (%DEC(%SST(&REC 41 7) 7 0) / 100)
    CHGVAR &AT %SCAN('@' %SST(&REC 6 35))
    LNCCMD CMD(MAILPREP) PARM1(%SST(&REC 6 35)) +
           PARM2('subject="Bulletin de paie, matricule ' *CAT %SST(&REC 1 5) +
           *TCAT '"')
    LNCCMD CMD(MAILTEXT) PARM1('Bonjour' *BCAT %SST(&REC 6 (&AT - 1)) *TCAT ',')
    LNCCMD CMD(MAILTEXT) PARM1('Net à payer :' *BCAT %CHAR(&NET) *BCAT 'EUR')
    LNCCMD CMD(MAILSEND)
    MONMSG MSGID(CPF0000) EXEC(DO)
      CHGVAR &ERRORS (&ERRORS + 1)
      SNDPGMMSG MSG('Bulletin' *BCAT %SST(&REC 1 5) *BCAT 'non envoyé') +
                MSGTYPE(*DIAG)
    ENDDO
    CHGVAR &I (&I + 1)
  ENDDO
  LNCCMD CMD(MAILEND)
  SNDPGMMSG MSG(%CHAR(&N) *BCAT 'bulletins,' *BCAT %CHAR(&ERRORS) *BCAT 'erreur(s)') +
            MSGTYPE(*COMP)
ENDPGM
