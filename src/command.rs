//! The command table: every LNCCMD mail command by name, with one line of
//! documentation each. Dispatch, docs and the "every command is tested" check all read it.

/// A mail command of LNCCMD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    MailSmtp,
    MailPrep,
    MailTo,
    MailCc,
    MailBcc,
    MailSubj,
    MailText,
    MailBodyF,
    MailLAtt,
    MailPrty,
    MailReport,
    MailHdr,
    MailInfo,
    MailSend,
    MailEnd,
}

/// One row of the table.
#[derive(Debug)]
pub struct CommandInfo {
    pub command: Command,
    /// Names accepted in CMD (case-insensitive); the first is the main one.
    pub names: &'static [&'static str],
    /// Its section of docs/contract.md (`4.1` is §4.1, anchor `#4.1`).
    pub spec: &'static str,
    pub doc: &'static str,
}

/// All commands, in the order a program calls them.
pub const COMMANDS: &[CommandInfo] = &[
    CommandInfo {
        command: Command::MailSmtp,
        names: &["MAILSMTP"],
        spec: "4.1",
        doc: "Open a session (handle 0) or reconfigure one: PARM1 = server and sender properties.",
    },
    CommandInfo {
        command: Command::MailPrep,
        names: &["MAILPREP"],
        spec: "4.2",
        doc: "Start a new message: PARM1 = To recipients, PARM2 = subject/priority/charset/report.",
    },
    CommandInfo {
        command: Command::MailTo,
        names: &["MAILTO"],
        spec: "4.3",
        doc: "Add To recipients (PARM1, ';'-separated).",
    },
    CommandInfo {
        command: Command::MailCc,
        names: &["MAILCC"],
        spec: "4.3",
        doc: "Add Cc recipients (PARM1, ';'-separated).",
    },
    CommandInfo {
        command: Command::MailBcc,
        names: &["MAILBCC"],
        spec: "4.3",
        doc: "Add Bcc recipients (PARM1); they get the message, no Bcc header is sent.",
    },
    CommandInfo {
        command: Command::MailSubj,
        names: &["MAILSUBJ"],
        spec: "4.4",
        doc: "Set the subject (PARM1), replacing any earlier one.",
    },
    CommandInfo {
        command: Command::MailText,
        names: &["MAILTEXT"],
        spec: "4.5",
        doc: "Append PARM1 to the plain-text body; each call after the first starts a new line.",
    },
    CommandInfo {
        command: Command::MailBodyF,
        names: &["MAILBODYF"],
        spec: "4.6",
        doc: "Set the HTML body from a file (PARM1 = path) or inline HTML (PARM1 starts with '<').",
    },
    CommandInfo {
        command: Command::MailLAtt,
        names: &["MAILLATT", "MAILATT"],
        spec: "4.7",
        doc: "Attach files (PARM1 = ';'-separated paths; PARM2 = name/type/inline/cid).",
    },
    CommandInfo {
        command: Command::MailPrty,
        names: &["MAILPRTY"],
        spec: "4.8",
        doc: "Set the priority: PARM1 = 0..5 or *LOW, *NORMAL, *HIGH.",
    },
    CommandInfo {
        command: Command::MailReport,
        names: &["MAILREPORT"],
        spec: "4.9",
        doc: "Ask for a delivery report (PARM1 empty), a read receipt ('read') or both ('both').",
    },
    CommandInfo {
        command: Command::MailHdr,
        names: &["MAILHDR"],
        spec: "4.12",
        doc: "Add a header of the program's own (PARM1 = name, PARM2 = value): X-..., List-Unsubscribe, In-Reply-To...",
    },
    CommandInfo {
        command: Command::MailInfo,
        names: &["MAILINFO"],
        spec: "4.13",
        doc: "What the last MAILSEND did: PARM1 = MESSAGEID, QUEUEID or TLS; RESULT is '0 <value>'.",
    },
    CommandInfo {
        command: Command::MailSend,
        names: &["MAILSEND"],
        spec: "4.10",
        doc: "Build and send the current message; on failure the draft is kept for a retry.",
    },
    CommandInfo {
        command: Command::MailEnd,
        names: &["MAILEND"],
        spec: "4.11",
        doc: "Close the session (QUIT), free it and set the handle to 0.",
    },
];

impl Command {
    /// Looks a command up by name: blanks trimmed, case ignored.
    pub fn from_name(name: &str) -> Option<Command> {
        let name = name.trim_matches([' ', '\t']);
        COMMANDS
            .iter()
            .find(|c| c.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|c| c.command)
    }

    pub fn info(self) -> &'static CommandInfo {
        COMMANDS
            .iter()
            .find(|c| c.command == self)
            .expect("every Command has a row in COMMANDS")
    }

    /// The main name, used in RESULT messages.
    pub fn name(self) -> &'static str {
        self.info().names[0]
    }

    /// The property names this command accepts in its property string
    /// (MAILSMTP's PARM1, MAILPREP's and MAILLATT's PARM2), spelled as
    /// documented and matched case-insensitively; empty for the others.
    /// These are the lists the parsers themselves look keys up in, so the
    /// documentation test (tests/docs.rs) sees every accepted name.
    pub fn properties(self) -> &'static [&'static str] {
        match self {
            Command::MailSmtp => crate::settings::PROPERTIES,
            Command::MailPrep => crate::session::PREP_PROPERTIES,
            Command::MailLAtt => crate::session::ATTACH_PROPERTIES,
            _ => &[],
        }
    }
}

/// "MAILSMTP, MAILPREP, ..." for the unknown-command message.
pub fn all_names() -> String {
    COMMANDS
        .iter()
        .map(|c| c.names.join("/"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_trims_blanks() {
        assert_eq!(Command::from_name("MAILSMTP"), Some(Command::MailSmtp));
        assert_eq!(Command::from_name("  mailSend\t"), Some(Command::MailSend));
        assert_eq!(Command::from_name("MailAtt"), Some(Command::MailLAtt));
        assert_eq!(Command::from_name("MAILLATT"), Some(Command::MailLAtt));
        assert_eq!(Command::from_name("MAIL"), None);
        assert_eq!(Command::from_name(""), None);
    }

    #[test]
    fn every_command_has_one_row_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for row in COMMANDS {
            assert_eq!(row.command.info().names, row.names);
            for n in row.names {
                assert!(names.insert(n.to_ascii_uppercase()), "{n} twice");
                assert_eq!(Command::from_name(n), Some(row.command));
            }
            assert!(!row.doc.is_empty());
        }
        assert_eq!(COMMANDS.len(), 15);
    }
}
