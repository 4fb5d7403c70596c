//! The documentation keeps up with the code: every command name has its page
//! in docs/commands/ with the same sections, every property a parser accepts
//! is documented (and nothing else is), every status code has its row in
//! docs/codes.md, and every relative link in the docs leads somewhere.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

mod common;

use common::{files_with_ext, markdown_files, root};
use lnccmd::LnccmdStatus;
use lnccmd::command::COMMANDS;

/// Sections every command page has, as `## ` headings, in this order.
const SECTIONS: &[&str] = &[
    "Synopsis",
    "Parameters",
    "Result",
    "Status codes",
    "Example",
    "See also",
];

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn page(name: &str) -> String {
    read(&format!("docs/commands/{name}.md"))
}

/// The `## ` headings of a page, outside code blocks.
fn headings(text: &str) -> Vec<String> {
    prose_lines(text)
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_string())
        .collect()
}

/// The lines of a page outside fenced code blocks.
fn prose_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |l| {
        if l.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// The text of section `## name` up to the next `## ` heading.
fn section<'a>(text: &'a str, name: &str) -> &'a str {
    let start = text
        .find(&format!("\n## {name}\n"))
        .unwrap_or_else(|| panic!("no section '## {name}'"));
    let body = &text[start + name.len() + 5..];
    match body.find("\n## ") {
        Some(end) => &body[..end],
        None => body,
    }
}

#[test]
fn every_command_name_has_its_page_and_the_index_lists_it() {
    let index = read("docs/commands/README.md");
    for c in COMMANDS {
        let main = c.names[0];
        let text = page(main);
        assert!(
            text.starts_with(&format!("# {main}")),
            "docs/commands/{main}.md must start with '# {main}'"
        );
        assert!(
            index.contains(&format!("[{main}]({main}.md)")),
            "docs/commands/README.md lacks a link to {main}.md"
        );
        assert!(
            index.contains(&format!("[§{0}](../contract.md#{0})", c.spec)),
            "docs/commands/README.md lacks a link to {main}'s contract section [§{0}](../contract.md#{0})",
            c.spec
        );
        assert!(
            text.contains(&format!("[§{0}](../contract.md#{0})", c.spec)),
            "docs/commands/{main}.md lacks a link to its contract section [§{0}](../contract.md#{0})",
            c.spec
        );
        for alias in &c.names[1..] {
            let alias_page = page(alias);
            assert!(
                alias_page.contains(&format!("({main}.md)")),
                "docs/commands/{alias}.md must point to {main}.md"
            );
            assert!(
                text.contains(alias),
                "docs/commands/{main}.md must say that {alias} is the same command"
            );
        }
    }
}

#[test]
fn every_command_page_has_the_sections_in_order() {
    for c in COMMANDS {
        let main = c.names[0];
        let found = headings(&page(main));
        let mut wanted: Vec<&str> = SECTIONS.to_vec();
        if !c.command.properties().is_empty() {
            wanted.insert(2, "Properties");
        }
        let present: Vec<&str> = found
            .iter()
            .map(String::as_str)
            .filter(|h| wanted.contains(h))
            .collect();
        assert_eq!(
            present, wanted,
            "docs/commands/{main}.md: sections missing or out of order (found {found:?})"
        );
    }
}

/// Each property a parser accepts has a row `| `name` |` in its command's
/// Properties section, and each row there names a property the parser accepts.
#[test]
fn every_accepted_property_is_documented_and_only_those() {
    for c in COMMANDS {
        let accepted = c.command.properties();
        if accepted.is_empty() {
            continue;
        }
        let main = c.names[0];
        let text = page(main);
        let props = section(&text, "Properties");
        let rows: Vec<&str> = props
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        for name in accepted {
            assert!(
                rows.contains(name),
                "docs/commands/{main}.md: property '{name}' has no row '| `{name}` |' under Properties"
            );
        }
        for row in &rows {
            assert!(
                accepted.iter().any(|a| a.eq_ignore_ascii_case(row)),
                "docs/commands/{main}.md documents property '{row}', which {main} does not accept"
            );
        }
    }
}

