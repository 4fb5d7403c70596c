/*********************************************************************/
/* INVOICE: a billing program sends invoice 42 with the LNCCMD mail */
/* commands, written as in a CL source member on IBM i.              */
/*                                                                   */
/*   lnccmd run --set SERVER=smtp.example.com --set PORT=25 +        */
/*              examples/cl/invoice.clp                              */
/*                                                                   */
/* Run it from the repository root: the PDF and the logo are in      */
/* c-examples/data (or --set DATA=/another/folder).                  */
/*********************************************************************/
PGM
  DCL VAR(&SERVER) TYPE(*CHAR) LEN(64)   VALUE('127.0.0.1')
  DCL VAR(&PORT)   TYPE(*CHAR) LEN(5)    VALUE('25')
  DCL VAR(&TO)     TYPE(*CHAR) LEN(64)   VALUE('Client <client@example.test>')
  DCL VAR(&DATA)   TYPE(*CHAR) LEN(128)  VALUE('c-examples/data')
  DCL VAR(&PARM1)  TYPE(*CHAR) LEN(1024)

  /* The server and the sender. The property string goes on over    */
  /* several lines with + inside the quotes, as in the vendor's     */
  /* MAILSMTP example; *TCAT drops the variables' trailing blanks.  */
  CHGVAR VAR(&PARM1) VALUE('SERVER="' *TCAT &SERVER *TCAT '";PORT=' +
                           *TCAT &PORT *TCAT ';SENDER="Service factu+
                           ration <factures@example.test>";REPLY="com+
                           pta@example.test";Timeout=30')
  LNCCMD CMD(MAILSMTP) PARM1(&PARM1) PARM2(' ')

  LNCCMD CMD(MAILPREP) PARM1(&TO) +
         PARM2('subject="Facture n°42 - 1 234,56 €";priority=5')
  LNCCMD CMD(MAILTEXT) PARM1('Madame, Monsieur,')
  LNCCMD CMD(MAILTEXT) PARM1('veuillez trouver ci-joint la facture n°42 +
                              d''un montant de 1 234,56 €.')
  LNCCMD CMD(MAILTEXT) PARM1('Cordialement, le service comptabilité')
  LNCCMD CMD(MAILBODYF) PARM1('<html><body><img src="cid:logo" alt="logo">+
                               <p>Madame, Monsieur,</p><p>veuillez trouver +
                               ci-joint la facture n°42 d''un montant de +
                               <b>1 234,56 €</b>.</p></body></html>')
  LNCCMD CMD(MAILLATT) PARM1(&DATA *TCAT '/invoice.pdf') +
         PARM2('name="Facture n°42.pdf"')
  LNCCMD CMD(MAILLATT) PARM1(&DATA *TCAT '/logo.png') PARM2('cid=logo')
  LNCCMD CMD(MAILSEND)
  LNCCMD CMD(MAILEND)

  SNDPGMMSG MSG('Facture 42 envoyée à' *BCAT &TO)
ENDPGM
