//! The CL programs of examples/cl, written as IBM i mail programs are
//! (loops over fixed-field tables, IF on &RESULT with GOTO ERREUR, MONMSG
//! EXEC, SNDPGMMSG *ESCAPE, %SST, DOFOR/DOWHILE/DOUNTIL, SELECT, *DEC
//! arithmetic), each run with `lnccmd run` against a real SMTP server
//! (aiosmtpd) with every received mail checked, then with `--dry-run`
//! with every written message parsed by Python's email package.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Longest any lnccmd child may run.
const LIMIT: Duration = Duration::from_secs(60);

/// A mail a program must send: envelope recipients, subject, lines of
/// its text.
struct Mail {
    rcpts: &'static [&'static str],
    subject: &'static str,
    text: &'static [&'static str],
}

struct Case {
    file: &'static str,
    /// More `lnccmd run` arguments; `{closed}` is a port nothing listens on.
    args: &'static [&'static str],
    exit: i32,
    /// What the server receives, in order.
    mails: &'static [Mail],
    /// Subjects of the dry run's messages, in order (a dry run has no
    /// server to refuse a recipient or to be down).
    dry: &'static [&'static str],
    /// Lines stderr must hold, on the live run.
    stderr: &'static [&'static str],
}

const fn m(
    rcpts: &'static [&'static str],
    subject: &'static str,
    text: &'static [&'static str],
) -> Mail {
    Mail {
        rcpts,
        subject,
        text,
    }
}