/// Links to docs/codes.md as `[N](../codes.md#N)`: the numbers in a page's
/// Status codes section.
fn code_links(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](../codes.md#") {
        let label = rest[..i].rsplit('[').next().unwrap_or("").to_string();
        let after = &rest[i + "](../codes.md#".len()..];
        let anchor = after.split(')').next().unwrap_or("").to_string();
        out.push((label, anchor));
        rest = after;
    }
    out
}

#[test]
fn every_code_a_command_page_lists_exists() {
    let known: HashSet<String> = LnccmdStatus::ALL
        .iter()
        .map(|s| s.code().to_string())
        .collect();
    for c in COMMANDS {
        let main = c.names[0];
        let text = page(main);
        let listed = code_links(section(&text, "Status codes"));
        assert!(
            listed.len() >= 2,
            "docs/commands/{main}.md lists no status code under 'Status codes'"
        );
        for (label, anchor) in code_links(&text) {
            assert_eq!(
                label, anchor,
                "docs/commands/{main}.md: link [{label}] goes to code {anchor}"
            );
            assert!(
                known.contains(&anchor),
                "docs/commands/{main}.md lists code {anchor}, which does not exist"
            );
        }
        // Every status code row of the table is a link to codes.md.
        for line in section(&text, "Status codes").lines() {
            if let Some(cell) = line.strip_prefix("| ") {
                let cell = cell.split(" |").next().unwrap_or("");
                if cell.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    panic!(
                        "docs/commands/{main}.md: code '{cell}' should be a link to ../codes.md#{cell}"
                    );
                }
            }
        }
    }
}

/// Every status code has its row in docs/codes.md: `| N |`, an anchor for
/// the command pages' links, the strerror text, and what to do.
#[test]
fn codes_md_has_every_code_with_its_message_and_what_to_do() {
    let codes = read("docs/codes.md");
    for s in LnccmdStatus::ALL {
        let msg = s.message().to_str().unwrap();
        let row = format!("| {} |", s.code());
        let line = codes.lines().find(|l| l.starts_with(&row));
        let Some(line) = line else {
            panic!("docs/codes.md lacks a row for code {} ({msg})", s.code());
        };
        assert!(
            line.contains(msg),
            "docs/codes.md: code {} lacks its message '{msg}'",
            s.code()
        );
        assert!(
            line.contains(&format!("<a id=\"{}\"></a>", s.code())),
            "docs/codes.md: code {} lacks its anchor <a id=\"{}\"></a>",
            s.code(),
            s.code()
        );
        let what_to_do = line.trim_end().trim_end_matches('|').rsplit('|').next();
        if *s != LnccmdStatus::Ok {
            assert!(
                what_to_do.is_some_and(|w| !w.trim().is_empty()),
                "docs/codes.md: code {} does not say what to do",
                s.code()
            );
        }
    }
    for line in codes.lines() {
        let number = line
            .strip_prefix("| ")
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse::<i32>().ok());
        if let Some(n) = number {
            assert!(
                LnccmdStatus::from_code(n).is_some(),
                "docs/codes.md has a row for code {n}, which does not exist"
            );
        }
    }
}

#[test]
fn readme_lists_every_command_and_links_the_docs() {
    let readme = read("README.md");
    for c in COMMANDS {
        for name in c.names {
            assert!(
                readme.contains(&format!("| {name}")) || readme.contains(&format!("/ {name} |")),
                "README's command table lacks {name}"
            );
        }
    }
    for doc in [
        "docs/commands/README.md",
        "docs/codes.md",
        "docs/migrating.md",
        "docs/ffi.md",
    ] {
        assert!(
            readme.contains(&format!("]({doc})")),
            "README does not link {doc}"
        );
    }
}

/// Link targets `[text](target)` in prose (code blocks and `code` spans left out).
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose_lines(text) {
        // Drop `code` spans: a `](` inside them is no link.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            if let Some(end) = after.find(')') {
                out.push(after[..end].trim().to_string());
            }
            rest = after;
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, blanks as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn has_anchor(text: &str, anchor: &str) -> bool {
    text.contains(&format!("<a id=\"{anchor}\"></a>"))
        || prose_lines(text)
            .filter(|l| l.starts_with('#'))
            .any(|l| slug(l.trim_start_matches('#')) == anchor)
}

