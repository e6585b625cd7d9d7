//! PII detector benchmark: generates labelled customer-service sentences in
//! Portuguese and English — positives of every type the detectors know and
//! hard negatives (order and protocol numbers, wrong check digits, dates,
//! amounts, postal codes, cards failing Luhn, capitalised words that are
//! not names) — runs `pii::detect` over them and reports precision, recall
//! and F1 per type (a finding counts when its type and exact span match a
//! label) and the detectors' throughput on one core.
//!
//!   cargo run --release -p engram-rules --example pii_bench -- [--sentences N] [--seed S] [--secs T]
//!
//! The generator computes check digits on its own (not with the detectors'
//! code), so a shared bug cannot hide.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use engram_rules::pii;
use engram_rules::pii::PiiKind;

#[path = "common/values.rs"]
mod values;

use values::*;

// ---------------------------------------------------------------------------
// Sentences.

const FIRST: &[&str] = &[
    "Maria", "João", "Ana", "Pedro", "Beatriz", "Lucas", "Juliana", "Rafael", "Fernanda", "Carlos",
    "Emily", "James", "Olivia", "Michael", "Sophia", "Daniel",
];
const LAST: &[&str] = &[
    "Silva", "Souza", "Oliveira", "Santos", "Pereira", "Costa", "Almeida", "Ferreira", "Smith",
    "Johnson", "Brown", "Miller", "Davis", "Garcia",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "email.com.br",
    "clinica.med.br",
    "outlook.com",
    "acme.io",
];

/// A labelled sentence: the text and its (type, exact span text).
struct Sample {
    text: String,
    labels: Vec<(PiiKind, String)>,
    portuguese: bool,
}

struct Builder {
    text: String,
    labels: Vec<(PiiKind, String)>,
}

impl Builder {
    fn new() -> Self {
        Self {
            text: String::new(),
            labels: Vec::new(),
        }
    }
    fn say(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }
    fn pii(&mut self, kind: PiiKind, s: &str) -> &mut Self {
        self.labels.push((kind, s.to_owned()));
        self.text.push_str(s);
        self
    }
}

fn name(rng: &mut Rng) -> String {
    format!("{} {}", rng.pick(FIRST), rng.pick(LAST))
}

fn phone(rng: &mut Rng) -> String {
    // Brazil's area codes (DDD).
    const DDD: &[u32] = &[
        11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42,
        43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74,
        75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99,
    ];
    let area = DDD[rng.below(DDD.len())];
    let n = |rng: &mut Rng, k: usize| (0..k).map(|_| rng.digit().to_string()).collect::<String>();
    match rng.below(4) {
        0 => format!("({area}) 9{}-{}", n(rng, 4), n(rng, 4)),
        1 => format!("+55 {area} 9{}-{}", n(rng, 4), n(rng, 4)),
        2 => format!("({area}) 3{}-{}", n(rng, 3), n(rng, 4)),
        _ => format!("+1 {} 555 {}", nanp_area(rng), n(rng, 4)),
    }
}

fn email(rng: &mut Rng) -> String {
    let first = rng.pick(FIRST).to_lowercase().replace(['ã', 'é', 'ç'], "a");
    let last = rng.pick(LAST).to_lowercase();
    let sep = rng.pick(&[".", "_", ""]);
    format!("{first}{sep}{last}@{}", rng.pick(DOMAINS))
}

fn ssn(rng: &mut Rng) -> String {
    let area = 1 + rng.below(665);
    format!(
        "{area:03}-{:02}-{:04}",
        1 + rng.below(99),
        1 + rng.below(9999)
    )
}

