//! The detectors' tests: every written form, every corrupted check digit,
//! and what only looks like personal data (long: one test per behaviour
//! a user relies on, each with its examples).

use super::numbers::*;
use super::*;

fn kinds(text: &str) -> Vec<(PiiKind, &str)> {
    detect(text)
        .into_iter()
        .map(|f| (f.kind, &text[f.start..f.end]))
        .collect()
}

/// CPF check digits for 9 base digits.
fn cpf_from(base: [u32; 9]) -> String {
    let mut d = base.to_vec();
    d.push(mod11_countdown(&d, 10));
    d.push(mod11_countdown(&d, 11));
    let s: String = d.iter().map(|x| char::from(b'0' + *x as u8)).collect();
    format!("{}.{}.{}-{}", &s[..3], &s[3..6], &s[6..9], &s[9..])
}

fn cnpj_from(base: &[u8; 12]) -> String {
    let mut v: Vec<u32> = base.iter().map(|c| u32::from(*c) - 48).collect();
    v.push(cnpj_dv(&v));
    v.push(cnpj_dv(&v));
    let s: String = v.iter().map(|x| char::from((x + 48) as u8)).collect();
    format!(
        "{}.{}.{}/{}-{}",
        &s[..2],
        &s[2..5],
        &s[5..8],
        &s[8..12],
        &s[12..]
    )
}

/// A tiny deterministic generator for the property tests.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u32) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % u64::from(n)) as u32
    }
}

#[test]
fn known_documents_validate() {
    assert!(valid_cpf(&digits_of("529.982.247-25")));
    assert!(!valid_cpf(&digits_of("529.982.247-26")));
    assert!(!valid_cpf(&digits_of("111.111.111-11")));
    assert!(valid_cnpj(b"11222333000181"));
    assert!(!valid_cnpj(b"11222333000182"));
    // The Receita Federal's example of an alphanumeric CNPJ.
    assert!(valid_cnpj(b"12ABC34501DE35"));
    assert!(!valid_cnpj(b"12ABC34501DE36"));
    assert!(luhn(&digits_of("4111 1111 1111 1111")));
    assert!(!luhn(&digits_of("4111 1111 1111 1112")));
}

#[test]
fn every_generated_cpf_is_found_and_every_corrupted_one_rejected() {
    let mut rng = Lcg(7);
    for _ in 0..2000 {
        let base: [u32; 9] = std::array::from_fn(|_| rng.next(10));
        if base.iter().all(|d| *d == base[0]) {
            continue;
        }
        let cpf = cpf_from(base);
        let text = format!("Meu CPF é {cpf}, obrigado");
        assert_eq!(kinds(&text), [(PiiKind::Cpf, cpf.as_str())], "{text}");
        let plain: String = cpf.chars().filter(char::is_ascii_digit).collect();
        assert!(valid_cpf(&digits_of(&plain)));
        // Any change of a check digit breaks it.
        let mut bad = cpf.clone().into_bytes();
        let last = bad.len() - 1 - rng.next(2) as usize;
        bad[last] = b'0' + ((bad[last] - b'0' + 1 + rng.next(9) as u8) % 10);
        let bad = String::from_utf8(bad).unwrap();
        assert!(!valid_cpf(&digits_of(&bad)), "{bad}");
        assert!(
            !kinds(&format!("Meu CPF é {bad}"))
                .iter()
                .any(|(k, _)| *k == PiiKind::Cpf),
            "{bad}"
        );
    }
}

