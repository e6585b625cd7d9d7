//! PII detectors on chat text: labelled messages in the style of WhatsApp
//! customer-service chats (lower case, no accents, abbreviations; 70%
//! Portuguese), from the sentence shapes written by hand
//! (`shapes.txt`), split by shape into a development part and a test part
//! so that what was tuned on one is measured on the other. Reports, per
//! part: precision, recall and F1 per type and language, with exact spans
//! and with overlap; Anonymize's residue (labelled values still readable
//! in its output, default masking) and over-masking (messages without
//! personal data that it changed).
//!
//!   cargo run --release -p engram-rules --example pii_chat -- [--per-shape N] [--seed S] [--show-errors K] [--fresh K]
//!   cargo run --release -p engram-rules --example pii_chat -- --names-in FILE
//!
//! `--show-errors` prints the development part's errors only: tune on
//! those, report the test part. `--fresh K` also reports the last K
//! shapes apart (both parts): a round written after the last tuning,
//! measured before anyone reads its errors.
//!
//! Values are generated with their check digits by the benchmarks' own
//! code (`../common/values.rs`), not the detectors'.
//! Long: every slot's generator of written forms, then the report.

#[path = "../common/values.rs"]
mod values;

use std::collections::BTreeMap;

use engram_rules::compliance::{Masking, anonymize};
use engram_rules::pii;
use engram_rules::pii::PiiKind;
use engram_text::fold;
use values::*;

const SHAPES: &str = include_str!("shapes.txt");

const FIRST_PT: &[&str] = &[
    "João",
    "Maria",
    "Ana",
    "José",
    "Francisco",
    "Antônio",
    "Fernanda",
    "Juliana",
    "Rosa",
    "Gabriela",
    "Thaís",
    "Kauã",
    "Luiz",
    "Beatriz",
    "Rafael",
    "Letícia",
    "Marcos",
    "Patrícia",
    "Zé",
    "Cláudia",
    "Sebastião",
    "Raimunda",
    "Wesley",
    "Jéssica",
    "Enzo",
    "Valentina",
    "Heloísa",
    "Davi",
    "Rosângela",
    "Edson",
    "Lucas",
    "Matheus",
    "Larissa",
    "Camila",
    "Bruna",
    "Aline",
    "Cleide",
    "Gilmar",
    "Reginaldo",
    "Josiane",
    "Ítalo",
    "Railson",
    "Jhonatan",
    "Sueli",
    "Adriana",
    "Vitória",
    "Kelly",
    "Márcio",
    "Iara",
    "Hiroshi",
];
const FIRST_EN: &[&str] = &[
    "Mark", "Jennifer", "Michael", "Sarah", "David", "Emily", "James", "Olivia", "Wei", "Priya",
    "Kevin", "Grace", "Daniel", "Hannah", "Brian", "Megan", "Tyler", "Ashley", "Aisha", "Diego",
    "Mei", "Carlos", "Fatima", "Connor", "Destiny", "Raj",
];
const LAST: &[&str] = &[
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Pereira",
    "Ferreira",
    "Almeida",
    "Costa",
    "Pinheiro",
    "Carvalho",
    "Ribeiro",
    "Nascimento",
    "Araújo",
    "Barbosa",
    "Smith",
    "Johnson",
    "Brown",
    "Miller",
    "Patel",
    "Nguyen",
    "Garcia",
    "Kim",
    "Tanaka",
    "Yamamoto",
    "Haddad",
    "Rossi",
    "Schmidt",
    "Kowalski",
    "Gomes",
    "Rocha",
    "Cavalcanti",
    "Moreira",
    "Chen",
    "Murphy",
    "Lopez",
    "Dias",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "hotmail.com",
    "outlook.com",
    "yahoo.com.br",
    "uol.com.br",
    "icloud.com",
];
const DDD: &[u32] = &[
    11, 21, 31, 41, 47, 48, 51, 61, 62, 71, 81, 85, 91, 92, 19, 27, 34, 83,
];

