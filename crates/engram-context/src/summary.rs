//! Semantic compression: an extractive summarizer with vertical templates.
//!
//! Messages are cut into sentences; greetings, acknowledgements and
//! operational chatter are dropped; the rest is scored by what a next
//! answer needs (identity and contact data, the vertical's history terms,
//! decisions and preferences, agreed next steps, the message's importance)
//! and the best sentences, one copy each, are kept within a token cap and
//! laid out in the vertical's sections in time order. Pure and
//! deterministic; incremental: a summary's items are the candidates of the
//! next one, with the messages that came after it.
//!
//! Over 600 lines: 160 are its tests; the rest is one summarizer (its
//! lexicons, sentence splitting, scoring and layout).

use std::collections::HashSet;

use engram_domain::model::{Message, Role};
use engram_domain::ports::Prompt;
use engram_text::tokens::Tokenizer;
use engram_text::{fold, words};

use engram_domain::summary::{Section, Summary, SummaryItem, Vertical, render};

/// Phrases (folded, whole words) that mark a kind of content.
struct Lexicon {
    chatter: &'static [&'static str],
    identity: &'static [&'static str],
    decisions: &'static [&'static str],
    next_steps: &'static [&'static str],
    general_history: &'static [&'static str],
}

const LEXICON: Lexicon = Lexicon {
    chatter: &[
        "ok",
        "okay",
        "certo",
        "obrigado",
        "obrigada",
        "valeu",
        "um momento",
        "vou verificar",
        "deixa eu ver",
        "anotado",
        "perfeito",
        "claro",
        "bom dia",
        "boa tarde",
        "boa noite",
        "ola",
        "oi",
        "tudo bem",
        "thanks",
        "thank you",
        "let me check",
        "one moment",
        "noted",
        "got it",
        "sure",
        "perfect",
        "good morning",
        "hello",
        "hi",
        "no problem",
        "sem problema",
        "a disposicao",
        "qualquer duvida",
        "anything else",
        "happy to help",
    ],
    identity: &[
        "meu nome",
        "me chamo",
        "my name",
        "cpf",
        "rg",
        "cnpj",
        "telefone",
        "celular",
        "whatsapp",
        "e mail",
        "email",
        "endereco",
        "address",
        "rua",
        "street",
        "avenue",
        "apartamento",
        "apartment",
        "nasci",
        "born",
        "idade",
        "years old",
        "processo",
        "case number",
        "tamanho",
        "size",
        "calco",
    ],
    decisions: &[
        "prefiro",
        "prefer",
        "quero",
        "want",
        "decidi",
        "decided",
        "escolhi",
        "chose",
        "desisti",
        "mudei",
        "changed",
        "troquei",
        "switched",
        "aceito",
        "accept",
        "settle",
        "combinado",
        "agreed",
        "so aceito",
        "only",
        "nao quero",
        "don t want",
        "agora",
        "now",
        "instead",
        "na verdade",
        "actually",
        "vou pagar",
        "pay",
    ],
    next_steps: &[
        "amanha",
        "tomorrow",
        "proxima",
        "next",
        "agendado",
        "scheduled",
        "confirmado",
        "confirmed",
        "retorno",
        "follow up",
        "vou",
        "will",
        "prazo",
        "deadline",
        "audiencia",
        "hearing",
        "retornar",
        "call back",
    ],
    general_history: &[
        "sou", "tenho", "tive", "tomo", "uso", "i am", "i have", "i had", "i take", "i use",
        "alergia", "alergica", "allergic", "allergy",
    ],
};