#[test]
fn every_generated_cnpj_is_found_and_every_corrupted_one_rejected() {
    let mut rng = Lcg(11);
    const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for i in 0..2000 {
        let base: [u8; 12] = std::array::from_fn(|k| {
            // Half numeric (the CNPJs of today), half alphanumeric.
            if i % 2 == 0 || k >= 8 {
                b'0' + rng.next(10) as u8
            } else {
                ALNUM[rng.next(36) as usize]
            }
        });
        let cnpj = cnpj_from(&base);
        let text = format!("CNPJ da empresa: {cnpj}.");
        assert_eq!(kinds(&text), [(PiiKind::Cnpj, cnpj.as_str())], "{text}");
        let mut bad = cnpj.clone().into_bytes();
        let last = bad.len() - 1 - rng.next(2) as usize;
        bad[last] = b'0' + ((bad[last] - b'0' + 1 + rng.next(9) as u8) % 10);
        let bad = String::from_utf8(bad).unwrap();
        assert!(
            !kinds(&format!("CNPJ da empresa: {bad}."))
                .iter()
                .any(|(k, _)| *k == PiiKind::Cnpj),
            "{bad}"
        );
    }
}

#[test]
fn cns_cards_are_validated() {
    let mut rng = Lcg(3);
    let mut found = 0;
    for _ in 0..5000 {
        let mut d: Vec<u32> = vec![1 + rng.next(2)];
        d.extend((0..14).map(|_| rng.next(10)));
        if valid_cns(&d) {
            found += 1;
            let s: String = d.iter().map(|x| char::from(b'0' + *x as u8)).collect();
            let text = format!(
                "Cartão SUS {} {} {} {}",
                &s[..3],
                &s[3..7],
                &s[7..11],
                &s[11..]
            );
            assert_eq!(kinds(&text)[0].0, PiiKind::Cns, "{text}");
            let mut bad = d.clone();
            bad[14] = (bad[14] + 1) % 10;
            assert!(!valid_cns(&bad));
        }
    }
    assert!(found > 100);
}

/// The ways people type an 11-digit CPF, of its plain digits.
fn cpf_forms(plain: &str) -> Vec<String> {
    let (a, b, c, d) = (&plain[..3], &plain[3..6], &plain[6..9], &plain[9..]);
    vec![
        format!("{a}.{b}.{c}-{d}"),
        plain.to_owned(),
        format!("{a}{b}{c}-{d}"),
        format!("{a}.{b}.{c}.{d}"),
        format!("{a} {b} {c} {d}"),
        format!("{a}-{b}-{c}-{d}"),
        format!("{a}.{b}.{c} {d}"),
        format!("{a}.{b}{c}-{d}"),
    ]
}

#[test]
fn a_cpf_is_found_in_every_written_form_and_a_corrupted_one_in_none() {
    let mut rng = Lcg(17);
    for _ in 0..500 {
        let base: [u32; 9] = std::array::from_fn(|_| rng.next(10));
        if base.iter().all(|d| *d == base[0]) {
            continue;
        }
        let plain: String = cpf_from(base)
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        for form in cpf_forms(&plain) {
            for text in [format!("meu cpf é {form} ok"), format!("CPF: {form}")] {
                assert_eq!(kinds(&text), [(PiiKind::Cpf, form.as_str())], "{text}");
            }
        }
        // Without a cue, the shapes only a CPF has.
        for form in [&cpf_forms(&plain)[0], &cpf_forms(&plain)[2]] {
            let text = format!("o documento é {form}");
            assert_eq!(kinds(&text), [(PiiKind::Cpf, form.as_str())], "{text}");
        }
        // A wrong check digit: no CPF, and not a phone either.
        let mut bad = plain.clone().into_bytes();
        bad[10] = b'0' + ((bad[10] - b'0' + 1 + rng.next(9) as u8) % 10);
        let bad = String::from_utf8(bad).unwrap();
        for form in cpf_forms(&bad) {
            let text = format!("meu cpf é {form}");
            assert_eq!(kinds(&text), [], "{text}");
        }
    }
}