/// Labelled slots and their kinds.
fn kind_of(slot: &str) -> Option<PiiKind> {
    Some(match slot {
        s if s.starts_with("name") || s.starts_with("first") || s == "surname" => {
            PiiKind::PersonName
        }
        // A surname alone in a place's or a firm's name is not a person.
        s if s.starts_with("last") => return None,
        s if s.starts_with("cpf") => PiiKind::Cpf,
        s if s.starts_with("cnpj") => PiiKind::Cnpj,
        s if s.starts_with("cns") => PiiKind::Cns,
        s if s.starts_with("phone") => PiiKind::Phone,
        "email" => PiiKind::Email,
        s if s.starts_with("card") => PiiKind::PaymentCard,
        s if s.starts_with("ssn") => PiiKind::Ssn,
        _ => return None,
    })
}

fn digits(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.digit() as u8))
        .collect()
}

/// A value for a slot of a shape in Portuguese (`pt`) or English.
fn value(slot: &str, rng: &mut Rng, pt: bool) -> String {
    let first = |rng: &mut Rng| {
        if pt && !rng.chance(15) {
            rng.pick(FIRST_PT)
        } else {
            rng.pick(FIRST_EN)
        }
        .to_owned()
    };
    let full = |rng: &mut Rng| {
        let f = first(rng);
        match rng.below(4) {
            0 => format!("{f} {} {}", rng.pick(LAST), rng.pick(LAST)),
            1 if pt => format!("{f} da {}", rng.pick(LAST)),
            _ => format!("{f} {}", rng.pick(LAST)),
        }
    };
    let lower = |s: String, rng: &mut Rng| {
        if rng.chance(50) {
            fold(&s)
        } else {
            s.to_lowercase()
        }
    };
    let mobile = |rng: &mut Rng| format!("9{}", digits(rng, 8));
    let area = |rng: &mut Rng| DDD[rng.below(DDD.len())];
    let nanp = |rng: &mut Rng| {
        (
            nanp_area(rng).to_string(),
            format!("{}{}", 2 + rng.below(8), digits(rng, 2)),
            digits(rng, 4),
        )
    };
    match slot {
        "name" => full(rng),
        "name_lc" => {
            let n = full(rng);
            lower(n, rng)
        }
        "name_uc" => full(rng).to_uppercase(),
        "first" => first(rng),
        "first_lc" => {
            let n = first(rng);
            lower(n, rng)
        }
        "last" | "surname" => rng.pick(LAST).to_owned(),
        // A person's name in a place's (not labelled: "Rua João Pessoa").
        "pname" => full(rng),
        "pname_lc" => full(rng).to_lowercase(),
        "pfirst_lc" => first(rng).to_lowercase(),
        "cpf" => cpf_formatted(&cpf_digits(rng)),
        "cpf_plain" => text(&cpf_digits(rng)),
        "cpf_dash" => {
            let t = text(&cpf_digits(rng));
            format!("{}-{}", &t[..9], &t[9..])
        }
        "cpf_dots" => {
            let t = text(&cpf_digits(rng));
            format!("{}.{}.{}.{}", &t[..3], &t[3..6], &t[6..9], &t[9..])
        }
        "cpf_spaces" => {
            let t = text(&cpf_digits(rng));
            format!("{} {} {} {}", &t[..3], &t[3..6], &t[6..9], &t[9..])
        }
        "bad_cpf" => {
            let d = corrupt(cpf_digits(rng), rng);
            if rng.chance(50) {
                cpf_formatted(&d)
            } else {
                text(&d)
            }
        }
        "cnpj" => cnpj_formatted(&cnpj_chars(rng, false)),
        "cnpj_nodots" => {
            let t = String::from_utf8(cnpj_chars(rng, false)).unwrap();
            format!("{}/{}-{}", &t[..8], &t[8..12], &t[12..])
        }
        "cnpj_spaces" => {
            let t = String::from_utf8(cnpj_chars(rng, false)).unwrap();
            format!(
                "{} {} {} {} {}",
                &t[..2],
                &t[2..5],
                &t[5..8],
                &t[8..12],
                &t[12..]
            )
        }
        "bad_cnpj" => {
            let d: Vec<u32> = cnpj_chars(rng, false)
                .iter()
                .map(|b| u32::from(b - b'0'))
                .collect();
            cnpj_formatted(text(&corrupt(d, rng)).as_bytes())
        }
        "cns" => text(&cns_digits(rng)),
        "cns_spaces" => {
            let t = text(&cns_digits(rng));
            format!("{} {} {} {}", &t[..3], &t[3..7], &t[7..11], &t[11..])
        }
        "phone" => {
            let m = mobile(rng);
            format!("({}) {}-{}", area(rng), &m[..5], &m[5..])
        }
        "phone_plain" => format!("{}{}", area(rng), mobile(rng)),
        "phone_dd" => {
            let m = mobile(rng);
            format!("{} {}-{}", area(rng), &m[..5], &m[5..])
        }
        "phone_0" => {
            let m = mobile(rng);
            format!("0{} {} {} {}", area(rng), &m[..1], &m[1..5], &m[5..])
        }
        "phone_55" => format!("55{}{}", area(rng), mobile(rng)),
        "phone_plus55" => {
            let m = mobile(rng);
            format!("+55 {} {}-{}", area(rng), &m[..5], &m[5..])
        }
        "phone_local" => {
            if rng.chance(50) {
                let m = mobile(rng);
                format!("{}-{}", &m[..5], &m[5..])
            } else {
                format!("3{}-{}", digits(rng, 3), digits(rng, 4))
            }
        }
        "phone_us" => {
            let (a, b, c) = nanp(rng);
            format!("({a}) {b}-{c}")
        }
        "phone_us_dash" => {
            let (a, b, c) = nanp(rng);
            format!("{a}-{b}-{c}")
        }
        "phone_us_plus" => {
            let (a, b, c) = nanp(rng);
            format!("+1 {a} {b} {c}")
        }
        "email" => {
            let f = fold(rng.pick(FIRST_PT));
            let l = fold(rng.pick(LAST));
            let sep = rng.pick(&[".", "_", ""]);
            let n = if rng.chance(40) {
                digits(rng, 2)
            } else {
                String::new()
            };
            format!("{f}{sep}{l}{n}@{}", rng.pick(DOMAINS))
        }
        "card" => {
            let t = text(&card_digits(rng, true));
            format!("{} {} {} {}", &t[..4], &t[4..8], &t[8..12], &t[12..])
        }
        "card_plain" => text(&card_digits(rng, true)),
        "ssn" | "ssn_spaces" => {
            let sep = if slot == "ssn" { "-" } else { " " };
            format!(
                "{:03}{sep}{:02}{sep}{:04}",
                1 + rng.below(665),
                1 + rng.below(99),
                1 + rng.below(9999)
            )
        }
        // Hard negatives.
        "order" => digits(rng, 11),
        "protocol" => digits(rng, 13),
        "process" => format!(
            "{}-{}.2024.8.26.{}",
            digits(rng, 7),
            digits(rng, 2),
            digits(rng, 4)
        ),
        "boleto" => format!(
            "{}.{} {}.{} {}.{} {} {}",
            digits(rng, 5),
            digits(rng, 5),
            digits(rng, 5),
            digits(rng, 6),
            digits(rng, 5),
            digits(rng, 6),
            rng.digit(),
            digits(rng, 14)
        ),
        "money" => {
            if pt {
                format!(
                    "R$ {}.{},{}",
                    1 + rng.below(9),
                    digits(rng, 3),
                    digits(rng, 2)
                )
            } else {
                format!("${}.{}", 10 + rng.below(900), digits(rng, 2))
            }
        }
        "date" => format!("{:02}/{:02}/2025", 1 + rng.below(28), 1 + rng.below(12)),
        "time" => {
            if pt {
                format!("{}h{}", 8 + rng.below(10), rng.pick(&["", "30", "15"]))
            } else {
                format!("{}:30pm", 1 + rng.below(6))
            }
        }
        "cep" => format!("{}-{}", digits(rng, 5), digits(rng, 3)),
        "street" => rng
            .pick(&[
                "Rua João Pessoa",
                "Av. Getúlio Vargas",
                "rua marechal deodoro",
                "Rua Tiradentes",
                "Av Rui Barbosa",
            ])
            .to_owned(),
        "street_en" => rng
            .pick(&[
                "Martin Luther King Jr Blvd",
                "Washington Street",
                "Lincoln Ave",
            ])
            .to_owned(),
        "company" => rng
            .pick(&[
                "Silva & Souza Advogados",
                "Oliveira Costa Sociedade de Advogados",
                "Johnson & Johnson",
                "Magazine Luiza",
            ])
            .to_owned(),
        "shop" => rng
            .pick(&["Renner", "Riachuelo", "Casas Bahia", "Walmart", "Target"])
            .to_owned(),
        "oab" => format!("SP {}.{}", digits(rng, 3), digits(rng, 3)),
        "crm" => format!("{}-SP", digits(rng, 6)),
        "dose" => rng
            .pick(&["500mg", "20 gotas", "1 comprimido de 50mg", "10 ml"])
            .to_owned(),
        "sac" => {
            if rng.chance(50) {
                format!("0800 {} {}", digits(rng, 3), digits(rng, 4))
            } else {
                format!("4004-{}", digits(rng, 4))
            }
        }
        "tracking" => format!("QB{}BR", digits(rng, 9)),
        "sku" => format!("ABC-{}", digits(rng, 5)),
        "digits8" => format!("1{}", digits(rng, 7)),
        "digits7" => digits(rng, 7),
        // A number that passes CPF's check but is an order's or an exam's.
        "order_cpf" => text(&cpf_digits(rng)),
        // A number that passes CNS's check but is an exam's.
        "exam15" => text(&cns_digits(rng)),
        other => panic!("unknown slot {{{other}}} in shapes.txt"),
    }
}