fn vertical_history(vertical: Vertical) -> &'static [&'static str] {
    match vertical {
        Vertical::Medical => &[
            "alergia",
            "alergica",
            "alergico",
            "allergic",
            "allergy",
            "remedio",
            "medicamento",
            "medication",
            "pressao",
            "blood pressure",
            "diabetes",
            "cirurgia",
            "surgery",
            "operacao",
            "cancer",
            "infarto",
            "heart",
            "historico",
            "history",
            "exame",
            "test",
            "dor",
            "pain",
            "gravida",
            "pregnant",
            "plano",
            "convenio",
            "insurance",
            "insurer",
        ],
        Vertical::Dental => &[
            "dente",
            "dentes",
            "tooth",
            "teeth",
            "molar",
            "gengiva",
            "gums",
            "canal",
            "root canal",
            "aparelho",
            "braces",
            "clareamento",
            "whitening",
            "implante",
            "implant",
            "sensibilidade",
            "sensitive",
            "bruxismo",
            "bruxism",
            "anestesia",
            "anesthesia",
            "extracao",
            "extraction",
            "siso",
            "wisdom",
            "carie",
            "cavity",
        ],
        Vertical::Legal => &[
            "processo",
            "case",
            "audiencia",
            "hearing",
            "acordo",
            "settle",
            "settlement",
            "demitido",
            "fired",
            "justa causa",
            "cause",
            "verbas",
            "severance",
            "prova",
            "evidence",
            "documentos",
            "documents",
            "testemunha",
            "witness",
            "contrato",
            "contract",
            "procuracao",
            "attorney",
            "honorarios",
            "fees",
            "sentenca",
            "judgment",
        ],
        Vertical::General => LEXICON.general_history,
    }
}

fn has(words_: &[String], phrases: &[&str]) -> bool {
    phrases.iter().any(|p| {
        let needle: Vec<String> = words(p).collect();
        !needle.is_empty() && words_.windows(needle.len()).any(|w| w == needle.as_slice())
    })
}

/// Digits in a row (phones, documents, case numbers, amounts).
fn has_number(sentence: &str) -> bool {
    sentence.chars().filter(char::is_ascii_digit).count() >= 4
}

/// Words after which a period does not end a sentence (titles, forms of
/// address, street types, common abbreviations; Portuguese and English),
/// folded.
const ABBREVIATIONS: &[&str] = &[
    "dr", "dra", "drs", "sr", "sra", "srta", "mr", "mrs", "ms", "prof", "profa", "jr", "st", "av",
    "nº", "vs", "etc", "eg", "ie", "approx", "aprox", "tel", "cel", "dept", "depto", "ltda", "inc",
    "corp", "mt", "ave", "blvd", "rd", "apt", "ap", "obs", "pag", "pg", "sto", "sta", "exmo",
    "exma", "eng", "adv",
];

/// Sentences of a text, trimmed, without empty ones. A sentence ends at a
/// line break, or at `.`, `!`, `?` or `;` followed by a space or the end
/// of the text, except a period after an abbreviation or an initial: an
/// e-mail address, an amount, a number, "Dr. Smith" and "St. Louis" stay
/// whole.
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    let mut cuts = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        let end = i + c.len_utf8();
        let next = chars.get(k + 1).map(|&(_, n)| n);
        let ends = match c {
            '\n' => true,
            '.' | '!' | '?' | ';' => {
                next.is_none_or(char::is_whitespace)
                    && !(c == '.' && after_abbreviation(&text[..i]))
            }
            _ => false,
        };
        if ends {
            cuts.push(end);
        }
    }
    cuts.push(text.len());
    let mut start = 0;
    cuts.into_iter()
        .filter_map(move |cut| {
            let piece = &text[start..cut];
            start = cut;
            (!piece.is_empty()).then_some(piece)
        })
        .map(str::trim)
        .filter(|s| s.chars().any(char::is_alphanumeric))
}

/// Whether the text before a period ends in an abbreviation or a one-letter
/// initial ("J. Smith").
fn after_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| !c.is_alphanumeric() && c != 'º')
        .next()
        .unwrap_or("");
    let folded = fold(word);
    let initial = word.chars().count() == 1 && word.chars().all(char::is_uppercase);
    initial || ABBREVIATIONS.contains(&folded.as_str())
}