#[test]
fn cnpj_and_cns_in_the_forms_people_type() {
    let mut rng = Lcg(19);
    for _ in 0..300 {
        let base: [u8; 12] = std::array::from_fn(|_| b'0' + rng.next(10) as u8);
        let p: String = cnpj_from(&base)
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        for form in [
            format!("{}/{}-{}", &p[..8], &p[8..12], &p[12..]),
            format!(
                "{} {} {} {} {}",
                &p[..2],
                &p[2..5],
                &p[5..8],
                &p[8..12],
                &p[12..]
            ),
            format!(
                "{}.{}.{}.{}-{}",
                &p[..2],
                &p[2..5],
                &p[5..8],
                &p[8..12],
                &p[12..]
            ),
        ] {
            let text = format!("cnpj da empresa {form}");
            assert_eq!(kinds(&text), [(PiiKind::Cnpj, form.as_str())], "{text}");
        }
    }
    let mut found = 0;
    for _ in 0..5000 {
        let mut d: Vec<u32> = vec![1 + rng.next(2)];
        d.extend((0..14).map(|_| rng.next(10)));
        if !valid_cns(&d) {
            continue;
        }
        found += 1;
        let s: String = d.iter().map(|x| char::from(b'0' + *x as u8)).collect();
        for form in [
            format!("{} {} {}", &s[..5], &s[5..10], &s[10..]),
            format!("{}-{}-{}-{}", &s[..3], &s[3..7], &s[7..11], &s[11..]),
            format!("{} {}", &s[..7], &s[7..]),
        ] {
            let text = format!("meu cartão sus é {form}");
            assert_eq!(kinds(&text), [(PiiKind::Cns, form.as_str())], "{text}");
        }
    }
    assert!(found > 100);
}

#[test]
fn numbers_a_sentence_says_are_something_else_are_not_pii() {
    // 52998224725 is a valid CPF; 898001160920003 a valid CNS.
    assert!(valid_cpf(&digits_of("52998224725")));
    assert!(valid_cns(&digits_of("898001160920003")));
    for text in [
        "appointment confirmation #52998224725",
        "número de confirmação 52998224725",
        "o exame 898001160920003 ficou pronto",
        "exam id 898001160920003",
        "ligue 0800 123 4567 para a central",
        "central de atendimento 4004-1234",
        "SAC 0300 789 1234",
    ] {
        assert_eq!(kinds(text), [], "{text}");
    }
}

#[test]
fn what_chat_text_holds_besides_personal_numbers_stays_unflagged() {
    for text in [
        "oab/sp 123.456 do dr responsavel",
        "crm 123456-sp",
        "meu cep é 01310-100",
        "cep 01310100",
        "ficou r$ 1.500,00 no total",
        "paguei 2.345,90 ontem",
        "dia 12/03 as 14h",
        "consulta 2024-03-12 10:30",
        "tomo 500mg 2x ao dia",
        "boleto 23793.38128 60000.000003 00000.000409 1 84340000012345",
        "linha digitavel 34191.79001 01043.510047 91020.150008 7 91870026000",
        "pedido 123456789 saiu pra entrega",
        "protocolo 2024031200123",
        "nota fiscal 000.123.456",
        "apto 1203 bloco 2",
        "senha do wifi 12345678",
        // Its last 14 digits pass CNPJ's check.
        "linha digitavel: 11693.04016 90162.648758 67929.239432 9 36516435379440",
    ] {
        assert_eq!(kinds(text), [], "{text}");
    }
}

#[test]
fn two_numbers_a_space_apart_are_two_findings() {
    assert_eq!(
        kinds("cpf 529.982.247-25 11 98765-4321"),
        [
            (PiiKind::Cpf, "529.982.247-25"),
            (PiiKind::Phone, "11 98765-4321")
        ]
    );
    // The nearer label says what a number is.
    assert_eq!(
        kinds("CPF 529.982.247-25, fone 11999998888"),
        [
            (PiiKind::Cpf, "529.982.247-25"),
            (PiiKind::Phone, "11999998888")
        ]
    );
    assert_eq!(
        kinds("telefones 98765-4321 3456-7890"),
        [
            (PiiKind::Phone, "98765-4321"),
            (PiiKind::Phone, "3456-7890")
        ]
    );
}