const CASES: &[Case] = &[
    Case {
        file: "factures.clp",
        args: &[],
        exit: 0,
        mails: &[
            m(
                &["compta@dupont.example.test"],
                "Facture C00001 - 1200.00 EUR TTC",
                &[
                    "Bonjour Dupont SA,",
                    "Montant HT : 1000.00 EUR, TTC : 1200.00 EUR.",
                ],
            ),
            m(
                &["martin@example.test"],
                "Facture C00002 - 300.60 EUR TTC",
                &[
                    "Bonjour Martin et fils,",
                    "Montant HT : 250.50 EUR, TTC : 300.60 EUR.",
                ],
            ),
            // 99.99 * 1.2 = 119.988: CL drops the third decimal, it does not round.
            m(
                &["achats@bernard.example.test"],
                "Facture C00003 - 119.98 EUR TTC",
                &["Montant HT : 99.99 EUR, TTC : 119.98 EUR."],
            ),
        ],
        dry: &[
            "Facture C00001 - 1200.00 EUR TTC",
            "Facture C00002 - 300.60 EUR TTC",
            "Facture C00003 - 119.98 EUR TTC",
        ],
        stderr: &["factures.clp:60: *COMP: 3 factures envoyées"],
    },
    Case {
        file: "bulletins.clp",
        args: &[],
        exit: 0,
        mails: &[
            m(
                &["paul.durand@example.test"],
                "Bulletin de paie, matricule 00017",
                &["Bonjour paul.durand,", "Net à payer : 2150.00 EUR"],
            ),
            m(
                &["lea.petit@example.test"],
                "Bulletin de paie, matricule 00042",
                &["Bonjour lea.petit,", "Net à payer : 1899.50 EUR"],
            ),
            m(
                &["marc.roux@example.test"],
                "Bulletin de paie, matricule 00108",
                &["Net à payer : 3010.25 EUR"],
            ),
        ],
        dry: &[
            "Bulletin de paie, matricule 00017",
            "Bulletin de paie, matricule 00042",
            "Bulletin de paie, matricule 00108",
        ],
        stderr: &["*COMP: 3 bulletins, 0 erreur(s)"],
    },
    Case {
        file: "relances.clp",
        args: &[],
        exit: 0,
        mails: &[
            m(
                &["alpha@example.test"],
                "Mise en demeure - facture F00101",
                &[
                    "Retard : 75 jours.",
                    "Sans règlement sous 8 jours, le dossier sera transmis.",
                ],
            ),
            m(
                &["beta@example.test"],
                "Second rappel - facture F00102",
                &["Retard : 40 jours.", "Merci de régulariser rapidement."],
            ),
            m(
                &["gamma@example.test"],
                "Rappel amical - facture F00103",
                &["Retard : 10 jours.", "Un simple oubli sans doute."],
            ),
        ],
        dry: &[
            "Mise en demeure - facture F00101",
            "Second rappel - facture F00102",
            "Rappel amical - facture F00103",
        ],
        stderr: &[],
    },
    Case {
        file: "escape.clp",
        args: &[],
        exit: 10,
        mails: &[m(
            &["ok.premier@example.test"],
            "Avis 1",
            &["Avis de passage."],
        )],
        dry: &["Avis 1"],
        stderr: &["escape.clp:36: *ESCAPE: CPF9898: Envoi interrompu à l'avis 2."],
    },
    Case {
        file: "alerte.clp",
        args: &[],
        exit: 0,
        mails: &[m(
            &["operateur@example.test"],
            "ALERTE batch RAPPORT",
            &["Pièce jointe introuvable : /nonexistent/rapport-du-jour.pdf"],
        )],
        dry: &["ALERTE batch RAPPORT"],
        stderr: &[
            "alerte.clp:17: warning: 200 MAILLATT: attachment '/nonexistent/rapport-du-jour.pdf' does not exist (MONMSG EXEC)",
            "alerte.clp:29: *DIAG: Rapport non envoyé, opérateur prévenu",
        ],
    },
    Case {
        file: "diffusion.clp",
        args: &[],
        exit: 0,
        mails: &[m(
            &[
                "dg@example.test",
                "adjoint@example.test",
                "auditeur@example.test",
                "secretariat@example.test",
            ],
            "Note de service 12",
            &["Réunion lundi à 9 h."],
        )],
        dry: &["Note de service 12"],
        stderr: &[],
    },
    Case {
        file: "devis.clp",
        args: &[],
        exit: 0,
        mails: &[m(
            &["client@example.test"],
            "Devis D-77",
            &[
                "Cartouche encre     3 x 19.90 = 59.70",
                "Imprimante laser    1 x 1499.00 = 1499.00",
                "Vis M4              12 x 0.10 = 1.20",
                "Total HT : 1559.90",
                // 1559.90 * 0.05 = 77.995, kept as 77.99 in a *DEC(11 2).
                "Remise 5% : 77.99",
                "TVA 20% : 296.38",
                "Total TTC : 1778.29",
            ],
        )],
        dry: &["Devis D-77"],
        stderr: &[],
    },
    Case {
        file: "rapport.clp",
        args: &[],
        exit: 0,
        // The date is checked against the message's Date header below.
        mails: &[m(&["exploitation@example.test"], "", &["Travail RAPPORT"])],
        dry: &[""],
        stderr: &["rapport.clp:29: *INFO: Rapport envoyé par"],
    },
    Case {
        file: "liste.clp",
        args: &[],
        exit: 0,
        mails: &[
            m(
                &["un@example.test"],
                "La lettre de décembre",
                &["Bonjour un"],
            ),
            m(
                &["deux@example.test"],
                "La lettre de décembre",
                &["Bonjour deux"],
            ),
        ],
        dry: &["La lettre de décembre", "La lettre de décembre"],
        stderr: &["liste.clp:29: *COMP: 2 lettres"],
    },
    Case {
        file: "operateur.clp",
        args: &[],
        exit: 0,
        mails: &[m(
            &["systeme@example.test"],
            "Sauvegarde terminée",
            &["La sauvegarde de la nuit est terminée."],
        )],
        dry: &["Sauvegarde terminée"],
        stderr: &[
            "operateur.clp:17: *INFO: Sauvegarde : compte rendu envoyé",
            "operateur.clp:18: *COMP: 1 compte rendu envoyé",
        ],
    },
    Case {
        file: "controle.clp",
        args: &[],
        exit: 0,
        mails: &[
            m(
                &["client.fr@example.test"],
                "Client 12345 (FR)",
                &["Cher client,"],
            ),
            m(
                &["autre.be@example.test"],
                "Client 54321 (BE)",
                &["Geachte klant,"],
            ),
        ],
        dry: &["Client 12345 (FR)", "Client 54321 (BE)"],
        stderr: &["controle.clp:23: *DIAG: Code client invalide : 12A45"],
    },
    Case {
        file: "sndmail.clp",
        args: &[],
        exit: 0,
        mails: &[
            m(
                &["lyon@agences.example.test"],
                "Tarifs 2027 - agence de LYON",
                &["Bonjour,", "les tarifs 2027 sont joints."],
            ),
            m(
                &["lille@agences.example.test"],
                "Tarifs 2027 - agence de LILLE",
                &["Bonjour,"],
            ),
            m(
                &["nantes@agences.example.test"],
                "Tarifs 2027 - agence de NANTES",
                &["Bonjour,"],
            ),
        ],
        dry: &[
            "Tarifs 2027 - agence de LYON",
            "Tarifs 2027 - agence de LILLE",
            "Tarifs 2027 - agence de NANTES",
        ],
        stderr: &[],
    },
    Case {
        file: "codes.clp",
        args: &[],
        exit: 0,
        mails: &[
            m(
                &["premier@example.test"],
                "Votre commande",
                &["Votre commande est partie."],
            ),
            m(
                &["troisieme@example.test"],
                "Votre commande",
                &["Votre commande est partie."],
            ),
        ],
        dry: &["Votre commande", "Votre commande", "Votre commande"],
        stderr: &[
            "codes.clp:33: *DIAG: Refusé : 502 MAILSEND:",
            "codes.clp:40: *COMP: 2 envoyé(s), 1 refusé(s)",
        ],
    },
    Case {
        file: "secours.clp",
        args: &["--set", "PORT1={closed}"],
        exit: 0,
        mails: &[m(
            &["astreinte@example.test"],
            "Disque plein sur PROD",
            &["Le disque est plein à 95 %."],
        )],
        dry: &["Disque plein sur PROD"],
        stderr: &["secours.clp:28: *DIAG: Serveur principal injoignable, serveur de secours"],
    },
    Case {
        file: "avoir-seu.clp",
        args: &["--encoding", "windows-1252"],
        exit: 0,
        mails: &[m(
            &["client@example.test"],
            "Avoir de 45.50 €",
            &["Un avoir de 45.50 € a été émis à votre nom."],
        )],
        dry: &["Avoir de 45.50 €"],
        stderr: &["avoir-seu.clp: columns 1-12 (SEU sequence numbers and dates) ignored"],
    },
];