/// Scores a sentence; `None` drops it (chatter, questions of the agent).
fn score(sentence: &str, message: &Message, vertical: Vertical) -> Option<(f32, Section)> {
    let w: Vec<String> = words(sentence).collect();
    if w.is_empty() {
        return None;
    }
    let chatter = has(&w, LEXICON.chatter);
    // Short acknowledgements and greetings carry nothing.
    if chatter && w.len() <= 6 {
        return None;
    }
    let question = sentence.ends_with('?');
    let mut score = message.importance;
    let mut section = Section::Other;
    if has(&w, vertical_history(vertical)) {
        score += 0.5;
        section = Section::History;
    }
    if has(&w, LEXICON.decisions) {
        score += 0.4;
        section = Section::Decisions;
    }
    if has(&w, LEXICON.identity) || has_number(sentence) {
        score += 0.5;
        section = Section::Identity;
    }
    if section == Section::Other && has(&w, LEXICON.next_steps) {
        score += 0.2;
        section = Section::NextSteps;
    }
    if matches!(message.role, Role::User | Role::Operator) && !question {
        score += 0.3;
    }
    if question {
        score -= 0.4;
    }
    if chatter {
        score -= 0.3;
    }
    (score > 0.4).then_some((score, section))
}

/// Tokens of source material a language model is given at most: a longer
/// range reaches it as its extractive summary.
pub const LLM_INPUT_TOKENS: u32 = 6_000;

/// One line per message: `[YYYY-MM-DD HH:MM] role: content`.
pub fn transcript(messages: &[Message]) -> String {
    let mut text = String::new();
    for m in messages {
        text.push('[');
        text.push_str(&m.created_at.to_minute_string());
        text.push_str("] ");
        text.push_str(m.role.as_str());
        text.push_str(": ");
        text.push_str(&m.content);
        text.push('\n');
    }
    text
}

/// The prompt asking a language model for a summary of `material` (a
/// transcript, or extractive notes of a long one) with the vertical's
/// template, in at most `max_tokens`.
pub fn llm_prompt(vertical: Vertical, material: String, max_tokens: u32) -> Prompt {
    let (business, keep) = match vertical {
        Vertical::General => (
            "a business",
            "the customer's requests, orders, complaints and account details",
        ),
        Vertical::Medical => (
            "a medical clinic",
            "symptoms, conditions, allergies, medications, exams, procedures and appointments",
        ),
        Vertical::Dental => (
            "a dental office",
            "dental complaints, treatments, allergies, medications, budgets and appointments",
        ),
        Vertical::Legal => (
            "a law firm",
            "the case facts, parties, case and document numbers, deadlines, hearings and fees",
        ),
    };
    let sections: Vec<&str> = Section::ALL[..4]
        .iter()
        .map(|s| s.title(vertical))
        .collect();
    let system = format!(
        "You summarize a conversation between {business} and a customer for the AI agent \
         that will continue it. Write in the language of the conversation. Keep exactly \
         as written: names, phone numbers, e-mail addresses, document numbers, dates and \
         amounts. Keep {keep}, decisions and preferences, and agreed next steps. Drop \
         greetings, thanks, acknowledgements and small talk. Use these sections, leaving \
         out empty ones: {}. Write short bullet points. Never add anything the \
         conversation does not say. At most {max_tokens} tokens.",
        sections.join("; ")
    );
    Prompt {
        system,
        user: material,
        max_tokens,
    }
}