#[test]
fn every_relative_link_points_to_an_existing_file_and_anchor() {
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = file.strip_prefix(root()).unwrap().display().to_string();
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let dest = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            assert!(
                dest.exists(),
                "{shown}: link '{target}' points to {}, which does not exist",
                dest.display()
            );
            if let Some(anchor) = anchor.filter(|_| dest.extension().is_some_and(|x| x == "md")) {
                let dest_text = std::fs::read_to_string(&dest).unwrap();
                assert!(
                    has_anchor(&dest_text, anchor),
                    "{shown}: link '{target}': no heading or anchor '{anchor}' there"
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the parser broken?"
    );
}

#[test]
fn the_link_parser_and_slugs_work() {
    assert_eq!(
        links("see [a](x.md) and `[b](no.md)` and [c](y.md#z)\n```\n[d](code.md)\n```\n"),
        vec!["x.md", "y.md#z"]
    );
    assert_eq!(slug("Status codes"), "status-codes");
    assert_eq!(
        slug("MAILSMTP — the send log (`logfile`)"),
        "mailsmtp--the-send-log-logfile"
    );
    assert!(has_anchor("# T\n\n## Status codes\n", "status-codes"));
    assert!(has_anchor("| 102 | <a id=\"102\"></a>BAD |", "102"));
    assert!(!has_anchor("```\n## Hidden\n```\n", "hidden"));
}

/// README.md, docs/**/*.md, src/**/*.rs and tests/**/*.rs (but this file,
/// whose own tests quote what they catch): the text a reader follows.
fn cited_files() -> Vec<PathBuf> {
    let mut out = markdown_files();
    out.extend(files_with_ext(&root().join("src"), "rs"));
    out.extend(files_with_ext(&root().join("tests"), "rs"));
    out.retain(|p| !p.ends_with("tests/docs.rs"));
    out
}

/// `path` with `.` and `..` resolved by name (no file system access);
/// None when `..` climbs above the first component.
fn lexical(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// Whether `word` occurs in `line` as a whole word (not inside `UNSPECIFIED`).
fn has_word(line: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(word).any(|(i, _)| {
        !line[..i].chars().next_back().is_some_and(ident)
            && !line[i + word.len()..].chars().next().is_some_and(ident)
    })
}

/// What a line may not hold: a citation of the old out-of-tree contract
/// ("SPEC §4.2", "SPEC 1.4", "SPEC.md", "where SPEC is silent") or a path
/// that leaves the repository.
fn leaves_the_repository(line: &str) -> Option<&'static str> {
    if has_word(line, "SPEC") {
        return Some("cites SPEC: cite docs/contract.md instead ('contract §N')");
    }
    for (bad, why) in [
        (
            "../shared",
            "names a file outside the repository (../shared)",
        ),
        ("/work/", "names an absolute path of this machine (/work/)"),
        ("file://", "links to a local file (file://)"),
    ] {
        if line.contains(bad) {
            return Some(why);
        }
    }
    None
}

#[test]
fn no_reference_or_link_leaves_the_repository() {
    let mut problems = Vec::new();
    let mut links_checked = 0;
    for file in cited_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = file.strip_prefix(root()).unwrap().display().to_string();
        for (n, line) in text.lines().enumerate() {
            if let Some(why) = leaves_the_repository(line) {
                problems.push(format!("{shown}:{}: {why}: {}", n + 1, line.trim()));
            }
        }
        // Links, in Markdown files and in doc comments alike.
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") || target.starts_with('#') {
                continue;
            }
            let path = target.split('#').next().unwrap_or("");
            let inside = !path.starts_with('/')
                && lexical(&file.parent().unwrap().join(path))
                    .is_some_and(|p| p.starts_with(root()));
            if !inside {
                problems.push(format!(
                    "{shown}: link '{target}' leads outside the repository"
                ));
            }
            links_checked += 1;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        links_checked > 50,
        "only {links_checked} links: is the parser broken?"
    );
}

