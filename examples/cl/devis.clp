/*********************************************************************/
/* DEVIS: a quote. *DEC arithmetic on its lines: quantity x unit    */
/* price, a 5% discount, VAT 20%; the amounts are exact decimals.    */
/* Line: quantity (3) unit price (7 2) label (20) = 30 characters.   */
/*********************************************************************/
PGM
  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
  DCL &PORT   *CHAR 5  VALUE('25')
  DCL &LINES  *CHAR 90 VALUE('0030001990Cartouche encre     -
0010149900Imprimante laser    -
0120000010Vis M4              ')
  DCL &I      *INT
  DCL &QTY    *DEC (3 0)
  DCL &PU     *DEC (7 2)
  DCL &LINE   *DEC (9 2)
  DCL &TOTAL  *DEC (11 2)
  DCL &REMISE *DEC (11 2)
  DCL &TVA    *DEC (11 2)
  DCL &TTC    *DEC (11 2)
  DCL &L      *CHAR 30

  LNCCMD CMD(MAILSMTP) PARM1('Server="' *TCAT &SERVER *TCAT '";port=' +
         *TCAT &PORT *TCAT ';Sender="Ventes <ventes@example.test>"')
  LNCCMD CMD(MAILPREP) PARM1('client@example.test') PARM2('subject="Devis D-77"')
  DOFOR &I 1 3
    CHGVAR &L %SST(&LINES (&I * 30 - 29) 30)
    CHGVAR &QTY %SST(&L 1 3)
    CHGVAR &PU (%DEC(%SST(&L 4 7) 7 0) / 100)
    CHGVAR &LINE (&QTY * &PU)
    CHGVAR &TOTAL (&TOTAL + &LINE)
    LNCCMD CMD(MAILTEXT) PARM1(%SST(&L 11 20) *CAT %CHAR(&QTY) *BCAT 'x' +
           *BCAT %CHAR(&PU) *BCAT '=' *BCAT %CHAR(&LINE))
  ENDDO
  CHGVAR &REMISE (&TOTAL * 0.05)
  CHGVAR &TVA ((&TOTAL - &REMISE) * 0.2)
  CHGVAR &TTC (&TOTAL - &REMISE + &TVA)
  LNCCMD CMD(MAILTEXT) PARM1('Total HT :' *BCAT %CHAR(&TOTAL))
  LNCCMD CMD(MAILTEXT) PARM1('Remise 5% :' *BCAT %CHAR(&REMISE))
  LNCCMD CMD(MAILTEXT) PARM1('TVA 20% :' *BCAT %CHAR(&TVA))
  LNCCMD CMD(MAILTEXT) PARM1('Total TTC :' *BCAT %CHAR(&TTC))
  LNCCMD CMD(MAILSEND)
  LNCCMD CMD(MAILEND)
ENDPGM