/// One positive sentence of a type.
fn positive(rng: &mut Rng, pt: bool) -> Builder {
    let mut b = Builder::new();
    match rng.below(9) {
        0 => {
            let d = cpf_digits(rng);
            let v = if rng.chance(70) {
                cpf_formatted(&d)
            } else {
                text(&d)
            };
            b.say(if pt { "Meu CPF é " } else { "My CPF is " })
                .pii(PiiKind::Cpf, &v)
                .say(if pt {
                    ", pode conferir?"
                } else {
                    ", can you check?"
                });
        }
        1 => {
            let alphanumeric = rng.chance(40);
            let c = cnpj_chars(rng, alphanumeric);
            b.say(if pt {
                "O CNPJ da empresa é "
            } else {
                "The company CNPJ is "
            })
            .pii(PiiKind::Cnpj, &cnpj_formatted(&c))
            .say(".");
        }
        2 => {
            let d = text(&cns_digits(rng));
            let v = if rng.chance(50) {
                format!("{} {} {} {}", &d[..3], &d[3..7], &d[7..11], &d[11..])
            } else {
                d
            };
            b.say(if pt {
                "Meu cartão SUS é "
            } else {
                "My CNS card number is "
            })
            .pii(PiiKind::Cns, &v);
        }
        3 => {
            b.say(if pt {
                "Pode me ligar no "
            } else {
                "You can call me at "
            })
            .pii(PiiKind::Phone, &phone(rng))
            .say(if pt {
                " depois das 18h."
            } else {
                " after 6pm."
            });
        }
        4 => {
            b.say(if pt { "Manda para " } else { "Send it to " })
                .pii(PiiKind::Email, &email(rng))
                .say(if pt { " por favor" } else { " please" });
        }
        5 => {
            let d = card_digits(rng, true);
            let t = text(&d);
            let v = format!("{} {} {} {}", &t[..4], &t[4..8], &t[8..12], &t[12..]);
            b.say(if pt {
                "Pode cobrar no cartão "
            } else {
                "Charge my card "
            })
            .pii(PiiKind::PaymentCard, &v);
        }
        6 => {
            b.say("My SSN is ")
                .pii(PiiKind::Ssn, &ssn(rng))
                .say(" for the claim.");
        }
        7 => {
            let n = name(rng);
            b.say(if pt {
                "Olá, meu nome é "
            } else {
                "Hi, my name is "
            })
            .pii(PiiKind::PersonName, &n)
            .say(if pt {
                " e quero remarcar."
            } else {
                " and I need to reschedule."
            });
        }
        _ => {
            let n = name(rng);
            let title = rng.pick(&["Dr. ", "Dra. ", "Sr. ", "Sra. "]);
            b.say(if pt {
                "Fui atendida pela "
            } else {
                "I was seen by "
            })
            .say(title)
            .pii(PiiKind::PersonName, &n)
            .say(if pt { " ontem." } else { " yesterday." });
        }
    }
    b
}

/// One hard negative: looks like PII, is not.
fn negative(rng: &mut Rng, pt: bool) -> Builder {
    let mut b = Builder::new();
    let digits =
        |rng: &mut Rng, k: usize| (0..k).map(|_| rng.digit().to_string()).collect::<String>();
    match rng.below(11) {
        0 => {
            b.say(&format!(
                "{} {}",
                if pt {
                    "O número do pedido é"
                } else {
                    "My order number is"
                },
                digits(rng, 11)
            ));
        }
        1 => {
            let d = corrupt(cpf_digits(rng), rng);
            b.say(&format!("CPF {} (digitei errado?)", cpf_formatted(&d)));
        }
        2 => {
            b.say(&format!(
                "{} {:02}/{:02}/2025 {} {:02}:{:02}",
                if pt {
                    "A consulta é dia"
                } else {
                    "The visit is on"
                },
                1 + rng.below(28),
                1 + rng.below(12),
                if pt { "às" } else { "at" },
                8 + rng.below(10),
                rng.below(60)
            ));
        }
        3 => {
            b.say(&format!(
                "{} R$ {}.{},{:02}",
                if pt {
                    "O orçamento ficou em"
                } else {
                    "The quote came to"
                },
                1 + rng.below(9),
                digits(rng, 3),
                rng.below(100)
            ));
        }
        4 => {
            b.say(&format!(
                "{} {}",
                if pt {
                    "Protocolo de atendimento"
                } else {
                    "Support protocol"
                },
                digits(rng, 13)
            ));
        }
        5 => {
            b.say(&format!(
                "CEP {}-{}, {}",
                digits(rng, 5),
                digits(rng, 3),
                if pt {
                    "perto do metrô"
                } else {
                    "near the subway"
                }
            ));
        }
        6 => {
            let t = text(&card_digits(rng, false));
            b.say(&format!(
                "{} {} {} {} {}",
                if pt {
                    "Número do boleto"
                } else {
                    "Invoice number"
                },
                &t[..4],
                &t[4..8],
                &t[8..12],
                &t[12..]
            ));
        }
        7 => {
            let c = cnpj_chars(rng, false);
            let mut c = c;
            c[13] = b'0' + ((c[13] - b'0' + 1 + rng.below(9) as u8) % 10);
            b.say(&format!("CNPJ {} não foi aceito", cnpj_formatted(&c)));
        }
        8 => {
            b.say(rng.pick(&[
                "Bom dia! Segunda-feira tem horário?",
                "A Clínica Sorriso Feliz fica na Avenida Paulista?",
                "Good morning, is the Downtown Office open on Saturday?",
                "Obrigada, Tudo Certo então.",
                "Vocês aceitam Unimed ou Bradesco Saúde?",
                "I read the Terms of Service already.",
            ]));
        }
        9 => {
            b.say(&format!(
                "{} {}x{} {}",
                if pt { "Comprei" } else { "I bought" },
                1 + rng.below(5),
                digits(rng, 6),
                if pt {
                    "unidades do código SKU"
                } else {
                    "units of SKU code"
                }
            ));
        }
        _ => {
            b.say(&format!(
                "{} {}",
                if pt {
                    "Processo número"
                } else {
                    "Case number"
                },
                format_args!(
                    "{}-{}.2024.8.26.{}",
                    digits(rng, 7),
                    digits(rng, 2),
                    digits(rng, 4)
                )
            ));
        }
    }
    b
}