/// The anchors `<a id="N"></a>` of docs/contract.md: its section numbers.
fn contract_sections() -> HashSet<String> {
    let text = read("docs/contract.md");
    let mut out = HashSet::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("<a id=\"") {
        let after = &rest[i + 7..];
        if let Some(end) = after.find('"') {
            out.insert(after[..end].to_string());
        }
        rest = after;
    }
    out
}

/// Section numbers cited as "contract §N", "contract.md §N, §M" or linked
/// as `[§N](...contract.md#N)`, with the anchor the link goes to.
fn contract_citations(line: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let number = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect::<String>()
            .trim_end_matches('.')
            .to_string()
    };
    for marker in ["contract §", "contract.md §", "contract [§"] {
        let mut rest = line;
        while let Some(i) = rest.find(marker) {
            rest = &rest[i + marker.len()..];
            out.push((number(rest), None));
            // "docs/contract.md §2, §3": the numbers that follow too.
            let mut more = rest;
            while let Some(tail) = more
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                .strip_prefix(", §")
            {
                out.push((number(tail), None));
                more = tail;
            }
        }
    }
    let mut rest = line;
    while let Some(i) = rest.find("contract.md#") {
        let label = rest[..i]
            .rsplit("[§")
            .next()
            .filter(|_| rest[..i].contains("[§"));
        let after = &rest[i + "contract.md#".len()..];
        let anchor = number(after);
        let label = label.map(|l| l.split(']').next().unwrap_or("").to_string());
        out.push((anchor, label));
        rest = after;
    }
    out
}

#[test]
fn every_contract_citation_names_a_section_that_exists() {
    let sections = contract_sections();
    for n in [
        "1", "1.1", "1.4", "2", "3", "4", "4.1", "4.11", "5", "6.3", "7", "8", "9",
    ] {
        assert!(
            sections.contains(n),
            "docs/contract.md lacks <a id=\"{n}\"></a>"
        );
    }
    for c in COMMANDS {
        assert!(
            sections.contains(c.spec),
            "{}: contract section {} does not exist",
            c.names[0],
            c.spec
        );
    }
    let mut problems = Vec::new();
    let mut cited = 0;
    for file in cited_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = file.strip_prefix(root()).unwrap().display().to_string();
        for (n, line) in text.lines().enumerate() {
            for (section, label) in contract_citations(line) {
                cited += 1;
                if !sections.contains(&section) {
                    problems.push(format!(
                        "{shown}:{}: no contract section '{section}'",
                        n + 1
                    ));
                }
                if let Some(label) = label.filter(|l| *l != section) {
                    problems.push(format!(
                        "{shown}:{}: link [§{label}] goes to contract section {section}",
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        cited > 40,
        "only {cited} contract citations found: is the parser broken?"
    );
}

#[test]
fn the_repository_checks_catch_what_they_should() {
    assert!(leaves_the_repository("see SPEC §4.2 for this").is_some());
    assert!(leaves_the_repository("(SPEC 1.4)").is_some());
    assert!(leaves_the_repository("Decisions where SPEC is silent").is_some());
    assert!(leaves_the_repository("The contract is `../shared/SPEC.md`").is_some());
    assert!(leaves_the_repository("cat /work/shared/notes.md").is_some());
    assert!(leaves_the_repository("(std::net::Ipv6Addr::UNSPECIFIED, 0)").is_none());
    assert!(leaves_the_repository("contract [§4.2](contract.md#4.2)").is_none());
    assert_eq!(
        lexical(Path::new("/r/docs/../README.md")),
        Some("/r/README.md".into())
    );
    assert!(
        !lexical(Path::new("/r/docs/../../x"))
            .unwrap()
            .starts_with("/r")
    );
    assert_eq!(
        contract_citations("docs/contract.md §2, §3 and contract [§4.1](../contract.md#4.1)"),
        vec![
            ("2".to_string(), None),
            ("3".to_string(), None),
            ("4.1".to_string(), None),
            ("4.1".to_string(), Some("4.1".to_string())),
        ]
    );
    assert_eq!(
        contract_citations("[§4.2](contract.md#4.3)"),
        vec![("4.3".to_string(), Some("4.2".to_string()))]
    );
}