fn run(args: &[String]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lnccmd"));
    cmd.arg("run")
        .args(args)
        .current_dir(root())
        .env_remove("LNCCMD_SMTP")
        .env_remove("LNCCMD_DATFMT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    wait_child(cmd.spawn().unwrap(), LIMIT)
}

/// The arguments of a case: `--set SERVER/PORT`, its own, then the file.
fn args(case: &Case, port: u16, closed: u16, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "--set".into(),
        "SERVER=127.0.0.1".into(),
        "--set".into(),
        format!("PORT={port}"),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v.extend(
        case.args
            .iter()
            .map(|a| a.replace("{closed}", &closed.to_string())),
    );
    v.push(format!("examples/cl/{}", case.file));
    v
}

/// `dd/mm/yy` of a Date header (`Wed, 2 Dec 2026 05:07:09 +0100`).
fn dmy(date: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let w: Vec<&str> = date.split_whitespace().collect();
    let month = MONTHS.iter().position(|m| *m == w[2]).unwrap() + 1;
    let day: u32 = w[1].parse().unwrap();
    format!("{day:02}/{month:02}/{}", &w[3][2..])
}

fn check_mail(case: &Case, i: usize, got: &Value, want: &Mail) {
    let place = format!("{} mail {}", case.file, i + 1);
    let mut r = rcpts(got);
    r.sort();
    let mut w: Vec<String> = want.rcpts.iter().map(|s| s.to_string()).collect();
    w.sort();
    assert_eq!(r, w, "{place}: recipients");
    let subject = header(got, "Subject").unwrap_or_default();
    if case.file == "rapport.clp" {
        let date = header(got, "Date").unwrap();
        assert_eq!(
            subject,
            format!("Rapport journalier du {}", dmy(date)),
            "{place}"
        );
    } else {
        assert_eq!(subject, want.subject, "{place}");
    }
    assert_eq!(got["defects"].as_array().map_or(0, Vec::len), 0, "{place}");
    let body = body_text(got);
    let lines: Vec<&str> = body.lines().collect();
    for l in want.text {
        assert!(
            lines.iter().any(|x| x.starts_with(l)),
            "{place}: no line {l:?} in {body:?}"
        );
    }
}

#[test]
fn the_corpus_has_fifteen_programs_at_least_and_each_is_tested() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("examples/cl"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".clp") && f != "invoice.clp")
        .collect();
    files.sort();
    let mut tested: Vec<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    tested.sort();
    assert_eq!(files, tested, "every program of examples/cl has its case");
    assert!(files.len() >= 15, "{files:?}");
}