#[test]
fn phones_in_the_forms_people_type() {
    for (text, phone) in [
        ("liga no 011 9 8765 4321", "011 9 8765 4321"),
        ("meu zap 5511987654321", "5511987654321"),
        ("whats 11 987654321", "11 987654321"),
        ("celular 987654321", "987654321"),
        ("meu número é 9 8765 4321", "9 8765 4321"),
        ("call me at (602) 819-4460", "(602) 819-4460"),
        ("my cell is 602-819-4460", "602-819-4460"),
        ("phone 602.819.4460", "602.819.4460"),
    ] {
        assert_eq!(kinds(text), [(PiiKind::Phone, phone)], "{text}");
    }
}

#[test]
fn ssns_after_a_cue_in_any_form() {
    for (text, ssn) in [
        ("SSN 123 45 6789", "123 45 6789"),
        ("my social security number is 123456789", "123456789"),
    ] {
        assert_eq!(kinds(text), [(PiiKind::Ssn, ssn)], "{text}");
    }
}

#[test]
fn phones_emails_cards_and_ssns() {
    assert_eq!(
        kinds("Meu celular é (11) 98765-4321 e o fixo 3456-7890"),
        [
            (PiiKind::Phone, "(11) 98765-4321"),
            (PiiKind::Phone, "3456-7890")
        ]
    );
    assert_eq!(
        kinds("whatsapp +55 11 98765-4321"),
        [(PiiKind::Phone, "+55 11 98765-4321")]
    );
    assert_eq!(
        kinds("call me at +1 415 555 2671"),
        [(PiiKind::Phone, "+1 415 555 2671")]
    );
    assert_eq!(
        kinds("escreva para joao.silva@email.com.br."),
        [(PiiKind::Email, "joao.silva@email.com.br")]
    );
    assert_eq!(
        kinds("cartão 4111 1111 1111 1111 validade 12/27"),
        [(PiiKind::PaymentCard, "4111 1111 1111 1111")]
    );
    assert_eq!(kinds("SSN 123-45-6789"), [(PiiKind::Ssn, "123-45-6789")]);
}

#[test]
fn hard_negatives_are_not_pii() {
    for text in [
        "Consulta no dia 21/11/2026 às 14:30",
        "pedido 52998224725 enviado",
        "protocolo 123.456.789-10",
        "CPF 529.982.247-26",
        "O valor é R$ 1.234,56",
        "SSN 666-12-3456",
        "cartão 4111 1111 1111 1112",
        "ref ABC123456789",
        "São Paulo, Brasil",
        "Bom Dia",
        "email@localhost",
        "versão 2.0.1",
    ] {
        assert_eq!(kinds(text), [], "{text}");
    }
}

#[test]
fn what_the_benchmark_found_is_not_pii() {
    // Each of these was reported before the PII benchmark's first run.
    assert!(kinds("CEP 48519-737, perto do metrô").is_empty());
    assert!(kinds("O número do pedido é 93995094351").is_empty());
    assert!(kinds("Support protocol 4182672724095").is_empty());
    assert!(kinds("A Clínica Sorriso Feliz fica na Avenida Paulista?").is_empty());
    assert!(kinds("Good morning, is the Downtown Office open on Saturday?").is_empty());
    // While a person's name mid-sentence still is one.
    assert_eq!(
        kinds("Falei com a Juliana Ferreira ontem"),
        [(PiiKind::PersonName, "Juliana Ferreira")]
    );
}

#[test]
fn names_in_any_case_after_a_cue_or_a_form_of_address() {
    for (text, name) in [
        ("meu nome é joão silva", "joão silva"),
        ("MEU NOME É MARIA DA SILVA", "MARIA DA SILVA"),
        ("oi, aqui é a fernanda da recepção", "fernanda"),
        ("falei com a dona rosa ontem", "rosa"),
        ("o seu ze vai passar aqui", "ze"),
        ("a dra. Fernanda pediu o exame", "Fernanda"),
        ("a dra fernanda pediu o exame", "fernanda"),
        ("Dr. Patel's office called", "Patel"),
        (
            "I'm Gabriela Pinheiro, from the front desk",
            "Gabriela Pinheiro",
        ),
        ("my name is mark", "mark"),
        ("me chamo ana paula souza", "ana paula souza"),
        ("nome: kaiky ferreira", "kaiky ferreira"),
        ("my name is xiomara lopes", "xiomara lopes"),
    ] {
        assert_eq!(kinds(text), [(PiiKind::PersonName, name)], "{text}");
    }
}