/// A labelled message: its text, labelled spans, language, part.
struct Message {
    text: String,
    labels: Vec<(PiiKind, usize, usize)>,
    /// Each label's slot ("first_lc", "cpf_dash"): its written form.
    forms: Vec<&'static str>,
    pt: bool,
    test: bool,
    /// One of the last `--fresh` shapes.
    fresh: bool,
}

fn messages(per_shape: usize, seed: u64, fresh: usize) -> Vec<Message> {
    let mut rng = Rng(seed | 1);
    let shapes: Vec<(bool, &str)> = SHAPES
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (lang, text) = l.split_once(" | ").expect("language | text");
            (lang.trim() == "pt", text)
        })
        .collect();
    let mut out = Vec::new();
    for (n, (pt, shape)) in shapes.iter().enumerate() {
        for _ in 0..per_shape {
            let mut text = String::new();
            let mut labels = Vec::new();
            let mut forms = Vec::new();
            let mut rest = *shape;
            while let Some(open) = rest.find('{') {
                let close = rest[open..]
                    .find('}')
                    .map(|c| open + c)
                    .expect("a closed slot");
                text.push_str(&rest[..open]);
                let slot = &rest[open + 1..close];
                let v = value(slot, &mut rng, *pt);
                if let Some(kind) = kind_of(slot) {
                    labels.push((kind, text.len(), text.len() + v.len()));
                    forms.push(slot);
                }
                text.push_str(&v);
                rest = &rest[close + 1..];
            }
            text.push_str(rest);
            // "sent by {first_lc} {surname}": one person, one label.
            let mut j = 1;
            while j < labels.len() {
                let ((k0, s0, e0), (k1, s1, e1)) = (labels[j - 1], labels[j]);
                if k0 == PiiKind::PersonName && k1 == k0 && &text[e0..s1] == " " {
                    labels[j - 1] = (k0, s0, e1);
                    labels.remove(j);
                    forms.remove(j);
                } else {
                    j += 1;
                }
            }
            out.push(Message {
                text,
                labels,
                forms,
                pt: *pt,
                test: n % 2 == 1,
                fresh: n + fresh >= shapes.len(),
            });
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    exact: BTreeMap<(PiiKind, bool), Counts>,
    overlap: BTreeMap<(PiiKind, bool), Counts>,
    values: usize,
    residue: usize,
    negatives: usize,
    over_masked: usize,
    messages: usize,
    /// Per written form: labelled, found exactly, still readable after
    /// Anonymize.
    forms: BTreeMap<&'static str, [usize; 3]>,
}

/// Whether `value` can still be read in `masked`: found there whole, not
/// inside a longer word ("ana" in "semana" is no residue).
fn readable_in(masked: &str, value: &str) -> bool {
    masked.match_indices(value).any(|(at, _)| {
        let before = masked[..at].chars().next_back();
        let after = masked[at + value.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

impl Tally {
    /// Counts one message: what was found, what Anonymize left.
    fn record(&mut self, m: &Message, found: &[pii::Finding], masked: &str) {
        self.messages += 1;
        let same = |f: &pii::Finding, (k, s, e): &(PiiKind, usize, usize)| {
            (f.kind, f.start, f.end) == (*k, *s, *e)
        };
        let overlaps = |f: &pii::Finding, (k, s, e): &(PiiKind, usize, usize)| {
            f.kind == *k && f.start < *e && *s < f.end
        };
        for f in found {
            let exact = m.labels.iter().any(|l| same(f, l));
            let overlap = m.labels.iter().any(|l| overlaps(f, l));
            for (counts, hit) in [(&mut self.exact, exact), (&mut self.overlap, overlap)] {
                let c = counts.entry((f.kind, m.pt)).or_default();
                if hit { c.tp += 1 } else { c.fp += 1 }
            }
        }
        for (label, form) in m.labels.iter().zip(&m.forms) {
            let exact = found.iter().any(|f| same(f, label));
            if !exact {
                self.exact.entry((label.0, m.pt)).or_default().fn_ += 1;
            }
            if !found.iter().any(|f| overlaps(f, label)) {
                self.overlap.entry((label.0, m.pt)).or_default().fn_ += 1;
            }
            self.values += 1;
            let readable = readable_in(masked, &m.text[label.1..label.2]);
            self.residue += usize::from(readable);
            let f = self.forms.entry(form).or_default();
            f[0] += 1;
            f[1] += usize::from(exact);
            f[2] += usize::from(readable);
        }
        if m.labels.is_empty() {
            self.negatives += 1;
            self.over_masked += usize::from(masked != m.text);
        }
    }
}

fn main() {
    let mut per_shape = 4usize;
    let mut seed = 11u64;
    let mut show = 0usize;
    // The last `fresh` shapes: a round written after the detectors were
    // last tuned, reported apart before anyone looks at its errors.
    let mut fresh = 0usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `--names-in FILE`: the names found in each line of another text
    // (LoCoMo's chats, say), one `line<TAB>name` per finding, to read its
    // false positives.
    if let [flag, path] = args.as_slice()
        && flag == "--names-in"
    {
        let text = std::fs::read_to_string(path).expect("a readable file");
        for line in text.lines() {
            for f in pii::detect(line) {
                if f.kind == PiiKind::PersonName {
                    println!("{line}\t{}", &line[f.start..f.end]);
                }
            }
        }
        return;
    }
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok());
        match (pair[0].as_str(), value) {
            ("--per-shape", Some(v)) => per_shape = v as usize,
            ("--seed", Some(v)) => seed = v,
            ("--show-errors", Some(v)) => show = v as usize,
            ("--fresh", Some(v)) => fresh = v as usize,
            _ => {
                eprintln!(
                    "usage: pii_chat [--per-shape N] [--seed S] [--show-errors K] [--fresh K]"
                );
                std::process::exit(2);
            }
        }
    }
    let corpus = messages(per_shape, seed, fresh);
    // Development, test, and the fresh shapes of both parts.
    let mut parts = [Tally::default(), Tally::default(), Tally::default()];
    let mut shown = 0;
    for m in &corpus {
        let found = pii::detect(&m.text);
        let masked = anonymize(&m.text, &found, &Masking::Mask);
        if !m.test && shown < show {
            for f in &found {
                if !m.labels.contains(&(f.kind, f.start, f.end)) && shown < show {
                    shown += 1;
                    eprintln!(
                        "FP {:?} {:?} in {:?}",
                        f.kind,
                        &m.text[f.start..f.end],
                        m.text
                    );
                }
            }
            for (kind, s, e) in &m.labels {
                if !found
                    .iter()
                    .any(|f| (f.kind, f.start, f.end) == (*kind, *s, *e))
                    && shown < show
                {
                    shown += 1;
                    eprintln!("FN {kind:?} {:?} in {:?}", &m.text[*s..*e], m.text);
                }
            }
        }
        parts[usize::from(m.test)].record(m, &found, &masked);
        if m.fresh {
            parts[2].record(m, &found, &masked);
        }
    }

    let shapes = SHAPES
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    println!(
        "corpus: {} messages from {shapes} shapes ({} pt, {} en), {} with no personal data, seed {seed}",
        corpus.len(),
        corpus.iter().filter(|m| m.pt).count(),
        corpus.iter().filter(|m| !m.pt).count(),
        corpus.iter().filter(|m| m.labels.is_empty()).count(),
    );
    let names = [
        "development part".to_owned(),
        "test part".to_owned(),
        format!("fresh shapes, both parts (the last {fresh}, never tuned on)"),
    ];
    for (name, t) in names.iter().zip(&parts) {
        if t.messages == 0 {
            continue;
        }
        println!();
        println!("### {name} ({} messages)", t.messages);
        println!();
        println!("| type | lang | labelled | exact P | exact R | exact F1 | overlap F1 |");
        println!("|---|---|---:|---:|---:|---:|---:|");
        let mut all = (Counts::default(), Counts::default());
        for kind in PiiKind::ALL {
            for pt in [true, false] {
                let Some(e) = t.exact.get(&(kind, pt)).copied() else {
                    continue;
                };
                let o = t.overlap.get(&(kind, pt)).copied().unwrap_or_default();
                for (sum, c) in [(&mut all.0, e), (&mut all.1, o)] {
                    sum.tp += c.tp;
                    sum.fp += c.fp;
                    sum.fn_ += c.fn_;
                }
                println!(
                    "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                    kind.as_str(),
                    if pt { "pt" } else { "en" },
                    e.tp + e.fn_,
                    e.precision(),
                    e.recall(),
                    e.f1(),
                    o.f1()
                );
            }
        }
        println!(
            "| **all (micro)** | | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            all.0.tp + all.0.fn_,
            all.0.precision(),
            all.0.recall(),
            all.0.f1(),
            all.1.f1()
        );
        println!();
        println!(
            "Anonymize (mask): residue {:.1}% ({} of {} labelled values still readable), over-masking {:.1}% ({} of {} messages without personal data changed)",
            100.0 * t.residue as f64 / t.values.max(1) as f64,
            t.residue,
            t.values,
            100.0 * t.over_masked as f64 / t.negatives.max(1) as f64,
            t.over_masked,
            t.negatives
        );
        println!();
        println!("| written form | labelled | exact recall | residue |");
        println!("|---|---:|---:|---:|");
        for (form, [n, found, readable]) in &t.forms {
            println!(
                "| {form} | {n} | {:.3} | {:.1}% |",
                *found as f64 / *n as f64,
                100.0 * *readable as f64 / *n as f64
            );
        }
    }
}