fn corpus(n: usize, seed: u64) -> Vec<Sample> {
    let mut rng = Rng(seed.max(1));
    (0..n)
        .map(|_| {
            let pt = rng.chance(50);
            let mut b = Builder::new();
            // A positive, a hard negative, or both in one message.
            let parts = rng.below(3);
            if parts != 1 {
                let p = positive(&mut rng, pt);
                b.text.push_str(&p.text);
                b.labels.extend(p.labels);
            }
            if parts != 0 {
                if !b.text.is_empty() {
                    b.say(" ");
                }
                let q = negative(&mut rng, pt);
                b.text.push_str(&q.text);
            }
            Sample {
                text: b.text,
                labels: b.labels,
                portuguese: pt,
            }
        })
        .collect()
}

fn main() {
    let mut sentences = 20_000usize;
    let mut seed = 7u64;
    let mut secs = 3u64;
    let mut show = 0usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok());
        match (pair[0].as_str(), value) {
            ("--sentences", Some(v)) => sentences = v as usize,
            ("--seed", Some(v)) => seed = v,
            ("--secs", Some(v)) => secs = v,
            ("--show-errors", Some(v)) => show = v as usize,
            _ => {
                eprintln!(
                    "usage: pii_bench [--sentences N] [--seed S] [--secs T] [--show-errors K]"
                );
                std::process::exit(2);
            }
        }
    }
    let samples = corpus(sentences, seed);
    let mut counts: BTreeMap<PiiKind, Counts> = BTreeMap::new();
    let mut by_language = [Counts::default(); 2];
    let mut shown = 0;
    for s in &samples {
        let found: Vec<(PiiKind, String)> = pii::detect(&s.text)
            .into_iter()
            .map(|f| (f.kind, s.text[f.start..f.end].to_owned()))
            .collect();
        let lang = &mut by_language[usize::from(!s.portuguese)];
        for f in &found {
            let c = counts.entry(f.0).or_default();
            if s.labels.contains(f) {
                c.tp += 1;
                lang.tp += 1;
            } else {
                c.fp += 1;
                lang.fp += 1;
                if shown < show {
                    eprintln!("FP {:?} {:?} in {:?}", f.0, f.1, s.text);
                    shown += 1;
                }
            }
        }
        for l in &s.labels {
            if !found.contains(l) {
                counts.entry(l.0).or_default().fn_ += 1;
                lang.fn_ += 1;
                if shown < show {
                    eprintln!("FN {:?} {:?} in {:?} (found {:?})", l.0, l.1, s.text, found);
                    shown += 1;
                }
            }
        }
    }

    // Throughput: detect over the corpus until `secs` have passed.
    let bytes: usize = samples.iter().map(|s| s.text.len()).sum();
    let started = Instant::now();
    let mut passes = 0usize;
    let mut sink = 0usize;
    while started.elapsed() < Duration::from_secs(secs) || passes == 0 {
        for s in &samples {
            sink += pii::detect(&s.text).len();
        }
        passes += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mb_s = (bytes * passes) as f64 / elapsed / 1e6;
    let per_sentence_us = elapsed * 1e6 / (samples.len() * passes) as f64;

    let labels: usize = samples.iter().map(|s| s.labels.len()).sum();
    println!(
        "corpus: {} sentences ({} pt, {} en), {} labelled spans, {} sentences with no PII, {:.2} MB, seed {seed}",
        samples.len(),
        samples.iter().filter(|s| s.portuguese).count(),
        samples.iter().filter(|s| !s.portuguese).count(),
        labels,
        samples.iter().filter(|s| s.labels.is_empty()).count(),
        bytes as f64 / 1e6
    );
    println!();
    println!("| type | labelled | found | precision | recall | F1 |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut all = Counts::default();
    for kind in PiiKind::ALL {
        let c = counts.get(&kind).copied().unwrap_or_default();
        all.tp += c.tp;
        all.fp += c.fp;
        all.fn_ += c.fn_;
        println!(
            "| {} | {} | {} | {:.3} | {:.3} | {:.3} |",
            kind.as_str(),
            c.tp + c.fn_,
            c.tp + c.fp,
            c.precision(),
            c.recall(),
            c.f1()
        );
    }
    println!(
        "| **all (micro)** | {} | {} | {:.3} | {:.3} | {:.3} |",
        all.tp + all.fn_,
        all.tp + all.fp,
        all.precision(),
        all.recall(),
        all.f1()
    );
    for (name, c) in ["pt", "en"].iter().zip(by_language) {
        println!(
            "| {name} only | {} | {} | {:.3} | {:.3} | {:.3} |",
            c.tp + c.fn_,
            c.tp + c.fp,
            c.precision(),
            c.recall(),
            c.f1()
        );
    }
    println!();
    println!(
        "throughput: {mb_s:.1} MB/s on one core ({per_sentence_us:.2} µs per sentence, {passes} passes in {elapsed:.1} s; {sink} findings)"
    );
}