#[test]
fn a_full_name_the_gazetteer_knows_is_found_in_any_case_without_a_cue() {
    let name = PiiKind::PersonName;
    assert_eq!(
        kinds("favor avisar davi brown que o horario mudou"),
        [(name, "davi brown")]
    );
    assert_eq!(
        kinds("PACIENTE: DAVID DA OLIVEIRA"),
        [(name, "DAVID DA OLIVEIRA")]
    );
    let found = detect("quem retira é beatriz da nascimento, minha sobrinha");
    assert_eq!(found.len(), 1);
    assert!(
        found[0].confidence < 0.85,
        "the gazetteer alone is weaker than a cue"
    );
    // Everyday words that are given names, places and firms named after
    // people, brands: none is a person.
    for text in [
        "i will cook dinner tonight",
        "a rosa costa pouco no mercado",
        "ela mora na rua joao silva 88",
        "o escritório silva costa advogados ligou",
        "a tia santos chegou",
        "escola estadual maria souza fica perto",
        "i live on Martin Luther King Jr Blvd",
    ] {
        assert_eq!(kinds(text), [], "{text}");
    }
    // A brand never ends a name.
    assert_eq!(
        kinds("a Maria Souza da Renner disse que trocava"),
        [(name, "Maria Souza")]
    );
}

#[test]
fn north_american_toll_free_numbers_are_nobodys() {
    for text in [
        "call 1-888-555-0199 for support",
        "our line is (877) 555-0142",
        "dial +1 866 555 0100",
        "800.555.0123 any time",
    ] {
        assert_eq!(kinds(text), [], "{text}");
    }
    assert_eq!(
        kinds("my cell is (602) 819-4460"),
        [(PiiKind::Phone, "(602) 819-4460")]
    );
    // Brazilian numbers with an 8x area code stay phones.
    for number in ["(88) 98765-4321", "(83) 3214-5678", "85 5555-1234"] {
        let text = format!("meu telefone é {number}");
        assert_eq!(kinds(&text), [(PiiKind::Phone, number)]);
    }
}

#[test]
fn a_lone_given_name_after_an_article_or_capitalised_on_its_own() {
    let name = PiiKind::PersonName;
    assert_eq!(
        kinds("a fernanda e o enzo vão juntos"),
        [(name, "fernanda"), (name, "enzo")]
    );
    assert_eq!(kinds("please let Emily know i'm late"), [(name, "Emily")]);
    assert_eq!(
        kinds("francisco vai me ligar mais tarde"),
        [(name, "francisco")]
    );
    assert_eq!(
        kinds("parabens gabriela!!! felicidades"),
        [(name, "gabriela")]
    );
    assert_eq!(
        kinds("ela se chama heloísa e tem 7 anos"),
        [(name, "heloísa")]
    );
    assert_eq!(kinds("dear mark, thanks"), [(name, "mark")]);
    assert_eq!(kinds("manda um beijo pra ana"), [(name, "ana")]);
    // A name never takes a stop word or an everyday verb with it.
    assert_eq!(
        kinds("vi edson ferreira na sala de espera"),
        [(name, "edson ferreira")]
    );
    // A greeting before a word that is no name, or no punctuation.
    assert_eq!(kinds("oi tudo bem?"), []);
    assert_eq!(kinds("hi there, is it open?"), []);
    let found = detect("please let Emily know i'm late");
    assert!(found[0].confidence < 0.7, "the weakest evidence");
    // Everyday words, places and firms are not people.
    for text in [
        "a rosa do jardim morreu",
        "o dia foi longo",
        "a tia chegou",
        "moro em Salvador faz tempo",
        "Austin is hot in july",
        "estou processando a Johnson & Johnson",
        "comprei no Magazine Luiza",
        "May I come in?",
    ] {
        assert_eq!(kinds(text), [], "{text}");
    }
}

