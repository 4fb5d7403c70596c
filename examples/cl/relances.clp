/*********************************************************************/
/* RELANCES: payment reminders. SELECT on the days overdue, the     */
/* tone of the mail chosen with WHEN, *INT arithmetic, DOUNTIL.      */
/* Record: address (30) days overdue (3) invoice number (6).         */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &TABLE  *CHAR 117 VALUE('alpha@example.test            075F00101-
beta@example.test             040F00102-
gamma@example.test            010F00103')
  DCL &I      *INT
  DCL &DAYS   *INT
  DCL &SUBJ   *CHAR 60
  DCL &TONE   *CHAR 80
  DCL &REC    *CHAR 39

  LNCCMD CMD(MAILSMTP) PARM1('Server="' *TCAT &SERVER *TCAT '";port=' +
         *TCAT &PORT *TCAT ';Sender="Recouvrement <recouvrement@example.test>"')
  DOUNTIL COND(&I *GE 3)
    CHGVAR &I (&I + 1)
    CHGVAR &REC %SST(&TABLE (&I * 39 - 38) 39)
    CHGVAR &DAYS %INT(%SST(&REC 31 3))
    SELECT
      WHEN COND(&DAYS *GT 60) THEN(DO)
        CHGVAR &SUBJ ('Mise en demeure - facture' *BCAT %SST(&REC 34 6))
        CHGVAR &TONE 'Sans règlement sous 8 jours, le dossier sera transmis.'
      ENDDO
      WHEN COND(&DAYS *GT 30) THEN(DO)
        CHGVAR &SUBJ ('Second rappel - facture' *BCAT %SST(&REC 34 6))
        CHGVAR &TONE 'Merci de régulariser rapidement.'
      ENDDO
      OTHERWISE CMD(DO)
        CHGVAR &SUBJ ('Rappel amical - facture' *BCAT %SST(&REC 34 6))
        CHGVAR &TONE 'Un simple oubli sans doute.'
      ENDDO
    ENDSELECT
    LNCCMD CMD(MAILPREP) PARM1(%SST(&REC 1 30)) +
           PARM2('subject="' *CAT %TRIMR(&SUBJ) *CAT '"')
    LNCCMD CMD(MAILTEXT) PARM1('Retard :' *BCAT %CHAR(&DAYS) *BCAT 'jours.')
    LNCCMD CMD(MAILTEXT) PARM1(&TONE)
    LNCCMD CMD(MAILSEND)
  ENDDO
  LNCCMD CMD(MAILEND)
ENDPGM
