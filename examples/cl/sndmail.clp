/*********************************************************************/
/* SNDMAIL: LNCSNDMAIL in a loop, one mail per agency, with the     */
/* recipient and subject from variables and the PDF attached.        */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &AGENCES *CHAR 30 VALUE('lyon      lille     nantes    ')
  DCL &I      *INT
  DCL &AG     *CHAR 10

  DOFOR &I 1 3
    CHGVAR &AG %SST(&AGENCES (&I * 10 - 9) 10)
    LNCSNDMAIL TOINTNET(((%TRIM(&AG) *TCAT '@agences.example.test') *TO)) +
               SUBJECT('Tarifs 2027 - agence de' *BCAT %UPPER(&AG)) +
               MSG('Bonjour,' 'les tarifs 2027 sont joints.') +
               DOC(('c-examples/data/invoice.pdf' 'Tarifs 2027.pdf')) +
               CFGSMTP(&SERVER &PORT 'Siège <siege@example.test>')
  ENDDO
ENDPGM