#[test]
fn words_that_follow_a_cue_but_are_no_name_stay_unflagged() {
    for text in [
        "seu pedido chegou ontem",
        "sou a favor da troca",
        "ela é dona de casa",
        "this is great news",
        "meu nome é importante pra vc?",
        "my name is on the list",
    ] {
        assert_eq!(kinds(text), [], "{text}");
    }
}

#[test]
fn names_after_cues_and_titles() {
    assert_eq!(
        kinds("Olá, meu nome é Maria da Silva Santos e preciso remarcar"),
        [(PiiKind::PersonName, "Maria da Silva Santos")]
    );
    assert_eq!(
        kinds("Falei com a Dra. Ana Paula"),
        [(PiiKind::PersonName, "Ana Paula")]
    );
    assert_eq!(
        kinds("my name is John Smith."),
        [(PiiKind::PersonName, "John Smith")]
    );
    assert_eq!(
        kinds("O Joaquim Barbosa ligou"),
        [(PiiKind::PersonName, "Joaquim Barbosa")]
    );
    assert_eq!(
        kinds("Sou João Silva"),
        [(PiiKind::PersonName, "João Silva")]
    );
}

#[test]
fn who_writes_who_is_called_and_who_comes_along() {
    let names = |text| {
        kinds(text)
            .into_iter()
            .map(|(_, name)| name)
            .collect::<Vec<_>>()
    };
    // Who is writing, a greeting before; who is called at the start.
    assert_eq!(names("oi, beatriz aqui"), ["beatriz"]);
    assert_eq!(names("priya speaking"), ["priya"]);
    assert_eq!(names("gilmar, chegou o exame?"), ["gilmar"]);
    assert_eq!(names("Same here!"), Vec::<&str>::new());
    assert_eq!(names("Ha, yeah, that was fun"), Vec::<&str>::new());
    // Two people joined by "e"/"and" are two names.
    assert_eq!(names("a juliana e lucas vem hoje"), ["juliana", "lucas"]);
    assert_eq!(names("Maria e João vêm juntos"), ["Maria", "João"]);
    // Who was sent something or sends it; who comes with the writer.
    assert_eq!(names("i got an email from jennifer"), ["jennifer"]);
    assert_eq!(names("sueli me ligou cedo"), ["sueli"]);
    assert_eq!(names("hope and i are coming"), ["hope"]);
    assert_eq!(names("vou eu e a cleide"), ["cleide"]);
    // Whose parent, who works for the writer; a sign-off.
    assert_eq!(names("o pai da larissa pediu o recibo"), ["larissa"]);
    assert_eq!(names("a diarista josiane tem a chave"), ["josiane"]);
    assert_eq!(names("a secretaria disse que ok"), Vec::<&str>::new());
    assert_eq!(names("abs, edson"), ["edson"]);
    assert_eq!(names("oii rosa!! tudo bem?"), ["rosa"]);
    assert_eq!(names("consulta com a ze ou com a kelly?"), ["ze", "kelly"]);
    assert_eq!(
        names("ganhamos a vitória no campeonato"),
        Vec::<&str>::new()
    );
    assert_eq!(kinds("escreve pro contato@clinica.com.br"), []);
    assert_eq!(names("thank you so much hope!"), ["hope"]);
    assert_eq!(names("indicada por luiz pereira"), ["luiz pereira"]);
    assert_eq!(names("minha tia grace mora sozinha"), ["grace"]);
    assert_eq!(names("ask alexa to play music"), Vec::<&str>::new());
    assert_eq!(names("o beto e o zé chegaram"), ["beto", "zé"]);
    // The weakest evidence, in a message in lower case: a given name
    // that is no word, an English one in Portuguese.
    assert_eq!(names("encontrei wei na fila"), ["wei"]);
    assert_eq!(names("fui no medico com destiny ontem"), ["destiny"]);
    assert_eq!(names("o show foi top demais"), Vec::<&str>::new());
    assert_eq!(names("grant me one more day please"), Vec::<&str>::new());
    assert_eq!(
        names("é na avenida maria barbosa, do lado da padaria"),
        Vec::<&str>::new()
    );
    // ...and what only looks like them.
    assert_eq!(names("a cliente mora em santos"), Vec::<&str>::new());
    assert_eq!(names("can Brian call me back?"), ["Brian"]);
    assert_eq!(
        names("o Johnson & Johnson mandou a nota"),
        Vec::<&str>::new()
    );
    assert_eq!(names("fomos pra santos e voltamos"), Vec::<&str>::new());
}