#[test]
fn each_program_sends_what_it_should_to_a_real_server() {
    for case in CASES {
        let server = SmtpServer::start();
        let out = run(&args(case, server.port, free_port(), &[]));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(case.exit), "{}: {err}", case.file);
        for l in case.stderr {
            assert!(err.contains(l), "{}: no {l:?} in\n{err}", case.file);
        }
        // The process has ended: every message it sent is at the server.
        let got = server.wait_for(case.mails.len());
        assert_eq!(got.len(), case.mails.len(), "{}: {err}", case.file);
        for (i, (g, w)) in got.iter().zip(case.mails).enumerate() {
            check_mail(case, i, g, w);
        }
        if case.file == "sndmail.clp" {
            let pdf = std::fs::read(root().join("c-examples/data/invoice.pdf")).unwrap();
            for g in &got {
                let part = leaf_parts(g)
                    .into_iter()
                    .find(|p| p["filename"] == "Tarifs 2027.pdf")
                    .expect("the PDF");
                assert_eq!(part["sha256"], sha256_hex(&pdf));
            }
        }
    }
}

#[test]
fn each_program_dry_runs_with_the_same_messages() {
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        let out_dir = dir.path().join("out");
        let out_s = out_dir.to_str().unwrap().to_string();
        // Port 9 (discard): a dry run never connects, whatever the port.
        let out = run(&args(case, 9, free_port(), &["--dry-run", "--out", &out_s]));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(case.exit), "{}: {err}", case.file);
        let mut files: Vec<_> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert_eq!(files.len(), case.dry.len(), "{}: {err}", case.file);
        for (f, subject) in files.iter().zip(case.dry) {
            let parsed = parse_eml(f);
            assert_eq!(
                parsed["defects"].as_array().map_or(0, Vec::len),
                0,
                "{}",
                case.file
            );
            let got = header(&parsed, "Subject").unwrap_or_default().to_string();
            if case.file == "rapport.clp" {
                let date = header(&parsed, "Date").unwrap();
                assert_eq!(got, format!("Rapport journalier du {}", dmy(date)));
            } else {
                assert_eq!(&got, subject, "{}", case.file);
            }
        }
        assert!(
            err.contains("(dry run: nothing was sent)"),
            "{}: {err}",
            case.file
        );
    }
}