/// Compresses `messages` (one conversation, in sequence order), with the
/// items of a previous summary of the messages before them, into at most
/// `max_tokens` tokens of rendered text.
pub fn summarize(
    previous: Option<&Summary>,
    messages: &[Message],
    vertical: Vertical,
    max_tokens: u32,
) -> Summary {
    let tk = Tokenizer::STORED;
    let mut candidates: Vec<SummaryItem> = previous.map(|p| p.items.clone()).unwrap_or_default();
    for m in messages {
        for sentence in sentences(&m.content) {
            if let Some((score, section)) = score(sentence, m, vertical) {
                candidates.push(SummaryItem {
                    message_id: m.message_id.clone(),
                    seq: m.seq,
                    role: m.role,
                    created_at: m.created_at,
                    sentence: sentence.to_owned(),
                    section,
                    score,
                    tokens: 0,
                });
            }
        }
    }
    // One copy of each sentence: the newest.
    let mut seen = HashSet::new();
    let mut distinct: Vec<SummaryItem> = Vec::new();
    for item in candidates.into_iter().rev() {
        if seen.insert(fold(&item.sentence)) {
            distinct.push(item);
        }
    }
    // Best first (newer wins ties), then keep what fits.
    distinct.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.seq.cmp(&a.seq)));
    let mut kept: Vec<SummaryItem> = Vec::new();
    let mut used = 0;
    for mut item in distinct {
        // Section titles are charged as if every item had one: the bound
        // holds whatever the layout.
        if item.tokens == 0 {
            item.tokens = tk.count(&render(std::slice::from_ref(&item), vertical));
        }
        if used + item.tokens > max_tokens {
            continue;
        }
        used += item.tokens;
        kept.push(item);
    }
    kept.sort_by_key(|i| (i.created_at, i.seq));
    let from_seq = previous
        .map(|p| p.from_seq)
        .or_else(|| messages.first().map(|m| m.seq))
        .unwrap_or(0);
    let to_seq = messages
        .last()
        .map(|m| m.seq)
        .or(previous.map(|p| p.to_seq))
        .unwrap_or(0);
    let source_tokens = previous.map_or(0, |p| p.source_tokens)
        + messages.iter().map(|m| u64::from(m.tokens)).sum::<u64>();
    Summary {
        vertical,
        from_seq,
        to_seq,
        items: kept,
        source_tokens,
    }
}

#[cfg(test)]
mod tests {
    use engram_domain::ids::MessageId;
    use engram_domain::time::Timestamp;

    use super::*;

    #[test]
    fn sentences_keep_addresses_amounts_numbers_and_titles_whole() {
        let cases: &[(&str, &[&str])] = &[
            (
                "my account e-mail is hannah.brown77@icloud.com and it costs $129.90 a month",
                &["my account e-mail is hannah.brown77@icloud.com and it costs $129.90 a month"],
            ),
            (
                "Meu e-mail de cadastro é thiago.souza@gmail.com. Pode confirmar?",
                &[
                    "Meu e-mail de cadastro é thiago.souza@gmail.com.",
                    "Pode confirmar?",
                ],
            ),
            (
                "Dr. Smith at the St. Louis office will call you. Ok!",
                &["Dr. Smith at the St. Louis office will call you.", "Ok!"],
            ),
            (
                "A Dra. Fernanda atende na Av. Paulista, 1.500; ligue antes. O valor é R$ 1.250,00",
                &[
                    "A Dra. Fernanda atende na Av. Paulista, 1.500;",
                    "ligue antes.",
                    "O valor é R$ 1.250,00",
                ],
            ),
            (
                "J. R. Silva, CPF 123.456.789-09.\nObrigado... até logo?! Sim",
                &[
                    "J. R. Silva, CPF 123.456.789-09.",
                    "Obrigado...",
                    "até logo?!",
                    "Sim",
                ],
            ),
            (
                "No. I did not. Version 2.1 is out",
                &["No.", "I did not.", "Version 2.1 is out"],
            ),
        ];
        for (text, want) in cases {
            let got: Vec<&str> = sentences(text).collect();
            assert_eq!(&got, want, "{text}");
        }
    }
    use engram_domain::ids::{ConversationId, UserId};
    use engram_text::importance::ImportanceRules;
    use engram_text::tokens::render_message_parts;