#[test]
fn names_with_weaker_evidence_of_their_own_and_what_looks_like_them() {
    let names = |text| {
        kinds(text)
            .into_iter()
            .map(|(_, name)| name)
            .collect::<Vec<_>>()
    };
    // A relative named after whose relative they are.
    assert_eq!(names("quem vai é o irmão dele, francisco"), ["francisco"]);
    // A given name that is an everyday word, with a surname.
    assert_eq!(names("favor avisar grace nguyen"), ["grace nguyen"]);
    assert_eq!(names("hope patel ligou"), ["hope patel"]);
    assert_eq!(names("a rosa costa pouco"), Vec::<&str>::new());
    // ...but not when the word is a cue's, a greeting's or a place's.
    assert_eq!(names("o dia santos x palmeiras"), Vec::<&str>::new());
    assert_eq!(names("vi lucas da kim na sala"), ["lucas da kim"]);
    // An everyday given name capitalised inside a lower-case sentence.
    assert_eq!(names("please let Mark know i'm late"), ["Mark"]);
    assert_eq!(names("ok. Will do"), Vec::<&str>::new());
    // Saints name cities, hospitals and holidays.
    for text in [
        "moro em são josé dos campos",
        "o hospital santa catarina tem estacionamento?",
        "we met at st. mary's hospital",
    ] {
        assert_eq!(names(text), Vec::<&str>::new(), "{text}");
    }
    // Surnames of the communities customers come from.
    assert_eq!(names("hey this is mei haddad"), ["mei haddad"]);
    // A surname that is no word: alone after a form of address, and
    // first in a full name (a given name the gazetteer lacks).
    assert_eq!(names("i spoke with ms. raj yesterday"), ["raj"]);
    assert_eq!(
        names("the patient is raj barbosa almeida"),
        ["raj barbosa almeida"]
    );
    // An everyday given name with one of the commonest surnames, or a
    // particle before a surname.
    assert_eq!(names("quem indicou foi a grace dias"), ["grace dias"]);
    assert_eq!(names("favor avisar rosa da smith"), ["rosa da smith"]);
    assert_eq!(names("mora na costa da lagoa"), Vec::<&str>::new());
    // What surrounds a one-word name that is also a word.
    assert_eq!(names("destiny at reception said to call back"), ["destiny"]);
    assert_eq!(names("a grace falou q tinha vaga"), ["grace"]);
    assert_eq!(names("a tia falou q tinha vaga"), Vec::<&str>::new());
    assert_eq!(names("i did a charity race"), Vec::<&str>::new());
    assert_eq!(names("a luz acabou de novo"), Vec::<&str>::new());
    assert_eq!(names("a vitoria falou q tinha vaga"), ["vitoria"]);
    assert_eq!(names("this is grace's mom, she has a fever"), ["grace"]);
    // Relatives and "um tal de" before a name; "pro" is "para o".
    assert_eq!(names("minha vó cleide usa marcapasso"), ["cleide"]);
    assert_eq!(names("meu primo mora em santos"), Vec::<&str>::new());
    assert_eq!(names("recebi msg de um tal de enzo"), ["enzo"]);
    assert_eq!(names("agenda pra mim e pro matheus"), ["matheus"]);
    assert_eq!(names("vou pro rio amanhã"), Vec::<&str>::new());
    // An exported chat's line names its writer; "cc", "first name".
    assert_eq!(names("[10:32] Zé: chego em 5 min"), ["Zé"]);
    assert_eq!(names("cc wei on the reply pls"), ["wei"]);
    assert_eq!(
        names("a receita ta no posto Maria Moreira"),
        Vec::<&str>::new()
    );
    // What independent English chat (LoCoMo) showed was no name.
    for text in [
        "It's Seattle, I'm stoked for my game there",
        "great for its arts and Irish music",
        "a hike last summer near Fort Wayne",
    ] {
        assert_eq!(names(text), Vec::<&str>::new(), "{text}");
    }
    assert_eq!(names("hi, it's Wei"), ["Wei"]);
    // A given name in lower case anywhere, when it is no word.
    assert_eq!(names("ontem fernanda me mandou msg"), ["fernanda"]);
    assert_eq!(names("her name is fernanda"), ["fernanda"]);
    // Brands, medicines, devices and places that look like names.
    for text in [
        "a alexa desligou sozinha",
        "tomei um allegra e melhorou",
        "a escola princesa isabel fica ali",
        "moro em moema",
        "we were at Under Armour",
        "Little Women is my favourite",
        "the jefferson memorial was closed",
        "it's nice to see you",
    ] {
        assert_eq!(names(text), Vec::<&str>::new(), "{text}");
    }
    assert_eq!(names("a gabriela da zara separou"), ["gabriela"]);
    // An interjection or a word opening a sentence is not the name's.
    assert_eq!(names("Yeah John, totally"), ["John"]);
    assert_eq!(names("Remember Jon? he called"), ["Jon"]);
    assert_eq!(
        names("my neighbor Mark Carvalho sent me"),
        ["Mark Carvalho"]
    );
    assert_eq!(
        names("my neighbor Grace Nascimento Santos sent me"),
        ["Grace Nascimento Santos"]
    );
    // A capitalised name goes on only capitalised.
    assert_eq!(
        names("so confirmando: James Miller dia 19/05"),
        ["James Miller"]
    );
    assert_eq!(names("paciente: GRACE ROCHA"), ["GRACE ROCHA"]);
    assert_eq!(names("o vasco perdeu de novo"), Vec::<&str>::new());
    assert_eq!(
        names("my mother-in-law daniel garcia needs a ride"),
        ["daniel garcia"]
    );
}

