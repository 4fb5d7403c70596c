000100261202/* AVOIR: a source member exported with SEU's sequence numbers and  */
000200261202/* dates (columns 1-12) in windows-1252 (CCSID 1252), as CPYF to a  */
000300261202/* flat file and an FTP transfer in ASCII mode give it:             */
000400261202/*   lnccmd run --encoding windows-1252 examples/cl/avoir-seu.clp   */
000500261202PGM
000600261202  DCL &SERVER *CHAR 64 VALUE('127.0.0.1')
000700261202  DCL &PORT   *CHAR 5  VALUE('25')
000800261202  DCL &MONTANT *DEC (7 2) VALUE(45.50)
000900261202  LNCCMD CMD(MAILSMTP) PARM1('Server="' *TCAT &SERVER *TCAT '";port=' +
001000261202         *TCAT &PORT *TCAT ';Sender="Comptabilité <compta@example.test>"')
001100261202  LNCCMD CMD(MAILPREP) PARM1('client@example.test') +
001200261202         PARM2('subject="Avoir de ' *CAT %CHAR(&MONTANT) *BCAT '€"')
001300261202  LNCCMD CMD(MAILTEXT) PARM1('Un avoir de' *BCAT %CHAR(&MONTANT) *BCAT +
001400261202         '€ a été émis à votre nom.')
001500261202  LNCCMD CMD(MAILSEND)
001600261202  LNCCMD CMD(MAILEND)
001700261202ENDPGM