    fn message(seq: u64, role: Role, content: &str) -> Message {
        let created_at = Timestamp(1_767_225_600_000_000 + seq as i64 * 60_000_000);
        Message {
            message_id: MessageId::parse("m", &format!("m{seq}")).unwrap(),
            conversation_id: ConversationId::parse("c", "c1").unwrap(),
            user_id: UserId::parse("u", "u1").unwrap(),
            seq,
            role,
            content: content.to_owned(),
            created_at,
            metadata: Default::default(),
            importance: ImportanceRules::default().score(content),
            tokens: Tokenizer::STORED.count(&render_message_parts(created_at, role, content)),
        }
    }

    fn dental() -> Vec<Message> {
        vec![
            message(1, Role::User, "Oi, bom dia!"),
            message(
                2,
                Role::Assistant,
                "Bom dia! Tudo bem? Um momento, vou verificar.",
            ),
            message(
                3,
                Role::User,
                "Meu nome é João Silva, meu celular é 11 99999-8888.",
            ),
            message(4, Role::Assistant, "Perfeito, anotado."),
            message(
                5,
                Role::User,
                "Estou com dor no dente do siso há três dias.",
            ),
            message(6, Role::User, "Ok, obrigado."),
            message(7, Role::User, "Prefiro atendimento de manhã."),
            message(
                8,
                Role::Assistant,
                "Confirmado: extração do siso amanhã às 9h com a Dra. Ana.",
            ),
            message(9, Role::User, "Valeu!"),
        ]
    }

    #[test]
    fn keeps_identity_history_decisions_and_next_steps_and_drops_chatter() {
        let s = summarize(None, &dental(), Vertical::Dental, 400);
        let text = s.text();
        assert!(text.contains("João Silva"), "{text}");
        assert!(text.contains("99999-8888"), "{text}");
        assert!(text.contains("dor no dente do siso"), "{text}");
        assert!(text.contains("Prefiro atendimento de manhã"), "{text}");
        assert!(text.contains("extração do siso amanhã"), "{text}");
        for chatter in ["bom dia", "Valeu", "obrigado", "anotado", "vou verificar"] {
            assert!(
                !text.to_lowercase().contains(&chatter.to_lowercase()),
                "{chatter} in {text}"
            );
        }
        assert!(text.starts_with("Identity and contact:\n"), "{text}");
        assert!(text.contains("Dental history:\n"), "{text}");
        assert_eq!((s.from_seq, s.to_seq), (1, 9));
        assert!(s.source_tokens > u64::from(Tokenizer::STORED.count(&text)));
    }

    #[test]
    fn fits_the_cap_keeping_the_best() {
        let s = summarize(None, &dental(), Vertical::Dental, 40);
        let text = s.text();
        assert!(Tokenizer::STORED.count(&text) <= 40, "{text}");
        assert!(!s.items.is_empty());
    }

    #[test]
    fn is_incremental_and_keeps_one_copy_of_a_sentence() {
        let all = dental();
        let first = summarize(None, &all[..5], Vertical::Dental, 400);
        let mut more = all[5..].to_vec();
        more.push(message(
            10,
            Role::User,
            "Meu nome é João Silva, meu celular é 11 99999-8888.",
        ));
        let second = summarize(Some(&first), &more, Vertical::Dental, 400);
        assert_eq!((second.from_seq, second.to_seq), (1, 10));
        let whole = summarize(
            None,
            &[all.clone(), vec![more[4].clone()]].concat(),
            Vertical::Dental,
            400,
        );
        assert_eq!(second.text(), whole.text());
        assert_eq!(second.text().matches("João Silva").count(), 1);
        assert!(second.sources().iter().any(|id| id.as_str() == "m10"));
    }

    #[test]
    fn same_input_same_summary() {
        let a = summarize(None, &dental(), Vertical::General, 200);
        let b = summarize(None, &dental(), Vertical::General, 200);
        assert_eq!(a, b);
    }
}