#[test]
fn the_commonest_given_names_are_names_even_where_a_word_list_holds_them() {
    let names = |text| {
        kinds(text)
            .into_iter()
            .filter(|(kind, _)| *kind == PiiKind::PersonName)
            .map(|(_, name)| name)
            .collect::<Vec<_>>()
    };
    // "maria", "joao", "lucas" are in the word lists' lower case, yet a
    // chat writes them as names; a cue needs a word's start ("passou").
    assert_eq!(names("sou lucas, mãe do kaua"), ["lucas", "kaua"]);
    assert_eq!(names("quem vai levar ela é o tio lucas"), ["lucas"]);
    assert_eq!(names("vc pode confirmar o horario do joão?"), ["joão"]);
    assert_eq!(names("a menina se chamava rosa, muito atenciosa"), ["rosa"]);
    assert_eq!(names("just talked to mark, she says hi"), ["mark"]);
    assert_eq!(names("contato 41 97561-8417 (maria)"), ["maria"]);
    assert_eq!(names("please bill carlos souza"), ["carlos souza"]);
    assert_eq!(names("sou mae do hiroshi, ele tem consulta"), ["hiroshi"]);
    assert_eq!(names("does tyler still work there?"), ["tyler"]);
    assert_eq!(names("vc pode confirmar o horario do ana?"), ["ana"]);
    assert_eq!(names("o laudo vai aos cuidados da mei"), ["mei"]);
    assert_eq!(names("o pedido do joao da silva"), ["joao da silva"]);
    for text in [
        "sou eu",
        "sou paciente de vcs",
        "a rosa costa pouco no mercado",
        "the task was easy",
        "contato 41 97561-8417 (casa)",
    ] {
        assert_eq!(names(text), Vec::<&str>::new(), "{text}");
    }
    // 52998224725 is a valid CPF: an invoice's number here.
    assert_eq!(kinds("a fatura 52998224725 veio com juros"), []);
}
