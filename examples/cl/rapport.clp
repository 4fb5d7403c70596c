/*********************************************************************/
/* RAPPORT: the daily report names its date and the job's user,     */
/* from RTVJOBA and RTVSYSVAL, with the date cut by %SST.            */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &DATE   *CHAR 6
  DCL &TIME   *CHAR 9
  DCL &USER   *CHAR 10
  DCL &JOB    *CHAR 10
  DCL &NBR    *CHAR 6
  DCL &FMT    *CHAR 4
  DCL &JJMMAA *CHAR 8

  RTVJOBA JOB(&JOB) USER(&USER) NBR(&NBR) DATE(&DATE) DATFMT(&FMT)
  RTVSYSVAL SYSVAL(QTIME) RTNVAR(&TIME)
  IF (&FMT *EQ 'DMY') THEN(CHGVAR &JJMMAA (%SST(&DATE 1 2) *CAT '/' *CAT +
                           %SST(&DATE 3 2) *CAT '/' *CAT %SST(&DATE 5 2)))
  ELSE CMD(CHGVAR &JJMMAA &DATE)
  LNCCMD CMD(MAILSMTP) PARM1('Server="' *TCAT &SERVER *TCAT '";port=' +
         *TCAT &PORT *TCAT ';Sender="Exploitation <exploit@example.test>"')
  LNCCMD CMD(MAILPREP) PARM1('exploitation@example.test') +
         PARM2('subject="Rapport journalier du ' *CAT &JJMMAA *CAT '"')
  LNCCMD CMD(MAILTEXT) PARM1('Travail' *BCAT &JOB *BCAT 'numéro' *BCAT &NBR)
  LNCCMD CMD(MAILTEXT) PARM1('Heure :' *BCAT %SST(&TIME 1 2) *CAT 'h' *CAT %SST(&TIME 3 2))
  LNCCMD CMD(MAILSEND)
  LNCCMD CMD(MAILEND)
  SNDPGMMSG MSG('Rapport envoyé par' *BCAT &USER) TOPGMQ(*EXT) MSGTYPE(*INFO)
ENDPGM
